/// Inverted dropout: in training each element is zeroed with probability p and the rest scaled
/// by 1/(1-p); identity at inference or when p == 0. The mask comes from the model's `Rng`.
final class Dropout {
    let p: Float
    /// One byte per element (1 = kept): a quarter of a Float mask's memory.
    private var mask: [UInt8] = []
    private var count = 0
    private(set) var active = false

    init(p: Float) {
        precondition(p >= 0 && p < 1, "dropout must be in [0, 1)")
        self.p = p
    }

    /// Applies dropout in place to `n` values.
    func forward(_ x: UnsafeMutablePointer<Float>, count n: Int, training: Bool, rng: inout Rng) {
        active = training && p > 0
        count = n
        guard active else { return }
        if mask.count < n { mask = [UInt8](repeating: 0, count: n) }
        let p = p
        var stream = rng
        defer { rng = stream }
        // The mask first, then the mask applied as `backward` applies it: in one loop the
        // compiler branched on each random bit, mispredicted about every other element.
        mask.withUnsafeMutableBufferPointer { m in
            for i in 0..<n { m[i] = stream.uniform() >= p ? 1 : 0 }
        }
        applyMask(x)
    }

    /// Applies the saved mask in place to the incoming gradient.
    func backward(_ dx: UnsafeMutablePointer<Float>) {
        guard active else { return }
        applyMask(dx)
    }

    private func applyMask(_ dx: UnsafeMutablePointer<Float>) {
        let scale = 1 / (1 - p)
        mask.withUnsafeBufferPointer { m in
            for i in 0..<count { dx[i] = dx[i] * (m[i] != 0 ? scale : 0) }
        }
    }
}
