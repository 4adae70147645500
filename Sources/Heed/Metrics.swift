/// Classification quality from a confusion matrix (rows = true class, columns = predicted).
public struct Evaluation: Codable, Sendable, Equatable {
    /// One class's scores, as in scikit-learn's classification report.
    public struct ClassScores: Codable, Sendable, Equatable {
        /// The class.
        public var label: String
        /// Of the documents predicted as this class, the share that have it.
        public var precision: Double
        /// Of the documents that have this class, the share predicted as it.
        public var recall: Double
        /// Harmonic mean of precision and recall.
        public var f1: Double
        /// How many documents truly have this class.
        public var support: Int
    }

    /// The classes, indexing the rows and columns of `confusion`.
    public var labels: [String]
    /// `confusion[t][p]` counts the documents of true class `t` predicted as class `p`.
    public var confusion: [[Int]]
    /// Mean cross-entropy of the true classes, when the probabilities were known.
    public var loss: Double?

    /// Scores of a confusion matrix (rows true class, columns predicted, in `labels` order).
    public init(labels: [String], confusion: [[Int]], loss: Double? = nil) {
        self.labels = labels
        self.confusion = confusion
        self.loss = loss
    }

    /// Scores of parallel arrays of true and predicted class indices into `labels`.
    public init(labels: [String], truth: [Int], predicted: [Int], loss: Double? = nil) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for (t, p) in zip(truth, predicted) { confusion[t][p] += 1 }
        self.init(labels: labels, confusion: confusion, loss: loss)
    }

    /// Documents scored.
    public var count: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    /// Documents whose predicted class is the true one.
    public var correct: Int { confusion.indices.reduce(0) { $0 + confusion[$1][$1] } }
    /// Share of documents classified correctly, in [0, 1] (0 when there are none).
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    /// Per class; a class never predicted has precision 0, one never present has recall 0
    /// (scikit-learn's zero_division=0 convention).
    public var perClass: [ClassScores] {
        labels.indices.map { c in
            let tp = confusion[c][c]
            let predicted = confusion.reduce(0) { $0 + $1[c] }
            let support = confusion[c].reduce(0, +)
            let precision = predicted == 0 ? 0 : Double(tp) / Double(predicted)
            let recall = support == 0 ? 0 : Double(tp) / Double(support)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            return ClassScores(label: labels[c], precision: precision, recall: recall, f1: f1, support: support)
        }
    }

    /// Unweighted mean of per-class F1 over classes present in the truth or the predictions.
    public var macroF1: Double {
        let scores = perClass.enumerated().filter { c, s in s.support > 0 || confusion.contains { $0[c] > 0 } }.map(\.element.f1)
        return scores.isEmpty ? 0 : scores.reduce(0, +) / Double(scores.count)
    }
}

/// The dev-set score that early stopping keeps the best epoch by and `heed tune` ranks trials by.
public enum DevMetric: Sendable, Equatable, CustomStringConvertible {
    /// Share of dev documents classified correctly.
    case accuracy
    /// Unweighted mean of the per-class F1 scores.
    case macroF1
    /// One class's F1 (e.g. the rare class that matters).
    case f1(label: String)

    /// `accuracy`, `macro-f1` or `f1:LABEL`; nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "accuracy": self = .accuracy
        case "macro-f1": self = .macroF1
        default:
            guard text.hasPrefix("f1:"), text.count > 3 else { return nil }
            self = .f1(label: String(text.dropFirst(3)))
        }
    }

    public var description: String {
        switch self {
        case .accuracy: return "accuracy"
        case .macroF1: return "macro-f1"
        case .f1(let label): return "f1:\(label)"
        }
    }

    /// The metric's value on `evaluation` (0 for a label it does not know).
    public func score(_ evaluation: Evaluation) -> Double {
        switch self {
        case .accuracy: return evaluation.accuracy
        case .macroF1: return evaluation.macroF1
        case .f1(let label): return evaluation.perClass.first { $0.label == label }?.f1 ?? 0
        }
    }
}
