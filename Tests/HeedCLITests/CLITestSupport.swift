import Foundation
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The `heed` executable built beside the test bundle.
var heedBinary: String {
    let binary = Bundle.main.bundleURL.appendingPathComponent("heed").path
    return FileManager.default.fileExists(atPath: binary)
        ? binary
        : Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("heed").path
}

/// Runs the `heed` executable built beside the test bundle.
/// `environment` replaces the inherited environment when given.
func heed(_ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: heedBinary)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return RunResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "heed-cli-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path + "/" + name
        precondition(FileManager.default.createFile(atPath: p, contents: Data(bytes)), "could not write \(p)")
        return p
    }
    func file(_ name: String, _ text: String) -> String { file(name, Array(text.utf8)) }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }
    /// Nothing but the inputs: no output and no temp files left behind.
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

/// A 40-document two-label corpus in `scratch` and a tiny model of `kind` trained on it with
/// `heed train` (the model's path, and the training file's).
func trainTinyModel(in scratch: Scratch, kind: String, epochs: Int) throws -> (model: String, train: String) {
    var lines = ""
    for i in 0..<40 { lines += (i % 2 == 0 ? "pos\tgreat fun film number \(i)\n" : "neg\tdull boring film number \(i)\n") }
    let train = scratch.file("train.tsv", lines)
    let model = scratch.path + "/m.heed"
    let t = try heed(["train", train, "--model", kind, "--embed", "8", "--hidden", "8", "--epochs", "\(epochs)", "--quiet", "-o", model])
    #expect(t.status == 0, "\(t.stderr)")
    return (model, train)
}
