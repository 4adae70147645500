/// Model hyper-parameters; stored as JSON in model files.
public struct ClassifierConfig: Codable, Sendable, Equatable {
    public enum Pooling: String, Codable, Sendable { case last, attention }
    public enum Scorer: String, Codable, Sendable { case linear, additive }
    /// How the LSTM's states are made to differ from one another (Mohankumar et al., ACL 2020):
    /// attention can only be faithful when its weights change the pooled vector.
    public enum Encoder: String, Codable, Sendable, CaseIterable {
        /// The ordinary (Bi)LSTM.
        case lstm
        /// Each hidden state is made orthogonal to the running sum of the earlier ones
        /// (`LSTMDirection`, "Orthogonal LSTM").
        case orthogonal
        /// The ordinary LSTM, trained with `diversityWeight` times the states' conicity added to
        /// the loss (`ConicityPenalty`, "Diversity LSTM").
        case diversity
    }

    public var vocabSize: Int
    public var embedDim: Int
    public var hiddenDim: Int
    public var bidirectional: Bool
    public var pooling: Pooling
    public var scorer: Scorer
    /// Additive-attention width A; nil means A = D (the LSTM output width).
    public var attentionDim: Int?
    public var classes: Int
    /// Dropout probability after the embedding and before the classifier (0 = off).
    public var dropout: Float
    /// Word dropout: while training, each token is replaced by `unknownId` with this probability,
    /// so the model cannot lean on a few memorised words. nil (older files) means off.
    public var wordDropout: Float?
    /// The id that dropped words become (Heed vocabularies put `<unk>` at 1).
    public static let unknownId: Int32 = 1
    /// Rows of the subword bucket table (`subwords.weight`); nil means the model has none and
    /// reads word rows alone.
    public var subwordBuckets: Int?
    /// The encoder; nil (files written before encoders could be chosen) means `.lstm`.
    public var encoder: Encoder?
    /// λ, the conicity penalty's weight in the training loss of a `.diversity` encoder; nil
    /// elsewhere. It changes training only, never a forward pass.
    public var diversityWeight: Float?

    /// A configuration; the defaults are PyTorch's layer defaults, not Heed's training defaults.
    public init(
        vocabSize: Int, embedDim: Int = 100, hiddenDim: Int = 128, bidirectional: Bool = false,
        pooling: Pooling = .attention, scorer: Scorer = .additive, attentionDim: Int? = nil,
        classes: Int, dropout: Float = 0, wordDropout: Float? = nil, subwordBuckets: Int? = nil,
        encoder: Encoder? = nil, diversityWeight: Float? = nil
    ) {
        self.vocabSize = vocabSize
        self.embedDim = embedDim
        self.hiddenDim = hiddenDim
        self.bidirectional = bidirectional
        self.pooling = pooling
        self.scorer = scorer
        self.attentionDim = attentionDim
        self.classes = classes
        self.dropout = dropout
        self.wordDropout = wordDropout
        self.subwordBuckets = subwordBuckets
        self.encoder = encoder
        self.diversityWeight = diversityWeight
    }

    /// The encoder, `.lstm` for files that predate the choice.
    public var resolvedEncoder: Encoder { encoder ?? .lstm }

    /// LSTM output width D: 2H when bidirectional, else H.
    public var outputDim: Int { bidirectional ? 2 * hiddenDim : hiddenDim }
    /// Effective additive-attention width.
    public var resolvedAttentionDim: Int { attentionDim ?? outputDim }

    /// Every tensor the model has, in state_dict order, with its shape.
    public var tensorShapes: [(name: String, shape: [Int])] {
        let E = embedDim, H = hiddenDim, D = outputDim
        var out: [(String, [Int])] = [("embedding.weight", [vocabSize, E])]
        if let buckets = subwordBuckets { out.append(("subwords.weight", [buckets, E])) }
        for s in bidirectional ? ["", "_reverse"] : [""] {
            out += [
                ("lstm.weight_ih_l0" + s, [4 * H, E]), ("lstm.weight_hh_l0" + s, [4 * H, H]),
                ("lstm.bias_ih_l0" + s, [4 * H]), ("lstm.bias_hh_l0" + s, [4 * H]),
            ]
        }
        if pooling == .attention {
            switch scorer {
            case .linear: out += [("attention.score.weight", [1, D]), ("attention.score.bias", [1])]
            case .additive:
                let A = resolvedAttentionDim
                out += [("attention.proj.weight", [A, D]), ("attention.proj.bias", [A]), ("attention.context.weight", [1, A])]
            }
        }
        out += [("classifier.weight", [classes, D]), ("classifier.bias", [classes])]
        return out
    }

