/// Hyper-parameters of a hierarchical attention network (`HierarchicalClassifier`); stored as
/// JSON in model files. Kept apart from `ClassifierConfig`: the two levels have their own widths.
public struct HierarchicalConfig: Codable, Sendable, Equatable {
    /// Rows of the word embedding (row 0 is padding).
    public var vocabSize: Int
    /// Embedding width E.
    public var embedDim: Int
    /// Hidden width of the word-level LSTM (per direction).
    public var wordHiddenDim: Int
    /// Hidden width of the sentence-level LSTM (per direction).
    public var sentenceHiddenDim: Int
    /// Both LSTMs read in both directions (Yang et al.'s model) or forwards only.
    public var bidirectional: Bool
    /// Scorer of both attention layers.
    public var scorer: ClassifierConfig.Scorer
    /// Additive-attention width of the word level; nil means the word-level output width.
    public var wordAttentionDim: Int?
    /// Additive-attention width of the sentence level; nil means the sentence-level output width.
    public var sentenceAttentionDim: Int?
    /// Output classes.
    public var classes: Int
    /// Dropout probability after the embedding, on the sentence vectors and before the
    /// classifier (0 = off).
    public var dropout: Float
    /// Word dropout while training (tokens become `ClassifierConfig.unknownId`); nil means off.
    public var wordDropout: Float?
    /// Rows of the subword bucket table (`subwords.weight`); nil means word rows alone.
    public var subwordBuckets: Int?

    /// A configuration; defaults follow Yang et al. (2016) at Heed's embedding width.
    public init(
        vocabSize: Int, embedDim: Int = 100, wordHiddenDim: Int = 50, sentenceHiddenDim: Int = 50, bidirectional: Bool = true,
        scorer: ClassifierConfig.Scorer = .additive, wordAttentionDim: Int? = nil, sentenceAttentionDim: Int? = nil,
        classes: Int, dropout: Float = 0, wordDropout: Float? = nil, subwordBuckets: Int? = nil
    ) {
        self.vocabSize = vocabSize
        self.embedDim = embedDim
        self.wordHiddenDim = wordHiddenDim
        self.sentenceHiddenDim = sentenceHiddenDim
        self.bidirectional = bidirectional
        self.scorer = scorer
        self.wordAttentionDim = wordAttentionDim
        self.sentenceAttentionDim = sentenceAttentionDim
        self.classes = classes
        self.dropout = dropout
        self.wordDropout = wordDropout
        self.subwordBuckets = subwordBuckets
    }

    /// Width of a sentence vector: the word LSTM's output width (2·wordHiddenDim when bidirectional).
    public var wordOutputDim: Int { bidirectional ? 2 * wordHiddenDim : wordHiddenDim }
    /// Width of the document vector: the sentence LSTM's output width.
    public var sentenceOutputDim: Int { bidirectional ? 2 * sentenceHiddenDim : sentenceHiddenDim }
    /// Effective word-level additive-attention width.
    public var resolvedWordAttentionDim: Int { wordAttentionDim ?? wordOutputDim }
    /// Effective sentence-level additive-attention width.
    public var resolvedSentenceAttentionDim: Int { sentenceAttentionDim ?? sentenceOutputDim }

