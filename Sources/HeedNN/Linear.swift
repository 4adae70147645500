/// `nn.Linear(in, out, bias:)`: y = x Wᵀ + b, W [out × in]. Init U(-1/√in, 1/√in) for W and b.
final class Linear {
    let inputs: Int
    let outputs: Int
    let weight: Param
    let bias: Param?
    /// Output [n × out], valid after `forward`.
    let out = Buffer()
    private var x: UnsafePointer<Float>?
    private var n = 0

    init(_ prefix: String, inputs: Int, outputs: Int, bias hasBias: Bool = true, rng: inout Rng) {
        self.inputs = inputs
        self.outputs = outputs
        weight = Param(prefix + ".weight", [outputs, inputs])
        bias = hasBias ? Param(prefix + ".bias", [outputs]) : nil
        let k = 1 / Float(inputs).squareRoot()
        for i in 0..<weight.count { weight.value[i] = rng.uniform(-k, k) }
        if let b = bias { for i in 0..<outputs { b.value[i] = rng.uniform(-k, k) } }
    }

    var parameters: [Param] { bias.map { [weight, $0] } ?? [weight] }

    /// Row blocks of the last `forward` that had products of their own (nil: one product).
    private var blocks: [Range<Int>]?

    /// `x` [n × in] must stay valid until `backward`. `blocks` (covering 0..<n in order): one
    /// product per block, forward and back, each as for a batch of that block's rows alone.
    func forward(_ x: UnsafePointer<Float>, rows n: Int, blocks: [Range<Int>]? = nil) {
        self.x = x
        self.n = n
        self.blocks = blocks
        let y = out.reserve(n * outputs)
        if let b = bias { for r in 0..<n { (y + r * outputs).update(from: b.value, count: outputs) } }
        for block in blocks ?? [0..<n] {
            let r0 = block.lowerBound
            BLAS.gemm(
                false, true, block.count, outputs, inputs, 1, x + r0 * inputs, inputs, weight.value, inputs, bias == nil ? 0 : 1, y + r0 * outputs,
                outputs)
        }
    }

    /// Accumulates dW, db from `dy` [n × out] unless `parameterGradients` is false; writes dx
    /// [n × in] (overwrites) when given.
    func backward(_ dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, parameterGradients: Bool = true) {
        guard let x else { preconditionFailure("Linear.backward before forward") }
        if parameterGradients { accumulateGradients(dy, x) }
        if let dx {
            for block in blocks ?? [0..<n] {
                let r0 = block.lowerBound
                BLAS.gemm(false, false, block.count, inputs, outputs, 1, dy + r0 * outputs, outputs, weight.value, inputs, 0, dx + r0 * inputs, inputs)
            }
        }
    }

    private func accumulateGradients(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>) {
        BLAS.gemm(true, false, outputs, inputs, n, 1, dy, outputs, x, inputs, 1, weight.grad, inputs)
        if let b = bias {
            for r in 0..<n {
                let row = dy + r * outputs
                for k in 0..<outputs { b.grad[k] += row[k] }
            }
        }
    }
}
