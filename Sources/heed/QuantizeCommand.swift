import ArgumentParser
import Foundation
import Heed
import HeedNN

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a smaller model: int8 or 4-bit embedding tables with one scale per row.",
        discussion: """
            Each row of embedding.weight (and subwords.weight) becomes int8 values q = round(x / s), \
            s = max|row| / 127, plus its scale s; with --bits 4, 4-bit values q in -7...7 with \
            s = max|row| / 7, two to a byte (about half the bytes of int8 again, for a coarser row). A \
            lookup dequantises the rows it reads, so no float copy of the table is made and heed \
            serve's workers share the one table. --weights quantises the LSTM, attention and output \
            matrices too, always to int8 (they are small; dequantised once when loaded; biases stay \
            float). --cutoff N keeps only the N words with the largest rows, as fastText's \
            -cutoff does. Every command that reads a model reads the result: predict, explain, \
            evaluate, calibrate, report, serve, benchmark latency, and heed export, whose ONNX graph \
            keeps the tables int8 or 4-bit. Training from it and resuming from it are refused: keep the \
            float model for those. docs/model-format.md describes the tensors.
            """)
    @Argument(help: "Float model file (written by heed train).") var model: String
    @Option(name: .shortAndLong, help: "Quantised model file to write.") var output: String
    @Option(
        help: ArgumentHelp(
            "Bits per embedding and subword table value: 8 (int8) or 4 (two values a byte).",
            discussion: "--weights matrices are int8 either way."))
    var bits = 8
    @Flag(help: "Quantise the LSTM, attention and output matrices too (int8), not just the embedding tables.") var weights = false
    @Option(
        help: ArgumentHelp(
            "Keep only the N words whose embedding rows have the largest norms (fastText's -cutoff).",
            discussion: "Every other word then reads <unk>'s row, plus its own subwords when the model has them."))
    var cutoff: Int?

    func validate() throws {
        if let cutoff, cutoff < 1 { throw ValidationError("--cutoff must be at least 1 (got \(cutoff))") }
        if QuantizationScheme(bits: bits) == nil { throw ValidationError("--bits must be 8 (int8 tables) or 4 (4-bit tables), got \(bits)") }
        if output == model { throw ValidationError("--output must not be the model file itself: keep the float model for training") }
    }

    func run() throws {
        let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        let small: TextClassifier
        do { small = try classifier.quantized(weights: weights, keepWords: cutoff, tables: QuantizationScheme(bits: bits)!) } catch let e as HeedError {
            throw CommandLineMessage(description: "\(model): cannot quantise: \(e)")
        }
        try small.write(to: URL(fileURLWithPath: output))
        let before = try fileSize(model), after = try fileSize(output)
        let ratio = after > 0 ? Double(before) / Double(after) : 0
        if small.vocabulary.count < classifier.vocabulary.count {
            print("vocabulary: kept \(small.vocabulary.count - 2) of \(classifier.vocabulary.count - 2) words (the rest read <unk>)")
        }
        print("\(output): written (\(after) bytes, \(Format.decimals(ratio, 2))× smaller than \(model)'s \(before))")
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}
