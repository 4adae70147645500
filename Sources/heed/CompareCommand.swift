import ArgumentParser
import Foundation
import Heed
import HeedIO
import HeedNN

/// A model `heed compare --models` can train: a network kind and the settings it changes on top
/// of the training flags every model shares.
struct CompareModel: Sendable {
    /// The name in `--models`, the table and the model files.
    let name: String
    /// The network trained.
    let kind: ModelKind
    /// One line for `--help`.
    let summary: String
    /// Settings beyond the kind, applied to a copy of the shared flags (after --seed is set).
    let configure: @Sendable (inout TrainingFlags) -> Void

    init(_ name: String, _ kind: ModelKind, _ summary: String, configure: @escaping @Sendable (inout TrainingFlags) -> Void = { _ in }) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.configure = configure
    }

    /// Every name `--models` accepts, in `--help` order.
    static let known: [CompareModel] = [
        CompareModel("lstm", .lstm, "LSTM, last hidden state (the baseline)"),
        CompareModel("attention", .attention, "LSTM with attention pooling"),
        CompareModel("bilstm", .bilstm, "BiLSTM, last states of both directions"),
        CompareModel("bilstm-attention", .bilstmAttention, "BiLSTM with attention pooling (heed train's default)"),
        CompareModel("orthogonal", .bilstmAttention, "BiLSTM-attention, orthogonal encoder (Mohankumar et al. 2020)") {
            $0.encoder = .orthogonal
            $0.diversityWeight = nil
        },
        CompareModel("diversity", .bilstmAttention, "BiLSTM-attention, conicity-penalised encoder (--diversity-weight)") {
            $0.encoder = .diversity
        },
        CompareModel(
            "han", .han,
            "hierarchical attention network, words then sentences (Yang et al. 2016); faithfulness at the token level (attention: word × sentence weight), no permutation test"
        ),
        // More models: one line each, a kind plus the settings that make it.
    ]

    /// The models of a comma-separated list, in its order; unknown or repeated names are usage errors.
    static func parse(_ list: String) throws -> [CompareModel] {
        var chosen: [CompareModel] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard let model = known.first(where: { $0.name == name }) else {
                throw ValidationError("unknown model \"\(name)\" in --models: choose from \(known.map(\.name).joined(separator: ", "))")
            }
            guard !chosen.contains(where: { $0.name == name }) else { throw ValidationError("--models names \(name) twice") }
            chosen.append(model)
        }
        return chosen
    }
}

/// How `heed compare` measures each trained model beyond accuracy.
struct CompareMeasures {
    /// Faithfulness on at most this many test documents (0: skip it).
    var faithfulnessLimit = 500
    /// Integrated-gradients steps of the faithfulness analysis.
    var steps = 32
    /// Attention shuffles per document in the permutation test.
    var permutations = 100
    /// Timed batch-1 forward passes (0: skip the latency).
    var latencyRuns = 200
    /// Threads of the faithfulness analysis and the test-set evaluation.
    var workers = defaultWorkers
}