    /// Human-readable reason the config is unusable, or nil.
    public var problem: String? {
        if vocabSize < 2 { return "vocabSize must be at least 2 (row 0 is padding)" }
        if embedDim < 1 || hiddenDim < 1 { return "embedDim and hiddenDim must be positive" }
        if classes < 2 { return "classes must be at least 2" }
        if let a = attentionDim, a < 1 { return "attentionDim must be positive" }
        if !(dropout >= 0 && dropout < 1) { return "dropout must be in [0, 1)" }
        if let b = subwordBuckets, b < 1 || b > Int(Int32.max) { return "subwordBuckets must be in 1...\(Int32.max)" }
        if let w = diversityWeight {
            if resolvedEncoder != .diversity { return "diversityWeight is set but the encoder is not diversity" }
            if !(w >= 0) || !w.isFinite { return "diversityWeight must be finite and non-negative" }
        }
        return nil
    }
}

/// Result of `Classifier.forward`, in the caller's batch order.
public struct ForwardOutput: Sendable {
    /// Raw scores [B × C].
    public var logits: [Float]
    /// Softmax of the logits [B × C].
    public var probabilities: [Float]
    /// Attention weights [B × T] (rows sum to 1, padded positions exactly 0); nil for `.last` pooling.
    public var attention: [Float]?
}

/// Embedding → (Bi)LSTM → last-state or attention pooling → dropout → linear classifier.
/// Names and semantics match `bench/reference/heed_torch.py` (`HeedClassifier`).
///
/// Training step:
/// ```
/// model.zeroGrad()
/// let out = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: true)
/// let loss = model.loss(labels: labels, classWeights: weights)
/// model.backward()
/// model.clipGradNorm(5)
/// adam.step()           // adam = Adam(parameters: model.parameters)
/// ```
/// Not thread-safe: one model instance per thread (buffers are reused across calls).
public final class Classifier {
    public let config: ClassifierConfig
    /// The model's generator (init and dropout). Read/restore `rngState` for resumable training.
    public var rng: Rng

    let embedding: Embedding
    let lstm: LSTM
    let attention: Attention?
    let classifier: Linear
    let dropIn: Dropout
    let dropOut: Dropout
    let criterion: SoftmaxCrossEntropy
    let conicity = ConicityPenalty()
    /// λ·Σ over the last `loss`'s documents of their conicity with absolute cosines
    /// (`ConicityPenalty`; diversity encoder, 0 otherwise).
    /// `diversityPenalty` is its mean.
    public private(set) var diversityPenaltySum: Double = 0
    /// All float parameters in PyTorch state_dict order (a quantised model's embedding tables are
    /// not among them: see `quantizedTensors`).
    public let parameters: [Param]
    /// The quantised (int8 or 4-bit) tensors of a model read from a quantised file, by state_dict
    /// name (empty for a float model). Replicas and clones share these tables. A quantised LSTM or linear matrix is
    /// also held dequantised in its parameter; the embedding tables only here.
    public let quantizedTensors: [String: QuantizedTable]
    /// Whether the model came from a quantised file (inference only).
    public var isQuantized: Bool { !quantizedTensors.isEmpty }

    private var pk = Packing()
    private var packedIds: [Int32] = []
    private var packedPieces = PieceLists()
    private let pooled = Buffer(), dPooled = Buffer(), dOut = Buffer(), customDLogits = Buffer(), copyTokens = Buffer()
    private var copyScales: [Float] = []
    /// After `forwardScaledCopies`: each document's first sorted sequence, the copies per document,
    /// and each document's first row and length in the summed input gradient.
    private var copyGroups: (first: [Int], copies: Int, starts: [Int], lengths: [Int])?
    /// Whether an inference forward over scaled copies of one sequence shares their input
    /// projection (see `forward`). On by default; tests turn it off to compare with the per-row
    /// product.
    var sharesInputProjection = true
    /// Whether the last `forward` shared the input projection (tests check the path was taken).
    private(set) var sharedInputProjection = false
    private var sortedLabels: [Int] = []
    private var forwardDone = false, lossDone = false, trainingForward = false, perRowInputGradient = false

