/// A token's subword buckets, for a sequence or a batch: token `i` owns
/// `buckets[ends[i-1]..<ends[i]]` (from 0 for the first). Positions without subwords (padding,
/// tokens shorter than the smallest n-gram) own none.
public struct PieceLists: Sendable, Hashable {
    /// End offset into `buckets` of each token's list.
    public var ends: [Int32]
    /// Bucket ids, token after token.
    public var buckets: [Int32]

    /// Lists for no tokens yet.
    public init() {
        ends = []
        buckets = []
    }

    /// Lists from end offsets and bucket ids.
    public init(ends: [Int32], buckets: [Int32]) {
        precondition(ends.last.map { Int($0) == buckets.count } ?? buckets.isEmpty, "piece ends must finish at the bucket count")
        self.ends = ends
        self.buckets = buckets
    }

    /// Tokens described.
    public var count: Int { ends.count }

    /// Bucket range of token `i`.
    @inline(__always)
    public func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i]) }

    /// Appends a token owning `pieces`.
    public mutating func append<C: Collection>(_ pieces: C) where C.Element == Int32 {
        buckets.append(contentsOf: pieces)
        ends.append(Int32(buckets.count))
    }

    /// Appends `count` tokens owning nothing (padding).
    public mutating func appendEmpty(_ count: Int) {
        ends.append(contentsOf: repeatElement(Int32(buckets.count), count: count))
    }

    /// The lists of tokens `indices`, in that order.
    public func selecting<S: Sequence>(_ indices: S) -> PieceLists where S.Element == Int {
        var out = PieceLists()
        for i in indices { out.append(buckets[range(i)]) }
        return out
    }
}

/// `nn.Embedding(V, E, padding_idx: 0)`, optionally plus `nn.EmbeddingBag(buckets, E,
/// mode: "mean")` over each token's subword buckets: a token's vector is its word row plus the
/// mean of its buckets' rows, so a word outside the vocabulary (`<unk>`'s row) still carries its
/// pieces. Row 0 is zero and never receives gradient. Word rows start N(0, std²) (PyTorch: std 1);
/// bucket rows start at zero, so a bucket no training token hashed to adds nothing.
/// Backward accumulates only into the rows that were looked up; the bucket table's gradient is
/// row-sparse (`Param.touchedRows`), so its cost follows the rows used, not the bucket count.
///
/// Either table may instead be int8 or 4-bit (`QuantizedTable`, a model written by `heed quantize`): the
/// lookup then dequantises each gathered row on the fly, and the layer holds no float copy and no
/// gradient of that table (a quantised model is for inference; gradients with respect to the
/// input vectors, as explanations need, do not touch the table).
final class Embedding {
    let vocab: Int
    let dim: Int
    /// The float word table (nil when it is quantised).
    let words: Param?
    /// The float bucket table (nil without subwords or when it is quantised).
    let subwords: Param?
    /// The int8 or 4-bit word table of a quantised model.
    let quantizedWords: QuantizedTable?
    /// The int8 or 4-bit bucket table of a quantised model with subwords.
    let quantizedSubwords: QuantizedTable?
    /// Rows of the bucket table, nil without subwords.
    let bucketRows: Int?
    /// The float word table; only float models' training paths use it.
    var weight: Param {
        guard let words else { preconditionFailure("the word table is quantised; float-weight paths need a float model") }
        return words
    }
    /// The float tables, as parameters.
    var parameters: [Param] { (words.map { [$0] } ?? []) + (subwords.map { [$0] } ?? []) }
    /// Output rows [n × E], valid after `forward`.
    let out = Buffer()
    private var ids: [Int32] = []
    private var pieces = PieceLists()

    init(vocab: Int, dim: Int, buckets: Int? = nil, std: Float = 1, rng: inout Rng) {
        self.vocab = vocab
        self.dim = dim
        let weight = Param("embedding.weight", [vocab, dim], tracksRows: true)
        for i in 0..<(vocab * dim) { weight.value[i] = std == 1 ? rng.normal() : rng.normal() * std }
        weight.value.update(repeating: 0, count: dim)
        words = weight
        subwords = buckets.map { Param("subwords.weight", [$0, dim], rowSparse: true) }
        quantizedWords = nil
        quantizedSubwords = nil
        bucketRows = buckets
    }

    /// A layer over quantised tables (`words` [vocab × dim], `subwords` [buckets × dim]).
    init(quantizedWords q: QuantizedTable, quantizedSubwords qs: QuantizedTable?) {
        precondition(qs == nil || qs!.dim == q.dim, "subword table width \(qs!.dim) differs from the word table's \(q.dim)")
        vocab = q.rows
        dim = q.dim
        words = nil
        subwords = nil
        quantizedWords = q
        quantizedSubwords = qs
        bucketRows = qs?.rows
    }

