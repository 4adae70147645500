import Foundation
import HeedServe
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Heed

@Suite struct PredictRouteTests {
    /// A plain prediction is the `heed predict --json` object, computed by the public API.
    @Test func predictionIsThePredictJSON() async throws {
        let server = try testServer()
        let reference = servedModel("att", kind: .bilstmAttention).classifier
        let text = "w3 w17 unknown w8"
        try await withServer(server) { client in
            let (status, body) = try await client.post("/v1/models/att/predict", #"{"text": "w3 w17 unknown w8", "explain": "none", "top_k": 2}"#)
            #expect(status == .ok)
            #expect(body["model"] as? String == "att")
            #expect((body["explain"] as? [String]) == [])
            let results = try #require(body["results"] as? [Any])
            #expect(results.count == 1)
            let expected = try JSONSerialization.jsonObject(
                with: resultEncoder().encode(PredictionJSON(text: text, prediction: try reference.predict(text), topK: 2, threshold: nil)))
            #expect(try canonical(results[0]) == canonical(expected))
        }
    }

    /// By default an attention model explains by attention: the `heed explain --json` object plus
    /// `labels`, with offsets that slice the text into its tokens.
    @Test func defaultExplainsByAttention() async throws {
        let server = try testServer()
        let reference = servedModel("att", kind: .bilstmAttention).classifier
        let text = "W3  w17 é w8"
        try await withServer(server) { client in
            let (status, body) = try await client.post("/v1/models/att/predict", #"{"text": "W3  w17 é w8"}"#)
            #expect(status == .ok)
            #expect((body["explain"] as? [String]) == ["attention"])
            let result = try #require((body["results"] as? [[String: Any]])?.first)
            let e = try reference.explain(text, methods: [.attention])
            let expected = ExplanationJSON(text: text, explanation: e, target: .logit, labels: e.rankedLabels())
            #expect(try canonical(result) == canonical(try JSONSerialization.jsonObject(with: resultEncoder().encode(expected))))
            let tokens = try #require(result["tokens"] as? [[String: Any]])
            let utf8 = Array(text.utf8)
            let slices = tokens.map { String(decoding: utf8[($0["start"] as! Int)..<($0["end"] as! Int)], as: UTF8.self) }
            #expect(slices == ["W3", "w17", "é", "w8"])
            let weights = tokens.compactMap { ($0["scores"] as? [String: Double])?["attention"] }
            #expect(weights.count == 4 && abs(weights.reduce(0, +) - 1) < 1e-4)
        }
    }

    /// A han model is served: its explanation is `heed explain --json`'s, with each sentence's span
    /// and scores; its plain prediction carries the sentence weights; the document describes both.
    @Test func hanModelAnswersWithSentences() async throws {
        var config = ServeConfiguration()
        (config.port, config.workers, config.quiet) = (0, 2, true)
        let server = try HeedServer(models: [servedHANModel("han")], configuration: config)
        let reference = servedHANModel("han").classifier
        let text = "w3 w17 w8. W4 w5! w6 unknown w9."
        try await withServer(server) { client in
            let (status, body) = try await client.post(
                "/v1/models/han/predict", #"{"text": "w3 w17 w8. W4 w5! w6 unknown w9.", "explain": ["attention", "integrated-gradients", "occlusion"]}"#)
            #expect(status == .ok, "\(body)")
            let result = try #require((body["results"] as? [[String: Any]])?.first)
            let e = try reference.explain(text, methods: [.attention, .integratedGradients, .occlusion])
            let expected = ExplanationJSON(text: text, explanation: e, target: .logit, labels: e.rankedLabels())
            #expect(try canonical(result) == canonical(try JSONSerialization.jsonObject(with: resultEncoder().encode(expected))))
            let sentences = try #require(result["sentences"] as? [[String: Any]])
            #expect(sentences.count == 3)
            let utf8 = Array(text.utf8)
            #expect(
                sentences.map { String(decoding: utf8[($0["start"] as! Int)..<($0["end"] as! Int)], as: UTF8.self) } == [
                    "w3 w17 w8. ", "W4 w5! ", "w6 unknown w9.",
                ])
            for s in sentences {
                let scores = try #require(s["scores"] as? [String: Double])
                #expect(Set(scores.keys) == ["attention", "integrated-gradients", "occlusion"])
            }
            let (plainStatus, plain) = try await client.post("/v1/models/han/predict", #"{"text": "w3 w17 w8. W4 w5!", "explain": "none"}"#)
            #expect(plainStatus == .ok)
            let weights = try #require(
                ((plain["results"] as? [[String: Any]])?.first?["sentences"] as? [[String: Any]])?.compactMap { $0["weight"] as? Double })
            #expect(weights.count == 2 && abs(weights.reduce(0, +) - 1) < 1e-5)
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                let doc = try jsonObject(response.body)
                let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
                for name in ["Prediction", "Explanation"] {
                    #expect((schemas[name]?["properties"] as? [String: Any])?["sentences"] != nil, "\(name) has no sentences")
                }
            }
        }
    }

    /// A batch comes back in order, split over the workers, each result equal to its own request's.
    @Test func batchesKeepOrderAcrossWorkers() async throws {
        let server = try testServer(workers: 3)
        let texts = (0..<7).map { i in (0..<(i + 1)).map { "w\(($0 * 7 + i) % 30)" }.joined(separator: " ") }
        try await withServer(server) { client in
            let batch = try JSONSerialization.data(withJSONObject: ["texts": texts, "explain": ["attention", "occlusion"]])
            let (status, body) = try await client.post("/v1/models/att/predict", String(decoding: batch, as: UTF8.self))
            #expect(status == .ok)
            let results = try #require(body["results"] as? [Any])
            #expect(results.count == texts.count)
            for (text, result) in zip(texts, results) {
                let one = try JSONSerialization.data(withJSONObject: ["text": text, "explain": "attention,occlusion"])
                let (_, single) = try await client.post("/v1/models/att/predict", String(decoding: one, as: UTF8.self))
                #expect(try canonical(result) == canonical(try #require((single["results"] as? [Any])?.first)))
            }
        }
    }

    /// A model without attention: plain predictions by default, other methods on request, and a
    /// 400 naming `explain` for attention.
    @Test func modelWithoutAttention() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            let (s1, b1) = try await client.post("/v1/models/plain/predict", #"{"text": "w1 w2"}"#)
            #expect(s1 == .ok && (b1["explain"] as? [String]) == [])
            let (s2, b2) = try await client.post("/v1/models/plain/predict", #"{"text": "w1 w2", "explain": ["gradient", "integrated-gradients"], "steps": 4}"#)
            #expect(s2 == .ok)
            let scores = try #require(((b2["results"] as? [[String: Any]])?.first?["tokens"] as? [[String: Any]])?.first?["scores"] as? [String: Any])
            #expect(Set(scores.keys) == ["gradient", "integrated-gradients"])
            let (s3, b3) = try await client.post("/v1/models/plain/predict", #"{"text": "w1", "explain": "attention"}"#)
            #expect(s3 == .badRequest && b3["field"] as? String == "explain")
        }
    }

    /// `top_k` and `threshold` choose the listed labels as `heed predict` does.
    @Test func topKAndThreshold() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            let (_, all) = try await client.post("/v1/models/att/predict", #"{"text": "w5", "top_k": 10}"#)
            let labels = try #require((all["results"] as? [[String: Any]])?.first?["labels"] as? [[String: Any]])
            #expect(labels.count == 3)
            let scores = labels.map { $0["score"] as! Double }
            #expect(scores == scores.sorted(by: >))
            let (_, none) = try await client.post("/v1/models/att/predict", #"{"text": "w5", "threshold": 1}"#)
            #expect(((none["results"] as? [[String: Any]])?.first?["labels"] as? [Any])?.isEmpty == true)
        }
    }

    /// A model whose name needs percent-encoding is reached at the path the document lists.
    @Test func percentEncodedModelName() async throws {
        var config = ServeConfiguration()
        config.quiet = true
        let server = try HeedServer(models: [servedModel("café model", kind: .lstm)], configuration: config)
        try await withServer(server) { client in
            let (_, doc) = try await client.get("/openapi.json")
            let path = try #require((doc["paths"] as? [String: Any])?.keys.first { $0.hasSuffix("/predict") })
            #expect(path == "/v1/models/caf%C3%A9%20model/predict")
            let (status, body) = try await client.post(path, #"{"text": "w1"}"#)
            #expect(status == .ok && body["model"] as? String == "café model")
        }
    }
}
