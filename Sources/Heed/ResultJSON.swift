import Foundation

/// One text's `heed predict --json` object. The CLI and the server encode through this type, so
/// the two can never drift apart.
package struct PredictionJSON: Encodable, Sendable {
    var text: String, label: String, probabilities: [String: Float], tokens: [AttendedToken], labels: [LabelScore]
    /// Hierarchical model only: `[{start, end, first_token, token_count, weight}]`.
    var sentences: [SentenceSpan]?

    /// `p` for `text`, listing the labels `rankedLabels(maximumCount:threshold:)` keeps.
    package init(text: String, prediction p: Prediction, topK: Int?, threshold: Float?) {
        self.text = text
        label = p.label
        probabilities = Dictionary(uniqueKeysWithValues: zip(p.labels, p.probabilities))
        tokens = p.tokens
        labels = p.rankedLabels(maximumCount: topK, threshold: threshold)
        sentences = p.sentences
    }
}

/// One text's `heed explain --json` object; the server adds `labels` (the ranked `[{label, score}]`
/// of `heed predict --json`), which the CLI leaves out.
package struct ExplanationJSON: Encodable, Sendable {
    struct Token: Encodable, Sendable {
        var text: String, start: Int, end: Int, scores: [String: Float]
    }
    var text: String, label: String, probabilities: [String: Float], tokens: [Token], truncated: Bool
    /// A hierarchical model's sentence: its span and attention, and its scores by method.
    struct Sentence: Encodable, Sendable {
        var start: Int, end: Int, firstToken: Int, tokenCount: Int, weight: Float?, scores: [String: Float]
        enum CodingKeys: String, CodingKey {
            case start, end, weight, scores, firstToken = "first_token", tokenCount = "token_count"
        }
    }
    var target: String, integratedGradientsDelta: Double?, integratedGradientsGap: Double?
    var labels: [LabelScore]?
    /// Hierarchical model only.
    var sentences: [Sentence]?
    enum CodingKeys: String, CodingKey {
        case text, label, probabilities, tokens, truncated, target, labels, sentences
        case integratedGradientsDelta = "integrated_gradients_delta", integratedGradientsGap = "integrated_gradients_gap"
    }

    /// `e` for `text`; `labels` is encoded only when given.
    package init(text: String, explanation e: Explanation, target: AttributionTarget, labels: [LabelScore]? = nil) {
        self.text = text
        label = e.label
        probabilities = Dictionary(uniqueKeysWithValues: zip(e.labels, e.probabilities))
        tokens = e.tokens.indices.map { t in
            Token(
                text: e.tokens[t].text, start: e.tokens[t].start, end: e.tokens[t].end,
                scores: e.scores.compactMapValues { $0.indices.contains(t) ? $0[t] : nil })
        }
        truncated = e.truncated
        self.target = target.rawValue
        integratedGradientsDelta = e.integratedGradientsDelta
        integratedGradientsGap = e.integratedGradientsGap
        sentences = e.sentences.map { spans in
            spans.indices.map { k in
                let s = spans[k]
                return Sentence(
                    start: s.start, end: s.end, firstToken: s.firstToken, tokenCount: s.tokenCount, weight: s.weight,
                    scores: (e.sentenceScores ?? [:]).compactMapValues { $0.indices.contains(k) ? $0[k] : nil })
            }
        }
        self.labels = labels
    }
}

/// The encoder behind every JSON line and response: sorted keys, so output is byte-stable.
package func resultEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
}
