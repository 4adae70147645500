import CHeedKernels
import Foundation

/// Attention pooling over time with padded positions masked out (weight exactly 0).
/// - `linear`: score_t = w·h_t + b (`attention.score`, nn.Linear(D, 1)).
/// - `additive`: score_t = v·tanh(W h_t + b) (`attention.proj` nn.Linear(D, A),
///   `attention.context` nn.Linear(A, 1, bias: false)).
/// Softmax runs per sequence over its real positions; context = Σ_t a_t h_t.
final class Attention {
    enum Scorer { case linear, additive }

    let dim: Int
    let scorer: Scorer
    let attentionDim: Int
    let score: Linear?  // linear scorer
    let proj: Linear?  // additive scorer
    let context: Param?  // additive scorer, [1 × A]

    /// Weights per packed row [P]; valid after `forward`.
    let weights = Buffer()
    /// Context vectors [B × D] (sorted order); valid after `forward`.
    let ctx = Buffer()
    /// Gradient w.r.t. the input rows [P × D]; valid after `backward`.
    let dh = Buffer()
    private let scores = Buffer(), dScores = Buffer(), seqMax = Buffer(), seqSum = Buffer(), groupRows = Buffer(), groupScores = Buffer()
    private var h: UnsafePointer<Float>?

    /// `prefix` names the parameters (`attention` in `Classifier`; a hierarchical model has two).
    init(dim: Int, scorer: Scorer, attentionDim: Int, prefix: String = "attention", rng: inout Rng) {
        self.dim = dim
        self.scorer = scorer
        self.attentionDim = attentionDim
        switch scorer {
        case .linear:
            score = Linear(prefix + ".score", inputs: dim, outputs: 1, rng: &rng)
            proj = nil
            context = nil
        case .additive:
            score = nil
            proj = Linear(prefix + ".proj", inputs: dim, outputs: attentionDim, rng: &rng)
            let v = Linear(prefix + ".context", inputs: attentionDim, outputs: 1, bias: false, rng: &rng)
            context = v.weight
        }
    }

    var parameters: [Param] {
        switch scorer {
        case .linear: return score!.parameters
        case .additive: return proj!.parameters + [context!]
        }
    }

    /// `h` [P × D] packed rows; must stay valid until `backward`.
    ///
    /// `groups` (a batch of several documents' scaled copies): each group's rows, sorted sequences
    /// `first..<first + count` all of `length`, get their scores from a GEMV of their own over
    /// their rows in the order a batch of the group alone packs them. A GEMV's result for a row
    /// depends on the row's place in the call (OpenBLAS computes the last rows by other code), so
    /// this is what keeps each document's scores those it gets alone.
    func forward(_ h: UnsafePointer<Float>, _ pk: Packing, groups: [(first: Int, count: Int, length: Int)]? = nil) {
        self.h = h
        let P = pk.total, D = dim, B = pk.batch
        let s = scores.reserve(P)
        func project(_ rows: UnsafePointer<Float>, width: Int, _ v: UnsafePointer<Float>) {
            guard let groups else { return BLAS.gemv(false, P, width, 1, rows, width, v, 0, s) }
            for g in groups {
                let n = g.count * g.length
                let gathered = groupRows.reserve(n * width), out = groupScores.reserve(n)
                for t in 0..<g.length {
                    for j in 0..<g.count { (gathered + (t * g.count + j) * width).update(from: rows + pk.row(g.first + j, t) * width, count: width) }
                }
                BLAS.gemv(false, n, width, 1, gathered, width, v, 0, out)
                for t in 0..<g.length {
                    for j in 0..<g.count { s[pk.row(g.first + j, t)] = out[t * g.count + j] }
                }
            }
        }
        switch scorer {
        case .linear:
            let lin = score!
            project(h, width: D, lin.weight.value)
            let b = lin.bias!.value[0]
            for r in 0..<P { s[r] += b }
        case .additive:
            let pr = proj!, A = attentionDim
            pr.forward(h, rows: P)
            let u = pr.out.ptr
            heed_tanh_in_place(u, P * A)  // CHeedKernels: vectors as wide as the CPU has
            project(u, width: A, context!.value)
        }
        let a = weights.reserve(P)
        let mx = seqMax.reserve(B), sm = seqSum.zeroed(B)
        for j in 0..<B { mx[j] = -.infinity }
        let c = ctx.zeroed(B * D)
        pk.batchSizes.withUnsafeBufferPointer { bsz in
            pk.offsets.withUnsafeBufferPointer { off in
                for t in 0..<pk.steps {
                    for j in 0..<bsz[t] { mx[j] = max(mx[j], s[off[t] + j]) }
                }
                for t in 0..<pk.steps {
                    for j in 0..<bsz[t] {
                        let e = fastExp(s[off[t] + j] - mx[j])
                        a[off[t] + j] = e
                        sm[j] += e
                    }
                }
                for t in 0..<pk.steps {
                    for j in 0..<bsz[t] {
                        let r = off[t] + j
                        a[r] = a[r] / sm[j]
                        let w = a[r], src = h + r * D, dst = c + j * D
                        for k in 0..<D { dst[k] += w * src[k] }
                    }
                }
            }
        }
    }

