import CHeedKernels

/// `torch.optim.Adam` (non-amsgrad) with PyTorch defaults. Weight decay is the L2 form:
/// g ← g + weightDecay·θ before the moment updates (not AdamW).
///
/// A row-sparse parameter (the subword table) is updated lazily, as `torch.optim.SparseAdam`
/// does: only the rows with a gradient this step move, their moments decay only when they are
/// touched, and moments exist only for rows ever touched, so memory follows the rows used.
public final class Adam {
    public let parameters: [Param]
    public var lr: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// Number of steps taken so far.
    public private(set) var steps = 0
    /// Each parameter's multiplier of `lr`: ULMFiT's discriminative rates move the lower layers,
    /// whose features are the most general, less than the head. All 1 by default.
    public var lrScale: [Float]
    /// Parameters left untouched by `step` (gradual unfreezing): neither they nor their moments
    /// move, and their own step count waits, so Adam's bias correction starts afresh when they thaw.
    public var frozen: [Bool]
    /// Steps each parameter has taken (`steps` less the steps it spent frozen): a parameter that
    /// thaws late gets the large early steps of bias correction, as fastai's per-parameter state gives.
    public private(set) var parameterSteps: [Int]
    private var m: [UnsafeMutablePointer<Float>]
    private var v: [UnsafeMutablePointer<Float>]
    /// Moments of the row-sparse parameters, by parameter index (their `m`/`v` entries are unused).
    private var lazy: [Int: LazyMoments] = [:]
    /// Dense copies of a lazy parameter's moments handed out by `moments(_:)`.
    private var materialized: [Int: (m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)] = [:]

    public init(
        parameters: [Param], lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.parameters = parameters
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        lrScale = Array(repeating: 1, count: parameters.count)
        frozen = Array(repeating: false, count: parameters.count)
        parameterSteps = Array(repeating: 0, count: parameters.count)
        func zeros(_ p: Param) -> UnsafeMutablePointer<Float> {
            let n = p.updatesLazily ? 1 : max(p.count, 1)
            let b = UnsafeMutablePointer<Float>.allocate(capacity: n)
            b.initialize(repeating: 0, count: n)
            return b
        }
        m = parameters.map(zeros)
        v = parameters.map(zeros)
        for (i, p) in parameters.enumerated() where p.updatesLazily { lazy[i] = LazyMoments(rows: p.shape[0], width: p.count / p.shape[0]) }
    }

    deinit {
        m.forEach { $0.deallocate() }
        v.forEach { $0.deallocate() }
        for (mp, vp) in materialized.values {
            mp.deallocate()
            vp.deallocate()
        }
    }

    /// One update of every parameter that is not frozen, from its current gradient.
    public func step() {
        precondition(lrScale.count == parameters.count && frozen.count == parameters.count, "Adam: one scale and one frozen flag per parameter")
        steps += 1
        for i in parameters.indices where !frozen[i] { parameterSteps[i] += 1 }
        let b1 = beta1, b2 = beta2, w1 = 1 - beta1, w2 = 1 - beta2, wd = weightDecay, e = eps
        // Bias correction per parameter; `lr` times a scale of 1 is exact, so unscaled parameters
        // that were never frozen take the very steps of a single global step count.
        let corrected = parameters.indices.map { i in
            let t = Double(parameterSteps[i])
            let bc1 = 1 - pow(Double(beta1), t)
            let bc2 = 1 - pow(Double(beta2), t)
            return (stepSize: Float(Double(lr) * Double(lrScale[i]) / bc1), bc2Sqrt: Float(bc2.squareRoot()))
        }
        let dense = parameters.indices.filter { lazy[$0] == nil && !frozen[$0] }
        let tensors = dense.map { (parameters[$0].value, UnsafePointer(parameters[$0].grad), m[$0], v[$0], corrected[$0]) }
        parallelSegments(dense.map { parameters[$0].count }) { i, r in
            let (x, g, m, v, c) = tensors[i]
            Adam.update(
                count: r.count, x: x + r.lowerBound, g: g + r.lowerBound, m: m + r.lowerBound,
                v: v + r.lowerBound, b1: b1, w1: w1, b2: b2, w2: w2, wd: wd,
                stepSize: c.stepSize, bc2Sqrt: c.bc2Sqrt, eps: e)
        }
        for (i, moments) in lazy where !frozen[i] {
            let p = parameters[i], rows = p.touchedRows!.sorted(), w = moments.width
            let slots = rows.map { moments.slot(of: Int($0)) }
            let x = p.value, g = UnsafePointer(p.grad), mm = moments.m, vv = moments.v
            let (stepSize, bc2Sqrt) = corrected[i]
            parallelChunks(rows.count, minPerThread: max(1, (1 << 15) / max(w, 1))) { range in
                for k in range {
                    let row = Int(rows[k]) * w, slot = slots[k] * w
                    Adam.update(
                        count: w, x: x + row, g: g + row, m: mm + slot, v: vv + slot, b1: b1, w1: w1, b2: b2, w2: w2, wd: wd,
                        stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: e)
                }
            }
        }
    }

