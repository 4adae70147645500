import Foundation
import Heed
import Mustache

// The page's trust sections: per-document agreement between attention and integrated gradients,
// the method comparison (τ matrix, ERASER, permutation plot) and calibration (reliability diagrams,
// risk–coverage). Plain strings for the template, as in ReportView.swift.

/// A rectangle of an SVG plot (a bar).
struct PlotRect { var x: String; var y: String; var w: String; var h: String; var css: String; var rectTitle: String }
/// A line segment of an SVG plot.
struct PlotSegment { var x1: String; var y1: String; var x2: String; var y2: String; var css: String }
/// A point of an SVG plot, with its tooltip.
struct PlotDot { var cx: String; var cy: String; var css: String; var dotTitle: String }
/// A text label inside an SVG plot.
struct PlotText { var x: String; var y: String; var label: String }
/// A polyline of an SVG plot.
struct PlotPath { var points: String; var css: String }

/// An x–y plot in the style of `ChartView` (same CSS classes, ticks and title placement): the
/// reliability diagrams, the risk–coverage curve and the permutation scatter.
struct PlotView {
    var plotTitle: String
    var width: String, height: String
    var plotLeft: String, plotRight: String, plotTop: String, plotBottom: String
    var xTicks: [ChartTick], yTicks: [ChartTick]
    var xAxisLabel: String, xLabelX: String, xLabelY: String
    var yAxisLabel: String, yLabelX: String, yLabelY: String
    var segments: [PlotSegment]
    var bars: [PlotRect]
    var paths: [PlotPath]
    var dots: [PlotDot]
    var labels: [PlotText]
}

struct TauCell { var text: String; var sub: String; var alpha: String; var css: String; var cellTitle: String }
struct TauRowView { var rowName: String; var cells: [TauCell] }
struct EraserRowView {
    var ranking: String; var isRandom: Bool; var comprehensiveness: [String]; var aopcC: String; var sufficiency: [String]; var aopcS: String
}
struct RiskRowView { var threshold: String; var answered: String; var coverage: String; var accuracy: String }

/// Geometry shared by the plots (and the tests that read positions back).
enum PlotLayout {
    /// Reliability diagram: the square plot area and the count strip under it.
    static let reliabilityWidth = 330.0, reliabilityLeft = 46.0, reliabilityTop = 40.0, reliabilitySize = 260.0
    static let countStripTop = 344.0, countStripHeight = 34.0
    static let reliabilityHeight = 392.0

    static func f(_ v: Double) -> String { fixed(v, 1) }

