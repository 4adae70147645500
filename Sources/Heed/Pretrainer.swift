import Foundation
import HeedNN
import HeedText

/// Everything that shapes a pretraining run (`heed pretrain`). Stored in the encoder file and the
/// checkpoint, so a resumed run is the same run.
public struct PretrainingOptions: Codable, Sendable, Equatable {
    /// Embedding vector size (the classifier adopting the encoder gets this size).
    public var embeddingSize = 100
    /// LSTM hidden size per direction.
    public var hiddenSize = 128
    /// Two directions (forward predicts the next token, backward the previous one).
    public var bidirectional = true
    /// Passes over the training lines.
    public var epochs = 10
    /// The most optimiser steps, rounded up to a whole epoch; nil: `epochs` alone.
    public var steps: Int? = nil
    /// Chunks per optimiser step.
    public var batchSize = 32
    /// Adam's step size.
    public var learningRate: Float = 2e-3
    /// Dropout on the embedded tokens and on the states fed to the output layers.
    public var dropout: Float = 0.1
    /// Documents are split into chunks of at most this many tokens (the LSTM reads each chunk on
    /// its own): long documents would otherwise make a batch as long as its longest one.
    public var maxLength = 100
    /// Tokens seen fewer times in the training lines map to `<unk>`.
    public var minCount = 2
    /// The most ids the vocabulary may hold, `<pad>` and `<unk>` included.
    public var maxVocabulary = 30000
    /// Candidates of the sampled softmax (docs/pretraining.md: K = 512 measured best).
    public var samples = 512
    /// Std of the embedding initialisation: the classifier's default, so an encoder's rows start
    /// at the scale a classifier's would.
    public var embeddingInitStd: Float = 0.3
    /// Seeds the weights, the held-out draw, batch order, dropout and the sampled candidates.
    public var seed: UInt64 = 1
    /// Share of the lines held out for perplexity (at most `maxHeldOut` lines).
    public var heldOutFraction = 0.02
    /// Cap on held-out lines: perplexity uses the full softmax (V·H per token), so a large corpus
    /// would spend minutes on it every epoch.
    public var maxHeldOut = 2000
    /// Gradients are scaled down to at most this global L2 norm before each step.
    public var clipNorm: Float = 5
    /// BLAS threads (with one worker).
    public var threads = 1
    /// Training threads, each computing the gradient of its share of every batch on its own
    /// replica (one BLAS thread each), added in worker order: the same seed and worker count give
    /// the same encoder whatever the thread timing. Not saved in the checkpoint: a resume uses its own.
    public var workers = 1

    /// The defaults (docs/pretraining.md).
    public init() {}

    /// Throws the first option outside its range.
    public func validate() throws(PretrainingError) {
        func bad(_ flag: String, _ rule: String, _ value: Any) -> PretrainingError { .option(flag, rule: rule, value: "\(value)") }
        if embeddingSize < 1 { throw bad("--embed", "must be positive", embeddingSize) }
        if hiddenSize < 1 { throw bad("--hidden", "must be positive", hiddenSize) }
        if epochs < 1 { throw bad("--epochs", "must be at least 1", epochs) }
        if let steps, steps < 1 { throw bad("--steps", "must be at least 1", steps) }
        if batchSize < 1 { throw bad("--batch", "must be at least 1", batchSize) }
        if !(learningRate > 0) || !learningRate.isFinite { throw bad("--lr", "must be a positive number", learningRate) }
        if !(dropout >= 0 && dropout < 1) { throw bad("--dropout", "must be in [0, 1)", dropout) }
        if maxLength < 2 { throw bad("--max-len", "must be at least 2 (a chunk needs a token to predict)", maxLength) }
        if minCount < 1 { throw bad("--min-count", "must be at least 1", minCount) }
        if maxVocabulary < 3 { throw bad("--max-vocab", "must be at least 3", maxVocabulary) }
        if samples < 1 { throw bad("--samples", "must be at least 1", samples) }
        if !(heldOutFraction > 0 && heldOutFraction < 1) { throw bad("--held-out", "must be between 0 and 1", heldOutFraction) }
        if maxHeldOut < 1 { throw bad("--max-held-out", "must be at least 1", maxHeldOut) }
        if threads < 1 { throw bad("--threads", "must be at least 1", threads) }
        if workers < 1 { throw bad("--workers", "must be at least 1", workers) }
    }

    func config(vocabularySize: Int) -> LanguageModelConfig {
        LanguageModelConfig(vocabSize: vocabularySize, embedDim: embeddingSize, hiddenDim: hiddenSize, bidirectional: bidirectional, dropout: dropout)
    }
}

