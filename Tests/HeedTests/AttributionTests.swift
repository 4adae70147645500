import Foundation
import HeedNN
import Testing

@testable import Heed

/// A classifier with random weights over a vocabulary of distinct words, so every token of a text
/// has its own embedding row.
func randomClassifier(_ kind: ModelKind, seed: UInt64 = 3) -> TextClassifier {
    let words = (0..<30).map { "w\($0)" }
    var options = TrainingOptions()
    options.model = kind
    options.embeddingSize = 6
    options.hiddenSize = 5
    options.dropout = 0
    let vocabulary = Vocabulary(settings: .default, tokens: words, labels: ["a", "b", "c"])
    let model = Classifier(config: options.classifierConfig(vocabularySize: vocabulary.count, classes: 3), seed: seed, embeddingStd: 0.5)
    return TextClassifier(model: model, vocabulary: vocabulary, options: options)
}

let attributionText = "w3 w17 w8 w25 w11 w4 w29"

@Suite struct AttributionTests {
    /// The input gradient behind `gradient` and `grad-input` against central finite differences of
    /// the target along a random direction in every token's embedding row (rows are distinct).
    @Test(arguments: [ModelKind.bilstmAttention, .lstm], [AttributionTarget.logit, .probability])
    func inputGradientMatchesFiniteDifferences(kind: ModelKind, target: AttributionTarget) throws {
        let classifier = randomClassifier(kind)
        let ids = try classifier.encode([attributionText])[0].ids
        let n = ids.count, C = 3
        let predicted = classifier.predict(ids: [ids])[0].best
        try classifier.box.withModel { model in
            let E = model.config.embedDim
            let table = try #require(model.parameter(named: "embedding.weight")).value
            func value() -> Double {
                let out = model.forward(ids: ids, lengths: [n], batch: 1, steps: n, training: false)
                return Double(target == .logit ? out.logits[predicted] : out.probabilities[predicted])
            }
            let out = model.forward(ids: ids, lengths: [n], batch: 1, steps: n, training: false)
            let p = out.probabilities
            let dz: [Float] = (0..<C).map { k in
                target == .logit ? (k == predicted ? 1 : 0) : p[predicted] * ((k == predicted ? 1 : 0) - p[k])
            }
            model.backward(dLogits: dz)
            let g = model.inputGradient()
            var rng = Rng(seed: 11)
            let direction = (0..<(n * E)).map { _ in rng.normal() }
            let norm = direction.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            var analytic = 0.0, gradientNorm = 0.0
            for i in 0..<(n * E) {
                analytic += Double(g[i]) * Double(direction[i]) / norm
                gradientNorm += Double(g[i]) * Double(g[i])
            }
            func shift(_ eps: Float) {
                for t in 0..<n { for k in 0..<E { table[Int(ids[t]) * E + k] += eps * direction[t * E + k] / Float(norm) } }
            }
            let eps: Float = 1e-2
            shift(eps)
            let up = value()
            shift(-2 * eps)
            let down = value()
            shift(eps)
            let numeric = (up - down) / (2 * Double(eps))
            // Same directional check as the layer gradient checks: O(ε²) truncation plus Float rounding.
            #expect(abs(numeric - analytic) <= 1e-3 * (gradientNorm.squareRoot() + 1e-3), "\(numeric) vs \(analytic)")
        }
    }

    /// Integrated gradients is complete: the scores sum to target(input) − target(baseline), up to
    /// the Riemann rule's error, which shrinks as the steps grow. The error is measured against the
    /// scores' magnitude Σ|IG_t|, not against the difference itself, which can be near zero for a
    /// random model whose scores cancel.
    @Test(arguments: [ModelKind.bilstmAttention, .attention, .bilstm])
    func integratedGradientsAddUpToTheTargetChange(kind: ModelKind) throws {
        let classifier = randomClassifier(kind)
        let coarse = try classifier.explain(attributionText, methods: [.integratedGradients], steps: 4)
        let fine = try classifier.explain(attributionText, methods: [.integratedGradients], steps: 64)
        let delta = try #require(fine.integratedGradientsDelta), gap = try #require(fine.integratedGradientsGap)
        let scores = try #require(fine.scores(.integratedGradients))
        let sum = scores.reduce(0.0) { $0 + Double($1) }, magnitude = scores.reduce(0.0) { $0 + abs(Double($1)) }
        // The reported gap sums the Double scores; these are their Float roundings.
        #expect(abs(abs(sum - delta) - gap) <= 1e-6 * (magnitude + abs(delta)))
        #expect(gap <= 0.02 * magnitude, "gap \(gap), delta \(delta), Σ|IG| \(magnitude)")
        let coarseGap = try #require(coarse.integratedGradientsGap)
        #expect(gap < coarseGap)
        #expect(coarse.integratedGradientsDelta.map { abs($0 - delta) <= 1e-5 * (abs(delta) + 1) } == true)
    }