    /// A round tick step (1, 2 or 5 × 10^k) giving at most 6 intervals, and the range widened to ticks.
    static func axis(_ lo: Double, _ hi: Double) -> (lo: Double, hi: Double, step: Double) {
        var lo = lo, hi = hi
        if !(hi - lo > 1e-9) { lo -= 0.01; hi += 0.01 }
        let magnitude = pow(10, (log10((hi - lo) / 5)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { (hi - lo) / $0 <= 6 } ?? 10 * magnitude
        return ((lo / step).rounded(.down) * step, (hi / step).rounded(.up) * step, step)
    }

    /// Ticks from lo to hi every step, placed by `at`.
    static func ticks(_ lo: Double, _ hi: Double, _ step: Double, format: (Double) -> String, at: (Double) -> (String, String)) -> [ChartTick] {
        let count = max(1, Int(((hi - lo) / step).rounded()))
        return (0...count).map { i in
            let v = lo + step * Double(i)
            let (x, y) = at(v)
            return ChartTick(x: x, y: y, tickLabel: format(v))
        }
    }
}

extension HTMLReport {
    /// Accuracy (bar) against mean confidence (point) per bin, with the diagonal a perfectly
    /// calibrated model would follow, the gap as a red segment, and the documents per bin in a strip
    /// underneath.
    static func reliabilityDiagram(_ m: CalibrationMetrics, title: String) -> PlotView {
        let L = PlotLayout.self, f = PlotLayout.f
        let left = L.reliabilityLeft, top = L.reliabilityTop, size = L.reliabilitySize
        func x(_ v: Double) -> Double { left + v * size }
        func y(_ v: Double) -> Double { top + (1 - v) * size }
        let tick: (Double) -> String = { percent($0, 0) }
        let yTicks = PlotLayout.ticks(0, 1, 0.2, format: tick) { (f(left - 6), f(y($0))) }
        let xTicks = PlotLayout.ticks(0, 1, 0.2, format: tick) { (f(x($0)), f(top + size + 16)) }
        var bars: [PlotRect] = [], dots: [PlotDot] = [], segments: [PlotSegment] = [], labels: [PlotText] = []
        segments.append(PlotSegment(x1: f(x(0)), y1: f(y(0)), x2: f(x(1)), y2: f(y(1)), css: "diag"))
        let most = Double(m.bins.map(\.count).max() ?? 0)
        let stripBottom = L.countStripTop + L.countStripHeight
        for bin in m.bins {
            guard bin.count > 0, let accuracy = bin.accuracy, let confidence = bin.confidence else { continue }
            let range = "confidence (\(fixed(bin.low, 3)), \(fixed(bin.high, 3))]"
            let what = "\(range): \(count(bin.count, "document")), accuracy \(percent(accuracy)), mean confidence \(percent(confidence))"
            bars.append(
                PlotRect(x: f(x(bin.low) + 1), y: f(y(accuracy)), w: f(size / Double(m.bins.count) - 2), h: f(accuracy * size), css: "acc", rectTitle: what))
            segments.append(PlotSegment(x1: f(x(confidence)), y1: f(y(accuracy)), x2: f(x(confidence)), y2: f(y(confidence)), css: "gap"))
            dots.append(PlotDot(cx: f(x(confidence)), cy: f(y(accuracy)), css: "conf", dotTitle: what))
            let h = most > 0 ? Double(bin.count) / most * (L.countStripHeight - 10) : 0
            bars.append(PlotRect(x: f(x(bin.low) + 1), y: f(stripBottom - h), w: f(size / Double(m.bins.count) - 2), h: f(h), css: "cnt", rectTitle: what))
            // Neighbouring counts alternate between two heights so that wide numbers do not run together.
            let lift = labels.count % 2 == 1 ? 9.0 : 0
            labels.append(PlotText(x: f(x((bin.low + bin.high) / 2)), y: f(stripBottom - h - 2 - lift), label: "\(bin.count)"))
        }
        return PlotView(
            plotTitle: title, width: f(L.reliabilityWidth), height: f(L.reliabilityHeight), plotLeft: f(left), plotRight: f(left + size), plotTop: f(top),
            plotBottom: f(top + size), xTicks: xTicks, yTicks: yTicks,
            xAxisLabel: "confidence (top probability); strip: documents per bin", xLabelX: f(left + size / 2), xLabelY: f(top + size + 32),
            yAxisLabel: "accuracy", yLabelX: "12", yLabelY: f(top + size / 2),
            segments: segments, bars: bars, paths: [], dots: dots, labels: labels)
    }

    /// Accuracy against coverage as the confidence threshold falls from the highest confidence
    /// (few documents answered) to the lowest (all answered).
    static func riskCoveragePlot(_ c: ReportCalibration) -> PlotView {
        let f = PlotLayout.f
        let width = 440.0, height = 260.0, left = 52.0, right = 16.0, top = 30.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let lowest = c.riskCoverage.map(\.accuracy).min() ?? 0
        let axis = PlotLayout.axis(min(lowest, 0.9), 1)
        let lo = max(0, axis.lo), hi = 1.0
        func x(_ v: Double) -> Double { left + v * plotW }
        func y(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * plotH }
        let digits = max(0, Int((-log10(axis.step * 100)).rounded(.up)))
        let yTicks = PlotLayout.ticks(lo, hi, axis.step, format: { percent($0, digits) }) { (f(left - 6), f(y($0))) }
        let xTicks = PlotLayout.ticks(0, 1, 0.2, format: { percent($0, 0) }) { (f(x($0)), f(top + plotH + 16)) }
        let points = c.riskCoverage.sorted { $0.coverage < $1.coverage }
        // At most 40 dots carry tooltips (the curve keeps every point); the full-coverage end always.
        let stride = max(1, (points.count + 39) / 40)
        let dots = points.enumerated().filter { $0.offset % stride == 0 || $0.offset == points.count - 1 }.map { _, p in
            PlotDot(
                cx: f(x(p.coverage)), cy: f(y(p.accuracy)), css: "s1",
                dotTitle:
                    "answer when confidence ≥ \(fixed(p.threshold, 3)): \(p.answered) of \(c.confidences.count) answered (\(percent(p.coverage))), accuracy \(percent(p.accuracy))"
            )
        }
        return PlotView(
            plotTitle: "Accuracy vs coverage (T = \(fixed(c.temperature, 2)))", width: f(width), height: f(height), plotLeft: f(left),
            plotRight: f(left + plotW), plotTop: f(top), plotBottom: f(top + plotH), xTicks: xTicks, yTicks: yTicks,
            xAxisLabel: "coverage (share of documents answered)", xLabelX: f(left + plotW / 2), xLabelY: f(height - 4),
            yAxisLabel: "accuracy", yLabelX: "12", yLabelY: f(top + plotH / 2),
            segments: [], bars: [], paths: [PlotPath(points: points.map { "\(f(x($0.coverage))),\(f(y($0.accuracy)))" }.joined(separator: " "), css: "s1")],
            dots: dots, labels: [])
    }

    /// Each compared document's largest attention weight against the median output change when its
    /// attention is shuffled (Jain & Wallace): points near the floor mean the arrangement of the
    /// attention hardly matters to that prediction.
    static func permutationPlot(_ points: [(n: Int, p: AttentionPermutation)]) -> PlotView {
        let f = PlotLayout.f
        let width = 440.0, height = 260.0, left = 52.0, right = 16.0, top = 30.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let largest = points.map(\.p.medianOutputChange).filter(\.isFinite).max() ?? 0
        let axis = PlotLayout.axis(0, largest > 0 ? largest : 0.01)
        let hi = axis.hi
        func x(_ v: Double) -> Double { left + v * plotW }
        func y(_ v: Double) -> Double { top + (1 - v / hi) * plotH }
        let digits = max(0, Int((-log10(axis.step)).rounded(.up)))
        let yTicks = PlotLayout.ticks(0, hi, axis.step, format: { fixed($0, digits) }) { (f(left - 6), f(y($0))) }
        let xTicks = PlotLayout.ticks(0, 1, 0.2, format: { fixed($0, 1) }) { (f(x($0)), f(top + plotH + 16)) }
        let dots = points.map { n, p in
            PlotDot(
                cx: f(x(p.maxAttention)), cy: f(y(p.medianOutputChange)), css: "pt",
                dotTitle: "#\(n): max attention \(fixed(p.maxAttention, 3)), median output change \(fixed(p.medianOutputChange, 3))")
        }
        return PlotView(
            plotTitle: "Attention permutation: output change vs max attention", width: f(width), height: f(height), plotLeft: f(left),
            plotRight: f(left + plotW), plotTop: f(top), plotBottom: f(top + plotH), xTicks: xTicks, yTicks: yTicks,
            xAxisLabel: "largest attention weight of the document", xLabelX: f(left + plotW / 2), xLabelY: f(height - 4),
            yAxisLabel: "median output change (TVD)", yLabelX: "12", yLabelY: f(top + plotH / 2),
            segments: [], bars: [], paths: [], dots: dots, labels: [])
    }

    /// Mean τ-b per method pair as a symmetric matrix (the diagonal left blank).
    static func tauMatrix(_ s: FaithfulnessSummary) -> (names: [String], rows: [TauRowView]) {
        let methods = s.methods.compactMap(AttributionMethod.init(rawValue:))
        let rows = methods.map { a in
            TauRowView(
                rowName: methodName(a),
                cells: methods.map { b in
                    guard a != b else { return TauCell(text: "—", sub: "", alpha: "0", css: "self", cellTitle: "") }
                    guard
                        let pair = s.agreement.first(where: {
                            ($0.first == a.rawValue && $0.second == b.rawValue) || ($0.first == b.rawValue && $0.second == a.rawValue)
                        }), pair.documents > 0
                    else { return TauCell(text: "–", sub: "no τ", alpha: "0", css: "", cellTitle: "τ-b undefined on every document") }
                    return TauCell(
                        text: fixed(pair.meanTau, 2), sub: "± \(fixed(pair.sdTau, 2)), \(percent(pair.significantShare, 0)) sig.",
                        alpha: fixed(min(1, abs(pair.meanTau)), 2), css: pair.meanTau < 0 ? "neg" : "",
                        cellTitle:
                            "\(methodName(a)) vs \(methodName(b)): mean τ-b \(fixed(pair.meanTau, 3)) (sd \(fixed(pair.sdTau, 3))) over \(count(pair.documents, "document")); \(percent(pair.significantShare)) significant at p < 0.05"
                    )
                })
        }
        return (methods.map(methodName), rows)
    }

    /// ERASER rows: every method, then the random ranking.
    static func eraserRows(_ s: FaithfulnessSummary) -> [EraserRowView] {
        s.erasure.map { e in
            EraserRowView(
                ranking: AttributionMethod(rawValue: e.ranking).map(methodName) ?? e.ranking, isRandom: e.ranking == "random",
                comprehensiveness: e.comprehensiveness.map { fixed($0, 3) }, aopcC: fixed(e.aopcComprehensiveness, 3),
                sufficiency: e.sufficiency.map { fixed($0, 3) }, aopcS: fixed(e.aopcSufficiency, 3))
        }
    }
}

extension PlotView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "plotTitle": return plotTitle
        case "width": return width
        case "height": return height
        case "plotLeft": return plotLeft
        case "plotRight": return plotRight
        case "plotTop": return plotTop
        case "plotBottom": return plotBottom
        case "xTicks": return xTicks
        case "yTicks": return yTicks
        case "xAxisLabel": return xAxisLabel
        case "xLabelX": return xLabelX
        case "xLabelY": return xLabelY
        case "yAxisLabel": return yAxisLabel
        case "yLabelX": return yLabelX
        case "yLabelY": return yLabelY
        case "segments": return segments
        case "bars": return bars
        case "paths": return paths
        case "dots": return dots
        case "labels": return labels
        default: return nil
        }
    }
}

