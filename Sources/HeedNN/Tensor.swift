/// A grow-only Float32 scratch buffer owned by a layer. `reserve` never shrinks and does not
/// preserve contents when it grows, so activations are reused across batches without
/// per-batch allocation once the largest batch has been seen.
final class Buffer {
    private(set) var ptr: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(_ count: Int = 0) {
        capacity = max(count, 1)
        ptr = .allocate(capacity: capacity)
        ptr.initialize(repeating: 0, count: capacity)
    }

    deinit { ptr.deallocate() }

    /// Makes room for `count` floats and returns the base pointer.
    @discardableResult
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            ptr.deallocate()
            // Exact growth: bucketing makes batch sizes jump, so headroom would mostly be waste.
            capacity = count
            ptr = .allocate(capacity: capacity)
            ptr.initialize(repeating: 0, count: capacity)
        }
        return ptr
    }

    /// Reserves `count` floats and sets them to zero.
    @discardableResult
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }
}

/// A named trainable tensor with its gradient, row-major Float32.
/// `name` is the PyTorch state_dict name; `shape` follows PyTorch's (e.g. `[4H, E]`).
public final class Param: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let count: Int
    /// Parameter values (owned; valid for the Param's lifetime).
    public let value: UnsafeMutablePointer<Float>
    /// Accumulated gradient (owned; valid for the Param's lifetime).
    public let grad: UnsafeMutablePointer<Float>

    init(_ name: String, _ shape: [Int]) {
        self.name = name
        self.shape = shape
        count = shape.reduce(1, *)
        value = .allocate(capacity: max(count, 1))
        value.initialize(repeating: 0, count: max(count, 1))
        grad = .allocate(capacity: max(count, 1))
        grad.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        value.deallocate()
        grad.deallocate()
    }

    /// Copy of the values; setting copies in (count must match).
    public var values: [Float] {
        get { Array(UnsafeBufferPointer(start: value, count: count)) }
        set {
            precondition(newValue.count == count, "\(name): expected \(count) values, got \(newValue.count)")
            newValue.withUnsafeBufferPointer { value.update(from: $0.baseAddress!, count: count) }
        }
    }

    /// Copy of the gradient.
    public var grads: [Float] { Array(UnsafeBufferPointer(start: grad, count: count)) }

    public func zeroGrad() { grad.update(repeating: 0, count: count) }
}

/// A saved copy of every parameter's values (the best epoch's weights while training), held in
/// buffers allocated once, so saving a new best costs a copy and no allocation.
public final class ParameterSnapshot: @unchecked Sendable {
    public let parameters: [Param]
    private let storage: [UnsafeMutablePointer<Float>]

    /// Captures the parameters' current values.
    public init(_ parameters: [Param]) {
        self.parameters = parameters
        storage = parameters.map { p in
            let s = UnsafeMutablePointer<Float>.allocate(capacity: max(p.count, 1))
            s.initialize(from: p.value, count: p.count)
            return s
        }
    }

    deinit { for s in storage { s.deallocate() } }

    public func capture() { for (s, p) in zip(storage, parameters) { s.update(from: p.value, count: p.count) } }
    public func restore() { for (s, p) in zip(storage, parameters) { p.value.update(from: s, count: p.count) } }
    /// Copies `values` (one array per parameter) in, e.g. from a checkpoint.
    public func load(_ values: [[Float]]) {
        for (i, p) in parameters.enumerated() {
            precondition(values[i].count == p.count, "\(p.name): snapshot size mismatch")
            values[i].withUnsafeBufferPointer { storage[i].update(from: $0.baseAddress!, count: p.count) }
        }
    }
    public func values(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(storage[i]) }
}

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