/// The human-readable table printed by `heed compare` (the structs live in Heed, for `heed report`).
extension Comparison {
    var table: String {
        let summaries = models ?? Self.summaries(rows)
        let many = summaries.contains { $0.seeds > 1 }
        func spread(_ m: MeanSD) -> String { many ? "\(Format.decimals(100 * m.mean, 1)) ± \(Format.decimals(100 * m.sd, 1))" : percent(m.mean) }
        func f(_ x: Double?, _ digits: Int = 3) -> String { x.map { Format.decimals($0, digits) } ?? "–" }
        let width = many ? 14 : 10
        var lines = [
            Format.pad("model", 18) + Format.pad("accuracy", width, alignRight: true) + Format.pad("macro-F1", width, alignRight: true)
                + Format.pad("τ(att,IG)", 11, alignRight: true) + Format.pad("τ(att,|IG|)", 12, alignRight: true)
                + Format.pad("τ(att,occ)", 11, alignRight: true) + Format.pad("AOPC att", 10, alignRight: true) + Format.pad("AOPC IG", 9, alignRight: true)
                + Format.pad("perm TVD", 10, alignRight: true) + Format.pad("conicity", 10, alignRight: true)
                + Format.pad("tokens/s", 10, alignRight: true) + Format.pad("latency", 10, alignRight: true)
                + Format.pad("size", 9, alignRight: true)
        ]
        for s in summaries {
            let q = s.faithfulness
            lines.append(
                Format.pad(s.model, 18) + Format.pad(spread(s.accuracy), width, alignRight: true) + Format.pad(spread(s.macroF1), width, alignRight: true)
                    + Format.pad(f(q?.tauAttentionIntegratedGradients), 11, alignRight: true)
                    + Format.pad(f(q?.tauAttentionIntegratedGradientsMagnitude), 12, alignRight: true)
                    + Format.pad(f(q?.tauAttentionOcclusion), 11, alignRight: true) + Format.pad(f(q?.aopcAttention), 10, alignRight: true)
                    + Format.pad(f(q?.aopcIntegratedGradients), 9, alignRight: true) + Format.pad(f(q?.permutationTVD, 4), 10, alignRight: true)
                    + Format.pad(f(q?.conicity), 10, alignRight: true) + Format.pad("\(Int(s.tokensPerSecond))", 10, alignRight: true)
                    + Format.pad(s.latencyMilliseconds.map { "\(Format.decimals($0, 2)) ms" } ?? "–", 10, alignRight: true)
                    + Format.pad(s.modelBytes.map { "\(Format.megabytes(Double($0))) MB" } ?? "–", 9, alignRight: true))
        }
        let seedList = (seeds ?? [seed]).map(String.init).joined(separator: ", ")
        lines.append(
            "\(many ? "Accuracy and macro-F1: mean ± sd over seeds \(seedList)" : "Seed \(seedList)")"
                + ((faithfulnessLimit ?? 0) > 0
                    ? "; faithfulness on the first \(summaries.compactMap(\.faithfulness?.documents).max() ?? 0) test documents\(many ? ", averaged over seeds" : "")"
                    : "")
                + "; – : the model has no attention, or the figure was not measured.")
        if let first = summaries.first {
            for s in summaries.dropFirst() {
                let gain = 100 * (s.accuracy.mean - first.accuracy.mean)
                lines.append("\(s.model) vs \(first.model): \(gain >= 0 ? "+" : "")\(Format.decimals(gain, 1)) accuracy points on \(test)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Trains every model with every seed on `train`, scores each on `test` and writes the comparison
/// JSON atomically to `output` (the models go beside it).
func runComparison(
    train: String, test: String, models: [CompareModel], seeds: Int, measures: CompareMeasures, flags: TrainingFlags, output: String, quiet: Bool
) throws -> Comparison {
    precondition(!models.isEmpty && seeds >= 1, "at least one model and one seed")
    try FileChecks.checkWritable(output)
    let testDocs = try flags.read(test)
    let stem = output.hasSuffix(".json") ? String(output.dropLast(5)) : output
    let seedList = (0..<seeds).map { flags.seed &+ UInt64($0) }
    let faithfulnessTexts = Array(testDocs.prefix(measures.faithfulnessLimit)).map(\.text)
    var rows: [ComparisonRow] = []
    for (i, model) in models.enumerated() {
        for (j, seed) in seedList.enumerated() {
            var modelFlags = flags
            modelFlags.seed = seed
            model.configure(&modelFlags)
            if !quiet { note("compare: model \(i + 1)/\(models.count) \(model.name), seed \(j + 1)/\(seeds) (\(seed))") }
            let modelPath = seeds == 1 ? "\(stem).\(model.name).heed" : "\(stem).\(model.name).seed\(seed).heed"
            let result = try runTraining(
                model: model.kind, flags: modelFlags, trainPath: train, output: modelPath, quiet: quiet,
                name: seeds == 1 ? model.name : "\(model.name) seed \(seed)")
            var classifier = result.classifier
            classifier.workers = measures.workers
            let evaluation = try classifier.evaluate(testDocs, file: test)
            // One document at a time gains nothing from BLAS threads (as in heed explain and serve).
            BLAS.setThreads(1)
            var faithfulness: ComparisonFaithfulness?
            // A han model's faithfulness is measured at the token level (attention = word × sentence
            // weight) and has no permutation test (two attentions, nothing single to shuffle).
            if !faithfulnessTexts.isEmpty {
                faithfulness = try measureFaithfulness(classifier, faithfulnessTexts, measures: measures, name: model.name, quiet: quiet)
            }
            let latency =
                measures.latencyRuns > 0
                ? try LatencyBenchmark.run(classifier, documents: testDocs, runs: measures.latencyRuns, warmup: min(50, measures.latencyRuns)) : nil
            let bytes = (try? FileManager.default.attributesOfItem(atPath: modelPath))?[.size] as? Int
            rows.append(
                ComparisonRow(
                    model: model.name, accuracy: evaluation.accuracy, macroF1: evaluation.macroF1,
                    testLoss: evaluation.loss ?? .nan, trainSeconds: result.seconds,
                    tokensPerSecond: result.tokensPerSecond, bestEpoch: result.bestEpoch,
                    epochsRun: result.log.count, modelFile: modelPath, kind: model.kind.rawValue, seed: seed, faithfulness: faithfulness,
                    latencyMilliseconds: latency?.p50Milliseconds, modelBytes: bytes))
        }
    }
    let summaries = Comparison.summaries(rows)
    var lastFlags = flags
    models.last!.configure(&lastFlags)
    let comparison = Comparison(
        train: train, test: test, seed: flags.seed, options: lastFlags.options(model: models.last!.kind), rows: rows,
        accuracyGain: 100 * (summaries.last!.accuracy.mean - summaries[0].accuracy.mean), seeds: seedList, models: summaries,
        faithfulnessLimit: measures.faithfulnessLimit)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try AtomicWriter.write(Array(try encoder.encode(comparison)), to: output)
    return comparison
}

/// τ between attention and the two attributions, ERASER comprehensiveness of attention, integrated
/// gradients and a random ranking, the permutation test and conicity, on `texts`.
private func measureFaithfulness(
    _ classifier: TextClassifier, _ texts: [String], measures: CompareMeasures, name: String, quiet: Bool
) throws -> ComparisonFaithfulness {
    var options = FaithfulnessOptions()
    options.methods = (classifier.hasAttention ? [.attention] : []) + [.integratedGradients, .occlusion]
    options.steps = measures.steps
    options.permutations = measures.permutations
    options.workers = measures.workers
    let total = texts.count
    let progress = Progress("compare", quiet: quiet)
    let analysis = try classifier.faithfulness(of: texts, options: options) { done in
        if progress.enabled && (done == total || done % max(1, total / 100) == 0) {
            writeStderr("\r\(name): faithfulness \(done)/\(total) documents   ")
        }
    }
    progress.finish()
    return ComparisonFaithfulness(analysis.summary)
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train several models on the same data, settings and seeds; compare accuracy, faithfulness and cost on TEST.",
        discussion: """
            --models names the models (default lstm,attention: the two differ only in pooling, so the \
            table answers whether attention helps this task). Known models:
            \(CompareModel.known.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n"))

            Every model is trained with each of --seeds seeds: --seed S, S+1, …, the same seeds for every \
            model. Columns (figures on TEST; with several seeds, accuracy and macro-F1 are mean ± sd and \
            the others means over seeds; – where a model has no attention):
            - accuracy, macro-F1: test-set scores.
            - τ(att,IG): mean Kendall τ-b between attention and integrated gradients per document.
            - τ(att,|IG|): the same against the magnitude of integrated gradients (attention says how \
            much, never which way; the faithful encoders' reference compares attention with it).
            - τ(att,occ): the same against leave-one-out occlusion.
            - AOPC att, AOPC IG: ERASER comprehensiveness AOPC of attention's and of integrated \
            gradients' token ranking (probability lost when the top 1, 5, 10, 20, 50% of tokens are \
            removed; higher: more faithful).
            - perm TVD: median change of the output (total variation) when attention is shuffled \
            (Jain & Wallace; near 0: the arrangement of attention does not matter).
            - conicity: mean cosine of the encoder states to their mean (near 1: any attention gives \
            about the same output).
            - tokens/s: training throughput; latency: median batch-1 forward pass on test documents, \
            one thread; size: the model file.

            The faithfulness figures cover the first --faithfulness-limit test documents (integrated \
            gradients with --ig-steps steps costs that many forward and backward passes per document). \
            Writes the per-seed figures and the summary as JSON (-o, read by heed report --compare) and \
            every model beside it: STEM.NAME.heed, or STEM.NAME.seedS.heed with several seeds.
            """)
    @Argument(help: "Training corpus.") var train: String
    @Argument(help: "Test corpus (never used for training or early stopping).") var test: String
    @Option(help: "Comma-separated models to train, in table order (default lstm,attention).") var models: String?
    @Option(help: "Seeds per model: --seed, --seed + 1, … (accuracy is then reported as mean ± sd).") var seeds = 1
    @Option(
        help: ArgumentHelp(
            "Measure faithfulness on the first N test documents (0: skip it).",
            discussion:
                "Measured with 2 workers: 200 sentiment-en-rt documents in 14 s for bilstm-attention (4.8 s for lstm), so the default takes about 35 s per model and seed."
        ))
    var faithfulnessLimit = CompareMeasures().faithfulnessLimit
    @Option(help: "Integrated-gradients steps for the faithfulness figures.") var igSteps = 32
    @Option(help: "Attention shuffles per document in the permutation test.") var permutations = 100
    @Option(help: "Timed batch-1 forward passes for the latency column (0: skip it).") var latencyRuns = 200
    @Option(help: "Deprecated: --models BASELINE,ATTENTION-MODEL says the same.") var baseline: ModelKind?
    @Option(help: "Deprecated: --models BASELINE,ATTENTION-MODEL says the same.") var attentionModel: ModelKind?
    @OptionGroup var flags: TrainingFlags
    @Option(name: .shortAndLong, help: "Comparison JSON to write (models go beside it).") var output = "compare.json"
    @Flag(help: "No progress output.") var quiet = false

    /// The models to train: --models, or the deprecated pair, or the default pair.
    func chosenModels() throws -> [CompareModel] {
        if let models {
            if baseline != nil || attentionModel != nil { throw ValidationError("--baseline and --attention-model are part of --models; give only --models") }
            return try CompareModel.parse(models)
        }
        return try CompareModel.parse("\((baseline ?? .lstm).rawValue),\((attentionModel ?? .attention).rawValue)")
    }

    func validate() throws {
        _ = try chosenModels()
        guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be in 1...100 (got \(seeds))") }
        guard faithfulnessLimit >= 0 else { throw ValidationError("--faithfulness-limit must not be negative (got \(faithfulnessLimit))") }
        guard (1...10_000).contains(igSteps) else { throw ValidationError("--ig-steps must be in 1...10000 (got \(igSteps))") }
        guard (0...100_000).contains(permutations) else { throw ValidationError("--permutations must be in 0...100000 (got \(permutations))") }
        guard latencyRuns >= 0 else { throw ValidationError("--latency-runs must not be negative (got \(latencyRuns))") }
    }

    func run() throws {
        if baseline != nil || attentionModel != nil {
            note("heed compare: --baseline and --attention-model are deprecated; use --models \(try chosenModels().map(\.name).joined(separator: ","))")
        }
        let measures = CompareMeasures(
            faithfulnessLimit: faithfulnessLimit, steps: igSteps, permutations: permutations, latencyRuns: latencyRuns,
            workers: flags.workers ?? (flags.threads > 1 ? 1 : defaultWorkers))
        let c = try runComparison(
            train: train, test: test, models: try chosenModels(), seeds: seeds, measures: measures, flags: flags, output: output, quiet: quiet)
        print(c.table)
        print("wrote \(output)")
    }
}
