import Foundation
import Testing

/// `heed train --unlabelled FILE --semi vat`: virtual adversarial training from the command line.
@Suite struct VATCommandTests {
    /// 120 labelled Debian lines and the next 120 as plain text.
    func files(_ scratch: Scratch) throws -> (train: String, text: String) {
        let tsv = try String(contentsOfFile: "\(repositoryRoot)/corpora/topic-en-debian/train.tsv", encoding: .utf8)
        let rows = tsv.split(separator: "\n").prefix(240)
        let text = rows.dropFirst(120).map { $0.split(separator: "\t", maxSplits: 1).last.map(String.init) ?? "" }
        return (
            scratch.file("train.tsv", rows.prefix(120).joined(separator: "\n") + "\n"), scratch.file("text.txt", text.joined(separator: "\n") + "\n")
        )
    }

    @Test func vatWritesAModelAndResumes() throws {
        let scratch = Scratch()
        let (train, text) = try files(scratch)
        let tiny = ["--embed", "8", "--hidden", "8", "--quiet", "--workers", "1", "--vat-epsilon", "0.5"]
        let r = try heed(["train", train, "--unlabelled", text, "--semi", "vat", "--epochs", "1", "-o", scratch.path + "/m.heed"] + tiny)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(scratch.exists("m.heed") && scratch.exists("m.heed.log.jsonl") && scratch.exists("m.heed.ckpt"))
        let options = try String(contentsOfFile: scratch.path + "/m.heed.log.jsonl", encoding: .utf8)
        #expect(!options.isEmpty)
        // A VAT run writes a checkpoint, so it can go on.
        let more = try heed(
            ["train", train, "--unlabelled", text, "--semi", "vat", "--epochs", "2", "--resume", scratch.path + "/m.heed.ckpt", "-o", scratch.path + "/m.heed"]
                + tiny)
        #expect(more.status == 0, "\(more.stderr)")
        // The model card names the unlabelled file by SHA-256, what was dropped from it, and the VAT run.
        let corpus = try String(contentsOfFile: "\(repositoryRoot)/corpora/topic-en-debian/train.tsv", encoding: .utf8)
        let test = scratch.file("test.tsv", corpus.split(separator: "\n")[120] + "\n")  // the text file's first line, labelled
        let kept = try heed(["train", train, "--unlabelled", text, "--semi", "vat", "--epochs", "1", "--test", test, "-o", scratch.path + "/k.heed"] + tiny)
        #expect(kept.status == 0 && kept.stderr.contains("dropped 1 line of"), "\(kept.stderr)")
        let card = try reportPage(scratch, model: "k.heed", test: test)
        let sha = try #require(shell("sha256sum '\(text)'").split(separator: " ").first.map(String.init))
        #expect(card.contains("unlabelled text") && card.contains(sha) && card.contains("1 line equal to a document of \(test)"), "\(card)")
        #expect(card.contains("virtual adversarial training") && card.contains("on the unlabelled text") && card.contains("ε 0.5"))
    }

    /// `heed report`'s page for `model`, scored on `test`.
    func reportPage(_ scratch: Scratch, model: String, test: String) throws -> String {
        let r = try heed(["report", scratch.path + "/" + model, test, "-o", scratch.path + "/\(model).html"])
        #expect(r.status == 0, "\(r.stderr)")
        return try String(contentsOfFile: scratch.path + "/\(model).html", encoding: .utf8)
    }

    /// Without --unlabelled, VAT runs on TRAIN's own texts: a model, and not the plain run's.
    @Test func vatWithoutUnlabelledTextUsesTheTrainingTexts() throws {
        let scratch = Scratch()
        let (train, _) = try files(scratch)
        let tiny = ["--embed", "8", "--hidden", "8", "--quiet", "--workers", "1", "--epochs", "1"]
        let vat = try heed(["train", train, "--semi", "vat", "-o", scratch.path + "/vat.heed"] + tiny)
        #expect(vat.status == 0, "\(vat.stderr)")
        let plain = try heed(["train", train, "-o", scratch.path + "/plain.heed"] + tiny)
        #expect(plain.status == 0, "\(plain.stderr)")
        // Timings differ between any two runs; the losses differ only if the VAT term acted.
        let losses = try ["vat", "plain"].map { name -> [Double] in
            let log = try String(contentsOfFile: scratch.path + "/\(name).heed.log.jsonl", encoding: .utf8)
            return try log.split(separator: "\n").map { line in
                let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return try #require(record["train_loss"] as? Double)
            }
        }
        #expect(losses[0].count == 1 && losses[1].count == 1 && losses[0] != losses[1], "\(losses)")
        // Only the VAT model's card says VAT ran, and on what.
        let card = try reportPage(scratch, model: "vat.heed", test: train)
        #expect(card.contains("virtual adversarial training") && card.contains("own texts (labels ignored; never the dev split)"), "\(card)")
        #expect(!(try reportPage(scratch, model: "plain.heed", test: train)).contains("virtual adversarial training"))
    }

    @Test func vatFlagsAreChecked() throws {
        let scratch = Scratch()
        let (train, text) = try files(scratch)
        let out = ["-o", scratch.path + "/m.heed", "--quiet"]
        let a = try heed(["train", train, "--semi", "self-training"] + out)
        #expect(a.status == 64 && a.stderr.contains("--semi self-training needs unlabelled text"), "\(a.stderr)")
        let b = try heed(["train", train, "--unlabelled", text, "--semi", "vat", "--vat-epsilon", "0"] + out)
        #expect(b.status == 64 && b.stderr.contains("--vat-epsilon"), "\(b.stderr)")
        let c = try heed(["train", train, "--unlabelled", text, "--semi", "self-training", "--vat-weight", "2"] + out)
        #expect(c.status == 64 && c.stderr.contains("need --semi vat"), "\(c.stderr)")
        let help = try heed(["train", "--help"])
        #expect(help.stdout.contains("--vat-epsilon") && help.stdout.contains("virtual adversarial"), "\(help.stdout)")
        #expect(!scratch.exists("m.heed"))
    }
}