    /// Every tensor of the model in state_dict order, with its shape: `embedding.weight`,
    /// `subwords.weight` (with subwords), `word_lstm.*`, `word_attention.*`, `sentence_lstm.*`,
    /// `sentence_attention.*`, `classifier.*`, named as PyTorch names the modules of
    /// `bench/reference/han_torch.py` (`HeedHAN`).
    public var tensorShapes: [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = [("embedding.weight", [vocabSize, embedDim])]
        if let buckets = subwordBuckets { out.append(("subwords.weight", [buckets, embedDim])) }
        func lstm(_ prefix: String, input: Int, hidden H: Int) {
            for s in bidirectional ? ["", "_reverse"] : [""] {
                out += [
                    (prefix + ".weight_ih_l0" + s, [4 * H, input]), (prefix + ".weight_hh_l0" + s, [4 * H, H]),
                    (prefix + ".bias_ih_l0" + s, [4 * H]), (prefix + ".bias_hh_l0" + s, [4 * H]),
                ]
            }
        }
        func attention(_ prefix: String, dim D: Int, width A: Int) {
            switch scorer {
            case .linear: out += [(prefix + ".score.weight", [1, D]), (prefix + ".score.bias", [1])]
            case .additive: out += [(prefix + ".proj.weight", [A, D]), (prefix + ".proj.bias", [A]), (prefix + ".context.weight", [1, A])]
            }
        }
        lstm("word_lstm", input: embedDim, hidden: wordHiddenDim)
        attention("word_attention", dim: wordOutputDim, width: resolvedWordAttentionDim)
        lstm("sentence_lstm", input: wordOutputDim, hidden: sentenceHiddenDim)
        attention("sentence_attention", dim: sentenceOutputDim, width: resolvedSentenceAttentionDim)
        out += [("classifier.weight", [classes, sentenceOutputDim]), ("classifier.bias", [classes])]
        return out
    }

    /// Human-readable reason the config is unusable, or nil.
    public var problem: String? {
        if vocabSize < 2 { return "vocabSize must be at least 2 (row 0 is padding)" }
        if embedDim < 1 || wordHiddenDim < 1 || sentenceHiddenDim < 1 { return "embedDim and the hidden widths must be positive" }
        if classes < 2 { return "classes must be at least 2" }
        if let a = wordAttentionDim, a < 1 { return "wordAttentionDim must be positive" }
        if let a = sentenceAttentionDim, a < 1 { return "sentenceAttentionDim must be positive" }
        if !(dropout >= 0 && dropout < 1) { return "dropout must be in [0, 1)" }
        if let p = wordDropout, !(p >= 0 && p < 1) { return "wordDropout must be in [0, 1)" }
        if let b = subwordBuckets, b < 1 || b > Int(Int32.max) { return "subwordBuckets must be in 1...\(Int32.max)" }
        return nil
    }
}

/// A batch of documents for `HierarchicalClassifier`, flat and unpadded: every token of every
/// sentence of every document in reading order, with the tokens per sentence and the sentences
/// per document. Nothing is padded, so nothing can leak in from padding.
public struct HierarchicalBatch: Sendable, Hashable {
    /// Token ids, document after document, sentence after sentence.
    public var ids: [Int32]
    /// Tokens in each sentence (all documents' sentences in order), each ≥ 1.
    public var sentenceLengths: [Int]
    /// Sentences in each document, each ≥ 1.
    public var sentenceCounts: [Int]
    /// Subword buckets, one list per id (models with a subword table), or nil.
    public var pieces: PieceLists?

    /// A batch from the flat layout (preconditions: the counts add up and none is 0).
    public init(ids: [Int32], sentenceLengths: [Int], sentenceCounts: [Int], pieces: PieceLists? = nil) {
        precondition(!sentenceCounts.isEmpty, "empty batch")
        precondition(sentenceCounts.allSatisfy { $0 >= 1 }, "every document needs at least one sentence")
        precondition(sentenceLengths.allSatisfy { $0 >= 1 }, "every sentence needs at least one token")
        precondition(sentenceCounts.reduce(0, +) == sentenceLengths.count, "sentenceCounts must add up to the number of sentences")
        precondition(sentenceLengths.reduce(0, +) == ids.count, "sentenceLengths must add up to the number of ids")
        precondition(pieces == nil || pieces!.count == ids.count, "pieces must hold one list per id")
        self.ids = ids
        self.sentenceLengths = sentenceLengths
        self.sentenceCounts = sentenceCounts
        self.pieces = pieces
    }

    /// A batch of documents given as sentences of token ids.
    public init(documents: [[[Int32]]]) {
        self.init(
            ids: documents.flatMap { $0.flatMap { $0 } }, sentenceLengths: documents.flatMap { $0.map(\.count) },
            sentenceCounts: documents.map(\.count))
    }

