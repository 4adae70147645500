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
        if valueOwner == nil { value.deallocate() }
        grad.deallocate()
    }

    /// Makes this Param read and write `other`'s values (same shape), keeping its own gradient:
    /// a training worker's replica then never needs its weights copied after an optimizer step.
    func shareValues(of other: Param) {
        precondition(other.shape == shape, "\(name): cannot share values of shape \(other.shape)")
        if valueOwner == nil { value.deallocate() }
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

/// Adds each replica's gradients into the matching `master` gradients, replica by replica in the
/// given order for every element, so the sum does not depend on the loop's thread count.
public func addGradients(of replicas: [[Param]], into master: [Param]) {
    let sources = master.indices.map { i in
        replicas.map { r in
            precondition(r[i].count == master[i].count, "\(master[i].name): replica gradient has \(r[i].count) values, expected \(master[i].count)")
            return UnsafePointer(r[i].grad)
        }
    }
    let grads = master.map(\.grad)
    parallelSegments(master.map(\.count)) { i, range in
        let g = grads[i]
        for s in sources[i] {
            for k in range { g[k] = g[k] + s[k] }
        }
    }
}
