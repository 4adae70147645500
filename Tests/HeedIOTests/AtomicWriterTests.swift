import Foundation
import HeedIO
import Testing

@Suite struct AtomicWriterTests {
    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func replacesWholeFileAndLeavesNoTemp() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.txt").path
        try AtomicWriter.write("first version, longer than the second\n", to: path)
        try AtomicWriter.write("second\n", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["out.txt"])
    }

    @Test func failureNamesTheFileAndWritesNothing() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no-such-folder/out.txt").path
        #expect(throws: WriteError.self) { try AtomicWriter.write("x", to: missing) }
        do { try AtomicWriter.write("x", to: missing) } catch { #expect("\(error)".contains(missing)) }
        // A directory in the way: the rename fails and the temp file is removed.
        let blocked = dir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("inside"), withIntermediateDirectories: true)
        #expect(throws: WriteError.self) { try AtomicWriter.write("x", to: blocked.path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["taken"])
    }

    @Test func preflightChecksNameTheProblem() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: Never.self) { try FileChecks.checkWritable(dir.appendingPathComponent("m.heed").path) }
        let missing = dir.appendingPathComponent("nope/m.heed").path
        #expect(throws: WriteError(path: missing, reason: "folder \(dir.path)/nope does not exist")) { try FileChecks.checkWritable(missing) }
        #expect(throws: WriteError(path: dir.path, reason: "is a directory")) { try FileChecks.checkWritable(dir.path) }
        #expect(throws: Never.self) { try FileChecks.checkSpace(dir.path + "/m", needed: 1, for: "a byte") }
        let error = #expect(throws: WriteError.self) { try FileChecks.checkSpace(dir.path + "/m", needed: Int.max / 2, for: "the model") }
        #expect(error?.reason.hasPrefix("not enough disk space: the model need about") == true)
    }
}