/// Why pretraining cannot run or continue.
public enum PretrainingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An option outside its range (named by its flag).
    case option(String, rule: String, value: String)
    /// Fewer than two usable lines: nothing to hold out or nothing to train on.
    case tooLittleText(String, lines: Int)
    /// The checkpoint does not belong to this data or is not a pretraining checkpoint.
    case checkpoint(path: String, reason: String)

    public var description: String {
        switch self {
        case let .option(flag, rule, value): return "\(flag) \(rule) (got \(value))"
        case let .tooLittleText(file, lines):
            return "\(file): \(lines) line\(lines == 1 ? "" : "s") with at least two tokens; pretraining needs at least two (one is held out for perplexity)"
        case let .checkpoint(path, reason): return "\(path): \(reason)"
        }
    }
}

/// One pretraining epoch, a line of ENCODER.log.jsonl.
public struct PretrainingRecord: Codable, Sendable, Equatable {
    /// The epoch number, from 1.
    public var epoch: Int
    /// Mean sampled-softmax loss over the epoch's predictions (not comparable with the held-out NLL).
    public var trainLoss: Double
    /// exp(mean full-softmax NLL per held-out prediction), both directions: the honest number.
    public var heldOutPerplexity: Double
    /// Training tokens per second of the epoch's steps (held-out evaluation not counted).
    public var tokensPerSecond: Double
    /// Seconds of the epoch's training steps.
    public var seconds: Double
    /// Seconds of the held-out evaluation.
    public var evaluationSeconds: Double
    /// Optimiser steps since the run began.
    public var optimizerSteps: Int
    /// True when this epoch became the kept one (lowest held-out perplexity).
    public var best: Bool
    /// True when a time budget ended the epoch early (it is then the run's last).
    public var partial: Bool? = nil
    /// MPI ranks that trained the epoch (`--distributed`); nil for one process.
    public var ranks: Int? = nil
}

/// What a pretraining run produced.
public struct PretrainingResult {
    /// The language model holding the best epoch's weights.
    public var model: LanguageModel
    /// The vocabulary built from the training lines (the encoder file carries it).
    public var vocabulary: Vocabulary
    /// Every epoch's record, those before a resume included (as in the log file).
    public var log: [PretrainingRecord]
    /// The epoch whose weights `model` holds.
    public var bestEpoch: Int
    /// Held-out perplexity of an add-one unigram model of the training lines: what the LM must beat.
    public var unigramPerplexity: Double
    /// Lines trained on and held out, and the chunks the training lines were cut into.
    public var trainLines: Int, heldOutLines: Int, trainChunks: Int
    /// True when `shouldStop` ended the run early.
    public var interrupted: Bool
    /// True when the run wrote the encoder file to `output`.
    public var wroteEncoder: Bool
}

/// Trains the classifier's encoder (embedding + (Bi)LSTM) as a language model on unlabelled
/// lines: the vocabulary from the training lines (as `Trainer` builds it), a seeded held-out
/// slice scored with the full softmax after every epoch, the best epoch kept, and the encoder
/// file, log and checkpoint written atomically beside `output`.
///
/// It runs on the one training loop (`TrainingLoop`, with `LanguageModelObjective`), so it has
/// the classifier's workers and MPI ranks (`heed pretrain --distributed`).
public struct Pretrainer {
    /// The run's options (when resuming, the checkpoint's win, except a larger `epochs`).
    public var options: PretrainingOptions
    /// How text is tokenized (stored in the encoder, so `heed train --init` tokenizes alike).
    public var tokenizer: TokenizerSettings
    /// Where the encoder goes; beside it `ENCODER.log.jsonl` and `ENCODER.ckpt`.
    public var output: URL?
    /// Continue from a checkpoint (same lines required); its options win, a larger `epochs` extends.
    public var resume: URL?
    /// Called between batches with the epoch's progress.
    public var progress: (@Sendable (TrainingProgress) -> Void)?
    /// Called after every epoch, once its files are written.
    public var epochEnded: (@Sendable (PretrainingRecord) -> Void)?
    /// Polled between batches; true stops after the current batch (Ctrl-C).
    public var shouldStop: (@Sendable () -> Bool)?
    /// Wall-clock end: the epoch running then ends after its current batch, is scored and may be
    /// kept; the run ends there.
    public var deadline: ContinuousClock.Instant?
    /// The files the text came from, named in the encoder's provenance (and from there in the
    /// model card of every classifier started from it).
    public var sources: [SourceFile] = []
    /// Files whose documents were dropped from the text, and how many lines that dropped.
    public var excluded: [SourceFile] = []
    /// Lines dropped because they equal a document of `excluded`.
    public var droppedLines = 0

    /// A pretrainer that writes no files and reports nothing until `output` and the callbacks are set.
    public init(options: PretrainingOptions = PretrainingOptions(), tokenizer: TokenizerSettings = .default) {
        self.options = options
        self.tokenizer = tokenizer
    }

