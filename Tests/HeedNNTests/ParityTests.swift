import Foundation
import Testing
@testable import HeedNN

/// Swift vs PyTorch (fixtures from scripts/make_fixtures.py): forward, loss, gradients, and
/// three Adam steps with gradient clipping.
@Suite struct ParityTests {
    static let variants = ["lstm_last", "lstm_linear", "lstm_additive", "bilstm_additive", "bilstm_last"]

    @Test(arguments: variants)
    func forwardLossAndGradients(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let out = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: true)
        let logitErr = maxRelError(out.logits, fx.tensor("logits"))
        #expect(logitErr < 1e-4, "\(name) logits rel err \(logitErr)")
        if m.config.pooling == .attention {
            let att = try #require(out.attention)
            let ref = fx.tensor("attention")
            #expect(maxRelError(att, ref) < 1e-4, "\(name) attention")
            for b in 0..<m.batch {
                var sum: Float = 0
                for t in 0..<m.steps {
                    let a = att[b * m.steps + t]
                    if t >= m.lengths[b] { #expect(a == 0.0, "masked attention must be exactly 0") }
                    sum += a
                }
                #expect(abs(sum - 1) < 1e-5)
            }
        } else {
            #expect(out.attention == nil)
        }
        let loss = model.loss(labels: m.labels, classWeights: m.classWeights)
        let refLoss = fx.tensor("loss")[0]
        #expect(abs(loss - refLoss) <= 1e-4 * abs(refLoss), "\(name) loss \(loss) vs \(refLoss)")
        model.zeroGrad()
        model.backward()
        var worst: (Float, String) = (0, "")
        for p in model.parameters {
            let ref = fx.tensor("g." + p.name)
            if p.name == "attention.score.bias" {
                // Softmax is shift-invariant: this gradient is exactly 0 in theory, rounding noise in practice.
                #expect(abs(p.grad[0]) < 1e-6 && abs(ref[0]) < 1e-6)
                continue
            }
            let e = maxRelError(p.grads, ref, floor: tensorFloor(ref))
            if e > worst.0 { worst = (e, p.name) }
            #expect(e < 1e-4, "\(name) grad \(p.name) rel err \(e)")
        }
        let emb = try #require(model.parameter(named: "embedding.weight"))
        for k in 0..<m.config.embedDim { #expect(emb.grad[k] == 0 && emb.value[k] == 0) }
        print("parity \(name): logits \(logitErr), worst grad \(worst.1) \(worst.0)")
    }

    @Test(arguments: variants)
    func adamWithClipping(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let adam = Adam(parameters: model.parameters, lr: m.lr, weightDecay: m.weightDecay)
        let norms = fx.tensor("norms")
        for s in 0..<m.adamSteps {
            model.zeroGrad()
            _ = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: true)
            _ = model.loss(labels: m.labels, classWeights: m.classWeights)
            model.backward()
            let total = model.clipGradNorm(m.maxNorm)
            #expect(abs(total - norms[s]) <= 1e-4 * norms[s], "\(name) norm step \(s): \(total) vs \(norms[s])")
            adam.step()
        }
        var worst: Float = 0
        for p in model.parameters {
            let ref = fx.tensor("a3." + p.name)
            // attention.score.bias does not affect the output (softmax is shift-invariant): its
            // gradient is pure rounding noise in both implementations, and Adam amplifies noise to
            // ±lr-sized steps, so it is compared with an lr-sized absolute tolerance only.
            if p.name == "attention.score.bias" {
                for i in 0..<p.count { #expect(abs(p.value[i] - ref[i]) <= 3 * m.lr * Float(m.adamSteps)) }
                continue
            }
            let e = maxRelError(p.values, ref, floor: tensorFloor(ref))
            worst = max(worst, e)
            #expect(e < 1e-4, "\(name) Adam \(p.name) rel err \(e)")
        }
        let emb = try #require(model.parameter(named: "embedding.weight"))
        for k in 0..<m.config.embedDim { #expect(emb.value[k] == 0) }
        print("parity \(name): Adam×3 worst rel err \(worst)")
    }

    /// Padding positions do not influence the result, and batching equals running alone.
    @Test(arguments: variants)
    func batchingIsIndependentOfPaddingAndNeighbours(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let all = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: false)
        let C = m.config.classes
        for b in 0..<m.batch {
            let len = m.lengths[b]
            let single = Array(m.ids[(b * m.steps)..<(b * m.steps + len)])
            let one = model.forward(ids: single, lengths: [len], batch: 1, steps: len, training: false)
            #expect(maxRelError(one.logits, Array(all.logits[(b * C)..<((b + 1) * C)])) < 1e-5)
        }
    }
}