    /// Builds a model initialised like PyTorch's defaults from `seed` (same seed → same weights).
    /// `embeddingStd` scales the N(0, 1) embedding initialisation (PyTorch's default is 1).
    public convenience init(config: ClassifierConfig, seed: UInt64, embeddingStd: Float = 1) {
        self.init(config: config, seed: seed, embeddingStd: embeddingStd, quantized: [:])
    }

    public convenience init(forLoading config: ClassifierConfig) {
        self.init(config: config, seed: 0, embeddingStd: 1, quantized: [:], drawsValues: false)
    }

    /// A model for a quantised file: `quantized` holds the quantised tensors by name
    /// (`embedding.weight`, and `subwords.weight` with subwords, are required); the float
    /// parameters are left for the loader to fill.
    public convenience init(config: ClassifierConfig, quantized: [String: QuantizedTable]) {
        precondition(quantized["embedding.weight"] != nil, "a quantised classifier needs a quantised embedding.weight")
        precondition(
            (quantized["subwords.weight"] != nil) == (config.subwordBuckets != nil), "a quantised classifier with subwords needs a quantised subwords.weight")
        self.init(config: config, seed: 0, embeddingStd: 1, quantized: quantized, drawsValues: false)
    }

    private init(config: ClassifierConfig, seed: UInt64, embeddingStd: Float, quantized: [String: QuantizedTable], drawsValues: Bool = true) {
        if let p = config.problem { preconditionFailure("invalid ClassifierConfig: \(p)") }
        self.config = config
        quantizedTensors = quantized
        var r = Rng(seed: seed)
        r.computesValues = drawsValues
        if let q = quantized["embedding.weight"] {
            embedding = Embedding(quantizedWords: q, quantizedSubwords: quantized["subwords.weight"])
        } else {
            embedding = Embedding(vocab: config.vocabSize, dim: config.embedDim, buckets: config.subwordBuckets, std: embeddingStd, rng: &r)
        }
        lstm = LSTM(
            input: config.embedDim, hidden: config.hiddenDim, bidirectional: config.bidirectional,
            orthogonal: config.resolvedEncoder == .orthogonal, rng: &r)
        if config.pooling == .attention {
            attention = Attention(
                dim: config.outputDim, scorer: config.scorer == .linear ? .linear : .additive,
                attentionDim: config.resolvedAttentionDim, rng: &r)
        } else {
            attention = nil
        }
        classifier = Linear("classifier", inputs: config.outputDim, outputs: config.classes, rng: &r)
        dropIn = Dropout(p: config.dropout)
        dropOut = Dropout(p: config.dropout)
        criterion = SoftmaxCrossEntropy(classes: config.classes)
        parameters = embedding.parameters + lstm.parameters + (attention?.parameters ?? []) + classifier.parameters
        r.computesValues = true
        rng = r
    }

    /// Each parameter's layer group, bottom to top: 0 the embedding (and subword table), 1 the
    /// LSTM, 2 the head (attention and output layer). ULMFiT's fine-tuning rates and unfreezes
    /// these groups as units, lowest (most general) last.
    public var parameterGroups: [Int] {
        let bottom = embedding.parameters.count
        return [Int](repeating: 0, count: bottom) + [Int](repeating: 1, count: lstm.parameters.count)
            + [Int](repeating: 2, count: parameters.count - bottom - lstm.parameters.count)
    }

    /// Each token's input vector as the LSTM reads it without dropout or input scale: its word
    /// row plus, with `pieces`, the mean of its bucket rows. [ids.count × embedDim].
    public func inputVectors(ids: [Int32], pieces: PieceLists? = nil) -> [Float] { embedding.vectors(ids: ids, pieces: pieces) }

    /// Overwrites embedding rows (index ≥ 1) with pretrained vectors.
    public func loadPretrained(rows: [(index: Int, vector: [Float])]) { embedding.loadPretrained(rows: rows) }