    /// Leave-one-out scores are exactly the probability changes `predict(ids:)` reports for the
    /// shortened sequences.
    @Test func occlusionIsTheProbabilityChangeWithoutTheToken() throws {
        let classifier = randomClassifier(.bilstmAttention)
        let explanation = try classifier.explain(attributionText, methods: [.occlusion, .attention])
        let ids = try classifier.encode([attributionText])[0].ids
        let c = classifier.labels.firstIndex(of: explanation.label)!
        let base = classifier.predict(ids: [ids])[0].probabilities[c]
        // The same BLAS call shapes as explain's (one batch of every leave-one-out sequence), so
        // the results must agree bit for bit; a batch of one would go through GEMV instead.
        let without = (0..<ids.count).map { t in Array(ids[..<t] + ids[(t + 1)...]) }
        let expected = classifier.predict(ids: without).map { base - $0.probabilities[c] }
        #expect(explanation.scores(.occlusion) == expected)
        #expect(explanation.scores(.attention) == explanation.tokens.map { $0.weight! })
        #expect(explanation.tokens.map(\.text) == attributionText.split(separator: " ").map(String.init))
    }

    /// Several threads, each with its own copy of the network, give the explanations of one thread
    /// in the texts' order, bit for bit (the scores differ from text to text, so a mix-up shows),
    /// also when each is passed on as soon as it can be, with as little held back as allowed.
    @Test func threadsKeepOrderAndScores() throws {
        let classifier = randomClassifier(.bilstmAttention)
        let texts = (0..<29).map { i in (0...(i % 4 + 1)).map { "w\(($0 * 7 + i) % 30)" }.joined(separator: " ") } + ["!!!"]
        let methods: [AttributionMethod] = [.integratedGradients, .gradient, .occlusion]
        let one = try classifier.explain(texts, methods: methods, steps: 8, workers: 1)
        let three = try classifier.explain(texts, methods: methods, steps: 8, workers: 3)
        var streamed: [(Int, Explanation)] = []
        try classifier.explain(texts, methods: methods, steps: 8, workers: 3, heldGroups: 1) { streamed.append(($0, $1)) }
        #expect(streamed.map(\.0) == Array(texts.indices))
        #expect(one.map(\.scores) == streamed.map(\.1.scores))
        #expect(one.map(\.tokens.count) == texts.map { $0 == "!!!" ? 0 : $0.split(separator: " ").count })
        #expect(one.map(\.scores) == three.map(\.scores))
        #expect(one.map(\.integratedGradientsGap) == three.map(\.integratedGradientsGap))
        #expect(Set(one.map { $0.scores(.integratedGradients)! }).count == texts.count)
        #expect(throws: AttributionError.steps(0)) { try classifier.explain(texts, methods: methods, steps: 0, workers: 2) }
    }

    @Test func badRequestsAndEdgeCases() throws {
        let baseline = randomClassifier(.lstm)
        #expect(throws: AttributionError.noAttention(.lstm)) { try baseline.explain("w1", methods: [.attention]) }
        #expect(!baseline.attributionMethods.contains(.attention))
        #expect(throws: AttributionError.steps(0)) { try baseline.explain("w1", methods: [.integratedGradients], steps: 0) }
        let empty = try baseline.explain("!!!")
        #expect(empty.tokens.isEmpty && empty.scores.values.allSatisfy(\.isEmpty) && Set(empty.scores.keys).count == 4)
        let unknown = try baseline.explain("zzz yyy")
        #expect(unknown.tokens.count == 2 && unknown.scores(.gradient)?.count == 2)
        var options = baseline.options
        options.maxLength = 3
        let short = TextClassifier(model: baseline.box.withModel { $0.clone() }, vocabulary: baseline.vocabulary, options: options)
        let cut = try short.explain(attributionText)
        #expect(cut.truncated && cut.tokens.count == 3 && cut.scores.values.allSatisfy { $0.count == 3 })
        #expect(try !baseline.explain(attributionText).truncated)
    }
}
