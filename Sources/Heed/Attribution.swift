import Foundation
import HeedNN
import HeedText

/// A way to score how much each token mattered to a prediction. The gradient methods
/// differentiate the target (`AttributionTarget`) with respect to each token's embedding row as
/// fed to the LSTM.
public enum AttributionMethod: String, Codable, Sendable, CaseIterable {
    /// The model's attention weights (attention models only).
    case attention
    /// The L2 norm of ∂target/∂e_t.
    case gradient
    /// ∂target/∂e_t · e_t (signed: positive pushes towards the predicted class).
    case gradientTimesInput = "grad-input"
    /// Σ_k (e_tk − 0) · mean over m = 1…steps of ∂target/∂e_k at (m/steps)·e: the right Riemann
    /// rule from the zero baseline (the `<pad>` row), so the numbers can be reproduced exactly.
    case integratedGradients = "integrated-gradients"
    /// Leave-one-out: the predicted class's probability minus its probability without the token.
    case occlusion
}

/// What the gradient methods differentiate.
public enum AttributionTarget: String, Codable, Sendable, CaseIterable {
    /// The predicted class's logit (the default: not squashed by the softmax).
    case logit
    /// The predicted class's probability.
    case probability
}

/// A prediction with one score per token for each method asked for.
public struct Explanation: Codable, Sendable {
    /// The predicted label.
    public var label: String
    /// The model's labels, in the order of `probabilities`.
    public var labels: [String]
    /// Class probabilities in `labels` order.
    public var probabilities: [Float]
    /// The tokens the model read, with their UTF-8 byte ranges in the text (and attention weights
    /// for attention models).
    public var tokens: [AttendedToken]
    /// Per method (by its raw value), one score per token in `tokens`' order.
    public var scores: [String: [Float]]
    /// Integrated gradients only: target(input) − target(baseline), which the scores should sum to.
    public var integratedGradientsDelta: Double?
    /// Integrated gradients only: how far the scores' sum is from `integratedGradientsDelta` (the
    /// completeness gap; it shrinks as the steps grow).
    public var integratedGradientsGap: Double?
    /// True when the text had more tokens than the model reads; the scores cover the kept ones.
    public var truncated: Bool
    /// Hierarchical model: the sentences read, with their sentence attention as `weight`.
    public var sentences: [SentenceSpan]? = nil
    /// Hierarchical model: per method, one score per sentence in `sentences`' order: attention is
    /// the sentence attention, occlusion the predicted class's probability minus its probability
    /// without the whole sentence.
    public var sentenceScores: [String: [Float]]? = nil

    /// The scores of `method`, if it was asked for.
    public func scores(_ method: AttributionMethod) -> [Float]? { scores[method.rawValue] }
    /// Labels with their probabilities, chosen and ordered as `Prediction.rankedLabels` does.
    public func rankedLabels(maximumCount: Int? = nil, threshold: Float? = nil) -> [LabelScore] {
        Prediction(label: label, probabilities: probabilities, labels: labels, tokens: []).rankedLabels(maximumCount: maximumCount, threshold: threshold)
    }
}

/// An explanation that cannot be computed as asked.
public enum AttributionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The model pools without attention, so it has no attention weights to show.
    case noAttention(ModelKind)
    /// Integrated gradients needs at least one step.
    case steps(Int)

    public var description: String {
        switch self {
        case .noAttention(let kind): return "a \(kind.rawValue) model has no attention weights; choose another attribution method"
        case .steps(let n): return "integrated gradients needs at least 1 step (got \(n))"
        }
    }
}

extension TextClassifier {
    /// The methods this model supports (attention only where it has attention).
    public var attributionMethods: [AttributionMethod] {
        AttributionMethod.allCases.filter { $0 != .attention || hasAttention }
    }

    /// Scores every token of `text` by each of `methods`. A text without tokens is predicted as
    /// `predict` does and has no scores.
    public func explain(
        _ text: String, methods: [AttributionMethod]? = nil, target: AttributionTarget = .logit,
        steps: Int = 32
    ) throws -> Explanation {
        try explain(text, methods: methods, target: target, steps: steps, tokenizer: try Tokenizer(settings: vocabulary.settings))
    }

    /// `explain` with the caller's tokenizer (a worker reuses one for all its texts).
    package func explain(_ text: String, methods: [AttributionMethod]?, target: AttributionTarget, steps: Int, tokenizer: Tokenizer) throws -> Explanation {
        let (encoded, truncated) = encodeNotingCut(text, tokenizer: tokenizer)
        return try explain(encoded, truncated: truncated, methods: methods, target: target, steps: steps)
    }

    /// The text as the model reads it, and whether it had more tokens than that: one token past
    /// the model's limit, read once, tells.
    func encodeNotingCut(_ text: String, tokenizer: Tokenizer) -> (encoded: EncodedText, truncated: Bool) {
        if let level = sentenceLevel() {
            let encoded = encode(text, tokenizer: tokenizer, maxLength: options.maxLength, sentenceLevel: level)
            return (encoded, encoded.truncated)
        }
        var encoded = encode(text, tokenizer: tokenizer, maxLength: options.maxLength + 1, sentenceLevel: nil)
        let truncated = encoded.ids.count > options.maxLength
        if truncated {
            encoded.ids.removeLast()
            encoded.tokens.removeLast()
            encoded.pieces = encoded.pieces?.selecting(0..<encoded.ids.count)
        }
        return (encoded, truncated)
    }

