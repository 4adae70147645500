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

    /// The served document is the committed docs/openapi.json, byte for byte, and valid JSON.
    @Test func openAPIIsTheCommittedDocument() async throws {
        let committed = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json"), encoding: .utf8)
        let server = try testServer()
        try await withServer(server) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == committed)
                let doc = try jsonObject(response.body)
                #expect(doc["openapi"] as? String == "3.1.0")
                #expect((doc["paths"] as? [String: Any])?.keys.sorted() == ["/", "/health", "/openapi.json", "/v1/models", "/v1/models/{name}/predict"])
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
