import Foundation
import HeedNN
import Testing

@testable import Heed

/// `TextClassifier.quantized`: a trained subword model's int8 or 4-bit copy predicts and explains exactly
/// as a float model holding the dequantised weights, its replicas share the int8 tables, and it
/// survives a write and a read.
@Suite(.serialized) struct QuantizedClassifierTests {
    static let trained: Result<TextClassifier, any Error> = Result {
        var o = smallOptions(.bilstmAttention)
        o.epochs = 1
        o.subwords = 3...5
        o.buckets = 1009
        return try Trainer(options: o).train(try smallTopicCorpus().train).classifier
    }

    /// The float classifier holding `q`'s dequantised values, with `q`'s vocabulary and calibration.
    static func dequantizedTwin(_ q: TextClassifier) -> TextClassifier {
        let model: Classifier = q.box.withModel { qm in
            let f = Classifier(config: qm.config, seed: 7)
            for p in f.parameters { p.values = qm.quantizedTensors[p.name]?.dequantized() ?? qm.parameter(named: p.name)!.values }
            return f
        }
        return TextClassifier(model: model, vocabulary: q.vocabulary, options: q.options, calibration: q.calibration)
    }

    static func bits(_ predictions: [Prediction]) -> [[UInt32]] { predictions.map { $0.probabilities.map(\.bitPattern) } }

    @Test(arguments: [false, true], QuantizationScheme.allCases)
    func predictsAndExplainsAsTheDequantisedFloatModel(weights: Bool, tables: QuantizationScheme) throws {
        let float = try Self.trained.get()
        let q = try float.quantized(weights: weights, tables: tables)
        #expect(q.box.withModel { $0.quantizedTensors["subwords.weight"]!.scheme } == tables)
        #expect(q.isQuantized && !float.isQuantized)
        #expect(q.box.withModel { $0.parameter(named: "embedding.weight") == nil && $0.parameter(named: "subwords.weight") == nil })
        let twin = Self.dequantizedTwin(q)
        let texts = try smallTopicCorpus().test.prefix(30).map(\.text)
        #expect(Self.bits(try q.predict(texts)) == Self.bits(try twin.predict(texts)))
        for text in texts.prefix(3) {
            let a = try q.explain(text, methods: [.integratedGradients, .gradient, .occlusion], steps: 8)
            let b = try twin.explain(text, methods: [.integratedGradients, .gradient, .occlusion], steps: 8)
            #expect(a.scores.mapValues { $0.map(\.bitPattern) } == b.scores.mapValues { $0.map(\.bitPattern) })
        }
    }

    @Test(arguments: QuantizationScheme.allCases) func replicasShareTablesAndFilesRoundTrip(tables: QuantizationScheme) throws {
        let q = try Self.trained.get().quantized(tables: tables)
        let table = q.box.withModel { $0.quantizedTensors["subwords.weight"]! }
        let replica = q.replica()
        #expect(replica.box.withModel { $0.quantizedTensors["subwords.weight"]! } === table)
        let texts = try smallTopicCorpus().test.prefix(40).map(\.text)
        var two = q
        two.workers = 2
        #expect(Self.bits(try two.predict(texts)) == Self.bits(try q.predict(texts)))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-quantized-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("q.heed")
        try q.write(to: url)
        let loaded = try TextClassifier(contentsOf: url)
        #expect(loaded.isQuantized && loaded.calibration == q.calibration)
        #expect(Self.bits(try loaded.predict(texts)) == Self.bits(try q.predict(texts)))
        #expect(throws: HeedError.self) { try loaded.quantized() }
    }
}
