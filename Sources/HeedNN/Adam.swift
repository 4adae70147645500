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

    public init(parameters: [Param], lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0) {
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
        for (i, p) in parameters.enumerated() {
            let mm = m[i], vv = v[i], x = p.value, g = p.grad
            for k in 0..<p.count {
                var gk = g[k]
                if wd != 0 { gk = gk + wd * x[k] }
                let mk = b1 * mm[k] + w1 * gk
                let vk = b2 * vv[k] + w2 * gk * gk
                mm[k] = mk
                vv[k] = vk
                let denom = vk.squareRoot() / bc2Sqrt + e
                x[k] = x[k] - stepSize * (mk / denom)
            }
        }
    }

    /// Optimizer state for resumable training: step count and both moments per parameter
    /// (same order as `parameters`).
    public struct State: Codable, Sendable, Equatable {
        public var steps: Int
        public var m: [[Float]]
        public var v: [[Float]]
    }

    public var state: State {
        State(steps: steps,
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
    var sq = 0.0
    for p in parameters {
        var s = 0.0
        for k in 0..<p.count { s += Double(p.grad[k]) * Double(p.grad[k]) }
        sq += s
    }
    let total = Float(sq.squareRoot())
    let coef = maxNorm / (total + 1e-6)
    if coef < 1 {
        for p in parameters {
            for k in 0..<p.count { p.grad[k] = p.grad[k] * coef }
        }
    }
    return total
}
