import Foundation
import Heed
import Mustache

// Plain values handed to the Mustache template. Every string here is raw text: the template
// escapes it (`{{name}}`, never `{{{name}}}`), so corpus text, labels and tokens cannot become markup.

struct KeyValue { var key: String; var value: String }

struct ClassScoreView { var label: String; var precision: String; var recall: String; var f1: String; var support: String }

struct ConfusionCell { var count: String; var alpha: String; var diagonal: Bool; var title: String }
struct ConfusionRowView { var rowLabel: String; var cells: [ConfusionCell]; var total: String }

struct TokenChip { var token: String; var value: String; var chipTitle: String }
struct TokenCell { var chips: [TokenChip]; var none: Bool }
struct TokenRowView { var classLabel: String; var cells: [TokenCell] }
struct PanelHeader { var panelTitle: String }

struct ChartTick { var x: String; var y: String; var tickLabel: String }
struct ChartSeries { var seriesName: String; var points: String; var css: String; var dots: [ChartDot] }
struct ChartDot { var cx: String; var cy: String; var dotTitle: String }
struct ChartLegend { var legendName: String; var css: String; var lx: String; var lx2: String; var tx: String; var ly: String }
struct ChartView {
    var chartTitle: String
    var width: String, height: String
    var plotLeft: String, plotRight: String, plotTop: String, plotBottom: String
    var xTicks: [ChartTick], yTicks: [ChartTick]
    var series: [ChartSeries]
    var legend: [ChartLegend]
    var hasBest: Bool, bestX: String
    var xAxisLabel: String, xLabelX: String, xLabelY: String
}

struct CompareRowView {
    var modelName: String; var accuracy: String; var macroF1: String; var loss: String; var seconds: String; var speed: String; var epochs: String;
    var isAttention: Bool
}

/// One model of a `heed compare --models` table (figures as printed; "–" where not applicable).
struct CompareSummaryView {
    var modelName: String; var accuracy: String; var macroF1: String; var tauIG: String; var tauAbsIG: String; var tauOcclusion: String;
    var aopcAttention: String;
    var aopcIG: String; var tvd: String; var conicity: String; var speed: String; var latency: String; var size: String; var isAttention: Bool
}

struct TuningRowView {
    var trial: String; var learningRate: String; var hidden: String; var embed: String; var dropout: String; var wordDropout: String; var batch: String;
    var subwords: String; var epochs: String; var accuracy: String; var macroF1: String; var status: String; var isBest: Bool
    /// Where the trial started (scratch, an encoder, or the encoder after k pretraining epochs)
    /// and its fine-tuning options, shown when any trial used an encoder.
    var showStart: Bool; var start: String; var fineTuning: String
}

struct FaithfulnessView {
    var k: String; var documents: String; var top: String; var random: String; var topDrop: String; var randomDrop: String; var topWidth: String;
    var randomWidth: String
}

struct ProbabilityView { var probLabel: String; var value: String; var pct: String; var isTop: Bool }

/// One stretch of the document text: a token span (shaded) or the gap between tokens (plain).
/// One sentence of a han card: its weight bar in the margin and its words.
struct SentenceRowView {
    /// Bar length as a share of the margin (0…1).
    var barWidth: String
    var barNeg: Bool
    var barValue: String
    var barAria: String
    var segments: [Segment]
}

struct Segment {
    var isToken: Bool
    var text: String
    var css: String
    var alpha: String
    var aria: String
    var hasRank: Bool
    var rank: String
}

/// Another method's strongest tokens, listed under a document (readable without JavaScript).
struct AltMethodView { var methodName: String; var top: [AltToken]; var none: Bool }
struct AltToken { var token: String; var value: String }

struct MethodOptionView { var value: String; var text: String; var selected: Bool }

