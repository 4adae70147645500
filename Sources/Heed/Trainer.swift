import Foundation
import HeedNN
import HeedText

/// One line of the JSONL training log written beside the model.
public struct EpochRecord: Codable, Sendable {
    public var epoch: Int
    public var train_loss: Double
    public var dev_loss: Double
    public var dev_accuracy: Double
    public var dev_macro_f1: Double
    public var tokens_per_s: Double
    public var seconds: Double
    /// True when this epoch's model became the kept (best) one.
    public var best: Bool
    /// Distributed runs only: the number of ranks, optimizer steps, and rank 0's seconds in the
    /// gradient allreduce (including waiting for slower ranks). Absent from single-process logs.
    public var ranks: Int? = nil
    public var steps: Int? = nil
    public var allreduce_seconds: Double? = nil
}

/// Live progress for a progress bar.
public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int
    public var batch: Int, batches: Int
    public var loss: Double
    public var tokensPerSecond: Double
    public var epochSeconds: Double
}

public struct TrainingResult: Sendable {
    public var classifier: TextClassifier
    public var log: [EpochRecord]
    public var bestEpoch: Int
    public var interrupted: Bool
    public var trainDocuments: Int, devDocuments: Int
    public var skippedDocuments: Int
    public var seconds: Double
    /// Mean training tokens per second over all epochs.
    public var tokensPerSecond: Double
}

/// Trains a classifier: carves a dev set if needed, builds the vocabulary from training data
/// only, buckets batches by length, early-stops on dev accuracy and keeps the best epoch.
public struct Trainer {
    public var options: TrainingOptions
    public var tokenizer: TokenizerSettings
    /// Pretrained `.vec` file for the embedding rows.
    public var embeddingsFile: String?
    /// A prebuilt vocabulary (its tokenizer settings must equal `tokenizer`).
    public var vocabularyFile: String?
    public var progress: (@Sendable (TrainingProgress) -> Void)?
    public var epochEnded: (@Sendable (EpochRecord) -> Void)?
    /// Called with the log of the epochs before a `resumePath` checkpoint, before training goes on.
    public var resumedWithLog: (([EpochRecord]) -> Void)?
    /// Polled between batches; true stops training after saving nothing new.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Called whenever a new best model exists (to write it to disk at once).
    public var bestModelChanged: ((TextClassifier) throws -> Void)?
    /// Called once the model's shape is known, before the first epoch (e.g. to check disk space).
    public var willTrain: ((ClassifierConfig) throws -> Void)?
    /// Written atomically at the end of every epoch; `resume` continues from such a file.
    public var checkpointPath: String?
    /// Continue from a checkpoint: same data required; its options and vocabulary are used.
    public var resumePath: String?

    public init(options: TrainingOptions = TrainingOptions(), tokenizer: TokenizerSettings = .default) {
        self.options = options
        self.tokenizer = tokenizer
    }

