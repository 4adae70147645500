import Foundation
import HeedNN
import Testing

@testable import Heed

/// Logits [n × classes] and labels drawn from softmax(logits): a perfectly calibrated set.
func calibratedSample(n: Int, classes: Int, seed: UInt64) -> (logits: [Float], labels: [Int]) {
    var rng = Rng(seed: seed)
    var logits: [Float] = [], labels: [Int] = []
    for _ in 0..<n {
        let z = (0..<classes).map { _ in 2 * rng.normal() }
        let p = Calibration.probabilities(logits: z[...], temperature: 1)
        var u = Double(rng.uniform()), label = classes - 1
        for c in 0..<classes {
            u -= p[c]
            if u < 0 {
                label = c
                break
            }
        }
        logits += z
        labels.append(label)
    }
    return (logits, labels)
}

@Suite struct CalibrationTests {
    /// Logits of a calibrated set multiplied by 2.5 are over-confident by exactly a temperature of
    /// 2.5; the fit finds it (to sampling error) and the ECE drops to the calibrated set's.
    @Test func temperatureFitRecoversAKnownTemperature() {
        let (z, labels) = calibratedSample(n: 5000, classes: 4, seed: 5)
        let sharp = z.map { 2.5 * $0 }
        let fit = Calibration.fitTemperature(logits: sharp, labels: labels, classes: 4)
        #expect(abs(fit.temperature - 2.5) < 0.15, "T = \(fit.temperature)")
        #expect(fit.nllAfter < fit.nllBefore && fit.note == nil && fit.documents == 5000)
        let before = Calibration.metrics(logits: sharp, labels: labels, classes: 4, temperature: 1)
        let after = Calibration.metrics(logits: sharp, labels: labels, classes: 4, temperature: fit.temperature)
        #expect(before.expectedCalibrationError > 0.1)
        #expect(after.expectedCalibrationError < 0.02)
        #expect(after.accuracy == before.accuracy)
        // Deterministic: the same data gives the same temperature, bit for bit.
        #expect(Calibration.fitTemperature(logits: sharp, labels: labels, classes: 4) == fit)
    }

    /// A set that is calibrated by construction: 75 of 100 documents at confidence 0.75 are right,
    /// 55 of 100 at 0.55 (both inside a bin, not on an edge). Its ECE and MCE are 0 up to rounding;
    /// making the first group all right moves the ECE by exactly 100/200 · 0.25.
    @Test func calibrationErrorOfAnExactlyCalibratedSet() {
        let strong = Float(log(3.0)), weak = Float(log(11.0 / 9))  // softmax([x, 0]) = 0.75 and 0.55
        var logits: [Float] = [], labels: [Int] = []
        for i in 0..<100 {
            logits += [strong, 0]
            labels.append(i < 75 ? 0 : 1)
        }
        for i in 0..<100 {
            logits += [weak, 0]
            labels.append(i < 55 ? 0 : 1)
        }
        let m = Calibration.metrics(logits: logits, labels: labels, classes: 2, temperature: 1)
        #expect(m.expectedCalibrationError < 1e-7 && m.maximumCalibrationError < 1e-7)
        #expect(abs(m.accuracy - 0.65) < 1e-15)
        #expect(m.bins.count == 15 && m.bins.map(\.count).reduce(0, +) == 200)
        #expect(m.bins[11].count == 100 && m.bins[8].count == 100, "0.75 in (11/15, 12/15], 0.55 in (8/15, 9/15]")
        // Brier per document: 2(1 − p)² when right, 2p² when wrong.
        let right: Double = 75 * 2 * 0.0625 + 55 * 2 * 0.2025, wrong: Double = 25 * 2 * 0.5625 + 45 * 2 * 0.3025
        let brier = (right + wrong) / 200
        #expect(abs(m.brierScore - brier) < 1e-6)
        let logs: [Double] = [75 * log(0.75), 25 * log(0.25), 55 * log(0.55), 45 * log(0.45)]
        let nll = -logs.reduce(0, +) / 200
        #expect(abs(m.negativeLogLikelihood - nll) < 1e-6)
        for i in 75..<100 { labels[i] = 0 }
        let shifted = Calibration.metrics(logits: logits, labels: labels, classes: 2, temperature: 1)
        #expect(abs(shifted.expectedCalibrationError - 0.125) < 1e-7 && abs(shifted.maximumCalibrationError - 0.25) < 1e-7)
    }

