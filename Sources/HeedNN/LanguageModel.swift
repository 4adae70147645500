import Foundation

/// Hyper-parameters of a (bidirectional) LSTM language model; stored as JSON in its file. The
/// encoder part (embedding and LSTM) is named and shaped as `ClassifierConfig`'s, so a classifier
/// with the same vocabulary, `embedDim`, `hiddenDim` and direction count can start from it.
public struct LanguageModelConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var embedDim: Int
    public var hiddenDim: Int
    /// Two directions: the forward one's state at t predicts token t+1, the backward one's token t−1.
    public var bidirectional: Bool
    /// Dropout on the embedded tokens and on the states fed to the output layers (0 = off).
    public var dropout: Float

    public init(vocabSize: Int, embedDim: Int = 100, hiddenDim: Int = 128, bidirectional: Bool = true, dropout: Float = 0) {
        self.vocabSize = vocabSize
        self.embedDim = embedDim
        self.hiddenDim = hiddenDim
        self.bidirectional = bidirectional
        self.dropout = dropout
    }

    /// The tensors a classifier can adopt (`Classifier.loadEncoder`), state_dict order.
    public var encoderShapes: [(name: String, shape: [Int])] {
        let E = embedDim, H = hiddenDim
        var out: [(String, [Int])] = [("embedding.weight", [vocabSize, E])]
        for s in bidirectional ? ["", "_reverse"] : [""] {
            out += [
                ("lstm.weight_ih_l0" + s, [4 * H, E]), ("lstm.weight_hh_l0" + s, [4 * H, H]),
                ("lstm.bias_ih_l0" + s, [4 * H]), ("lstm.bias_hh_l0" + s, [4 * H]),
            ]
        }
        return out
    }

    /// Every tensor, in state_dict order: the encoder's, then one output layer per direction.
    public var tensorShapes: [(name: String, shape: [Int])] {
        var out = encoderShapes
        // Not `lm_head.forward.*`: a PyTorch module cannot have a child named `forward` (it is the
        // method), so these names load into `self.lm_forward = nn.Linear(H, V)` as they are.
        for d in bidirectional ? ["lm_forward", "lm_backward"] : ["lm_forward"] {
            out += [(d + ".weight", [vocabSize, hiddenDim]), (d + ".bias", [vocabSize])]
        }
        return out
    }

    /// Human-readable reason the config is unusable, or nil.
    public var problem: String? {
        if vocabSize < 3 { return "vocabSize must be at least 3 (<pad>, <unk> and one word)" }
        if embedDim < 1 || hiddenDim < 1 { return "embedDim and hiddenDim must be positive" }
        if !(dropout >= 0 && dropout < 1) { return "dropout must be in [0, 1)" }
        return nil
    }
}

/// Which softmax the output layers use.
public enum LanguageModelOutput: Sendable, Equatable {
    /// Over the whole vocabulary: exact, V·H per token; what perplexity is measured with.
    case full
    /// Sampled softmax with this many candidates, drawn from the model's generator once per batch
    /// (log-uniform over the frequency-sorted vocabulary) and shared by both directions.
    case sampled(Int)
    /// Sampled softmax against these candidates (tests: a fixed sample).
    case candidates(SampledCandidates)
}

/// Negative log-likelihoods of one batch, per direction, summed in Double.
public struct LanguageModelLoss: Sendable, Equatable {
    /// The training objective: (forwardNLL + backwardNLL) / the divisor (the batch's target count
    /// unless the caller gave another). For `.sampled` it is the sampled loss, not the full NLL.
    public var loss: Double
    public var forwardNLL: Double
    public var forwardTokens: Int
    public var backwardNLL: Double
    public var backwardTokens: Int

    /// exp(NLL per predicted token) over both directions (meaningful for `.full`).
    public var perplexity: Double { Foundation.exp((forwardNLL + backwardNLL) / Double(max(1, forwardTokens + backwardTokens))) }
}

/// Embedding → (Bi)LSTM → one softmax output layer per direction, trained to predict each
/// token from the ones before it (forward) and after it (backward), as ELMo pretrains its encoder.
/// Sequences read as the classifier reads them (sorted, packed: `Packing`), so a direction's
/// states are those a classifier built from this encoder computes. A target that is `<pad>` (0)
/// is skipped; sequences have no start or end token, so a length-1 sequence predicts nothing.
/// Subword buckets are not supported: the encoder is word rows only.
///
/// Training step:
/// ```
/// model.zeroGrad()
/// let l = model.loss(ids: ids, lengths: lengths, batch: B, steps: T, training: true, output: .sampled(512))
/// model.clipGradNorm(5)
/// adam.step()           // adam = Adam(parameters: model.parameters)
/// ```
/// Not thread-safe: one instance per thread (`replica()` for data-parallel workers).
public final class LanguageModel {
    public let config: LanguageModelConfig
    /// Init, dropout and candidate sampling draw from it: the same seed gives the same run.
    public var rng: Rng
    public let sampler: LogUniformSampler

