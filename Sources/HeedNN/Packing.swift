/// Layout of a variable-length batch as PyTorch's PackedSequence: sequences sorted by length
/// (descending, stable), time-major; step `t` holds `batchSizes[t]` rows starting at
/// `offsets[t]`, row `offsets[t] + j` is sorted sequence `j` at position `t`. Only real tokens
/// are stored, so every per-step product covers active rows only.
struct Packing {
    var batch = 0
    var steps = 0
    /// Total rows = Σ lengths.
    var total = 0
    /// `order[j]` = original batch index of sorted sequence `j`.
    var order: [Int] = []
    /// Lengths in sorted order.
    var lengths: [Int] = []
    var batchSizes: [Int] = []
    var offsets: [Int] = []
    /// `reversed[r]`: packed row of the same sequence when it is read backwards
    /// (position p ↦ step len-1-p). An involution.
    var reversed: [Int] = []

    /// Rebuilds the layout in place (keeps array capacity; no allocation once grown).
    mutating func build(lengths raw: [Int], batch: Int, steps: Int) {
        precondition(raw.count == batch, "lengths must have one entry per sequence")
        self.batch = batch
        self.steps = steps
        order.removeAll(keepingCapacity: true)
        for b in 0..<batch {
            precondition(raw[b] >= 1 && raw[b] <= steps, "length \(raw[b]) of sequence \(b) not in 1...\(steps)")
            order.append(b)
        }
        // Stable sort by length, descending (insertion sort keeps it allocation-free and stable).
        if batch > 1 {
            for i in 1..<batch {
                let v = order[i]
                var k = i - 1
                while k >= 0 && raw[order[k]] < raw[v] {
                    order[k + 1] = order[k]
                    k -= 1
                }
                order[k + 1] = v
            }
        }
        lengths.removeAll(keepingCapacity: true)
        for j in 0..<batch { lengths.append(raw[order[j]]) }
        batchSizes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var off = 0
        var active = batch
        for t in 0..<steps {
            while active > 0 && lengths[active - 1] <= t { active -= 1 }
            batchSizes.append(active)
            offsets.append(off)
            off += active
        }
        total = off
        reversed.removeAll(keepingCapacity: true)
        reversed.reserveCapacity(total)
        for t in 0..<steps {
            for j in 0..<batchSizes[t] {
                let s = lengths[j] - 1 - t
                reversed.append(offsets[s] + j)
            }
        }
    }

    /// Packed row of sorted sequence `j` at position `t` (t < lengths[j]).
    @inline(__always) func row(_ j: Int, _ t: Int) -> Int { offsets[t] + j }
}
