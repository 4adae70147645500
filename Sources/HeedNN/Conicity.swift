/// Conicity (Mohankumar et al., ACL 2020): the mean cosine between each of a document's encoder
/// states and the states' mean. Near 1 the states point one way, so any weighting of them gives
/// about the same context vector and attention cannot matter much to the output; lower values
/// leave attention room to be faithful. Reported for every model, and penalised by the diversity
/// encoder.
public enum Conicity {
    /// One document's conicity from its `length` states, row-major [length × dim] starting at
    /// `states`. Summed in Double so the figure does not depend on the summation order a BLAS
    /// kernel picks for the states themselves. A zero state, or a zero mean, counts as cosine 0.
    public static func of(_ states: UnsafePointer<Float>, length: Int, dim: Int) -> Double {
        precondition(length >= 1 && dim >= 1, "conicity needs at least one state of positive width")
        var mean = [Double](repeating: 0, count: dim)
        for t in 0..<length {
            let row = states + t * dim
            for k in 0..<dim { mean[k] += Double(row[k]) }
        }
        var meanNorm: Double = 0
        for k in 0..<dim {
            mean[k] /= Double(length)
            meanNorm += mean[k] * mean[k]
        }
        meanNorm = meanNorm.squareRoot()
        if meanNorm == 0 { return 0 }
        var total: Double = 0
        for t in 0..<length {
            let row = states + t * dim
            var dot: Double = 0, norm: Double = 0
            for k in 0..<dim {
                let v = Double(row[k])
                dot += v * mean[k]
                norm += v * v
            }
            if norm > 0 { total += dot / (norm.squareRoot() * meanNorm) }
        }
        return total / Double(length)
    }

    /// Per-document conicity of `states` [batch × steps × dim] (the layout of
    /// `Classifier.encoderStates()`), each over its first `lengths[b]` states.
    public static func perDocument(_ states: [Float], lengths: [Int], steps: Int, dim: Int) -> [Double] {
        precondition(states.count == lengths.count * steps * dim, "states must hold batch × steps × dim values")
        return states.withUnsafeBufferPointer { s in
            lengths.enumerated().map { b, length in of(s.baseAddress! + b * steps * dim, length: length, dim: dim) }
        }
    }
}

/// The diversity encoder's training penalty: Σ over a packed batch's documents of their
/// conicity with absolute cosines, in Float, with its gradient. For one document of L states h_t
/// (rows of the LSTM output, real tokens only), m = (1/L) Σ_t h_t and
///
///     C = (1/L) Σ_t |c_t|,  c_t = ⟨h_t, m⟩ / (ν_t μ),  ν_t = √(⟨h_t, h_t⟩ + ε),  μ = √(⟨m, m⟩ + ε).
///
/// Absolute cosines, as the reference code takes them: with signed ones the mean can be driven
/// below 0 (small states pointing against the mean of a few large ones), and training does just
/// that — a 2-epoch RT run with λ 0.5 ended with signed conicity below 0 on 166 of 300 test
/// documents. |c| is 0 exactly where the states are orthogonal to their mean, the penalty's aim.
/// Where every cosine is ≥ 0 (a plain LSTM's states) C equals `Conicity.of`, up to ε.
///
/// ε = `epsilon` = 1e-6 (squared-norm units) keeps a zero state or zero mean at cosine 0 with a
/// finite gradient, where `Conicity.of` takes a zero norm as cosine 0; for states of norm ≥ 0.1
/// the two differ by under 1e-4 relative. The gradient, with σ_t = sign(c_t) (0 at c_t = 0),
/// p_t = ⟨h_t, m⟩ and m's own gradient G_m = (1/L) Σ_t σ_t (h_t/(ν_t μ) − p_t m/(ν_t μ³)) spread
/// back through m = mean h_t:
///
///     dC/dh_t = (σ_t/L) (m/(ν_t μ) − p_t h_t/(ν_t³ μ)) + G_m / L
final class ConicityPenalty {
    /// ε of the norms (see the type's comment).
    static let epsilon: Float = 1e-6
    private let means = Buffer()  // [B × D] m of each sorted document
    private let meanNorms = Buffer()  // [B] μ
    private let dots = Buffer()  // [P] p_t
    private let norms = Buffer()  // [P] ν_t
    private let gradMean = Buffer()  // [D] scratch: G_m of one document
    private var states: UnsafePointer<Float>?
    private var width = 0

    /// Σ over the sorted documents of `pk` of their conicity; `h` [P × dim] must stay valid until
    /// `backward`.
    func forward(_ h: UnsafePointer<Float>, _ pk: Packing, dim D: Int) -> Float {
        states = h
        width = D
        let m = means.zeroed(pk.batch * D), mu = meanNorms.reserve(pk.batch)
        let p = dots.reserve(pk.total), nu = norms.reserve(pk.total)
        var total: Float = 0
        for j in 0..<pk.batch {
            let L = pk.lengths[j], mj = m + j * D
            for t in 0..<L {
                let row = h + pk.row(j, t) * D
                for k in 0..<D { mj[k] = mj[k] + row[k] }
            }
            var mm: Float = 0
            for k in 0..<D {
                mj[k] = mj[k] / Float(L)
                mm = mj[k] * mj[k] + mm
            }
            mu[j] = (mm + Self.epsilon).squareRoot()
            var cosines: Float = 0
            for t in 0..<L {
                let r = pk.row(j, t), row = h + r * D
                var dot: Float = 0, hh: Float = 0
                for k in 0..<D {
                    dot = row[k] * mj[k] + dot
                    hh = row[k] * row[k] + hh
                }
                p[r] = dot
                nu[r] = (hh + Self.epsilon).squareRoot()
                cosines += abs(dot / (nu[r] * mu[j]))
            }
            total += cosines / Float(L)
        }
        return total
    }

    /// Adds `scale` × d(Σ_documents C)/dh into `dh` [P × dim].
    func backward(scale: Float, into dh: UnsafeMutablePointer<Float>, _ pk: Packing) {
        guard let h = states else { preconditionFailure("ConicityPenalty.backward before forward") }
        let D = width, m = means.ptr, mu = meanNorms.ptr, p = dots.ptr, nu = norms.ptr
        let gm = gradMean.reserve(D)
        for j in 0..<pk.batch {
            let L = Float(pk.lengths[j]), mj = m + j * D, muj = mu[j]
            gm.update(repeating: 0, count: D)
            var beta: Float = 0
            for t in 0..<pk.lengths[j] {
                let r = pk.row(j, t), row = h + r * D
                let sigma: Float = p[r] > 0 ? 1 : p[r] < 0 ? -1 : 0
                let alpha = sigma / (nu[r] * muj)
                beta += sigma * p[r] / (nu[r] * muj * muj * muj)
                for k in 0..<D { gm[k] = alpha * row[k] + gm[k] }
            }
            // G_m / L = (Σ σ_t α_t h_t − (Σ σ_t β_t) m) / L².
            let outer = scale / (L * L)
            for k in 0..<D { gm[k] = (gm[k] - beta * mj[k]) * outer }
            for t in 0..<pk.lengths[j] {
                let r = pk.row(j, t), row = h + r * D, d = dh + r * D
                let sigma: Float = p[r] > 0 ? 1 : p[r] < 0 ? -1 : 0
                let a = sigma * scale / (L * nu[r] * muj), b = sigma * scale * p[r] / (L * nu[r] * nu[r] * nu[r] * muj)
                for k in 0..<D { d[k] = d[k] + (a * mj[k] - b * row[k] + gm[k]) }
            }
        }
    }
}
