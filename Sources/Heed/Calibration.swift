import Foundation
import HeedText

/// How `heed train` calibrates the probabilities of the model it writes.
public enum CalibrationMethod: String, Codable, Sendable, CaseIterable {
    /// One temperature T fitted on the dev set by negative log-likelihood (Guo et al. 2017):
    /// probabilities become softmax(logits / T); the predicted class never changes.
    case temperature
    /// Probabilities are the network's softmax as trained (T = 1).
    case none
}

/// A model's fitted temperature and what it did on the data it was fitted to; stored in the model file.
public struct TemperatureCalibration: Codable, Sendable, Equatable {
    /// Divides the logits before the softmax (1: unchanged).
    public var temperature: Double
    /// Documents it was fitted on.
    public var documents: Int
    /// Negative log-likelihood on those documents at T = 1 and at `temperature`.
    public var nllBefore: Double
    /// See `nllBefore`.
    public var nllAfter: Double
    /// Why the fit kept T = 1, when it did (for example, every dev document separated with a margin).
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case temperature, documents, note
        case nllBefore = "nll_before", nllAfter = "nll_after"
    }
}

/// One confidence bin of a reliability diagram.
public struct ReliabilityBin: Codable, Sendable, Equatable {
    /// The bin holds confidences in (low, high].
    public var low: Double
    /// Upper edge, included.
    public var high: Double
    /// Documents whose confidence falls in the bin.
    public var count: Int
    /// Share of them predicted correctly (nil when empty).
    public var accuracy: Double?
    /// Their mean confidence (nil when empty).
    public var confidence: Double?
}

/// How far predicted probabilities can be taken at face value, for one temperature.
public struct CalibrationMetrics: Codable, Sendable, Equatable {
    /// The temperature the probabilities were computed with.
    public var temperature: Double
    /// Share of documents whose most probable class is the true one (no temperature changes it).
    public var accuracy: Double
    /// Mean −log p(true class).
    public var negativeLogLikelihood: Double
    /// Mean over documents of Σ_c (p_c − [c is true])².
    public var brierScore: Double
    /// Σ over bins of (bin size / n) · |accuracy − mean confidence|, confidence = the top probability.
    public var expectedCalibrationError: Double
    /// The largest |accuracy − mean confidence| over non-empty bins.
    public var maximumCalibrationError: Double
    /// Equal-width confidence bins (15, as Guo et al.).
    public var bins: [ReliabilityBin]

    enum CodingKeys: String, CodingKey {
        case temperature, accuracy, bins
        case negativeLogLikelihood = "nll", brierScore = "brier", expectedCalibrationError = "ece", maximumCalibrationError = "mce"
    }
}

/// One point of a risk–coverage curve: answer only when the top probability is at least `threshold`.
public struct RiskCoveragePoint: Codable, Sendable, Equatable {
    /// The confidence threshold.
    public var threshold: Double
    /// Share of documents answered.
    public var coverage: Double
    /// Accuracy on the answered documents.
    public var accuracy: Double
    /// Documents answered.
    public var answered: Int
}

/// Temperature scaling and calibration metrics, computed in Double from logits.
public enum Calibration {
    /// Bins in the expected calibration error and the reliability diagram (as Guo et al.).
    public static let binCount = 15
    /// The temperatures the fit may choose from.
    public static let temperatureRange = 0.05...20.0

    /// softmax(logits / temperature), in Double.
    public static func probabilities(logits: ArraySlice<Float>, temperature: Double) -> [Double] {
        softmax(logits.map { Double($0) / temperature })
    }

