import Foundation
import Testing

@testable import HeedNN

/// Virtual adversarial training's gradients, checked by central differences like
/// `GradCheckTests` (same tolerance `gradTolerance`, 1e-3 of the gradient norm). Measured at
/// 414593f: correct code stays below 5e-6 for d/dd (step 3e-2 along a unit direction) and below
/// 9.1e-5 for d/dθ (step 1e-2: at 3e-2 the classifier bias's third-order truncation term reached
/// 8e-4, too near the tolerance). Mutations tried: the perturbation added to the rows of the
/// wrong sequence (pk.order left out) gives 0.05 … 0.15 on d/dd; q − p̂ with its sign flipped
/// 0.02 … 1.7; the VAT weight left out of the parameter gradient 0.3 … 0.8 on d/dθ.
@Suite struct VirtualAdversarialTests {
    static let lengths = [3, 1, 5, 3, 2]
    static let steps = 5
    static let configs: [ClassifierConfig] = [
        ClassifierConfig(vocabSize: 11, embedDim: 4, hiddenDim: 3, bidirectional: true, pooling: .attention, scorer: .additive, attentionDim: 5, classes: 3),
        ClassifierConfig(vocabSize: 11, embedDim: 4, hiddenDim: 3, bidirectional: false, pooling: .last, classes: 2),
        ClassifierConfig(
            vocabSize: 11, embedDim: 4, hiddenDim: 3, bidirectional: true, pooling: .attention, scorer: .linear, classes: 3, subwordBuckets: 7),
    ]

    struct Case {
        let model: Classifier
        let ids: [Int32]
        let pieces: PieceLists?
        var B: Int { VirtualAdversarialTests.lengths.count }
        var T: Int { VirtualAdversarialTests.steps }
        var E: Int { model.config.embedDim }
        /// Whether flat index i of a [B × T × E] block is a real token's.
        func real(_ i: Int) -> Bool { (i / E) % T < VirtualAdversarialTests.lengths[i / (T * E)] }
    }

    func makeCase(_ c: Int) -> Case {
        let config = Self.configs[c]
        let model = Classifier(config: config, seed: UInt64(60 + c))
        var pieces: PieceLists? = nil
        let ids = randomBatch(vocab: 11, lengths: Self.lengths, steps: Self.steps, seed: UInt64(20 + c))
        if config.subwordBuckets != nil {
            model.parameter(named: "subwords.weight")!.values = randomFloats(7 * config.embedDim, seed: 13)
            var r = Rng(seed: 14)
            var p = PieceLists()
            for _ in ids { p.append((0..<r.int(below: 4)).map { _ in Int32(r.int(below: 7)) }) }
            pieces = p
        }
        return Case(model: model, ids: ids, pieces: pieces)
    }

    func logits(_ k: Case, _ r: [Float]) -> [Float] {
        k.model.forward(ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, training: false, pieces: k.pieces, inputPerturbation: r).logits
    }

    /// d KL(p̂ ‖ p(·|e + d)) / d d, as the power iteration takes it, at a d away from 0 (at 0
    /// the gradient vanishes).
    @Test(arguments: configs.indices)
    func klGradientWithRespectToThePerturbation(_ c: Int) {
        let k = makeCase(c)
        let C = k.model.config.classes
        let target = VirtualAdversarial.target(k.model, ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, pieces: k.pieces)
        var r = Rng(seed: 3)
        let n = k.B * k.T * k.E
        let d = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { d.deallocate() }
        for i in 0..<n { d[i] = k.real(i) ? r.normal() * 0.7 : 0 }
        func loss() -> Double {
            VirtualAdversarial.divergence(target: target, logits: logits(k, Array(UnsafeBufferPointer(start: d, count: n))), classes: C).value
        }
        let kl = VirtualAdversarial.divergence(target: target, logits: logits(k, Array(UnsafeBufferPointer(start: d, count: n))), classes: C)
        #expect(kl.value > 1e-3, "the check needs a KL well away from 0 (got \(kl.value))")
        k.model.zeroGrad()
        k.model.backward(dLogits: kl.dLogits, parameterGradients: false)
        let g = k.model.inputGradient()
        #expect((0..<n).allSatisfy { k.real($0) || g[$0] == 0 })
        let e = g.withUnsafeBufferPointer { directionalError(values: d, grads: $0.baseAddress!, count: n, seed: 5, mask: k.real, loss: loss) }
        #expect(e < gradTolerance, "d: \(e)")
    }

