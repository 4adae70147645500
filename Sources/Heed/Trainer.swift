import Foundation
import HeedNN
import HeedText

/// Trains a classifier: carves a dev set if needed, builds the vocabulary from training data
/// only, buckets batches by length, early-stops on dev accuracy and keeps the best epoch.
///
/// There is one training loop, `TrainingLoop` (shared with `Pretrainer`); `train(shard:dev:file:collective:)`
/// prepares a classifier's run for it, and a single process runs it over a `SingleProcess` collective. With an `output`, the trainer alone writes the model,
/// its log and the checkpoint.
public struct Trainer {
    /// The run's options. When resuming, the checkpoint's options win, except that a larger
    /// `epochs` extends the run and `threads` and `workers` are this run's.
    public var options: TrainingOptions
    /// How text is tokenized; a prebuilt `vocabulary` must have been made with the same settings.
    /// Ignored when resuming (the checkpoint's vocabulary carries its own).
    public var tokenizer: TokenizerSettings
    /// Pretrained vectors (`.vec` text format) for the embedding rows.
    public var embeddings: URL?
    /// A prebuilt vocabulary (its tokenizer settings must equal `tokenizer`).
    public var vocabulary: URL?
    /// A pretrained encoder (`heed pretrain`): the classifier starts from its embedding and LSTM
    /// and uses its vocabulary and tokenizer (labels still come from the training data). Sizes
    /// and direction left at their defaults take the encoder's (`adopt`), and `unfreezeEvery` left
    /// unset becomes `TrainingOptions.encoderUnfreezeEvery`. Ignored when resuming.
    public var encoder: URL?
    /// Where the model goes. Beside it go `MODEL.log.jsonl` (per epoch, rewritten after every
    /// epoch) and `MODEL.ckpt` (everything needed to resume, after every epoch).
    public var output: URL?
    /// Continue from a checkpoint: same data required; its options and vocabulary are used.
    public var resume: URL?
    /// Called between batches (on the writing rank) with the epoch's progress.
    public var progress: (@Sendable (TrainingProgress) -> Void)?
    /// Called after every epoch (on the writing rank), once its files are written.
    public var epochEnded: (@Sendable (EpochRecord) -> Void)?
    /// Polled between batches; true stops training after the current batch.
    public var shouldStop: (@Sendable () -> Bool)?
    /// Labelled documents scored after every epoch (on the writing rank) for the log's
    /// `test_accuracy`: watched only, never used to stop or to choose the model.
    public var monitor: [LabelledText]?
    /// The dev score that decides the kept epoch and early stopping (accuracy unless `heed tune`
    /// ranks by another). The checkpoint's `bestAccuracy` holds this score.
    public var selectionMetric: DevMetric = .accuracy
    /// Unlabelled documents for virtual adversarial training (labels ignored; dev and test
    /// documents must not be among them): every step adds `options.vatWeight` times the VAT loss
    /// of a batch of them. nil, empty or a weight of 0 train exactly as without them.
    public var unlabelled: [LabelledText]?
    /// Virtual adversarial training on the training split's own texts too (labels ignored; the
    /// dev split is never among them): VAT as a regulariser where there is no text beyond the
    /// labelled set, as Miyato et al. apply it to labelled and unlabelled texts alike.
    public var vatOnTrainingTexts = false
    /// The files `unlabelled` was read from, recorded in the model's provenance (the library
    /// cannot know them; `heed train` says).
    public var unlabelledSource: UnlabelledTextProvenance?

    /// A trainer that writes no files and reports nothing until `output` and the callbacks are set.
    public init(options: TrainingOptions = TrainingOptions(), tokenizer: TokenizerSettings = .default) {
        self.options = options
        self.tokenizer = tokenizer
    }

