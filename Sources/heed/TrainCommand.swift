import ArgumentParser
import Foundation
import Heed
#if canImport(Glibc)
import Glibc
#endif

extension ModelKind: ExpressibleByArgument {}
extension ClassifierConfig.Scorer: ExpressibleByArgument {}

/// The signal (SIGINT or SIGTERM) that asked training to stop, 0 while none has; training checks
/// it between batches.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// First Ctrl-C (or SIGTERM) asks training to stop after the current batch; a second one exits at once.
func installInterruptHandler() {
    let handler: @convention(c) (Int32) -> Void = { sig in
        stopRequested = sig
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
    signal(SIGINT, handler)
    signal(SIGTERM, handler)
    // A parent may have started us with these signals blocked (Foundation's Process does);
    // a training run must still hear Ctrl-C and SIGTERM.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Hyper-parameters shared by train and compare.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Dev file for early stopping (default: hold out --dev-fraction of TRAIN).") var dev: String?
    @Option(help: "Share of each label's training documents held out as dev set when --dev is not given.") var devFraction = TrainingOptions().devFraction
    @Option(help: "Attention scorer: linear (w·h+b) or additive (v·tanh(Wh+b)).") var attention = TrainingOptions().attention
    @Option(help: "Embedding size.") var embed = TrainingOptions().embed
    @Option(help: "LSTM hidden size (per direction).") var hidden = TrainingOptions().hidden
    @Option(help: "Maximum epochs (early stopping may end sooner).") var epochs = TrainingOptions().epochs
    @Option(help: "Epochs without dev improvement before stopping.") var patience = TrainingOptions().patience
    @Option(help: "Documents per batch.") var batch = TrainingOptions().batch
    @Option(help: "Adam learning rate.") var lr = TrainingOptions().lr
    @Option(help: "Dropout after the embedding and before the classifier.") var dropout = TrainingOptions().dropout
    @Option(help: "Probability of replacing a training token by <unk> (word dropout).") var wordDropout = TrainingOptions().wordDropout
    @Option(help: "Std of the random embedding init (PyTorch's default is 1).") var embedInitStd = TrainingOptions().embedInitStd
    @Option(name: .customLong("max-len"), help: "Keep the first N tokens of each document.") var maxLength = TrainingOptions().maxLength
    @Option(help: "Vocabulary: drop tokens seen fewer times in training.") var minCount = TrainingOptions().minCount
    @Option(help: "Vocabulary: largest size including <pad> and <unk>.") var maxVocab = TrainingOptions().maxVocabulary
    @Option(help: "Use this vocabulary instead of building one from TRAIN.") var vocab: String?
    @Option(help: "Pretrained word vectors (.vec text format) for the embedding.") var embeddings: String?
    @Flag(help: "Weight the loss by inverse class frequency.") var classWeights = false
    @Option(help: "Random seed (same seed and threads → identical model file).") var seed: UInt64 = TrainingOptions().seed
    @Option(help: "BLAS threads.") var threads = TrainingOptions().threads
    @Option(help: "Continue from a checkpoint (MODEL.ckpt, written after every epoch) on the same data.") var resume: String?
    @OptionGroup var tokenizerOptions: TokenizerOptions
    @OptionGroup var input: InputOptions

    func options(model: ModelKind) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = model
        o.attention = attention
        o.embed = embed; o.hidden = hidden; o.epochs = epochs; o.patience = patience; o.batch = batch
        o.lr = lr; o.dropout = dropout; o.wordDropout = wordDropout; o.embedInitStd = embedInitStd; o.maxLength = maxLength; o.minCount = minCount; o.maxVocabulary = maxVocab
        o.classWeights = classWeights; o.seed = seed; o.threads = threads; o.devFraction = devFraction
        return o
    }

    func trainer(model: ModelKind) -> Trainer {
        var t = Trainer(options: options(model: model), tokenizer: tokenizerOptions.settings())
        t.vocabularyFile = vocab
        t.embeddingsFile = embeddings
        t.resumePath = resume
        return t
    }

    func read(_ path: String) throws -> [LabelledText] {
        let docs = try CorpusReader(input.source(path)).readAll()
        guard !docs.isEmpty else { throw HeedTextError.noDocuments(path) }
        return docs
    }
}

/// Progress display: a live bar on a terminal, one line per epoch otherwise, nothing with --quiet.
final class TrainingDisplay: @unchecked Sendable {
    let name: String
    let quiet: Bool
    let live: Bool
    init(name: String, quiet: Bool) {
        self.name = name
        self.quiet = quiet
        live = !quiet && isatty(2) == 1
    }

    func progress(_ p: TrainingProgress) {
        guard live, p.batch % 5 == 0 || p.batch == p.batches else { return }
        let width = 24, filled = width * p.batch / max(p.batches, 1)
        let eta = p.epochSeconds / Double(p.batch) * Double(p.batches - p.batch)
        writeStderr("\r\(name) epoch \(p.epoch)/\(p.epochs) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(p.batch)/\(p.batches) loss \(fixed(p.loss, 4)) \(Int(p.tokensPerSecond)) tok/s ETA \(Int(eta.rounded())) s \u{1B}[K")
    }

    func epoch(_ r: EpochRecord) {
        guard !quiet else { return }
        if live { writeStderr("\r\u{1B}[K") }
        writeStderr("\(name) epoch \(r.epoch): train loss \(fixed(r.train_loss, 4)), dev loss \(fixed(r.dev_loss, 4)), dev accuracy \(percent(r.dev_accuracy)), \(Int(r.tokens_per_s)) tok/s, \(fixed(r.seconds, 1)) s\(r.best ? " *" : "")\n")
    }
}

