import Foundation
import Testing

@Suite struct ExplainCommandTests {
    @Test func jsonSchemaOffsetsAndBadRequests() throws {
        let s = Scratch()
        let (model, _) = try trainTinyModel(in: s, kind: "lstm", epochs: 1)
        let e = try heed(["explain", model, "--json", "--steps", "16", "A great film"])
        #expect(e.status == 0, "\(e.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        #expect(Set(object.keys).isSuperset(of: ["text", "label", "probabilities", "tokens", "truncated", "integrated_gradients_gap"]))
        let tokens = object["tokens"] as! [[String: Any]]
        #expect(tokens.map { $0["text"] as! String } == ["a", "great", "film"])
        #expect(tokens[1]["start"] as? Int == 2 && tokens[1]["end"] as? Int == 7)
        // "all" means every method the model has: a baseline LSTM has no attention.
        #expect(Set((tokens[0]["scores"] as! [String: Any]).keys) == ["gradient", "grad-input", "integrated-gradients", "occlusion"])
        let attention = try heed(["explain", model, "--method", "attention", "x"])
        #expect(attention.status == 1 && attention.stderr.contains("a lstm model has no attention"), "\(attention.stderr)")
        let steps = try heed(["explain", model, "--steps", "0", "x"])
        #expect(steps.status == 64 && steps.stderr.contains("--steps must be in 1...10000"))
        let unknown = try heed(["explain", model, "--method", "saliency", "x"])
        #expect(unknown.status == 64 && unknown.stderr.contains("unknown --method saliency"))
    }
}