struct DocumentView {
    var n: String
    var line: String
    var hasTruth: Bool
    var truthLabel: String
    var predictedLabel: String
    var confidence: String
    var wrong: Bool
    var right: Bool
    var sortKeys: String
    var segments: [Segment]
    /// Han models: one row per sentence (bar and shaded words) in place of `segments`.
    var hierarchical: Bool = false
    var sentenceRows: [SentenceRowView] = []
    var noTokens: Bool
    var tokenCount: String
    var hiddenTail: Bool
    var tailNote: String
    var probabilities: [ProbabilityView]
    var alternatives: [AltMethodView]
    var hasAlternatives: Bool
    /// Scored by the default method only (beyond the attribution limit).
    var partial: Bool
    /// τ(attention, integrated gradients), when defined.
    var hasTau: Bool
    var tau: String
    var tauTitle: String
    /// τ below `ReportAnalysis.disagreementThreshold`.
    var disagrees: Bool
    var disagreeNote: String
}

struct SortOptionView { var value: String; var text: String; var selected: Bool }

struct PageView {
    var title: String
    var modelName: String
    var corpusName: String
    var generator: String
    var modelKind: String
    var hasAttention: Bool
    var baseline: Bool
    /// Han models: what the cards show and which parts of the page are left out, and why.
    var hanNote: String = ""
    var hasHanNote: Bool = false
    var scoreLegend: String
    var legendSigned: Bool
    var capNote: String
    var hasCapNote: Bool
    var methodOptions: [MethodOptionView]
    var hasMethods: Bool
    var config: [KeyValue]
    var options: [KeyValue]
    /// What the model learnt from besides its labelled file (pretraining, self-training).
    var provenance: [KeyValue]
    var hasProvenance: Bool
    var documentCount: String
    var shownCount: String
    var sortName: String
    var hasMetrics: Bool
    var accuracy: String
    var macroF1: String
    var correctCount: String
    var perClass: [ClassScoreView]
    var manyClasses: Bool
    var confusionLabels: [String]
    var confusion: [ConfusionRowView]
    var tokenPanels: [PanelHeader]
    var tokenRows: [TokenRowView]
    var tokenNote: String
    var hasLog: Bool
    var charts: [ChartView]
    var logNote: String
    var hasCompare: Bool
    var compareRows: [CompareRowView]
    var compareNote: String
    /// The table of a comparison file with per-model summaries (`--models`, `--seeds`); older
    /// files show the two-row table above instead.
    var hasModelTable: Bool
    var modelRows: [CompareSummaryView]
    var modelNote: String
    var hasTuning: Bool
    var tuningStarts: Bool
    var tuningRows: [TuningRowView]
    var tuningNote: String
    var faithfulness: [FaithfulnessView]
    var hasFaithfulness: Bool
    var faithfulnessNote: String
    var hasCalibration: Bool
    var ece: String
    var eceNote: String
    var reliability: [PlotView]
    var calibrationNote: String
    var riskPlot: [PlotView]
    var riskRows: [RiskRowView]
    var riskNote: String
    var hasComparison: Bool
    var comparisonNote: String
    var tauNames: [String]
    var tauRows: [TauRowView]
    var eraserPercentages: [String]
    var eraserRows: [EraserRowView]
    var hasPermutation: Bool
    var permutationPlot: [PlotView]
    var permutationNote: String
    var tauLegend: String
    var hasTauLegend: Bool
    /// The encoder states' conicity (method comparison and model card): one entry when measured.
    var conicity: [ConicityView]
    var documents: [DocumentView]
    var sortOptions: [SortOptionView]
    var scriptHash: String
}

// MARK: - Formatting

func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "–" : (x > 0 ? "∞" : "−∞") }
    let s = String(format: "%.\(digits)f", x)
    return s == "-" + String(format: "%.\(digits)f", 0.0) ? String(s.dropFirst()) : s
}
func percent(_ x: Double, _ digits: Int = 1) -> String { fixed(100 * x, digits) + "%" }

/// Three significant digits, as the page prints (and the switcher data carries) token scores;
/// non-finite values become 0 so the JSON stays valid.
func compact(_ x: Double) -> String {
    guard x.isFinite else { return "0" }
    let s = String(format: "%.3g", x)
    return s == "-0" ? "0" : s
}
/// `compact` with a sign, for signed methods: + towards the predicted class, − against it.
func signed(_ x: Double) -> String {
    let s = compact(abs(x))
    return (x < 0 && s != "0" ? "−" : "+") + s
}