    /// Whether a table is quantised.
    var isQuantized: Bool { quantizedWords != nil }

    /// Overwrites rows with pretrained vectors (`row ≥ 1`; row 0 stays the zero padding row).
    func loadPretrained(rows: [(index: Int, vector: [Float])]) {
        for (index, vector) in rows {
            precondition(index >= 1 && index < vocab, "pretrained row \(index) out of 1..<\(vocab)")
            precondition(vector.count == dim, "pretrained row \(index) has \(vector.count) values, expected \(dim)")
            vector.withUnsafeBufferPointer { (weight.value + index * dim).update(from: $0.baseAddress!, count: dim) }
        }
    }

    /// Gathers rows for `ids` into `out` ([n × E]), adding each token's mean bucket row when the
    /// layer has subwords and `pieces` (one list per id) are given.
    func forward(ids newIds: [Int32], pieces newPieces: PieceLists? = nil) {
        ids.removeAll(keepingCapacity: true)
        ids.append(contentsOf: newIds)
        if let newPieces {
            precondition(bucketRows != nil, "subword pieces given to a model without a subword table")
            precondition(newPieces.count == newIds.count, "need one piece list per token")
            pieces = newPieces
        } else {
            pieces = PieceLists()
        }
        let o = out.reserve(ids.count * dim)
        for r in 0..<ids.count { vector(into: o + r * dim, token: r) }
    }

    /// Token `r`'s input vector from the last `forward`'s ids and pieces, written to `dst`.
    private func vector(into dst: UnsafeMutablePointer<Float>, token r: Int) {
        let E = dim, v = Int(ids[r])
        precondition(v >= 0 && v < vocab, "token id \(v) out of 0..<\(vocab)")
        if let q = quantizedWords { q.copyRow(v, into: dst) } else { dst.update(from: weight.value + v * E, count: E) }
        guard let rows = bucketRows, !pieces.ends.isEmpty else { return }
        let range = pieces.range(r)
        guard !range.isEmpty else { return }
        let scale = 1 / Float(range.count)
        // Sum the bucket rows first, then scale once: EmbeddingBag's mean.
        let acc = scratch.reserve(E)
        let first = Int(pieces.buckets[range.lowerBound])
        precondition(first >= 0 && first < rows, "subword bucket \(first) out of 0..<\(rows)")
        if let q = quantizedSubwords { q.copyRow(first, into: acc) } else { acc.update(from: subwords!.value + first * E, count: E) }
        for b in range.dropFirst() {
            let bucket = Int(pieces.buckets[b])
            precondition(bucket >= 0 && bucket < rows, "subword bucket \(bucket) out of 0..<\(rows)")
            if let q = quantizedSubwords {
                q.addRow(bucket, into: acc)
            } else {
                let src = subwords!.value + bucket * E
                for k in 0..<E { acc[k] += src[k] }
            }
        }
        for k in 0..<E { dst[k] = dst[k] + acc[k] * scale }
    }
    private let scratch = Buffer()

    /// The input vectors of `ids` (with `pieces`), [n × E], without touching the layer's state.
    func vectors(ids: [Int32], pieces: PieceLists?) -> [Float] {
        let saved = (self.ids, self.pieces)
        defer { (self.ids, self.pieces) = saved }
        self.ids = ids
        self.pieces = pieces ?? PieceLists()
        var out = [Float](repeating: 0, count: ids.count * dim)
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<ids.count { vector(into: o.baseAddress! + r * dim, token: r) }
        }
        return out
    }

    /// Scatter-adds `dOut` ([n × E]) into the looked-up rows, skipping the padding row; each
    /// bucket of a token with k pieces receives 1/k of its row.
    func backward(dOut: UnsafePointer<Float>) {
        precondition(!isQuantized, "a quantised embedding has no gradient")
        let E = dim
        let g = weight.grad, rows = weight.touchedRows!
        ids.withUnsafeBufferPointer { id in
            for r in 0..<id.count {
                let v = Int(id[r])
                if v == 0 { continue }
                rows.mark(v)
                let dst = g + v * E, src = dOut + r * E
                for k in 0..<E { dst[k] += src[k] }
            }
        }
        guard let table = subwords, !pieces.ends.isEmpty, let touched = table.touchedRows else { return }
        let sg = table.grad
        for r in 0..<ids.count {
            let range = pieces.range(r)
            guard !range.isEmpty else { continue }
            let scale = 1 / Float(range.count), src = dOut + r * E
            for b in range {
                let bucket = Int(pieces.buckets[b])
                touched.mark(bucket)
                let dst = sg + bucket * E
                for k in 0..<E { dst[k] = dst[k] + src[k] * scale }
            }
        }
    }
}