    /// softmax(z), shifted by the largest value so nothing overflows.
    static func softmax(_ z: [Double]) -> [Double] {
        let top = z.max() ?? 0
        let e = z.map { exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// −log softmax(logits / temperature)[label], without forming the probabilities (no underflow).
    static func negativeLogLikelihood(logits: ArraySlice<Float>, label: Int, temperature: Double) -> Double {
        let z = logits.map { Double($0) / temperature }
        let top = z.max()!
        return top + log(z.reduce(0) { $0 + exp($1 - top) }) - z[label]
    }

    /// The temperature minimising the mean negative log-likelihood of `labels` under
    /// softmax(logits / T), logits [n × classes] row-major. The NLL is convex in 1/T, so its
    /// derivative is bisected (on log T, to full Double precision: deterministic). When the NLL
    /// keeps falling as T shrinks to the range's lower end, the data cannot tell how sharp to be
    /// (every document is separated with a margin): T = 1 is kept and `note` says so.
    public static func fitTemperature(logits: [Float], labels: [Int], classes: Int) -> TemperatureCalibration {
        precondition(logits.count == labels.count * classes && !labels.isEmpty, "one row of logits per label")
        let n = labels.count
        func row(_ i: Int) -> ArraySlice<Float> { logits[(i * classes)..<((i + 1) * classes)] }
        func nll(_ t: Double) -> Double { (0..<n).reduce(0) { $0 + negativeLogLikelihood(logits: row($1), label: labels[$1], temperature: t) } / Double(n) }
        /// d NLL / d(1/T): positive when T is too small (the probabilities too sharp).
        func slope(_ t: Double) -> Double {
            var s = 0.0
            for i in 0..<n {
                let r = row(i), p = probabilities(logits: r, temperature: t)
                var expected = 0.0
                for c in 0..<classes { expected += p[c] * Double(r[r.startIndex + c]) }
                s += expected - Double(r[r.startIndex + labels[i]])
            }
            return s / Double(n)
        }
        let before = nll(1)
        var calibration = TemperatureCalibration(temperature: 1, documents: n, nllBefore: before, nllAfter: before)
        let lowT = temperatureRange.lowerBound, highT = temperatureRange.upperBound
        if slope(lowT) <= 0 {
            calibration.note = "the negative log-likelihood keeps falling as T shrinks to \(lowT) (every document separated with a margin); T = 1 kept"
            return calibration
        }
        var t: Double
        if slope(highT) > 0 {
            t = highT
        } else {
            var lo = log(lowT), hi = log(highT)  // slope(exp(lo)) ≥ 0 ≥ slope(exp(hi))
            for _ in 0..<200 {
                let mid = (lo + hi) / 2
                if mid == lo || mid == hi { break }
                if slope(exp(mid)) > 0 { lo = mid } else { hi = mid }
            }
            t = exp((lo + hi) / 2)
        }
        let after = nll(t)
        if after < before {
            calibration.temperature = t
            calibration.nllAfter = after
        }
        return calibration
    }

    /// NLL, Brier score, ECE and MCE of softmax(logits / temperature) against `labels`.
    public static func metrics(logits: [Float], labels: [Int], classes: Int, temperature: Double) -> CalibrationMetrics {
        precondition(logits.count == labels.count * classes && !labels.isEmpty, "one row of logits per label")
        let n = labels.count, M = binCount
        var nll = 0.0, brier = 0.0, correct = 0
        var binCount = [Int](repeating: 0, count: M), binCorrect = binCount, binConfidence = [Double](repeating: 0, count: M)
        for i in 0..<n {
            let r = logits[(i * classes)..<((i + 1) * classes)]
            let p = probabilities(logits: r, temperature: temperature)
            nll += negativeLogLikelihood(logits: r, label: labels[i], temperature: temperature)
            for c in 0..<classes { brier += (p[c] - (c == labels[i] ? 1 : 0)) * (p[c] - (c == labels[i] ? 1 : 0)) }
            let best = bestIndex(r)
            let confidence = p[best]
            let bin = min(M - 1, max(0, Int((confidence * Double(M)).rounded(.up)) - 1))
            binCount[bin] += 1
            binConfidence[bin] += confidence
            if best == labels[i] {
                correct += 1
                binCorrect[bin] += 1
            }
        }
        var ece = 0.0, mce = 0.0
        var bins: [ReliabilityBin] = []
        for b in 0..<M {
            var bin = ReliabilityBin(low: Double(b) / Double(M), high: Double(b + 1) / Double(M), count: binCount[b])
            if binCount[b] > 0 {
                let accuracy = Double(binCorrect[b]) / Double(binCount[b]), confidence = binConfidence[b] / Double(binCount[b])
                bin.accuracy = accuracy
                bin.confidence = confidence
                ece += Double(binCount[b]) / Double(n) * abs(accuracy - confidence)
                mce = max(mce, abs(accuracy - confidence))
            }
            bins.append(bin)
        }
        return CalibrationMetrics(
            temperature: temperature, accuracy: Double(correct) / Double(n), negativeLogLikelihood: nll / Double(n), brierScore: brier / Double(n),
            expectedCalibrationError: ece, maximumCalibrationError: mce, bins: bins)
    }

    /// Accuracy and coverage when only documents with confidence ≥ t are answered, for every
    /// distinct confidence t (highest first); thinned to at most `maximumPoints`, always keeping
    /// the last (full coverage).
    public static func riskCoverage(confidences: [Double], correct: [Bool], maximumPoints: Int = 200) -> [RiskCoveragePoint] {
        precondition(confidences.count == correct.count)
        let order = confidences.indices.sorted { confidences[$0] > confidences[$1] || confidences[$0] == confidences[$1] && $0 < $1 }
        var points: [RiskCoveragePoint] = []
        var right = 0
        for (k, i) in order.enumerated() {
            if correct[i] { right += 1 }
            // A threshold answers every document at or above it: emit after the last of equal confidences.
            if k + 1 < order.count && confidences[order[k + 1]] == confidences[i] { continue }
            points.append(
                RiskCoveragePoint(
                    threshold: confidences[i], coverage: Double(k + 1) / Double(order.count), accuracy: Double(right) / Double(k + 1), answered: k + 1))
        }
        guard points.count > maximumPoints, maximumPoints >= 2 else { return points }
        return (0..<maximumPoints).map { points[$0 * (points.count - 1) / (maximumPoints - 1)] }
    }

    /// The index of the largest logit (the first on ties), which is the most probable class at
    /// every temperature.
    static func bestIndex(_ logits: ArraySlice<Float>) -> Int {
        var best = logits.startIndex
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best - logits.startIndex
    }
}

/// Calibration metrics of a labelled corpus at T = 1 and at a model's temperature.
public struct CalibrationReport: Codable, Sendable, Equatable {
    /// The softmax as trained (T = 1).
    public var uncalibrated: CalibrationMetrics
    /// At the model's temperature; nil when it is 1.
    public var calibrated: CalibrationMetrics?
    /// At the model's temperature: what answering only above a confidence threshold buys.
    public var riskCoverage: [RiskCoveragePoint]

    /// Per document, in order: the reported confidence (the top probability at the model's
    /// temperature) and whether the prediction is right. Not encoded: the curve summarises them.
    public var confidences: [Double] = []
    /// See `confidences`.
    public var correct: [Bool] = []

    enum CodingKeys: String, CodingKey {
        case uncalibrated, calibrated
        case riskCoverage = "risk_coverage"
    }

    /// The metrics of the probabilities the model reports.
    public var reported: CalibrationMetrics { calibrated ?? uncalibrated }

    /// Metrics at T = 1 and at `temperature` (nil when it is 1), and the risk–coverage curve at
    /// `temperature`, from logits [n × classes] and the true class indices.
    public init(logits: [Float], truth: [Int], classes: Int, temperature: Double) {
        uncalibrated = Calibration.metrics(logits: logits, labels: truth, classes: classes, temperature: 1)
        calibrated = temperature == 1 ? nil : Calibration.metrics(logits: logits, labels: truth, classes: classes, temperature: temperature)
        for i in truth.indices {
            let row = logits[(i * classes)..<((i + 1) * classes)]
            let best = Calibration.bestIndex(row)
            confidences.append(Calibration.probabilities(logits: row, temperature: temperature)[best])
            correct.append(best == truth[i])
        }
        riskCoverage = Calibration.riskCoverage(confidences: confidences, correct: correct)
    }

    /// Coverage and accuracy when only documents with confidence ≥ `threshold` are answered, read
    /// from every document (the curve may be thinned); nil accuracy when none is answered.
    public func answered(atLeast threshold: Double) -> (answered: Int, coverage: Double, accuracy: Double?) {
        let kept = confidences.indices.filter { confidences[$0] >= threshold }
        let right = kept.filter { correct[$0] }.count
        return (kept.count, Double(kept.count) / Double(max(1, confidences.count)), kept.isEmpty ? nil : Double(right) / Double(kept.count))
    }

    /// The round thresholds tables list: those above chance (1/classes), which answers everything.
    public static func roundThresholds(classes: Int) -> [Double] {
        [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99].filter { $0 > 1 / Double(max(classes, 1)) }
    }
}

extension TextClassifier {
    /// The true classes and the network's logits [n × classes] of labelled documents.
    func labelledLogits(_ docs: [LabelledText], file: String) throws -> (truth: [Int], logits: [Float]) {
        var logits: [Float] = []
        logits.reserveCapacity(docs.count * labels.count)
        let truth = try scoreLabelled(docs, file: file) { _, score in logits += score.logits }
        return (truth, logits)
    }

    /// The documents training held out as its dev set when given `trainingData` without a dev
    /// file: the same seeded, stratified draw (`options.seed`, `options.devFraction`), so a model
    /// trained before calibration existed can be calibrated on exactly the data it was selected on.
    public func heldOutDevSet(of trainingData: [LabelledText]) -> [LabelledText] {
        Trainer.carveDev(labels: trainingData.map { $0.label ?? "" }, fraction: options.devFraction, seed: options.seed).map { trainingData[$0] }
    }

    /// A copy whose temperature is fitted on `docs` (use held-out data, never the test set).
    public func calibrated(on docs: [LabelledText], file: String = "calibration data") throws -> TextClassifier {
        let (truth, logits) = try labelledLogits(docs, file: file)
        var copy = self
        copy.calibration = Calibration.fitTemperature(logits: logits, labels: truth, classes: labels.count)
        return copy
    }

    /// NLL, Brier score, ECE, MCE and the reliability bins at T = 1 and at the model's
    /// temperature, and the risk–coverage curve of the reported probabilities.
    public func calibrationReport(_ docs: [LabelledText], file: String = "test data") throws -> CalibrationReport {
        try assessment(docs, file: file, calibration: true).calibration!
    }
}