    /// The log file written beside `encoder`.
    public static func logURL(for encoder: URL) -> URL { RunFiles.logURL(for: encoder) }
    /// The checkpoint written beside `encoder`.
    public static func checkpointURL(for encoder: URL) -> URL { RunFiles.checkpointURL(for: encoder) }

    /// Token chunks of the training and held-out lines.
    struct Prepared {
        var vocabulary: Vocabulary
        var train: [EncodedDocument], heldOut: [EncodedDocument]
        /// Lines and chunks over all ranks (`train` and `heldOut` are this rank's).
        var trainLines: Int, heldOutLines: Int, trainChunks: Int
        /// The text's hash as older checkpoints hold it (one process only: it reads the text in order).
        var dataHash: UInt64?
        /// The text's hash for any rank count (`lineHash(_:positions:)` summed over ranks).
        var lineHash: UInt64
        var unigramPerplexity: Double
        /// `documentKey` of every line read (trained on or held out), sorted, for the encoder file.
        var lineKeys: [UInt64]
        var trainTokens: Int
    }

    /// Pretrains on `documents` (labels ignored); `file` names them in messages.
    public func train(_ documents: [LabelledText], file: String = "training text") throws -> PretrainingResult {
        try train(shard: Shard(documents: documents, indices: Array(documents.indices)), file: file, collective: SingleProcess())
    }

    /// The pretraining run, one call per rank of `collective`, each with its shard of the lines
    /// (`shard.indices` in text order; gaps, such as lines `--exclude` dropped, are closed up). The
    /// held-out draw is over the whole text's positions, so it is the same lines for any rank
    /// count; token counts are merged into one vocabulary (checked by hash), and the one training
    /// loop averages gradients every step. Rank 0 writes the files and calls the callbacks.
    package func train(shard: Shard, file: String, collective: any Collective) throws -> PretrainingResult {
        let ranks = collective.size
        // Failures every rank sees alike; one process reports them as they are.
        func agreed(_ error: any Error) -> any Error { ranks > 1 ? AgreedFailure(error) : error }
        let files = RunFiles(model: collective.rank == 0 ? output : nil)
        try files.checkWritable()
        var options = self.options
        var tokenizer = self.tokenizer
        var resumed: PretrainCheckpoint.Loaded? = nil
        if let resume {
            let r = try PretrainCheckpoint.load(resume.path)
            var o = r.state.options
            o.epochs = max(o.epochs, self.options.epochs)
            if let more = self.options.steps { o.steps = max(o.steps ?? more, more) }
            o.threads = self.options.threads
            o.workers = self.options.workers
            options = o
            tokenizer = try TokenizerSettings(headerFields: Substring(r.state.tokenizer))
            resumed = r
        }
        try options.validate()
        let blasScope = BLAS.ThreadScope(options.threads)
        defer { blasScope.end() }

        let data = try Self.prepare(shard, options: options, tokenizer: tokenizer, file: file, collective: collective)
        let config = options.config(vocabularySize: data.vocabulary.count)
        let model = LanguageModel(config: config, seed: options.seed, embeddingStd: options.embeddingInitStd)
        let adam = Adam(parameters: model.parameters, lr: options.learningRate)
        let best = ParameterSnapshot(model.parameters)
        var log: [PretrainingRecord] = []
        var bestPerplexity = Double.infinity, bestEpoch = 0
        var firstEpoch = 1
        if let resumed, let resume {
            do { try resumed.check(data, config: config, path: resume.path) } catch { throw agreed(error) }
            resumed.restore(model: model, adam: adam, best: best)
            (log, bestPerplexity, bestEpoch) = (resumed.state.log, resumed.state.bestPerplexity, resumed.state.bestEpoch)
            firstEpoch = resumed.state.epoch + 1
        }
        // Every rank must hold the same starting point (same build, text, options, checkpoint).
        if ranks > 1 { try collective.requireAgreement(Trainer.fingerprint(model.parameters), "the initial parameters") }
        let metadata = try Self.metadata(vocabulary: data.vocabulary, options: options, lineKeys: data.lineKeys)
        // Worker 0 is the model itself (one worker is exactly the single-threaded step); replicas
        // share its weights, so they need no copy after a resume or an optimiser step.
        let step = DataParallelStep(model: model, workers: options.workers)
        let workerThreads = options.workers > 1 ? BLAS.ThreadScope(1, loops: options.workers) : nil
        defer { workerThreads?.end() }
        let objective = LanguageModelObjective(
            pretrainer: self, options: options, tokenizer: tokenizer, collective: collective, data: data, metadata: metadata, step: step,
            adam: adam, best: best, files: files, log: log, bestPerplexity: bestPerplexity, bestEpoch: bestEpoch)
        var loop = TrainingLoop(
            collective: collective, adam: adam, best: best, schedule: TrainingSchedule(epochs: options.epochs, steps: options.steps),
            clipNorm: options.clipNorm)
        loop.firstEpoch = firstEpoch
        (loop.shouldStop, loop.deadline, loop.progress) = (shouldStop, deadline, progress)
        let outcome = try loop.run(objective)
        if objective.bestEpoch > 0 { best.restore() }
        // A run stopped before its first epoch leaves no files.
        if !objective.log.isEmpty { try files.writeLog(objective.log, final: true) }
        return PretrainingResult(
            model: model, vocabulary: data.vocabulary, log: objective.log, bestEpoch: objective.bestEpoch,
            unigramPerplexity: data.unigramPerplexity, trainLines: data.trainLines, heldOutLines: data.heldOutLines, trainChunks: data.trainChunks,
            interrupted: outcome.interrupted, wroteEncoder: objective.wroteEncoder)
    }

