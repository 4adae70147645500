import Foundation
import Heed
import HeedNN

/// How the documents shown in the report are ordered (before `limit` picks the first ones).
public enum ReportSort: String, CaseIterable, Sendable {
    /// Misclassified first, most confidently wrong at the top; then correct ones, least sure first.
    case misclassified
    /// Least confident prediction first (the borderline cases).
    case confidence
    /// Most tokens first.
    case length
    /// Corpus order.
    case corpus
    /// Attention and integrated gradients disagree most first: lowest Kendall τ-b between the two
    /// first, documents without τ last (attention models; others fall back to `misclassified`). The
    /// documents scored by every method (`attributionLimit` of them) are picked first in the
    /// default order, so a small `limit` shows the worst disagreements among them.
    case disagreement
}

/// What the shading of one document means.
public enum TokenScoreKind: String, Sendable {
    /// Attention weights (sum to 1 over the document's tokens).
    case attention
    /// Leave-one-out occlusion: predicted-class probability without the token subtracted from
    /// the probability with it (negative when the token argued against the prediction).
    case occlusion
}

/// Erasure test for one k: how often removing the k most-attended tokens flips the prediction,
/// against removing k tokens at random.
public struct FaithfulnessRow: Sendable, Equatable {
    public var k: Int
    /// Documents with more than k tokens (the others are skipped: erasing every token says nothing).
    public var documents: Int
    public var topFlips: Int
    public var randomFlips: Int
    /// Mean drop of the originally predicted class's probability.
    public var topProbabilityDrop: Double
    public var randomProbabilityDrop: Double
}

/// One token's mean score per occurrence within one class (see `ClassTokenPanel`).
public struct TokenMean: Sendable, Equatable {
    /// The normalised token.
    public var token: String
    /// Mean score per occurrence (for attention the weight relative to uniform, n·w).
    public var mean: Double
    /// How often the token occurs in the documents averaged over.
    public var occurrences: Int
}

/// Per predicted class, the tokens with the highest mean score per occurrence under one method.
/// A mean, not a sum: frequent function words (*the, and, of*) no longer win by count alone.
public struct ClassTokenPanel: Sendable {
    /// The method whose scores are averaged.
    public var method: AttributionMethod
    /// Documents whose scores were averaged.
    public var documents: Int
    /// True when `documents` is the whole corpus (attention), false when only the shown documents
    /// (the other methods are computed only for those).
    public var wholeCorpus: Bool
    /// Tokens rarer than this are left out (a single occurrence says little).
    public var minOccurrences: Int
    /// Per class, by predicted class: highest mean first.
    public var byClass: [[TokenMean]]
}

/// How scores become shade strength (0…1) on a scale comparable across documents, so that a
/// document with nearly uniform attention is not painted at full strength.
public enum Shading {
    /// Attention: full colour at this multiple of uniform (n·w, for n tokens) or above; none at or
    /// below uniform; log scale in between (2× uniform is one third, 4× two thirds).
    public static let attentionFullMultiple = 8.0
    /// Other methods: full colour at this percentile of |score| over every token of the shown
    /// documents (per method); linear in |score| below.
    public static let attributionPercentile = 0.95

    /// Shade of each token of a document from its attention weights.
    public static func attention(_ weights: [Double]) -> [Double] {
        let n = Double(weights.count)
        return weights.map { w in
            let multiple = n * w
            // 1e-6: float rounding of a uniform 1/n must not show as a faint shade.
            return multiple <= 1 + 1e-6 ? 0 : min(1, log(multiple) / log(attentionFullMultiple))
        }
    }

    /// Shade of one attribution score given the method's full-colour scale.
    public static func attribution(_ score: Double, scale: Double) -> Double {
        scale > 0 && score.isFinite ? min(1, abs(score) / scale) : 0
    }

