import Foundation

/// The ids a sampled softmax scores besides each row's own target, shared by every row of a batch
/// so their weight rows are gathered once and scored with one GEMM.
public struct SampledCandidates: Sendable, Equatable {
    /// Unique ids in 1..<vocabSize, ascending.
    public var ids: [Int32]
    /// Draws the sampler took to find them (with replacement until `ids.count` were distinct): an
    /// id of probability p was then expected 1 − (1 − p)^tries times, which is the Q the loss
    /// corrects for. nil: every id is a candidate, each exactly once (Q = 1, no correction), so
    /// the sampled loss is the full softmax loss.
    public var tries: Int?

    public init(ids: [Int32], tries: Int?) {
        precondition(zip(ids, ids.dropFirst()).allSatisfy { $0.0 < $0.1 }, "candidate ids must be ascending and unique")
        self.ids = ids
        self.tries = tries
    }
}

/// TensorFlow's `log_uniform_candidate_sampler` over the ids 1..<V that a language model predicts:
/// id i has rank r = i − 1 and probability log((r + 2)/(r + 1)) / log(V), a Zipf law. It fits
/// because Heed vocabularies give ids by descending count after `<pad>` (never a target, never
/// sampled) and `<unk>` (which holds every rare word's count, so ranking it first is about right).
public struct LogUniformSampler: Sendable {
    public let vocabSize: Int
    /// Ranks sampled: the ids 1..<vocabSize.
    var range: Int { vocabSize - 1 }

    public init(vocabSize: Int) {
        precondition(vocabSize >= 2, "a sampler needs at least one id besides <pad>")
        self.vocabSize = vocabSize
    }

    /// P(id) for one draw.
    public func probability(_ id: Int) -> Double {
        let r = Double(id - 1)
        return (Foundation.log(r + 2) - Foundation.log(r + 1)) / Foundation.log(Double(range + 1))
    }

    /// log of the expected number of times `id` appears in `tries` draws (TF's `expected_count`
    /// for unique sampling); 0 when every id is a candidate.
    public func logExpectedCount(_ id: Int, tries: Int?) -> Float {
        guard let tries else { return 0 }
        let p = probability(id)
        return Float(Foundation.log(-Foundation.expm1(Double(tries) * Foundation.log1p(-p))))
    }

    /// Draws with replacement until `count` distinct ids are found (at most 1000·count draws, so a
    /// count near V cannot loop on the rare tail; the expected counts use the real number of draws
    /// either way). A count of V − 1 or more returns every id.
    public func sample(_ count: Int, rng: inout Rng) -> SampledCandidates {
        if count >= range { return SampledCandidates(ids: (1..<vocabSize).map { Int32($0) }, tries: nil) }
        let logRange = Foundation.log(Double(range + 1))
        var seen = Set<Int32>()
        var tries = 0
        while seen.count < count && tries < 1000 * count {
            let u = Double(rng.next() >> 11) * 0x1p-53
            let r = min(Int(Foundation.exp(u * logRange)) - 1, range - 1)
            seen.insert(Int32(r + 1))
            tries += 1
        }
        return SampledCandidates(ids: seen.sorted(), tries: tries)
    }
}

/// The output layer of one language-model direction: logits x·Wᵀ + b over the vocabulary, W
/// [V × H]. Row 0 (`<pad>`) is never scored: a language model never has to predict padding.
///
/// Forward and backward run in one call because the gradient scale (1 / the batch's target
/// count) is known before the loss: the full softmax then never holds more than `chunkRows` × V
/// logits, and the sampled one frees its [n × K] scores at once.
///
/// Two losses on the same weights:
/// - `fullLoss`: softmax over all V − 1 ids, for held-out perplexity (and training, at V·H per token);
/// - `sampledLoss`: TensorFlow's `sampled_softmax_loss` — each row's target plus K shared
///   candidates, every logit minus log Q (its expected count under the sampler), a candidate equal
///   to the row's target dropped ("accidental hit"). Cost K·H per token.
///
/// W's gradient is row-sparse (only target and candidate rows get one), so Adam moves only those
/// rows (lazily, as for the subword table) and zeroing costs the rows used, not V·H.
final class SoftmaxHead {
    let inputs: Int
    let vocab: Int
    let weight: Param
    let bias: Param
    /// Rows per full-softmax chunk: 256 × 30k logits is 30 MB.
    var chunkRows = 256

