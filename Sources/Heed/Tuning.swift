import Foundation
import HeedNN
import HeedText

/// The settings `heed tune` varies; everything else comes from the base options.
public struct TuningSettings: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Adam's step size.
    public var learningRate: Float
    /// LSTM hidden size per direction.
    public var hiddenSize: Int
    /// Embedding size.
    public var embeddingSize: Int
    /// Dropout on the embeddings and the pooled vector.
    public var dropout: Float
    /// Word dropout.
    public var wordDropout: Float
    /// Documents per step.
    public var batchSize: Int
    /// Subword n-gram lengths, nil for none.
    public var subwords: ClosedRange<Int>?
    /// Fine-tuning from an encoder (searched only with one; nil: the base options'): the learning
    /// rate's decay per layer group, gradual unfreezing's interval, and the schedule.
    public var lrDecay: Float?, unfreezeEvery: Int?, schedule: LearningRateSchedule?
    /// Start from the task-adaptive encoder after this many pretraining epochs (`heed tune
    /// --unlabelled`); nil trains from scratch (or from `--init`'s encoder).
    public var pretrainEpochs: Int?
    /// The diversity encoder's λ (searched only with `--encoder diversity` and no
    /// `--diversity-weight`; nil: the base options').
    public var diversityWeight: Float?

    private enum CodingKeys: String, CodingKey {
        case learningRate = "lr", hiddenSize = "hidden", embeddingSize = "embed", dropout, wordDropout = "word_dropout", batchSize = "batch", subwords,
            lrDecay = "lr_decay", unfreezeEvery = "unfreeze_every", schedule, pretrainEpochs = "pretrain_epochs",
            diversityWeight = "diversity_weight"
    }

    /// The settings of `options`.
    public init(_ options: TrainingOptions) {
        learningRate = options.learningRate
        hiddenSize = options.hiddenSize
        embeddingSize = options.embeddingSize
        dropout = options.dropout
        wordDropout = options.wordDropout
        batchSize = options.batchSize
        subwords = options.subwords
    }

    /// `options` with these settings.
    public func applied(to options: TrainingOptions) -> TrainingOptions {
        var o = options
        o.learningRate = learningRate
        o.hiddenSize = hiddenSize
        o.embeddingSize = embeddingSize
        o.dropout = dropout
        o.wordDropout = wordDropout
        o.batchSize = batchSize
        o.subwords = subwords
        if let lrDecay { o.lrDecay = lrDecay }
        if let unfreezeEvery { o.unfreezeEvery = unfreezeEvery }
        if let schedule { o.schedule = schedule }
        if let diversityWeight { o.diversityWeight = diversityWeight }
        return o
    }

    /// `--lr 0.002 --hidden 128 …`: the `heed train` flags that reproduce these settings (with
    /// `--pretrain-epochs`, given the same `--unlabelled` files).
    public var description: String {
        "--lr \(learningRate) --hidden \(hiddenSize) --embed \(embeddingSize) --dropout \(dropout) --word-dropout \(wordDropout) "
            + "--batch \(batchSize) --subwords \(subwords.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "0")"
            + (lrDecay.map { " --lr-decay \($0)" } ?? "") + (unfreezeEvery.map { " --unfreeze-every \($0)" } ?? "")
            + (schedule.map { " --schedule \($0.rawValue)" } ?? "") + (pretrainEpochs.map { " --pretrain-epochs \($0)" } ?? "")
            + (diversityWeight.map { " --encoder diversity --diversity-weight \($0)" } ?? "")
    }

    /// `count` settings drawn from `space` with `seed`, the base options' own first; no two alike.
    /// Subword ranges suit the corpus's script: character pieces for Chinese or Japanese, word
    /// pieces otherwise.
    public static func sample(_ count: Int, base: TrainingOptions, space: TuningSpace = TuningSpace(), ideographic: Bool, seed: UInt64)
        -> [TuningSettings]
    {
        var rng = Rng(seed: seed ^ 0x7475_6E65)  // "tune"
        func pick<T>(_ choices: [T]) -> T { choices[rng.int(below: choices.count)] }
        let ranges = ideographic ? space.ideographicSubwords : space.subwords
        let lo = log(Double(space.learningRates.lowerBound)), hi = log(Double(space.learningRates.upperBound))
        var out = [TuningSettings(base)]
        var attempts = 0
        while out.count < count && attempts < 100 * count {
            attempts += 1
            // Log-uniform, kept to two significant digits so the table reads well.
            let raw = exp(lo + Double(rng.uniform()) * (hi - lo))
            let scale = pow(10, floor(log10(raw)) - 1)
            var s = TuningSettings(base)
            s.learningRate = Float((raw / scale).rounded() * scale)
            s.hiddenSize = pick(space.hiddenSizes)
            s.embeddingSize = pick(space.embeddingSizes)
            s.dropout = pick(space.dropouts)
            s.wordDropout = pick(space.wordDropouts)
            s.batchSize = pick(space.batchSizes)
            s.subwords = pick(ranges)
            // With task-adaptive encoders, a trial starts from scratch or from one of them.
            if !space.pretrainedEpochs.isEmpty { s.pretrainEpochs = pick([nil] + space.pretrainedEpochs.map { Optional($0) }) }
            if let encoder = space.encoder, space.pretrainedEpochs.isEmpty || s.pretrainEpochs != nil {
                // The encoder fixes the sizes and brings no subword table; its fine-tuning is searched.
                (s.hiddenSize, s.embeddingSize, s.subwords) = (encoder.hiddenSize, encoder.embeddingSize, nil)
                s.lrDecay = pick(space.lrDecays)
                s.unfreezeEvery = pick(space.unfreezeIntervals)
                s.schedule = pick(LearningRateSchedule.allCases)
            }
            // Drawn last, so a search without the diversity encoder draws what it always did.
            if base.resolvedEncoder == .diversity && base.diversityWeight == nil { s.diversityWeight = pick(space.diversityWeights) }
            if !out.contains(s) { out.append(s) }
        }
        return out
    }

    /// Whether a corpus is mostly written in ideographs (Han, kana, Hangul): from the letters of
    /// its first documents.
    public static func isIdeographic(_ docs: [LabelledText]) -> Bool {
        var ideographs = 0, letters = 0
        for doc in docs.prefix(2000) {
            for scalar in doc.text.unicodeScalars where scalar.properties.isAlphabetic {
                letters += 1
                switch scalar.value {
                case 0x3040...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xAC00...0xD7AF, 0xF900...0xFAFF, 0x20000...0x2FA1F: ideographs += 1
                default: break
                }
            }
        }
        return letters > 0 && ideographs * 10 > letters * 3
    }
}

