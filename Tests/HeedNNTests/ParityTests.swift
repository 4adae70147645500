import Foundation
import Testing

@testable import HeedNN

/// Swift vs PyTorch (fixtures from scripts/make_fixtures.py): forward, loss, gradients, and
/// three Adam steps with gradient clipping.
@Suite struct ParityTests {
    static let variants = [
        "lstm_last", "lstm_linear", "lstm_additive", "bilstm_additive", "bilstm_last", "bilstm_linear_h10", "bilstm_additive_subwords",
        "lstm_additive_orthogonal", "bilstm_additive_orthogonal", "bilstm_last_orthogonal", "bilstm_additive_diversity",
    ]

    @Test(arguments: variants)
    func forwardLossAndGradients(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let ref = Reference(model, ids: m.ids, lengths: m.lengths, steps: m.steps, labels: m.labels, classWeights: m.classWeights, pieces: m.pieces)
        let out = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: true, pieces: m.pieces)
        // Heed and PyTorch are two Float32 evaluations, each within `err` of the exact value.
        let logitErr = ref.logits.flatMap(ref.errors)
        var worst = Worst()
        worst.check("logits vs PyTorch", out.logits, fx.tensor("logits"), bound: logitErr.map { 2 * $0 })
        worst.check("logits vs exact", out.logits, ref.logits.flatMap(ref.values), bound: logitErr)
        if m.config.pooling == .attention {
            let att = try #require(out.attention)
            var exact = [Double](repeating: 0, count: m.batch * m.steps), bound = exact
            for b in 0..<m.batch {
                for (t, node) in ref.attention[b].enumerated() {
                    exact[b * m.steps + t] = ref.tape.value[node]
                    bound[b * m.steps + t] = ref.tape.err[node]
                }
            }
            worst.check("attention vs PyTorch", att, fx.tensor("attention"), bound: bound.map { 2 * $0 })
            worst.check("attention vs exact", att, exact, bound: bound)
            for b in 0..<m.batch {
                var sum: Double = 0
                for t in 0..<m.steps {
                    let a = att[b * m.steps + t]
                    if t >= m.lengths[b] { #expect(a == 0.0, "masked attention must be exactly 0") }
                    sum += Double(a)
                }
                // exp/Σ shares one rounded Σ: the weights sum to 1 within the two sums' and the divisions' rounding.
                #expect(abs(sum - 1) <= gamma(2 * m.steps + 2), "\(name) attention row \(b) sums to \(sum)")
            }
        } else {
            #expect(out.attention == nil)
        }
        // The fixture's loss is the training objective: cross-entropy plus the diversity penalty.
        let loss = Double(model.loss(labels: m.labels, classWeights: m.classWeights)) + model.diversityPenalty
        let lossNode = try #require(ref.loss)
        worst.check("loss vs PyTorch", [loss], fx.tensor("loss"), bound: [2 * ref.tape.err[lossNode]])
        model.zeroGrad()
        model.backward()
        let (exact, magnitude) = ref.gradients()
        let g = gamma(ref.gradientDepth(steps: m.steps))
        for p in model.parameters {
            // Σ|terms| of each entry bounds its rounding in either implementation; this also covers
            // attention.score.bias, exactly 0 in theory (softmax is shift-invariant).
            let mag = magnitude[p.name]!
            worst.check("grad \(p.name) vs PyTorch", p.grads, fx.tensor("g." + p.name), bound: mag.map { 2 * g * $0 })
            worst.check("grad \(p.name) vs exact", p.grads, exact[p.name]!, bound: mag.map { g * $0 })
        }
        let emb = try #require(model.parameter(named: "embedding.weight"))
        for k in 0..<m.config.embedDim { #expect(emb.grad[k] == 0 && emb.value[k] == 0) }
        print("parity \(name): worst error / bound \(worst.ratio) (\(worst.what))")
    }

    @Test(arguments: variants)
    func adamWithClipping(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        // Tolerances from the step-0 gradients: each entry is uncertain by 2γ·Σ|terms| between the
        // implementations (see forwardLossAndGradients), i.e. by a relative ρ_i of its value.
        let ref = Reference(model, ids: m.ids, lengths: m.lengths, steps: m.steps, labels: m.labels, classWeights: m.classWeights, pieces: m.pieces)
        let (g0, magnitude) = ref.gradients()
        let g = gamma(ref.gradientDepth(steps: m.steps))
        var normSq = 0.0, slackSq = 0.0, count = 0
        for p in model.parameters {
            for (x, mag) in zip(g0[p.name]!, magnitude[p.name]!) { normSq += x * x; slackSq += (2 * g * mag) * (2 * g * mag); count += 1 }
        }
        // ‖g + δ‖ − ‖g‖ ≤ ‖δ‖, plus the norm's own sum of squares.
        let normBound = slackSq.squareRoot() + gamma(count + 1) * normSq.squareRoot()
        let adam = Adam(parameters: model.parameters, lr: m.lr, weightDecay: m.weightDecay)
        let norms = fx.tensor("norms")
        var worst = Worst()
        for s in 0..<m.adamSteps {
            model.zeroGrad()
            _ = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: true, pieces: m.pieces)
            _ = model.loss(labels: m.labels, classWeights: m.classWeights)
            model.backward()
            let total = model.clipGradNorm(m.maxNorm)
            // Later steps' gradients are taken a few lr-sized steps away: allow twice the step-0 bound.
            worst.check("norm step \(s)", [total], [norms[s]], bound: [2 * normBound])
            adam.step()
        }
        // Adam's update lr·m̂/(√v̂+ε) is scale-free in the gradients: a relative change ρ in every
        // gradient moves it by ≤ 4ρ·lr per step (m̂ by ρ·Σ|g|, √v̂ by ρ; Σ|g|/√v̂ ≤ 2 over 3 steps), and
        // never by more than 4·lr (a sign flip of a gradient within its rounding noise, e.g.
        // attention.score.bias whose exact gradient is 0). ρ doubles for the later steps, as above;
        // the clipping factor's relative uncertainty adds to every ρ.
        let clipRho = 2 * normBound / normSq.squareRoot()
        var uncertainSigns: [String] = []
        for p in model.parameters {
            let ref = fx.tensor("a3." + p.name), w0 = fx.tensor("w." + p.name)
            let bound = p.values.indices.map { i -> Double in
                let gd = abs(g0[p.name]![i] + Double(m.weightDecay) * Double(w0[i]))
                let noise = 2 * g * magnitude[p.name]![i]
                let rho = (noise == 0 ? 0 : noise / gd) + clipRho
                if rho >= 0.5 { uncertainSigns.append("\(p.name)[\(i)]") }
                let step = Double(m.lr) * min(4, 4 * rho)
                return Double(m.adamSteps) * step + 8 * floatU * Double(abs(ref[i]))
            }
            worst.check("Adam \(p.name)", p.values, ref, bound: bound)
        }
        let emb = try #require(model.parameter(named: "embedding.weight"))
        for k in 0..<m.config.embedDim { #expect(emb.value[k] == 0) }
        // Entries whose sign the bound cannot guarantee are effectively unchecked: keep them rare.
        let entries = model.parameters.reduce(0) { $0 + $1.count }
        #expect(uncertainSigns.count * 20 <= entries, "\(uncertainSigns)")
        print("parity \(name): Adam×3 worst error / bound \(worst.ratio) (\(worst.what))")
    }

    /// Padding is never read: the batch is packed from each document's real tokens only, and the
    /// steps beyond the longest document are empty, so every BLAS call gets the same shapes and the
    /// same operands. Garbage padding and a larger `steps` must give bit-identical outputs.
    @Test(arguments: variants)
    func paddingIsNeverRead(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let base = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: false, pieces: m.pieces)
        let T = m.steps + 3
        var rng = Rng(seed: 17)
        var ids = [Int32](repeating: 0, count: m.batch * T)
        var pieces = m.pieces.map { _ in PieceLists() }
        for b in 0..<m.batch {
            for t in 0..<T {
                let real = t < m.lengths[b]
                ids[b * T + t] = real ? m.ids[b * m.steps + t] : Int32(1 + rng.int(below: m.config.vocabSize - 1))
                if let p = m.pieces, let buckets = m.config.subwordBuckets {
                    // Padding positions get garbage bucket lists too: they must not be read either.
                    pieces!.append(real ? Array(p.buckets[p.range(b * m.steps + t)]) : [Int32(rng.int(below: buckets))])
                }
            }
        }
        let padded = model.forward(ids: ids, lengths: m.lengths, batch: m.batch, steps: T, training: false, pieces: pieces)
        #expect(padded.logits.map(\.bitPattern) == base.logits.map(\.bitPattern))
        #expect(padded.probabilities.map(\.bitPattern) == base.probabilities.map(\.bitPattern))
        if let a = base.attention, let p = padded.attention {
            for b in 0..<m.batch {
                for t in 0..<T {
                    let expected = t < m.steps ? a[b * m.steps + t] : 0
                    #expect(p[b * T + t].bitPattern == expected.bitPattern, "\(name) attention[\(b), \(t)]")
                }
            }
        }
    }

