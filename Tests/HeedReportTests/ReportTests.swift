import Foundation
import Heed
import HeedIO
import HeedNN
import Testing

@testable import HeedReport

/// A tiny model trained in the test. Its weights depend on the BLAS kernel's rounding and on the
/// trainer's random streams, so only tests that need *a* model use it; the golden page uses the
/// committed `goldenModel()`.
func tinyModel(_ kind: ModelKind = .attention, labels: (String, String) = ("pos", "neg"), seed: UInt64 = 7) throws -> TrainingResult {
    let good = [
        "a great and lovely film", "great acting, lovely score", "a lovely, warm story", "great fun and great cast",
        "warm and great", "lovely lovely film", "我们 喜欢 这部 电影", "great story",
    ]
    let bad = [
        "a dull and boring film", "boring plot, dull cast", "a dull, cold story", "boring and bad acting",
        "cold and dull", "bad bad film", "我们 不 喜欢 这部 电影", "dull story",
    ]
    var docs: [LabelledText] = []
    for (i, (g, b)) in zip(good, bad).enumerated() {
        docs.append(LabelledText(label: labels.0, text: g, line: 2 * i + 1))
        docs.append(LabelledText(label: labels.1, text: b, line: 2 * i + 2))
    }
    var options = TrainingOptions()
    options.model = kind
    options.embeddingSize = 8; options.hiddenSize = 8; options.epochs = 3; options.batchSize = 4
    options.minCount = 1; options.threads = 1; options.seed = seed; options.devFraction = 0.25; options.dropout = 0
    return try Trainer(options: options).train(docs)
}

let goldenDocuments = [
    LabelledText(label: "pos", text: "A GREAT film,  truly   lovely!\nSecond line: warm.", line: 1),
    LabelledText(label: "neg", text: "Dull… and boring; a “cold” story.", line: 2),
    LabelledText(label: "neg", text: "我们不喜欢这部电影", line: 3),
]

let fixedComparison = Comparison(
    train: "train.tsv", test: "test.tsv", seed: 1, options: TrainingOptions(),
    rows: [
        ComparisonRow(
            model: "lstm", accuracy: 0.75, macroF1: 0.74, testLoss: 0.52, trainSeconds: 12.5, tokensPerSecond: 4000, bestEpoch: 3, epochsRun: 5,
            modelFile: "c.lstm.heed"),
        ComparisonRow(
            model: "attention", accuracy: 0.78, macroF1: 0.775, testLoss: 0.49, trainSeconds: 14, tokensPerSecond: 3500, bestEpoch: 4, epochsRun: 6,
            modelFile: "c.attention.heed"),
    ],
    accuracyGain: 3)

func fixedLog(_ log: [EpochRecord]) -> [EpochRecord] {
    // Timing fields vary run to run; the page does not show them, but pin them anyway.
    log.map {
        var r = $0; r.seconds = 1; r.tokensPerSecond = 1000; return r
    }
}

/// Every tag in the page, as (name, attribute names). Escaped text has no `<`, so every `<` starts
/// a tag the template wrote.
func tags(_ html: String) -> [(name: String, attributes: [String])] {
    let tagPattern = try! NSRegularExpression(pattern: "<(/?[a-zA-Z!][a-zA-Z0-9-]*)([^<>]*)>")
    let attrPattern = try! NSRegularExpression(pattern: "\\s([a-zA-Z-:]+)(=\"[^\"]*\")?")
    let ns = html as NSString
    return tagPattern.matches(in: html, range: NSRange(location: 0, length: ns.length)).map { m in
        let body = ns.substring(with: m.range(at: 2))
        let attrs = attrPattern.matches(in: body, range: NSRange(location: 0, length: (body as NSString).length))
            .map { (body as NSString).substring(with: $0.range(at: 1)).lowercased() }
        return (ns.substring(with: m.range(at: 1)).lowercased(), attrs)
    }
}

let goldenFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
let goldenModelURL = goldenFolder.appendingPathComponent("tiny-attention.heed")
let goldenLogURL = goldenFolder.appendingPathComponent("tiny-attention.log.jsonl")

/// The golden page's model and training log are fixtures, so the page depends neither on BLAS
/// rounding during training nor on the trainer's random streams. Regenerate them (and the page) with
///   HEED_REGENERATE_GOLDEN=1 swift test --filter goldenPage
/// which trains `tinyModel` with seeds 7, 8, … and keeps the first whose page clears
/// `roundingHazards`. HEED_UPDATE_GOLDEN=1 rewrites only the page (e.g. after a template change).
func goldenModel() throws -> (classifier: TextClassifier, log: [EpochRecord]) {
    if ProcessInfo.processInfo.environment["HEED_REGENERATE_GOLDEN"] == "1" {
        let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("heed-golden-\(UUID().uuidString).heed")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var found = false
        for seed in UInt64(7)..<200 {
            let trained = try tinyModel(seed: seed)
            try trained.classifier.write(to: scratch)
            let hazards = try roundingHazards(TextClassifier(contentsOf: scratch), goldenDocuments)
            guard hazards.isEmpty else { print("golden: seed \(seed) rejected: \(hazards[0])"); continue }
            try trained.classifier.write(to: goldenModelURL)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let lines = try fixedLog(trained.log).map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }
            try AtomicWriter.write(lines.joined(), to: goldenLogURL.path)
            print("golden: model from seed \(seed)")
            found = true
            break
        }
        if !found { Issue.record("no seed gave a page clear of rounding boundaries") }
    }
    return (try TextClassifier(contentsOf: goldenModelURL), try HTMLReport.readTrainingLog(goldenLogURL.path))
}

/// Every model-derived number the page prints, each with the step it is printed to, and every
/// comparison that picks what the page shows (argmax, rank badges, shade thresholds, sort order,
/// the token rankings behind τ and ERASER), must be clear of its boundary by a margin far above any
/// kernel's rounding difference. The margin is 4e-6 relative plus 1e-4 of the printed step, and at
/// least the error of the quantity's own computation: `probabilityError` for probabilities and
/// differences of them (attention weights, occlusion, ERASER), `gradientError` of the document's
/// largest |score| for gradient methods (their terms are summed over the embedding and the steps,
/// so the error scales with the largest, not with the value, which may be near zero). Returns the
/// violations.
/// How far a probability, or a difference of two, of the golden model can move under another BLAS
/// kernel. Its Float32 products sum at most a few dozen terms (ε·n ≈ 6e-8 · 16 ≈ 1e-6 of the
/// summed magnitudes, which are below 1 in probability space). Measured on the golden model across
/// seven OpenBLAS kernels (Prescott, Nehalem, Sandybridge, Haswell, Zen, SkylakeX, Cooperlake): at
/// most 6e-8, one ulp of a probability near 0.5.
let probabilityError = 1e-6
/// The same for a gradient method's scores, relative to the document's largest |score| (measured:
/// at most 4e-9 against a largest score of 0.03, about 1.3e-7).
let gradientError = 2e-6

