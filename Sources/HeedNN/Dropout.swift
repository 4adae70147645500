/// Inverted dropout: in training each element is zeroed with probability p and the rest scaled
/// by 1/(1-p); identity at inference or when p == 0. The mask comes from the model's `Rng`.
final class Dropout {
    let p: Float
    private let mask = Buffer()
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
        let m = mask.reserve(n)
        let scale = 1 / (1 - p)
        for i in 0..<n {
            m[i] = rng.uniform() < p ? 0 : scale
            x[i] = x[i] * m[i]
        }
    }

    /// Applies the saved mask in place to the incoming gradient.
    func backward(_ dx: UnsafeMutablePointer<Float>) {
        guard active else { return }
        let m = mask.ptr
        for i in 0..<count { dx[i] = dx[i] * m[i] }
    }
}