/// JSON text safe inside a `<script>` element: `<`, `>` and `&` are written as `\u` escapes
/// (valid JSON, same value), so no `</script>` or `<!--` can end or confuse the element, and the
/// line separators U+2028/U+2029 are escaped too.
func scriptSafeJSON(_ json: String) -> String {
    var out = ""
    out.reserveCapacity(json.utf8.count)
    for u in json.unicodeScalars {
        switch u {
        case "<": out += "\\u003c"
        case ">": out += "\\u003e"
        case "&": out += "\\u0026"
        case "\u{2028}": out += "\\u2028"
        case "\u{2029}": out += "\\u2029"
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

/// A JSON string literal for `s`.
func jsonString(_ s: String) -> String {
    (try? JSONEncoder().encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

/// Control characters (NUL and the other C0/C1 controls but tab, newline, carriage return) are shown
/// as visible symbols: they are invisible or invalid in HTML and would hide what the text really holds.
func visibleText(_ s: Substring) -> String {
    guard s.unicodeScalars.contains(where: isControl) else { return String(s) }
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars {
        if isControl(u) {
            out.append(u.value < 0x20 ? Unicode.Scalar(0x2400 + u.value)! : (u.value == 0x7F ? Unicode.Scalar(0x2421)! : Unicode.Scalar(0xFFFD)!))
        } else {
            out.append(u)
        }
    }
    return String(out)
}
private func isControl(_ u: Unicode.Scalar) -> Bool {
    (u.value < 0x20 && u != "\t" && u != "\n" && u != "\r") || (u.value >= 0x7F && u.value < 0xA0)
}

private enum Scalar: Decodable {
    case string(String), number(Double), bool(Bool), null
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else {
            self = .string((try? c.decode(String.self)) ?? "…")
        }
    }
}

/// A flat Codable value's fields as sorted key/value strings (for config and options tables).
func fields<T: Encodable>(_ value: T) -> [KeyValue] {
    guard let data = try? JSONEncoder().encode(value),
        let object = try? JSONDecoder().decode([String: Scalar].self, from: data)
    else { return [] }
    return object.keys.sorted().map { key in
        let text: String
        switch object[key]! {
        case .string(let s): text = s
        case .bool(let b): text = b ? "yes" : "no"
        case .null: text = "default"
        case .number(let n): text = n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : "\(Float(n))"
        }
        return KeyValue(key: key, value: text)
    }
}

// The per-token and per-document values are looked up by name many thousands of times on a large
// page; answering directly instead of through Mirror reflection makes rendering several times faster.
extension Segment: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "isToken": return isToken
        case "text": return text
        case "css": return css
        case "alpha": return alpha
        case "aria": return aria
        case "hasRank": return hasRank
        case "rank": return rank
        default: return nil
        }
    }
}

extension SentenceRowView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "barWidth": return barWidth
        case "barNeg": return barNeg
        case "barValue": return barValue
        case "barAria": return barAria
        case "segments": return segments
        default: return nil
        }
    }
}

extension ProbabilityView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "probLabel": return probLabel
        case "value": return value
        case "pct": return pct
        case "isTop": return isTop
        default: return nil
        }
    }
}

extension DocumentView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "n": return n
        case "line": return line
        case "hasTruth": return hasTruth
        case "truthLabel": return truthLabel
        case "predictedLabel": return predictedLabel
        case "confidence": return confidence
        case "wrong": return wrong
        case "right": return right
        case "sortKeys": return sortKeys
        case "segments": return segments
        case "hierarchical": return hierarchical
        case "sentenceRows": return sentenceRows
        case "noTokens": return noTokens
        case "tokenCount": return tokenCount
        case "hiddenTail": return hiddenTail
        case "tailNote": return tailNote
        case "probabilities": return probabilities
        case "alternatives": return alternatives
        case "hasAlternatives": return hasAlternatives
        case "partial": return partial
        case "hasTau": return hasTau
        case "tau": return tau
        case "tauTitle": return tauTitle
        case "disagrees": return disagrees
        case "disagreeNote": return disagreeNote
        default: return nil
        }
    }
}