/// Where `heed tune` draws its settings from (each choice equally likely; the learning rate
/// log-uniformly). The defaults bracket the shipped defaults by a factor of two to four.
public struct TuningSpace: Sendable, Equatable {
    /// Adam step sizes.
    public var learningRates: ClosedRange<Float> = 5e-4...8e-3
    /// LSTM hidden sizes.
    public var hiddenSizes = [64, 128, 256]
    /// Embedding sizes.
    public var embeddingSizes = [50, 100, 200]
    /// Dropout probabilities.
    public var dropouts: [Float] = [0.2, 0.3, 0.4, 0.5, 0.6]
    /// Word dropout probabilities.
    public var wordDropouts: [Float] = [0, 0.1, 0.25, 0.4]
    /// Batch sizes.
    public var batchSizes = [16, 32, 64]
    /// Subword ranges for alphabetic scripts (nil: none).
    public var subwords: [ClosedRange<Int>?] = [nil, 3...6, 2...5]
    /// Subword ranges for corpora written mostly in ideographs.
    public var ideographicSubwords: [ClosedRange<Int>?] = [nil, 1...2, 1...3]
    /// The sizes of the encoder every trial starts from (`heed tune --init`): sizes and subwords
    /// are then fixed, and the fine-tuning options below are drawn instead.
    public var encoder: (embeddingSize: Int, hiddenSize: Int)?
    /// Learning-rate decays per layer group (with an encoder).
    public var lrDecays: [Float] = [1, 1.5, 2.6]
    /// Gradual unfreezing intervals in steps, 0 for none (with an encoder).
    public var unfreezeIntervals = [0, 25, 50, 100]
    /// Pretraining lengths (epochs) with a task-adaptive encoder to start from (`heed tune
    /// --unlabelled`; `encoder` holds their sizes). Each trial draws scratch or one of them.
    public var pretrainedEpochs: [Int] = []
    /// The diversity encoder's λ (`heed tune --encoder diversity` without `--diversity-weight`):
    /// around the paper's 0.5, which was not tuned on Heed's corpora.
    public var diversityWeights: [Float] = [0.1, 0.25, 0.5, 1, 2]

