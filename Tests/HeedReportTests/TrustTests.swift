import Foundation
import Heed
import Testing

@testable import HeedReport

/// The documents used by the trust tests: two classes, varied lengths, some repeated words.
let trustDocuments = (0..<24).map {
    LabelledText(
        label: $0 % 2 == 0 ? "pos" : "neg",
        text: ["great lovely warm film story", "dull boring cold bad film", "a great film but a dull story", "cold and lovely"][$0 % 4]
            + String(repeating: " film", count: $0 % 3) + ($0 % 5 == 0 ? " really" : ""),
        line: $0 + 1)
}

/// The `<article>` of document `n` (1-based, as on the page).
func article(_ html: String, _ n: Int) -> String? {
    html.components(separatedBy: "<article ").dropFirst().first { $0.contains("id=\"d\(n)\"") }?.components(separatedBy: "</article>").first
}

/// Attributes of every `<tag …>` whose class attribute is `css`, as dictionaries.
func elements(_ html: String, tag: String, css: String) -> [[String: String]] {
    let pattern = try! NSRegularExpression(pattern: "<\(tag) class=\"\(css)\"([^>]*)>")
    let attr = try! NSRegularExpression(pattern: "([a-z-]+)=\"([^\"]*)\"")
    let ns = html as NSString
    return pattern.matches(in: html, range: NSRange(location: 0, length: ns.length)).map { m in
        let body = ns.substring(with: m.range(at: 1)) as NSString
        var out: [String: String] = [:]
        for a in attr.matches(in: body as String, range: NSRange(location: 0, length: body.length)) {
            out[body.substring(with: a.range(at: 1))] = body.substring(with: a.range(at: 2))
        }
        return out
    }
}

@Suite struct TrustTests {
    @Test func tauOnEachCardAndTheFlagExactlyBelowTheThreshold() throws {
        let classifier = try tinyModel().classifier
        let a = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, sort: .corpus, limit: 24, steps: 4)
        #expect(a.compared == a.shown)
        var flagged = 0, clear = 0
        let html = try HTMLReport().render(a, classifier: classifier)
        // Independently: the scores explain() gives, and τ-b from them. Explained together, as the
        // report's documents are (explain batches a group's documents), so equal bit for bit.
        let explained = try classifier.explain(
            a.compared.map { a.documents[$0].text }, methods: [.attention, .integratedGradients], steps: 4, workers: 2)
        for (d, explanation) in zip(a.shown, explained) {
            let doc = a.documents[d]
            let expected = RankCorrelation(explanation.scores(.attention)!, explanation.scores(.integratedGradients)!)
            #expect(doc.attentionAgreement == expected, "document \(d)")
            #expect(doc.attributions[.integratedGradients] == explanation.scores(.integratedGradients))
            let card = try #require(article(html, d + 1))
            let shouldFlag = (expected?.tau ?? 1) < 0.2
            #expect(card.contains("attention and attribution disagree") == shouldFlag, "document \(d): τ \(expected?.tau ?? .nan)")
            #expect(card.contains("τ(attention, IG) \(expected.map { fixed($0.tau, 2) } ?? "")") == (expected != nil))
            if shouldFlag { flagged += 1 } else { clear += 1 }
        }
        #expect(flagged + clear == a.shown.count)
        print("τ flag: \(flagged) flagged, \(clear) clear")