    /// Splits off `fraction` of each label's documents as the dev set, by a seeded shuffle.
    public static func carveDev(_ docs: [LabelledText], fraction: Double, seed: UInt64) -> (train: [LabelledText], dev: [LabelledText]) {
        var rng = Rng(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        var byLabel: [String: [Int]] = [:]
        for (i, d) in docs.enumerated() { byLabel[d.label ?? "", default: []].append(i) }
        var isDev = [Bool](repeating: false, count: docs.count)
        for label in byLabel.keys.sorted() {
            let shuffled = Bucketing.deterministicShuffle(byLabel[label]!, &rng)
            for i in shuffled.prefix(Int((Double(shuffled.count) * fraction).rounded())) { isDev[i] = true }
        }
        return (docs.indices.filter { !isDev[$0] }.map { docs[$0] }, docs.indices.filter { isDev[$0] }.map { docs[$0] })
    }

    public func train(_ trainingData: [LabelledText], dev devData: [LabelledText]? = nil, file: String = "training data") throws -> TrainingResult {
        var options = self.options
        var tokenizer = self.tokenizer
        let resumed = try resumePath.map { try Checkpoint.load($0) }
        var resumedVocabulary: Vocabulary? = nil
        if let resumed, let resumePath {
            let settings = try resumed.settings(path: resumePath, epochs: self.options.epochs)
            (options, tokenizer, resumedVocabulary) = (settings.options, settings.vocabulary.settings, settings.vocabulary)
        }
        if let problem = options.problem { throw HeedError.badOption(problem) }
        let clock = ContinuousClock(), started = clock.now
        BLAS.setThreads(options.threads)
        let (trainDocs, devDocs) = devData.map { (trainingData, $0) } ?? Self.carveDev(trainingData, fraction: options.devFraction, seed: options.seed)
        guard !trainDocs.isEmpty else { throw HeedTextError.noDocuments(file) }

        // Vocabulary and labels from the training part only.
        let vocabulary = try chooseVocabulary(resumed: resumedVocabulary, tokenizer: tokenizer, options: options) {
            try Self.countTokens(trainDocs, tokenizer: $0, file: file)
        }
        guard vocabulary.labels.count >= 2 else { throw HeedError.tooFewClasses(file, found: vocabulary.labels) }
        let encoder = try Encoder(vocabulary: vocabulary, maxLength: options.maxLength)
        let (train, skipped) = try encoder.encode(trainDocs, file: file)
        guard !train.isEmpty else { throw HeedError.noUsableDocuments(file) }
        guard !devDocs.isEmpty else { throw HeedError.badOption("the dev set is empty: give --dev FILE or more training data") }

        let config = options.classifierConfig(vocabularySize: vocabulary.count, classes: vocabulary.labels.count)
        let model = try makeModel(config, options: options, vocabulary: vocabulary)
        let adam = Adam(parameters: model.parameters, lr: options.lr, weightDecay: options.weightDecay)
        let classWeights: [Float]? = options.classWeights ? Self.inverseFrequencyWeights(train, classes: config.classes) : nil
        var shuffler: Rng? = Rng(seed: options.seed &+ 1)

        let classifier = TextClassifier(model: model, vocabulary: vocabulary, options: options)
        let best = ParameterSnapshot(model.parameters)
        var bestAccuracy = -1.0, bestEpoch = 0, sinceBest = 0
        var log: [EpochRecord] = []
        var interrupted = false
        var totalTokens = 0, totalSeconds = 0.0
        let dataHash = Checkpoint.hash(trainingData)
        var firstEpoch = 1
        if let resumed, let resumePath {
            if let ranks = resumed.state.ranks {
                throw HeedError.modelMismatch("\(resumePath): was written by a distributed run (\(ranks) ranks); resume it with mpirun ... heed train --distributed")
            }
            guard resumed.state.dataHash == dataHash else {
                throw HeedError.modelMismatch("\(resumePath): was written for other training data; resume with the same TRAIN (and --dev) files")
            }
            resumed.restore(model: model, adam: adam, best: best)
            model.rngState = resumed.state.modelRandom
            shuffler = Rng(state: resumed.state.shuffleRandom)
            bestAccuracy = resumed.state.bestAccuracy
            bestEpoch = resumed.state.bestEpoch
            sinceBest = resumed.state.sinceBest
            log = resumed.state.log
            resumedWithLog?(log)
            firstEpoch = resumed.firstEpoch(patience: options.patience, epochs: options.epochs)
        }

        epochs: for epoch in firstEpoch..<(options.epochs + 1) {
            let epochStart = clock.now
            let batches = Bucketing.batches(train, size: options.batch, shuffle: &shuffler)
            var lossSum = 0.0, seen = 0, tokens = 0
            for (b, indices) in batches.enumerated() {
                if shouldStop?() == true { interrupted = true; break epochs }
                let batch = Batch(train, indices: indices)
                model.zeroGrad()
                _ = model.forward(ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, training: true)
                let loss = model.loss(labels: batch.labels.map(Int.init), classWeights: classWeights)
                guard loss.isFinite else { throw HeedError.nonFinite(epoch: epoch, batch: b + 1, what: "loss") }
                model.backward()
                let norm = model.clipGradNorm(options.clipNorm)
                guard norm.isFinite else { throw HeedError.nonFinite(epoch: epoch, batch: b + 1, what: "gradient") }
                adam.step()
                lossSum += Double(loss) * Double(batch.count)
                seen += batch.count
                tokens += batch.tokens
                if let progress {
                    let elapsed = Self.seconds(epochStart.duration(to: clock.now))
                    progress(TrainingProgress(epoch: epoch, epochs: options.epochs, batch: b + 1, batches: batches.count,
                                              loss: lossSum / Double(seen), tokensPerSecond: Double(tokens) / max(elapsed, 1e-9), epochSeconds: elapsed))
                }
            }
            let trainSeconds = Self.seconds(epochStart.duration(to: clock.now))
            totalTokens += tokens
            totalSeconds += trainSeconds
            let evaluation = try classifier.evaluate(devDocs, file: "dev set")
            let improved = evaluation.accuracy > bestAccuracy
            if improved {
                bestAccuracy = evaluation.accuracy
                bestEpoch = epoch
                sinceBest = 0
                best.capture()
                try bestModelChanged?(classifier)
            } else {
                sinceBest += 1
            }
            let record = EpochRecord(epoch: epoch, train_loss: lossSum / Double(max(seen, 1)), dev_loss: evaluation.loss ?? .nan,
                                     dev_accuracy: evaluation.accuracy, dev_macro_f1: evaluation.macroF1,
                                     tokens_per_s: Double(tokens) / max(trainSeconds, 1e-9), seconds: trainSeconds, best: improved)
            log.append(record)
            if let checkpointPath {
                let state = Checkpoint.State(epoch: epoch, bestAccuracy: bestAccuracy, bestEpoch: bestEpoch, sinceBest: sinceBest,
                                             log: log, modelRandom: model.rngState, shuffleRandom: shuffler!.state,
                                             adamSteps: adam.steps, dataHash: dataHash)
                try Checkpoint.write(to: checkpointPath, classifier: classifier, model: model, adam: adam, best: best, state: state)
            }
            epochEnded?(record)
            if sinceBest >= options.patience { break }
        }
        // Keep the best epoch's weights.
        best.restore()
        return TrainingResult(classifier: classifier, log: log, bestEpoch: bestEpoch, interrupted: interrupted,
                              trainDocuments: train.count, devDocuments: devDocs.count, skippedDocuments: skipped,
                              seconds: Self.seconds(started.duration(to: clock.now)),
                              tokensPerSecond: Double(totalTokens) / max(totalSeconds, 1e-9))
    }

    /// The run's vocabulary: the resumed checkpoint's, else `vocabularyFile`'s, else one built from
    /// `counts` (one process counts its documents; a distributed run merges every rank's counts).
    func chooseVocabulary(resumed: Vocabulary?, tokenizer: TokenizerSettings, options: TrainingOptions,
                          counts: (Tokenizer) throws -> TokenCounts) throws -> Vocabulary {
        if let resumed { return resumed }
        if let vocabularyFile { return try Vocabulary.load(vocabularyFile, expecting: tokenizer) }
        return Vocabulary(counts: try counts(try Tokenizer(settings: tokenizer)), minCount: options.minCount, maxSize: options.maxVocabulary)
    }

    /// A freshly initialised model for `config` (after `willTrain` has seen it), with the
    /// pretrained vectors of `embeddingsFile` loaded.
    func makeModel(_ config: ClassifierConfig, options: TrainingOptions, vocabulary: Vocabulary) throws -> Classifier {
        try willTrain?(config)
        let model = Classifier(config: config, seed: options.seed, embeddingStd: options.embedInitStd)
        if let embeddingsFile {
            model.loadPretrained(rows: try PretrainedVectors.load(embeddingsFile, vocabulary: vocabulary, dimension: options.embed))
        }
        return model
    }

    /// Token and label counts of labelled documents (every document must have a label).
    static func countTokens(_ docs: [LabelledText], tokenizer: Tokenizer, file: String) throws -> TokenCounts {
        var counts = TokenCounts(settings: tokenizer.settings)
        for doc in docs {
            guard let label = doc.label else { throw HeedError.missingLabel(file: file, line: doc.line) }
            counts.addDocument(label: label)
            var text = doc.text
            text.withUTF8 { tokenizer.forEachToken(in: $0) { t, _, _ in counts.add(token: t) } }
        }
        return counts
    }

    /// n / (classes × count_c): rare classes weigh more; a weight of 1 for balanced data.
    static func inverseFrequencyWeights(_ docs: [EncodedDocument], classes: Int) -> [Float] {
        var counts = [Int](repeating: 0, count: classes)
        for d in docs { counts[d.label] += 1 }
        return counts.map { $0 == 0 ? 0 : Float(docs.count) / Float(classes * $0) }
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}
