import Foundation
import HeedNN
import Testing

@testable import Heed

/// `heed quantize` on han models: the quantised copy predicts (sentence and word weights
/// included) and explains bit for bit as a float han model holding the dequantised weights (the
/// same code path after the lookup), survives a write and a read, and makes a smaller file.
@Suite(.serialized) struct QuantizedHANTests {
    static let trained: Result<TextClassifier, any Error> = Result {
        var o = smallOptions(.han)
        o.maxSentences = 4
        o.maxWords = 16
        o.epochs = 1
        o.subwords = 3...5
        o.buckets = 1009
        return try Trainer(options: o).train(Array(try smallTopicCorpus().train.prefix(120))).classifier
    }

    static func model(_ c: TextClassifier) throws -> HierarchicalClassifier {
        guard case .hierarchical(let box) = c.network else { throw HeedError.modelMismatch("not a han model") }
        return box.withModel { $0 }
    }

    /// The float han model holding `q`'s dequantised values.
    static func dequantizedTwin(_ q: TextClassifier) throws -> TextClassifier {
        let qm = try model(q)
        let f = HierarchicalClassifier(config: qm.config, seed: 7)
        for p in f.parameters { p.values = qm.quantizedTensors[p.name]?.dequantized() ?? qm.parameter(named: p.name)!.values }
        return TextClassifier(hierarchical: f, vocabulary: q.vocabulary, options: q.options, calibration: q.calibration)
    }

    static func bits(_ predictions: [Prediction]) -> [[UInt32]] {
        predictions.map { p in
            p.probabilities.map(\.bitPattern) + p.tokens.map { $0.weight?.bitPattern ?? 1 } + (p.sentences ?? []).map { $0.weight?.bitPattern ?? 1 }
        }
    }

    @Test(arguments: [false, true], QuantizationScheme.allCases)
    func predictsAndExplainsAsTheDequantisedFloatModel(weights: Bool, tables: QuantizationScheme) throws {
        let float = try Self.trained.get()
        let q = try float.quantized(weights: weights, tables: tables)
        #expect(q.isQuantized && q.isHierarchical && !float.isQuantized)
        let qm = try Self.model(q)
        #expect(qm.quantizedTensors["subwords.weight"]?.scheme == tables)
        #expect(qm.parameter(named: "embedding.weight") == nil && qm.parameter(named: "subwords.weight") == nil)
        #expect((qm.quantizedTensors["word_lstm.weight_ih_l0"] != nil) == weights)
        let twin = try Self.dequantizedTwin(q)
        let texts = try smallTopicCorpus().test.prefix(30).map(\.text)
        let predicted = try q.predict(texts)
        #expect(Self.bits(predicted) == Self.bits(try twin.predict(texts)))
        #expect(predicted.allSatisfy { $0.sentences != nil })
        for text in texts.prefix(2) {
            let a = try q.explain(text, methods: [.integratedGradients, .occlusion], steps: 8)
            let b = try twin.explain(text, methods: [.integratedGradients, .occlusion], steps: 8)
            #expect(a.scores.mapValues { $0.map(\.bitPattern) } == b.scores.mapValues { $0.map(\.bitPattern) })
        }
        #expect(throws: HeedError.self) { try q.quantized() }
    }

    @Test(arguments: QuantizationScheme.allCases) func fileRoundTripsAndIsSmaller(tables: QuantizationScheme) throws {
        let float = try Self.trained.get()
        let q = try float.quantized(weights: true, tables: tables)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-quantized-han-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let floatURL = dir.appendingPathComponent("float.heed"), url = dir.appendingPathComponent("q.heed")
        try float.write(to: floatURL)
        try q.write(to: url)
        let loaded = try TextClassifier(contentsOf: url)
        #expect(loaded.isQuantized && loaded.isHierarchical)
        let texts = try smallTopicCorpus().test.prefix(20).map(\.text)
        #expect(Self.bits(try loaded.predict(texts)) == Self.bits(try q.predict(texts)))
        let size = { (u: URL) in try FileManager.default.attributesOfItem(atPath: u.path)[.size] as! Int }
        let (quantizedBytes, floatBytes) = (try size(url), try size(floatURL))
        #expect(quantizedBytes < floatBytes)
    }
}