    /// A document's result does not depend on its neighbours' tokens: with the same lengths the
    /// packing and every BLAS call shape are the same and a GEMM's output row depends only on its own
    /// input row, so the outputs must be bit-identical.
    @Test(arguments: variants)
    func neighboursDoNotLeakIn(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let base = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: false, pieces: m.pieces)
        let C = m.config.classes
        var rng = Rng(seed: 23)
        for b in 0..<m.batch {
            var ids = m.ids
            for other in 0..<m.batch where other != b {
                for t in 0..<m.lengths[other] { ids[other * m.steps + t] = Int32(1 + rng.int(below: m.config.vocabSize - 1)) }
            }
            let out = model.forward(ids: ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: false, pieces: m.pieces)
            #expect(
                out.logits[(b * C)..<((b + 1) * C)].map(\.bitPattern) == base.logits[(b * C)..<((b + 1) * C)].map(\.bitPattern),
                "\(name) document \(b)")
            #expect(out.logits != base.logits, "the neighbours did change")
        }
    }

    /// A document alone (batch 1: GEMV) vs in the fixture batch (GEMM for the first steps): the
    /// kernels round differently, so the logits may differ, but each is within the running error
    /// bound of the exact value, hence within twice that of each other.
    @Test(arguments: variants)
    func aloneMatchesBatched(_ name: String) throws {
        let fx = try Fixture(name)
        let m = fx.meta
        let model = fx.model()
        let all = model.forward(ids: m.ids, lengths: m.lengths, batch: m.batch, steps: m.steps, training: false, pieces: m.pieces)
        let C = m.config.classes
        var worst = Worst()
        for b in 0..<m.batch {
            let len = m.lengths[b]
            let single = Array(m.ids[(b * m.steps)..<(b * m.steps + len)])
            let pieces = m.pieces?.selecting((b * m.steps)..<(b * m.steps + len))
            let ref = Reference(model, ids: single, lengths: [len], steps: len, pieces: pieces)
            let err = ref.errors(ref.logits[0]), exact = ref.values(ref.logits[0])
            let one = model.forward(ids: single, lengths: [len], batch: 1, steps: len, training: false, pieces: pieces)
            let batched = Array(all.logits[(b * C)..<((b + 1) * C)])
            worst.check("document \(b) alone vs batched", one.logits, batched, bound: err.map { 2 * $0 })
            worst.check("document \(b) alone vs exact", one.logits, exact, bound: err)
            worst.check("document \(b) batched vs exact", batched, exact, bound: err)
        }
        print("batching \(name): worst error / bound \(worst.ratio) (\(worst.what))")
    }
}
