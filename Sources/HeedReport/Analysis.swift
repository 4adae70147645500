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

/// Everything the report shows, computed from a classifier and a corpus; no HTML here.
public struct ReportAnalysis: Sendable {
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
    /// Per class: tokens by summed score over documents predicted as / truly of that class, highest first.
    public var massByPredicted: [[(token: String, mass: Double)]]
    public var massByTruth: [[(token: String, mass: Double)]]
    /// Documents the class masses were summed over.
    public var massDocuments: Int
    /// Empty for models without attention.
    public var faithfulness: [FaithfulnessRow]

    /// Predicts every document, scores the shown ones, and (for attention models) runs the erasure test.
    /// Labels must be all present or all absent; a label the model does not know is an error naming the line.
    public static func run(
        classifier: TextClassifier, documents docs: [LabelledText], file: String = "corpus",
        sort: ReportSort = .misclassified, limit: Int = 200, seed: UInt64 = 1,
        faithfulnessK: [Int] = [1, 3, 5], topTokens: Int = 8
    ) throws -> ReportAnalysis {
        guard !docs.isEmpty else { throw HeedTextError.noDocuments(file) }
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

        let encoded = try classifier.encode(docs.map(\.text))
        let base = classifier.predict(ids: encoded.map(\.ids))
        var documents: [Document] = []
        documents.reserveCapacity(docs.count)
        for i in docs.indices {
            var tokens = encoded[i].tokens
            if let attention = base[i].attention { for t in tokens.indices { tokens[t].weight = attention[t] } }
            documents.append(
                Document(
                    index: i, line: docs[i].line, text: docs[i].text, truth: truth[i], predicted: base[i].best,
                    probabilities: base[i].probabilities, tokens: tokens,
                    scores: base[i].attention ?? (tokens.isEmpty ? [] : nil)))
        }

        let shown = Array(order(documents, by: labelled ? sort : (sort == .misclassified ? .confidence : sort)).prefix(max(0, limit)))
        let attention = classifier.hasAttention
        if !attention {
            // Leave-one-out occlusion, for the shown documents only (one forward pass per token).
            var sequences: [[Int32]] = [], owners: [(doc: Int, token: Int)] = []
            for d in shown where documents[d].scores == nil {
                let ids = encoded[d].ids
                for t in ids.indices {
                    var without = ids
                    without.remove(at: t)
                    sequences.append(without)
                    owners.append((d, t))
                }
            }
            let results = classifier.predict(ids: sequences)
            for (owner, result) in zip(owners, results) {
                let doc = documents[owner.doc]
                if documents[owner.doc].scores == nil { documents[owner.doc].scores = [Float](repeating: 0, count: doc.tokens.count) }
                documents[owner.doc].scores![owner.token] = doc.probabilities[doc.predicted] - result.probabilities[doc.predicted]
            }
        }

        // Token mass per class: attention over every document, occlusion (positive part) over the shown ones.
        let C = classifier.labels.count
        var byPredicted = [[String: Double]](repeating: [:], count: C), byTruth = byPredicted
        var massDocuments = 0
        for doc in documents {
            guard let scores = doc.scores, !doc.tokens.isEmpty else { continue }
            massDocuments += 1
            for (token, score) in zip(doc.tokens, scores) where score > 0 {
                byPredicted[doc.predicted][token.text, default: 0] += Double(score)
                if let t = doc.truth { byTruth[t][token.text, default: 0] += Double(score) }
            }
        }
        func top(_ masses: [String: Double]) -> [(token: String, mass: Double)] {
            masses.sorted { $0.value != $1.value ? $0.value > $1.value : Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
                .prefix(topTokens).map { (token: $0.key, mass: $0.value) }
        }

        let faithfulness = attention ? erasureTest(classifier: classifier, documents: documents, ids: encoded.map(\.ids), ks: faithfulnessK, seed: seed) : []
        let evaluation = labelled ? Evaluation(labels: classifier.labels, truth: truth.map { $0! }, predicted: documents.map(\.predicted)) : nil
        return ReportAnalysis(
            labels: classifier.labels, scoreKind: attention ? .attention : .occlusion, documents: documents, shown: shown,
            evaluation: evaluation, massByPredicted: byPredicted.map(top), massByTruth: labelled ? byTruth.map(top) : [],
            massDocuments: massDocuments, faithfulness: faithfulness)
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
            }
            return x.index < y.index
        }
    }

    /// Erases (drops from the id sequence) the k most-attended tokens, and separately k tokens drawn
    /// at random (seeded), and counts how often the predicted class changes.
    static func erasureTest(classifier: TextClassifier, documents: [Document], ids: [[Int32]], ks: [Int], seed: UInt64) -> [FaithfulnessRow] {
        var rows: [FaithfulnessRow] = []
        for k in ks where k >= 1 {
            var rng = Rng(seed: seed &+ UInt64(k) &* 0x9E37_79B9)
            var sequences: [[Int32]] = [], owners: [Int] = []
            for doc in documents where doc.tokens.count > k {
                let weights = doc.scores ?? []
                let ranked = doc.tokens.indices.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
                let topSet = Set(ranked.prefix(k))
                // k distinct positions, uniformly (partial Fisher–Yates).
                var positions = Array(doc.tokens.indices)
                for j in 0..<k {
                    let pick = j + Int(rng.next() % UInt64(positions.count - j))
                    positions.swapAt(j, pick)
                }
                let randomSet = Set(positions.prefix(k))
                let sequence = ids[doc.index]
                sequences.append(sequence.indices.filter { !topSet.contains($0) }.map { sequence[$0] })
                sequences.append(sequence.indices.filter { !randomSet.contains($0) }.map { sequence[$0] })
                owners.append(doc.index)
            }
            let results = classifier.predict(ids: sequences)
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