    /// A model built like this one whose float values are not drawn (`clone` and `replica` fill
    /// or share them); a quantised model's copy shares its quantised tables.
    public func blankCopy() -> Classifier { Classifier(config: config, seed: 0, embeddingStd: 1, quantized: quantizedTensors, drawsValues: false) }

    /// Runs the model on `ids` [batch × steps] (row-major, 0-padded) with `lengths[b]` in 1...steps.
    /// Ids must lie in 0..<vocabSize and positions ≥ lengths[b] are ignored (preconditions).
    /// `training` enables dropout (and is otherwise identical: activations are always kept so
    /// `loss`/`backward` may follow). Internally sequences are sorted by length and packed, so
    /// the result does not depend on padding or on the other sequences in the batch.
    ///
    /// `inputScales` (one per sequence, caller's order) multiplies each sequence's embedded tokens
    /// before the LSTM: integrated gradients walks the straight line from the zero baseline (the
    /// `<pad>` row) to the real input with it. When every sequence has the same length and ids and
    /// `training` is false, the LSTM's input projection (s·e)·W_ihᵀ is formed as s·(e·W_ihᵀ) from
    /// one product over the sequence's tokens rather than one over every copy's: the copies cost
    /// only their recurrent products. Equal to the per-row product up to Float rounding.
    ///
    /// `pieces` holds each position's subword buckets (one list per id, row-major like `ids`) for
    /// a model with a subword table; without them every token reads its word row alone.
    ///
    /// `attentionGroups` (one label per sequence, caller's order): sequences of one label, which
    /// must be of one length and adjacent, get their attention scores from a GEMV of their own, as
    /// in a batch of them alone (a GEMV's row results depend on the rows' place in the call), so
    /// several documents' occlusion sequences can share a batch.
    ///
    /// `inputPerturbation` [batch × steps × embedDim] (caller's order, padded positions ignored) is
    /// added to each token's input vector after any input scale and before dropout: virtual
    /// adversarial training moves the embedded document by it, and `inputGradient()` is then the
    /// gradient with respect to the perturbation too.
    public func forward(
        ids: [Int32], lengths: [Int], batch B: Int, steps T: Int, training: Bool, inputScales: [Float]? = nil, pieces: PieceLists? = nil,
        inputPerturbation: [Float]? = nil, attentionGroups: [Int]? = nil
    ) -> ForwardOutput {
        precondition(ids.count == B * T, "ids must hold batch × steps = \(B * T) values, got \(ids.count)")
        precondition(pieces == nil || pieces!.count == B * T, "pieces must hold one list per id")
        precondition(pieces == nil || config.subwordBuckets != nil, "subword pieces given to a model without a subword table")
        precondition(B >= 1 && T >= 1, "empty batch")
        pk.build(lengths: lengths, batch: B, steps: T)
        let P = pk.total, E = config.embedDim
        packedIds.removeAll(keepingCapacity: true)
        for t in 0..<T {
            for j in 0..<pk.batchSizes[t] { packedIds.append(ids[pk.order[j] * T + t]) }
        }
        if let pieces {
            packedPieces.ends.removeAll(keepingCapacity: true)
            packedPieces.buckets.removeAll(keepingCapacity: true)
            for t in 0..<T {
                for j in 0..<pk.batchSizes[t] { packedPieces.append(pieces.buckets[pieces.range(pk.order[j] * T + t)]) }
            }
        }
        // A dropped word keeps its pieces: it then looks like a word outside the vocabulary.
        if training, let p = config.wordDropout, p > 0 {
            for i in packedIds.indices where rng.uniform() < p { packedIds[i] = ClassifierConfig.unknownId }
        }
        embedding.forward(ids: packedIds, pieces: pieces == nil ? nil : packedPieces)
        let x = embedding.out.ptr
        if let inputScales {
            precondition(inputScales.count == B, "need one input scale per sequence")
            for t in 0..<T {
                for j in 0..<pk.batchSizes[t] {
                    let row = x + pk.row(j, t) * E, scale = inputScales[pk.order[j]]
                    for k in 0..<E { row[k] = row[k] * scale }
                }
            }
        }
        if let inputPerturbation {
            precondition(inputPerturbation.count == B * T * E, "inputPerturbation must hold batch × steps × embedDim = \(B * T * E) values")
            inputPerturbation.withUnsafeBufferPointer { r in
                for t in 0..<T {
                    for j in 0..<pk.batchSizes[t] {
                        let row = x + pk.row(j, t) * E, src = r.baseAddress! + (pk.order[j] * T + t) * E
                        for k in 0..<E { row[k] = row[k] + src[k] }
                    }
                }
            }
        }
        dropIn.forward(x, count: P * E, training: training, rng: &rng)
        var copies: ScaledCopies? = nil
        if let inputScales, inputPerturbation == nil, sharesInputProjection, !training, isCopies(ids: ids, lengths: lengths, batch: B, steps: T) {
            // Unscaled rows of the one sequence (sorted sequence 0 at each position).
            let L = lengths[0], rows = copyTokens.reserve(L * E)
            let vectors = embedding.vectors(ids: Array(ids[0..<L]), pieces: pieces?.selecting(0..<L))
            vectors.withUnsafeBufferPointer { rows.update(from: $0.baseAddress!, count: L * E) }
            copyScales.removeAll(keepingCapacity: true)
            for j in 0..<B { copyScales.append(inputScales[pk.order[j]]) }
            copies = ScaledCopies(tokens: rows, length: L, scales: copyScales)
        }
        sharedInputProjection = copies != nil
        copyGroups = nil
        lstm.forward(x, pk, copies: copies)
        var groups: [(first: Int, count: Int, length: Int)]? = nil
        if let attentionGroups {
            precondition(attentionGroups.count == B, "need one attention group per sequence")
            var found: [(first: Int, count: Int, length: Int)] = []
            for j in 0..<B {
                if j > 0 && attentionGroups[pk.order[j]] == attentionGroups[pk.order[j - 1]] {
                    precondition(pk.lengths[j] == found[found.count - 1].length, "an attention group's sequences must be of one length")
                    found[found.count - 1].count += 1
                } else {
                    let label = attentionGroups[pk.order[j]]
                    precondition(!found.contains { attentionGroups[pk.order[$0.first]] == label }, "an attention group's sequences must be adjacent")
                    found.append((j, 1, pk.lengths[j]))
                }
            }
            groups = found
        }
        return head(training: training, groups: groups)
    }