    /// Documents in the batch.
    public var documents: Int { sentenceCounts.count }
    /// Sentences in the batch.
    public var sentences: Int { sentenceLengths.count }
}

/// Result of `HierarchicalClassifier.forward`, in the caller's order.
public struct HierarchicalOutput: Sendable {
    /// Raw scores [documents × classes].
    public var logits: [Float]
    /// Softmax of the logits [documents × classes].
    public var probabilities: [Float]
    /// Word attention, one weight per token in the batch's `ids` order; each sentence's weights
    /// sum to 1.
    public var wordAttention: [Float]
    /// Sentence attention, one weight per sentence in the batch's order; each document's weights
    /// sum to 1.
    public var sentenceAttention: [Float]
}

/// Hierarchical attention network (Yang et al., NAACL 2016): embedding → word (Bi)LSTM → word
/// attention gives one vector per sentence; sentence (Bi)LSTM → sentence attention gives the
/// document vector; dropout → linear classifier. Names and semantics match
/// `bench/reference/han_torch.py` (`HeedHAN`).
///
/// Both levels run batched: all sentences of all documents in the batch form one packed LSTM run
/// (sorted by length, as `Classifier` packs documents), and the documents' sequences of sentence
/// vectors form a second one. Training step as with `Classifier`:
/// ```
/// model.zeroGrad()
/// let out = model.forward(batch, training: true)
/// let loss = model.loss(labels: labels)
/// model.backward()
/// model.clipGradNorm(5)
/// adam.step()           // adam = Adam(parameters: model.parameters)
/// ```
/// Not thread-safe: one model instance per thread (buffers are reused across calls).
public final class HierarchicalClassifier {
    /// The configuration it was built with.
    public let config: HierarchicalConfig
    /// The model's generator (init and dropout). Read/restore `rngState` for resumable training.
    public var rng: Rng

    let embedding: Embedding
    let wordLSTM: LSTM
    let wordAttention: Attention
    let sentenceLSTM: LSTM
    let sentenceAttention: Attention
    let classifier: Linear
    let dropIn: Dropout
    let dropMid: Dropout
    let dropOut: Dropout
    let criterion: SoftmaxCrossEntropy
    /// All float parameters in state_dict order (`HierarchicalConfig.tensorShapes`; a quantised
    /// model's embedding tables are not among them: see `quantizedTensors`).
    public let parameters: [Param]
    /// The quantised (int8 or 4-bit) tensors of a model read from a quantised file, by state_dict
    /// name (empty for a float model), as `Classifier.quantizedTensors`: the embedding tables live
    /// only here; a quantised LSTM or linear matrix is also held dequantised in its parameter.
    public let quantizedTensors: [String: QuantizedTable]
    /// Whether the model came from a quantised file (inference only).
    public var isQuantized: Bool { !quantizedTensors.isEmpty }

    /// Word level: the batch's sentences packed; sentence level: its documents packed.
    private var words = Packing(), sentences = Packing()
    /// First token of each sentence in `ids`; first sentence of each document.
    private var sentenceStart: [Int] = [], documentStart: [Int] = []
    /// Sorted word-level position of each sentence (inverse of `words.order`).
    private var sentenceSlot: [Int] = []
    private var packedIds: [Int32] = []
    private var packedPieces = PieceLists()
    private let sentenceInput = Buffer(), dSentenceVectors = Buffer(), dPooled = Buffer(), customDLogits = Buffer()
    private var sortedLabels: [Int] = []
    private var forwardDone = false, lossDone = false, backwardDone = false

    /// Builds a model initialised like PyTorch's defaults from `seed` (same seed → same weights),
    /// in state_dict order. `embeddingStd` scales the N(0, 1) embedding initialisation.
    public convenience init(config: HierarchicalConfig, seed: UInt64, embeddingStd: Float = 1) {
        self.init(config: config, seed: seed, embeddingStd: embeddingStd, quantized: [:])
    }