/// The same for conicity: a cosine moves by at most |δa|/|a| + |δb|/|b| (first order; see
/// `FaithfulnessTests.conicityOfTheEncoderStates`), and the states' relative rounding is about that
/// of a probability, so twice `probabilityError` per cosine, doubled for the second-order terms
/// and rounded up.
let conicityError = 1e-5

/// `share` scales every margin: a fixture is chosen with the whole margin, and checked on other
/// kernels with half of it, since their values have moved by up to the error already.
func roundingHazards(_ classifier: TextClassifier, _ documents: [LabelledText], share: Double = 1) throws -> [String] {
    let a = try ReportAnalysis.run(classifier: classifier, documents: documents)
    var hazards: [String] = []
    func margin(_ v: Double, step: Double, error: Double = 0) -> Double { share * max(4e-6 * abs(v) + 1e-4 * step, error) }
    /// `v` is printed with `step` (rounded half-way) and compared against `thresholds`; `error` is
    /// how far its computation can move it.
    func printed(_ what: String, _ v: Double, step: Double, thresholds: [Double] = [], error: Double = probabilityError) {
        let half = ((v / step - 0.5).rounded() + 0.5) * step
        let m = margin(v, step: step, error: error)
        for boundary in [half] + thresholds where abs(v - boundary) < m {
            hazards.append("\(what) = \(v) is within \(m) of \(boundary)")
        }
    }
    /// Comparisons among `values` decide an order the page shows.
    func ordered(_ what: String, _ values: [Double], step: Double, error: Double = probabilityError) {
        let sorted = values.sorted()
        for (x, y) in zip(sorted, sorted.dropFirst()) where y - x < margin(y, step: step, error: error) {
            hazards.append("\(what): \(x) and \(y) are too close to order")
        }
    }
    /// `v` printed with three significant digits (`compact`).
    func printedSignificant(_ what: String, _ v: Double, error: Double) {
        guard v != 0, v.isFinite else { return }
        printed(what, v, step: pow(10, (log10(abs(v))).rounded(.down) - 2), error: error)
    }
    /// How far a method's scores on one document can move under another kernel.
    func scoreError(_ m: AttributionMethod, _ scores: [Float]) -> Double {
        switch m {
        case .attention, .occlusion: return probabilityError
        case .gradient, .gradientTimesInput, .integratedGradients: return gradientError * Double(scores.map(abs).max() ?? 0)
        }
    }
    let shown = Set(a.shown)
    for d in a.documents {
        let p = d.probabilities.map(Double.init)
        for (c, v) in p.enumerated() { printed("doc \(d.index) p[\(c)]", v, step: 1e-3) }
        ordered("doc \(d.index) probabilities", p, step: 1e-3)
        guard shown.contains(d.index) else { continue }
        for m in a.methods {
            let raw = (d.attributions[m] ?? []).map(Double.init)
            // Shades, rank badges and the listed top tokens are computed from the printed values
            // (ties by position), so only the printing itself can differ between machines, and the
            // logarithm of the attention shade.
            let error = scoreError(m, d.attributions[m] ?? [])
            for (t, v) in raw.enumerated() { printedSignificant("doc \(d.index) \(m.rawValue)[\(t)]", v, error: error) }
            let values = HTMLReport.printedScores(d.attributions[m] ?? [])
            for (t, s) in HTMLReport.shades(m, values, analysis: a).enumerated() where m == .attention && s > 0 && s < 1 {
                // shade = log(n·w) / log 8 moves by ε_w / (w · log 8).
                let w = Double(d.attributions[m]![t])
                printed("doc \(d.index) \(m.rawValue) shade[\(t)]", s, step: 1e-2, thresholds: [0.4, 0.6, 0.8], error: probabilityError / (w * log(8)))
            }
        }
    }
    for (m, scale) in a.fullScale {
        let error = m == .occlusion ? probabilityError : gradientError * scale
        printedSignificant("\(m.rawValue) full-colour scale", scale, error: error)
    }
    ordered("confidences", a.documents.map { Double($0.confidence) }, step: 1e-3)
    for panel in a.classTokens {
        for (c, list) in panel.byClass.enumerated() {
            for t in list {
                if panel.method == .attention {
                    printed("\(panel.method) class \(c) \(t.token)", t.mean, step: 1e-2, error: probabilityError * 8)
                } else {
                    let largest = list.map { abs($0.mean) }.max() ?? 0
                    printedSignificant("\(panel.method) class \(c) \(t.token)", t.mean, error: gradientError * largest)
                }
            }
            let largest = list.map { abs($0.mean) }.max() ?? 0
            let error = panel.method == .attention ? probabilityError * 8 : gradientError * largest
            ordered("\(panel.method) class \(c)", list.map(\.mean), step: 1e-12, error: error)
        }
    }
    for row in a.faithfulness {
        printed("k=\(row.k) top drop", row.topProbabilityDrop, step: 1e-3)
        printed("k=\(row.k) random drop", row.randomProbabilityDrop, step: 1e-3)
    }
    // The method comparison: τ and ERASER's top tokens follow each method's token order, the
    // tables print three decimals, the permutation plot places points to 0.1 px.
    for d in a.compared {
        // Occlusion's exact ties are left alone: they come from identical inputs (leaving out either
        // of two equal neighbouring tokens leaves one sequence), which the library scores once, so
        // they tie on every machine. Any other pair must be apart by more than its error.
        for (m, scores) in a.documents[d].attributions {
            let sorted = scores.map(Double.init).sorted(), error = scoreError(m, scores)
            for (x, y) in zip(sorted, sorted.dropFirst()) where !(m == .occlusion && y == x) && y - x < margin(y, step: 1e-12, error: error) {
                hazards.append("doc \(d) \(m.rawValue) order: \(x) and \(y) are too close to order")
            }
        }
        if let p = a.documents[d].permutation {
            printed("doc \(d) max attention", p.maxAttention, step: 0.1 / 372, thresholds: [0.25, 0.5, 0.75])
            printed("doc \(d) max attention", p.maxAttention, step: 1e-3)
            printed("doc \(d) permutation change", p.medianOutputChange, step: 1e-3)
        }
    }
    for e in a.comparison?.erasure ?? [] {
        for (k, v) in (e.comprehensiveness + e.sufficiency + [e.aopcComprehensiveness, e.aopcSufficiency]).enumerated() {
            printed("\(e.ranking) ERASER[\(k)]", v, step: 1e-3)
        }
    }
    for bin in a.comparison?.permutation?.bins ?? [] {
        if let v = bin.medianOutputChange { printed("permutation bin \(bin.low)", v, step: 1e-3) }
    }
    if let c = a.comparison?.conicity {
        for (name, v) in [("mean", c.mean), ("sd", c.sd), ("median", c.median)] { printed("conicity \(name)", v, step: 1e-3, error: conicityError) }
    }
    // Calibration: ECE and bin confidences in percent to 0.1, points to 0.1 px, bin membership,
    // and the risk–coverage table's thresholds.
    if let c = a.calibration {
        for m in [c.uncalibrated] + (c.calibrated.map { [$0] } ?? []) {
            printed("ECE at T=\(m.temperature)", m.expectedCalibrationError, step: 1e-3)
            for bin in m.bins { if let conf = bin.confidence { printed("bin \(bin.low) confidence", conf, step: 1e-3) } }
        }
        let edges = (1..<Calibration.binCount).map { Double($0) / Double(Calibration.binCount) } + CalibrationReport.roundThresholds(classes: a.labels.count)
        for (i, conf) in c.confidences.enumerated() { printed("doc \(i) confidence", conf, step: 1e-3, thresholds: edges) }
        // The T = 1 diagram bins the softmax as trained.
        for (i, p) in classifier.predict(ids: try classifier.encode(documents.map(\.text)).map(\.ids)).enumerated() {
            let plain = Calibration.probabilities(logits: p.logits[...], temperature: 1)[p.best]
            printed("doc \(i) confidence at T=1", plain, step: 1e-3, thresholds: edges)
        }
    }
    return hazards
}