    /// `explain` of an already encoded text.
    func explain(_ encoded: EncodedText, truncated: Bool, methods: [AttributionMethod]?, target: AttributionTarget, steps: Int) throws -> Explanation {
        let methods = methods ?? attributionMethods
        if methods.contains(.attention) && !hasAttention { throw AttributionError.noAttention(modelKind) }
        if methods.contains(.integratedGradients) && steps < 1 { throw AttributionError.steps(steps) }
        let sequence = encoded.sequence, ids = sequence.ids, n = ids.count
        let prediction = predict([sequence])[0]
        let predicted = prediction.best
        var tokens = encoded.tokens
        if let attention = prediction.attention { for t in tokens.indices { tokens[t].weight = attention[t] } }
        var explanation = Explanation(
            label: labels[predicted], labels: labels, probabilities: prediction.probabilities,
            tokens: tokens, scores: [:], truncated: truncated)
        explanation.sentences = encoded.sentences.map { spans in
            spans.indices.map { k in
                var span = spans[k]
                span.weight = prediction.sentenceAttention?[k]
                return span
            }
        }
        guard n > 0 else {
            for m in methods { explanation.scores[m.rawValue] = [] }
            return explanation
        }
        if methods.contains(.attention) { explanation.scores[AttributionMethod.attention.rawValue] = prediction.attention }
        let C = labels.count
        /// ∂target/∂logits for one row of logits: the probability target is the model's reported
        /// (temperature-scaled) probability, softmax(z / T), so its gradient carries 1/T.
        let T = temperature
        func calibrated(_ z: ArraySlice<Float>) -> [Double] { Calibration.probabilities(logits: z, temperature: T) }
        func targetGradient(_ z: ArraySlice<Float>) -> [Float] {
            switch target {
            case .logit: return (0..<C).map { $0 == predicted ? 1 : 0 }
            case .probability:
                let p = calibrated(z)
                return (0..<C).map { k in Float(p[predicted] * ((k == predicted ? 1 : 0) - p[k]) / T) }
            }
        }
        withGradients(sequence) { model in
            let E = model.embedDim
            // Each token's input vector (word row plus mean subword row): what the gradients are
            // taken with respect to.
            let inputs = model.inputs
            func e(_ t: Int, _ k: Int) -> Float { inputs[t * E + k] }
            if methods.contains(.gradient) || methods.contains(.gradientTimesInput) {
                let logits = model.forward([1])
                let g = model.summedInputGradient(targetGradient(logits[0..<C]))
                var norms: [Float] = [], dots: [Float] = []
                for t in 0..<n {
                    var sq = 0.0, dot = 0.0
                    for k in 0..<E {
                        let gk = Double(g[t * E + k])
                        sq += gk * gk
                        dot += gk * Double(e(t, k))
                    }
                    norms.append(Float(sq.squareRoot()))
                    dots.append(Float(dot))
                }
                if methods.contains(.gradient) { explanation.scores[AttributionMethod.gradient.rawValue] = norms }
                if methods.contains(.gradientTimesInput) { explanation.scores[AttributionMethod.gradientTimesInput.rawValue] = dots }
            }
            if methods.contains(.integratedGradients) {
                // Row 0 is the baseline (scale 0), rows 1…steps the right Riemann points m/steps.
                let B = steps + 1
                let logits = model.forward((0..<B).map { Float($0) / Float(steps) })
                var dLogits = [Float](repeating: 0, count: B * C)
                for m in 1..<B { dLogits.replaceSubrange((m * C)..<((m + 1) * C), with: targetGradient(logits[(m * C)..<((m + 1) * C)])) }
                // Only the sum over the steps is needed (row 0 has a zero gradient).
                let g = model.summedInputGradient(dLogits)
                let sums = g.map { Double($0) }
                var scores: [Float] = []
                scores.reserveCapacity(n)
                var total = 0.0
                for t in 0..<n {
                    var s = 0.0
                    for k in 0..<E { s += Double(e(t, k)) * sums[t * E + k] / Double(steps) }
                    scores.append(Float(s))
                    total += s
                }
                func value(_ row: Int) -> Double {
                    target == .logit ? Double(logits[row * C + predicted]) : calibrated(logits[(row * C)..<((row + 1) * C)])[predicted]
                }
                let delta = value(B - 1) - value(0)
                explanation.scores[AttributionMethod.integratedGradients.rawValue] = scores
                explanation.integratedGradientsDelta = delta
                explanation.integratedGradientsGap = abs(total - delta)
            }
        }
        if let sentenceLengths = sequence.sentenceLengths {
            var sentenceScores: [String: [Float]] = [:]
            if methods.contains(.attention) { sentenceScores[AttributionMethod.attention.rawValue] = prediction.sentenceAttention }
            if methods.contains(.occlusion) {
                // A whole sentence left out; a lone sentence's document becomes empty (the prior).
                let S = sentenceLengths.count
                let scored = predict((0..<S).map { k in sequence.selecting(sentences: (0..<S).filter { $0 != k }) })
                let p = prediction.probabilities[predicted]
                sentenceScores[AttributionMethod.occlusion.rawValue] = scored.map { p - $0.probabilities[predicted] }
            }
            explanation.sentenceScores = sentenceScores
        }
        if methods.contains(.occlusion) {
            // Leaving out either of two equal neighbours leaves one sequence: it is scored once, so
            // the two tie exactly on every kernel (another kernel may round two rows of one product
            // differently, and a near-tie reorders every ranking built on these scores).
            var distinct = DistinctSequences()
            let rows = (0..<n).map { t in distinct.index(of: sequence.selecting((0..<n).filter { $0 != t })) }
            let scored = predict(distinct.sequences)
            let p = prediction.probabilities[predicted]
            explanation.scores[AttributionMethod.occlusion.rawValue] = rows.map { p - scored[$0].probabilities[predicted] }
        }
        return explanation
    }
}

