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
