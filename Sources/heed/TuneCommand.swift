import ArgumentParser
import Foundation
import Heed
import HeedIO
import HeedNN

#if canImport(Glibc)
import Glibc
#endif

/// `90s`, `10m`, `1h`, `1h30m` or plain seconds.
struct WallClockBudget: ExpressibleByArgument, CustomStringConvertible {
    var seconds: Double

    init?(argument: String) {
        if let plain = Double(argument) {
            guard plain > 0 else { return nil }
            seconds = plain
            return
        }
        var total = 0.0, number = ""
        for c in argument {
            if c.isNumber || c == "." {
                number.append(c)
                continue
            }
            guard let value = Double(number) else { return nil }
            switch c {
            case "s": total += value
            case "m": total += 60 * value
            case "h": total += 3600 * value
            default: return nil
            }
            number = ""
        }
        guard number.isEmpty, total > 0 else { return nil }
        seconds = total
    }

    var description: String { seconds.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(seconds / 60))m" : "\(Int(seconds))s" }
}

extension DevMetric: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search training settings on a dev set within a time budget, and write the best model.",
        discussion: """
            Varies the learning rate, hidden and embedding sizes, dropout, word dropout, batch size \
            and subword ranges (the number of epochs through early stopping) by successive halving: \
            every trial trains one epoch, the best third go on to three, the best two train to the \
            end, and the best on the dev set wins. Trial 0 is the settings given on the command line \
            (the defaults unless changed). --parallel trials train at once, one core each. Only the dev set \
            ranks trials (never a test file). Beside MODEL it writes MODEL.trials.jsonl (every trial \
            at every rung) and MODEL.log.jsonl (the winner's training log). --trials N makes the \
            search deterministic for a seed; --budget sizes it to the time. Ctrl-C stops the search \
            and keeps the best model found so far.

            With --unlabelled (or --pretrain-epochs), it first pretrains an encoder on TRAIN's texts \
            plus that text (task-adaptive, as `heed train --pretrain-epochs` does), keeping it after \
            every epoch; each trial then starts from scratch or from the encoder after one of those \
            epochs, with the fine-tuning options drawn. Pretraining takes at most half of --budget. \
            When the best trial started from it, the encoder is written to MODEL.encoder.heed.
            """)

    @Argument(help: "Training corpus.") var train: String
    @Option(help: "Dev file that ranks the trials (default: hold out --dev-fraction of TRAIN).") var dev: String?
    @Option(help: "Share of each label's training documents held out as the dev set when --dev is not given.") var devFraction = TrainingOptions()
        .devFraction
    @Option(help: ArgumentHelp("Wall-clock time for the whole search, e.g. 90s, 10m, 1h (default 10m).", valueName: "DURATION"))
    var budget: WallClockBudget?
    @Option(help: "Number of trials instead of a time budget: the same seed and count give the same search and model.") var trials: Int?
    @Option(help: "What ranks trials on dev: accuracy, macro-f1 or f1:LABEL.") var metric: DevMetric = .accuracy
    @Option(help: "lstm, attention, bilstm-attention (default) or bilstm.") var model: ModelKind = TrainingOptions().model
    @Option(
        help: ArgumentHelp(
            "Every trial's encoder: lstm (default), orthogonal or diversity (as heed train --encoder).",
            discussion: "With diversity and no --diversity-weight, the search draws λ too."))
    var encoder: ClassifierConfig.Encoder = .lstm
    @Option(help: ArgumentHelp("--encoder diversity: every trial's λ instead of searching it.", valueName: "λ")) var diversityWeight: Float?
    @Option(
        help:
            "Most epochs a trial may train (default: \(TrainingOptions.automaticEpochs) epochs or \(TrainingOptions.automaticSteps) optimiser steps, whichever is more; early stopping usually ends it sooner)."
    )
    var epochs: Int?
    @Option(help: "Trial 0's embedding size (and the pretrained encoder's, with --unlabelled).") var embed = TrainingOptions().embeddingSize
    @Option(help: "Trial 0's LSTM hidden size per direction (and the pretrained encoder's, with --unlabelled).") var hidden = TrainingOptions()
        .hiddenSize
    @Option(help: "Seed for the settings drawn and for every trial's training.") var seed: UInt64 = TrainingOptions().seed
    @Option(help: "Trials trained at once, one core each (default: the number of cores, at most 8).") var parallel = defaultWorkers
    @Option(name: .shortAndLong, help: "Model file to write.") var output: String
    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "Every trial starts from this pretrained encoder (heed pretrain): its sizes are kept, and the search draws the fine-tuning options (--lr-decay, --unfreeze-every, --schedule) instead.",
            valueName: "ENCODER"))
    var initEncoder: String?
    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Unlabelled text to pretrain on first: files or folders, one document per line (.tsv/.csv/.jsonl read as corpora, labels ignored).",
            valueName: "FILE"))
    var unlabelled: [String] = []
    @Option(
        help:
            "Pretraining epochs before the search (default \(Self.defaultPretrainEpochs) with --unlabelled); the search draws which epoch's encoder a trial starts from."
    )
    var pretrainEpochs: Int?
    @Flag(help: "No table of trials.") var quiet = false
    @OptionGroup var tokenizerOptions: TokenizerOptions
    @OptionGroup var input: InputOptions

    func validate() throws {
        if model.isHierarchical {
            throw ValidationError("heed tune does not search --model han yet; train han with heed train and compare settings on a dev set (--dev)")
        }
        if budget != nil && trials != nil { throw ValidationError("give --budget or --trials, not both") }
        if let trials, trials < 1 { throw ValidationError("--trials must be at least 1 (got \(trials))") }
        if parallel < 1 { throw ValidationError("--parallel must be at least 1 (got \(parallel))") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        if !(devFraction > 0 && devFraction < 1) { throw ValidationError("--dev-fraction must be between 0 and 1 (got \(devFraction))") }
        if embed < 1 || hidden < 1 { throw ValidationError("--embed and --hidden must be at least 1 (got \(embed), \(hidden))") }
        if let n = pretrainEpochs, n < 1 { throw ValidationError("--pretrain-epochs must be at least 1 (got \(n))") }
        if let diversityWeight {
            if encoder != .diversity { throw ValidationError("--diversity-weight needs --encoder diversity") }
            if !(diversityWeight >= 0) || !diversityWeight.isFinite {
                throw ValidationError("--diversity-weight must be a number ≥ 0 (got \(diversityWeight))")
            }
        }
        if initEncoder != nil && searchesPretraining {
            throw ValidationError("--init starts every trial from an encoder, --unlabelled and --pretrain-epochs make one: give one or the other")
        }
    }

    static let defaultPretrainEpochs = 3
    var searchesPretraining: Bool { !unlabelled.isEmpty || pretrainEpochs != nil }

    func read(_ path: String) throws -> [LabelledText] {
        let docs = try CorpusReader(input.source(path)).readAll()
        guard !docs.isEmpty else { throw HeedTextError.noDocuments(path) }
        return docs
    }

    func run() throws {
        try FileChecks.checkWritable(output)
        var base = TrainingOptions()
        base.model = model
        base.encoder = encoder == .lstm ? nil : encoder
        base.diversityWeight = diversityWeight
        base.epochs = epochs
        base.seed = seed
        base.devFraction = devFraction
        (base.embeddingSize, base.hiddenSize) = (embed, hidden)
        base.workers = defaultWorkers
        let outputURL = URL(fileURLWithPath: output)
        let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("heed-tune-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: work) }
        var tuner = Tuner(base: base, tokenizer: tokenizerOptions.settings(), workDirectory: work)
        if let initEncoder {
            let encoder = try PretrainedEncoder.load(URL(fileURLWithPath: initEncoder))
            let c = encoder.model.config
            tuner.encoder = URL(fileURLWithPath: initEncoder)
            tuner.space.encoder = (c.embedDim, c.hiddenDim)
            tuner.tokenizer = encoder.settings
            (tuner.base.embeddingSize, tuner.base.hiddenSize) = (c.embedDim, c.hiddenDim)
            if !c.bidirectional && tuner.base.model.isBidirectional { tuner.base.model = .attention }
        }
        tuner.metric = metric
        tuner.seed = seed
        tuner.concurrency = parallel
        tuner.trials = trials
        tuner.budget = trials == nil ? (budget ?? WallClockBudget(argument: "10m")!).seconds : nil
        tuner.trainFile = train
        tuner.devFile = dev ?? "\(train) (held-out share)"
        let table = TrialTable(quiet: quiet, metric: metric, log: Self.trialsURL(for: outputURL), everyFromEncoder: initEncoder != nil)
        tuner.trialEnded = table.add
        tuner.note = { message in if !quiet { note(message) } }
        tuner.shouldStop = { stopRequested != 0 }
        installInterruptHandler()

        let trainDocs = try read(train)
        let devDocs = try dev.map(read)
        if searchesPretraining {
            try pretrain(labelled: trainDocs + (devDocs ?? []), tuner: &tuner, work: work)
        }
        if let trials, !quiet {
            note("Tuning on \(dev ?? "a held-out share of \(train)") by dev \(metric): \(trials) trials, \(parallel) at a time.")
        } else if !quiet {
            note(
                "Tuning on \(dev ?? "a held-out share of \(train)") by dev \(metric) for \(tuner.budget.map { Int($0) } ?? 0) s, \(parallel) trials at a time.")
        }
        let result: TuningResult
        do { result = try tuner.tune(train: trainDocs, dev: devDocs) } catch HeedError.tuningStopped {
            note(HeedError.tuningStopped.description)
            throw ExitCode(128 + Int32(stopRequested == 0 ? SIGINT : stopRequested))
        }
        try result.classifier.write(to: outputURL)
        let wonFrom = result.trials[result.best].settings.pretrainEpochs.flatMap { tuner.pretrained[$0] }
        if let wonFrom {
            let bytes = try Array(Data(contentsOf: wonFrom))
            try AtomicWriter.write(bytes, to: output + ".encoder.heed")
        }
        try table.finish(best: result.trials[result.best])
        try Trainer.writeLog(result.log, forModel: outputURL)
        let best = result.trials[result.best]
        if !quiet {
            note(
                "Best: trial \(best.trial), dev accuracy \(percent(best.devAccuracy)), macro-F1 \(percent(best.devMacroF1)) after \(best.epochs) epochs (kept epoch \(best.bestEpoch)).\n"
                    + "Settings: \(best.settings)\nWrote \(output)\(wonFrom != nil ? ", \(output).encoder.heed" : ""), \(Self.trialsURL(for: outputURL).path) and \(Trainer.logURL(for: outputURL).path)."
            )
        }
        if stopRequested != 0 {
            note("Interrupted: \(output) holds the best model found so far.")
            throw ExitCode(128 + Int32(stopRequested))
        }
    }

    /// Task-adaptive pretraining before the search: an encoder on the labelled texts plus
    /// `--unlabelled`, copied after every epoch so trials can start from any of them. With a
    /// budget, pretraining takes at most half of it and the search the rest.
    func pretrain(labelled: [LabelledText], tuner: inout Tuner, work: URL) throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let settings = tuner.tokenizer
        let kept = try readUnlabelledText(
            unlabelled, input: input, labelled: labelled, settings: settings, quiet: quiet, required: false
        ).documents
        var options = PretrainingOptions()
        options.epochs = pretrainEpochs ?? Self.defaultPretrainEpochs
        (options.embeddingSize, options.hiddenSize) = (tuner.base.embeddingSize, tuner.base.hiddenSize)
        options.bidirectional = model.isBidirectional
        options.seed = seed
        options.workers = defaultWorkers
        var pretraining = TaskAdaptivePretraining(options: options, tokenizer: settings, quiet: quiet)
        pretraining.sources = [train] + (dev.map { [$0] } ?? []) + unlabelled
        let clock = ContinuousClock(), began = clock.now
        if let budget = tuner.budget { pretraining.deadline = began.advanced(by: .seconds(budget / 2)) }
        let path = work.appendingPathComponent("encoder.heed").path
        let epochs = EpochFiles()
        pretraining.epochEnded = { r in
            // The file holds the best epoch so far: what `heed train --pretrain-epochs N` would start from.
            guard r.partial != true else { return }
            let copy = work.appendingPathComponent("encoder-\(r.epoch).heed")
            if (try? FileManager.default.copyItem(atPath: path, toPath: copy.path)) != nil { epochs.add(r.epoch, copy) }
        }
        try pretraining.run(labelled: labelled, unlabelled: kept, file: train, to: path)
        tuner.pretrained = epochs.all
        guard !tuner.pretrained.isEmpty else {
            throw CommandLineMessage(
                description: "pretraining did not finish an epoch within half of --budget: give a longer --budget or fewer --unlabelled lines")
        }
        tuner.space.pretrainedEpochs = tuner.pretrained.keys.sorted()
        tuner.space.encoder = (options.embeddingSize, options.hiddenSize)
        if let budget = tuner.budget {
            let spent = began.duration(to: clock.now).components
            tuner.budget = budget - (Double(spent.seconds) + Double(spent.attoseconds) * 1e-18)
        }
        if !quiet {
            note(
                "Trials start from scratch or from the encoder after \(tuner.space.pretrainedEpochs.map(String.init).joined(separator: ", ")) pretraining epochs."
            )
        }
    }

    /// The trials log written beside `model`.
    static func trialsURL(for model: URL) -> URL { URL(fileURLWithPath: model.path + ".trials.jsonl") }
}