    /// Integrated gradients' forward over several documents at once: `scales.count` copies of each
    /// document (ids, at least one, with their subword pieces), copy m of document d reading
    /// scales[m]·e_t, in one batch. Logits [documents × copies × classes],
    /// document-major. The input projection is formed per document (see `ScaledCopies`) and the
    /// embedded copies are never materialised: only `summedInputGradients` may follow. Each
    /// document's rows go through the same operations as in a batch of its copies alone; only the
    /// products over rows of several documents (the recurrent, attention and output products) are
    /// larger calls, whose rows a BLAS kernel may round differently from a smaller call's.
    public func forwardScaledCopies(of documents: [(ids: [Int32], pieces: PieceLists?)], scales: [Float]) -> [Float] {
        let S = scales.count, E = config.embedDim
        precondition(!documents.isEmpty && S >= 1, "empty batch")
        precondition(documents.allSatisfy { !$0.ids.isEmpty && ($0.pieces == nil || $0.pieces!.count == $0.ids.count) }, "empty document")
        let lengths = documents.map(\.ids.count), T = lengths.max()!
        pk.build(lengths: lengths.flatMap { Array(repeating: $0, count: S) }, batch: documents.count * S, steps: T)
        var starts: [Int] = [], rows = 0
        for n in lengths {
            starts.append(rows)
            rows += n
        }
        let tokens = copyTokens.reserve(rows * E)
        for (d, doc) in documents.enumerated() {
            let vectors = embedding.vectors(ids: doc.ids, pieces: doc.pieces)
            vectors.withUnsafeBufferPointer { (tokens + starts[d] * E).update(from: $0.baseAddress!, count: lengths[d] * E) }
        }
        let order = pk.order
        let copies = ScaledCopies(
            tokens: tokens, starts: starts, lengths: lengths, document: order.map { $0 / S }, scales: order.map { scales[$0 % S] })
        // Sorting is stable and every copy of a document has its length: its copies stay together,
        // in copy order, as in a batch of their own.
        let first = documents.indices.map { d in order.firstIndex { $0 / S == d }! }
        sharedInputProjection = true
        copyGroups = (first, S, starts, lengths)
        lstm.forward(nil, pk, copies: copies)
        return head(training: false, groups: first.indices.map { (first[$0], S, lengths[$0]) }).logits
    }