    /// With p̂ and r_vadv held fixed, `accumulateGradient` leaves d(λ Σ KL / N)/dθ in every
    /// parameter's gradient.
    @Test(arguments: configs.indices)
    func vatLossGradientWithRespectToParameters(_ c: Int) {
        let k = makeCase(c)
        let C = k.model.config.classes
        let vat = VirtualAdversarial(epsilon: 1.5)
        let seeds: [UInt64] = [11, 12, 13, 14, 15]
        let (weight, divisor) = (Float(0.75), 8.0)
        let target = VirtualAdversarial.target(k.model, ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, pieces: k.pieces)
        let radius = vat.perturbation(k.model, ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, pieces: k.pieces, target: target, seeds: seeds)
        k.model.zeroGrad()
        let sum = vat.accumulateGradient(
            k.model, ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, pieces: k.pieces, seeds: seeds, weight: weight, divisor: divisor)
        func loss() -> Double {
            VirtualAdversarial.divergence(target: target, logits: logits(k, radius), classes: C).value * Double(weight) / divisor
        }
        #expect(abs(loss() * divisor / Double(weight) - sum) <= 1e-12 * max(sum, 1))
        #expect(sum > 1e-3, "the check needs a KL well away from 0 (got \(sum))")
        let embedDim = k.model.config.embedDim
        for (i, p) in k.model.parameters.enumerated() where p.name != "attention.score.bias" {
            let mask: ((Int) -> Bool)? = p.name == "embedding.weight" ? { $0 >= embedDim } : nil
            let e = directionalError(values: p.value, grads: p.grad, count: p.count, eps: 1e-2, seed: UInt64(i), mask: mask, loss: loss)
            #expect(e < gradTolerance, "\(p.name): \(e)")
        }
    }

    /// r_vadv has norm ε · RMS row norm per document, is zero at padding, leaves the parameter
    /// gradients alone, does not draw from the model's generator, and moves the prediction more
    /// than a random direction of the same norm does (what one power-iteration step is for).
    @Test(arguments: configs.indices)
    func perturbationIsAdversarialWithTheGivenRadius(_ c: Int) {
        let k = makeCase(c)
        let C = k.model.config.classes
        let vat = VirtualAdversarial(epsilon: 0.5)
        let target = VirtualAdversarial.target(k.model, ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, pieces: k.pieces)
        let scales = VirtualAdversarial.rowScales(k.model, ids: k.ids, lengths: Self.lengths, steps: k.T, pieces: k.pieces)
        k.model.zeroGrad()
        let rngBefore = k.model.rngState
        let r = vat.perturbation(k.model, ids: k.ids, lengths: Self.lengths, batch: k.B, steps: k.T, pieces: k.pieces, target: target, seeds: [1, 2, 3, 4, 5])
        #expect(k.model.rngState == rngBefore)
        #expect(k.model.parameters.allSatisfy { p in (0..<p.count).allSatisfy { p.grad[$0] == 0 } })
        let block = k.T * k.E
        for b in 0..<k.B {
            let norm = (0..<block).reduce(0.0) { $0 + Double(r[b * block + $1]) * Double(r[b * block + $1]) }.squareRoot()
            #expect(abs(norm - Double(0.5 * scales[b])) <= 1e-5 * norm, "document \(b): \(norm) vs \(0.5 * scales[b])")
        }
        #expect((0..<r.count).allSatisfy { k.real($0) || r[$0] == 0 })
        var g = Rng(seed: 9)
        let random = VirtualAdversarial.scaled(
            (0..<r.count).map { _ in g.normal() }, lengths: Self.lengths, steps: k.T, width: k.E, radius: scales.map { $0 * 0.5 })
        let adversarial = VirtualAdversarial.divergence(target: target, logits: logits(k, r), classes: C).value
        let chance = VirtualAdversarial.divergence(target: target, logits: logits(k, random), classes: C).value
        #expect(adversarial > 2 * chance, "adversarial \(adversarial) vs random \(chance)")
    }

    /// The KL's value and its logit gradient against a Double reference, with a target row
    /// that does not sum to 1.
    @Test func divergenceMatchesItsDefinition() {
        let target: [Float] = [0.2, 0.5, 0.3, 0.0, 1.0, 0.0, 0.3, 0.3, 0.3]
        let z: [Float] = [1, -2, 0.5, 3, 0, -1, 0.1, 0.2, 0.3]
        let (value, d) = VirtualAdversarial.divergence(target: target, logits: z, classes: 3, scale: 2)
        var expected = 0.0
        for b in 0..<3 {
            let row = (0..<3).map { Double(z[b * 3 + $0]) }
            let lse = log(row.map(exp).reduce(0, +))
            let mass = (0..<3).reduce(0.0) { $0 + Double(target[b * 3 + $1]) }
            for c in 0..<3 {
                let p = Double(target[b * 3 + c])
                if p > 0 { expected += 2 * p * (log(p) - (row[c] - lse)) }
                #expect(abs(Double(d[b * 3 + c]) - 2 * (exp(row[c] - lse) * mass - p)) < 1e-6)
            }
        }
        #expect(abs(value - expected) < 1e-9)
    }
}