    /// Equal when every choice is.
    public static func == (a: TuningSpace, b: TuningSpace) -> Bool {
        a.learningRates == b.learningRates && a.hiddenSizes == b.hiddenSizes && a.embeddingSizes == b.embeddingSizes && a.dropouts == b.dropouts
            && a.wordDropouts == b.wordDropouts && a.batchSizes == b.batchSizes && a.subwords == b.subwords
            && a.ideographicSubwords == b.ideographicSubwords && a.encoder?.embeddingSize == b.encoder?.embeddingSize
            && a.encoder?.hiddenSize == b.encoder?.hiddenSize && a.lrDecays == b.lrDecays && a.unfreezeIntervals == b.unfreezeIntervals
            && a.pretrainedEpochs == b.pretrainedEpochs && a.diversityWeights == b.diversityWeights
    }

    /// The default space.
    public init() {}
}

/// One trial's state after one rung of `heed tune`: its settings, how far it trained and its
/// best dev scores so far. One line of the trials log.
public struct TrialRecord: Codable, Sendable, Equatable {
    /// Trial number (0 is the base options).
    public var trial: Int
    /// Rung of successive halving (0 first).
    public var rung: Int
    /// What the trial varies.
    public var settings: TuningSettings
    /// Epochs trained so far.
    public var epochs: Int
    /// The epoch its kept weights come from.
    public var bestEpoch: Int
    /// Dev accuracy of the kept weights.
    public var devAccuracy: Double
    /// Dev macro-F1 of the kept weights.
    public var devMacroF1: Double
    /// The ranking metric's value on dev.
    public var score: Double
    /// Wall seconds this rung took for the trial.
    public var seconds: Double
    /// Whether early stopping ended the trial (it trains no further).
    public var stopped: Bool
    /// `promoted`, `dropped`, `stopped` (by early stopping), `cut` (by the budget or Ctrl-C),
    /// `best`, or `running` while its rung is open.
    public var status: String

    /// A record of `trial` after `rung`.
    public init(
        trial: Int, rung: Int, settings: TuningSettings, epochs: Int, bestEpoch: Int, devAccuracy: Double, devMacroF1: Double, score: Double,
        seconds: Double, stopped: Bool, status: String
    ) {
        self.trial = trial
        self.rung = rung
        self.settings = settings
        self.epochs = epochs
        self.bestEpoch = bestEpoch
        self.devAccuracy = devAccuracy
        self.devMacroF1 = devMacroF1
        self.score = score
        self.seconds = seconds
        self.stopped = stopped
        self.status = status
    }

    private enum CodingKeys: String, CodingKey {
        case trial, rung, settings, epochs, bestEpoch = "best_epoch", devAccuracy = "dev_accuracy", devMacroF1 = "dev_macro_f1", score, seconds,
            stopped, status
    }
}

/// What `Tuner.tune` found.
public struct TuningResult: Sendable {
    /// The best trial's model, calibrated on dev when the base options ask for it.
    public var classifier: TextClassifier
    /// The best trial's training log.
    public var log: [EpochRecord]
    /// Every trial's last record, in trial order.
    public var trials: [TrialRecord]
    /// Index of the best trial in `trials`.
    public var best: Int
    /// True when the budget ran out or `shouldStop` asked before the schedule finished.
    public var cutShort: Bool
    /// True when one epoch of the first trials did not fit the budget: the base settings were
    /// then trained once, to the end.
    public var budgetTooSmall: Bool
}