    /// The log file written beside `model`.
    public static func logURL(for model: URL) -> URL { RunFiles.logURL(for: model) }
    /// Writes `records` as the training log of `model` (at `logURL(for:)`), atomically, as a run does.
    public static func writeLog(_ records: [EpochRecord], forModel model: URL) throws {
        try RunFiles(model: model).writeLog(records, final: true)
    }
    /// The checkpoint written beside `model`.
    public static func checkpointURL(for model: URL) -> URL { RunFiles.checkpointURL(for: model) }

    /// Trains in this process on `trainingData`; without `dev`, a stratified share
    /// (`options.devFraction`) of it is held out. `file` names the data in error messages.
    public func train(_ trainingData: [LabelledText], dev: [LabelledText]? = nil, file: String = "training data") throws -> TrainingResult {
        let all = Shard(documents: trainingData, indices: Array(trainingData.indices))
        let devShard = dev.map { Shard(documents: $0, indices: Array($0.indices)) }
        return try train(shard: all, dev: devShard, file: file, collective: SingleProcess())
    }

    /// A classifier's run on the one training loop (`TrainingLoop` with `ClassifierObjective`), one
    /// call per rank of `collective`, each with its own shard. All ranks
    /// start from the same seeded weights, merge their token counts into one vocabulary (checked by
    /// hash), average gradients every step (equal step counts on every rank) and apply identical
    /// clipping and Adam updates, so parameters stay identical. Dev metrics are summed over ranks;
    /// rank 0 decides early stopping (broadcast), calls `progress` and `epochEnded`, and writes
    /// the files. The dev split, the sharding and the random streams derive from the seed, the
    /// epoch, the document index and the rank, so a resume may use any rank count.
    package func train(shard: Shard, dev devShard: Shard?, file: String, collective: any Collective) throws -> TrainingResult {
        let rank = collective.rank, ranks = collective.size
        let isRoot = rank == 0
        // Failures every rank sees alike; one process reports them as they are.
        func agreed(_ error: any Error) -> any Error { ranks > 1 ? AgreedFailure(error) : error }
        let files = RunFiles(model: isRoot ? output : nil)
        try files.checkWritable()
        var options = self.options
        var tokenizer = self.tokenizer
        let resumed = try resume.map { try Checkpoint.load($0.path) }
        var resumedVocabulary: Vocabulary? = nil
        if let resumed, let resume {
            guard resumed.state.ranks != nil else {
                throw HeedError.modelMismatch("\(resume.path): was written by an older heed whose random streams differ; start the run again")
            }
            let settings = try resumed.settings(path: resume.path, caller: self.options)
            (options, tokenizer, resumedVocabulary) = (settings.options, settings.vocabulary.settings, settings.vocabulary)
        }
        let pretrained = resumed == nil ? try self.encoder.map(PretrainedEncoder.load) : nil
        if let pretrained, let url = self.encoder { try adopt(pretrained, path: url.path, options: &options, tokenizer: &tokenizer) }
        try options.validate()
        // A han model's file records the sentence bounds it was trained with, defaults included.
        if options.model.isHierarchical { (options.maxSentences, options.maxWords) = (options.maxSentences, options.maxWords) }
        let clock = ContinuousClock(), started = clock.now
        // BLAS threads for this call only (trials of `heed tune` train side by side with their own).
        let blasScope = BLAS.ThreadScope(options.threads)
        defer { blasScope.end() }

        // Dev: the dev shard, else a stratified draw from the training documents of all ranks.
        let trainDocs: [LabelledText], devDocs: [LabelledText], devIndices: [Int]
        if let devShard {
            (trainDocs, devDocs, devIndices) = (shard.documents, devShard.documents, devShard.indices)
        } else {
            let isDev = try Self.devMembership(shard, fraction: options.devFraction, seed: options.seed, collective: collective)
            trainDocs = shard.documents.indices.filter { !isDev[$0] }.map { shard.documents[$0] }
            devDocs = shard.documents.indices.filter { isDev[$0] }.map { shard.documents[$0] }
            devIndices = shard.documents.indices.filter { isDev[$0] }.map { shard.indices[$0] }
        }

        var documentCount = [Double(trainDocs.count)]
        collective.sum(&documentCount)
        guard documentCount[0] > 0 else { throw agreed(HeedTextError.noDocuments(file)) }

        // Vocabulary: every rank counts its shard, all count tables are merged on every rank (the
        // `vocab count` / `vocab merge` path), and the results must hash the same everywhere.
        func merged(_ counts: TokenCounts) throws -> TokenCounts {
            guard ranks > 1 else { return counts }
            var merged = TokenCounts(settings: tokenizer)
            for (r, bytes) in try collective.allGather(try counts.serialized()).enumerated() {
                try merged.merge(try TokenCounts.load(bytes: bytes, name: "rank \(r)'s token counts"))
            }
            return merged
        }
        let vocabulary: Vocabulary
        if let resumedVocabulary {
            vocabulary = resumedVocabulary
        } else if let prebuilt = self.vocabulary {
            let loaded = try Vocabulary.load(prebuilt, expecting: tokenizer)
            // Built from unlabelled text (`heed vocab build --input text`, e.g. to give words only
            // pretrained vectors know a row): the labels are TRAIN's, as with --init.
            vocabulary =
                loaded.labels.isEmpty ? loaded.labelled(by: try merged(Self.countLabels(trainDocs, settings: tokenizer, file: file))) : loaded
        } else if let pretrained {
            vocabulary = Self.encoderVocabulary(pretrained, labels: try merged(Self.countLabels(trainDocs, settings: tokenizer, file: file)))
        } else {
            let counts = try merged(Self.countTokens(trainDocs, tokenizer: try Tokenizer(settings: tokenizer), file: file))
            vocabulary = Vocabulary(counts: counts, minCount: options.minCount, maxSize: options.maxVocabulary)
        }
        if ranks > 1 {
            var vocabularyHash = FNV1a()
            vocabularyHash.add(try vocabulary.serialized())
            try collective.requireAgreement(vocabularyHash.value, "the vocabulary")
        }
        guard vocabulary.labels.count >= 2 else { throw agreed(HeedError.tooFewClasses(file, found: vocabulary.labels)) }

        if options.model.isHierarchical {
            if pretrained != nil {
                throw agreed(
                    HeedError.notForHierarchical("a pretrained encoder (--init)", instead: "train han from scratch, or a flat --model from the encoder"))
            }
            if options.vatWeight > 0 && (vatOnTrainingTexts || unlabelled?.isEmpty == false) {
                throw agreed(
                    HeedError.notForHierarchical(
                        "virtual adversarial training (--unlabelled)", instead: "train han on the labelled data alone, or a flat --model with VAT"))
            }
        }
        let encoder = try DocumentEncoder(vocabulary: vocabulary, options: options)
        let (train, skipped) = try encoder.encode(trainDocs, file: file)
        let vatSchedule = VATSchedule(unlabelled: unlabelled, training: vatOnTrainingTexts ? train : [], encoder: encoder, options: options)
        let classes = vocabulary.labels.count
        // Global sizes and label counts (for class weights) in one sum.
        var sizes = [Double](repeating: 0, count: 3 + classes)
        sizes[0] = Double(train.count); sizes[1] = Double(skipped); sizes[2] = Double(devDocs.count)
        for d in train { sizes[3 + d.label] += 1 }
        collective.sum(&sizes)
        let globalTrain = Int(sizes[0]), globalSkipped = Int(sizes[1]), globalDev = Int(sizes[2])
        guard globalTrain > 0 else { throw agreed(HeedError.noUsableDocuments(file)) }
        guard globalDev > 0 else { throw agreed(HeedError.emptyDevSet) }

        let classWeights: [Float]? =
            options.classWeights
            ? sizes[3...].map { $0 == 0 ? 0 : Float(Double(globalTrain) / (Double(classes) * $0)) } : nil
        let dataHash = try collective.allGather(shard.localHash()).reduce(0, &+) &+ (vatSchedule?.hash ?? 0)

        /// The rest of the run, the same for either network.
        func run<Network: TrainableNetwork>(_ model: Network, _ classifier: TextClassifier) throws -> TrainingResult {
            if let embeddings {
                let rows = try PretrainedVectors.load(embeddings, vocabulary: vocabulary, dimension: options.embeddingSize)
                switch model {
                case let flat as Classifier: flat.loadPretrained(rows: rows)
                case let hierarchical as HierarchicalClassifier: hierarchical.loadPretrained(rows: rows)
                default: preconditionFailure("unknown network")
                }
            }
            let adam = Adam(parameters: model.parameters, lr: options.learningRate, weightDecay: options.weightDecay)
            var classifier = classifier
            classifier.provenance.pretraining = pretrained?.provenance ?? resumed?.provenance.pretraining
            classifier.provenance.unlabelled = unlabelledSource
            classifier.provenance.vat = vatSchedule.map {
                VATProvenance(
                    epsilon: options.vatEpsilon, weight: options.vatWeight, onTrainingTexts: vatOnTrainingTexts,
                    documents: $0.unlabelledCount + (vatOnTrainingTexts ? globalTrain : 0))
            }
            classifier.workers = options.workers
            let best = ParameterSnapshot(model.parameters)
            var stopping = EarlyStopping(options: options, devDocuments: globalDev)
            var log: [EpochRecord] = []
            var firstEpoch = 1
            if let resumed, let resume {
                guard resumed.state.dataHash == dataHash else {
                    throw agreed(HeedError.modelMismatch("\(resume.path): was written for other training data; resume with the same training (and dev) files"))
                }
                resumed.restore(model: model, adam: adam, best: best)
                stopping = resumed.stopping(options: options)
                log = resumed.state.log
                try files.writeLog(log)  // the log keeps the epochs before the resume
                firstEpoch = resumed.state.epoch + 1
            }
            // Every rank must hold the same starting point (same build, files, options, checkpoint).
            if ranks > 1 { try collective.requireAgreement(Self.fingerprint(model.parameters), "the initial parameters") }

            // Workers share the model's weights, so they are made after any resume or pretrained load
            // and need no copy after an optimizer step.
            let parallelStep = DataParallelStep(model: model, workers: options.workers)
            classifier.adopt(parallelStep.replicas)
            // One BLAS thread per worker; the optimizer's elementwise loops use every worker's core.
            let workerThreads = options.workers > 1 ? BLAS.ThreadScope(1, loops: options.workers) : nil
            defer { workerThreads?.end() }
            let objective = ClassifierObjective(
                trainer: self, options: options, collective: collective, train: train, devDocuments: devDocs, classWeights: classWeights,
                vatSchedule: vatSchedule, classifier: classifier, step: parallelStep, adam: adam, best: best, files: files, dataHash: dataHash,
                stopping: stopping, log: log, started: started)
            var loop = TrainingLoop(collective: collective, adam: adam, best: best, schedule: options.epochSchedule, clipNorm: options.clipNorm)
            (loop.firstEpoch, loop.stopped) = (firstEpoch, stopping.stopped)
            (loop.shouldStop, loop.progress) = (shouldStop, progress)
            let outcome = try loop.run(objective)
            (stopping, log) = (objective.stopping, objective.log)
            best.restore()
            if options.calibration == .temperature && globalDev > 0 {
                classifier.calibration = try Self.fitTemperature(classifier, devDocs, indices: devIndices, collective: collective)
                if files.wroteModel { try files.bestChanged(classifier) }
            }
            try files.writeLog(log, final: true)
            return TrainingResult(
                classifier: classifier, log: log, bestEpoch: stopping.bestEpoch, interrupted: outcome.interrupted,
                wroteModel: files.wroteModel,
                trainDocuments: globalTrain, devDocuments: globalDev, skippedDocuments: globalSkipped,
                seconds: Self.seconds(started.duration(to: clock.now)),
                tokensPerSecond: outcome.tokens / max(outcome.seconds, 1e-9))
        }

        if options.model.isHierarchical {
            let config = options.hierarchicalConfig(vocabularySize: vocabulary.count, classes: classes)
            try files.checkSpace(for: config)
            let model = HierarchicalClassifier(config: config, seed: options.seed, embeddingStd: options.embeddingInitStd)
            return try run(model, TextClassifier(hierarchical: model, vocabulary: vocabulary, options: options))
        }
        let config = options.classifierConfig(vocabularySize: vocabulary.count, classes: classes)
        try files.checkSpace(for: config)
        let model = Classifier(config: config, seed: options.seed, embeddingStd: options.embeddingInitStd)
        if let pretrained, let url = self.encoder { try Self.loadEncoder(pretrained, into: model, path: url.path) }
        return try run(model, TextClassifier(model: model, vocabulary: vocabulary, options: options))
    }