/// The switcher data block of a page, parsed.
func switcherData(_ html: String) throws -> (methods: [String], docs: [String: [[Double]]], raw: String) {
    let open = "<script type=\"application/json\" id=\"heed-scores\">"
    let start = try #require(html.range(of: open)).upperBound
    let end = try #require(html.range(of: "</script>", range: start..<html.endIndex)).lowerBound
    let raw = String(html[start..<end])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
    let methods = try #require(object["methods"] as? [[String: Any]]).compactMap { $0["id"] as? String }
    let docs = try #require(object["docs"] as? [String: [[Double]]])
    return (methods, docs, raw)
}

/// Token spans per document (`id="d7"` → count), in page order.
func spanCounts(_ html: String) -> [String: Int] {
    var counts: [String: Int] = [:]
    for article in html.components(separatedBy: "<article ").dropFirst() {
        guard let id = article.components(separatedBy: "id=\"").dropFirst().first?.components(separatedBy: "\"").first else { continue }
        counts[id] = article.components(separatedBy: "<span class=\"t").count - 1
    }
    return counts
}

@Suite struct ReportTests {
    @Test func goldenPage() throws {
        let (classifier, log) = try goldenModel()
        let hazards = try roundingHazards(classifier, goldenDocuments, share: 0.5)
        #expect(hazards.isEmpty, "the golden model's page is too close to a rounding boundary: \(hazards)")
        var report = HTMLReport()
        report.modelName = "tiny.heed"
        report.corpusName = "golden.tsv"
        report.generator = "heed report (golden test)"
        report.trainingLog = log
        report.comparison = fixedComparison
        let html = try report.render(classifier: classifier, documents: goldenDocuments)
        let url = goldenFolder.appendingPathComponent("tiny-attention.html")
        let env = ProcessInfo.processInfo.environment
        if env["HEED_UPDATE_GOLDEN"] == "1" || env["HEED_REGENERATE_GOLDEN"] == "1" {
            try AtomicWriter.write(html, to: url.path)
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        if html != golden {
            let a = html.split(separator: "\n", omittingEmptySubsequences: false), b = golden.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record(
                """
                report differs from \(url.path) (regenerate with HEED_UPDATE_GOLDEN=1 swift test --filter goldenPage)
                first difference at line \((first?.offset ?? min(a.count, b.count)) + 1):
                got:      \(first.map { String($0.element.0.prefix(300)) } ?? "(\(a.count) lines)")
                expected: \(first.map { String($0.element.1.prefix(300)) } ?? "(\(b.count) lines)")
                """)
        }
        // The text is painted as written: casing, runs of spaces, punctuation and the line break survive.
        #expect(html.contains(">GREAT</span> <span"))
        #expect(html.contains("</span>,  <span"))
        #expect(html.contains("</span>!\n<span"))
        #expect(html.contains("Baseline vs attention"))
        #expect(html.contains("<polyline"))
    }

    @Test func tokenSpansCoverExactlyTheTokenBytes() throws {
        let classifier = try tinyModel().classifier
        let analysis = try ReportAnalysis.run(classifier: classifier, documents: goldenDocuments)
        for doc in analysis.documents {
            let bytes = Array(doc.text.utf8)
            for token in doc.tokens {
                let surface = String(decoding: bytes[token.start..<token.end], as: UTF8.self)
                #expect(surface.lowercased() == token.text.lowercased() || doc.text.unicodeScalars.contains { $0.value > 0x2000 })
            }
            #expect(doc.scores?.count == doc.tokens.count)
        }
        // The Chinese document is segmented into words, each its own span.
        let chinese = analysis.documents[2]
        #expect(chinese.tokens.count >= 3)
        #expect(chinese.tokens.map(\.text).joined() == "我们不喜欢这部电影")
    }

    @Test func injectionRendersAsInertText() throws {
        // Hostile labels too: they reach the page through the model file.
        let classifier = try tinyModel(labels: ("<b onclick=\"x()\">pos</b>", "neg\" onmouseover=\"document.title='PWNED'")).classifier
        let payloads = [
            "<script>document.title='PWNED'</script> great film",
            "</style><script>document.body.dataset.pwned=1</script><style> dull",
            "\" onmouseover=\"document.title='PWNED'\" x=\" lovely",
            "<a href=\"javascript:document.title='PWNED'\">click</a> boring",
            "<img src=x onerror=\"document.title='PWNED'\"> warm",
            "nul\u{0}byte\u{0}\u{1}\u{7F} great <!-- comment --> ]]> {{mustache}} {{{triple}}}",
            "'single' & \"double\" &amp; &#60;script&#62;",
        ]
        let docs = payloads.enumerated().map {
            LabelledText(label: $0.offset % 2 == 0 ? classifier.labels[0] : classifier.labels[1], text: $0.element, line: $0.offset + 1)
        }
        var report = HTMLReport()
        report.corpusName = "<script>alert('corpus')</script>"
        report.modelName = "\"><script>alert(1)</script>"
        let html = try report.render(classifier: classifier, documents: docs)

        // The page's text with tags removed (token spans split the payloads into pieces).
        let text = html.replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression)
        #expect(!html.utf8.contains(0))
        #expect(text.contains("nul␀byte␀␁␡"))
        #expect(html.components(separatedBy: "<script").count == 3, "only the page's own script and data elements")
        #expect(html.components(separatedBy: "</script").count == 3, "only the page's own script and data elements")
        #expect(html.components(separatedBy: "</style").count == 2, "only the page's own style element")
        #expect(!html.contains("PWNED'\""))
        #expect(text.contains("&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt; great film"))
        #expect(text.contains("&lt;/style&gt;&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;&lt;style&gt; dull"))
        #expect(text.contains("&lt;a href=&quot;javascript:document.title=&#39;PWNED&#39;&quot;&gt;click&lt;/a&gt;"))
        #expect(text.contains("{{mustache}} {{{triple}}}"), "template syntax in data is not expanded")
        #expect(text.contains("&#39;single&#39; &amp; &quot;double&quot; &amp;amp; &amp;#60;script&amp;#62;"))
        let allowedTags: Set<String> = [
            "!doctype", "html", "head", "meta", "title", "style", "/style", "body", "main", "h1", "h2", "h3", "p", "b", "span", "div",
            "section", "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "details", "summary", "svg", "line",
            "text", "polyline", "circle", "rect", "small", "label", "select", "option", "input", "article", "a", "ul", "li", "i", "footer",
            "script", "/script",
        ]
        for tag in tags(html) {
            let name = tag.name.hasPrefix("/") && tag.name != "/style" && tag.name != "/script" ? String(tag.name.dropFirst()) : tag.name
            #expect(allowedTags.contains(name), "unexpected tag <\(tag.name)>")
            for attribute in tag.attributes {
                #expect(!attribute.hasPrefix("on"), "event handler attribute \(attribute) on <\(tag.name)>")
                #expect(attribute != "src" && attribute != "srcset")
            }
        }
        for href in html.components(separatedBy: "href=\"").dropFirst() { #expect(href.hasPrefix("#d")) }
        // The Content-Security-Policy allows exactly the page's own script.
        #expect(html.contains("script-src 'sha256-\(SHA256.base64(ReportTemplate.script))'"))
        #expect(html.contains("<script>\(ReportTemplate.script)</script>"))
        #expect(!ReportTemplate.page.contains("{{{") && !ReportTemplate.page.contains("{{&"))
    }

    @Test(arguments: [ModelKind.attention, .lstm])
    func switcherDataCoversEveryMethodAndToken(kind: ModelKind) throws {
        let classifier = try tinyModel(kind).classifier
        let html = try HTMLReport().render(classifier: classifier, documents: goldenDocuments + [LabelledText(label: "pos", text: "!!!", line: 9)])
        let data = try switcherData(html)
        #expect(Set(data.methods) == Set(classifier.attributionMethods.map(\.rawValue)))
        #expect(data.methods.first == (kind == .attention ? "attention" : "occlusion"), "the default (painted without script) comes first")
        let spans = spanCounts(html)
        #expect(spans.count == goldenDocuments.count + 1)
        for (id, count) in spans {
            let rows = try #require(data.docs[id], "no switcher data for \(id)")
            #expect(rows.count == data.methods.count, "\(id): a method is missing")
            for (m, row) in zip(data.methods, rows) { #expect(row.count == count, "\(id) \(m): \(row.count) scores for \(count) spans") }
        }
        for m in data.methods where m != data.methods[0] {
            #expect(html.contains("<option value=\"\(m)\">"), "no switcher option for \(m)")
        }
        // Without the script: each other method's top tokens are listed under each document.
        #expect(html.components(separatedBy: "<p class=\"alt\">").count - 1 == goldenDocuments.count)
        #expect(html.contains("<b>integrated gradients</b>") && html.contains("<b>gradient norm</b>"))
    }

    @Test func switcherDataCannotEndItsScriptElement() throws {
        let hostile = "</script><script>alert(1)</script><!-- & \u{2028}\u{2029} </SCRIPT >"
        let safe = scriptSafeJSON(jsonString(hostile))
        #expect(!safe.contains("<") && !safe.contains(">") && !safe.contains("&") && !safe.contains("\u{2028}"))
        #expect(try JSONSerialization.jsonObject(with: Data(safe.utf8), options: .fragmentsAllowed) as? String == hostile)

        // Corpus text and labels reach the data block only through scriptSafeJSON, if at all.
        let classifier = try tinyModel(labels: ("</script><script>alert(1)</script>", "neg")).classifier
        let docs = [
            LabelledText(label: classifier.labels[0], text: "</script><script>document.title='PWNED'</script> great", line: 1),
            LabelledText(label: "neg", text: "<!--<script> dull </script>", line: 2),
        ]
        var report = HTMLReport()
        report.modelName = "</script><script>alert(2)</script>"
        let html = try report.render(classifier: classifier, documents: docs)
        let data = try switcherData(html)
        #expect(!data.raw.contains("<") && !data.raw.contains(">"))
        #expect(data.docs.count == 2)
        #expect(html.components(separatedBy: "<script").count == 3 && html.components(separatedBy: "</script").count == 3)
        #expect(html.hasSuffix("<script>\(ReportTemplate.script)</script>\n</body>\n</html>\n"))
    }

    @Test func uniformAttentionIsNotShaded() throws {
        #expect(Shading.attention([0.25, 0.25, 0.25, 0.25]) == [0, 0, 0, 0])
        #expect(Shading.attention([Float](repeating: 1 / 7, count: 7).map(Double.init)).allSatisfy { $0 == 0 })
        #expect(Shading.attention([1]) == [0], "a one-token document has nothing to single out")
        let peaked = Shading.attention([0.8, 0.1, 0.05, 0.05])
        #expect(abs(peaked[0] - log(3.2) / log(8)) < 1e-12 && peaked[1...].allSatisfy { $0 == 0 })
        #expect(Shading.attention([1, 0, 0, 0, 0, 0, 0, 0])[0] == 1, "8× uniform is full colour")
        #expect(Shading.scale((1...100).map(Double.init)) == 95 && Shading.scale([-3, 1]) == 3 && Shading.scale([]) == 0)

        // On the page: a document whose attention is uniform gets no shade, however its largest
        // weight compares to the others (the old per-document scale painted it at full strength).
        let classifier = try tinyModel().classifier
        var analysis = try ReportAnalysis.run(classifier: classifier, documents: goldenDocuments)
        let d = analysis.shown[0], n = analysis.documents[d].tokens.count
        #expect(n > 1)
        analysis.documents[d].attributions[.attention] = [Float](repeating: 1 / Float(n), count: n)
        let html = try HTMLReport().render(analysis, classifier: classifier)
        let article = try #require(html.components(separatedBy: "<article ").first { $0.contains("id=\"d\(d + 1)\"") })
        let alphas = article.components(separatedBy: "style=\"--a:").dropFirst().map { $0.prefix(while: { $0 != "\"" }) }
        #expect(alphas.count == n && alphas.allSatisfy { $0 == "0.00" }, "\(alphas)")
        #expect(!article.contains(" u1") && !article.contains(" u2") && !article.contains(" u3"))
        // The other shown documents are real attention: something stands out.
        #expect(html.contains("--a:1.00") || html.contains(" u3") || html.contains(" u2"))
    }

    @Test func classTokensAreMeansPerOccurrence() throws {
        let classifier = try tinyModel().classifier
        let docs = (0..<30).map {
            LabelledText(
                label: $0 % 2 == 0 ? "pos" : "neg",
                text: ["great lovely warm film story", "dull boring cold bad film"][$0 % 2] + String(repeating: " film", count: $0 % 4), line: $0 + 1)
        }
        let a = try ReportAnalysis.run(classifier: classifier, documents: docs, limit: 10)
        #expect(a.classTokens.map(\.method) == [.attention, .integratedGradients])
        #expect(a.classTokens[0].documents == 30 && a.classTokens[0].wholeCorpus)
        #expect(a.classTokens[1].documents == 10 && !a.classTokens[1].wholeCorpus)
        for panel in a.classTokens {
            for (c, list) in panel.byClass.enumerated() {
                #expect(zip(list, list.dropFirst()).allSatisfy { $0.mean >= $1.mean })
                for t in list {
                    #expect(t.occurrences >= 3)
                    // Recompute the mean from the documents' own scores.
                    var sum = 0.0, count = 0
                    for doc in a.documents where doc.predicted == c {
                        guard let scores = doc.attributions[panel.method] else { continue }
                        for (token, score) in zip(doc.tokens, scores) where token.text == t.token {
                            sum += panel.method == .attention ? Double(scores.count) * Double(score) : Double(score)
                            count += 1
                        }
                    }
                    #expect(count == t.occurrences && abs(sum / Double(count) - t.mean) < 1e-9)
                }
            }
        }
        #expect(a.classTokens[0].byClass.contains { !$0.isEmpty })
        let html = try HTMLReport().render(a, classifier: classifier)
        #expect(html.contains("all 30 documents") && html.contains("the 10 documents shown"))
        #expect(html.contains("at least 3 occurrences"))
        // Rare tokens are left out: with a minimum above every count, the panels are empty.
        let strict = try ReportAnalysis.run(classifier: classifier, documents: docs, limit: 10, minOccurrences: 1000)
        #expect(strict.classTokens.allSatisfy { $0.byClass.allSatisfy(\.isEmpty) })
        #expect(throws: AttributionError.steps(0)) { try ReportAnalysis.run(classifier: classifier, documents: docs, steps: 0) }
    }

    @Test func attributionLimitBoundsTheExpensiveMethods() throws {
        let classifier = try tinyModel().classifier
        let docs = (0..<6).map { LabelledText(label: $0 % 2 == 0 ? "pos" : "neg", text: "great lovely film number \($0)", line: $0 + 1) }
        var report = HTMLReport()
        report.attributionLimit = 2
        report.sort = .corpus
        let analysis = try ReportAnalysis.run(classifier: classifier, documents: docs, sort: .corpus, attributionLimit: 2)
        #expect(analysis.attributedDocuments == 2)
        for (rank, d) in analysis.shown.enumerated() {
            let methods = Set(analysis.documents[d].attributions.keys)
            #expect(methods == (rank < 2 ? Set(classifier.attributionMethods) : [.attention]))
        }
        let html = try report.render(classifier: classifier, documents: docs)
        #expect(html.contains("Only the first 2 documents in this order are scored by every method"))
        #expect(html.components(separatedBy: "Other methods not computed for this document").count - 1 == 4)
        let data = try switcherData(html)
        #expect(data.docs["d1"]?.allSatisfy { $0.count == 5 } == true)
        #expect(data.docs["d6"]?.dropFirst().allSatisfy(\.isEmpty) == true && data.docs["d6"]?.first?.count == 5)
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(
            SHA256.digest(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.base64("") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        let long = String(repeating: "a", count: 1000)
        #expect(
            SHA256.digest(Array(long.utf8)).map { String(format: "%02x", $0) }.joined() == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func sizeIsProportionalAndLargePagesRender() throws {
        let classifier = try tinyModel().classifier
        let base = ["a great and lovely film that I would see again", "boring plot, dull cast and a cold story overall", "warm, great fun"]
        func docs(_ n: Int) -> [LabelledText] { (0..<n).map { LabelledText(label: $0 % 2 == 0 ? "pos" : "neg", text: base[$0 % 3] + " #\($0)", line: $0 + 1) } }
        var report = HTMLReport()
        report.limit = 5000
        // Every document carries every method's scores (the largest page per document); one
        // integrated-gradients step keeps the debug-build cost on rendering, which this times.
        report.attributionLimit = 5000
        report.steps = 1
        let clock = ContinuousClock()
        let small = try report.render(classifier: classifier, documents: docs(100)).utf8.count
        // Timed: the page from the analysis (the analysis' own cost is bounded by attributionLimit).
        let analysis = try ReportAnalysis.run(
            classifier: classifier, documents: docs(2000), limit: report.limit, steps: report.steps, attributionLimit: report.attributionLimit, workers: 2)
        let started = clock.now
        let large = try report.render(analysis, classifier: classifier).utf8.count
        let seconds = Double((clock.now - started).components.seconds)
        let perDocument = Double(large - small) / 1900
        print("report size: 100 docs \(small) bytes, 2000 docs \(large) bytes, \(Int(perDocument)) bytes per document, 2000 docs rendered in \(seconds) s")
        #expect(perDocument < 4096, "a short document should cost well under 4 KB")
        #expect(Double(large) < Double(small) * 25, "size grows linearly")
        #expect(seconds < 60)
    }

    @Test func baselineIsShadedByOcclusionAndSaysSo() throws {
        let classifier = try tinyModel(.lstm).classifier
        #expect(!classifier.hasAttention)
        let analysis = try ReportAnalysis.run(classifier: classifier, documents: goldenDocuments, attributionLimit: 1)
        #expect(analysis.scoreKind == .occlusion)
        #expect(analysis.faithfulness.isEmpty)
        // The document scored by every method has the occlusion of its explanation (the method
        // comparison's one pass), bit for bit.
        let compared = try #require(analysis.compared.first)
        #expect(analysis.compared == [compared])
        #expect(analysis.documents[compared].scores == (try classifier.explain(goldenDocuments[compared].text, methods: [.occlusion]).scores(.occlusion)))
        // The other shown documents: the same leave-one-out batch the analysis scored (every token
        // of every such document, in order): identical BLAS calls, so the scores must match bit for bit.
        let encoded = try classifier.encode(goldenDocuments.map(\.text))
        var sequences: [[Int32]] = [], owners: [(doc: Int, token: Int)] = []
        for d in analysis.shown where d != compared {
            for t in encoded[d].ids.indices {
                var without = encoded[d].ids
                without.remove(at: t)
                sequences.append(without)
                owners.append((d, t))
            }
        }
        #expect(!owners.isEmpty)
        for (owner, result) in zip(owners, classifier.predict(ids: sequences)) {
            let doc = analysis.documents[owner.doc]
            #expect(doc.scores![owner.token] == doc.probabilities[doc.predicted] - result.probabilities[doc.predicted])
        }
        let html = try HTMLReport().render(analysis, classifier: classifier)
        #expect(html.contains("No attention"))
        #expect(html.contains("leave-one-out occlusion"))
        #expect(html.contains("occlusion +") || html.contains("occlusion −"))
        #expect(analysis.methods.first == .occlusion && !analysis.methods.contains(.attention))
        #expect(analysis.classTokens.map(\.method) == [.occlusion, .integratedGradients])
        #expect(!html.contains("<table class=\"faith\">"))
    }

    @Test func predictIDsMatchesPredict() throws {
        let classifier = try tinyModel().classifier
        let texts = goldenDocuments.map(\.text) + ["", "!!!", "great"]
        let byText = try classifier.predict(texts)
        let byIDs = classifier.predict(ids: try classifier.encode(texts).map(\.ids))
        #expect(byText.map(\.probabilities) == byIDs.map(\.probabilities))
        for (p, q) in zip(byText, byIDs) { #expect(p.tokens.map(\.weight) == (q.attention ?? []).map { Optional($0) }) }
        // The report's spans are exactly `Prediction.tokens`' byte ranges.
        let encoded = try classifier.encode(texts)
        for (p, e) in zip(byText, encoded) {
            #expect(p.tokens.map { [$0.start, $0.end] } == e.tokens.map { [$0.start, $0.end] })
            #expect(p.tokens.map(\.text) == e.tokens.map(\.text))
        }
    }

    @Test func faithfulnessCountsAndSorting() throws {
        let classifier = try tinyModel().classifier
        let docs = (0..<30).map {
            LabelledText(
                label: $0 % 2 == 0 ? "pos" : "neg",
                text: ["great lovely warm film story", "dull boring cold bad film"][$0 % 2] + String(repeating: " film", count: $0 % 4), line: $0 + 1)
        }
        let a = try ReportAnalysis.run(classifier: classifier, documents: docs, sort: .length, limit: 10)
        #expect(a.faithfulness.map(\.k) == [1, 3, 5])
        #expect(a.faithfulness[0].documents == 30 && a.faithfulness[2].documents == docs.filter { $0.text.split(separator: " ").count > 5 }.count)
        for row in a.faithfulness { #expect(row.topFlips <= row.documents && row.randomFlips <= row.documents) }
        #expect(a.shown.count == 10)
        #expect(zip(a.shown, a.shown.dropFirst()).allSatisfy { a.documents[$0].tokens.count >= a.documents[$1].tokens.count })
        let again = try ReportAnalysis.run(classifier: classifier, documents: docs, sort: .length, limit: 10)
        #expect(again.faithfulness == a.faithfulness, "the random erasure is seeded")
    }

    @Test func unlabelledCorpusAndBadInputs() throws {
        let classifier = try tinyModel().classifier
        let html = try HTMLReport().render(classifier: classifier, documents: [LabelledText(label: nil, text: "great film", line: 1)])
        #expect(html.contains("The corpus has no labels"))
        #expect(throws: HeedError.self) { try HTMLReport().render(classifier: classifier, documents: [LabelledText(label: "cooking", text: "x", line: 4)]) }
        #expect(throws: HeedTextError.noDocuments("corpus")) { try HTMLReport().render(classifier: classifier, documents: []) }

        let dir = NSTemporaryDirectory() + "heed-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AtomicWriter.write(
            "{\"best\":true,\"dev_accuracy\":0.5,\"dev_loss\":0.7,\"dev_macro_f1\":0.5,\"epoch\":1,\"seconds\":1,\"tokens_per_s\":1,\"train_loss\":0.7}\n\nnot json\n",
            to: dir + "/log.jsonl")
        do { _ = try HTMLReport.readTrainingLog(dir + "/log.jsonl"); Issue.record("expected an error") } catch {
            #expect("\(error)".hasPrefix("\(dir)/log.jsonl:3: "))
        }
        #expect(throws: HeedTextError.fileNotFound(dir + "/none.jsonl")) { try HTMLReport.readTrainingLog(dir + "/none.jsonl") }
        try AtomicWriter.write("{\"rows\": []}", to: dir + "/c.json")
        #expect(throws: ReportError.self) { try HTMLReport.readComparison(dir + "/c.json") }
        try AtomicWriter.write("{\"trial\": 0}\n", to: dir + "/t.jsonl")
        do { _ = try HTMLReport.readTrials(dir + "/t.jsonl"); Issue.record("expected an error") } catch {
            #expect("\(error)".hasPrefix("\(dir)/t.jsonl:1: not a trial record"))
        }
    }

    /// A comparison file written before --models and --seeds (two rows, none of the new fields)
    /// still reads and renders as the two-row table.
    @Test func oldComparisonFileRendersTheTwoRowTable() throws {
        let old = """
            {
              "accuracy_gain" : 3,
              "options" : { "model" : "attention", "embedding_size" : 8, "hidden_size" : 8, "seed" : 1 },
              "rows" : [
                { "accuracy" : 0.75, "best_epoch" : 3, "epochs_run" : 5, "macro_f1" : 0.74, "model" : "lstm", "model_file" : "c.lstm.heed",
                  "test_loss" : 0.52, "tokens_per_s" : 4000, "train_seconds" : 12.5 },
                { "accuracy" : 0.78, "best_epoch" : 4, "epochs_run" : 6, "macro_f1" : 0.775, "model" : "attention", "model_file" : "c.attention.heed",
                  "test_loss" : 0.49, "tokens_per_s" : 3500, "train_seconds" : 14 }
              ],
              "seed" : 1,
              "test" : "test.tsv",
              "train" : "train.tsv"
            }
            """
        let dir = NSTemporaryDirectory() + "heed-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try AtomicWriter.write(old, to: dir + "/c.json")
        let comparison = try HTMLReport.readComparison(dir + "/c.json")
        #expect(comparison.rows.count == 2 && comparison.models == nil && comparison.seeds == nil && comparison.rows[0].faithfulness == nil)
        var report = HTMLReport()
        report.comparison = comparison
        let html = try report.render(classifier: try tinyModel().classifier, documents: goldenDocuments)
        #expect(html.contains("Baseline vs attention") && !html.contains("Which attention, for what"))
        #expect(html.contains("<tr><td>lstm</td><td class=\"num\">75.0%</td><td class=\"num\">74.0%</td><td class=\"num\">0.5200</td>"))
        #expect(html.contains("attention vs baseline +3.0 accuracy points"))
    }

    /// A comparison with per-model summaries renders the models table: mean ± sd with several
    /// seeds, "–" in attention's columns for models without it, and every figure as printed.
    @Test func modelsTableFromSummaries() throws {
        func row(_ model: String, _ kind: String, _ seed: UInt64, _ accuracy: Double, attention: Bool) -> ComparisonRow {
            let f = ComparisonFaithfulness(
                documents: 3, tauAttentionIntegratedGradients: attention ? 0.25 : nil, tauAttentionOcclusion: attention ? 0.5 : nil,
                aopcAttention: attention ? 0.125 : nil, aopcIntegratedGradients: 0.375, aopcRandom: 0.0625, permutationTVD: attention ? 0.0123 : nil,
                conicity: seed == 1 ? 0.5 : 0.75, tauAttentionIntegratedGradientsMagnitude: attention ? 0.4375 : nil)
            return ComparisonRow(
                model: model, accuracy: accuracy, macroF1: accuracy, testLoss: 0.5, trainSeconds: 2, tokensPerSecond: 1000, bestEpoch: 1, epochsRun: 1,
                modelFile: "c.\(model).seed\(seed).heed", kind: kind, seed: seed, faithfulness: f, latencyMilliseconds: seed == 1 ? 0.5 : 1,
                modelBytes: 3 * 1_048_576)
        }
        let rows = [
            row("lstm", "lstm", 1, 0.70, attention: false), row("lstm", "lstm", 2, 0.72, attention: false),
            row("bilstm-attention", "bilstm-attention", 1, 0.80, attention: true), row("bilstm-attention", "bilstm-attention", 2, 0.84, attention: true),
        ]
        let models = Comparison.summaries(rows)
        #expect(models.map(\.model) == ["lstm", "bilstm-attention"] && models.allSatisfy { $0.seeds == 2 })
        #expect(models[1].faithfulness?.conicity == 0.625 && models[0].faithfulness?.tauAttentionIntegratedGradients == nil)
        var report = HTMLReport()
        report.comparison = Comparison(
            train: "train.tsv", test: "test.tsv", seed: 1, options: TrainingOptions(), rows: rows, accuracyGain: 11, seeds: [1, 2], models: models,
            faithfulnessLimit: 3)
        let html = try report.render(classifier: try tinyModel(.lstm).classifier, documents: goldenDocuments)
        #expect(html.contains("Which attention, for what") && !html.contains("Baseline vs attention"))
        let sd = fixed(100 * 0.02 / 2.0.squareRoot(), 1)  // two seeds 2 points apart
        #expect(
            html.contains(
                "<tr><td>lstm</td><td class=\"num\">71.0 ± \(sd)</td><td class=\"num\">71.0 ± \(sd)</td><td class=\"num\">–</td><td class=\"num\">–</td><td class=\"num\">–</td><td class=\"num\">–</td><td class=\"num\">0.375</td><td class=\"num\">–</td><td class=\"num\">0.625</td><td class=\"num\">1000</td><td class=\"num\">0.75 ms</td><td class=\"num\">3.0 MB</td></tr>"
            ))
        #expect(html.contains("<td><b>bilstm-attention</b></td><td class=\"num\">82.0 ± 2.8</td>"))
        #expect(
            html.contains(
                "<td class=\"num\">0.250</td><td class=\"num\">0.438</td><td class=\"num\">0.500</td><td class=\"num\">0.125</td><td class=\"num\">0.375</td><td class=\"num\">0.0123</td>"
            )
        )
        #expect(html.contains("mean ± sd over the seeds") && html.contains("Faithfulness on the first 3 test documents"))
        // Models without attention have conicity too: the method comparison and the model card show it.
        #expect(html.contains("Conicity of the encoder states") && html.contains("<dt>encoder conicity</dt>"))
    }

    /// A heed tune trials log becomes a table of each trial's last state with the winner marked.
    @Test func tuningTableShowsEachTrialOnceAndTheWinner() throws {
        let classifier = try tinyModel().classifier
        var settings = TuningSettings(TrainingOptions())
        func record(_ trial: Int, _ rung: Int, _ accuracy: Double, _ status: String) -> TrialRecord {
            TrialRecord(
                trial: trial, rung: rung, settings: settings, epochs: rung == 0 ? 1 : 3, bestEpoch: 1, devAccuracy: accuracy, devMacroF1: accuracy,
                score: accuracy, seconds: 1, stopped: false, status: status)
        }
        let first = record(0, 0, 0.61, "promoted")
        settings.subwords = 3...6
        var report = HTMLReport()
        report.trials = [first, record(1, 0, 0.55, "dropped"), record(0, 1, 0.72, "best")]
        let html = try report.render(classifier: classifier, documents: goldenDocuments)
        #expect(html.contains("Settings search"))
        #expect(html.contains("tried 2 settings"))
        #expect(html.contains("<tr class=\"best\"><td class=\"num\">0</td>"))
        #expect(html.contains("72.0%") && !html.contains("61.0%"), "a trial shows its last state only")
        #expect(html.contains("3–6"))
        #expect(!(try HTMLReport().render(classifier: classifier, documents: goldenDocuments)).contains("Settings search"))
    }

    /// A search that started trials from pretrained encoders says which, with their fine-tuning.
    @Test func tuningTableShowsWhereTrialsStarted() throws {
        let classifier = try tinyModel().classifier
        let scratch = TuningSettings(TrainingOptions())
        var pretrained = scratch
        (pretrained.pretrainEpochs, pretrained.lrDecay, pretrained.unfreezeEvery, pretrained.schedule) = (2, 2.6, 50, .stlr)
        func record(_ trial: Int, _ settings: TuningSettings, _ status: String) -> TrialRecord {
            TrialRecord(
                trial: trial, rung: 0, settings: settings, epochs: 1, bestEpoch: 1, devAccuracy: 0.6, devMacroF1: 0.6, score: 0.6, seconds: 1,
                stopped: false, status: status)
        }
        var report = HTMLReport()
        report.trials = [record(0, scratch, "dropped"), record(1, pretrained, "best")]
        let html = try report.render(classifier: classifier, documents: goldenDocuments)
        #expect(html.contains("<th>start</th><th>fine-tuning</th>"))
        #expect(html.contains("<td>scratch</td><td>defaults</td>"))
        #expect(html.contains("<td>encoder after 2 pretraining epochs</td><td>lr decay 2.6, unfreeze every 50, stlr schedule</td>"))
        // A plain search keeps the plain table.
        report.trials = [record(0, scratch, "best")]
        #expect(!(try report.render(classifier: classifier, documents: goldenDocuments)).contains("<th>start</th>"))
    }
}

/// Labels and vocabulary tokens come from the model file's metadata: random hostile strings put
/// there (as a fuzzed or forged file would) must reach the page only as escaped text.
@Test func fuzzedModelMetadataIsEscaped() throws {
    let trained = try tinyModel().classifier
    let dir = NSTemporaryDirectory() + "heed-meta-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let original = URL(fileURLWithPath: dir + "/m.heed")
    try trained.write(to: original)
    let (tensors, metadata) = try SafeTensors.parse(Data(contentsOf: original))
    let pieces = ["<script>", "</style>", "\" onmouseover=\"x()", "javascript:", "\u{0}", "'", "&", "<img src=x onerror=y>", "{{x}}", "<!--", "é", "中"]
    var rng = SystemRandomNumberGenerator()
    func hostile() -> String {
        (0..<Int.random(in: 1...4, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined() + "\(Int.random(in: 0..<1_000_000, using: &rng))"
    }
    for round in 0..<5 {
        var meta = metadata
        let labels = [hostile(), hostile()]
        let tokens = (0..<(trained.vocabulary.count - 2)).map { _ in hostile() }
        meta["heed.labels"] = String(decoding: try JSONEncoder().encode(labels), as: UTF8.self)
        meta["heed.vocabulary"] = String(decoding: try JSONEncoder().encode(tokens), as: UTF8.self)
        let named = tensors.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
        let url = URL(fileURLWithPath: dir + "/forged\(round).heed")
        try SafeTensors.serialize(named, metadata: meta).write(to: url)
        let classifier = try TextClassifier(contentsOf: url)
        #expect(classifier.labels == labels)
        let docs = (0..<4).map { LabelledText(label: labels[$0 % 2], text: tokens.shuffled(using: &rng).prefix(5).joined(separator: " "), line: $0 + 1) }
        let html = try HTMLReport().render(classifier: classifier, documents: docs)
        #expect(html.components(separatedBy: "<script").count == 3, "only the page's own script and data elements")
        #expect(html.components(separatedBy: "</style").count == 2, "only the page's own style element")
        #expect(!html.utf8.contains(0))
        for tag in tags(html) {
            for attribute in tag.attributes { #expect(!attribute.hasPrefix("on"), "event handler \(attribute) on <\(tag.name)>") }
        }
    }
}

/// The report reads text through the library's one path: for a model with subwords, where an
/// unknown word is read through its own pieces, the report's predictions and every method's scores
/// are what `heed explain` computes for the same documents.
@Test func reportAgreesWithExplainOnASubwordModel() throws {
    var options = TrainingOptions()
    options.embeddingSize = 8; options.hiddenSize = 8; options.epochs = 2; options.batchSize = 4
    options.minCount = 2; options.threads = 1; options.seed = 3; options.devFraction = 0.25; options.dropout = 0
    options.subwords = 2...4; options.buckets = 512
    let good = ["a great film", "great and lovely", "a lovely story", "great fun", "lovely cast", "a great story"]
    let bad = ["a dull film", "dull and boring", "a boring story", "dull plot", "boring cast", "a dull story"]
    let docs = zip(good, bad).enumerated().flatMap { i, pair in
        [LabelledText(label: "pos", text: pair.0, line: 2 * i + 1), LabelledText(label: "neg", text: pair.1, line: 2 * i + 2)]
    }
    let classifier = try Trainer(options: options).train(docs).classifier
    // Unknown words (greatest, dullness, lovelier) are read through their pieces.
    let probe = [
        LabelledText(label: "pos", text: "the greatest and loveliest film", line: 1),
        LabelledText(label: "neg", text: "dullness, boredom and a boring plot", line: 2),
        LabelledText(label: "pos", text: "lovelier than great", line: 3),
    ]
    #expect(try classifier.encode(probe.map(\.text)).contains { $0.ids.contains(Vocabulary.unknownID) })
    let analysis = try ReportAnalysis.run(classifier: classifier, documents: probe, sort: .corpus)
    let explained = try classifier.explain(probe.map(\.text), workers: 1)
    #expect(analysis.compared.count == probe.count)
    for (doc, explanation) in zip(analysis.documents, explained) {
        // The report predicts the corpus in one batch, `explain` each text alone: other product
        // shapes, so probabilities agree to rounding (summed magnitudes below 1: a few ulps).
        for (p, q) in zip(doc.probabilities, explanation.probabilities) { #expect(abs(p - q) <= 1e-6) }
        let sorted = explanation.probabilities.sorted()
        if sorted[sorted.count - 1] - sorted[sorted.count - 2] > 1e-5 {
            #expect(classifier.labels[doc.predicted] == explanation.label)
        }
        // The per-method scores come from the same call on the same input: equal bit for bit.
        for m in classifier.attributionMethods {
            #expect(doc.attributions[m] == explanation.scores(m), "\(m.rawValue) of doc \(doc.index)")
        }
    }
}
