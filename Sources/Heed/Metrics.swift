/// Classification quality from a confusion matrix (rows = true class, columns = predicted).
public struct Evaluation: Codable, Sendable, Equatable {
    public struct ClassScores: Codable, Sendable, Equatable {
        public var label: String
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    public var labels: [String]
    public var confusion: [[Int]]
    public var loss: Double?

    public init(labels: [String], confusion: [[Int]], loss: Double? = nil) {
        self.labels = labels
        self.confusion = confusion
        self.loss = loss
    }

    public init(labels: [String], truth: [Int], predicted: [Int], loss: Double? = nil) {
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for (t, p) in zip(truth, predicted) { confusion[t][p] += 1 }
        self.init(labels: labels, confusion: confusion, loss: loss)
    }

    public var count: Int { confusion.reduce(0) { $0 + $1.reduce(0, +) } }
    public var correct: Int { confusion.indices.reduce(0) { $0 + confusion[$1][$1] } }
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