    /// The seed of one epoch's generators on one rank: a hash of all three, because seeds a
    /// multiple of SplitMix64's step apart (seed + epoch·γ) would give overlapping seed sequences.
    /// Worker 0 (and a run with one worker) hashes the first three alone, as before workers existed.
    static func streamSeed(_ seed: UInt64, epoch: Int, rank: Int, worker: Int = 0) -> UInt64 {
        var h = FNV1a()
        var values = [seed, UInt64(epoch), UInt64(rank)]
        if worker > 0 { values.append(UInt64(worker)) }
        for v in values { withUnsafeBytes(of: v.littleEndian) { h.add($0) } }
        return h.value
    }

    /// Whether each of `shard`'s documents is in the dev set: a share `fraction` of each label's
    /// documents, drawn by a seeded shuffle over the whole corpus (every rank's labels are
    /// gathered), so the split is the same for any rank count.
    static func devMembership(_ shard: Shard, fraction: Double, seed: UInt64, collective: any Collective) throws -> [Bool] {
        var mine = ByteRecord()
        for (doc, index) in zip(shard.documents, shard.indices) {
            let label = Array((doc.label ?? "").utf8)
            mine.append(UInt64(index))
            mine.append(UInt32(label.count))
            mine.bytes += label
        }
        var everyone: [(index: Int, label: String)] = []
        for bytes in try collective.allGather(mine.bytes) {
            var reader = ByteRecord.Reader(bytes)
            while !reader.atEnd {
                let index = Int(reader.read(UInt64.self)), count = Int(reader.read(UInt32.self))
                everyone.append((index, String(decoding: reader.take(count), as: UTF8.self)))
            }
        }
        everyone.sort { $0.index < $1.index }
        let devIndices = Set(carveDev(labels: everyone.map(\.label), fraction: fraction, seed: seed).map { everyone[$0].index })
        return shard.indices.map(devIndices.contains)
    }