    /// Held-out draw, vocabulary from the training lines alone (so held-out words it lacks are
    /// `<unk>`, as they would be for new text), chunks of `maxLength` tokens. Counts, sums and line
    /// keys are this rank's merged with every other's, so each rank gets the whole text's.
    static func prepare(
        _ shard: Shard, options: PretrainingOptions, tokenizer settings: TokenizerSettings, file: String, collective: any Collective
    ) throws -> Prepared {
        let ranks = collective.size
        // Failures every rank sees alike; one process reports them as they are.
        func agreed(_ error: any Error) -> any Error { ranks > 1 ? AgreedFailure(error) : error }
        let tokenizer = try Tokenizer(settings: settings)
        let documents = shard.documents
        let (positions, n) = try textPositions(shard.indices, collective: collective)
        guard n > 0 else { throw agreed(HeedTextError.noDocuments(file)) }
        // The hash older checkpoints hold reads the text in order, so only one process can make it.
        var dataHash: UInt64? = nil
        if ranks == 1 {
            var hash = FNV1a()
            for d in documents {
                hash.add(d.text.utf8)
                hash.add([0x0A])
            }
            dataHash = hash.value
        }
        let lineHash = try collective.allGather(Self.lineHash(documents, positions: positions)).reduce(0, &+)
        guard n >= 2 else { throw agreed(PretrainingError.tooLittleText(file, lines: n)) }
        let heldOutCount = min(options.maxHeldOut, max(1, Int((Double(n) * options.heldOutFraction).rounded())))
        var rng = Rng(seed: options.seed &+ 0x9E37_79B9_7F4A_7C15)
        let heldOutSet = Set(Bucketing.deterministicShuffle(Array(0..<n), &rng).prefix(heldOutCount))
        var lineKeys = documents.map { documentKey($0.text, tokenizer: tokenizer) }
        if ranks > 1 {
            var mine = ByteRecord()
            for key in lineKeys { mine.append(key) }
            lineKeys = try collective.allGather(mine.bytes).flatMap { bytes in
                var reader = ByteRecord.Reader(bytes)
                return (0..<(bytes.count / 8)).map { _ in reader.read(UInt64.self) }
            }
        }
        var counts = TokenCounts(settings: settings)
        for (k, doc) in documents.enumerated() where !heldOutSet.contains(positions[k]) {
            counts.addDocument(label: nil)
            var text = doc.text
            text.withUTF8 { tokenizer.forEachToken(in: $0) { t, _, _ in counts.add(token: t) } }
        }
        if ranks > 1 {
            var merged = TokenCounts(settings: settings)
            for (r, bytes) in try collective.allGather(try counts.serialized()).enumerated() {
                try merged.merge(try TokenCounts.load(bytes: bytes, name: "rank \(r)'s token counts"))
            }
            counts = merged
        }
        let vocabulary = Vocabulary(counts: counts, minCount: options.minCount, maxSize: options.maxVocabulary)
        if ranks > 1 {
            var vocabularyHash = FNV1a()
            vocabularyHash.add(try vocabulary.serialized())
            try collective.requireAgreement(vocabularyHash.value, "the vocabulary")
        }
        var train: [EncodedDocument] = [], heldOut: [EncodedDocument] = []
        var trainLines = 0, heldOutLines = 0
        for (k, doc) in documents.enumerated() {
            let ids = vocabulary.ids(of: doc.text, tokenizer: tokenizer)
            guard ids.count >= 2 else { continue }
            let isHeldOut = heldOutSet.contains(positions[k])
            if isHeldOut { heldOutLines += 1 } else { trainLines += 1 }
            for start in stride(from: 0, to: ids.count, by: options.maxLength) {
                let chunk = Array(ids[start..<min(start + options.maxLength, ids.count)])
                guard chunk.count >= 2 else { continue }  // nothing to predict
                let encoded = EncodedDocument(ids: chunk, pieces: nil, label: 0, line: doc.line)
                if isHeldOut { heldOut.append(encoded) } else { train.append(encoded) }
            }
        }
        var sizes = [Double(trainLines), Double(heldOutLines), Double(train.count), Double(heldOut.count), Double(train.reduce(0) { $0 + $1.ids.count })]
        collective.sum(&sizes)
        guard sizes[2] > 0, sizes[3] > 0 else {
            throw agreed(PretrainingError.tooLittleText(file, lines: Int(sizes[0] + sizes[1])))
        }
        // Add-one unigram over the ids a prediction can be (1..<V), from the training chunks.
        // Counts are whole numbers, exact in a Double whatever order the ranks add them in.
        var unigram = [Double](repeating: 0, count: vocabulary.count)
        for d in train { for id in d.ids { unigram[Int(id)] += 1 } }
        collective.sum(&unigram)
        for id in 1..<unigram.count { unigram[id] += 1 }
        let total = unigram.reduce(0, +)
        var nll = [0.0, 0.0]
        for d in heldOut {
            for (t, id) in d.ids.enumerated() {
                // Each token is a target once per direction that can reach it.
                let times = (t > 0 ? 1.0 : 0) + (options.bidirectional && t + 1 < d.ids.count ? 1.0 : 0)
                nll[0] -= times * Foundation.log(unigram[Int(id)] / total)
                nll[1] += times
            }
        }
        collective.sum(&nll)
        return Prepared(
            vocabulary: vocabulary, train: train, heldOut: heldOut, trainLines: Int(sizes[0]), heldOutLines: Int(sizes[1]),
            trainChunks: Int(sizes[2]), dataHash: dataHash, lineHash: lineHash, unigramPerplexity: Foundation.exp(nll[0] / max(nll[1], 1)),
            lineKeys: Array(Set(lineKeys)).sorted(), trainTokens: Int(sizes[4]))
    }

