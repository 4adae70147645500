import Foundation
import Testing

/// `heed serve` as a process: start-up errors, the announced port, SIGTERM.
@Suite struct ServeCommandTests {
    @Test func missingModelFails() throws {
        let r = try heed(["serve", "/nonexistent/rt.heed", "--port", "0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("/nonexistent/rt.heed"))
    }

    @Test func twoModelsWithOneNameAreRefused() throws {
        let scratch = Scratch()
        let (model, _) = try trainTinyModel(in: scratch, kind: "lstm", epochs: 1)
        try FileManager.default.createDirectory(atPath: scratch.path + "/b", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: scratch.path + "/b/m.heed")
        let r = try heed(["serve", model, scratch.path + "/b/m.heed", "--port", "0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("would both be served as \"m\""), "\(r.stderr)")
    }

    /// `--openapi` prints the document the server would serve for these models, without serving.
    @Test func openAPIIsPrinted() throws {
        let scratch = Scratch()
        let (model, _) = try trainTinyModel(in: scratch, kind: "lstm", epochs: 1)
        let r = try heed(["serve", model, "--openapi"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((doc["paths"] as? [String: Any])?["/v1/models/m/predict"] != nil, "\(r.stdout.prefix(300))")
        #expect(try heed(["serve", model, "--max-queue", "0"]).stderr.contains("--max-queue must be at least 1"))
    }

    @Test func nonLoopbackHostWarns() throws {
        let scratch = Scratch()
        let (model, _) = try trainTinyModel(in: scratch, kind: "lstm", epochs: 1)
        // An address that cannot be bound: the warning comes first, then a clean failure.
        let r = try heed(["serve", model, "--host", "host.invalid", "--port", "0"])
        #expect(r.stderr.contains("warning: listening on host.invalid, not loopback"), "\(r.stderr)")
        #expect(r.status != 0)
    }

    /// Announces the port it got, then SIGTERM ends it with status 0.
    @Test func sigtermExitsZero() async throws {
        let scratch = Scratch()
        let (model, _) = try trainTinyModel(in: scratch, kind: "bilstm-attention", epochs: 1)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: heedBinary)
        process.arguments = ["serve", model, "--port", "0", "--workers", "1"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !String(decoding: seen, as: UTF8.self).contains("\n") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        let banner = String(decoding: seen, as: UTF8.self)
        #expect(banner.contains("heed serve: m on http://127.0.0.1:"), "\(banner)")
        #expect(!banner.contains(":0/"), "\(banner)")
        process.terminate()  // SIGTERM
        let rest = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        #expect(String(decoding: rest, as: UTF8.self).contains("heed serve: stopped"))
    }
}