    /// Runs `body`, which must not change the weights, letting the LSTM keep what it derives from
    /// them between passes (integrated gradients runs many passes over fixed weights).
    public func withFixedWeights<T>(_ body: () throws -> T) rethrows -> T { try lstm.withFixedWeights(body) }

    /// After `forwardScaledCopies`: backpropagates `dLogits` (its order) and returns, per document,
    /// the input gradient summed over its copies, [length × embedDim] each: what
    /// `summedInputGradient` returns for a batch of that document's copies alone.
    public func summedInputGradients(dLogits: [Float]) -> [[Float]] {
        guard let groups = copyGroups else { preconditionFailure("summedInputGradients needs forwardScaledCopies first") }
        let dh = backwardToLSTMOutput(from: sortedDLogits(dLogits), parameterGradients: false)
        lstm.backwardSummed(dh, pk, first: groups.first, copies: groups.copies, starts: groups.starts, lengths: groups.lengths)
        perRowInputGradient = false
        let E = config.embedDim, g = lstm.dxSum.ptr
        return zip(groups.starts, groups.lengths).map { start, n in Array(UnsafeBufferPointer(start: g + start * E, count: n * E)) }
    }

    /// Attention or last-state pooling, the output layer and the softmax over the LSTM's output
    /// of the batch in `pk`: the rest of a forward pass. `groups`: see `Attention.forward`.
    private func head(training: Bool, groups: [(first: Int, count: Int, length: Int)]?) -> ForwardOutput {
        let B = pk.batch, T = pk.steps, D = config.outputDim, C = config.classes
        let h = lstm.out.ptr
        let pool: UnsafeMutablePointer<Float>
        if let att = attention {
            att.forward(h, pk, groups: groups)
            pool = att.ctx.ptr
        } else {
            pool = pooled.reserve(B * D)
            let H = config.hiddenDim
            for j in 0..<B {
                let last = pk.row(j, pk.lengths[j] - 1)
                if config.bidirectional {
                    (pool + j * D).update(from: h + last * D, count: H)
                    (pool + j * D + H).update(from: h + j * D + H, count: H)  // reverse state at position 0
                } else {
                    (pool + j * D).update(from: h + last * D, count: D)
                }
            }
        }
        dropOut.forward(pool, count: B * D, training: training, rng: &rng)
        // The output layer too runs per group: a GEMM's rows may round otherwise in a larger call.
        classifier.forward(pool, rows: B, blocks: groups.map { $0.map { $0.first..<($0.first + $0.count) } })
        let z = classifier.out.ptr
        criterion.softmax(z, batch: B)
        let p = criterion.probs.ptr
        var logits = [Float](repeating: 0, count: B * C)
        var probs = [Float](repeating: 0, count: B * C)
        for j in 0..<B {
            let b = pk.order[j]
            for c in 0..<C {
                logits[b * C + c] = z[j * C + c]
                probs[b * C + c] = p[j * C + c]
            }
        }
        var attn: [Float]? = nil
        if let att = attention {
            var a = [Float](repeating: 0, count: B * T)
            let w = att.weights.ptr
            for t in 0..<T {
                for j in 0..<pk.batchSizes[t] { a[pk.order[j] * T + t] = w[pk.row(j, t)] }
            }
            attn = a
        }
        forwardDone = true
        lossDone = false
        trainingForward = training
        return ForwardOutput(logits: logits, probabilities: probs, attention: attn)
    }

    /// Whether all `batch` sequences have the first one's length and ids.
    private func isCopies(ids: [Int32], lengths: [Int], batch B: Int, steps T: Int) -> Bool {
        let L = lengths[0]
        for b in 1..<B {
            if lengths[b] != L { return false }
            for t in 0..<L where ids[b * T + t] != ids[t] { return false }
        }
        return true
    }