    public convenience init(forLoading config: HierarchicalConfig) {
        self.init(config: config, seed: 0, embeddingStd: 1, quantized: [:], drawsValues: false)
    }

    /// A model for a quantised file: `quantized` holds the quantised tensors by name
    /// (`embedding.weight`, and `subwords.weight` with subwords, are required); the float
    /// parameters are left for the loader to fill.
    public convenience init(config: HierarchicalConfig, quantized: [String: QuantizedTable]) {
        precondition(quantized["embedding.weight"] != nil, "a quantised han model needs a quantised embedding.weight")
        precondition(
            (quantized["subwords.weight"] != nil) == (config.subwordBuckets != nil), "a quantised han model with subwords needs a quantised subwords.weight")
        self.init(config: config, seed: 0, embeddingStd: 1, quantized: quantized, drawsValues: false)
    }

    private init(config: HierarchicalConfig, seed: UInt64, embeddingStd: Float, quantized: [String: QuantizedTable], drawsValues: Bool = true) {
        if let p = config.problem { preconditionFailure("invalid HierarchicalConfig: \(p)") }
        self.config = config
        quantizedTensors = quantized
        var r = Rng(seed: seed)
        r.computesValues = drawsValues
        let scorer: Attention.Scorer = config.scorer == .linear ? .linear : .additive
        if let q = quantized["embedding.weight"] {
            embedding = Embedding(quantizedWords: q, quantizedSubwords: quantized["subwords.weight"])
        } else {
            embedding = Embedding(vocab: config.vocabSize, dim: config.embedDim, buckets: config.subwordBuckets, std: embeddingStd, rng: &r)
        }
        wordLSTM = LSTM(input: config.embedDim, hidden: config.wordHiddenDim, bidirectional: config.bidirectional, prefix: "word_lstm", rng: &r)
        wordAttention = Attention(
            dim: config.wordOutputDim, scorer: scorer, attentionDim: config.resolvedWordAttentionDim, prefix: "word_attention", rng: &r)
        sentenceLSTM = LSTM(
            input: config.wordOutputDim, hidden: config.sentenceHiddenDim, bidirectional: config.bidirectional, prefix: "sentence_lstm",
            rng: &r)
        sentenceAttention = Attention(
            dim: config.sentenceOutputDim, scorer: scorer, attentionDim: config.resolvedSentenceAttentionDim, prefix: "sentence_attention",
            rng: &r)
        classifier = Linear("classifier", inputs: config.sentenceOutputDim, outputs: config.classes, rng: &r)
        dropIn = Dropout(p: config.dropout)
        dropMid = Dropout(p: config.dropout)
        dropOut = Dropout(p: config.dropout)
        criterion = SoftmaxCrossEntropy(classes: config.classes)
        parameters =
            embedding.parameters + wordLSTM.parameters + wordAttention.parameters
            + sentenceLSTM.parameters + sentenceAttention.parameters + classifier.parameters
        r.computesValues = true
        rng = r
    }

    /// Each parameter's layer group, bottom to top, as `Classifier.parameterGroups` has them: 0 the
    /// embedding (and subword table), 1 the word LSTM, 2 everything above it.
    public var parameterGroups: [Int] {
        let bottom = embedding.parameters.count
        return [Int](repeating: 0, count: bottom) + [Int](repeating: 1, count: wordLSTM.parameters.count)
            + [Int](repeating: 2, count: parameters.count - bottom - wordLSTM.parameters.count)
    }

    /// Overwrites embedding rows (index ≥ 1) with pretrained vectors.
    public func loadPretrained(rows: [(index: Int, vector: [Float])]) { embedding.loadPretrained(rows: rows) }

    /// A model built like this one whose float values are not drawn (`clone` and `replica` fill
    /// or share them); a quantised model's copy shares its quantised tables.
    public func blankCopy() -> HierarchicalClassifier {
        HierarchicalClassifier(config: config, seed: 0, embeddingStd: 1, quantized: quantizedTensors, drawsValues: false)
    }

