import Foundation
import Testing

/// `heed train` with unlabelled text: self-training, task-adaptive pretraining, and the checks
/// that keep a test document out of everything trained on.
@Suite struct UnlabelledCommandTests {
    static let tiny = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--quiet", "--workers", "1"]

    /// 240 Debian lines: the first 120 labelled, the rest as plain text; a test file made of 3
    /// unlabelled lines and one line of its own (with a label the training file has).
    func files(_ scratch: Scratch) throws -> (train: String, text: String, test: String) {
        let tsv = try String(contentsOfFile: "\(repositoryRoot)/corpora/topic-en-debian/train.tsv", encoding: .utf8)
        let rows = tsv.split(separator: "\n").prefix(240)
        let text = rows.dropFirst(120).map { $0.split(separator: "\t", maxSplits: 1).last.map(String.init) ?? "" }
        let test =
            rows.dropFirst(120).prefix(3).map(String.init) + [
                (rows.first?.split(separator: "\t").first.map(String.init) ?? "") + "\tnot a line of the text at all"
            ]
        return (
            scratch.file("train.tsv", rows.prefix(120).joined(separator: "\n") + "\n"), scratch.file("text.txt", text.joined(separator: "\n") + "\n"),
            scratch.file("test.tsv", test.joined(separator: "\n") + "\n")
        )
    }