    /// Positions of the dev documents: `fraction` of each label's positions, by a seeded shuffle.
    static func carveDev(labels: [String], fraction: Double, seed: UInt64) -> [Int] {
        var rng = Rng(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        var byLabel: [String: [Int]] = [:]
        for (i, label) in labels.enumerated() { byLabel[label, default: []].append(i) }
        var dev: [Int] = []
        for label in byLabel.keys.sorted() {
            let shuffled = Bucketing.deterministicShuffle(byLabel[label]!, &rng)
            dev.append(contentsOf: shuffled.prefix(Int((Double(shuffled.count) * fraction).rounded())))
        }
        return dev.sorted()
    }

    /// The temperature fitted on every rank's dev documents, gathered and put in corpus order so
    /// the fit is the same for any rank count.
    static func fitTemperature(_ classifier: TextClassifier, _ docs: [LabelledText], indices: [Int], collective: any Collective) throws
        -> TemperatureCalibration
    {
        let C = classifier.labels.count
        var (truth, logits) = try classifier.labelledLogits(docs, file: "dev set")
        if collective.size > 1 {
            var mine = ByteRecord()
            for (k, index) in indices.enumerated() {
                mine.append(UInt64(index))
                mine.append(UInt32(truth[k]))
                for c in 0..<C { mine.append(logits[k * C + c].bitPattern) }
            }
            var rows: [(index: UInt64, label: Int, logits: [Float])] = []
            for bytes in try collective.allGather(mine.bytes) {
                var reader = ByteRecord.Reader(bytes)
                while !reader.atEnd {
                    let index = reader.read(UInt64.self), label = Int(reader.read(UInt32.self))
                    rows.append((index, label, (0..<C).map { _ in Float(bitPattern: reader.read(UInt32.self)) }))
                }
            }
            rows.sort { $0.index < $1.index }
            truth = rows.map(\.label)
            logits = rows.flatMap(\.logits)
        }
        return Calibration.fitTemperature(logits: logits, labels: truth, classes: C)
    }

    /// Dev metrics over all ranks' dev documents: confusion matrices and loss sums are added, so
    /// every rank gets the metrics of the whole dev set.
    static func evaluate(_ classifier: TextClassifier, _ docs: [LabelledText], collective: any Collective) throws -> Evaluation {
        if collective.size == 1 { return try classifier.evaluate(docs, file: "dev set") }
        let C = classifier.labels.count
        var sums = [Double](repeating: 0, count: C * C + 1)
        if !docs.isEmpty {
            let e = try classifier.evaluate(docs, file: "dev set")
            for t in 0..<C { for p in 0..<C { sums[t * C + p] = Double(e.confusion[t][p]) } }
            sums[C * C] = (e.loss ?? 0) * Double(e.count)
        }
        collective.sum(&sums)
        let confusion = (0..<C).map { t in (0..<C).map { p in Int(sums[t * C + p].rounded()) } }
        let count = confusion.reduce(0) { $0 + $1.reduce(0, +) }
        return Evaluation(labels: classifier.labels, confusion: confusion, loss: count > 0 ? sums[C * C] / Double(count) : nil)
    }

    /// Hash of every parameter's bits: equal on all ranks while they stay in lockstep.
    static func fingerprint(_ parameters: [Param]) -> UInt64 {
        var h = FNV1a()
        for p in parameters { h.add(UnsafeBufferPointer(start: p.value, count: p.count)) }
        return h.value
    }

    /// Token and label counts of labelled documents (every document must have a label).
    static func countTokens(_ docs: [LabelledText], tokenizer: Tokenizer, file: String) throws -> TokenCounts {
        var counts = try countLabels(docs, settings: tokenizer.settings, file: file)
        for doc in docs {
            var text = doc.text
            text.withUTF8 { tokenizer.forEachToken(in: $0) { t, _, _ in counts.add(token: t) } }
        }
        return counts
    }

    /// The documents' labels and how many carry each, without tokenizing: all that a vocabulary
    /// taken from an encoder or from unlabelled text needs from TRAIN.
    static func countLabels(_ docs: [LabelledText], settings: TokenizerSettings, file: String) throws -> TokenCounts {
        var counts = TokenCounts(settings: settings)
        for doc in docs {
            guard let label = doc.label else { throw HeedError.missingLabel(file: file, line: doc.line) }
            counts.addDocument(label: label)
        }
        return counts
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
}

/// Little-endian records for `Collective.allGather`: what one rank sends and how the others read it.
struct ByteRecord {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Reads fields back in the order they were appended.
    struct Reader {
        let bytes: [UInt8]
        var at = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { at >= bytes.count }

        mutating func read<T: FixedWidthInteger>(_: T.Type) -> T {
            defer { at += MemoryLayout<T>.size }
            return T(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) })
        }

        mutating func take(_ count: Int) -> ArraySlice<UInt8> {
            defer { at += count }
            return bytes[at..<(at + count)]
        }
    }
}
