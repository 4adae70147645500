import Foundation
import Testing

/// `heed train --encoder orthogonal|diversity [--diversity-weight λ]`.
@Suite struct EncoderCommandTests {
    /// 120 labelled Debian lines.
    func trainFile(_ scratch: Scratch) throws -> String {
        let tsv = try String(contentsOfFile: "\(repositoryRoot)/corpora/topic-en-debian/train.tsv", encoding: .utf8)
        return scratch.file("train.tsv", tsv.split(separator: "\n").prefix(120).joined(separator: "\n") + "\n")
    }

    @Test func encoderFlagsAreChecked() throws {
        let scratch = Scratch()
        let train = try trainFile(scratch)
        let out = ["-o", scratch.path + "/m.heed", "--quiet"]
        let a = try heed(["train", train, "--diversity-weight", "0.5"] + out)
        #expect(a.status == 64 && a.stderr.contains("--diversity-weight needs --encoder diversity"), "\(a.stderr)")
        let b = try heed(["train", train, "--encoder", "diversity", "--diversity-weight=-1"] + out)
        #expect(b.status == 64 && b.stderr.contains("--diversity-weight must be a number ≥ 0"), "\(b.stderr)")
        let c = try heed(["train", train, "--encoder", "sideways"] + out)
        #expect(c.status == 64 && c.stderr.contains("--encoder"), "\(c.stderr)")
        let help = try heed(["train", "--help"])
        #expect(help.stdout.contains("--encoder") && help.stdout.contains("--diversity-weight"), "\(help.stdout)")
        #expect(!scratch.exists("m.heed"))
    }

    /// The model file's config and the summary line name the encoder; explain runs on it.
    @Test(arguments: [("orthogonal", "orthogonal encoder"), ("diversity", "diversity encoder λ 0.25")])
    func encoderModelsTrainAndExplain(encoder: String, summary: String) throws {
        let scratch = Scratch()
        let train = try trainFile(scratch)
        var flags = ["--encoder", encoder, "--embed", "8", "--hidden", "8", "--epochs", "1", "--workers", "1"]
        if encoder == "diversity" { flags += ["--diversity-weight", "0.25"] }
        let r = try heed(["train", train, "-o", scratch.path + "/m.heed"] + flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("bilstm-attention, \(summary)"), "\(r.stdout)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/m.heed"))
        #expect(String(decoding: bytes, as: UTF8.self).contains("\\\"encoder\\\":\\\"\(encoder)\\\""))
        let e = try heed(["explain", scratch.path + "/m.heed", "debian package manager", "--json"])
        #expect(e.status == 0 && e.stdout.contains("\"attention\""), "\(e.stderr)")
    }
}
