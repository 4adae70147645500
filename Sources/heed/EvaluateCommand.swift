import ArgumentParser
import Foundation
import Heed

extension Evaluation {
    /// The human-readable report printed by `heed evaluate`.
    var table: String {
        var lines = ["accuracy \(percent(accuracy)) (\(correct)/\(count)), macro-F1 \(percent(macroF1)), loss \(fixed(loss ?? .nan, 4))", ""]
        let width = max(5, labels.map(\.count).max() ?? 5)
        func pad(_ s: String, _ n: Int) -> String { Format.pad(s, n) }
        func lpad(_ s: String, _ n: Int) -> String { Format.pad(s, n, alignRight: true) }
        lines.append(pad("class", width) + "  precision  recall      F1  support")
        for s in perClass {
            lines.append(
                pad(s.label, width) + "  " + lpad(percent(s.precision), 9) + "  " + lpad(percent(s.recall), 6) + "  " + lpad(percent(s.f1), 6) + "  "
                    + lpad("\(s.support)", 7))
        }
        lines.append("")
        lines.append("confusion (rows: true, columns: predicted)")
        let cell = max(6, (confusion.flatMap { $0 }.max() ?? 0).description.count + 1)
        lines.append(pad("", width) + labels.map { lpad(String($0.prefix(cell - 1)), cell) }.joined())
        for (i, row) in confusion.enumerated() { lines.append(pad(labels[i], width) + row.map { lpad("\($0)", cell) }.joined()) }
        return lines.joined(separator: "\n")
    }

    func json(calibration: CalibrationReport, temperature: Double) -> String {
        struct Out: Encodable {
            var accuracy: Double, macroF1: Double, loss: Double?, count: Int
            var labels: [String], confusion: [[Int]], perClass: [Evaluation.ClassScores]
            var temperature: Double, calibration: CalibrationReport
            enum CodingKeys: String, CodingKey {
                case accuracy, loss, count, labels, confusion, temperature, calibration
                case macroF1 = "macro_f1", perClass = "per_class"
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let out = Out(
            accuracy: accuracy, macroF1: macroF1, loss: loss, count: count, labels: labels, confusion: confusion, perClass: perClass,
            temperature: temperature, calibration: calibration)
        return String(decoding: try! encoder.encode(out), as: UTF8.self)
    }
}

extension CalibrationReport {
    /// The calibration lines of `heed evaluate`: one row per temperature, then the round thresholds
    /// above chance for `classes` labels.
    func table(classes: Int) -> String {
        func row(_ name: String, _ m: CalibrationMetrics) -> String {
            Format.pad(name, 26) + Format.pad(Format.decimals(m.negativeLogLikelihood, 4), 9, alignRight: true)
                + Format.pad(Format.decimals(m.brierScore, 4), 9, alignRight: true) + Format.pad(percent(m.expectedCalibrationError), 8, alignRight: true)
                + Format.pad(percent(m.maximumCalibrationError), 8, alignRight: true) + Format.pad(percent(m.accuracy), 10, alignRight: true)
        }
        var lines = [
            "calibration (confidence = top probability; ECE and MCE over \(Calibration.binCount) equal-width bins)",
            Format.pad("", 26) + Format.pad("NLL", 9, alignRight: true) + Format.pad("Brier", 9, alignRight: true) + Format.pad("ECE", 8, alignRight: true)
                + Format.pad("MCE", 8, alignRight: true) + Format.pad("accuracy", 10, alignRight: true),
            row("as trained (T = 1)", uncalibrated),
        ]
        if let calibrated { lines.append(row("calibrated (T = \(Format.decimals(calibrated.temperature, 3)))", calibrated)) }
        let thresholds = CalibrationReport.roundThresholds(classes: classes)
        if !thresholds.isEmpty {
            lines += ["", "answer only when confident (the model's reported probabilities)", "  threshold  coverage  accuracy"]
            for t in thresholds {
                let r = answered(atLeast: t)
                lines.append(
                    "  " + Format.pad("≥ \(Format.decimals(t, 2))", 9) + Format.pad(percent(r.coverage), 10, alignRight: true)
                        + Format.pad(r.accuracy.map(percent) ?? "–", 10, alignRight: true))
            }
        }
        return lines.joined(separator: "\n")
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model on labelled data: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix, calibration.")
    @Argument(help: "Model file.") var model: String
    @Argument(help: "Labelled test corpus.") var test: String
    @OptionGroup var input: InputOptions
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var scoring: InferenceWorkers

    func run() throws {
        var classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        classifier.workers = scoring.workers
        let docs = try CorpusReader(input.source(test)).readAll()
        let (evaluation, calibration) = try classifier.assess(docs, file: test)
        print(
            json
                ? evaluation.json(calibration: calibration, temperature: classifier.temperature)
                : evaluation.table + "\n\n" + calibration.table(classes: classifier.labels.count))
    }
}
