import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import HeedServe

/// Past `maxQueue` waiting texts a request is refused at once with 503 and `Retry-After`, and
/// answered normally once the queue drains.
@Suite struct QueueTests {
    @Test func fullQueueIs503ThenRecovers() async throws {
        let server = try testServer(workers: 1) { $0.maxQueue = 2 }
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        try await withServer(server) { client in
            // One job holds the only worker; two texts wait behind it and fill the queue.
            let held = Task {
                try await server.pool.map([0]) { _, _ -> [Int] in
                    started.signal()
                    release.wait()
                    return [0]
                }
            }
            try await until { started.wait(timeout: .now()) == .success }
            let queued = Task { try await server.pool.map([1, 2]) { _, slice in Array(slice) } }
            try await until { server.pool.waiting == 2 }
            // Were the request queued instead, this lets it through after 60 s and the test fails.
            // (Generous: the training tests running beside this one can starve the test's tasks
            // for many seconds on a 2-core machine, and an early release would admit the request.)
            let failsafe = Task {
                try await Task.sleep(for: .seconds(60))
                release.signal()
            }
            try await client.execute(
                uri: "/v1/models/att/predict", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"text": "w1"}"#)
            ) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let json = try jsonObject(response.body)
                #expect(json["status"] as? Int == 503 && (json["error"] as? String)?.contains("busy") == true)
            }
            failsafe.cancel()
            release.signal()
            #expect(try await held.value == [0])
            #expect(try await queued.value == [1, 2])
            let (status, _) = try await client.post("/v1/models/att/predict", #"{"texts": ["w1", "w2", "w3"]}"#)
            #expect(status == .ok, "a batch over the limit still runs when nothing waits")
        }
    }

    @Test func defaultLimitGrowsWithWorkers() {
        var config = ServeConfiguration()
        config.workers = 3
        #expect(config.queueLimit == 3 * ServeConfiguration.maxQueuePerWorker)
        config.maxQueue = 5
        #expect(config.queueLimit == 5)
    }
}

/// Polls `condition` every millisecond for at most 120 s: a bound against hanging, not a timing
/// check (tests training beside this one can hold every thread of the pool for a long while).
func until(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(120)
    while !condition() {
        try #require(ContinuousClock.now < deadline, "condition not met in 120 s")
        try await Task.sleep(for: .milliseconds(1))
    }
}