    /// The parameters `step` will move: gradient clipping should measure these alone, as a
    /// frozen layer has no gradient in ULMFiT.
    public var unfrozenParameters: [Param] { parameters.indices.filter { !frozen[$0] }.map { parameters[$0] } }

    /// Rows touched so far by each lazily updated parameter's gradient (for memory reports).
    public var lazyRows: Int { lazy.values.reduce(0) { $0 + $1.used } }

    /// The elementwise update, in C (`heed_adam_update`) so it runs the CPU's widest vectors:
    /// Swift's SIMD types on the default x86-64 target split each square root and division into
    /// narrow ones, which made the update, not memory, Adam's cost. Every variant computes each
    /// element with the same IEEE operations in the same order as the Swift loop it replaced
    /// (`AdamKernelTests`), so training gives the same bits.
    @inline(__always)
    static func update(
        count: Int, x: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        b1: Float, w1: Float, b2: Float, w2: Float, wd: Float,
        stepSize: Float, bc2Sqrt: Float, eps: Float
    ) {
        let hyper: (Float, Float, Float, Float, Float, Float, Float, Float) = (b1, w1, b2, w2, wd, stepSize, bc2Sqrt, eps)
        withUnsafeBytes(of: hyper) { h in heed_adam_update(count, x, g, m, v, h.baseAddress!.assumingMemoryBound(to: Float.self)) }
    }

    /// Optimizer state for resumable training: step count and both moments per parameter
    /// (same order as `parameters`).
    public struct State: Codable, Sendable, Equatable {
        public var steps: Int
        public var m: [[Float]]
        public var v: [[Float]]
        /// Each parameter's own step count; nil (states saved before gradual unfreezing) means
        /// every parameter took all `steps`.
        public var parameterSteps: [Int]?

        /// A saved state, e.g. from a training checkpoint.
        public init(steps: Int, m: [[Float]], v: [[Float]], parameterSteps: [Int]? = nil) {
            self.steps = steps
            self.m = m
            self.v = v
            self.parameterSteps = parameterSteps
        }
    }

    /// The moments of parameter `i`, for writing them without a copy (valid while the optimizer lives).
    /// A lazily updated parameter's moments are spread out to its full shape (zero for rows never
    /// touched) into copies that live until the next call for the same parameter.
    public func moments(_ i: Int) -> (m: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        guard let moments = lazy[i] else { return (UnsafePointer(m[i]), UnsafePointer(v[i])) }
        let n = parameters[i].count
        if materialized[i] == nil { materialized[i] = (.allocate(capacity: n), .allocate(capacity: n)) }
        let (mp, vp) = materialized[i]!
        moments.spread(m: mp, v: vp)
        return (UnsafePointer(mp), UnsafePointer(vp))
    }

    public var state: State {
        var ms: [[Float]] = [], vs: [[Float]] = []
        for (i, p) in parameters.enumerated() {
            if let moments = lazy[i] {
                let d = moments.dense()
                ms.append(d.m)
                vs.append(d.v)
            } else {
                ms.append(Array(UnsafeBufferPointer(start: m[i], count: p.count)))
                vs.append(Array(UnsafeBufferPointer(start: v[i], count: p.count)))
            }
        }
        return State(steps: steps, m: ms, v: vs, parameterSteps: parameterSteps)
    }

