import Foundation
import HeedNN
import Testing

@testable import Heed

/// `explain` against PyTorch autograd on the parity fixtures' weights (scripts/make_fixtures.py
/// --attributions): every method, both targets, documents of 1 to 7 tokens, within 1e-4 of the
/// largest reference score.
@Suite struct AttributionParityTests {
    static let variants = ["lstm_last", "lstm_linear", "lstm_additive", "bilstm_additive", "bilstm_last", "bilstm_linear_h10"]
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    struct Reference: Decodable {
        struct Document: Decodable {
            var ids: [Int32]
            var predicted: Int
            var probabilities: [Float]
            var attention: [Float]?
            var logit: [String: [Float]]
            var probability: [String: [Float]]
            var occlusion: [Float]
        }
        var config: ClassifierConfig
        var igSteps: Int
        var documents: [Document]
    }

    /// The fixture's weights behind a vocabulary where token "t<i>" has id i.
    static func classifier(_ name: String, config: ClassifierConfig) throws -> TextClassifier {
        let (tensors, _) = try SafeTensors.parse(Data(contentsOf: root.appendingPathComponent("HeedNNTests/Fixtures/\(name).safetensors")))
        let model = Classifier(config: config, seed: 1)
        var weights: [String: [Float]] = [:]
        for p in model.parameters { weights[p.name] = try #require(tensors["w." + p.name]).values }
        model.load(stateDict: weights)
        var options = TrainingOptions()
        options.model = config.pooling == .attention ? (config.bidirectional ? .bilstmAttention : .attention) : (config.bidirectional ? .bilstm : .lstm)
        options.attention = config.scorer == .linear ? .linear : .additive
        let vocabulary = Vocabulary(settings: .default, tokens: (2..<config.vocabSize).map { "t\($0)" }, labels: ["c0", "c1", "c2"])
        return TextClassifier(model: model, vocabulary: vocabulary, options: options)
    }

    @Test(arguments: variants)
    func explainMatchesPyTorch(_ name: String) throws {
        let url = Self.root.appendingPathComponent("HeedTests/Fixtures/attributions/\(name).json")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        let classifier = try Self.classifier(name, config: reference.config)
        func expectClose(_ got: [Float]?, _ want: [Float], _ what: String) {
            guard let got else { Issue.record("\(name) \(what): missing"); return }
            let scale = want.reduce(Float(0)) { max($0, abs($1)) }
            let worst = zip(got, want).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(got.count == want.count && worst <= 1e-4 * scale + 1e-7, "\(name) \(what): \(got) vs \(want)")
        }
        for (d, doc) in reference.documents.enumerated() {
            let text = doc.ids.map { "t\($0)" }.joined(separator: " ")
            for (target, scores) in [(AttributionTarget.logit, doc.logit), (.probability, doc.probability)] {
                let e = try classifier.explain(text, target: target, steps: reference.igSteps)
                #expect(classifier.labels.firstIndex(of: e.label) == doc.predicted)
                expectClose(e.probabilities, doc.probabilities, "document \(d) probabilities")
                if let attention = doc.attention { expectClose(e.scores(.attention), attention, "document \(d) attention") }
                for method in [AttributionMethod.gradient, .gradientTimesInput, .integratedGradients] {
                    expectClose(e.scores(method), try #require(scores[method.rawValue]), "document \(d) \(target) \(method.rawValue)")
                }
                expectClose(e.scores(.occlusion), doc.occlusion, "document \(d) occlusion")
            }
        }
    }
}