/// Encoder copies by pretraining epoch, filled from pretraining's epoch callback.
private final class EpochFiles: @unchecked Sendable {
    private let lock = NSLock()
    private var files: [Int: URL] = [:]
    func add(_ epoch: Int, _ url: URL) { lock.withLock { files[epoch] = url } }
    var all: [Int: URL] { lock.withLock { files } }
}

/// The live table of trials on stderr, and the trials log rewritten (atomically) after each row.
final class TrialTable: @unchecked Sendable {
    private let lock = NSLock()
    private let quiet: Bool
    private let metric: DevMetric
    private let log: URL
    /// `--init`: every trial starts from the one encoder.
    private let everyFromEncoder: Bool
    private var rows: [TrialRecord] = []

    init(quiet: Bool, metric: DevMetric, log: URL, everyFromEncoder: Bool) {
        self.quiet = quiet
        self.metric = metric
        self.log = log
        self.everyFromEncoder = everyFromEncoder
    }

    func add(_ record: TrialRecord) {
        lock.withLock {
            if rows.isEmpty && !quiet {
                writeStderr(
                    "trial rung start        lr hidden embed dropout wdrop batch subwords  dev acc macro-F1 \(metric == .accuracy || metric == .macroF1 ? "" : "  metric ")epochs  seconds\n"
                )
            }
            rows.append(record)
            if !quiet {
                let s = record.settings
                let extra = metric == .accuracy || metric == .macroF1 ? "" : String(format: " %7.2f%%", 100 * record.score)
                writeStderr(
                    String(
                        format: "%5d %4d %-9@ %7.5f %6d %5d %7.2f %5.2f %5d %8@ %7.2f%% %7.2f%%%@ %6d %8.1f\n", record.trial, record.rung,
                        s.pretrainEpochs.map { "pre \($0)" } ?? (everyFromEncoder ? "init" : "scratch"), Double(s.learningRate),
                        s.hiddenSize, s.embeddingSize, Double(s.dropout), Double(s.wordDropout), s.batchSize,
                        s.subwords.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "off", 100 * record.devAccuracy, 100 * record.devMacroF1, extra,
                        record.epochs, record.seconds))
            }
            try? write(rows)
        }
    }

    /// Rewrites the log with final statuses: the best trial's last row `best`, rows a trial went
    /// on from `promoted`, others `dropped` (`stopped` when early stopping ended the trial, `cut`
    /// when the budget or Ctrl-C did).
    func finish(best: TrialRecord) throws {
        try lock.withLock {
            var last: [Int: Int] = [:]
            for (i, r) in rows.enumerated() { last[r.trial] = i }
            for i in rows.indices {
                let r = rows[i]
                rows[i].status =
                    last[r.trial] != i ? "promoted" : r.trial == best.trial ? "best" : r.status == "cut" ? "cut" : r.stopped ? "stopped" : "dropped"
            }
            try write(rows)
        }
    }

    private func write(_ rows: [TrialRecord]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes: [UInt8] = []
        for r in rows {
            bytes += try encoder.encode(r)
            bytes.append(0x0A)
        }
        try AtomicWriter.write(bytes, to: log.path)
    }
}