    /// Each token's input vector as the word LSTM reads it without dropout or input scale.
    /// [ids.count × embedDim].
    public func inputVectors(ids: [Int32], pieces: PieceLists? = nil) -> [Float] { embedding.vectors(ids: ids, pieces: pieces) }

    /// Runs the model on `batch`. `training` enables word dropout and dropout (activations are
    /// always kept, so `loss`/`backward` may follow). A document's result depends only on its
    /// own tokens, not on its neighbours in the batch or their order (up to the BLAS kernel's
    /// rounding for other batch shapes).
    ///
    /// `inputScales` (one per document, caller's order) multiplies each document's embedded
    /// tokens before the word LSTM: integrated gradients walks from the zero baseline (the
    /// `<pad>` row) to the real input with it, as with `Classifier.forward`.
    public func forward(_ batch: HierarchicalBatch, training: Bool, inputScales: [Float]? = nil) -> HierarchicalOutput {
        precondition(batch.pieces == nil || config.subwordBuckets != nil, "subword pieces given to a model without a subword table")
        let B = batch.documents, S = batch.sentences, E = config.embedDim, C = config.classes
        let Dw = config.wordOutputDim, Ds = config.sentenceOutputDim
        sentenceStart.removeAll(keepingCapacity: true)
        var offset = 0
        for length in batch.sentenceLengths {
            sentenceStart.append(offset)
            offset += length
        }
        documentStart.removeAll(keepingCapacity: true)
        offset = 0
        for count in batch.sentenceCounts {
            documentStart.append(offset)
            offset += count
        }
        words.build(lengths: batch.sentenceLengths, batch: S, steps: batch.sentenceLengths.max()!)
        sentences.build(lengths: batch.sentenceCounts, batch: B, steps: batch.sentenceCounts.max()!)
        sentenceSlot = [Int](repeating: 0, count: S)
        for j in 0..<S { sentenceSlot[words.order[j]] = j }

        // Word level: every sentence of the batch in one packed run.
        packedIds.removeAll(keepingCapacity: true)
        for t in 0..<words.steps {
            for j in 0..<words.batchSizes[t] { packedIds.append(batch.ids[sentenceStart[words.order[j]] + t]) }
        }
        if let pieces = batch.pieces {
            packedPieces.ends.removeAll(keepingCapacity: true)
            packedPieces.buckets.removeAll(keepingCapacity: true)
            for t in 0..<words.steps {
                for j in 0..<words.batchSizes[t] { packedPieces.append(pieces.buckets[pieces.range(sentenceStart[words.order[j]] + t)]) }
            }
        }
        if training, let p = config.wordDropout, p > 0 {
            for i in packedIds.indices where rng.uniform() < p { packedIds[i] = ClassifierConfig.unknownId }
        }
        embedding.forward(ids: packedIds, pieces: batch.pieces == nil ? nil : packedPieces)
        let x = embedding.out.ptr
        if let inputScales {
            precondition(inputScales.count == B, "need one input scale per document")
            var documentOf = [Int](repeating: 0, count: S)
            for b in 0..<B {
                for s in documentStart[b]..<(documentStart[b] + batch.sentenceCounts[b]) { documentOf[s] = b }
            }
            for t in 0..<words.steps {
                for j in 0..<words.batchSizes[t] {
                    let row = x + words.row(j, t) * E, scale = inputScales[documentOf[words.order[j]]]
                    for k in 0..<E { row[k] = row[k] * scale }
                }
            }
        }
        dropIn.forward(x, count: words.total * E, training: training, rng: &rng)
        wordLSTM.forward(x, words)
        wordAttention.forward(wordLSTM.out.ptr, words)

        // Sentence level: each document's sentence vectors, in reading order, packed.
        let vectors = wordAttention.ctx.ptr
        let xs = sentenceInput.reserve(sentences.total * Dw)
        for t in 0..<sentences.steps {
            for j in 0..<sentences.batchSizes[t] {
                let s = documentStart[sentences.order[j]] + t
                (xs + sentences.row(j, t) * Dw).update(from: vectors + sentenceSlot[s] * Dw, count: Dw)
            }
        }
        dropMid.forward(xs, count: sentences.total * Dw, training: training, rng: &rng)
        sentenceLSTM.forward(xs, sentences)
        sentenceAttention.forward(sentenceLSTM.out.ptr, sentences)
        let pooled = sentenceAttention.ctx.ptr
        dropOut.forward(pooled, count: B * Ds, training: training, rng: &rng)
        classifier.forward(pooled, rows: B)
        let z = classifier.out.ptr
        criterion.softmax(z, batch: B)
        let p = criterion.probs.ptr

        var logits = [Float](repeating: 0, count: B * C), probs = logits
        for j in 0..<B {
            let b = sentences.order[j]
            for c in 0..<C {
                logits[b * C + c] = z[j * C + c]
                probs[b * C + c] = p[j * C + c]
            }
        }
        var wordWeights = [Float](repeating: 0, count: batch.ids.count)
        let aw = wordAttention.weights.ptr
        for t in 0..<words.steps {
            for j in 0..<words.batchSizes[t] { wordWeights[sentenceStart[words.order[j]] + t] = aw[words.row(j, t)] }
        }
        var sentenceWeights = [Float](repeating: 0, count: S)
        let asw = sentenceAttention.weights.ptr
        for t in 0..<sentences.steps {
            for j in 0..<sentences.batchSizes[t] { sentenceWeights[documentStart[sentences.order[j]] + t] = asw[sentences.row(j, t)] }
        }
        forwardDone = true
        lossDone = false
        backwardDone = false
        return HierarchicalOutput(logits: logits, probabilities: probs, wordAttention: wordWeights, sentenceAttention: sentenceWeights)
    }