func fixed(_ x: Double, _ digits: Int) -> String {
    let scale = pow(10.0, Double(digits))
    return "\((x * scale).rounded() / scale)"
}

/// Model, checkpoint (four copies of the weights) and, while a checkpoint is replaced, the old one
/// beside the new must fit where `output` goes: fail before the first epoch, not after hours.
func diskSpaceCheck(_ output: String) -> (ClassifierConfig) throws -> Void {
    { config in
        let weights = config.tensorShapes.reduce(0) { $0 + $1.shape.reduce(4, *) }
        try AtomicFile.checkSpace(output, needed: 9 * weights + (1 << 20), for: "the model and its checkpoint")
    }
}

/// Trains one model and writes it (and its log) atomically; shared by train, compare and demo.
func runTraining(model kind: ModelKind, flags: TrainingFlags, trainPath: String, output: String, quiet: Bool, name: String) throws -> TrainingResult {
    try AtomicFile.checkWritable(output)
    let trainDocs = try flags.read(trainPath)
    let devDocs = try flags.dev.map { try flags.read($0) }
    var trainer = flags.trainer(model: kind)
    let display = TrainingDisplay(name: name, quiet: quiet)
    let logPath = output + ".log.jsonl"
    trainer.progress = display.progress
    // The log is rewritten (atomically) after every epoch, so it can be watched during training.
    let logWriter = LogWriter(path: logPath)
    trainer.epochEnded = { record in
        display.epoch(record)
        logWriter.append(record)
    }
    trainer.resumedWithLog = { try? logWriter.replace(with: $0) }  // the log keeps the epochs before --resume
    trainer.shouldStop = { stopRequested != 0 }
    trainer.checkpointPath = output + ".ckpt"
    var wroteModel = false
    trainer.bestModelChanged = { classifier in
        try classifier.write(to: URL(fileURLWithPath: output))
        wroteModel = true
    }
    trainer.willTrain = diskSpaceCheck(output)
    installInterruptHandler()
    let result: TrainingResult
    do {
        result = try trainer.train(trainDocs, dev: devDocs, file: trainPath)
    } catch let error as HeedError {
        if case .nonFinite = error, wroteModel { note("\(output) holds the best model so far.") }
        throw error
    }
    try logWriter.replace(with: result.log) // the full log, also after --resume
    if result.interrupted {
        if wroteModel {
            note("Interrupted by \(stopRequested == SIGTERM ? "SIGTERM" : "Ctrl-C"). \(output) holds the best model so far (epoch \(result.bestEpoch)); continue with --resume \(output).ckpt")
        } else {
            note("Interrupted before the first epoch finished; no model was written.")
        }
        // The shell convention for "ended by signal N": 130 for Ctrl-C, 143 for SIGTERM.
        throw ExitCode(128 + Int32(stopRequested))
    }
    return result
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a text classifier and write it as one model file.",
        discussion: """
            Builds the vocabulary from TRAIN (or loads --vocab), holds out a dev set unless --dev is \
            given, trains with Adam on length-bucketed batches, stops early when dev accuracy stops \
            improving, and keeps the best epoch. Beside MODEL it writes MODEL.log.jsonl (per epoch: \
            train loss, dev loss, dev accuracy, tokens/s, seconds). Ctrl-C stops after the current \
            batch; MODEL then holds the best model so far, and `--resume MODEL.ckpt` (written after \
            every epoch) continues the run exactly as if it had not stopped. \
            Defaults (a BiLSTM with additive attention, dropout 0.5) were chosen on dev splits.
            """)

    @Argument(help: "Training corpus.") var train: String
    @Option(help: "lstm (baseline), attention, bilstm-attention (default) or bilstm.") var model: ModelKind = TrainingOptions().model
    @OptionGroup var flags: TrainingFlags
    @Option(name: .shortAndLong, help: "Model file to write.") var output: String
    @Flag(help: "No progress output.") var quiet = false
    @Flag(help: "Data-parallel training under mpirun (needs `make build-mpi`); see docs/scale-out.md.") var distributed = false

    func run() throws {
        if distributed {
            return try runDistributedTraining(model: model, flags: flags, trainPath: train, output: output, quiet: quiet)
        }
        let r = try runTraining(model: model, flags: flags, trainPath: train, output: output, quiet: quiet, name: model.rawValue)
        if !quiet {
            let best = r.log.first { $0.epoch == r.bestEpoch }
            print("\(output): \(model.rawValue), best epoch \(r.bestEpoch) of \(r.log.count), dev accuracy \(percent(best?.dev_accuracy ?? 0)), \(r.trainDocuments) training documents (\(r.skippedDocuments) without tokens skipped), \(Int(r.tokensPerSecond)) tokens/s, \(fixed(r.seconds, 1)) s")
        }
    }
}

/// Appends epoch records to the JSONL log, rewriting it atomically each time.
final class LogWriter: @unchecked Sendable {
    private let path: String
    private var lines: [String] = []
    private let encoder = JSONEncoder()
    init(path: String) {
        self.path = path
        encoder.outputFormatting = [.sortedKeys]
    }

    /// Best effort during training: a log write failure must not stop the run.
    func append(_ record: EpochRecord) {
        guard let data = try? encoder.encode(record) else { return }
        lines.append(String(decoding: data, as: UTF8.self))
        try? write()
    }

    /// The final log, including epochs from before a `--resume`.
    func replace(with records: [EpochRecord]) throws {
        lines = try records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try write()
    }

    private func write() throws {
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: path)
    }
}