    private let logits = Buffer(), gathered = Buffer(), gatheredBias = Buffer(), dGathered = Buffer(), columnSums = Buffer()
    /// s·∂loss/∂(each row's own target logit) of the last `sampledLoss`.
    private var trueLogits: [Float] = []

    /// Init U(−1/√H, 1/√H) for W and b, as `nn.Linear(H, V)`.
    init(_ prefix: String, inputs: Int, vocab: Int, rng: inout Rng) {
        self.inputs = inputs
        self.vocab = vocab
        weight = Param(prefix + ".weight", [vocab, inputs], rowSparse: true)
        bias = Param(prefix + ".bias", [vocab])
        let k = 1 / Float(inputs).squareRoot()
        for i in 0..<weight.count { weight.value[i] = rng.uniform(-k, k) }
        for i in 0..<vocab { bias.value[i] = rng.uniform(-k, k) }
    }

    var parameters: [Param] { [weight, bias] }

    /// Σ over rows of −log softmax(x_i·Wᵀ + b)[targets_i] over ids 1..<V, accumulated in Double.
    /// With `gradScale` s, adds s·∂/∂W, s·∂/∂b to the gradients and writes s·∂/∂x into `dx` [n × H]
    /// (overwrites). `x` [n × H]; targets in 1..<V.
    func fullLoss(
        _ x: UnsafePointer<Float>, rows n: Int, targets: UnsafePointer<Int32>, gradScale: Float?, dx: UnsafeMutablePointer<Float>?
    ) -> Double {
        let H = inputs, C = vocab - 1
        let w1 = UnsafePointer(weight.value + H), b1 = bias.value + 1
        var total = 0.0
        if gradScale != nil, let touched = weight.touchedRows { for r in 1..<vocab { touched.mark(r) } }
        var start = 0
        while start < n {
            let m = min(chunkRows, n - start)
            let z = logits.reserve(m * C), xc = x + start * H
            for i in 0..<m { (z + i * C).update(from: b1, count: C) }
            BLAS.gemm(false, true, m, C, H, 1, xc, H, w1, H, 1, z, C)
            for i in 0..<m {
                let y = Int(targets[start + i]) - 1
                precondition(y >= 0 && y < C, "target \(y + 1) out of 1..<\(vocab)")
                total += softmaxRow(z + i * C, C, target: y, excluding: -1, extra: nil, gradScale: gradScale).nll
            }
            if gradScale != nil {
                // z now holds s·(p − onehot): dW₁ += dzᵀ·x, db₁ += Σ dz, dx = dz·W₁.
                BLAS.gemm(true, false, C, H, m, 1, z, C, xc, H, 1, weight.grad + H, H)
                for i in 0..<m {
                    let row = z + i * C
                    for c in 0..<C { bias.grad[c + 1] += row[c] }
                }
                if let dx { BLAS.gemm(false, false, m, H, C, 1, z, C, w1, H, 0, dx + start * H, H) }
            }
            start += m
        }
        return total
    }