    /// When every document is right with a margin, the likelihood keeps rising as T shrinks; no
    /// finite temperature is supported by the data, so T stays 1 and the note says why.
    @Test func separableDataKeepsTemperatureOne() {
        let fit = Calibration.fitTemperature(logits: [3, 0, 0, 2, 1, -1], labels: [0, 1, 0], classes: 2)
        #expect(fit.temperature == 1 && fit.note != nil && fit.nllAfter == fit.nllBefore)
    }

    @Test func riskCoverageCountsTiesTogether() {
        let points = Calibration.riskCoverage(confidences: [0.9, 0.6, 0.9, 0.7], correct: [true, false, false, true])
        #expect(points.map(\.threshold) == [0.9, 0.7, 0.6])
        #expect(points.map(\.answered) == [2, 3, 4])
        #expect(points.map(\.accuracy) == [0.5, 2.0 / 3, 0.5])
        #expect(points.last?.coverage == 1)
        let many = Calibration.riskCoverage(confidences: (0..<1000).map { Double($0) / 1000 }, correct: Array(repeating: true, count: 1000), maximumPoints: 50)
        #expect(many.count == 50 && many.last?.coverage == 1 && many.first?.answered == 1)
    }

    /// A temperature changes every probability and no prediction; it survives the model file, and a
    /// file without one loads as T = 1.
    @Test func temperatureIsAppliedSavedAndLoaded() throws {
        let plain = randomClassifier(.bilstmAttention)
        var hot = plain
        hot.calibration = TemperatureCalibration(temperature: 2.5, documents: 10, nllBefore: 1, nllAfter: 0.9)
        let texts = faithfulnessTexts + ["w3 w3 w9", "w20 w1"]
        let a = try plain.predict(texts), b = try hot.predict(texts)
        for (x, y) in zip(a, b) {
            #expect(x.label == y.label)
            #expect(x.probabilities != y.probabilities)
            #expect(y.confidence < x.confidence, "a temperature above 1 softens")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-cal-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try hot.write(to: dir.appendingPathComponent("hot.heed"))
        try plain.write(to: dir.appendingPathComponent("plain.heed"))
        let hotBack = try TextClassifier(contentsOf: dir.appendingPathComponent("hot.heed"))
        let plainBack = try TextClassifier(contentsOf: dir.appendingPathComponent("plain.heed"))
        #expect(hotBack.calibration == hot.calibration && plainBack.calibration == nil && plainBack.temperature == 1)
        #expect(try hotBack.predict(texts).map(\.probabilities) == b.map(\.probabilities))
    }

    @Test func rankedLabelsEdgeCases() {
        let p = Prediction(label: "b", probabilities: [0.2, 0.5, 0.3], labels: ["a", "b", "c"], tokens: [])
        #expect(p.rankedLabels().map(\.label) == ["b"])
        #expect(p.rankedLabels(maximumCount: 2).map(\.label) == ["b", "c"])
        #expect(p.rankedLabels(maximumCount: 10).map(\.label) == ["b", "c", "a"], "more than there are: all")
        #expect(p.rankedLabels(threshold: 0).map(\.label) == ["b", "c", "a"], "P = 0: every label")
        #expect(p.rankedLabels(threshold: 1).isEmpty, "P = 1: none unless certain")
        #expect(p.rankedLabels(threshold: 0.3).map(\.label) == ["b", "c"], "≥, not >")
        #expect(p.rankedLabels(maximumCount: 1, threshold: 0.25).map(\.score) == [0.5])
    }
}
