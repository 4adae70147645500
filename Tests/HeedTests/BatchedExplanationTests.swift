import Foundation
import Testing

@testable import Heed
@testable import HeedNN

/// Whether this BLAS kernel gives each row of a GEMM independently of how many rows the call
/// has: the first m₁ rows of an m₂-row product against an m₁-row one, at the shapes of the
/// products a batched explanation runs over several documents' rows. OpenBLAS does not promise
/// it (a kernel may take another code path, or split the sum otherwise, at other sizes), and the
/// perturbation test mode (`HEED_BLAS_PERTURB`) moves each call's results by its shape, so there
/// it never holds. (The output layer's GEMMs and the attention's GEMV, whose rows do depend on
/// their place in the call, run per document.)
func productRowsIndependentOfBatch(_ model: Classifier) -> Bool {
    let H = model.config.hiddenDim, D = model.config.outputDim, A = model.config.resolvedAttentionDim
    var rng = Rng(seed: 11)
    // (n, k, op(B) transposed) of the recurrent products forward and back and the attention's
    // both ways (the output layer runs per document).
    let shapes = [(4 * H, H, true), (H, 4 * H, false), (A, D, true), (D, A, false), (D, 1, false)]
    for (n, k, transB) in shapes {
        let b = (0..<(n * k)).map { _ in rng.uniform(-1, 1) }
        for (m1, m2) in [(3, 9), (9, 27), (9, 64), (27, 200)] {
            let a = (0..<(m2 * k)).map { _ in rng.uniform(-1, 1) }
            func product(_ m: Int) -> [Float] {
                var c = [Float](repeating: 0.5, count: m * n)
                BLAS.gemm(false, transB, m, n, k, 1, a, k, b, transB ? k : n, 1, &c, n)
                return c
            }
            if Array(product(m2)[0..<(m1 * n)]) != product(m1) { return false }
        }
    }
    return true
}

