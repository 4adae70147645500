import Foundation

/// A named trainable tensor with its gradient, row-major Float32.
/// `name` is the PyTorch state_dict name; `shape` follows PyTorch's (e.g. `[4H, E]`).
public final class Param: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    public let count: Int
    /// Parameter values (valid for the Param's lifetime; shared with another Param after
    /// `shareValues(of:)`).
    public private(set) var value: UnsafeMutablePointer<Float>
    /// Accumulated gradient (owned; valid for the Param's lifetime).
    public let grad: UnsafeMutablePointer<Float>
    /// The Param whose values this one reads, kept alive while they are shared.
    private var valueOwner: Param?
    /// For a table's gradient, the rows holding one since the last `zeroGrad`: every other row's
    /// gradient is zero, so zeroing, the gradient norm and clipping visit only these.
    public let touchedRows: TouchedRows?
    /// Whether the optimizer, too, updates only the touched rows (lazy Adam, PyTorch's SparseAdam:
    /// the subword table). The word table tracks its rows but is updated densely, as PyTorch's
    /// Adam updates an `nn.Embedding`.
    public let updatesLazily: Bool

    /// `rowSparse`: a row-sparse gradient with lazy updates; `tracksRows`: a dense update whose
    /// gradient's nonzero rows are tracked.
    init(_ name: String, _ shape: [Int], rowSparse: Bool = false, tracksRows: Bool = false) {
        self.name = name
        self.shape = shape
        count = shape.reduce(1, *)
        updatesLazily = rowSparse
        touchedRows = rowSparse || tracksRows ? TouchedRows(rows: shape[0], width: count / max(shape[0], 1)) : nil
        value = Self.zeroedFloats(count)
        grad = Self.zeroedFloats(count)
    }

    /// `calloc`: a large block comes as fresh zero pages that are not touched until written, so a
    /// process that only predicts never faults in its gradients (16 MB with RT's word table and
    /// its replica's) and a loaded value is written once, not zeroed first.
    private static func zeroedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        guard let raw = calloc(max(count, 1), MemoryLayout<Float>.stride) else { fatalError("out of memory for \(count) floats") }
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    deinit {
        if valueOwner == nil { free(value) }
        free(grad)
    }

    /// Makes this Param read and write `other`'s values (same shape), keeping its own gradient:
    /// a training worker's replica then never needs its weights copied after an optimizer step.
    func shareValues(of other: Param) {
        precondition(other.shape == shape, "\(name): cannot share values of shape \(other.shape)")
        if valueOwner == nil { free(value) }
        value = other.value
        valueOwner = other.valueOwner ?? other
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

    public func zeroGrad() {
        guard let touched = touchedRows else { return grad.update(repeating: 0, count: count) }
        for r in touched.rows { (grad + Int(r) * touched.width).update(repeating: 0, count: touched.width) }
        touched.clear()
    }

    /// The gradient as spans that hold every nonzero value: the whole tensor, or one span per
    /// touched row in ascending order for a tracked gradient.
    public var gradientSpans: [(pointer: UnsafeMutablePointer<Float>, count: Int)] {
        guard let touched = touchedRows else { return [(grad, count)] }
        return touched.sorted().map { (grad + Int($0) * touched.width, touched.width) }
    }
}

/// The rows of a row-sparse gradient that have received a value (see `Param.touchedRows`).
public final class TouchedRows: @unchecked Sendable {
    /// Values per row.
    public let width: Int
    private var marked: [Bool]
    /// Touched rows, in the order first touched (`sorted()` puts them in ascending order).
    public private(set) var rows: [Int32] = []

    init(rows: Int, width: Int) {
        self.width = width
        marked = [Bool](repeating: false, count: rows)
    }

    @inline(__always)
    func mark(_ row: Int) {
        if !marked[row] {
            marked[row] = true
            rows.append(Int32(row))
        }
    }

    /// Whether `row` has been touched.
    public func contains(_ row: Int) -> Bool { marked[row] }

    /// The touched rows in ascending order (sorts them in place, so later calls are cheap).
    @discardableResult
    public func sorted() -> [Int32] {
        rows.sort()
        return rows
    }

    func clear() {
        for r in rows { marked[Int(r)] = false }
        rows.removeAll(keepingCapacity: true)
    }

    /// Marks every row whose values in `grad` are not all zero (after a dense allreduce).
    package func markNonzero(_ grad: UnsafePointer<Float>) {
        for r in marked.indices where !marked[r] {
            let row = grad + r * width
            if (0..<width).contains(where: { row[$0] != 0 }) { mark(r) }
        }
    }
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

/// Adds each replica's gradients into the matching `master` gradients, replica by replica in the
/// given order for every element, so the sum does not depend on the loop's thread count.
public func addGradients(of replicas: [[Param]], into master: [Param]) {
    // Row-sparse gradients: only the rows each replica touched, replica by replica.
    for (i, p) in master.enumerated() {
        guard let touched = p.touchedRows else { continue }
        for r in replicas {
            guard let theirs = r[i].touchedRows else { preconditionFailure("\(p.name): replica gradient is not row-sparse") }
            let w = theirs.width
            for row in theirs.sorted() {
                touched.mark(Int(row))
                let dst = p.grad + Int(row) * w, src = r[i].grad + Int(row) * w
                for k in 0..<w { dst[k] = dst[k] + src[k] }
            }
        }
    }
    let dense = master.indices.filter { master[$0].touchedRows == nil }
    let sources = dense.map { i in
        replicas.map { r in
            precondition(r[i].count == master[i].count, "\(master[i].name): replica gradient has \(r[i].count) values, expected \(master[i].count)")
            return UnsafePointer(r[i].grad)
        }
    }
    let grads = dense.map { master[$0].grad }
    parallelSegments(dense.map { master[$0].count }) { i, range in
        let g = grads[i]
        for s in sources[i] {
            for k in range { g[k] = g[k] + s[k] }
        }
    }
}