    @Test func selfTrainingDropsTestLinesAndReportsRounds() throws {
        let scratch = Scratch()
        let (train, text, test) = try files(scratch)
        let r = try heed(
            [
                "train", train, "--unlabelled", text, "--semi", "self-training", "--rounds", "1", "--threshold", "0.4", "--test", test, "-o",
                scratch.path + "/m.heed", "--embed", "8", "--hidden", "8", "--epochs", "1", "--workers", "1",
            ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("dropped 3 lines"), "\(r.stderr)")
        #expect(r.stderr.contains("self-training round 1: took"), "\(r.stderr)")
        #expect(scratch.exists("m.heed") && scratch.exists("m.heed.log.jsonl"))
        // The model card names the text self-training read, and the test lines kept out of it.
        let page = try heed(["report", scratch.path + "/m.heed", test, "-o", scratch.path + "/r.html"])
        #expect(page.status == 0, "\(page.stderr)")
        let html = try String(contentsOfFile: scratch.path + "/r.html", encoding: .utf8)
        #expect(html.contains("unlabelled text") && html.contains("3 lines equal to a document of \(test)") && html.contains("self-training"))
        #expect(!html.contains("virtual adversarial training"))
    }

    @Test func pretrainEpochsPretrainsThenTrains() throws {
        let scratch = Scratch()
        let (train, text, test) = try files(scratch)
        let r = try heed(["train", train, "--unlabelled", text, "--pretrain-epochs", "1", "--test", test, "-o", scratch.path + "/m.heed"] + Self.tiny)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(scratch.exists("m.heed") && scratch.exists("m.heed.encoder.heed"))
        // The report names the pretraining text by path and SHA-256, and draws its curve.
        let page = try heed(["report", scratch.path + "/m.heed", test, "-o", scratch.path + "/r.html"])
        #expect(page.status == 0, "\(page.stderr)")
        let html = try String(contentsOfFile: scratch.path + "/r.html", encoding: .utf8)
        let sha = try #require(shell("sha256sum '\(text)'").split(separator: " ").first.map(String.init))
        #expect(html.contains("encoder pretrained on") && html.contains(sha) && html.contains("Pretraining: held-out perplexity"))
        #expect(html.contains("equal to a document of"))
        // The encoder it wrote kept the test lines out, so --init with the same test passes.
        let again = try heed(["train", train, "--init", scratch.path + "/m.heed.encoder.heed", "--test", test, "-o", scratch.path + "/n.heed"] + Self.tiny)
        #expect(again.status == 0, "\(again.stderr)")
        // On the labelled texts alone there is no --unlabelled text to speak of (it used to print
        // "dropped 0 lines of  equal to ...", naming no file).
        let alone = try heed(["train", train, "--pretrain-epochs", "1", "--test", test, "-o", scratch.path + "/a.heed"] + Self.tiny)
        #expect(alone.status == 0 && !alone.stderr.contains("--unlabelled"), "\(alone.stderr)")
        #expect(scratch.exists("a.heed.encoder.heed"))
    }

    /// An encoder that read test documents is refused by --init with that test file, before
    /// anything is written.
    @Test func initRefusesAnEncoderThatReadTheTestSet() throws {
        let scratch = Scratch()
        let (train, text, test) = try files(scratch)
        let p = try heed(["pretrain", text, "-o", scratch.path + "/enc.heed", "--embed", "8", "--hidden", "8", "--epochs", "1", "--samples", "32", "--quiet"])
        #expect(p.status == 0, "\(p.stderr)")
        let r = try heed(["train", train, "--init", scratch.path + "/enc.heed", "--test", test, "-o", scratch.path + "/m.heed"] + Self.tiny)
        #expect(r.status != 0 && r.stderr.contains("pretrained on 3 documents of") && r.stderr.contains("--exclude"), "\(r.stderr)")
        #expect(!scratch.exists("m.heed"))
    }

    /// `--exclude` keeps documents out as `--test` does, from several files, without scoring them:
    /// the unlabelled lines and the pretraining text lose them, the log has no test accuracy, and
    /// `--init` refuses an encoder that read them.
    @Test func excludeDropsLinesWithoutScoringThem() throws {
        let scratch = Scratch()
        let (train, text, test) = try files(scratch)
        let lines = try String(contentsOfFile: test, encoding: .utf8).split(separator: "\n").map(String.init)
        let first = scratch.file("x1.tsv", lines.prefix(2).joined(separator: "\n") + "\n")
        let second = scratch.file("x2.tsv", lines.dropFirst(2).joined(separator: "\n") + "\n")
        let r = try heed(
            ["train", train, "--unlabelled", text, "--pretrain-epochs", "1", "--exclude", first, "--exclude", second, "-o", scratch.path + "/m.heed"]
                + Self.tiny)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("dropped 3 lines of \(text) equal to a document of \(first), \(second)"), "\(r.stderr)")
        let log = try String(contentsOfFile: scratch.path + "/m.heed.log.jsonl", encoding: .utf8)
        #expect(!log.isEmpty && !log.contains("test_accuracy"), "\(log)")
        let again = try heed(["train", train, "--init", scratch.path + "/m.heed.encoder.heed", "--exclude", test, "-o", scratch.path + "/n.heed"] + Self.tiny)
        #expect(again.status == 0, "\(again.stderr)")
        // An encoder pretrained on the whole text read them: refused, naming the file, before anything is written.
        let p = try heed(["pretrain", text, "-o", scratch.path + "/enc.heed", "--embed", "8", "--hidden", "8", "--epochs", "1", "--samples", "32", "--quiet"])
        #expect(p.status == 0, "\(p.stderr)")
        let refused = try heed(["train", train, "--init", scratch.path + "/enc.heed", "--exclude", second, "-o", scratch.path + "/o.heed"] + Self.tiny)
        #expect(refused.status != 0 && refused.stderr.contains("pretrained on 1 document of \(second)"), "\(refused.stderr)")
        #expect(!scratch.exists("o.heed"))
    }

    /// `heed tune --init`: every trial starts from the encoder, and the table shows the drawn
    /// fine-tuning options.
    @Test func tuneSearchesFineTuningFromAnEncoder() throws {
        let scratch = Scratch()
        let (train, text, _) = try files(scratch)
        let p = try heed(["pretrain", text, "-o", scratch.path + "/enc.heed", "--embed", "8", "--hidden", "8", "--epochs", "1", "--samples", "32", "--quiet"])
        #expect(p.status == 0, "\(p.stderr)")
        let t = try heed([
            "tune", train, "--init", scratch.path + "/enc.heed", "--trials", "3", "--epochs", "1", "--parallel", "1", "-o", scratch.path + "/m.heed",
        ])
        #expect(t.status == 0, "\(t.stderr)")
        let trials = try String(contentsOfFile: scratch.path + "/m.heed.trials.jsonl", encoding: .utf8)
        #expect(trials.contains("\"unfreeze_every\"") && trials.contains("\"hidden\":8"), "\(trials)")
    }