@Suite struct BatchedExplanationTests {
    /// Integrated gradients and occlusion of several documents in one batched pass against each
    /// document explained alone. Every operation on a document's rows is the same in both but the
    /// products over the rows of several documents (recurrent and attention GEMMs), which are
    /// larger calls in the batch (the output layer and the attention's GEMV run per document).
    /// Where the kernel gives each row of a product independently of the others, the scores are
    /// equal bit for bit. Elsewhere (another kernel, the perturbation mode) each product's elements
    /// may differ by their reordered sum's rounding, at most K·u·Σ|a·b| for K terms (u = 2⁻²⁴), and
    /// such a change passes through the 2n + 4 products a document's gradient is formed by (n
    /// recurrent steps each way, attention and output layer) with gate derivatives at most 1. So an
    /// integrated-gradients score may move by 2(2n + 4)·K·u times the magnitudes summed into it,
    /// Σ_t Σ_k |e_tk·G_tk| / steps over the document (any token's error reaches every other through
    /// the recurrence), and the target difference and gap by that plus the same factor times |Δ|.
    /// An occlusion score is a probability difference: softmax moves no more than its logits, which
    /// move by the same factor times Σ|logits| of the two predictions. A document explained by
    /// another's scores or from the wrong rows is off by far more.
    @Test(arguments: [ModelKind.bilstmAttention, .attention, .lstm])
    func batchedExplanationsMatchOneDocumentAtATime(kind: ModelKind) throws {
        let classifier = randomClassifier(kind, seed: 5)
        // Lengths 1 to 9, two of equal length, repeated tokens, a text without tokens.
        let texts = [
            "w3 w17 w8 w25 w11 w4 w29", "w5", "w6 w6 w7", "w1 w2", "!!!", "w9 w10 w11 w12 w13 w14 w15 w16 w18",
            "w19 w20 w21 w22 w23 w24 w26", "w27 w28 w27 w28", "w0 w2 w4 w8 w16",
        ]
        let methods: [AttributionMethod] = [.integratedGradients, .occlusion]
        let steps = 6
        let batched = try classifier.explain(texts, methods: methods, steps: steps, workers: 1)
        let alone = try texts.map { try classifier.explain($0, methods: methods, steps: steps) }
        let sameRows = classifier.box.withModel { productRowsIndependentOfBatch($0) }
        print("batched explanations (\(kind.rawValue)): product rows independent of the batch, so bit-equal: \(sameRows)")
        // The same group split into passes of at most 30 rows (one or two documents each, a
        // longer one alone): each document's scores come from its own pass, in order.
        let tokenizer = try Tokenizer(settings: classifier.vocabulary.settings)
        let split = try classifier.explain(
            texts.map { classifier.encodeNotingCut($0, tokenizer: tokenizer) }, methods: methods, target: .logit, steps: steps, passRows: 30)
        if sameRows {
            for (s, a) in zip(split, alone) { #expect(s.scores == a.scores && s.integratedGradientsDelta == a.integratedGradientsDelta) }
        }
        let u = Double(Float.ulpOfOne) / 2, config = classifier.box.withModel { $0.config }
        let K = Double(max(4 * config.hiddenDim, config.embedDim, config.outputDim))
        for (text, ((b, s), a)) in zip(texts, zip(zip(batched, split), alone)) {
            #expect(s.tokens.map(\.text) == a.tokens.map(\.text) && s.probabilities == a.probabilities)
            #expect(b.tokens.map(\.text) == a.tokens.map(\.text))
            #expect(b.probabilities == a.probabilities, "the prediction is made alone in both")
            let n = a.tokens.count
            guard n > 0 else {
                #expect(b.scores == a.scores && b.integratedGradientsDelta == nil)
                continue
            }
            if sameRows {
                #expect(b.scores == a.scores, "\(text)")
                #expect(b.integratedGradientsDelta == a.integratedGradientsDelta && b.integratedGradientsGap == a.integratedGradientsGap)
            }
            let factor = 2 * Double(2 * n + 4) * K * u
            // Σ_t Σ_k |e_tk·G_tk| / steps from the lone document's own forward and backward.
            let ids = try classifier.encode([text])[0].ids
            let magnitude = classifier.box.withModel { model -> Double in
                let scales = (0...steps).map { Float($0) / Float(steps) }
                let logits = model.forwardScaledCopies(of: [(ids: ids, pieces: nil)], scales: scales)
                let predicted = classifier.labels.firstIndex(of: a.label)!, C = classifier.labels.count
                var dLogits = [Float](repeating: 0, count: logits.count)
                for m in 1...steps { dLogits[m * C + predicted] = 1 }
                let g = model.summedInputGradients(dLogits: dLogits)[0], e = model.inputVectors(ids: ids)
                return zip(e, g).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) } / Double(steps)
            }
            let ig = try #require(b.scores(.integratedGradients)), igAlone = try #require(a.scores(.integratedGradients))
            for (x, y) in zip(ig, igAlone) { #expect(abs(Double(x) - Double(y)) <= factor * magnitude, "\(text): \(x) vs \(y)") }
            let igSplit = try #require(s.scores(.integratedGradients))
            for (x, y) in zip(igSplit, igAlone) { #expect(abs(Double(x) - Double(y)) <= factor * magnitude, "\(text), split: \(x) vs \(y)") }
            let delta = try #require(a.integratedGradientsDelta)
            #expect(abs(try #require(b.integratedGradientsDelta) - delta) <= factor * (magnitude + abs(delta)))
            #expect(abs(try #require(b.integratedGradientsGap) - a.integratedGradientsGap!) <= 2 * factor * (magnitude + abs(delta)))
            let occlusion = try #require(b.scores(.occlusion)), occlusionAlone = try #require(a.scores(.occlusion))
            let without = (0..<n).map { t in Array(ids[..<t] + ids[(t + 1)...]) }
            let full = classifier.predict(ids: [ids])[0].logits
            for (t, p) in classifier.predict(ids: without).enumerated() {
                let logits = (full + p.logits).reduce(0.0) { $0 + abs(Double($1)) }
                #expect(abs(Double(occlusion[t]) - Double(occlusionAlone[t])) <= factor * logits, "\(text), token \(t)")
            }
        }
        // A mix-up of documents would show: their scores differ.
        #expect(Set(batched.compactMap { $0.tokens.isEmpty ? nil : $0.scores(.integratedGradients) }).count == texts.count - 1)
    }

    /// The batched pass's per-document input gradients are the ones a pass over that document's
    /// copies alone gives: with one document they are the same call, bit for bit, on every
    /// kernel, and they match `summedInputGradient` of the general forward over the copies.
    @Test func oneDocumentPassIsTheScaledCopiesPass() throws {
        let classifier = randomClassifier(.bilstmAttention, seed: 7)
        let ids = try classifier.encode(["w3 w17 w8 w25 w11"])[0].ids, n = ids.count
        let scales: [Float] = (0...5).map { Float($0) / 5 }
        classifier.box.withModel { model in
            let C = model.config.classes
            let logits = model.forwardScaledCopies(of: [(ids: ids, pieces: nil)], scales: scales)
            let dLogits = (0..<logits.count).map { i in i % C == 1 && i >= C ? Float(1) : 0 }
            let batched = model.summedInputGradients(dLogits: dLogits)
            let reference = model.forward(
                ids: Array(repeating: ids, count: scales.count).flatMap { $0 }, lengths: Array(repeating: n, count: scales.count),
                batch: scales.count, steps: n, training: false, inputScales: scales
            ).logits
            #expect(logits == reference)
            #expect(batched == [model.summedInputGradient(dLogits: dLogits)])
        }
    }
}
