import Foundation
import HeedServe
import Hummingbird
import HummingbirdTesting
import Testing

/// The same routes over a real TCP socket on 127.0.0.1 (HummingbirdTesting's live setup binds port 0).
@Suite struct LoopbackTests {
    @Test func concurrentRequestsOverASocket() async throws {
        let server = try testServer(workers: 2)
        try await withServer(server, .live) { client in
            #expect(client.port != nil)
            let (s, health) = try await client.get("/health")
            #expect(s == .ok && health["status"] as? String == "ok")
            // Requests in flight together, mixing good and bad ones: each gets its own answer.
            try await withThrowingTaskGroup(of: (Int, HTTPResponse.Status, String?, [String]?).self) { group in
                for i in 0..<24 {
                    group.addTask {
                        let body = i % 3 == 2 ? #"{"text": 1}"# : #"{"texts": ["w\#(i % 30) w2", "w9"], "explain": "attention"}"#
                        let (status, json) = try await client.post("/v1/models/att/predict", body)
                        let texts = (json["results"] as? [[String: Any]])?.map { $0["text"] as? String ?? "" }
                        return (i, status, json["field"] as? String, texts)
                    }
                }
                for try await (i, status, field, texts) in group {
                    if i % 3 == 2 {
                        #expect(status == .badRequest && field == "text")
                    } else {
                        #expect(status == .ok && texts == ["w\(i % 30) w2", "w9"])
                    }
                }
            }
        }
    }
}