    /// Mean cross-entropy of the last `forward` against `labels` (caller's batch order), with
    /// optional per-class weights (PyTorch weighted-mean semantics). The cross-entropy alone, for
    /// every encoder, so dev losses compare across encoders: a diversity encoder's training
    /// objective adds `diversityPenalty` (computed here too), and `backward` differentiates both.
    public func loss(labels: [Int], classWeights: [Float]? = nil) -> Float {
        precondition(forwardDone, "loss before forward")
        precondition(labels.count == pk.batch, "need one label per sequence")
        precondition(copyGroups == nil, "after forwardScaledCopies only summedInputGradients may follow")
        sortedLabels.removeAll(keepingCapacity: true)
        for j in 0..<pk.batch { sortedLabels.append(labels[pk.order[j]]) }
        lossDone = true
        if let lambda = diversityLambda {
            diversityPenaltySum = Double(lambda) * Double(conicity.forward(lstm.out.ptr, pk, dim: config.outputDim))
        } else {
            diversityPenaltySum = 0
        }
        return criterion.forward(classifier.out.ptr, batch: pk.batch, labels: sortedLabels, classWeights: classWeights)
    }

    /// λ·(mean |cos|-conicity of the last `loss`'s documents' LSTM states): the diversity encoder's
    /// term of the training objective (0 for the other encoders). A data-parallel worker's share
    /// of a batch contributes `diversityPenaltySum` / (the whole batch's document count).
    public var diversityPenalty: Double { pk.batch > 0 ? diversityPenaltySum / Double(pk.batch) : 0 }

    /// λ when training adds the conicity penalty, else nil.
    private var diversityLambda: Float? {
        config.resolvedEncoder == .diversity ? (config.diversityWeight ?? 0) : nil
    }

    /// Accumulates d loss / d parameter into every `Param.grad` (call `zeroGrad` first per step).
    ///
    /// `lossWeightTotal` replaces the batch's own weight total (its size, or its class-weight sum)
    /// as the loss's divisor: a worker that holds part of a batch passes the whole batch's total,
    /// so the parts' gradients add up to the whole batch's mean-loss gradient. With a diversity
    /// encoder the gradient of `diversityPenalty` is added too, its mean taken over
    /// `documentTotal` documents (the whole batch's count; nil: this batch's).
    public func backward(lossWeightTotal: Double? = nil, documentTotal: Int? = nil) {
        precondition(lossDone, "backward before loss")
        criterion.backward(batch: pk.batch, totalWeight: lossWeightTotal)
        let dh = backwardToLSTMOutput(from: criterion.dLogits.ptr, parameterGradients: true)
        if let lambda = diversityLambda, lambda != 0 {
            conicity.backward(scale: lambda / Float(documentTotal ?? pk.batch), into: dh, pk)
        }
        backwardThroughEncoder(dh, parameterGradients: true)
    }

    /// Backpropagates `dLogits` [batch × classes] (caller's order) from the last `forward` in place
    /// of a loss: the gradient of any function of the logits, such as one class's logit for an
    /// attribution. Parameter gradients accumulate as in `backward()` unless `parameterGradients`
    /// is false: an attribution needs only `inputGradient()`, and skipping the weight-gradient
    /// products and the embedding scatter saves about a third of the backward pass. The input
    /// gradient is the same, bit for bit, either way.
    public func backward(dLogits: [Float], parameterGradients: Bool = true) {
        precondition(copyGroups == nil, "after forwardScaledCopies only summedInputGradients may follow")
        backward(from: sortedDLogits(dLogits), parameterGradients: parameterGradients)
    }

    /// Backpropagates `dLogits` as `backward(dLogits:parameterGradients: false)` does, but returns
    /// only the input gradient summed over the batch's sequences at each position,
    /// [steps × embedDim] (padded positions add nothing). Integrated gradients needs no more, and
    /// since the input gradient is linear in the LSTM's gate gradients, those are summed first:
    /// the per-token input-gradient product shrinks from every row of the batch to one row per
    /// position. Equal to summing `inputGradient()` up to Float rounding, not bit for bit. Needs
    /// a forward with `training: false` (no dropout masks to apply).
    public func summedInputGradient(dLogits: [Float]) -> [Float] {
        precondition(!trainingForward, "summedInputGradient needs a forward with training: false")
        let dz = sortedDLogits(dLogits)
        let dh = backwardToLSTMOutput(from: dz, parameterGradients: false)
        lstm.backwardSummed(dh, pk)
        perRowInputGradient = false
        return Array(UnsafeBufferPointer(start: lstm.dxSum.ptr, count: pk.steps * config.embedDim))
    }

