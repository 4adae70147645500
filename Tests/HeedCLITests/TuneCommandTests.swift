import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `heed tune` on the command line: usage errors, bad dev data, and a tiny search end to end.
@Suite struct TuneCommandTests {
    func corpus(_ s: Scratch) -> String {
        s.file(
            "train.tsv",
            (0..<60).map { $0 % 2 == 0 ? "pos\tgood great film number \($0)" : "neg\tbad awful film number \($0)" }.joined(separator: "\n"))
    }

    @Test func usageErrorsComeBeforeAnythingIsRead() throws {
        let s = Scratch()
        let train = corpus(s)
        for (flags, message) in [
            (["--budget", "1m", "--trials", "3"], "give --budget or --trials, not both"),
            (["--trials", "0"], "--trials must be at least 1"),
            (["--budget", "ten"], "--budget"),
            (["--metric", "recall"], "--metric"),
            (["--encoder", "gru"], "--encoder"),
            (["--diversity-weight", "0.5"], "--diversity-weight needs --encoder diversity"),
            (["--encoder", "diversity", "--diversity-weight=-1"], "--diversity-weight must be a number ≥ 0"),
        ] {
            let r = try heed(["tune", train, "-o", s.path + "/m.heed"] + flags)
            #expect(r.status == 64, "\(flags): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
        }
        #expect(s.contents == ["train.tsv"])
    }

    @Test func devLabelMissingFromTrainIsNamed() throws {
        let s = Scratch()
        let train = corpus(s)
        let dev = s.file("dev.tsv", "pos\tgood\nmeh\tso so\n")
        let r = try heed(["tune", train, "--dev", dev, "--trials", "2", "--quiet", "-o", s.path + "/m.heed"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("dev.tsv:2: label \"meh\" does not occur in the training data"), "\(r.stderr)")
        #expect(!s.exists("m.heed") && !s.exists("m.heed.trials.jsonl"))
    }

    /// Ctrl-C after the first trial scored: the search stops, exits 130, and keeps the best model
    /// so far and the trials log; no temp file is left beside them.
    @Test func ctrlCKeepsTheBestModelSoFar() throws {
        let s = Scratch()
        let lines =
            try String(contentsOfFile: repositoryRoot + "/corpora/sentiment-en-rt/train.tsv", encoding: .utf8)
            .split(separator: "\n").prefix(400).joined(separator: "\n") + "\n"
        let train = s.file("train.tsv", lines)
        let run = try startHeed(["tune", train, "--trials", "8", "--quiet", "-o", s.path + "/m.heed"])
        let deadline = Date().addingTimeInterval(300)
        while !s.exists("m.heed.trials.jsonl") && Date() < deadline && run.process.isRunning { usleep(50_000) }
        #expect(s.exists("m.heed.trials.jsonl"), "no trial finished")
        kill(run.process.processIdentifier, SIGINT)
        let result = run.wait()
        #expect(result.status == 130, "\(result.stderr)")
        #expect(result.stderr.contains("Interrupted: \(s.path)/m.heed holds the best model found so far"), "\(result.stderr)")
        #expect(s.contents.allSatisfy { !$0.contains("tmp") }, "\(s.contents)")
        let evaluated = try heed(["evaluate", s.path + "/m.heed", train])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let trials = try String(contentsOfFile: s.path + "/m.heed.trials.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!trials.isEmpty && trials.filter { $0.contains("\"status\":\"best\"") }.count == 1)
    }

    /// Two trials, one epoch each at most: the model, the trials log (one best) and the winner's
    /// training log are written.
    @Test func tinySearchWritesModelAndLogs() throws {
        let s = Scratch()
        let train = corpus(s)
        let r = try heed(["tune", train, "--trials", "2", "--epochs", "1", "-o", s.path + "/m.heed"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("trial rung") && r.stderr.contains("Best: trial"), "\(r.stderr)")
        #expect(s.exists("m.heed") && s.exists("m.heed.log.jsonl"))
        let lines = try String(contentsOfFile: s.path + "/m.heed.trials.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.filter { $0.contains("\"status\":\"best\"") }.count == 1)
        let p = try heed(["predict", s.path + "/m.heed"], stdin: "a great film\n")
        #expect(p.status == 0, "\(p.stderr)")
    }

    /// `--encoder diversity`: every trial trains that encoder, and the search draws λ (trial 0
    /// keeps the default).
    @Test func diversityEncoderIsTunedWithItsWeight() throws {
        let s = Scratch()
        let train = corpus(s)
        let r = try heed(["tune", train, "--encoder", "diversity", "--trials", "2", "--epochs", "1", "--quiet", "-o", s.path + "/m.heed"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: s.path + "/m.heed.trials.jsonl", encoding: .utf8).split(separator: "\n")
        let trial0 = lines.filter { $0.contains("\"trial\":0") }, trial1 = lines.filter { $0.contains("\"trial\":1") }
        #expect(lines.count == 2 && trial0.count == 1 && trial1.count == 1, "\(lines)")
        #expect(!trial0[0].contains("diversity_weight") && trial1[0].contains("\"diversity_weight\""), "\(lines)")
        let model = try String(decoding: Data(contentsOf: URL(fileURLWithPath: s.path + "/m.heed")).prefix(4096), as: UTF8.self)
        #expect(model.contains("diversity"), "the model file's options name the encoder")
    }
}