/// What the gradient methods need of a network, for one sequence: its input vectors, a forward
/// pass over copies of the sequence at input scales, and the input gradient summed over the
/// copies for given ∂target/∂logits.
struct GradientAccess {
    let embedDim: Int
    /// [tokens × embedDim], what the gradients are taken with respect to.
    let inputs: [Float]
    /// Logits [copies × classes] of one copy per scale.
    let forward: (_ scales: [Float]) -> [Float]
    /// After `forward`: Σ over copies of ∂target/∂input, [tokens × embedDim].
    let summedInputGradient: (_ dLogits: [Float]) -> [Float]
}

extension TextClassifier {
    /// Runs `body` with the gradient access of this classifier's network (flat or hierarchical)
    /// for `sequence`, holding the network's lock.
    func withGradients(_ sequence: TokenSequence, _ body: (GradientAccess) -> Void) {
        let ids = sequence.ids, n = ids.count
        switch network {
        case .flat(let box):
            box.withModel { model in
                var single = false
                body(
                    GradientAccess(
                        embedDim: model.config.embedDim, inputs: model.inputVectors(ids: ids, pieces: sequence.pieces),
                        forward: { scales in
                            let B = scales.count
                            single = B == 1 && scales[0] == 1
                            if single {
                                return model.forward(ids: ids, lengths: [n], batch: 1, steps: n, training: false, pieces: sequence.pieces).logits
                            }
                            return model.forward(
                                ids: Array(repeating: ids, count: B).flatMap { $0 }, lengths: Array(repeating: n, count: B),
                                batch: B, steps: n, training: false, inputScales: scales,
                                pieces: sequence.pieces.map { p in p.selecting((0..<B).flatMap { _ in 0..<n }) }
                            ).logits
                        },
                        // Over copies, the model forms the sum before the input-gradient product.
                        summedInputGradient: { dLogits in
                            guard single else { return model.summedInputGradient(dLogits: dLogits) }
                            model.backward(dLogits: dLogits, parameterGradients: false)
                            return model.inputGradient()
                        }))
            }
        case .hierarchical(let box):
            box.withModel { model in
                let lengths = sequence.sentenceLengths ?? [n], E = model.config.embedDim
                var copies = 1
                body(
                    GradientAccess(
                        embedDim: E, inputs: model.inputVectors(ids: ids, pieces: sequence.pieces),
                        forward: { scales in
                            copies = scales.count
                            let batch = HierarchicalBatch(
                                ids: Array(repeating: ids, count: copies).flatMap { $0 },
                                sentenceLengths: Array(repeating: lengths, count: copies).flatMap { $0 },
                                sentenceCounts: Array(repeating: lengths.count, count: copies),
                                pieces: sequence.pieces.map { p in p.selecting((0..<copies).flatMap { _ in 0..<n }) })
                            return model.forward(batch, training: false, inputScales: scales).logits
                        },
                        summedInputGradient: { dLogits in
                            model.backward(dLogits: dLogits, parameterGradients: false)
                            let g = model.inputGradient()
                            var sum = [Float](repeating: 0, count: n * E)
                            for m in 0..<copies {
                                for i in 0..<(n * E) { sum[i] += g[m * n * E + i] }
                            }
                            return sum
                        }))
            }
        }
    }
}

extension TextClassifier {
    /// Explains `texts` in their order, `workers` at a time: each thread works on its own copy of
    /// the network (one explanation runs many small products that gain little from a
    /// multi-threaded BLAS), so documents, not products, are split. The explanations are the same,
    /// bit for bit, whatever the worker count.
    public func explain(
        _ texts: [String], methods: [AttributionMethod]? = nil, target: AttributionTarget = .logit,
        steps: Int = 32, workers: Int
    ) throws -> [Explanation] {
        try parallelMap(count: texts.count, workers: workers) { classifier, tokenizer, i in
            try classifier.explain(texts[i], methods: methods, target: target, steps: steps, tokenizer: tokenizer)
        }
    }
}