    /// `heed tune --unlabelled`: pretrains first, trials start from scratch or from an epoch's
    /// encoder, and the winner's encoder is written beside the model when it started from one.
    @Test func tuneSearchesPretraining() throws {
        let scratch = Scratch()
        let (train, text, _) = try files(scratch)
        let t = try heed([
            "tune", train, "--unlabelled", text, "--pretrain-epochs", "2", "--trials", "4", "--epochs", "1", "--parallel", "1", "--embed", "8", "--hidden", "8",
            "-o",
            scratch.path + "/m.heed",
        ])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.stderr.contains("pretrain epoch 2") && t.stderr.contains("from the encoder after 1, 2 pretraining epochs"), "\(t.stderr)")
        let rows = try String(contentsOfFile: scratch.path + "/m.heed.trials.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rows.contains { $0.contains("\"pretrain_epochs\"") }, "\(rows)")
        let best = try #require(rows.last { $0.contains("\"status\":\"best\"") })
        #expect(scratch.exists("m.heed.encoder.heed") == best.contains("\"pretrain_epochs\""), "\(best)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/m.heed.ckpt"))
        let both = try heed(["tune", train, "--unlabelled", text, "--init", scratch.path + "/m.heed", "-o", scratch.path + "/n.heed"])
        #expect(both.status == 64 && both.stderr.contains("--init"), "\(both.stderr)")
    }

    @Test func unusableCombinationsAreUsageErrors() throws {
        let scratch = Scratch()
        let (train, text, _) = try files(scratch)
        let out = ["-o", scratch.path + "/m.heed", "--quiet"]
        let a = try heed(["train", train, "--unlabelled", text] + out)
        #expect(a.status == 64 && a.stderr.contains("--semi self-training or --pretrain-epochs"), "\(a.stderr)")
        let b = try heed(["train", train, "--semi", "self-training"] + out)
        #expect(b.status == 64 && b.stderr.contains("--unlabelled"), "\(b.stderr)")
        let c = try heed(["train", train, "--unlabelled", text, "--semi", "self-training", "--threshold", "1.5"] + out)
        #expect(c.status == 64 && c.stderr.contains("--threshold"), "\(c.stderr)")
        // --distributed takes unlabelled files, not standard input (only rank 0 would read it), and still no --test.
        let d = try heed(["train", train, "--unlabelled", "-", "--semi", "vat", "--distributed"] + out)
        #expect(d.status == 64 && d.stderr.contains("standard input (-) cannot be read by every rank"), "\(d.stderr)")
        let e = try heed(["train", train, "--unlabelled", text, "--semi", "self-training", "--distributed", "--test", train] + out)
        #expect(e.status == 64 && e.stderr.contains("--test is not available with --distributed"), "\(e.stderr)")
        let f = try heed(["train", train, "--unlabelled", text, "--pretrain-epochs", "1", "--distributed", "--model", "han"] + out)
        #expect(f.status == 64 && f.stderr.contains("--distributed is not built for --model han"), "\(f.stderr)")
        let g = try heed(["train", train, "--exclude", train] + out)
        #expect(g.status == 64 && g.stderr.contains("--exclude keeps documents out"), "\(g.stderr)")
        // VAT on TRAIN's own texts reads no text --exclude could act on.
        let h = try heed(["train", train, "--semi", "vat", "--exclude", train] + out)
        #expect(h.status == 64 && h.stderr.contains("--semi vat without --unlabelled reads only TRAIN's texts"), "\(h.stderr)")
        #expect(!scratch.exists("m.heed"))
    }
}

/// The standard output of a shell command (for reference tools such as sha256sum).
func shell(_ command: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
