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
    /// the sentence attention, integrated gradients the sum of the sentence's tokens' scores,
    /// occlusion the predicted class's probability minus its probability without the whole sentence.
    public var sentenceScores: [String: [Float]]? = nil
    /// Hierarchical model with attention asked for: each token's word attention within its
    /// sentence (a sentence's sum to 1); `scores["attention"]` is it times the sentence's weight.
    public var wordAttention: [Float]? = nil

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
        try explain([(encoded, truncated)], methods: methods, target: target, steps: steps)[0]
    }

    /// `explain` of already encoded texts, in their order. Integrated gradients and occlusion run
    /// several documents in one batched pass (see `integratedGradients` and `occlusion`); each
    /// document's scores are formed as when it is explained alone. `passRows` overrides
    /// `explanationPassRows` (tests split a group into several passes with it).
    func explain(
        _ documents: [(encoded: EncodedText, truncated: Bool)], methods: [AttributionMethod]?, target: AttributionTarget, steps: Int,
        passRows: Int? = nil
    ) throws -> [Explanation] {
        let methods = methods ?? attributionMethods
        if methods.contains(.attention) && !hasAttention { throw AttributionError.noAttention(modelKind) }
        if methods.contains(.integratedGradients) && steps < 1 { throw AttributionError.steps(steps) }
        var explanations: [Explanation] = [], targets: [AttributionObjective] = []
        for (encoded, truncated) in documents {
            let (explanation, objective) = begin(encoded, truncated: truncated, methods: methods, target: target)
            explanations.append(explanation)
            targets.append(objective)
        }
        let scored = documents.indices.filter { documents[$0].encoded.ids.count > 0 }
        if methods.contains(.integratedGradients) {
            let results = integratedGradients(
                scored.map { documents[$0].encoded.sequence }, targets: scored.map { targets[$0] }, steps: steps, passRows: passRows)
            for (d, result) in zip(scored, results) {
                explanations[d].scores[AttributionMethod.integratedGradients.rawValue] = result.scores
                explanations[d].integratedGradientsDelta = result.delta
                explanations[d].integratedGradientsGap = result.gap
                // A sentence's share is the sum of its tokens' (completeness holds per sentence too).
                if let lengths = documents[d].encoded.sequence.sentenceLengths {
                    var at = 0
                    explanations[d].sentenceScores?[AttributionMethod.integratedGradients.rawValue] = lengths.map { n in
                        defer { at += n }
                        return Float(result.scores[at..<(at + n)].reduce(0.0) { $0 + Double($1) })
                    }
                }
            }
        }
        if methods.contains(.occlusion) {
            let sequences = scored.map { documents[$0].encoded.sequence }
            for (d, drops) in zip(scored, occlusion(sequences, predicted: scored.map { targets[$0].predicted })) {
                let p = explanations[d].probabilities[targets[d].predicted]
                explanations[d].scores[AttributionMethod.occlusion.rawValue] = drops.map { p - $0 }
            }
        }
        return explanations
    }

    /// One document's prediction, attention, gradient and gradient × input scores and sentence
    /// scores (everything but the batched methods), and what its gradients differentiate.
    private func begin(
        _ encoded: EncodedText, truncated: Bool, methods: [AttributionMethod], target: AttributionTarget
    ) -> (Explanation, AttributionObjective) {
        let sequence = encoded.sequence, n = sequence.ids.count
        let prediction = predict([sequence])[0]
        let predicted = prediction.best
        let objective = AttributionObjective(target: target, predicted: predicted, classes: labels.count, temperature: temperature)
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
            return (explanation, objective)
        }
        if methods.contains(.attention) {
            explanation.scores[AttributionMethod.attention.rawValue] = prediction.attention
            explanation.wordAttention = prediction.wordAttention
        }
        if methods.contains(.gradient) || methods.contains(.gradientTimesInput) {
            withGradients(sequence) { model in
                let E = model.embedDim, inputs = model.inputs
                let logits = model.forward([1])
                let g = model.summedInputGradient(objective.gradient(logits[...]))
                var norms: [Float] = [], dots: [Float] = []
                for t in 0..<n {
                    var sq = 0.0, dot = 0.0
                    for k in 0..<E {
                        let gk = Double(g[t * E + k])
                        sq += gk * gk
                        dot += gk * Double(inputs[t * E + k])
                    }
                    norms.append(Float(sq.squareRoot()))
                    dots.append(Float(dot))
                }
                if methods.contains(.gradient) { explanation.scores[AttributionMethod.gradient.rawValue] = norms }
                if methods.contains(.gradientTimesInput) { explanation.scores[AttributionMethod.gradientTimesInput.rawValue] = dots }
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
        return (explanation, objective)
    }

    /// Integrated gradients of non-empty `sequences`: per sequence its scores, target(input) −
    /// target(baseline), and the completeness gap. Row 0 of a sequence's copies is the baseline
    /// (scale 0), rows 1…steps the right Riemann points m/steps. A flat model runs several
    /// documents' copies in one forward pass (a pass holds documents up to `explanationPassRows`
    /// packed rows) and sums each document's input gradient over its own copies in the one
    /// backward pass; everything but the products over the pass's rows is formed per document as
    /// for the document alone. With one step (two copies) a document's row products would go
    /// through GEMV alone and GEMM in company, so such documents run alone.
    private func integratedGradients(
        _ sequences: [TokenSequence], targets: [AttributionObjective], steps: Int, passRows: Int?
    ) -> [(scores: [Float], delta: Double, gap: Double)] {
        let S = steps + 1, scales = (0..<S).map { Float($0) / Float(steps) }
        func result(_ d: Int, inputs: [Float], sums: [Float], logits: ArraySlice<Float>) -> (scores: [Float], delta: Double, gap: Double) {
            let n = sequences[d].ids.count, E = inputs.count / max(1, n), C = labels.count, base = logits.startIndex
            var scores: [Float] = []
            scores.reserveCapacity(n)
            var total = 0.0
            for t in 0..<n {
                var s = 0.0
                for k in 0..<E { s += Double(inputs[t * E + k]) * Double(sums[t * E + k]) / Double(steps) }
                scores.append(Float(s))
                total += s
            }
            let value = { (m: Int) in targets[d].value(logits[(base + m * C)..<(base + (m + 1) * C)]) }
            let delta = value(S - 1) - value(0)
            return (scores, delta, abs(total - delta))
        }
        func dLogits(_ d: Int, _ logits: ArraySlice<Float>) -> [Float] {
            // Only the sum over the steps is needed (row 0 has a zero gradient).
            let C = labels.count, base = logits.startIndex
            var out = [Float](repeating: 0, count: S * C)
            for m in 1..<S {
                out.replaceSubrange((m * C)..<((m + 1) * C), with: targets[d].gradient(logits[(base + m * C)..<(base + (m + 1) * C)]))
            }
            return out
        }
        guard case .flat(let box) = network, steps >= 2 else {
            return sequences.indices.map { d in
                var out: (scores: [Float], delta: Double, gap: Double) = ([], 0, 0)
                withGradients(sequences[d]) { model in
                    let logits = model.forward(scales)
                    let sums = model.summedInputGradient(dLogits(d, logits[...]))
                    out = result(d, inputs: model.inputs, sums: sums, logits: logits[...])
                }
                return out
            }
        }
        let passRows = passRows ?? Self.explanationPassRows(box.config)
        var passes: [Range<Int>] = [], start = 0, rows = 0
        for d in sequences.indices {
            let r = S * sequences[d].ids.count
            if d > start && rows + r > passRows {
                passes.append(start..<d)
                (start, rows) = (d, 0)
            }
            rows += r
        }
        if start < sequences.count { passes.append(start..<sequences.count) }
        var results: [(scores: [Float], delta: Double, gap: Double)] = []
        box.withModel { model in
            model.withFixedWeights {
                for pass in passes {
                    let documents = pass.map { (ids: sequences[$0].ids, pieces: sequences[$0].pieces) }
                    let logits = model.forwardScaledCopies(of: documents, scales: scales)
                    let C = labels.count, block = S * C
                    var gradients: [Float] = []
                    gradients.reserveCapacity(pass.count * block)
                    for (i, d) in pass.enumerated() { gradients += dLogits(d, logits[(i * block)..<((i + 1) * block)]) }
                    let sums = model.summedInputGradients(dLogits: gradients)
                    for (i, d) in pass.enumerated() {
                        let inputs = model.inputVectors(ids: sequences[d].ids, pieces: sequences[d].pieces)
                        results.append(result(d, inputs: inputs, sums: sums[i], logits: logits[(i * block)..<((i + 1) * block)]))
                    }
                }
            }
        }
        return results
    }

    /// Packed rows (copies × tokens) an integrated-gradients pass gathers documents up to (a longer
    /// document runs alone): several short documents share a pass, so the recurrent products run
    /// over more rows per call, while what the pass saves for its backward stays within
    /// `explanationPassBytes`.
    static func explanationPassRows(_ config: ClassifierConfig) -> Int {
        // Saved per packed row: per direction the gates, c, tanh(c) and h (7H), the LSTM output and
        // its gradient (2D), the attention projection (A).
        let directions = config.bidirectional ? 2 : 1
        let floats = directions * 7 * config.hiddenDim + 2 * config.outputDim + config.resolvedAttentionDim
        return max(1, explanationPassBytes / (4 * floats))
    }

    /// The backward reads back everything its forward saved, so a pass whose activations stay in the
    /// shared L3 cache runs faster: on the bench's 2-core EPYC (32 MB L3, RT's default model, 10 KB
    /// a row), passes of 4,096 rows (40 MB) explained 6% slower on one core and 8% slower on two
    /// than passes of 1,024; 256 to 1,536 rows ran alike. The bits do not depend on the pass.
    static let explanationPassBytes = 10 << 20

    /// Leave-one-out: per non-empty sequence, the predicted class's probability without each of its
    /// tokens. Leaving out either of two equal neighbours leaves one sequence: it is scored once,
    /// so the two tie exactly on every kernel (another kernel may round two rows of one product
    /// differently, and a near-tie reorders every ranking built on these scores). A flat model
    /// scores several documents' sequences in one batch (`predict(sets:)`) when each document has
    /// 3 to 64 of them: alone, such a document is one batch whose row products are GEMMs, as in
    /// company. Documents with fewer (GEMV alone) or more (split into batches) run alone.
    private func occlusion(_ sequences: [TokenSequence], predicted: [Int]) -> [[Float]] {
        var distinct = sequences.map { _ in DistinctSequences() }
        let rows = sequences.indices.map { d in
            let n = sequences[d].ids.count
            return (0..<n).map { t in distinct[d].index(of: sequences[d].selecting((0..<n).filter { $0 != t })) }
        }
        var out = [[Float]](repeating: [], count: sequences.count)
        func finish(_ d: Int, _ scored: ArraySlice<IDPrediction>) {
            out[d] = rows[d].map { scored[scored.startIndex + $0].probabilities[predicted[d]] }
        }
        let shared = isHierarchical ? [] : sequences.indices.filter { (3...64).contains(distinct[$0].sequences.count) }
        if !shared.isEmpty {
            for (d, scored) in zip(shared, predict(sets: shared.map { distinct[$0].sequences })) { finish(d, scored[...]) }
        }
        for d in sequences.indices where !shared.contains(d) { finish(d, predict(distinct[d].sequences)[...]) }
        return out
    }
}