    let embedding: Embedding
    let lstm: LSTM
    let forwardHead: SoftmaxHead
    let backwardHead: SoftmaxHead?
    let dropIn: Dropout
    let dropForward: Dropout
    let dropBackward: Dropout
    /// All parameters in state_dict order (`config.tensorShapes`).
    public let parameters: [Param]

    private var pk = Packing()
    private var packedIds: [Int32] = []
    /// Per direction: the packed rows that have a target, and the targets.
    private var forwardRows: [Int] = [], forwardTargets: [Int32] = []
    private var backwardRows: [Int] = [], backwardTargets: [Int32] = []
    private let xForward = Buffer(), xBackward = Buffer(), dxForward = Buffer(), dxBackward = Buffer(), dOut = Buffer()

    /// A model initialised as PyTorch's defaults would be (embedding N(0, embeddingStd²), row 0
    /// zero; LSTM and output layers U(−1/√H, 1/√H)), from `seed`.
    public convenience init(config: LanguageModelConfig, seed: UInt64, embeddingStd: Float = 1) {
        self.init(config: config, seed: seed, embeddingStd: embeddingStd, drawsValues: true)
    }

    public convenience init(forLoading config: LanguageModelConfig) {
        self.init(config: config, seed: 0, embeddingStd: 1, drawsValues: false)
    }

    private init(config: LanguageModelConfig, seed: UInt64, embeddingStd: Float, drawsValues: Bool) {
        if let p = config.problem { preconditionFailure("invalid LanguageModelConfig: \(p)") }
        self.config = config
        var r = Rng(seed: seed)
        r.computesValues = drawsValues
        embedding = Embedding(vocab: config.vocabSize, dim: config.embedDim, std: embeddingStd, rng: &r)
        lstm = LSTM(input: config.embedDim, hidden: config.hiddenDim, bidirectional: config.bidirectional, rng: &r)
        forwardHead = SoftmaxHead("lm_forward", inputs: config.hiddenDim, vocab: config.vocabSize, rng: &r)
        backwardHead = config.bidirectional ? SoftmaxHead("lm_backward", inputs: config.hiddenDim, vocab: config.vocabSize, rng: &r) : nil
        dropIn = Dropout(p: config.dropout)
        dropForward = Dropout(p: config.dropout)
        dropBackward = Dropout(p: config.dropout)
        sampler = LogUniformSampler(vocabSize: config.vocabSize)
        parameters = [embedding.weight] + lstm.parameters + forwardHead.parameters + (backwardHead?.parameters ?? [])
        r.computesValues = true
        rng = r
    }

    /// The tensors a classifier adopts, by name (copies of the current values).
    public var encoderTensors: [String: NamedTensor] {
        var out: [String: NamedTensor] = [:]
        for (name, shape) in config.encoderShapes { out[name] = NamedTensor(shape: shape, values: parameter(named: name)!.values) }
        return out
    }

    /// Predictions a batch holds (both directions): the loss divisor a data-parallel worker that
    /// holds part of a batch must be given for the whole batch.
    public static func targetCount(ids: [Int32], lengths: [Int], steps T: Int, bidirectional: Bool) -> Int {
        var n = 0
        for (b, len) in lengths.enumerated() {
            for t in 0..<len {
                if t + 1 < len && ids[b * T + t + 1] != 0 { n += 1 }
                if bidirectional && t >= 1 && ids[b * T + t - 1] != 0 { n += 1 }
            }
        }
        return n
    }

