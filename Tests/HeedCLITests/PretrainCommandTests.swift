import Foundation
import Testing

/// `heed pretrain` and `heed train --init` end to end on a few hundred lines, tiny sizes.
@Suite struct PretrainCommandTests {
    static let tiny = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--samples", "32", "--max-len", "30", "--quiet"]

    /// 300 lines of the Debian topic corpus as plain text, and the labelled file itself.
    func lines(_ scratch: Scratch) throws -> (text: String, labelled: String) {
        let tsv = try String(contentsOfFile: "\(repositoryRoot)/corpora/topic-en-debian/train.tsv", encoding: .utf8)
        let rows = tsv.split(separator: "\n").prefix(300)
        let text = rows.map { $0.split(separator: "\t", maxSplits: 1).last.map(String.init) ?? "" }.joined(separator: "\n")
        return (scratch.file("text.txt", text + "\n"), scratch.file("train.tsv", rows.joined(separator: "\n") + "\n"))
    }

    @Test func pretrainThenInit() throws {
        let scratch = Scratch()
        let (text, labelled) = try lines(scratch)
        let encoder = scratch.path + "/enc.heed"
        let p = try heed(["pretrain", text, "-o", encoder] + Self.tiny)
        #expect(p.status == 0, "\(p.stderr)")
        #expect(scratch.exists("enc.heed") && scratch.exists("enc.heed.log.jsonl") && scratch.exists("enc.heed.ckpt"))
        let log = try String(contentsOfFile: encoder + ".log.jsonl", encoding: .utf8)
        #expect(log.contains("\"heldOutPerplexity\""))

        let model = scratch.path + "/model.heed"
        let t = try heed(["train", labelled, "--init", encoder, "-o", model, "--epochs", "1", "--quiet", "--workers", "1"])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(scratch.exists("model.heed"))

        // Conflicting sizes: a clear error, nothing written.
        let c = try heed(["train", labelled, "--init", encoder, "--hidden", "32", "-o", scratch.path + "/bad.heed", "--epochs", "1", "--quiet"])
        #expect(c.status != 0 && c.stderr.contains("--hidden 8"), "\(c.stderr)")
        #expect(!scratch.exists("bad.heed"))

        // A classifier file is not an encoder.
        let w = try heed(["train", labelled, "--init", model, "-o", scratch.path + "/bad.heed", "--epochs", "1", "--quiet"])
        #expect(w.status != 0 && w.stderr.contains("classifier file"), "\(w.stderr)")
        #expect(!scratch.exists("bad.heed"))
    }

    /// `--exclude TEST`: lines equal to a test document are dropped and counted, even with --quiet.
    @Test func excludedDocumentsAreDroppedAndCounted() throws {
        let scratch = Scratch()
        let (text, labelled) = try lines(scratch)
        let rows = try String(contentsOfFile: labelled, encoding: .utf8).split(separator: "\n")
        let test = scratch.file("test.tsv", (rows.prefix(3) + ["misc\tnot a line of the text at all"]).joined(separator: "\n") + "\n")
        let r = try heed(["pretrain", text, "--exclude", test, "-o", scratch.path + "/enc.heed"] + Self.tiny)
        #expect(r.status == 0 && r.stderr.contains("dropped 3 lines"), "\(r.stderr)")
    }

    @Test func emptyInputIsAClearError() throws {
        let scratch = Scratch()
        let empty = scratch.file("empty.txt", "")
        let r = try heed(["pretrain", empty, "-o", scratch.path + "/enc.heed"] + Self.tiny)
        #expect(r.status != 0 && r.stderr.contains("empty.txt"), "\(r.stderr)")
        #expect(scratch.contents == ["empty.txt"])
        let one = scratch.file("one.txt", "just one line here\n")
        let s = try heed(["pretrain", one, "-o", scratch.path + "/enc.heed"] + Self.tiny)
        #expect(s.status != 0 && s.stderr.contains("one.txt"), "\(s.stderr)")
        #expect(scratch.contents == ["empty.txt", "one.txt"])
    }
}
