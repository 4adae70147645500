import Foundation
import HeedServe
import Hummingbird
import HummingbirdTesting
import Testing

/// Every bad request gets a JSON error with the right status, naming the field where one is at fault.
@Suite struct ErrorRouteTests {
    static let badBodies: [(body: String, status: Int, field: String?)] = [
        ("not json", 400, nil),
        ("[1, 2]", 400, nil),
        ("{}", 400, "text"),
        (#"{"text": 3}"#, 400, "text"),
        (#"{"text": "a", "texts": ["b"]}"#, 400, "texts"),
        (#"{"texts": "a"}"#, 400, "texts"),
        (#"{"texts": []}"#, 400, "texts"),
        (#"{"texts": ["a", 2]}"#, 400, "texts[1]"),
        (#"{"text": "a", "top_k": 0}"#, 400, "top_k"),
        (#"{"text": "a", "top_k": 1.5}"#, 400, "top_k"),
        (#"{"text": "a", "top_k": "2"}"#, 400, "top_k"),
        (#"{"text": "a", "threshold": 2}"#, 400, "threshold"),
        (#"{"text": "a", "threshold": true}"#, 400, "threshold"),
        (#"{"text": "a", "explain": "magic"}"#, 400, "explain"),
        (#"{"text": "a", "explain": 1}"#, 400, "explain"),
        (#"{"text": "a", "target": "loss"}"#, 400, "target"),
        (#"{"text": "a", "steps": 100000}"#, 400, "steps"),
        (#"{"text": "a", "top-k": 2}"#, 400, "top-k"),
        (#"{"texts": ["a","b","c","d","e","f","g","h","i"]}"#, 413, "texts"),
        (#"{"texts": ["a", "\#(String(repeating: "w1 ", count: 100))"]}"#, 413, "texts[1]"),
    ]

    @Test(arguments: badBodies.indices)
    func badBody(_ i: Int) async throws {
        let (body, status, field) = Self.badBodies[i]
        let server = try testServer()
        try await withServer(server) { client in
            let (s, json) = try await client.post("/v1/models/att/predict", body)
            #expect(Int(s.code) == status, "\(body)")
            #expect(json["status"] as? Int == status)
            #expect(json["field"] as? String == field, "\(body): \(json)")
            #expect(!((json["error"] as? String) ?? "").isEmpty)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            let big = #"{"text": ""# + String(repeating: "w", count: 5000) + #""}"#
            let (s, json) = try await client.post("/v1/models/att/predict", big)
            #expect(s == .contentTooLarge)
            #expect((json["error"] as? String)?.contains("4096") == true)
        }
    }

    @Test func unknownModelIs404() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            let (s, json) = try await client.post("/v1/models/..%2F..%2Fetc%2Fpasswd/predict", #"{"text": "a"}"#)
            #expect(s == .notFound && json["status"] as? Int == 404)
            let (s2, _) = try await client.post("/v1/models/nope/predict", #"{"text": "a"}"#)
            #expect(s2 == .notFound)
            let (s3, _) = try await client.get("/v2/anything")
            #expect(s3 == .notFound)
        }
    }

    @Test func wrongMethodIs405() async throws {
        let server = try testServer()
        try await withServer(server) { client in
            try await client.execute(uri: "/v1/models/att/predict", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                let json = try jsonObject(response.body)
                #expect(json["status"] as? Int == 405)
            }
            try await client.execute(uri: "/health", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
            }
        }
    }
}