/// Successive halving over `TuningSettings` on a fixed dev set: every trial trains one epoch,
/// the best third continue to three, the best two train to the end with early stopping, and the
/// best by `metric` on dev wins. `concurrency` trials train at once, each with one BLAS thread, and each
/// continues from its own checkpoint, so no epoch is trained twice. The same seed and trial
/// count give the same trials, schedule and model; a time budget picks the trial count from the
/// first epochs' speed instead.
public struct Tuner {
    /// Options every trial starts from (trial 0 uses them as they are); `epochs` caps the last rung.
    public var base: TrainingOptions
    /// How text is tokenized.
    public var tokenizer: TokenizerSettings
    /// What ranks trials on dev.
    public var metric: DevMetric = .accuracy
    /// Where settings are drawn from.
    public var space = TuningSpace()
    /// A pretrained encoder every trial starts from (`heed train --init`); set `space.encoder` to
    /// its sizes so the search draws fine-tuning options instead of sizes.
    public var encoder: URL?
    /// Task-adaptive encoders by pretraining epochs: a trial whose settings name `pretrainEpochs`
    /// starts from that one. Set `space.pretrainedEpochs` to their keys and `space.encoder` to
    /// their sizes.
    public var pretrained: [Int: URL] = [:]
    /// A fixed number of trials (deterministic), or nil to size the search from `budget`.
    public var trials: Int?
    /// Wall-clock seconds for the whole search (with `trials` nil).
    public var budget: Double?
    /// Seeds the settings drawn (each trial trains with `base.seed`).
    public var seed: UInt64 = 1
    /// Trials trained at once.
    public var concurrency = 2
    /// Names the dev documents in messages.
    public var devFile = "dev set"
    /// Names the training documents in messages.
    public var trainFile = "training data"
    /// Where trials keep their models and checkpoints (emptied as trials are dropped).
    public var workDirectory: URL
    /// Called as each trial finishes a rung.
    public var trialEnded: (@Sendable (TrialRecord) -> Void)?
    /// Called with what the tuner decided (trial count, budget notes).
    public var note: (@Sendable (String) -> Void)?
    /// Polled between batches: true stops the search, keeping the best trial so far.
    public var shouldStop: (@Sendable () -> Bool)?

    /// A tuner of `base` that keeps its trials' files in `workDirectory`.
    public init(base: TrainingOptions, tokenizer: TokenizerSettings = .default, workDirectory: URL) {
        self.base = base
        self.tokenizer = tokenizer
        self.workDirectory = workDirectory
    }

    /// Epochs of the first two rungs; the last trains to the end of each trial's schedule.
    static let rungEpochs = [1, 3]

    /// How many trials each rung keeps, for `count` trials.
    static func rungSizes(_ count: Int) -> [Int] {
        if count <= 2 { return [count] }
        let second = max(2, (count + 2) / 3)
        return [count, second, min(2, second)]
    }

    /// Epochs trained over the whole schedule for `count` trials, guessing `finalEpochs` for the
    /// trials that train to the end.
    static func plannedEpochs(_ count: Int, finalEpochs: Int) -> Int {
        let sizes = rungSizes(count)
        var total = 0, reached = 0
        for (r, n) in sizes.enumerated() {
            let target = r < sizes.count - 1 ? rungEpochs[r] : finalEpochs
            total += n * max(0, target - reached)
            reached = target
        }
        return total
    }

    /// Below this many trials a budget does not search: successive halving on fewer would cut
    /// trials before they learn anything, and lose to the base settings trained to the end.
    static let minimumSearch = 4

    /// How many trials fit `budget`, from the first `firstTrials` trials' epoch, which took
    /// `firstSeconds` of wall time with up to `concurrency` of them at once on `cores` cores; and
    /// one trial-epoch's cost on one core. The search then runs `concurrency` trials at a time, but
    /// no more of them progress at full speed than there are cores.
    static func budgetPlan(
        firstSeconds: Double, firstTrials: Int, concurrency: Int, cores: Int, budget: Double, finalEpochs: Int, cap: Int
    ) -> (trials: Int, epochSeconds: Double) {
        let together = max(1, min(concurrency, firstTrials)), cores = max(1, cores)
        let rounds = Double((firstTrials + together - 1) / together)
        // Wall time of one round, shared by `together` trials on at most `cores` cores.
        let epochSeconds = firstSeconds / rounds * Double(min(together, cores)) / Double(together)
        let slots = Double(min(max(1, concurrency), cores))
        var count = firstTrials
        while count < cap && Double(plannedEpochs(count + 1, finalEpochs: finalEpochs)) * epochSeconds / slots <= budget * 0.9 {
            count += 1
        }
        return (count, epochSeconds)
    }

