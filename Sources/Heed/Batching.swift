import HeedNN
import HeedText

extension Rng: RandomNumberGenerator {}

/// A padded batch: `ids` is `[count × steps]` row-major with 0 (`<pad>`) after each length.
struct Batch: Sendable {
    var ids: [Int32]
    /// Subword buckets per position (row-major like `ids`, none at padding); nil without subwords.
    var pieces: PieceLists?
    var lengths: [Int32]
    var labels: [Int32]
    var indices: [Int]
    var steps: Int
    var count: Int { lengths.count }
    var tokens: Int { lengths.reduce(0) { $0 + Int($1) } }

    init(_ docs: [EncodedDocument], indices: [Int]) {
        self.indices = indices
        steps = indices.map { docs[$0].ids.count }.max() ?? 0
        ids = [Int32](repeating: 0, count: indices.count * steps)
        lengths = []
        labels = []
        for (row, i) in indices.enumerated() {
            let d = docs[i]
            for (t, id) in d.ids.enumerated() { ids[row * steps + t] = id }
            lengths.append(Int32(d.ids.count))
            labels.append(Int32(d.label))
        }
        if let first = indices.first, docs[first].pieces != nil {
            var p = PieceLists()
            for i in indices {
                let d = docs[i]
                d.pieces!.append(ids: d.ids, to: &p)
                p.appendEmpty(steps - d.ids.count)
            }
            pieces = p
        }
    }
}

extension HierarchicalBatch {
    /// The documents at `indices` (each with sentence lengths), in that order, with their subword
    /// buckets when they have them.
    init(_ docs: [EncodedDocument], indices: [Int]) {
        var ids: [Int32] = [], lengths: [Int] = [], counts: [Int] = []
        var pieces: PieceLists? = indices.first.flatMap { docs[$0].pieces } == nil ? nil : PieceLists()
        for i in indices {
            let d = docs[i]
            ids += d.ids
            lengths += d.sentenceLengths!
            counts.append(d.sentenceLengths!.count)
            if pieces != nil { d.pieces!.append(ids: d.ids, to: &pieces!) }
        }
        self.init(ids: ids, sentenceLengths: lengths, sentenceCounts: counts, pieces: pieces)
    }
}

/// Batches of similar lengths so padding is rare; batch order is shuffled each epoch and ties in
/// length are broken by the seeded shuffle, so the same seed gives the same batches. A
/// hierarchical model's documents are bucketed by sentence count: the sentence level packs one
/// step per sentence.
enum Bucketing {
    static func batches<G: RandomNumberGenerator>(_ docs: [EncodedDocument], size: Int, shuffle generator: inout G?) -> [[Int]] {
        var order = Array(docs.indices)
        if generator != nil { order = deterministicShuffle(order, &generator!) }
        func length(_ d: EncodedDocument) -> Int { d.sentenceLengths?.count ?? d.ids.count }
        // Stable sort by length keeps the shuffled order within each length.
        let sorted = order.enumerated().sorted { a, b in
            let la = length(docs[a.element]), lb = length(docs[b.element])
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
        var batches = stride(from: 0, to: sorted.count, by: size).map { Array(sorted[$0..<min($0 + size, sorted.count)]) }
        if generator != nil { batches = deterministicShuffle(batches, &generator!) }
        return batches
    }

    /// Fisher–Yates with our own bounded draw (the standard library's shuffle may change between
    /// Swift versions; a saved seed must keep meaning the same order).
    static func deterministicShuffle<T, G: RandomNumberGenerator>(_ items: [T], _ g: inout G) -> [T] {
        var items = items
        guard items.count > 1 else { return items }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = Int(g.next() % UInt64(i + 1))
            items.swapAt(i, j)
        }
        return items
    }
}
