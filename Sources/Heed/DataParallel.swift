import Foundation
import HeedNN
import HeedText

/// One rank's part of a corpus: the documents with index i (0-based, in file order) where
/// i mod size = rank. Every rank streams the file but keeps only its own documents in memory.
public struct Shard: Sendable {
    public var documents: [LabelledText]
    /// Each document's index in the whole file (decides dev membership independently of the rank count).
    public var indices: [Int]

    public init(documents: [LabelledText], indices: [Int]) {
        precondition(documents.count == indices.count, "one index per document")
        self.documents = documents
        self.indices = indices
    }

    public static func read(_ source: CorpusSource, rank: Int, size: Int) throws -> Shard {
        precondition(size >= 1 && (0..<size).contains(rank), "rank \(rank) not in 0..<\(size)")
        var docs: [LabelledText] = [], indices: [Int] = []
        var i = 0
        try CorpusReader(source).forEachDocument { d in
            if i % size == rank {
                docs.append(LabelledText(label: d.label, text: d.textString, line: d.line))
                indices.append(i)
            }
            i += 1
        }
        return Shard(documents: docs, indices: indices)
    }

    /// This shard's part of the whole corpus's fingerprint: a wrapping sum of per-document hashes
    /// mixed with the index, so the total over ranks is the same for any rank count.
    func localHash() -> UInt64 {
        var sum: UInt64 = 0
        for (d, i) in zip(documents, indices) {
            var h = FNV1a()
            h.add((d.label ?? "").utf8)
            h.add([0x09])
            h.add(d.text.utf8)
            var mixed = Rng(seed: h.value ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
            sum &+= mixed.next()
        }
        return sum
    }

    /// Whether document `index` belongs to the dev set carved from training data: a seeded draw per
    /// document, so the split is the same for any rank count (a resume may change it). Not stratified
    /// by label, unlike the single-process split; on corpora large enough to need MPI the shares match.
    static func isDev(index: Int, fraction: Double, seed: UInt64) -> Bool {
        var r = Rng(seed: (seed &+ 0xDE5E7) ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        return Double(r.next() >> 11) * 0x1p-53 < fraction
    }
}

/// Averages gradients over ranks with one allreduce of one flattened buffer per step. Each rank
/// contributes its mean-loss gradient times its batch weight (example count, or class-weight sum)
/// and the weight itself, so the result is the gradient of the global batch's mean loss; a rank
/// without a batch this step contributes zeros.
final class GradientReducer {
    /// Sums that travel in the same buffer after the gradients.
    struct Totals {
        var weight = 0.0, weightedLoss = 0.0, examples = 0.0, exampleLoss = 0.0, tokens = 0.0, stop = 0.0
        /// The global batch's mean loss (as the optimiser sees it).
        var loss: Double { weight > 0 ? weightedLoss / weight : 0 }
    }

    private let parameters: [Param]
    private let collective: any Collective
    private var buffer: UnsafeMutableBufferPointer<Float>
    private let gradientCount: Int
    static let tailCount = 6
    /// Wall time spent in the allreduce since the last `takeSeconds`.
    private var seconds = 0.0
    private let clock = ContinuousClock()

    init(parameters: [Param], collective: any Collective) {
        self.parameters = parameters
        self.collective = collective
        gradientCount = parameters.reduce(0) { $0 + $1.count }
        buffer = .allocate(capacity: gradientCount + Self.tailCount)
    }

    deinit { buffer.deallocate() }

    /// Sums every rank's `local` and weighted gradients; on return every `Param.grad` holds the
    /// global mean gradient (identical on all ranks).
    func reduce(_ local: Totals, hasGradient: Bool) -> Totals {
        // One rank: its mean gradient is already the global one (and a rank always has a batch).
        if collective.size == 1 { return local }
        let b = buffer.baseAddress!
        var offset = 0
        let w = Float(local.weight)
        for p in parameters {
            let g = p.grad, out = b + offset
            if hasGradient {
                for k in 0..<p.count { out[k] = g[k] * w }
            } else {
                out.update(repeating: 0, count: p.count)
            }
            offset += p.count
        }
        let tail = [local.weight, local.weightedLoss, local.examples, local.exampleLoss, local.tokens, local.stop]
        for (k, v) in tail.enumerated() { b[gradientCount + k] = Float(v) }
        let start = clock.now
        collective.sum(buffer)
        seconds += Trainer.seconds(start.duration(to: clock.now))
        let t = (0..<Self.tailCount).map { Double(b[gradientCount + $0]) }
        let totals = Totals(weight: t[0], weightedLoss: t[1], examples: t[2], exampleLoss: t[3], tokens: t[4], stop: t[5])
        let scale = totals.weight > 0 ? Float(1 / totals.weight) : 0
        offset = 0
        for p in parameters {
            let g = p.grad, src = b + offset
            for k in 0..<p.count { g[k] = src[k] * scale }
            offset += p.count
        }
        return totals
    }

    func takeSeconds() -> Double {
        defer { seconds = 0 }
        return seconds
    }
}

extension Trainer {
    /// Data-parallel training: one call per rank, each with its own shard. All ranks start from the
    /// same seeded weights, merge their token counts into one vocabulary (checked by hash), average
    /// gradients every step (equal step counts on every rank), and apply identical clipping and Adam
    /// updates, so parameters stay identical. Dev metrics are summed over ranks; rank 0 decides
    /// early stopping (broadcast) and is the only rank that calls `epochEnded`, `bestModelChanged`
    /// and writes the checkpoint, whose format is the single-process one (plus the rank count).
    /// Resuming works with any rank count: sharding, dev split and random streams derive from the
    /// seed, the epoch, the document index and the rank, not from saved generator states.
    public func train(shard: Shard, dev devShard: Shard?, file: String, collective: any Collective) throws -> TrainingResult {
        let rank = collective.rank, ranks = collective.size
        let isRoot = rank == 0
        var options = self.options
        var tokenizer = self.tokenizer
        let resumed = try resumePath.map { try Checkpoint.load($0) }
        var resumedVocabulary: Vocabulary? = nil
        if let resumed, let resumePath {
            guard resumed.state.ranks != nil else {
                throw HeedError.modelMismatch("\(resumePath): was written by a single-process run; resume it without --distributed")
            }
            let settings = try resumed.settings(path: resumePath, epochs: self.options.epochs)
            (options, tokenizer, resumedVocabulary) = (settings.options, settings.vocabulary.settings, settings.vocabulary)
        }
        if let problem = options.problem { throw HeedError.badOption(problem) }
        let clock = ContinuousClock(), started = clock.now
        BLAS.setThreads(options.threads)

        // Dev: a --dev file sharded like TRAIN, else a seeded per-document draw from TRAIN.
        let trainDocs: [LabelledText], devDocs: [LabelledText]
        if let devShard {
            (trainDocs, devDocs) = (shard.documents, devShard.documents)
        } else {
            var t: [LabelledText] = [], d: [LabelledText] = []
            for (doc, i) in zip(shard.documents, shard.indices) {
                if Shard.isDev(index: i, fraction: options.devFraction, seed: options.seed) { d.append(doc) } else { t.append(doc) }
            }
            (trainDocs, devDocs) = (t, d)
        }

        // Vocabulary: every rank counts its shard, all count tables are merged on every rank (the
        // `vocab count` / `vocab merge` path), and the results must hash the same everywhere.
        let vocabulary = try chooseVocabulary(resumed: resumedVocabulary, tokenizer: tokenizer, options: options) { textTokenizer in
            let counts = try Trainer.countTokens(trainDocs, tokenizer: textTokenizer, file: file)
            var merged = TokenCounts(settings: tokenizer)
            for (r, bytes) in try collective.allGather(try counts.serialized()).enumerated() {
                try merged.merge(try TokenCounts.load(bytes: bytes, name: "rank \(r)'s token counts"))
            }
            return merged
        }
        var vocabularyHash = FNV1a()
        vocabularyHash.add(try vocabulary.serialized())
        try collective.requireAgreement(vocabularyHash.value, "the vocabulary")
        guard vocabulary.labels.count >= 2 else { throw AgreedFailure(HeedError.tooFewClasses(file, found: vocabulary.labels)) }

        let encoder = try Encoder(vocabulary: vocabulary, maxLength: options.maxLength)
        let (train, skipped) = try encoder.encode(trainDocs, file: file)
        let classes = vocabulary.labels.count
        // Global sizes and label counts (for class weights) in one sum.
        var sizes = [Double](repeating: 0, count: 3 + classes)
        sizes[0] = Double(train.count); sizes[1] = Double(skipped); sizes[2] = Double(devDocs.count)
        for d in train { sizes[3 + d.label] += 1 }
        collective.sum(&sizes)
        let globalTrain = Int(sizes[0]), globalSkipped = Int(sizes[1]), globalDev = Int(sizes[2])
        guard globalTrain > 0 else { throw AgreedFailure(HeedError.noUsableDocuments(file)) }
        guard globalDev > 0 else { throw AgreedFailure(HeedError.badOption("the dev set is empty: give --dev FILE or more training data")) }

        let config = options.classifierConfig(vocabularySize: vocabulary.count, classes: classes)
        let model = try makeModel(config, options: options, vocabulary: vocabulary)
        let adam = Adam(parameters: model.parameters, lr: options.lr, weightDecay: options.weightDecay)
        let classWeights: [Float]? = options.classWeights
            ? sizes[3...].map { $0 == 0 ? 0 : Float(Double(globalTrain) / (Double(classes) * $0)) } : nil

        let classifier = TextClassifier(model: model, vocabulary: vocabulary, options: options)
        let best = ParameterSnapshot(model.parameters)
        var bestAccuracy = -1.0, bestEpoch = 0, sinceBest = 0
        var log: [EpochRecord] = []
        var interrupted = false
        var totalTokens = 0.0, totalSeconds = 0.0
        let dataHash = try collective.allGather(shard.localHash()).reduce(0, &+)
        var firstEpoch = 1
        if let resumed, let resumePath {
            guard resumed.state.dataHash == dataHash else {
                throw AgreedFailure(HeedError.modelMismatch("\(resumePath): was written for other training data; resume with the same TRAIN (and --dev) files"))
            }
            resumed.restore(model: model, adam: adam, best: best)
            bestAccuracy = resumed.state.bestAccuracy
            bestEpoch = resumed.state.bestEpoch
            sinceBest = resumed.state.sinceBest
            log = resumed.state.log
            if isRoot { resumedWithLog?(log) }
            firstEpoch = resumed.firstEpoch(patience: options.patience, epochs: options.epochs)
        }
        // Every rank must hold the same starting point (same build, files, options, checkpoint).
        try collective.requireAgreement(Self.fingerprint(model.parameters), "the initial parameters")

        let reducer = GradientReducer(parameters: model.parameters, collective: collective)
        var shuffler: Rng? = nil
        epochs: for epoch in firstEpoch..<(options.epochs + 1) {
            let epochStart = clock.now
            // Streams per (seed, epoch, rank): different on each rank, reproducible after a resume.
            let stream = options.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(rank) &* 0xBF58_476D_1CE4_E5B9
            model.rngState = Rng(seed: stream).state
            shuffler = Rng(seed: stream &+ 1)
            let batches = Bucketing.batches(train, size: options.batch, shuffle: &shuffler)
            // Every rank takes the same number of steps: ranks that run out of batches contribute zeros.
            let steps = Int(try collective.allGather(UInt64(batches.count)).max() ?? 0)
            var lossSum = 0.0, seen = 0.0, tokens = 0.0
            for b in 0..<steps {
                var local = GradientReducer.Totals()
                local.stop = shouldStop?() == true ? 1 : 0
                let hasBatch = b < batches.count
                if hasBatch {
                    let batch = Batch(train, indices: batches[b])
                    model.zeroGrad()
                    _ = model.forward(ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, training: true)
                    let labels = batch.labels.map(Int.init)
                    let loss = Double(model.loss(labels: labels, classWeights: classWeights))
                    model.backward()
                    local.weight = classWeights.map { w in labels.reduce(0.0) { $0 + Double(w[$1]) } } ?? Double(batch.count)
                    local.weightedLoss = loss * local.weight
                    local.examples = Double(batch.count)
                    local.exampleLoss = loss * Double(batch.count)
                    local.tokens = Double(batch.tokens)
                }
                let global = reducer.reduce(local, hasGradient: hasBatch)
                if global.stop > 0 { interrupted = true; break epochs }
                guard global.loss.isFinite else { throw AgreedFailure(HeedError.nonFinite(epoch: epoch, batch: b + 1, what: "loss")) }
                let norm = model.clipGradNorm(options.clipNorm)
                guard norm.isFinite else { throw AgreedFailure(HeedError.nonFinite(epoch: epoch, batch: b + 1, what: "gradient")) }
                adam.step()
                lossSum += global.exampleLoss
                seen += global.examples
                tokens += global.tokens
                if isRoot, let progress {
                    let elapsed = Self.seconds(epochStart.duration(to: clock.now))
                    progress(TrainingProgress(epoch: epoch, epochs: options.epochs, batch: b + 1, batches: steps,
                                              loss: lossSum / max(seen, 1), tokensPerSecond: tokens / max(elapsed, 1e-9), epochSeconds: elapsed))
                }
            }
            let trainSeconds = Self.seconds(epochStart.duration(to: clock.now))
            let allreduceSeconds = reducer.takeSeconds()
            totalTokens += tokens
            totalSeconds += trainSeconds
            try collective.requireAgreement(Self.fingerprint(model.parameters), "the parameters after epoch \(epoch)")

            let evaluation = try Self.evaluate(classifier, devDocs, collective: collective)
            // Rank 0 decides; every rank follows its broadcast decision.
            var decision: [UInt8] = [0, 0]
            if isRoot {
                let improved = evaluation.accuracy > bestAccuracy
                decision = [improved ? 1 : 0, (improved ? 0 : sinceBest + 1) >= options.patience ? 1 : 0]
            }
            decision = try collective.broadcast(decision, from: 0)
            let improved = decision[0] == 1
            if improved {
                bestAccuracy = evaluation.accuracy
                bestEpoch = epoch
                sinceBest = 0
                best.capture()
                if isRoot { try bestModelChanged?(classifier) }
            } else {
                sinceBest += 1
            }
            var record = EpochRecord(epoch: epoch, train_loss: lossSum / max(seen, 1), dev_loss: evaluation.loss ?? .nan,
                                     dev_accuracy: evaluation.accuracy, dev_macro_f1: evaluation.macroF1,
                                     tokens_per_s: tokens / max(trainSeconds, 1e-9), seconds: trainSeconds, best: improved)
            record.ranks = ranks
            record.steps = steps
            record.allreduce_seconds = allreduceSeconds
            log.append(record)
            if isRoot, let checkpointPath {
                let state = Checkpoint.State(epoch: epoch, bestAccuracy: bestAccuracy, bestEpoch: bestEpoch, sinceBest: sinceBest,
                                             log: log, modelRandom: model.rngState, shuffleRandom: shuffler!.state,
                                             adamSteps: adam.steps, dataHash: dataHash, ranks: ranks)
                try Checkpoint.write(to: checkpointPath, classifier: classifier, model: model, adam: adam, best: best, state: state)
            }
            if isRoot { epochEnded?(record) }
            if decision[1] == 1 { break }
        }
        best.restore()
        return TrainingResult(classifier: classifier, log: log, bestEpoch: bestEpoch, interrupted: interrupted,
                              trainDocuments: globalTrain, devDocuments: globalDev, skippedDocuments: globalSkipped,
                              seconds: Self.seconds(started.duration(to: clock.now)),
                              tokensPerSecond: totalTokens / max(totalSeconds, 1e-9))
    }

    /// Dev metrics over all ranks' dev documents: confusion matrices and loss sums are added, so
    /// every rank gets the metrics of the whole dev set.
    static func evaluate(_ classifier: TextClassifier, _ docs: [LabelledText], collective: any Collective) throws -> Evaluation {
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
}