    /// Mean cross-entropy of the last `forward` against `labels` (one per document, caller's
    /// order), with optional per-class weights (PyTorch weighted-mean semantics).
    public func loss(labels: [Int], classWeights: [Float]? = nil) -> Float {
        precondition(forwardDone, "loss before forward")
        precondition(labels.count == sentences.batch, "need one label per document")
        sortedLabels.removeAll(keepingCapacity: true)
        for j in 0..<sentences.batch { sortedLabels.append(labels[sentences.order[j]]) }
        lossDone = true
        return criterion.forward(classifier.out.ptr, batch: sentences.batch, labels: sortedLabels, classWeights: classWeights)
    }

    /// Accumulates d loss / d parameter into every `Param.grad` (call `zeroGrad` first per step).
    /// `lossWeightTotal`: as in `Classifier.backward(lossWeightTotal:)`, for a worker holding part
    /// of a batch.
    public func backward(lossWeightTotal: Double? = nil) {
        precondition(lossDone, "backward before loss")
        criterion.backward(batch: sentences.batch, totalWeight: lossWeightTotal)
        backward(from: criterion.dLogits.ptr, parameterGradients: true)
    }

    /// Backpropagates `dLogits` [documents × classes] (caller's order) from the last `forward` in
    /// place of a loss (an attribution's target). With `parameterGradients` false only
    /// `inputGradient()` is produced, the same bit for bit.
    public func backward(dLogits: [Float], parameterGradients: Bool = true) {
        precondition(forwardDone, "backward before forward")
        let B = sentences.batch, C = config.classes
        precondition(dLogits.count == B * C, "need documents × classes = \(B * C) values, got \(dLogits.count)")
        let dz = customDLogits.reserve(B * C)
        for j in 0..<B {
            for c in 0..<C { dz[j * C + c] = dLogits[sentences.order[j] * C + c] }
        }
        backward(from: dz, parameterGradients: parameterGradients)
    }