/// What the gradient methods differentiate for one document: its predicted class's logit or
/// (temperature-scaled) probability.
struct AttributionObjective {
    let target: AttributionTarget
    let predicted: Int
    let classes: Int
    let temperature: Double

    /// The reported probabilities, softmax(z / T).
    private func calibrated(_ z: ArraySlice<Float>) -> [Double] { Calibration.probabilities(logits: z, temperature: temperature) }

    /// ∂target/∂logits for one row of logits: the probability target's gradient carries 1/T.
    func gradient(_ z: ArraySlice<Float>) -> [Float] {
        switch target {
        case .logit: return (0..<classes).map { $0 == predicted ? 1 : 0 }
        case .probability:
            let p = calibrated(z)
            return (0..<classes).map { k in Float(p[predicted] * ((k == predicted ? 1 : 0) - p[k]) / temperature) }
        }
    }

    /// The target at one row of logits.
    func value(_ z: ArraySlice<Float>) -> Double {
        target == .logit ? Double(z[z.startIndex + predicted]) : calibrated(z)[predicted]
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
    /// multi-threaded BLAS), so documents, not products, are split: groups of
    /// `explanationGroup` consecutive texts, whose integrated gradients and occlusion run batched
    /// (see `integratedGradients`). The groups do not depend on the worker count, so neither do
    /// the explanations, bit for bit.
    public func explain(
        _ texts: [String], methods: [AttributionMethod]? = nil, target: AttributionTarget = .logit,
        steps: Int = 32, workers: Int
    ) throws -> [Explanation] {
        var explanations: [Explanation] = []
        explanations.reserveCapacity(texts.count)
        try explain(texts, methods: methods, target: target, steps: steps, workers: workers) { _, e in explanations.append(e) }
        return explanations
    }

    /// `explain(_:workers:)` that hands each explanation to `each` with its text's index, in input
    /// order, as soon as it and every earlier one are done: output flows on long inputs, and no
    /// worker waits for another's group except when `heldGroups` groups per worker are already
    /// waiting for an earlier one (which bounds memory).
    public func explain(
        _ texts: [String], methods: [AttributionMethod]? = nil, target: AttributionTarget = .logit,
        steps: Int = 32, workers: Int, heldGroups: Int = 16, each: (Int, Explanation) throws -> Void
    ) throws {
        let groups = Self.explanationGroups(texts.count)
        try parallelForEach(count: groups.count, workers: workers, window: heldGroups * max(1, workers)) { classifier, tokenizer, g in
            let documents = groups[g].map { classifier.encodeNotingCut(texts[$0], tokenizer: tokenizer) }
            return try classifier.explain(documents, methods: methods, target: target, steps: steps)
        } consume: { g, explained in
            for (i, e) in zip(groups[g], explained) { try each(i, e) }
        }
    }

    /// Consecutive texts `explain(_:workers:)` explains together.
    public static let explanationGroup = 8

    /// The groups of `count` consecutive texts that are explained together, in order.
    static func explanationGroups(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: explanationGroup).map { $0..<min($0 + explanationGroup, count) }
    }
}
