import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM sent to a real `heed train` process: the exit status says which signal
/// ended it, stderr says where the best model is, the model and checkpoint on disk are complete
/// (the model evaluates, the checkpoint resumes) and no temp file is left.
@Suite struct InterruptedTraining {
    @Test(arguments: [(SIGINT, Int32(130), "Ctrl-C"), (SIGTERM, Int32(143), "SIGTERM")])
    func signalStopsCleanly(signal: Int32, status: Int32, name: String) throws {
        let s = Scratch()
        let lines =
            try String(contentsOfFile: repositoryRoot + "/corpora/sentiment-en-rt/train.tsv", encoding: .utf8)
            .split(separator: "\n").prefix(400).joined(separator: "\n") + "\n"
        let train = s.file("train.tsv", lines)
        let model = s.path + "/m.heed"
        let run = try startHeed([
            "train", train, "--model", "attention", "--embed", "8", "--hidden", "8",
            "--epochs", "200", "--patience", "200", "--quiet", "-o", model,
        ])
        // Wait for the first epoch's log (the model and checkpoint are written before it).
        let deadline = Date().addingTimeInterval(120)
        while !s.exists("m.heed.log.jsonl") && Date() < deadline && run.process.isRunning { usleep(50_000) }
        #expect(s.exists("m.heed.log.jsonl"), "no epoch finished")
        usleep(20_000)  // most likely mid-epoch
        kill(run.process.processIdentifier, signal)
        let result = run.wait()
        #expect(result.status == status, "\(result.stderr)")
        #expect(result.stderr.contains("Interrupted by \(name)") && result.stderr.contains("--resume \(model).ckpt"), "\(result.stderr)")
        #expect(s.contents.allSatisfy { !$0.contains("tmp") }, "\(s.contents)")
        let evaluated = try heed(["evaluate", model, train])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        // The checkpoint resumes: the continued run's log keeps the earlier epochs and grows.
        let logPath = model + ".log.jsonl"
        func epochsLogged() -> Int { ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let before = epochsLogged()
        let again = try startHeed(["train", train, "--resume", model + ".ckpt", "--quiet", "-o", model])
        while epochsLogged() <= before && Date() < deadline.addingTimeInterval(120) && again.process.isRunning { usleep(50_000) }
        kill(again.process.processIdentifier, signal)
        let resumed = again.wait()
        #expect(epochsLogged() > before && resumed.status == status, "\(resumed.stderr)")
    }
}

struct RunningHeed {
    let process: Process
    let out: Pipe, err: Pipe
    func wait() -> RunResult {
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return RunResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// Starts the built `heed` without waiting for it.
func startHeed(_ arguments: [String]) throws -> RunningHeed {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: heedBinary)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return RunningHeed(process: process, out: out, err: err)
}