    /// The gradient of the last backward pass with respect to each token's input vector (its
    /// embedding row as fed to the word LSTM, after any input scale), [tokens × embedDim] in the
    /// batch's `ids` order: what gradient × input and integrated gradients read, per token;
    /// a sentence's attribution is the sum over its tokens.
    public func inputGradient() -> [Float] {
        precondition(backwardDone, "inputGradient needs a backward pass first")
        let E = config.embedDim, dx = wordLSTM.dx.ptr
        var out = [Float](repeating: 0, count: words.total * E)
        for t in 0..<words.steps {
            for j in 0..<words.batchSizes[t] {
                let src = dx + words.row(j, t) * E, base = (sentenceStart[words.order[j]] + t) * E
                for k in 0..<E { out[base + k] = src[k] }
            }
        }
        return out
    }

    /// Sentence vectors of the last `forward` (word attention's output, before dropout), one row
    /// of `wordOutputDim` per sentence in the batch's order.
    public func sentenceVectors() -> [Float] {
        precondition(forwardDone, "sentenceVectors before forward")
        let Dw = config.wordOutputDim, v = wordAttention.ctx.ptr
        var out = [Float](repeating: 0, count: words.batch * Dw)
        for s in 0..<words.batch {
            for k in 0..<Dw { out[s * Dw + k] = v[sentenceSlot[s] * Dw + k] }
        }
        return out
    }

    /// Conicity (`Conicity.of`) of the last `forward`'s encoder states at both levels, in the
    /// batch's order: per sentence over its word-LSTM states (what word attention pools), per
    /// document over its sentence-LSTM states (what sentence attention pools).
    public func conicity() -> (words: [Double], sentences: [Double]) {
        precondition(forwardDone, "conicity before forward")
        func levels(_ pk: Packing, _ out: UnsafePointer<Float>, width: Int) -> [Double] {
            var values = [Double](repeating: 0, count: pk.batch), rows: [Float] = []
            for j in 0..<pk.batch {
                rows.removeAll(keepingCapacity: true)
                for t in 0..<pk.lengths[j] { rows += UnsafeBufferPointer(start: out + pk.row(j, t) * width, count: width) }
                values[pk.order[j]] = rows.withUnsafeBufferPointer { Conicity.of($0.baseAddress!, length: pk.lengths[j], dim: width) }
            }
            return values
        }
        return (
            levels(words, UnsafePointer(wordLSTM.out.ptr), width: config.wordOutputDim),
            levels(sentences, UnsafePointer(sentenceLSTM.out.ptr), width: config.sentenceOutputDim)
        )
    }

    /// Backward from sorted `dLogits` [B × C] down to the embedding, layer by layer in reverse.
    private func backward(from dLogits: UnsafePointer<Float>, parameterGradients: Bool) {
        let B = sentences.batch, Dw = config.wordOutputDim, Ds = config.sentenceOutputDim
        let dp = dPooled.reserve(B * Ds)
        classifier.backward(dLogits, dx: dp, parameterGradients: parameterGradients)
        dropOut.backward(dp)
        sentenceAttention.backward(dp, sentences, parameterGradients: parameterGradients)
        sentenceLSTM.backward(sentenceAttention.dh.ptr, sentences, parameterGradients: parameterGradients)
        let dxs = sentenceLSTM.dx.ptr
        dropMid.backward(dxs)
        // Each sentence vector fed exactly one sentence-level row: scatter back to word-level order.
        let dv = dSentenceVectors.reserve(words.batch * Dw)
        for t in 0..<sentences.steps {
            for j in 0..<sentences.batchSizes[t] {
                let s = documentStart[sentences.order[j]] + t
                (dv + sentenceSlot[s] * Dw).update(from: dxs + sentences.row(j, t) * Dw, count: Dw)
            }
        }
        wordAttention.backward(dv, words, parameterGradients: parameterGradients)
        wordLSTM.backward(wordAttention.dh.ptr, words, parameterGradients: parameterGradients)
        let dx = wordLSTM.dx.ptr
        dropIn.backward(dx)
        if parameterGradients && !embedding.isQuantized { embedding.backward(dOut: dx) }
        backwardDone = true
    }
}
