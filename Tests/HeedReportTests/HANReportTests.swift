import Foundation
import Heed
import HeedNN
import Testing

@testable import HeedReport

/// A tiny han model trained in the test, on documents of two or three sentences.
func tinyHANModel() throws -> TextClassifier {
    let good = ["A great film. It was lovely!", "Warm story. Great cast. Lovely.", "It was fun. A great score!", "Lovely acting. Great."]
    let bad = ["A dull film. It was boring!", "Cold story. Dull cast. Boring.", "It was bad. A dull score!", "Boring acting. Dull."]
    var docs: [LabelledText] = []
    for round in 0..<3 {
        for (i, (g, b)) in zip(good, bad).enumerated() {
            docs.append(LabelledText(label: "pos", text: g, line: 16 * round + 2 * i + 1))
            docs.append(LabelledText(label: "neg", text: b, line: 16 * round + 2 * i + 2))
        }
    }
    var options = TrainingOptions()
    options.model = .han
    options.embeddingSize = 8; options.hiddenSize = 8; options.epochs = 2; options.batchSize = 4
    options.maxSentences = 3; options.maxWords = 8
    options.minCount = 1; options.threads = 1; options.seed = 7; options.devFraction = 0.25; options.dropout = 0
    return try Trainer(options: options).train(docs).classifier
}

let hanDocuments = [
    LabelledText(label: "pos", text: "A great film. It was lovely! Fun.", line: 1),
    LabelledText(label: "neg", text: "  A dull story.  Boring cast!\nCold.", line: 2),
    LabelledText(label: "neg", text: "dull", line: 3),
    LabelledText(label: "pos", text: "Great. Lovely. Warm. Fun score, great cast.", line: 4),
]

/// Values of one attribute (`name="…"`) in page order.
private func attributeValues(_ html: Substring, _ name: String) -> [String] {
    html.components(separatedBy: " \(name)=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
}

@Suite struct HANReportTests {
    @Test func cardsShowASentenceBarAndWordShadingPerSentence() throws {
        let classifier = try tinyHANModel()
        let analysis = try ReportAnalysis.run(classifier: classifier, documents: hanDocuments)
        #expect(analysis.hierarchical)
        #expect(analysis.methods == [.attention, .integratedGradients, .occlusion])
        let html = try HTMLReport().render(analysis, classifier: classifier)
        let data = try switcherData(html)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(data.raw.utf8)) as? [String: Any])
        let sentenceData = try #require(object["sentences"] as? [String: [String: Any]])
        for d in analysis.shown.map({ analysis.documents[$0] }) {
            let sentences = try #require(d.sentences)
            let article = try #require(html.components(separatedBy: "<article ").first { $0.contains("id=\"d\(d.index + 1)\"") })[...]
            // One row per sentence read, its bar the sentence attention as printed.
            #expect(article.components(separatedBy: "<div class=\"sent\">").count - 1 == sentences.count)
            let widths = attributeValues(article, "style").filter { $0.hasPrefix("--w:") }.map { Double($0.dropFirst(4))! }
            let weights = try #require(d.sentenceAttributions[.attention])
            #expect(widths.count == sentences.count)
            for (w, s) in zip(widths, weights) { #expect(abs(w - (Double(compact(Double(s))) ?? -1)) < 0.0005 + 1e-9, "\(widths) vs \(weights)") }
            #expect(abs(weights.reduce(0, +) - 1) < 1e-5 * Float(weights.count))
            // Each row holds exactly its sentence's tokens, shaded within the sentence.
            let rows = article.components(separatedBy: "<div class=\"sent\">").dropFirst()
            for (row, s) in zip(rows, sentences) { #expect(row.components(separatedBy: "<span class=\"t").count - 1 == s.tokenCount) }
            let within = try #require(d.wordAttention)
            let product = try #require(d.attributions[.attention])
            var t = 0
            for (k, s) in sentences.enumerated() {
                let slice = within[s.firstToken..<(s.firstToken + s.tokenCount)]
                #expect(abs(slice.reduce(0, +) - 1) < 1e-5 * Float(s.tokenCount), "word attention sums to 1 within sentence \(k)")
                for w in slice {
                    // The tables' token attention is the product (float products: one rounding).
                    #expect(product[t] == w * weights[k])
                    t += 1
                }
            }
            // The switcher data carries the within-sentence weights and each sentence's size.
            let rowsData = try #require(data.docs["d\(d.index + 1)"])
            #expect(rowsData[0] == HTMLReport.printedScores(within))
            let entry = try #require(sentenceData["d\(d.index + 1)"])
            #expect((entry["n"] as? [Int]) == sentences.map(\.tokenCount))
            let v = try #require(entry["v"] as? [[Double]])
            #expect(v.count == 3 && v.allSatisfy { $0.count == sentences.count })
            // A sentence's integrated gradients is the sum of its tokens'.
            let ig = try #require(d.attributions[.integratedGradients]), sig = try #require(d.sentenceAttributions[.integratedGradients])
            for (k, s) in sentences.enumerated() {
                let sum = ig[s.firstToken..<(s.firstToken + s.tokenCount)].reduce(0.0) { $0 + Double($1) }
                #expect(sig[k] == Float(sum), "sentence \(k): \(sig[k]) vs \(sum)")
            }
        }
        // The page says what the shading is and what is left out, and keeps the flat page's tables.
        #expect(html.contains("word attention within their sentence") && html.contains("Bar in the margin: the sentence&#39;s attention"))
        #expect(html.contains("Left out for han models"))
        #expect(html.contains("<table class=\"summary\">") && html.contains("<table class=\"cm\">") && html.contains("<table class=\"tau\">"))
        #expect(html.contains("<dt>encoder conicity</dt>") && html.contains("<table class=\"conicity\">"))
        #expect(!html.contains("Attention permutation"))
        #expect(html.contains("<dt>sentenceHiddenDim</dt>"), "the model card shows the han network's config")
    }

    @Test func withinSentenceShadingUsesTheSentenceAsThePool() throws {
        // Two sentences of 2 and 4 tokens, each word attention uniform within its sentence: nothing
        // stands out, though 0.5 is 3× the document-wide uniform 1/6.
        let values = [0.5, 0.5, 0.25, 0.25, 0.25, 0.25]
        let pools = [2.0, 2, 4, 4, 4, 4]
        var a = try ReportAnalysis.run(classifier: tinyHANModel(), documents: hanDocuments)
        a.hierarchical = true
        #expect(HTMLReport.shades(.attention, values, analysis: a, pools: pools).allSatisfy { $0 == 0 })
        #expect(HTMLReport.ranks(HTMLReport.rankKeys(.attention, values, pools: pools)).isEmpty)
        let peaked = HTMLReport.shades(.attention, [0.9, 0.1, 0.25, 0.25, 0.25, 0.25], analysis: a, pools: pools)
        #expect(abs(peaked[0] - log(1.8) / log(Shading.attentionFullMultiple)) < 1e-12 && peaked[1...].allSatisfy { $0 == 0 })
        #expect(HTMLReport.ranks(HTMLReport.rankKeys(.attention, [0.9, 0.1, 0.25, 0.25, 0.25, 0.25], pools: pools)) == [0: 1])
    }
}