    /// `dctx` [B × D]; accumulates parameter gradients (unless `parameterGradients` is false) and
    /// writes `dh` [P × D].
    func backward(_ dctx: UnsafePointer<Float>, _ pk: Packing, parameterGradients: Bool = true) {
        guard let h else { preconditionFailure("Attention.backward before forward") }
        let P = pk.total, D = dim, B = pk.batch
        let a = weights.ptr
        let ds = dScores.reserve(P)
        let dot = seqSum.zeroed(B)
        let g = dh.reserve(P * D)
        pk.batchSizes.withUnsafeBufferPointer { bsz in
            pk.offsets.withUnsafeBufferPointer { off in
                for t in 0..<pk.steps {
                    for j in 0..<bsz[t] {
                        let r = off[t] + j
                        let da = BLAS.dot(D, dctx + j * D, h + r * D)
                        ds[r] = da
                        dot[j] += a[r] * da
                        let dst = g + r * D, src = dctx + j * D, w = a[r]
                        for k in 0..<D { dst[k] = w * src[k] }
                    }
                }
                for t in 0..<pk.steps {
                    for j in 0..<bsz[t] {
                        let r = off[t] + j
                        ds[r] = a[r] * (ds[r] - dot[j])
                    }
                }
            }
        }
        switch scorer {
        case .linear:
            let lin = score!
            if parameterGradients {
                BLAS.gemv(true, P, D, 1, h, D, ds, 1, lin.weight.grad)
                var sum: Float = 0
                for r in 0..<P { sum += ds[r] }
                lin.bias!.grad[0] += sum
            }
            BLAS.gemm(false, false, P, D, 1, 1, ds, 1, lin.weight.value, D, 1, g, D)
        case .additive:
            let pr = proj!, A = attentionDim, v = context!
            let u = pr.out.ptr
            if parameterGradients { BLAS.gemv(true, P, A, 1, u, A, ds, 1, v.grad) }
            // The score gradient overwrites tanh(W h + b) in place (each value is read just before).
            let z = u
            for r in 0..<P {
                let ur = u + r * A, zr = z + r * A, d = ds[r]
                for k in 0..<A { zr[k] = d * v.value[k] * (1 - ur[k] * ur[k]) }
            }
            if parameterGradients {
                BLAS.gemm(true, false, A, D, P, 1, z, A, h, D, 1, pr.weight.grad, D)
                let bg = pr.bias!.grad
                for r in 0..<P {
                    let zr = z + r * A
                    for k in 0..<A { bg[k] += zr[k] }
                }
            }
            BLAS.gemm(false, false, P, D, A, 1, z, A, pr.weight.value, D, 1, g, D)
        }
    }
}