    /// Each of `indices`' position in the text once the gaps between all ranks' indices are closed
    /// up, and the text's line count.
    static func textPositions(_ indices: [Int], collective: any Collective) throws -> (positions: [Int], count: Int) {
        var mine = ByteRecord()
        for i in indices { mine.append(UInt64(i)) }
        var all: [Int] = []
        for bytes in try collective.allGather(mine.bytes) {
            var reader = ByteRecord.Reader(bytes)
            while !reader.atEnd { all.append(Int(reader.read(UInt64.self))) }
        }
        all.sort()
        let positions = indices.map { index in
            var (low, high) = (0, all.count)
            while low < high {
                let middle = (low + high) / 2
                if all[middle] < index { low = middle + 1 } else { high = middle }
            }
            return low
        }
        return (positions, all.count)
    }

    /// This rank's part of the text's fingerprint (labels ignored): a wrapping sum of per-line
    /// hashes mixed with the line's position, so the sum over ranks is the same for any rank count.
    static func lineHash(_ documents: [LabelledText], positions: [Int]) -> UInt64 {
        var sum: UInt64 = 0
        for (d, position) in zip(documents, positions) {
            var h = FNV1a()
            h.add(d.text.utf8)
            var mixed = Rng(seed: h.value ^ (UInt64(position) &* 0x9E37_79B9_7F4A_7C15))
            sum &+= mixed.next()
        }
        return sum
    }

    /// Full-softmax perplexity over every rank's held-out chunks (both directions), in a fixed
    /// batch order.
    static func perplexity(_ model: LanguageModel, _ docs: [EncodedDocument], batchSize: Int, collective: any Collective = SingleProcess()) -> Double {
        var noShuffle: Rng? = nil
        var nll = 0.0, count = 0
        for indices in Bucketing.batches(docs, size: batchSize, shuffle: &noShuffle) {
            let batch = Batch(docs, indices: indices)
            let l = model.evaluate(ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps)
            nll += l.forwardNLL + l.backwardNLL
            count += l.forwardTokens + l.backwardTokens
        }
        var sums = [nll, Double(count)]
        collective.sum(&sums)
        return Foundation.exp(sums[0] / max(sums[1], 1))
    }