    /// The nearest-rank `attributionPercentile` of |value| (0 for no values).
    public static func scale(_ values: [Double]) -> Double {
        let sorted = values.filter(\.isFinite).map(abs).sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((attributionPercentile * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// Whether a method's scores have a direction (towards vs against the predicted class).
    public static func isSigned(_ method: AttributionMethod) -> Bool {
        method == .gradientTimesInput || method == .integratedGradients || method == .occlusion
    }
}

/// Everything the report shows, computed from a classifier and a corpus; no HTML here.
public struct ReportAnalysis: Sendable {
    /// Below this Kendall τ-b between attention and integrated gradients a document is flagged:
    /// the two rank its tokens too differently (0 is no relation at all; 0.2 is weak agreement at
    /// best) for the attention shading to be read as a picture of what the decision depends on.
    public static let disagreementThreshold = 0.2

    public struct Document: Sendable {
        /// Position in the corpus (0-based) and source line.
        public var index: Int
        public var line: Int
        public var text: String
        public var truth: Int?
        public var predicted: Int
        public var probabilities: [Float]
        public var tokens: [AttendedToken]
        /// Per token: attention weight, or occlusion score for baseline models (displayed documents only).
        public var scores: [Float]?
        /// Per method, one score per token: every method of `ReportAnalysis.methods` for the shown
        /// documents, attention alone for the others (of attention models).
        public var attributions: [AttributionMethod: [Float]] = [:]
        /// Kendall τ-b between attention and integrated gradients (attention models, documents
        /// scored by every method, nil where τ is undefined): whether the shading can be read as
        /// what the decision depends on.
        public var attentionAgreement: RankCorrelation?
        /// The attention-permutation test (flat attention models, documents scored by every method).
        public var permutation: AttentionPermutation?
        /// Han models: the sentences read, with their sentence attention as `weight`.
        public var sentences: [SentenceSpan]?
        /// Han models: each token's word attention within its sentence (a sentence's sum to 1);
        /// `attributions[.attention]` holds it times the sentence's weight.
        public var wordAttention: [Float]?
        /// Han models, per method, one score per sentence: attention for every document, integrated
        /// gradients and occlusion for the documents scored by every method.
        public var sentenceAttributions: [AttributionMethod: [Float]] = [:]
        /// True when attention and integrated gradients disagree: τ below
        /// `ReportAnalysis.disagreementThreshold`.
        public var disagrees: Bool { (attentionAgreement?.tau).map { $0 < ReportAnalysis.disagreementThreshold } ?? false }
        public var misclassified: Bool { truth.map { $0 != predicted } ?? false }
        public var confidence: Float { probabilities.max() ?? 0 }
    }

    public var labels: [String]
    public var scoreKind: TokenScoreKind
    /// Every document of the corpus, in corpus order.
    public var documents: [Document]
    /// Indices into `documents` of the ones shown, in display order.
    public var shown: [Int]
    /// Nil when the corpus is unlabelled.
    public var evaluation: Evaluation?
    /// The methods the shown documents are scored by, the default (shaded without JavaScript) first.
    public var methods: [AttributionMethod]
    /// Per method but attention: the |score| painted at full colour (see `Shading`).
    public var fullScale: [AttributionMethod: Double]
    /// True for a han model: cards show sentences with a weight bar each.
    public var hierarchical = false
    /// Han models, per method but attention: the |sentence score| drawn as a full bar.
    public var sentenceFullScale: [AttributionMethod: Double] = [:]
    /// Integrated-gradients steps used.
    public var steps: Int
    /// How many of the shown documents (the first ones) are scored by every method; the others
    /// only by the default one (see `run`'s `attributionLimit`).
    public var attributedDocuments: Int
    /// Per-class tokens by mean score per occurrence: attention (occlusion for baseline models),
    /// then integrated gradients.
    public var classTokens: [ClassTokenPanel]
    /// Empty for models without attention.
    public var faithfulness: [FaithfulnessRow]
    /// The order actually used (`misclassified` becomes `confidence` for unlabelled corpora, and
    /// `disagreement` becomes the default for models without attention).
    public var sort: ReportSort = .misclassified
    /// Indices into `documents` of the ones scored by every method, in the order they were picked:
    /// what the method comparison is computed over.
    public var compared: [Int] = []
    /// Agreement (τ-b), ERASER and permutation tables over the `compared` documents; nil when none.
    public var comparison: FaithfulnessSummary?
    /// Reliability and risk–coverage of the corpus (labelled corpora only).
    public var calibration: ReportCalibration?

    /// Predicts every document, scores the shown ones, and (for attention models) runs the erasure test.
    /// The first `attributionLimit` shown documents are scored by every method the model supports
    /// (integrated gradients with `steps`), which bounds the cost of a large `limit`.
    /// Labels must be all present or all absent; a label the model does not know is an error naming the line.
    /// `workers` threads share the method comparison (the results do not depend on their number).
    public static func run(
        classifier: TextClassifier, documents docs: [LabelledText], file: String = "corpus",
        sort: ReportSort = .misclassified, limit: Int = 200, seed: UInt64 = 1,
        faithfulnessK: [Int] = [1, 3, 5], topTokens: Int = 8, minOccurrences: Int = 3, steps: Int = 32,
        attributionLimit: Int = 500, workers: Int = 1
    ) throws -> ReportAnalysis {
        if steps < 1 { throw AttributionError.steps(steps) }
        // A han card shows each method at both levels; gradient and gradient × input have no
        // sentence-level score, so a han report compares the three methods that do.
        let hierarchical = classifier.isHierarchical
        let supported = hierarchical ? [AttributionMethod.attention, .integratedGradients, .occlusion] : classifier.attributionMethods
        guard !docs.isEmpty else { throw HeedTextError.noDocuments(file) }
        var classifier = classifier
        classifier.workers = workers
        let labelled = docs.contains { $0.label != nil }
        var truth: [Int?] = []
        for doc in docs {
            guard let label = doc.label else {
                if labelled { throw HeedError.missingLabel(file: file, line: doc.line) }
                truth.append(nil)
                continue
            }
            guard let index = classifier.vocabulary.labelIndex(label) else {
                throw HeedError.unknownLabel(file: file, line: doc.line, label: label, known: classifier.labels)
            }
            truth.append(index)
        }

        // The library's one path from text to network input (subword pieces of unknown words
        // included), and its explain and faithfulness below: the report scores what `heed predict`
        // and `heed explain` score.
        let encoded = try classifier.encode(docs.map(\.text))
        let sequences = encoded.map(\.sequence)
        let base = classifier.predict(sequences)
        var documents: [Document] = []
        documents.reserveCapacity(docs.count)
        for i in docs.indices {
            var tokens = encoded[i].tokens
            if let attention = base[i].attention { for t in tokens.indices { tokens[t].weight = attention[t] } }
            var document = Document(
                index: i, line: docs[i].line, text: docs[i].text, truth: truth[i], predicted: base[i].best,
                probabilities: base[i].probabilities, tokens: tokens,
                scores: base[i].attention ?? (tokens.isEmpty ? [] : nil))
            if hierarchical, let spans = encoded[i].sentences {
                let weights = base[i].sentenceAttention
                document.sentences = spans.indices.map { k in
                    var span = spans[k]
                    span.weight = weights?[k]
                    return span
                }
                document.wordAttention = base[i].wordAttention
                if let weights { document.sentenceAttributions[.attention] = weights }
            }
            documents.append(document)
        }

        let attention = classifier.hasAttention
        let fallback: ReportSort = labelled ? .misclassified : .confidence
        let effective: ReportSort = (sort == .misclassified || (sort == .disagreement && !attention)) ? fallback : sort
        for d in documents.indices { if let w = documents[d].scores, attention { documents[d].attributions[.attention] = w } }

        // The methods but the default one cost far more than a prediction (integrated gradients
        // steps + 1 forward and backward rows per document): only the first `attributionLimit`
        // shown documents get them. With the disagreement sort, which needs them to order by, the
        // first `attributionLimit` in the default order are scored and the shown ones picked from
        // the order that results.
        let compared: [Int]
        var shown: [Int]
        if effective == .disagreement {
            compared = Array(order(documents, by: fallback).prefix(max(0, attributionLimit)))
            shown = []
        } else {
            shown = Array(order(documents, by: effective).prefix(max(0, limit)))
            compared = Array(shown.prefix(max(0, attributionLimit)))
        }

        // One pass scores the compared documents by every method and measures agreement, ERASER
        // and the attention permutation test from the same scores.
        var comparison: FaithfulnessSummary?
        if !compared.isEmpty {
            var options = FaithfulnessOptions()
            options.steps = steps
            options.seed = seed
            options.workers = workers
            options.methods = supported
            let analysis = try classifier.faithfulness(of: compared.map { docs[$0].text }, options: options)
            comparison = analysis.summary
            for (d, result) in zip(compared, analysis.documents) {
                for m in supported {
                    guard let scores = result.explanation.scores(m), scores.count == documents[d].tokens.count else { continue }
                    documents[d].attributions[m] = scores
                    if let s = result.explanation.sentenceScores?[m.rawValue], s.count == documents[d].sentences?.count {
                        documents[d].sentenceAttributions[m] = s
                    }
                }
                // A han card's word shading comes from the same pass as its bars and the tables' product.
                if let within = result.explanation.wordAttention, within.count == documents[d].tokens.count {
                    documents[d].wordAttention = within
                }
                documents[d].permutation = result.permutation
                if attention {
                    documents[d].attentionAgreement =
                        result.agreement.first {
                            $0.first == AttributionMethod.attention.rawValue && $0.second == AttributionMethod.integratedGradients.rawValue
                        }?.correlation
                }
            }
        }
        if effective == .disagreement { shown = Array(order(documents, by: .disagreement).prefix(max(0, limit))) }
        let shownSet = Set(shown)

        // Baseline models are painted by occlusion: the shown documents the comparison did not score
        // get it here (one forward pass per token, batched).
        if !attention {
            let missing = shown.filter { documents[$0].attributions[.occlusion] == nil }
            let explained = try classifier.explain(missing.map { docs[$0].text }, methods: [.occlusion], workers: workers)
            for (d, explanation) in zip(missing, explained) { documents[d].attributions[.occlusion] = explanation.scores(.occlusion) }
            for d in shown { documents[d].scores = documents[d].attributions[.occlusion] }
        }

        let methods =
            [attention ? AttributionMethod.attention : .occlusion] + supported.filter { $0 != .attention && $0 != .occlusion }
            + (attention ? [.occlusion] : [])
        var fullScale: [AttributionMethod: Double] = [:], sentenceFullScale: [AttributionMethod: Double] = [:]
        for m in methods where m != .attention {
            fullScale[m] = Shading.scale(shown.flatMap { (documents[$0].attributions[m] ?? []).map(Double.init) })
            if hierarchical {
                sentenceFullScale[m] = Shading.scale(shown.flatMap { (documents[$0].sentenceAttributions[m] ?? []).map(Double.init) })
            }
        }

        // Per-class tokens by mean score per occurrence, grouped by predicted class.
        let C = classifier.labels.count
        func panel(_ method: AttributionMethod) -> ClassTokenPanel {
            var sums = [[String: (sum: Double, count: Int)]](repeating: [:], count: C)
            var used = 0
            for doc in documents where method == .attention || shownSet.contains(doc.index) {
                guard let scores = doc.attributions[method], !scores.isEmpty, scores.count == doc.tokens.count else { continue }
                used += 1
                let n = Double(scores.count)
                for (token, score) in zip(doc.tokens, scores) {
                    let value = method == .attention ? n * Double(score) : Double(score)
                    sums[doc.predicted][token.text, default: (0, 0)].sum += value
                    sums[doc.predicted][token.text, default: (0, 0)].count += 1
                }
            }
            let byClass = sums.map { table in
                table.filter { $0.value.count >= minOccurrences }
                    .map { TokenMean(token: $0.key, mean: $0.value.sum / Double($0.value.count), occurrences: $0.value.count) }
                    .sorted { $0.mean != $1.mean ? $0.mean > $1.mean : Array($0.token.utf8).lexicographicallyPrecedes(Array($1.token.utf8)) }
                    .prefix(topTokens).map { $0 }
            }
            return ClassTokenPanel(
                method: method, documents: used, wholeCorpus: method == .attention, minOccurrences: minOccurrences, byClass: byClass)
        }
        let classTokens = [attention ? AttributionMethod.attention : .occlusion, .integratedGradients].map(panel)

        let faithfulness = attention ? erasureTest(classifier: classifier, documents: documents, sequences: sequences, ks: faithfulnessK, seed: seed) : []
        let evaluation = labelled ? Evaluation(labels: classifier.labels, truth: truth.map { $0! }, predicted: documents.map(\.predicted)) : nil
        let calibration =
            labelled
            ? ReportCalibration(
                logits: base.flatMap(\.logits), truth: truth.map { $0! }, classes: classifier.labels.count,
                temperature: classifier.temperature, fit: classifier.calibration) : nil
        return ReportAnalysis(
            labels: classifier.labels, scoreKind: attention ? .attention : .occlusion, documents: documents, shown: shown,
            evaluation: evaluation, methods: methods, fullScale: fullScale, hierarchical: hierarchical, sentenceFullScale: sentenceFullScale,
            steps: steps, attributedDocuments: shown.filter { documents[$0].attributions[.integratedGradients] != nil }.count,
            classTokens: classTokens, faithfulness: faithfulness, sort: effective, compared: compared, comparison: comparison,
            calibration: calibration)
    }

    static func order(_ documents: [Document], by sort: ReportSort) -> [Int] {
        documents.indices.sorted { a, b in
            let x = documents[a], y = documents[b]
            switch sort {
            case .misclassified:
                if x.misclassified != y.misclassified { return x.misclassified }
                if x.confidence != y.confidence { return x.misclassified ? x.confidence > y.confidence : x.confidence < y.confidence }
            case .confidence:
                if x.confidence != y.confidence { return x.confidence < y.confidence }
            case .length:
                if x.tokens.count != y.tokens.count { return x.tokens.count > y.tokens.count }
            case .corpus: break
            case .disagreement:
                // τ ascending; then documents scored by every method without a τ; then the rest.
                func group(_ d: Document) -> Int { d.attentionAgreement != nil ? 0 : (d.attributions[.integratedGradients] != nil ? 1 : 2) }
                if group(x) != group(y) { return group(x) < group(y) }
                if let s = x.attentionAgreement?.tau, let t = y.attentionAgreement?.tau, s != t { return s < t }
                if x.misclassified != y.misclassified { return x.misclassified }
                if x.confidence != y.confidence { return x.misclassified ? x.confidence > y.confidence : x.confidence < y.confidence }
            }
            return x.index < y.index
        }
    }

    /// Erases (drops from the id sequence) the k most-attended tokens, and separately k tokens drawn
    /// at random (seeded), and counts how often the predicted class changes.
    static func erasureTest(classifier: TextClassifier, documents: [Document], sequences input: [TokenSequence], ks: [Int], seed: UInt64) -> [FaithfulnessRow] {
        var rows: [FaithfulnessRow] = []
        for k in ks where k >= 1 {
            var rng = Rng(seed: seed &+ UInt64(k) &* 0x9E37_79B9)
            var sequences: [TokenSequence] = [], owners: [Int] = []
            for doc in documents where doc.tokens.count > k {
                let weights = doc.scores ?? []
                let ranked = rankedPositions(weights)
                let topSet = Set(ranked.prefix(k))
                // k distinct positions, uniformly (partial Fisher–Yates).
                var positions = Array(doc.tokens.indices)
                for j in 0..<k {
                    let pick = j + Int(rng.next() % UInt64(positions.count - j))
                    positions.swapAt(j, pick)
                }
                let randomSet = Set(positions.prefix(k))
                let sequence = input[doc.index]
                sequences.append(sequence.selecting((0..<sequence.count).filter { !topSet.contains($0) }))
                sequences.append(sequence.selecting((0..<sequence.count).filter { !randomSet.contains($0) }))
                owners.append(doc.index)
            }
            let results = classifier.predict(sequences)
            var row = FaithfulnessRow(k: k, documents: owners.count, topFlips: 0, randomFlips: 0, topProbabilityDrop: 0, randomProbabilityDrop: 0)
            for (n, d) in owners.enumerated() {
                let doc = documents[d], top = results[2 * n], random = results[2 * n + 1]
                if top.best != doc.predicted { row.topFlips += 1 }
                if random.best != doc.predicted { row.randomFlips += 1 }
                let p = Double(doc.probabilities[doc.predicted])
                row.topProbabilityDrop += p - Double(top.probabilities[doc.predicted])
                row.randomProbabilityDrop += p - Double(random.probabilities[doc.predicted])
            }
            if row.documents > 0 {
                row.topProbabilityDrop /= Double(row.documents)
                row.randomProbabilityDrop /= Double(row.documents)
            }
            rows.append(row)
        }
        return rows
    }
}

/// How far the corpus's probabilities can be taken at face value: the reliability bins before
/// (T = 1) and after the model's temperature, and what answering only above a confidence threshold
/// buys. Computed from the logits of the report's one prediction pass, so the network runs once.
public struct ReportCalibration: Sendable, Equatable {
    /// The model's temperature (1 when it was never calibrated).
    public var temperature: Double
    /// The fit stored in the model file, if any (its dev-set NLL before and after, or why T = 1 was kept).
    public var fit: TemperatureCalibration?
    /// The corpus's metrics at T = 1 and at `temperature`, the same as `heed evaluate` computes.
    public var report: CalibrationReport

    /// The softmax as trained (T = 1).
    public var uncalibrated: CalibrationMetrics { report.uncalibrated }
    /// At the model's temperature; nil when it is 1.
    public var calibrated: CalibrationMetrics? { report.calibrated }
    /// At the model's temperature, highest threshold first.
    public var riskCoverage: [RiskCoveragePoint] { report.riskCoverage }
    /// Per document (corpus order), the reported confidence (at the model's temperature).
    public var confidences: [Double] { report.confidences }
    /// The metrics of the probabilities the report shows.
    public var reported: CalibrationMetrics { report.reported }

    /// Metrics at T = 1 and at `temperature` from `logits` [n × classes].
    public init(logits: [Float], truth: [Int], classes: Int, temperature: Double, fit: TemperatureCalibration?) {
        self.temperature = temperature
        self.fit = fit
        report = CalibrationReport(logits: logits, truth: truth, classes: classes, temperature: temperature)
    }

    /// Coverage and accuracy when only documents with confidence ≥ `threshold` are answered.
    public func answered(atLeast threshold: Double) -> (answered: Int, coverage: Double, accuracy: Double?) { report.answered(atLeast: threshold) }
}
