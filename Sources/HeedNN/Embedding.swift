/// `nn.Embedding(V, E, padding_idx: 0)`: row 0 is zero and never receives gradient.
/// Init N(0, 1) with row 0 zeroed. Backward accumulates only into the rows that were looked up.
final class Embedding {
    let vocab: Int
    let dim: Int
    let weight: Param
    /// Output rows [n × E], valid after `forward`.
    let out = Buffer()
    private var ids: [Int32] = []

    init(vocab: Int, dim: Int, rng: inout Rng) {
        self.vocab = vocab
        self.dim = dim
        weight = Param("embedding.weight", [vocab, dim])
        for i in 0..<(vocab * dim) { weight.value[i] = rng.normal() }
        weight.value.update(repeating: 0, count: dim)
    }

    /// Overwrites rows with pretrained vectors (`row ≥ 1`; row 0 stays the zero padding row).
    func loadPretrained(rows: [(index: Int, vector: [Float])]) {
        for (index, vector) in rows {
            precondition(index >= 1 && index < vocab, "pretrained row \(index) out of 1..<\(vocab)")
            precondition(vector.count == dim, "pretrained row \(index) has \(vector.count) values, expected \(dim)")
            vector.withUnsafeBufferPointer { (weight.value + index * dim).update(from: $0.baseAddress!, count: dim) }
        }
    }

    /// Gathers rows for `ids` into `out` ([n × E]).
    func forward(ids newIds: [Int32]) {
        ids.removeAll(keepingCapacity: true)
        ids.append(contentsOf: newIds)
        let n = ids.count, E = dim
        let o = out.reserve(n * E)
        let w = weight.value
        ids.withUnsafeBufferPointer { id in
            for r in 0..<n {
                let v = Int(id[r])
                precondition(v >= 0 && v < vocab, "token id \(v) out of 0..<\(vocab)")
                (o + r * E).update(from: w + v * E, count: E)
            }
        }
    }

    /// Scatter-adds `dOut` ([n × E]) into the looked-up rows, skipping the padding row.
    func backward(dOut: UnsafePointer<Float>) {
        let E = dim
        let g = weight.grad
        ids.withUnsafeBufferPointer { id in
            for r in 0..<id.count {
                let v = Int(id[r])
                if v == 0 { continue }
                let dst = g + v * E, src = dOut + r * E
                for k in 0..<E { dst[k] += src[k] }
            }
        }
    }
}