    public func restore(_ s: State) {
        precondition(s.m.count == parameters.count && s.v.count == parameters.count, "Adam state does not match parameters")
        steps = s.steps
        precondition(s.parameterSteps.map { $0.count == parameters.count } ?? true, "Adam state does not match parameters")
        parameterSteps = s.parameterSteps ?? Array(repeating: s.steps, count: parameters.count)
        for (i, p) in parameters.enumerated() {
            precondition(s.m[i].count == p.count && s.v[i].count == p.count, "Adam state does not match \(p.name)")
            if let moments = lazy[i] {
                moments.load(m: s.m[i], v: s.v[i])
                continue
            }
            s.m[i].withUnsafeBufferPointer { m[i].update(from: $0.baseAddress!, count: p.count) }
            s.v[i].withUnsafeBufferPointer { v[i].update(from: $0.baseAddress!, count: p.count) }
        }
    }
}

/// Adam moments for the rows of a row-sparse parameter, allocated the first time a row is touched.
final class LazyMoments {
    let width: Int
    private var slots: [Int32]
    private(set) var used = 0
    private var capacity = 0
    private(set) var m = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var v = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    init(rows: Int, width: Int) {
        self.width = width
        slots = [Int32](repeating: -1, count: rows)
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// Row `row`'s slot, allocating zeroed moments for a row seen for the first time.
    func slot(of row: Int) -> Int {
        if slots[row] >= 0 { return Int(slots[row]) }
        if used == capacity { grow(to: max(1024, capacity * 2)) }
        slots[row] = Int32(used)
        (m + used * width).initialize(repeating: 0, count: width)
        (v + used * width).initialize(repeating: 0, count: width)
        used += 1
        return used - 1
    }

    private func grow(to rows: Int) {
        let nm = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
        let nv = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)
        nm.initialize(from: m, count: used * width)
        nv.initialize(from: v, count: used * width)
        m.deallocate()
        v.deallocate()
        (m, v, capacity) = (nm, nv, rows)
    }

    /// Writes both moments at full shape into `dm` and `dv`, zero for rows never touched.
    func spread(m dm: UnsafeMutablePointer<Float>, v dv: UnsafeMutablePointer<Float>) {
        for (row, slot) in slots.enumerated() {
            let to = row * width
            if slot < 0 {
                (dm + to).update(repeating: 0, count: width)
                (dv + to).update(repeating: 0, count: width)
            } else {
                (dm + to).update(from: m + Int(slot) * width, count: width)
                (dv + to).update(from: v + Int(slot) * width, count: width)
            }
        }
    }

    /// Both moments at full shape, zero for rows never touched.
    func dense() -> (m: [Float], v: [Float]) {
        var dm = [Float](repeating: 0, count: slots.count * width), dv = dm
        dm.withUnsafeMutableBufferPointer { mp in dv.withUnsafeMutableBufferPointer { vp in spread(m: mp.baseAddress!, v: vp.baseAddress!) } }
        return (dm, dv)
    }

    /// Restores from full-shape moments: rows with any nonzero moment get a slot.
    func load(m dm: [Float], v dv: [Float]) {
        slots = [Int32](repeating: -1, count: slots.count)
        used = 0
        for row in slots.indices where (0..<width).contains(where: { dm[row * width + $0] != 0 || dv[row * width + $0] != 0 }) {
            let s = slot(of: row)
            for k in 0..<width {
                m[s * width + k] = dm[row * width + k]
                v[s * width + k] = dv[row * width + k]
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `torch.nn.utils.clip_grad_norm_` (L2): scales every gradient by
/// min(1, maxNorm / (total + 1e-6)) and returns the total norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Param], maxNorm: Float) -> Float {
    // Tracked gradients contribute their touched rows only (the rest is zero): a lazily updated
    // table's rows as spans of their own, a densely updated table's rows in its dense blocks.
    let sq = sumOfSquares(
        parameters.flatMap { p -> [SquaredTensor] in
            guard let touched = p.touchedRows, !p.updatesLazily else {
                return p.gradientSpans.map { SquaredTensor(pointer: $0.pointer, count: $0.count) }
            }
            return [SquaredTensor(pointer: p.grad, count: p.count, rows: touched.sorted(), width: touched.width)]
        })
    let total = Float(sq.squareRoot())
    let coef = maxNorm / (total + 1e-6)
    if coef < 1 {
        let spans = parameters.flatMap(\.gradientSpans)
        let grads = spans.map(\.pointer)
        parallelSegments(spans.map(\.count)) { i, r in
            let g = grads[i]
            for k in r { g[k] = g[k] * coef }
        }
    }
    return total
}