        // At the boundary, on constructed values: below 0.2 is flagged, 0.2 itself is not, no τ is not.
        var b = a
        let taus: [Double?] = [-0.6, 0.19999, 0.2, 0.95, nil]
        for (d, tau) in zip(b.shown, taus) {
            b.documents[d].attentionAgreement = tau.map { t in
                var r = RankCorrelation([1, 2], [1, 2])!
                r.tau = t
                return r
            }
        }
        let page = try HTMLReport().render(b, classifier: classifier)
        for (d, tau) in zip(b.shown, taus) {
            let card = try #require(article(page, d + 1))
            #expect(card.contains("⚠ attention and attribution disagree") == (tau.map { $0 < 0.2 } ?? false), "τ \(String(describing: tau))")
            #expect(card.contains("class=\"note warnnote\"") == (tau.map { $0 < 0.2 } ?? false))
        }
        #expect(page.contains("Below τ = 0.2 the card is flagged"))
    }

    @Test func disagreementSortOrdersByTau() throws {
        let classifier = try tinyModel().classifier
        // Server side: the lowest τ first among the documents scored by every method, no τ last.
        let a = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, sort: .disagreement, limit: 24, steps: 4, attributionLimit: 16)
        #expect(a.sort == .disagreement && a.compared.count == 16 && a.shown.count == 24)
        let taus = a.shown.map { a.documents[$0].attentionAgreement?.tau }
        let defined = taus.prefix { $0 != nil }.map { $0! }
        #expect(defined.count >= 2 && zip(defined, defined.dropFirst()).allSatisfy { $0 <= $1 }, "\(taus)")
        #expect(taus.dropFirst(defined.count).allSatisfy { $0 == nil }, "documents without τ come last")
        #expect(Set(a.shown.prefix(16)) == Set(a.compared), "the scored documents come before the others")
        #expect(a.attributedDocuments == 16)
        // A smaller limit shows the worst disagreements among the scored documents.
        let few = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, sort: .disagreement, limit: 3, steps: 4, attributionLimit: 16)
        #expect(few.shown == Array(a.shown.prefix(3)))
        #expect(few.compared.count == 16)

        // Client side: the page's sort control offers it, and each card's rank under it follows τ.
        let html = try HTMLReport().render(a, classifier: classifier)
        #expect(html.contains("<option value=\"disagreement\" selected>attention and attribution disagree most</option>"))
        let modes = HTMLReport.sortNames(a).map(\.0)
        let k = try #require(modes.firstIndex(of: .disagreement))
        var rankOf: [Int: Int] = [:]
        for d in a.shown {
            let card = try #require(article(html, d + 1))
            let keys = try #require(card.components(separatedBy: "data-s=\"").dropFirst().first?.prefix { $0 != "\"" })
            let ranks = keys.split(separator: " ").map { Int($0)! }
            #expect(ranks.count == modes.count)
            rankOf[d] = ranks[k]
        }
        #expect(a.shown.sorted { rankOf[$0]! < rankOf[$1]! } == a.shown, "the page's disagreement order is the server's")
        // The same page sorted otherwise still ranks by τ for the client.
        let corpus = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, sort: .corpus, limit: 24, steps: 4)
        let ranks = HTMLReport.sortRanks(corpus)
        let byClient = corpus.shown.sorted { Int(ranks[$0]!.split(separator: " ")[k])! < Int(ranks[$1]!.split(separator: " ")[k])! }
        let clientTaus = byClient.compactMap { corpus.documents[$0].attentionAgreement?.tau }
        #expect(zip(clientTaus, clientTaus.dropFirst()).allSatisfy { $0 <= $1 })

        // Baseline models have no attention to disagree with: the default order, and no such option.
        let lstm = try tinyModel(.lstm).classifier
        let b = try ReportAnalysis.run(classifier: lstm, documents: trustDocuments, sort: .disagreement, steps: 2)
        #expect(b.sort == .misclassified && b.documents.allSatisfy { $0.attentionAgreement == nil })
        let page = try HTMLReport().render(b, classifier: lstm)
        #expect(!page.contains("value=\"disagreement\"") && !page.contains("τ(attention, IG)"))
        #expect(page.contains("Method comparison") && page.contains("<table class=\"tau\">"))
    }

    @Test func methodComparisonCoversTheScoredDocuments() throws {
        let classifier = try tinyModel().classifier
        let a = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, sort: .corpus, limit: 10, steps: 4, attributionLimit: 6)
        let summary = try #require(a.comparison)
        #expect(a.compared == Array(a.shown.prefix(6)))
        // The same tables as the library's own faithfulness run over those documents.
        var options = FaithfulnessOptions()
        options.steps = 4
        let direct = try classifier.faithfulness(of: a.compared.map { trustDocuments[$0].text }, options: options).summary
        #expect(summary.erasure == direct.erasure && summary.agreement == direct.agreement && summary.permutation == direct.permutation)
        let html = try HTMLReport().render(a, classifier: classifier)
        #expect(html.contains("the first 6 documents shown below"))
        // Matrix: every method pair twice (symmetric), the diagonal blank.
        let methods = classifier.attributionMethods.count
        #expect(html.components(separatedBy: "<td class=\"self\"").count - 1 == methods)
        #expect(html.components(separatedBy: "<tr class=\"rnd\">").count - 1 == 1, "the random ranking is the floor row")
        // One permutation point per compared document with at least two tokens.
        let points = elements(html, tag: "circle", css: "pt")
        #expect(points.count == a.compared.filter { a.documents[$0].tokens.count >= 2 }.count)
        // Switching workers changes nothing on the page.
        var parallel = HTMLReport()
        parallel.workers = 2
        parallel.sort = .corpus
        parallel.limit = 10
        parallel.steps = 4
        parallel.attributionLimit = 6
        var serial = parallel
        serial.workers = 1
        #expect(try parallel.render(classifier: classifier, documents: trustDocuments) == serial.render(classifier: classifier, documents: trustDocuments))
    }

    @Test func reliabilityDiagramMatchesTheBins() throws {
        var trained = try tinyModel().classifier
        if trained.temperature == 1 { trained = try trained.calibrated(on: Array(trustDocuments.prefix(12))) }
        let classifier = trained
        #expect(classifier.temperature != 1, "the test needs a calibrated model")
        let a = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, steps: 2, attributionLimit: 2)
        let c = try #require(a.calibration)
        // The report's one prediction pass gives what the library's calibration report gives.
        let library = try classifier.calibrationReport(trustDocuments)
        #expect(c.uncalibrated == library.uncalibrated && c.calibrated == library.calibrated && c.riskCoverage == library.riskCoverage)
        let html = try HTMLReport().render(a, classifier: classifier)
        let calibrated = try #require(c.calibrated)
        #expect(html.contains("ECE (T = \(fixed(classifier.temperature, 2)))") && html.contains(percent(calibrated.expectedCalibrationError)))
        #expect(html.contains("Before: T = 1, ECE") && html.contains("After: T = \(fixed(classifier.temperature, 2)), ECE"))

        // The two diagrams, in order: accuracy bars, confidence points and count labels per non-empty bin.
        let section = try #require(html.components(separatedBy: "id=\"h-calibration\"").dropFirst().first?.components(separatedBy: "<h3>").first)
        let diagrams = section.components(separatedBy: "<svg ").dropFirst()
        #expect(diagrams.count == 2)
        let L = PlotLayout.self
        for (svg, metrics) in zip(diagrams, [c.uncalibrated, calibrated]) {
            let filled = metrics.bins.filter { $0.count > 0 }
            let bars = elements(svg, tag: "rect", css: "acc"), dots = elements(svg, tag: "circle", css: "conf")
            #expect(bars.count == filled.count && dots.count == filled.count)
            // Printed to 0.1 px: the exact position is within 0.05 px (plus Double rounding of the layout).
            func near(_ printed: String?, _ exact: Double) -> Bool { abs((Double(printed ?? "") ?? .nan) - exact) <= 0.05 + 1e-9 }
            for (bin, (bar, dot)) in zip(filled, zip(bars, dots)) {
                #expect(near(bar["x"], L.reliabilityLeft + bin.low * L.reliabilitySize + 1))
                #expect(near(bar["height"], bin.accuracy! * L.reliabilitySize))
                #expect(near(bar["y"], L.reliabilityTop + (1 - bin.accuracy!) * L.reliabilitySize))
                #expect(near(dot["cx"], L.reliabilityLeft + bin.confidence! * L.reliabilitySize))
                #expect(near(dot["cy"], L.reliabilityTop + (1 - bin.accuracy!) * L.reliabilitySize))
            }
            let counts = svg.components(separatedBy: "<text class=\"cl\"").dropFirst().map {
                $0.components(separatedBy: ">")[1].components(separatedBy: "<")[0]
            }
            #expect(counts == filled.map { "\($0.count)" })
            #expect(svg.contains("class=\"diag\""))
        }
        // The risk–coverage table reads the reported confidences.
        for t in CalibrationReport.roundThresholds(classes: 2) {
            let answered = c.confidences.filter { $0 >= t }.count
            #expect(html.contains("<td>≥ \(fixed(t, 2))</td><td class=\"num\">\(answered) of \(trustDocuments.count)</td>"))
        }
        #expect(html.contains("Accuracy vs coverage (T = \(fixed(classifier.temperature, 2)))"))
    }

    @Test func uncalibratedModelShowsOneDiagramAndSaysSo() throws {
        var options = TrainingOptions()
        options.embeddingSize = 8; options.hiddenSize = 8; options.epochs = 1; options.batchSize = 4
        options.minCount = 1; options.threads = 1; options.seed = 3; options.devFraction = 0.25; options.calibration = .none
        let classifier = try Trainer(options: options).train(trustDocuments).classifier
        #expect(classifier.temperature == 1)
        let a = try ReportAnalysis.run(classifier: classifier, documents: trustDocuments, steps: 2, attributionLimit: 2)
        #expect(a.calibration?.calibrated == nil)
        let html = try HTMLReport().render(a, classifier: classifier)
        let section = try #require(html.components(separatedBy: "id=\"h-calibration\"").dropFirst().first?.components(separatedBy: "<h3>").first)
        #expect(section.components(separatedBy: "<svg ").count - 1 == 1)
        #expect(section.contains("This model is uncalibrated (T = 1)") && section.contains("heed calibrate"))
        #expect(html.contains("ECE (T = 1, uncalibrated)"))
        // Unlabelled corpora have no calibration section at all.
        let unlabelled = trustDocuments.map { LabelledText(label: nil, text: $0.text, line: $0.line) }
        let page = try HTMLReport().render(classifier: classifier, documents: unlabelled)
        #expect(!page.contains("id=\"h-calibration\"") && !page.contains("ECE ("))
    }
}
