import Foundation
import HeedServe
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct InfoRouteTests {
    @Test func healthAndModels() async throws {
        let server = try testServer(workers: 2)
        try await withServer(server) { client in
            let (s, health) = try await client.get("/health")
            #expect(s == .ok && health["status"] as? String == "ok" && health["workers"] as? Int == 2 && health["models"] as? Int == 2)
            let (s2, list) = try await client.get("/v1/models")
            #expect(s2 == .ok)
            let models = try #require(list["models"] as? [[String: Any]])
            #expect(models.map { $0["name"] as? String } == ["att", "plain"])
            #expect(models[0]["labels"] as? [String] == ["neg", "neu", "pos"])
            #expect(models[0]["kind"] as? String == "bilstm-attention")
            #expect(models[0]["vocabulary_size"] as? Int == 32)
            #expect(models[0]["default_explain"] as? [String] == ["attention"])
            #expect(models[1]["default_explain"] as? [String] == [])
            #expect((models[1]["methods"] as? [String])?.contains("attention") == false)
            #expect(models[0]["training"] is [String: Any])
        }
    }

    /// A han model is bounded by sentences and words, a flat one by tokens: each lists only its own.
    @Test func modelsListWhatBoundsEachText() async throws {
        var config = ServeConfiguration()
        (config.port, config.workers, config.quiet) = (0, 1, true)
        let han = servedHANModel("han"), att = servedModel("att", kind: .bilstmAttention)
        let server = try HeedServer(models: [att, han], configuration: config)
        try await withServer(server) { client in
            let (status, list) = try await client.get("/v1/models")
            #expect(status == .ok)
            let models = try #require(list["models"] as? [[String: Any]])
            #expect(models.map { $0["name"] as? String } == ["att", "han"])
            #expect(models[0]["max_length"] as? Int == att.classifier.options.maxLength)
            #expect(models[0]["max_sentences"] == nil && models[0]["max_words"] == nil)
            #expect(models[1]["max_length"] == nil)
            #expect(models[1]["max_sentences"] as? Int == han.classifier.options.maxSentences)
            #expect(models[1]["max_words"] as? Int == han.classifier.options.maxWords)
        }
    }

    /// The document describes this server: one predict path per model, offering only the methods
    /// that model has, and the statuses the route can answer.
    @Test func openAPIDescribesTheServedModels() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let doc = try jsonObject(response.body)
                #expect(doc["openapi"] as? String == "3.1.0")
                let paths = try #require(doc["paths"] as? [String: [String: Any]])
                #expect(paths.keys.sorted() == ["/", "/health", "/openapi.json", "/v1/models", "/v1/models/att/predict", "/v1/models/plain/predict"])
                func explainArrayMethods(_ model: String) throws -> [String]? {
                    let post = try #require(paths["/v1/models/\(model)/predict"]?["post"] as? [String: Any])
                    #expect((post["responses"] as? [String: Any])?.keys.sorted() == ["200", "400", "413", "500", "503"])
                    let schema = try #require(((post["requestBody"] as? [String: Any])?["content"] as? [String: [String: Any]])?["application/json"]?["schema"])
                    let explain = try #require(((schema as? [String: Any])?["properties"] as? [String: Any])?["explain"] as? [String: Any])
                    let array = (explain["anyOf"] as? [[String: Any]])?.first { $0["type"] as? String == "array" }
                    return (array?["items"] as? [String: Any])?["enum"] as? [String]
                }
                #expect(try explainArrayMethods("att")?.contains("attention") == true)
                #expect(try explainArrayMethods("plain")?.contains("attention") == false)
            }
        }
    }

    /// The page is self-contained: its one script is allowed by hash, requests go only to this server.
    @Test func pageIsSelfContained() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                let csp = try #require(response.headers[.contentSecurityPolicy])
                #expect(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'") && csp.contains("script-src 'sha256-"))
                let html = String(buffer: response.body)
                #expect(html.components(separatedBy: "<script").count == 2)
                #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="))
            }
        }
    }
}
