/// `torch.optim.Adam` (non-amsgrad) with PyTorch defaults. Weight decay is the L2 form:
/// g ← g + weightDecay·θ before the moment updates (not AdamW).
public final class Adam {
    public let parameters: [Param]
    public var lr: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// Number of steps taken so far.
    public private(set) var steps = 0
    private var m: [UnsafeMutablePointer<Float>]
    private var v: [UnsafeMutablePointer<Float>]

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
        m = parameters.map { p in
            let b = UnsafeMutablePointer<Float>.allocate(capacity: max(p.count, 1))
            b.initialize(repeating: 0, count: max(p.count, 1))
            return b
        }
        v = parameters.map { p in
            let b = UnsafeMutablePointer<Float>.allocate(capacity: max(p.count, 1))
            b.initialize(repeating: 0, count: max(p.count, 1))
            return b
        }
    }

    deinit {
        m.forEach { $0.deallocate() }
        v.forEach { $0.deallocate() }
    }

    /// One update of every parameter from its current gradient.
    public func step() {
        steps += 1
        let t = Double(steps)
        let bc1 = 1 - pow(Double(beta1), t)
        let bc2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(lr) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        let b1 = beta1, b2 = beta2, w1 = 1 - beta1, w2 = 1 - beta2, wd = weightDecay, e = eps
        let tensors = parameters.map { ($0.value, UnsafePointer($0.grad)) }
        let m = m, v = v
        parallelSegments(parameters.map(\.count)) { i, r in
            let (x, g) = tensors[i]
            Adam.update(
                count: r.count, x: x + r.lowerBound, g: g + r.lowerBound, m: m[i] + r.lowerBound,
                v: v[i] + r.lowerBound, b1: b1, w1: w1, b2: b2, w2: w2, wd: wd,
                stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: e)
        }
    }

    /// The elementwise update; branch-free per element so it vectorizes.
    @inline(never)
    static func update(
        count: Int, x: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
        m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        b1: Float, w1: Float, b2: Float, w2: Float, wd: Float,
        stepSize: Float, bc2Sqrt: Float, eps: Float
    ) {
        var k = 0
        let vb1 = F8(repeating: b1), vw1 = F8(repeating: w1), vb2 = F8(repeating: b2), vw2 = F8(repeating: w2)
        let vwd = F8(repeating: wd), vss = F8(repeating: stepSize), vbc = F8(repeating: bc2Sqrt), veps = F8(repeating: eps)
        while k + 8 <= count {
            let xk = load8(x + k)
            let gk = wd == 0 ? load8(g + k) : load8(g + k) + vwd * xk
            let mk = vb1 * load8(m + k) + vw1 * gk
            let vk = vb2 * load8(v + k) + vw2 * gk * gk
            store8(mk, m + k)
            store8(vk, v + k)
            let denom = vk.squareRoot() / vbc + veps
            store8(xk - vss * (mk / denom), x + k)
            k += 8
        }
        while k < count {
            defer { k += 1 }
            let gk = wd == 0 ? g[k] : g[k] + wd * x[k]
            let mk = b1 * m[k] + w1 * gk
            let vk = b2 * v[k] + w2 * gk * gk
            m[k] = mk
            v[k] = vk
            let denom = vk.squareRoot() / bc2Sqrt + eps
            x[k] = x[k] - stepSize * (mk / denom)
        }
    }

    /// Optimizer state for resumable training: step count and both moments per parameter
    /// (same order as `parameters`).
    public struct State: Codable, Sendable, Equatable {
        public var steps: Int
        public var m: [[Float]]
        public var v: [[Float]]

        /// A saved state, e.g. from a training checkpoint.
        public init(steps: Int, m: [[Float]], v: [[Float]]) {
            self.steps = steps
            self.m = m
            self.v = v
        }
    }

    /// The moments of parameter `i`, for writing them without a copy (valid while the optimizer lives).
    public func moments(_ i: Int) -> (m: UnsafePointer<Float>, v: UnsafePointer<Float>) { (UnsafePointer(m[i]), UnsafePointer(v[i])) }

    public var state: State {
        State(
            steps: steps,
            m: zip(m, parameters).map { Array(UnsafeBufferPointer(start: $0, count: $1.count)) },
            v: zip(v, parameters).map { Array(UnsafeBufferPointer(start: $0, count: $1.count)) })
    }

    public func restore(_ s: State) {
        precondition(s.m.count == parameters.count && s.v.count == parameters.count, "Adam state does not match parameters")
        steps = s.steps
        for (i, p) in parameters.enumerated() {
            precondition(s.m[i].count == p.count && s.v[i].count == p.count, "Adam state does not match \(p.name)")
            s.m[i].withUnsafeBufferPointer { m[i].update(from: $0.baseAddress!, count: p.count) }
            s.v[i].withUnsafeBufferPointer { v[i].update(from: $0.baseAddress!, count: p.count) }
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
    let sq = sumOfSquares(parameters.map { (UnsafePointer($0.grad), $0.count) })
    let total = Float(sq.squareRoot())
    let coef = maxNorm / (total + 1e-6)
    if coef < 1 {
        let grads = parameters.map(\.grad)
        parallelSegments(parameters.map(\.count)) { i, r in
            let g = grads[i]
            for k in r { g[k] = g[k] * coef }
        }
    }
    return total
}