    /// Runs the search on `train`, ranking on `dev`; without `dev`, a stratified share
    /// `base.devFraction` of `train` (drawn with `base.seed`) is held out once for every trial.
    public func tune(train all: [LabelledText], dev given: [LabelledText]?) throws -> TuningResult {
        if let given { return try tune(train: all, dev: given) }
        if let unlabelled = all.first(where: { $0.label == nil }) { throw HeedError.missingLabel(file: trainFile, line: unlabelled.line) }
        let devPositions = Set(Trainer.carveDev(labels: all.map { $0.label! }, fraction: base.devFraction, seed: base.seed))
        let dev = all.indices.filter { devPositions.contains($0) }.map { all[$0] }
        guard !dev.isEmpty else { throw HeedError.emptyDevSet }
        return try tune(train: all.indices.filter { !devPositions.contains($0) }.map { all[$0] }, dev: dev)
    }

    /// Runs the search: `train` for training, `dev` for every ranking.
    public func tune(train: [LabelledText], dev: [LabelledText]) throws -> TuningResult {
        if base.model.isHierarchical {
            throw HeedError.notForHierarchical("heed tune", instead: "train han with heed train and compare settings on a dev set (--dev)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Double { Trainer.seconds(start.duration(to: clock.now)) }
        let trainLabels = Set(train.compactMap(\.label))
        if let stray = dev.first(where: { $0.label.map { !trainLabels.contains($0) } ?? false }) {
            throw HeedError.devLabelNotInTraining(file: devFile, line: stray.line, label: stray.label!, known: trainLabels.sorted())
        }
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let ideographic = TuningSettings.isIdeographic(train)
        let cap = 81
        var settings = TuningSettings.sample(trials ?? cap, base: base, space: space, ideographic: ideographic, seed: seed)
        var records: [TrialRecord?] = Array(repeating: nil, count: settings.count)
        // Each trial's log alone: its weights stay in its model file, so the search holds no more
        // models in memory than it trains at once (keeping every trial's result once took 8 GB).
        var logs: [Int: [EpochRecord]] = [:]
        let stopFlag = StopFlag()
        let deadline = trials == nil ? budget : nil
        let userStop = shouldStop
        let stop: @Sendable () -> Bool = {
            if stopFlag.isSet { return true }
            if userStop?() == true { stopFlag.set(user: true); return true }
            if let deadline, Trainer.seconds(start.duration(to: clock.now)) > deadline { stopFlag.set(user: false); return true }
            return false
        }

        /// Trains `trial` on to `epochs` (from its checkpoint, if it has one) and scores it on dev.
        func advance(_ trial: Int, rung: Int, epochs: Int, stopping: (@Sendable () -> Bool)?) throws -> (TrialRecord, [EpochRecord])? {
            var options = settings[trial].applied(to: base)
            options.epochs = epochs
            options.workers = 1
            options.threads = 1
            options.calibration = .none
            var trainer = Trainer(options: options, tokenizer: tokenizer)
            trainer.encoder = settings[trial].pretrainEpochs.flatMap { pretrained[$0] } ?? encoder
            trainer.selectionMetric = metric
            let model = workDirectory.appendingPathComponent("trial-\(trial).heed")
            trainer.output = model
            let checkpoint = Trainer.checkpointURL(for: model)
            if FileManager.default.fileExists(atPath: checkpoint.path) { trainer.resume = checkpoint }
            trainer.shouldStop = stopping
            let began = clock.now
            let result = try trainer.train(train, dev: dev, file: trainFile)
            guard !result.log.isEmpty else { return nil }  // stopped before its first epoch ended
            let evaluation = try result.classifier.evaluate(dev, file: "dev set")
            let last = result.log.last
            // Early stopping ended it (not the budget or Ctrl-C, which interrupt it).
            let finished = !result.interrupted && (last.map { $0.epoch < epochs } ?? false)
            let record = TrialRecord(
                trial: trial, rung: rung, settings: settings[trial], epochs: last?.epoch ?? 0, bestEpoch: result.bestEpoch,
                devAccuracy: evaluation.accuracy, devMacroF1: evaluation.macroF1, score: metric.score(evaluation),
                seconds: Trainer.seconds(began.duration(to: clock.now)), stopped: finished, status: result.interrupted ? "cut" : "running")
            trialEnded?(record)
            return (record, result.log)
        }

        /// The most epochs `trial` may train: its schedule at its own batch size (counted in steps
        /// unless `base.epochs` fixes it).
        func epochLimit(_ trial: Int) -> Int {
            let options = settings[trial].applied(to: base)
            return options.epochs ?? options.plannedEpochs(stepsPerEpoch: (train.count + options.batchSize - 1) / options.batchSize)
        }

        // Trials train side by side only while their weights fit in twice the base settings' (a
        // trial larger than that trains alone), so the search needs at most twice the memory of a
        // run of the base settings or of its largest trial, whichever is more.
        let vocabularySize = try Self.vocabularySize(train, options: base, tokenizer: tokenizer, file: trainFile)
        let classes = trainLabels.count
        func bytes(_ trial: Int) -> Int { Self.weightBytes(settings[trial].applied(to: base), vocabularySize: vocabularySize, classes: classes) }
        let gate = MemoryGate(limit: 2 * Self.weightBytes(base, vocabularySize: vocabularySize, classes: classes))

        func run(_ batch: [Int], rung: Int, epochs: @escaping (Int) -> Int, stopping: (@Sendable () -> Bool)?) throws {
            let targets = batch.map(epochs)
            let outcomes = try concurrentMap(count: batch.count, threads: min(concurrency, batch.count)) { _, k in
                let size = bytes(batch[k])
                gate.acquire(size)
                defer { gate.release(size) }
                return try advance(batch[k], rung: rung, epochs: targets[k], stopping: stopping)
            }
            for (trial, outcome) in zip(batch, outcomes) {
                guard let (record, log) = outcome else { continue }
                records[trial] = record
                logs[trial] = log
            }
        }

        /// Trains the base settings (trial 0) to the end instead of a search that cannot finish;
        /// only the user can stop it.
        func trainBaseToEnd(_ why: String) throws -> TuningResult {
            note?(why + " Training the base settings once, to the end, instead.")
            stopFlag.reset()
            try run([0], rung: 0, epochs: epochLimit, stopping: userStop)
            guard records[0] != nil, logs[0] != nil else { throw HeedError.tuningStopped }
            records[0]!.status = "best"
            return try finish(best: 0, records: records, logs: logs, dev: dev, cutShort: stopFlag.isSet, budgetTooSmall: true)
        }

        var count = settings.count
        var sizes = Self.rungSizes(count)
        if trials == nil, let budget {
            // Measure one epoch of the first pair, then size the search to the budget.
            let first = Array(0..<min(2, settings.count))
            try run(first, rung: 0, epochs: { _ in 1 }, stopping: stop)
            let pairSeconds = elapsed()
            if pairSeconds > budget || stopFlag.isSet && !stopFlag.byUser {
                return try trainBaseToEnd("The budget (\(Int(budget)) s) is too small: one epoch of two trials took \(Int(pairSeconds)) s.")
            }
            if stopFlag.byUser {
                count = first.count  // Ctrl-C: the search ends with the best of these
            } else {
                let plan = Self.budgetPlan(
                    firstSeconds: pairSeconds, firstTrials: first.count, concurrency: concurrency,
                    cores: ProcessInfo.processInfo.activeProcessorCount, budget: budget, finalEpochs: min(epochLimit(0), 8), cap: cap)
                if plan.trials < Self.minimumSearch {
                    return try trainBaseToEnd(
                        "Only \(plan.trials) trials fit the \(Int(budget)) s budget (one epoch took about "
                            + "\(String(format: "%.1f", plan.epochSeconds)) s per trial), too few for a search.")
                }
                count = plan.trials
                note?(
                    "One epoch took about \(String(format: "%.1f", plan.epochSeconds)) s per trial: \(count) trials fit the \(Int(budget)) s budget.")
            }
            sizes = Self.rungSizes(count)
        }
        settings = Array(settings.prefix(count))
        records = Array(records.prefix(count))

        var alive = Array(0..<count)
        for (rung, keep) in sizes.enumerated() {
            if stopFlag.isSet { break }
            if rung > 0 {
                // The best `keep` by score (earlier trial on ties) go on; the rest are dropped. The
                // base settings (trial 0) always go on: a trial that learns slowly ranks low after a
                // few epochs, and the search must never end below the settings it started from.
                let ranked = alive.sorted { (records[$0]!.score, -$0) > (records[$1]!.score, -$1) }
                var survivors = Array(ranked.prefix(keep))
                if !survivors.contains(0) && ranked.contains(0) { survivors.append(0) }
                for t in ranked where !survivors.contains(t) {
                    records[t]!.status = "dropped"
                    try? removeTrialFiles(t)
                }
                alive = survivors.sorted()
                for t in alive { records[t]!.status = "promoted" }
            }
            let target = { (t: Int) in rung < sizes.count - 1 ? min(Self.rungEpochs[rung], epochLimit(t)) : epochLimit(t) }
            let pending = alive.filter { t in records[t].map { !$0.stopped && $0.epochs < target(t) } ?? true }
            try run(pending, rung: rung, epochs: target, stopping: stop)
        }
        let scored = records.indices.filter { records[$0] != nil }
        guard let best = scored.max(by: { (records[$0]!.score, -$0) < (records[$1]!.score, -$1) }) else {
            throw HeedError.tuningStopped
        }
        records[best]!.status = "best"
        return try finish(best: best, records: records, logs: logs, dev: dev, cutShort: stopFlag.isSet, budgetTooSmall: false)
    }

    private func finish(
        best: Int, records: [TrialRecord?], logs: [Int: [EpochRecord]], dev: [LabelledText], cutShort: Bool, budgetTooSmall: Bool
    ) throws
        -> TuningResult
    {
        // The trial's file holds its kept epoch (written whenever that changed).
        let trained = try TextClassifier(contentsOf: workDirectory.appendingPathComponent("trial-\(best).heed"))
        var options = records[best]!.settings.applied(to: base)
        options.epochs = base.epochs
        var classifier = trained.cloned(options: options, calibration: nil)
        classifier.workers = base.workers
        if base.calibration == .temperature { classifier = try classifier.calibrated(on: dev, file: "dev set") }
        return TuningResult(
            classifier: classifier, log: logs[best] ?? [], trials: records.compactMap { $0 }, best: records[..<best].compactMap { $0 }.count,
            cutShort: cutShort, budgetTooSmall: budgetTooSmall)
    }

    /// Bytes a training run holds per weight: the value, its gradient, Adam's two moments and
    /// the kept epoch's copy.
    static let bytesPerWeight = 5 * MemoryLayout<Float>.size

    /// What a run of `options` holds in weights and their training state (activations, the
    /// runtime and the documents are the same for every trial, or small beside them).
    static func weightBytes(_ options: TrainingOptions, vocabularySize: Int, classes: Int) -> Int {
        let shapes = options.classifierConfig(vocabularySize: vocabularySize, classes: classes).tensorShapes
        return bytesPerWeight * shapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// The vocabulary size a run of `options` builds from `train` (an encoder's trials use its own,
    /// which the memory estimate does not need exactly).
    static func vocabularySize(_ train: [LabelledText], options: TrainingOptions, tokenizer: TokenizerSettings, file: String) throws -> Int {
        let counts = try Trainer.countTokens(train, tokenizer: try Tokenizer(settings: tokenizer), file: file)
        return Vocabulary(counts: counts, minCount: options.minCount, maxSize: options.maxVocabulary).count
    }

    private func removeTrialFiles(_ trial: Int) throws {
        let model = workDirectory.appendingPathComponent("trial-\(trial).heed")
        for url in [model, Trainer.checkpointURL(for: model), Trainer.logURL(for: model)] { try? FileManager.default.removeItem(at: url) }
    }
}

/// Lets trials start while the bytes they hold fit under `limit`; one trial always may, however
/// large, so a trial too large to share memory trains alone.
final class MemoryGate: @unchecked Sendable {
    private let condition = NSCondition()
    private let limit: Int
    private var held = 0, running = 0

    init(limit: Int) { self.limit = limit }

    /// Waits until `bytes` fit beside the trials running (or none is running), then takes them.
    func acquire(_ bytes: Int) {
        condition.lock()
        defer { condition.unlock() }
        while running > 0 && held + bytes > limit { condition.wait() }
        held += bytes
        running += 1
    }

    /// Gives back what `acquire(bytes)` took.
    func release(_ bytes: Int) {
        condition.lock()
        defer { condition.unlock() }
        held -= bytes
        running -= 1
        condition.broadcast()
    }
}

/// Set once when the search must stop; remembers whether the user asked (rather than the budget).
private final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set_ = false, user = false
    var isSet: Bool { lock.withLock { set_ } }
    var byUser: Bool { lock.withLock { user } }
    func set(user byUser: Bool) { lock.withLock { if !set_ { set_ = true; user = byUser } } }
    func reset() {
        lock.withLock {
            set_ = false; user = false
        }
    }
}