    /// The encoder file's entries beside the LM's own: the vocabulary in the classifier file's
    /// keys and form, so `heed train --init` reads it the same way.
    static func metadata(vocabulary: Vocabulary, options: PretrainingOptions, lineKeys: [UInt64]) throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return [
            TextClassifier.metadataKeys.tokenizer: vocabulary.settings.headerFields,
            TextClassifier.metadataKeys.vocabulary: String(decoding: try encoder.encode(Array(vocabulary.allTokens.dropFirst(2))), as: UTF8.self),
            PretrainedEncoder.optionsKey: String(decoding: try encoder.encode(options), as: UTF8.self),
            PretrainedEncoder.lineKeysKey: PretrainedEncoder.encodeKeys(lineKeys),
        ]
    }

    static func saveEncoder(_ model: LanguageModel, metadata: [String: String], perplexity: Double, epoch: Int, to url: URL) throws {
        var meta = metadata
        meta["heed.held_out_perplexity"] = String(perplexity)
        meta["heed.epoch"] = String(epoch)
        do { try LanguageModelFile.save(model, to: url, metadata: meta) } catch {
            if case let .io(_, reason) = error { throw HeedTextError.writeFailed(url.path, reason: reason) }
            throw error
        }
    }
}

extension Pretrainer {
    /// `documents` without those whose tokens (normalised as `tokenizer` normalises them) equal
    /// those of one of `excluded`: a test document must never be in the text an encoder learns
    /// from. Returns the kept documents and how many were dropped.
    public static func dropping(_ excluded: [LabelledText], from documents: [LabelledText], tokenizer: TokenizerSettings) throws -> (
        kept: [LabelledText], dropped: Int
    ) {
        try dropping(excluded, spreadOver: SingleProcess(), from: documents, tokenizer: tokenizer)
    }

    /// `dropping(_:from:tokenizer:)` for one rank's shard: the kept lines keep their indices.
    package static func dropping(_ excluded: [LabelledText], from shard: Shard, tokenizer: TokenizerSettings) throws -> (kept: Shard, dropped: Int) {
        let tokenizer = try Tokenizer(settings: tokenizer)
        let banned = Set(excluded.map { documentKey($0.text, tokenizer: tokenizer) })
        let keep = shard.documents.indices.filter { !banned.contains(documentKey(shard.documents[$0].text, tokenizer: tokenizer)) }
        let kept = Shard(documents: keep.map { shard.documents[$0] }, indices: keep.map { shard.indices[$0] })
        return (kept, shard.documents.count - keep.count)
    }

    /// `dropping(_:from:tokenizer:)` where the excluded documents are spread over the ranks of
    /// `collective` (each holds its shard of TRAIN) and `documents` are the same on every rank:
    /// the keys of all ranks' documents are gathered first, so every rank drops the same lines
    /// (one process: its own).
    package static func dropping(
        _ excluded: [LabelledText], spreadOver collective: any Collective, from documents: [LabelledText], tokenizer settings: TokenizerSettings
    ) throws -> (kept: [LabelledText], dropped: Int) {
        let tokenizer = try Tokenizer(settings: settings)
        var mine = ByteRecord()
        for doc in excluded { mine.append(documentKey(doc.text, tokenizer: tokenizer)) }
        var banned = Set<UInt64>()
        for bytes in try collective.allGather(mine.bytes) {
            var reader = ByteRecord.Reader(bytes)
            while !reader.atEnd { banned.insert(reader.read(UInt64.self)) }
        }
        let kept = documents.filter { !banned.contains(documentKey($0.text, tokenizer: tokenizer)) }
        return (kept, documents.count - kept.count)
    }

    /// A hash of `documents`' normalised tokens in order: equal on two ranks that read the same text.
    package static func textHash(_ documents: [LabelledText], tokenizer settings: TokenizerSettings) throws -> UInt64 {
        let tokenizer = try Tokenizer(settings: settings)
        var hash = FNV1a()
        for doc in documents { withUnsafeBytes(of: documentKey(doc.text, tokenizer: tokenizer).littleEndian) { hash.add($0) } }
        return hash.value
    }

    /// A 64-bit hash of a text's normalised tokens: two texts that tokenize alike get the same
    /// key, whatever their spacing. What "equals a test document" means everywhere.
    static func documentKey(_ text: String, tokenizer: Tokenizer) -> UInt64 {
        var hash = FNV1a()
        var text = text
        text.withUTF8 {
            tokenizer.forEachToken(in: $0) { token, _, _ in
                hash.add(token)
                hash.add([0x1F])
            }
        }
        return hash.value
    }
}

/// A pretrained encoder file read for `heed train --init`: the language model and the vocabulary
/// it was trained with.
public struct PretrainedEncoder {
    static let optionsKey = "heed.pretraining"
    /// The language model (embedding, LSTM and output layers).
    public var model: LanguageModel
    /// The encoder's words (ids 2...) in id order, and the tokenizer that made them.
    public var tokens: [String]
    /// The tokenizer the encoder's vocabulary was built with.
    public var settings: TokenizerSettings
    /// What it was pretrained on (nil for encoders written before provenance was recorded).
    public var provenance: PretrainingProvenance?
    /// `Pretrainer.documentKey` of every line it read, sorted (nil for older encoders): how
    /// `heed train --init --test` proves no test document was in the pretraining text.
    public var lineKeys: [UInt64]?

