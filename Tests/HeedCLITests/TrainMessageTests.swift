import Foundation
import Testing

/// The library's errors carry no flag names; the command line puts them in its own words.
@Suite struct TrainMessageTests {
    @Test func optionsOutOfRangeAreUsageErrorsNamingTheFlag() throws {
        let s = Scratch()
        let train = s.file("train.tsv", "pos\tgood\nneg\tbad\n")
        for (flags, message) in [
            (["--lr", "0"], "--lr must be a positive number (got 0.0)"),
            (["--dropout", "1"], "--dropout must be in [0, 1) (got 1.0)"),
            (["--embed", "0"], "--embed must be positive (got 0)"),
            (["--dev-fraction", "1.5"], "--dev-fraction must be between 0 and 1 (got 1.5)"),
        ] {
            let r = try heed(["train", train, "-o", s.path + "/m.heed"] + flags)
            #expect(r.status == 64, "\(flags): \(r.status) \(r.stderr)")  // EX_USAGE, before anything is read
            #expect(r.stderr.contains(message), "\(r.stderr)")
        }
        #expect(s.contents == ["train.tsv"])
    }

    @Test func libraryErrorsGainTheirFlags() throws {
        let s = Scratch()
        let train = s.file("train.tsv", (0..<20).map { $0 % 2 == 0 ? "pos\tgood film \($0)" : "neg\tbad film \($0)" }.joined(separator: "\n"))
        let vectors = s.file("v.vec", "good 1 2 3\n")
        let r = try heed(["train", train, "--embeddings", vectors, "--embed", "8", "--quiet", "-o", s.path + "/m.heed"])
        #expect(r.status == 1 && r.stderr.contains("v.vec:1: vector has 3 values, the model's embeddings have 8 (use --embed 3)"), "\(r.stderr)")
        let unlabelled = s.file("plain.tsv", "no tab here\n")
        let u = try heed(["train", unlabelled, "-o", s.path + "/u.heed"])
        #expect(u.status == 1 && u.stderr.contains("plain.tsv:1: expected label<TAB>text but the line has no tab (use --input text"), "\(u.stderr)")
        #expect(!s.exists("m.heed") && !s.exists("u.heed"))
    }
}
