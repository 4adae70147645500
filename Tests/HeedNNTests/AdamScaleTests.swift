import Foundation
import Testing

@testable import HeedNN

/// Adam's per-parameter rate scales, frozen flags and step counts (ULMFiT's fine-tuning).
@Suite struct AdamScaleTests {
    /// Adam before per-parameter scales, element by element: one global step count, step size
    /// lr/bc1. The vector kernel does the same IEEE operations in the same order, so the two must
    /// agree to the bit.
    func referenceAdam(_ x: inout [Float], gradients: [[Float]], lr: Float, weightDecay wd: Float) {
        let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8, w1 = 1 - b1, w2 = 1 - b2
        var m = [Float](repeating: 0, count: x.count), v = m
        for (s, g) in gradients.enumerated() {
            let t = Double(s + 1)
            let bc1 = 1 - pow(Double(b1), t), bc2 = 1 - pow(Double(b2), t)
            let stepSize = Float(Double(lr) / bc1), bc2Sqrt = Float(bc2.squareRoot())
            for k in x.indices {
                let gk = wd == 0 ? g[k] : g[k] + wd * x[k]
                m[k] = b1 * m[k] + w1 * gk
                v[k] = b2 * v[k] + w2 * gk * gk
                let denom = v[k].squareRoot() / bc2Sqrt + eps
                x[k] = x[k] - stepSize * (m[k] / denom)
            }
        }
    }

    /// Scales of 1 and nothing frozen take the old single-step-count Adam's steps, bit for bit
    /// (19 values: the 8-wide loop and its scalar tail); a scale of 1/2 does not.
    @Test(arguments: [Float(0), 0.01])
    func unitScalesAreTheOldAdam(weightDecay: Float) {
        let n = 19, start = randomFloats(n, seed: 1)
        let gradients = (0..<5).map { randomFloats(n, seed: 10 + UInt64($0)) }
        var expected = start
        referenceAdam(&expected, gradients: gradients, lr: 0.01, weightDecay: weightDecay)

        func run(scale: Float) -> [Float] {
            let p = Param("p", [n])
            p.values = start
            let adam = Adam(parameters: [p], lr: 0.01, weightDecay: weightDecay)
            adam.lrScale = [scale]
            adam.frozen = [false]
            for g in gradients {
                p.grad.update(from: g, count: n)
                adam.step()
            }
            #expect(adam.parameterSteps == [gradients.count])
            return p.values
        }
        #expect(run(scale: 1).map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(run(scale: 0.5).map(\.bitPattern) != expected.map(\.bitPattern))
    }

    /// A frozen parameter (dense or row-sparse) keeps its bits and zero moments; once thawed, its
    /// first step is a fresh Adam's first step (its own bias correction), to the bit.
    @Test func frozenStaysThenStartsAfresh() {
        let dense = Param("dense", [11]), sparse = Param("subwords", [4, 3], rowSparse: true), head = Param("head", [5])
        dense.values = randomFloats(11, seed: 2)
        sparse.values = randomFloats(12, seed: 3)
        head.values = randomFloats(5, seed: 4)
        let adam = Adam(parameters: [dense, sparse, head], lr: 0.01)
        let denseStart = dense.values, sparseStart = sparse.values
        func setGradients(_ seed: UInt64) {
            for p in [dense, head] { p.grad.update(from: randomFloats(p.count, seed: seed &+ UInt64(p.count)), count: p.count) }
            sparse.zeroGrad()
            for k in 0..<3 { sparse.grad[3 + k] = Float(k + 1) * 0.1 }
            sparse.touchedRows!.mark(1)
        }
        adam.frozen = [true, true, false]
        for s in 0..<3 {
            setGradients(UInt64(s))
            adam.step()
        }
        #expect(dense.values.map(\.bitPattern) == denseStart.map(\.bitPattern))
        #expect(sparse.values.map(\.bitPattern) == sparseStart.map(\.bitPattern))
        #expect(adam.parameterSteps == [0, 0, 3] && adam.steps == 3)
        #expect(adam.state.m[0].allSatisfy { $0 == 0 } && adam.state.m[1].allSatisfy { $0 == 0 })

        adam.frozen = [false, false, false]
        setGradients(7)
        let gradient = Array(UnsafeBufferPointer(start: dense.grad, count: 11))
        adam.step()
        var fresh = denseStart
        referenceAdam(&fresh, gradients: [gradient], lr: 0.01, weightDecay: 0)
        #expect(dense.values.map(\.bitPattern) == fresh.map(\.bitPattern))
        #expect(sparse.values != sparseStart)
        #expect(adam.parameterSteps == [1, 1, 4])
    }

    /// The state carries the per-parameter step counts; a state saved without them (before
    /// gradual unfreezing) restores every parameter at the global count.
    @Test func stateKeepsParameterSteps() {
        let p = Param("p", [3]), q = Param("q", [2])
        let adam = Adam(parameters: [p, q], lr: 0.01)
        adam.frozen = [true, false]
        p.grad.update(repeating: 0.5, count: 3)
        q.grad.update(repeating: 0.5, count: 2)
        adam.step()
        adam.step()
        let saved = adam.state
        #expect(saved.parameterSteps == [0, 2])
        let other = Adam(parameters: [p, q], lr: 0.01)
        other.restore(saved)
        #expect(other.parameterSteps == [0, 2] && other.state == saved)
        var legacy = saved
        legacy.parameterSteps = nil
        let decoded = try! JSONDecoder().decode(Adam.State.self, from: JSONEncoder().encode(legacy))
        other.restore(decoded)
        #expect(other.parameterSteps == [2, 2] && other.steps == 2)
    }
}