    static let provenanceKey = "heed.provenance.pretraining"
    static let lineKeysKey = "heed.pretraining.line_keys"

    /// Keys as base64 of their little-endian bytes (8 per key): compact in the JSON header.
    static func encodeKeys(_ keys: [UInt64]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(keys.count * 8)
        for k in keys { withUnsafeBytes(of: k.littleEndian) { bytes.append(contentsOf: $0) } }
        return Data(bytes).base64EncodedString()
    }

    static func decodeKeys(_ text: String) -> [UInt64]? {
        guard let data = Data(base64Encoded: text), data.count % 8 == 0 else { return nil }
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count, by: 8).map { at in
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
    }

    /// How many of `documents` the encoder read in pretraining (by `Pretrainer.documentKey`); nil
    /// when the encoder does not record its lines.
    public func pretrainedOn(_ documents: [LabelledText]) throws -> Int? {
        guard let lineKeys else { return nil }
        let tokenizer = try Tokenizer(settings: settings)
        let read = Set(lineKeys)
        return documents.filter { read.contains(Pretrainer.documentKey($0.text, tokenizer: tokenizer)) }.count
    }

    /// Reads an encoder file written by `heed pretrain`; other files are refused with a message.
    public static func load(_ url: URL) throws -> PretrainedEncoder {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw HeedTextError.fileNotFound(path) }
        let loaded: (model: LanguageModel, metadata: [String: String])
        do { loaded = try LanguageModelFile.load(from: url) } catch { throw HeedError.modelMismatch("\(path): \(error)") }
        let (model, meta) = loaded
        guard let header = meta[TextClassifier.metadataKeys.tokenizer], let json = meta[TextClassifier.metadataKeys.vocabulary],
            let tokens = try? JSONDecoder().decode([String].self, from: Data(json.utf8))
        else {
            throw HeedError.modelMismatch("\(path): the encoder file has no vocabulary (heed.tokenizer and heed.vocabulary); write it with heed pretrain")
        }
        let settings: TokenizerSettings
        do { settings = try TokenizerSettings(headerFields: Substring(header)) } catch { throw HeedError.modelMismatch("\(path): \(error)") }
        guard tokens.count + 2 == model.config.vocabSize else {
            throw HeedError.modelMismatch("\(path): the vocabulary has \(tokens.count + 2) entries but the embedding has \(model.config.vocabSize) rows")
        }
        var provenance: PretrainingProvenance? = nil
        if let json = meta[provenanceKey] {
            guard let p = try? JSONDecoder().decode(PretrainingProvenance.self, from: Data(json.utf8)) else {
                throw HeedError.modelMismatch("\(path): the \(provenanceKey) entry is not valid")
            }
            provenance = p
        }
        var lineKeys: [UInt64]? = nil
        if let text = meta[lineKeysKey] {
            guard let keys = decodeKeys(text) else { throw HeedError.modelMismatch("\(path): the \(lineKeysKey) entry is not valid") }
            lineKeys = keys
        }
        return PretrainedEncoder(model: model, tokens: tokens, settings: settings, provenance: provenance, lineKeys: lineKeys)
    }
}

/// Everything needed to continue pretraining where an epoch ended: weights, Adam moments, the
/// best weights and the log, in the classifier checkpoint's tensor layout (`adam.m.`, `adam.v.`,
/// `best.` prefixes). The random streams are per epoch, so no generator state is saved.
enum PretrainCheckpoint {
    static let format = "heed-lm-checkpoint"
    static let stateKey = "heed.checkpoint"

    struct State: Codable {
        var epoch: Int
        var adamSteps: Int
        var bestPerplexity: Double
        var bestEpoch: Int
        var log: [PretrainingRecord]
        /// The text read in order (`Prepared.dataHash`); nil when several ranks wrote it.
        var dataHash: UInt64?
        /// The text for any rank count (`Prepared.lineHash`); nil in files from before MPI.
        var lineHash: UInt64? = nil
        var options: PretrainingOptions
        var tokenizer: String
    }

    struct Loaded {
        var config: LanguageModelConfig
        var state: State
        var tensors: [String: NamedTensor]

        func restore(model: LanguageModel, adam: Adam, best: ParameterSnapshot) {
            Checkpoint.restoreTensors(tensors, into: model.parameters, adam: adam, steps: state.adamSteps, best: best)
        }