    /// Σ over rows of the sampled softmax loss against `candidates` (see the type's comment), in
    /// Double; gradients as `fullLoss`, touching only the target and candidate rows.
    func sampledLoss(
        _ x: UnsafePointer<Float>, rows n: Int, targets: UnsafePointer<Int32>, candidates: SampledCandidates,
        sampler: LogUniformSampler, gradScale: Float?, dx: UnsafeMutablePointer<Float>?
    ) -> Double {
        let H = inputs, K = candidates.ids.count
        precondition(sampler.vocabSize == vocab, "sampler over \(sampler.vocabSize) ids for a head over \(vocab)")
        let W = weight.value, b = bias.value
        // Candidate rows and their bias − log Q, gathered once for the batch.
        let wc = gathered.reserve(K * H), bc = gatheredBias.reserve(K)
        for (k, id) in candidates.ids.enumerated() {
            let v = Int(id)
            precondition(v >= 1 && v < vocab, "candidate \(v) out of 1..<\(vocab)")
            (wc + k * H).update(from: W + v * H, count: H)
            bc[k] = b[v] - sampler.logExpectedCount(v, tries: candidates.tries)
        }
        let z = logits.reserve(n * K)
        for i in 0..<n { (z + i * K).update(from: bc, count: K) }
        BLAS.gemm(false, true, n, K, H, 1, x, H, wc, H, 1, z, K)
        trueLogits.removeAll(keepingCapacity: true)
        var total = 0.0
        for i in 0..<n {
            let y = Int(targets[i])
            precondition(y >= 1 && y < vocab, "target \(y) out of 1..<\(vocab)")
            let zt = BLAS.dot(H, x + i * H, W + y * H) + b[y] - sampler.logExpectedCount(y, tries: candidates.tries)
            let hit = binarySearch(candidates.ids, Int32(y))
            let (nll, dTrue) = softmaxRow(z + i * K, K, target: -1, excluding: hit, extra: zt, gradScale: gradScale)
            total += nll
            trueLogits.append(dTrue)
        }
        guard gradScale != nil else { return total }
        let touched = weight.touchedRows!
        // Candidates: dWc = dzᵀ·x scattered to their rows, db_c = Σ_i dz_ic, dx = dz·Wc.
        let dwc = dGathered.reserve(K * H)
        BLAS.gemm(true, false, K, H, n, 1, z, K, x, H, 0, dwc, H)
        // Column sums of dz, row by row: each column still adds its rows in order (the same
        // bits as summing it alone), but the additions run across columns in vectors.
        let sums = columnSums.zeroed(K)
        for i in 0..<n {
            let row = z + i * K
            for k in 0..<K { sums[k] = sums[k] + row[k] }
        }
        for (k, id) in candidates.ids.enumerated() {
            let v = Int(id)
            touched.mark(v)
            let dst = weight.grad + v * H, src = dwc + k * H
            for j in 0..<H { dst[j] = dst[j] + src[j] }
            bias.grad[v] += sums[k]
        }
        if let dx { BLAS.gemm(false, false, n, H, K, 1, z, K, wc, H, 0, dx, H) }
        // Targets: dW_y += d·x_i, db_y += d, dx_i += d·W_y.
        for i in 0..<n {
            let y = Int(targets[i]), d = trueLogits[i]
            touched.mark(y)
            let xi = x + i * H, wy = W + y * H, gy = weight.grad + y * H
            for j in 0..<H { gy[j] = gy[j] + d * xi[j] }
            bias.grad[y] += d
            if let dx {
                let di = dx + i * H
                for j in 0..<H { di[j] = di[j] + d * wy[j] }
            }
        }
        return total
    }

    /// −log softmax of one row of logits `z` [count] at entry `target`, or at the extra logit
    /// `extra` (a sampled row's own target) when given, leaving out entry `excluding` (an
    /// accidental hit, or −1); Σ exp in Double. With `gradScale` s, overwrites z with s·(p − onehot)
    /// (0 at the excluded entry) and returns the extra logit's s·(p − 1).
    private func softmaxRow(
        _ z: UnsafeMutablePointer<Float>, _ count: Int, target: Int, excluding: Int, extra: Float?, gradScale: Float?
    ) -> (nll: Double, dExtra: Float) {
        if excluding >= 0 { z[excluding] = -.infinity }
        let picked = extra ?? z[target]
        // The maximum in 8 lanes: the same value in any order.
        var lanes = F8(repeating: extra ?? -Float.infinity)
        var c = 0
        while c + 8 <= count {
            let v = load8(z + c)
            lanes.replace(with: v, where: v .> lanes)
            c += 8
        }
        var m = lanes.max()
        while c < count {
            m = max(m, z[c])
            c += 1
        }
        // e_c = exp(z_c − m) in place. fastExp clamps its input, so the excluded entry is zeroed after.
        var k = 0
        let mv = F8(repeating: m)
        while k + 8 <= count {
            store8(fastExp8(load8(z + k) - mv), z + k)
            k += 8
        }
        while k < count {
            z[k] = fastExp(z[k] - m)
            k += 1
        }
        if excluding >= 0 { z[excluding] = 0 }
        let eExtra = extra.map { fastExp($0 - m) } ?? 0
        var s = Double(eExtra)
        for c in 0..<count { s += Double(z[c]) }
        let nll = Double(m) + Foundation.log(s) - Double(picked)
        guard let scale = gradScale else { return (nll, 0) }
        let inv = 1 / s
        for c in 0..<count { z[c] = scale * Float(Double(z[c]) * inv) }
        if extra == nil { z[target] = z[target] - scale }
        return (nll, extra == nil ? 0 : scale * Float(Double(eExtra) * inv) - scale)
    }

    private func binarySearch(_ a: [Int32], _ v: Int32) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < a.count && a[lo] == v ? lo : -1
    }
}