/// The page values of the trust sections, built together because they share their notes.
struct TrustSections {
    var hasCalibration = false
    var ece = "", eceNote = "", calibrationNote = "", riskNote = ""
    var reliability: [PlotView] = [], riskPlot: [PlotView] = []
    var riskRows: [RiskRowView] = []
    var hasComparison = false
    var comparisonNote = ""
    var tauNames: [String] = []
    var tauRows: [TauRowView] = []
    var eraserPercentages: [String] = []
    var eraserRows: [EraserRowView] = []
    var permutationPlot: [PlotView] = []
    var permutationNote = ""
    var tauLegend = ""
    /// The encoder states' conicity over the compared documents (every model).
    var conicity: ConicityView?
}

/// Conicity over the compared documents, as printed in the method comparison and the model card.
struct ConicityView { var documents: String; var mean: String; var sd: String; var median: String; var card: String; var note: String }

extension HTMLReport {
    func trustSections(_ a: ReportAnalysis) -> TrustSections {
        var t = TrustSections()
        let threshold = fixed(ReportAnalysis.disagreementThreshold, 1)
        if let c = a.calibration {
            t.hasCalibration = true
            let T = fixed(c.temperature, 2)
            t.ece = percent(c.reported.expectedCalibrationError)
            t.eceNote = c.calibrated == nil ? "ECE (T = 1, uncalibrated)" : "ECE (T = \(T))"
            if let calibrated = c.calibrated {
                t.reliability = [
                    Self.reliabilityDiagram(c.uncalibrated, title: "Before: T = 1, ECE \(percent(c.uncalibrated.expectedCalibrationError))"),
                    Self.reliabilityDiagram(calibrated, title: "After: T = \(T), ECE \(percent(calibrated.expectedCalibrationError))"),
                ]
            } else {
                t.reliability = [Self.reliabilityDiagram(c.uncalibrated, title: "Uncalibrated: T = 1, ECE \(percent(c.uncalibrated.expectedCalibrationError))")]
            }
            let how =
                "Each bar is one of \(Calibration.binCount) equal-width confidence bins: its height is the share of the bin's documents predicted correctly, the dot sits at their mean confidence (the top probability), and the red segment is the gap between the two. A perfectly calibrated model follows the dashed diagonal; bars below it mean overconfidence. The strip underneath counts the documents per bin. ECE is the bins' gaps weighted by their counts. "
            if c.calibrated != nil {
                let fit =
                    c.fit.map {
                        " on \(Self.count($0.documents, "dev document")) (negative log-likelihood \(fixed($0.nllBefore, 3)) → \(fixed($0.nllAfter, 3)))"
                    } ?? ""
                t.calibrationNote =
                    how
                    + "The temperature T = \(T) was fitted by heed train or heed calibrate\(fit); every probability on this page is softmax(logits / T), and no predicted class changes."
            } else {
                t.calibrationNote =
                    how
                    + "This model is uncalibrated (T = 1): its probabilities are the softmax as trained"
                    + (c.fit?.note.map { " (the temperature fit kept T = 1: \($0))" } ?? "")
                    + ". heed calibrate MODEL DEV.tsv -o MODEL fits a temperature on held-out labelled data."
            }
            t.riskPlot = [Self.riskCoveragePlot(c)]
            t.riskRows = CalibrationReport.roundThresholds(classes: a.labels.count).map { threshold in
                let r = c.answered(atLeast: threshold)
                return RiskRowView(
                    threshold: "≥ \(fixed(threshold, 2))", answered: "\(r.answered) of \(c.confidences.count)", coverage: percent(r.coverage),
                    accuracy: r.accuracy.map { percent($0) } ?? "–")
            }
            t.riskNote =
                "Answer only when the top probability (at T = \(T)) reaches a threshold and leave the rest to a person: the curve runs from the most confident documents alone (left) to all of them (right, the plain accuracy). Hover a point for its threshold. The table reads the same curve at round thresholds."
        }
        let attention = a.scoreKind == .attention
        if let s = a.comparison, !a.compared.isEmpty {
            t.hasComparison = true
            let scoredNote =
                a.sort == .disagreement
                ? "the first \(Self.count(a.compared.count, "document")) in \(a.evaluation == nil ? "least-confident-first" : "misclassified-first") order, from which the disagreement order picks the ones shown"
                : "the first \(Self.count(a.compared.count, "document")) shown below"
            t.comparisonNote =
                "Computed over the documents scored by every method: \(scoredNote) (heed report --attribution-limit)"
                + (s.skipped > 0 ? "; \(Self.count(s.skipped, "document")) without tokens left out" : "") + "."
            let matrix = Self.tauMatrix(s)
            t.tauNames = matrix.names
            t.tauRows = matrix.rows
            t.eraserPercentages = s.percentages.map { "\($0)%" }
            t.eraserRows = Self.eraserRows(s)
            if let c = s.conicity {
                t.conicity = ConicityView(
                    documents: "\(c.documents)", mean: fixed(c.mean, 3), sd: fixed(c.sd, 3), median: fixed(c.median, 3),
                    card: "\(fixed(c.mean, 3)) (mean over \(Self.count(c.documents, "document")) of the method comparison; median \(fixed(c.median, 3)))",
                    note:
                        "Conicity is the mean cosine between each of a document's encoder states and the mean of its states (Mohankumar et al. 2020). Near 1 the states point one way, so any weighting of them gives about the same context vector: attention then has little room to change the output, whatever it looks like. Lower values leave it room to be faithful. It is a property of the encoder, so models without attention have it too."
                )
            }
            let points = a.compared.compactMap { d in a.documents[d].permutation.map { (n: d + 1, p: $0) } }
            if attention && !points.isEmpty {
                t.permutationPlot = [Self.permutationPlot(points)]
                let bins =
                    s.permutation?.bins.filter { $0.documents > 0 }.map {
                        "\(fixed($0.low, 2))–\(fixed($0.high, 2)): \(fixed($0.medianOutputChange ?? .nan, 3)) (\($0.documents))"
                    }.joined(separator: "; ") ?? ""
                t.permutationNote =
                    "Each point is a document: its attention weights are shuffled over its tokens \(s.permutations) times (seed \(s.seed)) and re-pooled over the same encoder states; the y axis is the median total-variation distance between the output distributions with the real and the shuffled weights (0: the arrangement of the attention does not matter to this prediction). Points low on the plot, especially at high max attention, are predictions that peaked attention does not explain. Median change per band of max attention (documents): \(bins)."
            }
        } else {
            t.comparisonNote = "No document was scored by every method (heed report --attribution-limit 0, or no document shown)."
        }
        if attention && a.shown.contains(where: { a.documents[$0].attentionAgreement != nil }) {
            let flagged = a.shown.filter { a.documents[$0].disagrees }.count
            t.tauLegend =
                "τ on each card is Kendall's τ-b between the document's attention weights and its integrated-gradients scores (1: same token order, 0: unrelated). Below τ = \(threshold) the card is flagged: the two rank the tokens too differently for the attention shading to be read as what the decision depends on (\(Self.count(flagged, "shown document")) flagged)."
        }
        return t
    }
}