        /// Throws unless the checkpoint was written for `data`'s text and `config`'s shapes.
        func check(_ data: Pretrainer.Prepared, config: LanguageModelConfig, path: String) throws(PretrainingError) {
            let sameText: Bool
            if let saved = state.lineHash {
                sameText = saved == data.lineHash
            } else if let current = data.dataHash {
                sameText = state.dataHash == current
            } else {
                throw .checkpoint(path: path, reason: "was written by an older heed, whose checkpoints resume only in one process; drop --distributed")
            }
            guard sameText, self.config == config else {
                throw .checkpoint(path: path, reason: "was written for other text; resume with the same input files")
            }
        }
    }

    static func write(to path: String, model: LanguageModel, adam: Adam, best: ParameterSnapshot, state: State) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let meta = [
            "format": format, "config": String(decoding: try encoder.encode(model.config), as: UTF8.self),
            stateKey: String(decoding: try encoder.encode(state), as: UTF8.self),
        ]
        try Checkpoint.writeTensors(model.parameters, adam: adam, best: best, metadata: meta, to: path)
    }

    static func load(_ path: String) throws -> Loaded {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw HeedTextError.fileNotFound(path) }
        let tensors: [String: NamedTensor], meta: [String: String]
        do { (tensors, meta) = try SafeTensors.parse(data) } catch { throw PretrainingError.checkpoint(path: path, reason: "\(error)") }
        guard meta["format"] == format, let stateText = meta[stateKey], let configText = meta["config"],
            let state = try? JSONDecoder().decode(State.self, from: Data(stateText.utf8)),
            let config = try? JSONDecoder().decode(LanguageModelConfig.self, from: Data(configText.utf8))
        else {
            throw PretrainingError.checkpoint(path: path, reason: "not a heed pretrain checkpoint (ENCODER.ckpt)")
        }
        for (name, shape) in config.tensorShapes {
            for prefix in ["", "adam.m.", "adam.v.", "best."] where tensors[prefix + name]?.shape != shape {
                throw PretrainingError.checkpoint(path: path, reason: "tensor \(prefix + name) is missing or has the wrong shape")
            }
        }
        return Loaded(config: config, state: state, tensors: tensors)
    }
}

extension Trainer {
    /// `encoder`'s sizes, direction and tokenizer in place of the options' (`heed train --init`):
    /// options left at their defaults take the encoder's; anything else set that disagrees is an
    /// error naming what to change, since the encoder's tensors fix those shapes. Gradual
    /// unfreezing left unset takes its fine-tuning default.
    func adopt(_ pretrained: PretrainedEncoder, path: String, options: inout TrainingOptions, tokenizer: inout TokenizerSettings) throws {
        let c = pretrained.model.config, defaults = TrainingOptions()
        if vocabulary != nil {
            throw HeedError.modelMismatch("\(path): a pretrained encoder brings its own vocabulary; drop the prebuilt vocabulary (--vocab)")
        }
        if embeddings != nil {
            throw HeedError.modelMismatch("\(path): a pretrained encoder brings its own embedding; drop the pretrained vectors (--embeddings)")
        }
        func size(_ value: inout Int, _ encoder: Int, _ what: String, _ flag: String, _ def: Int) throws {
            guard value != encoder else { return }
            guard value == def else {
                throw HeedError.modelMismatch("\(path): the encoder's \(what) is \(encoder), not \(value); leave out \(flag) or pass \(flag) \(encoder)")
            }
            value = encoder
        }
        try size(&options.embeddingSize, c.embedDim, "embedding size", "--embed", defaults.embeddingSize)
        try size(&options.hiddenSize, c.hiddenDim, "hidden size", "--hidden", defaults.hiddenSize)
        if options.model.isBidirectional && !c.bidirectional {
            guard options.model == defaults.model else {
                throw HeedError.modelMismatch(
                    "\(path): the encoder was pretrained one-way (--model lstm), so it cannot start a bidirectional \(options.model.rawValue); use --model attention or lstm"
                )
            }
            options.model = .attention
        }
        if tokenizer != .default && tokenizer != pretrained.settings {
            throw HeedError.modelMismatch(
                "\(path): the encoder's tokenizer differs (\(pretrained.settings.differences(from: tokenizer).joined(separator: ", "))); leave out the tokenizer options"
            )
        }
        tokenizer = pretrained.settings
        if options.unfreezeEvery == nil { options.unfreezeEvery = TrainingOptions.encoderUnfreezeEvery }
    }

    /// The encoder's words with the training data's labels (in `Vocabulary.init(counts:)`'s order).
    static func encoderVocabulary(_ pretrained: PretrainedEncoder, labels counts: TokenCounts) -> Vocabulary {
        Vocabulary(settings: pretrained.settings, tokens: pretrained.tokens, labels: counts.labelsInClassOrder)
    }

    static func loadEncoder(_ pretrained: PretrainedEncoder, into model: Classifier, path: String) throws {
        do { try model.loadEncoder(from: pretrained.model) } catch { throw HeedError.modelMismatch("\(path): \(error)") }
    }
}