    /// `dLogits` [batch × classes] from the caller's order into the sorted order.
    private func sortedDLogits(_ dLogits: [Float]) -> UnsafeMutablePointer<Float> {
        precondition(forwardDone, "backward before forward")
        let B = pk.batch, C = config.classes
        precondition(dLogits.count == B * C, "need batch × classes = \(B * C) values, got \(dLogits.count)")
        let dz = customDLogits.reserve(B * C)
        for j in 0..<B {
            for c in 0..<C { dz[j * C + c] = dLogits[pk.order[j] * C + c] }
        }
        return dz
    }

    /// The gradient of the last backward pass with respect to each token's input vector (the
    /// embedding row as fed to the LSTM, after any input scale), [batch × steps × embedDim] in the
    /// caller's order, zero at padded positions.
    public func inputGradient() -> [Float] {
        precondition(perRowInputGradient, "inputGradient needs a backward pass (not summedInputGradient) first")
        return unpacked(lstm.dx.ptr, width: config.embedDim)
    }

    /// The LSTM's outputs of the last `forward`, [batch × steps × outputDim] in the caller's order,
    /// zero at padded positions: what attention pools over, so a caller can re-pool them with other
    /// weights (the attention-permutation test) without running the encoder again.
    public func encoderStates() -> [Float] { unpacked(lstm.out.ptr, width: config.outputDim) }

    /// Packed rows [P × width] of the last `forward` as [batch × steps × width] in the caller's
    /// order, zero at padded positions.
    private func unpacked(_ rows: UnsafePointer<Float>, width: Int) -> [Float] {
        let B = pk.batch, T = pk.steps
        var out = [Float](repeating: 0, count: B * T * width)
        for t in 0..<T {
            for j in 0..<pk.batchSizes[t] {
                let src = rows + pk.row(j, t) * width, base = (pk.order[j] * T + t) * width
                for k in 0..<width { out[base + k] = src[k] }
            }
        }
        return out
    }

    private func backward(from dLogits: UnsafePointer<Float>, parameterGradients: Bool = true) {
        backwardThroughEncoder(backwardToLSTMOutput(from: dLogits, parameterGradients: parameterGradients), parameterGradients: parameterGradients)
    }

    /// Backpropagates d/d(LSTM output) `dh` [P × D] (consumed) through the LSTM, dropout and embedding.
    private func backwardThroughEncoder(_ dh: UnsafeMutablePointer<Float>, parameterGradients: Bool) {
        lstm.backward(dh, pk, parameterGradients: parameterGradients)
        let dx = lstm.dx.ptr
        dropIn.backward(dx)
        // A quantised table has no gradient to accumulate; input gradients are complete without it.
        if parameterGradients && !embedding.isQuantized { embedding.backward(dOut: dx) }
        perRowInputGradient = true
    }

    /// Backpropagates through the classifier, dropout and pooling; returns d/d(LSTM output) [P × D].
    private func backwardToLSTMOutput(from dLogits: UnsafePointer<Float>, parameterGradients: Bool) -> UnsafeMutablePointer<Float> {
        let B = pk.batch, P = pk.total, D = config.outputDim
        let dp = dPooled.reserve(B * D)
        classifier.backward(dLogits, dx: dp, parameterGradients: parameterGradients)
        dropOut.backward(dp)
        let dh: UnsafeMutablePointer<Float>
        if let att = attention {
            att.backward(dp, pk, parameterGradients: parameterGradients)
            dh = att.dh.ptr
        } else {
            dh = dOut.zeroed(P * D)
            let H = config.hiddenDim
            for j in 0..<B {
                let last = pk.row(j, pk.lengths[j] - 1)
                if config.bidirectional {
                    for k in 0..<H {
                        dh[last * D + k] += dp[j * D + k]
                        dh[j * D + H + k] += dp[j * D + H + k]
                    }
                } else {
                    for k in 0..<D { dh[last * D + k] += dp[j * D + k] }
                }
            }
        }
        return dh
    }
}
