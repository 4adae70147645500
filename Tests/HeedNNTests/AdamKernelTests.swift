import CHeedKernels
import Testing

@testable import HeedNN

/// Adam's elementwise update in C (`heed_adam_update`): every variant this CPU runs gives, for
/// every element, the bits of the Swift loop HeedNN ran before it (kept here as the reference):
/// the same IEEE operations in the same order, with and without weight decay, at every remainder.
@Suite struct AdamKernelTests {
    /// HeedNN's former `Adam.update`, scalar: the reference.
    static func reference(
        count: Int, x: inout [Float], g: [Float], m: inout [Float], v: inout [Float], b1: Float, w1: Float, b2: Float, w2: Float, wd: Float,
        stepSize: Float, bc2Sqrt: Float, eps: Float
    ) {
        for k in 0..<count {
            let gk = wd == 0 ? g[k] : g[k] + wd * x[k]
            let mk = b1 * m[k] + w1 * gk
            let vk = b2 * v[k] + w2 * gk * gk
            m[k] = mk
            v[k] = vk
            let denom = vk.squareRoot() / bc2Sqrt + eps
            x[k] = x[k] - stepSize * (mk / denom)
        }
    }

    @Test(arguments: [0, 1, 2])
    func variantEqualsTheReferenceBitForBit(variant: Int32) {
        for (count, wd) in [(1, Float(0)), (7, 0), (8, 0.01), (17, 0), (100, 0.01), (1000, 0), (1001, 1e-4)] {
            let start = randomFloats(count, seed: UInt64(count))
            let g = randomFloats(count, 0.1, seed: UInt64(count + 1))
            var m = randomFloats(count, 0.01, seed: UInt64(count + 2))
            var v = randomFloats(count, 1e-4, seed: UInt64(count + 3)).map(abs)
            var x = start
            var (cx, cm, cv) = (x, m, v)
            let (b1, b2, stepSize, bc2, eps): (Float, Float, Float, Float, Float) = (0.9, 0.999, 1.7e-3, 0.0447, 1e-8)
            let hyper: [Float] = [b1, 1 - b1, b2, 1 - b2, wd, stepSize, bc2, eps]
            let ran = heed_adam_update_variant(variant, count, &cx, g, &cm, &cv, hyper)
            guard ran == 0 else { return }  // this CPU lacks the variant
            Self.reference(
                count: count, x: &x, g: g, m: &m, v: &v, b1: b1, w1: 1 - b1, b2: b2, w2: 1 - b2, wd: wd, stepSize: stepSize, bc2Sqrt: bc2, eps: eps)
            #expect(cx.map(\.bitPattern) == x.map(\.bitPattern), "variant \(variant), \(count) values: x")
            #expect(cm.map(\.bitPattern) == m.map(\.bitPattern) && cv.map(\.bitPattern) == v.map(\.bitPattern), "variant \(variant), \(count): moments")
            #expect(cx != start, "the update moved nothing")
        }
    }
}
