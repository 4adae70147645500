import ArgumentParser
import Foundation
import Heed
import HeedIO

/// The human-readable table printed by `heed compare` (the structs live in Heed, for `heed report`).
extension Comparison {
    var table: String {
        var lines = ["model              accuracy  macro-F1  train time  tokens/s  best epoch"]
        for r in rows {
            lines.append(
                Format.pad(r.model, 19) + Format.pad(percent(r.accuracy), 8, alignRight: true)
                    + Format.pad(percent(r.macroF1), 10, alignRight: true)
                    + Format.pad("\(fixed(r.trainSeconds, 1)) s", 12, alignRight: true)
                    + Format.pad("\(Int(r.tokensPerSecond))", 10, alignRight: true)
                    + Format.pad("\(r.bestEpoch)/\(r.epochsRun)", 12, alignRight: true))
        }
        let sign = accuracyGain >= 0 ? "+" : ""
        lines.append("attention vs baseline: \(sign)\(fixed(accuracyGain, 1)) accuracy points on \(test)")
        return lines.joined(separator: "\n")
    }
}

func runComparison(
    train: String, test: String, baseline: ModelKind, attentionModel: ModelKind, flags: TrainingFlags,
    output: String, quiet: Bool
) throws -> Comparison {
    try FileChecks.checkWritable(output)
    let testDocs = try flags.read(test)
    let stem = output.hasSuffix(".json") ? String(output.dropLast(5)) : output
    var rows: [ComparisonRow] = []
    for kind in [baseline, attentionModel] {
        let modelPath = "\(stem).\(kind.rawValue).heed"
        let result = try runTraining(model: kind, flags: flags, trainPath: train, output: modelPath, quiet: quiet, name: kind.rawValue)
        let evaluation = try result.classifier.evaluate(testDocs, file: test)
        rows.append(
            ComparisonRow(
                model: kind.rawValue, accuracy: evaluation.accuracy, macroF1: evaluation.macroF1,
                testLoss: evaluation.loss ?? .nan, trainSeconds: result.seconds,
                tokensPerSecond: result.tokensPerSecond, bestEpoch: result.bestEpoch,
                epochsRun: result.log.count, modelFile: modelPath))
    }
    let comparison = Comparison(
        train: train, test: test, seed: flags.seed, options: flags.options(model: attentionModel),
        rows: rows, accuracyGain: 100 * (rows[1].accuracy - rows[0].accuracy))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    try AtomicWriter.write(Array(try encoder.encode(comparison)), to: output)
    return comparison
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the LSTM baseline and an attention model on the same data, seed and settings; compare them on TEST.",
        discussion: """
            By default the two differ only in pooling: `lstm` (last hidden state) against `attention` \
            (softmax over time, weighted sum), so the table answers whether attention helps this task. \
            Use --baseline bilstm --attention-model bilstm-attention to ask the same of the bidirectional \
            encoder. Writes the table as JSON (-o) and both models beside it.
            """)
    @Argument(help: "Training corpus.") var train: String
    @Argument(help: "Test corpus (never used for training or early stopping).") var test: String
    @Option(help: "Baseline model.") var baseline: ModelKind = .lstm
    @Option(help: "Attention model.") var attentionModel: ModelKind = .attention
    @OptionGroup var flags: TrainingFlags
    @Option(name: .shortAndLong, help: "Comparison JSON to write (models go beside it).") var output = "compare.json"
    @Flag(help: "No progress output.") var quiet = false

    func run() throws {
        let c = try runComparison(train: train, test: test, baseline: baseline, attentionModel: attentionModel, flags: flags, output: output, quiet: quiet)
        print(c.table)
        print("wrote \(output)")
    }
}