    /// Runs the batch `ids` [batch × steps] (row-major, 0-padded, `lengths[b]` in 1...steps) and
    /// returns its loss; with `gradients`, accumulates ∂loss/∂parameter into every `Param.grad`
    /// (call `zeroGrad` first per step). `training` turns dropout on. `lossDivisor` replaces the
    /// batch's own target count as the divisor (a worker holding part of a batch passes the whole
    /// batch's `targetCount`), so the parts' gradients add up to the whole batch's.
    @discardableResult
    public func loss(
        ids: [Int32], lengths: [Int], batch B: Int, steps T: Int, training: Bool, output: LanguageModelOutput,
        gradients: Bool = true, lossDivisor: Double? = nil
    ) -> LanguageModelLoss {
        precondition(ids.count == B * T, "ids must hold batch × steps = \(B * T) values, got \(ids.count)")
        precondition(B >= 1 && T >= 1, "empty batch")
        pk.build(lengths: lengths, batch: B, steps: T)
        let P = pk.total, E = config.embedDim, H = config.hiddenDim, D = lstm.outputDim
        packedIds.removeAll(keepingCapacity: true)
        for t in 0..<T {
            for j in 0..<pk.batchSizes[t] { packedIds.append(ids[pk.order[j] * T + t]) }
        }
        collectTargets()
        embedding.forward(ids: packedIds)
        let x = embedding.out.ptr
        dropIn.forward(x, count: P * E, training: training, rng: &rng)
        lstm.forward(x, pk)
        // The heads read copies of their rows: dropout must not touch the LSTM's own outputs,
        // which its backward pass reads again.
        let h = UnsafePointer(lstm.out.ptr)
        let nf = forwardRows.count, nb = backwardRows.count
        let xf = gather(h, D, column: 0, rows: forwardRows, into: xForward)
        dropForward.forward(xf, count: nf * H, training: training, rng: &rng)
        var xb: UnsafeMutablePointer<Float>? = nil
        if backwardHead != nil {
            let p = gather(h, D, column: H, rows: backwardRows, into: xBackward)
            dropBackward.forward(p, count: nb * H, training: training, rng: &rng)
            xb = p
        }
        let divisor = lossDivisor ?? Double(nf + nb)
        let scale: Float? = gradients && divisor > 0 ? Float(1 / divisor) : nil
        var candidates: SampledCandidates? = nil
        switch output {
        case .full: break
        case .sampled(let k):
            precondition(k >= 1, "a sampled softmax needs at least one candidate")
            candidates = sampler.sample(k, rng: &rng)
        case .candidates(let c): candidates = c
        }
        func run(_ head: SoftmaxHead, _ x: UnsafePointer<Float>, _ n: Int, _ targets: [Int32], _ dx: Buffer) -> Double {
            let d = scale == nil ? nil : dx.reserve(n * H)
            return targets.withUnsafeBufferPointer { t in
                if let c = candidates {
                    return head.sampledLoss(x, rows: n, targets: t.baseAddress!, candidates: c, sampler: sampler, gradScale: scale, dx: d)
                }
                return head.fullLoss(x, rows: n, targets: t.baseAddress!, gradScale: scale, dx: d)
            }
        }
        let fNLL = nf == 0 ? 0 : run(forwardHead, xf, nf, forwardTargets, dxForward)
        var bNLL = 0.0
        if let head = backwardHead, let xb, nb > 0 { bNLL = run(head, xb, nb, backwardTargets, dxBackward) }
        let result = LanguageModelLoss(
            loss: divisor > 0 ? (fNLL + bNLL) / divisor : 0, forwardNLL: fNLL, forwardTokens: nf, backwardNLL: bNLL, backwardTokens: nb)
        guard scale != nil else { return result }
        // Back through the heads' dropout into the LSTM's output rows, then the encoder.
        let dh = dOut.zeroed(P * D)
        if nf > 0 {
            dropForward.backward(dxForward.ptr)
            scatter(dxForward.ptr, rows: forwardRows, into: dh, D, column: 0)
        }
        if backwardHead != nil && nb > 0 {
            dropBackward.backward(dxBackward.ptr)
            scatter(dxBackward.ptr, rows: backwardRows, into: dh, D, column: H)
        }
        lstm.backward(dh, pk)
        let dx = lstm.dx.ptr
        dropIn.backward(dx)
        embedding.backward(dOut: dx)
        return result
    }

    /// Full-softmax negative log-likelihood of a held-out batch (no dropout, no gradients).
    public func evaluate(ids: [Int32], lengths: [Int], batch B: Int, steps T: Int) -> LanguageModelLoss {
        loss(ids: ids, lengths: lengths, batch: B, steps: T, training: false, output: .full, gradients: false)
    }

    /// Packed rows with a target: forward at (j, t) predicts position t+1, backward position t−1.
    private func collectTargets() {
        forwardRows.removeAll(keepingCapacity: true)
        forwardTargets.removeAll(keepingCapacity: true)
        backwardRows.removeAll(keepingCapacity: true)
        backwardTargets.removeAll(keepingCapacity: true)
        for t in 0..<pk.steps {
            for j in 0..<pk.batchSizes[t] {
                let r = pk.row(j, t)
                if t + 1 < pk.lengths[j] {
                    let y = packedIds[pk.row(j, t + 1)]
                    if y != 0 { forwardRows.append(r); forwardTargets.append(y) }
                }
                if config.bidirectional && t >= 1 {
                    let y = packedIds[pk.row(j, t - 1)]
                    if y != 0 { backwardRows.append(r); backwardTargets.append(y) }
                }
            }
        }
    }

    /// Copies H columns from `column` of the listed rows of `h` [P × D] into a buffer [rows × H].
    private func gather(_ h: UnsafePointer<Float>, _ D: Int, column: Int, rows: [Int], into buffer: Buffer) -> UnsafeMutablePointer<Float> {
        let H = config.hiddenDim
        let out = buffer.reserve(rows.count * H)
        for (i, r) in rows.enumerated() { (out + i * H).update(from: h + r * D + column, count: H) }
        return out
    }

    /// Adds rows [rows × H] into H columns from `column` of the listed rows of `dh` [P × D].
    private func scatter(_ src: UnsafePointer<Float>, rows: [Int], into dh: UnsafeMutablePointer<Float>, _ D: Int, column: Int) {
        let H = config.hiddenDim
        for (i, r) in rows.enumerated() {
            let dst = dh + r * D + column, s = src + i * H
            for k in 0..<H { dst[k] = dst[k] + s[k] }
        }
    }
}
