import Foundation
import Testing

/// `heed train --model han` on the command line: its bounds, its usage errors and what the other
/// commands do with a han model.
@Suite struct HANCommandTests {
    @Test func maxLenAndFlatOnlyFlagsAreUsageErrors() throws {
        let s = Scratch()
        let train = s.file("train.tsv", "pos\tgood. fine.\nneg\tbad. awful.\n")
        for (flags, message) in [
            (["--model", "han", "--max-len", "30"], "--max-len 30 does not apply to --model han: bound documents with --max-sentences N"),
            (["--max-sentences", "4"], "--max-sentences and --max-words apply to --model han only"),
            (["--model", "han", "--max-words", "0"], "--max-words must be at least 1 (got 0)"),
            (["--model", "han", "--encoder", "orthogonal"], "not built for --model han yet"),
            (["--model", "han", "--distributed"], "--distributed is not built for --model han yet"),
            (["--model", "han", "--semi", "vat", "--unlabelled", train], "--semi vat and --pretrain-epochs are not built for --model han yet"),
            (["--model", "han", "--pretrain-epochs", "1"], "--semi vat and --pretrain-epochs are not built for --model han yet"),
        ] {
            let r = try heed(["train", train, "-o", s.path + "/m.heed"] + flags)
            #expect(r.status == 64, "\(flags): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
        let tune = try heed(["tune", train, "--model", "han", "-o", s.path + "/t.heed"])
        #expect(tune.status == 64 && tune.stderr.contains("heed tune does not search --model han yet"), "\(tune.stderr)")
        #expect(s.contents == ["train.tsv"])
        let help = try heed(["train", "--help"])
        #expect(help.stdout.contains("--max-sentences") && help.stdout.contains("--max-words") && help.stdout.contains("han"))
    }

    @Test func trainedHanModelPredictsExplainsReportsAndIsRefusedWhereUnsupported() throws {
        let s = Scratch()
        var lines = ""
        for i in 0..<40 {
            lines += i % 2 == 0 ? "pos\tA great fun film. Number \(i) was fine!\n" : "neg\tA dull boring film. Number \(i) was bad.\n"
        }
        let train = s.file("train.tsv", lines)
        let model = s.path + "/m.heed"
        let t = try heed([
            "train", train, "--model", "han", "--embed", "8", "--hidden", "8", "--epochs", "1", "--max-sentences", "3", "--max-words", "8",
            "--quiet", "-o", model,
        ])
        #expect(t.status == 0, "\(t.stderr)")
        // Self-training reads its unlabelled texts as han reads any text, sentences of words.
        let unlabelled = s.file("unlabelled.txt", "A great fun film. It was fine!\nA dull film. It was bad.\n")
        let semi = try heed([
            "train", train, "--model", "han", "--embed", "8", "--hidden", "8", "--epochs", "1", "--max-sentences", "3", "--max-words", "8",
            "--unlabelled", unlabelled, "--semi", "self-training", "--threshold", "0.5", "--rounds", "1", "--quiet", "-o", s.path + "/semi.heed",
        ])
        #expect(semi.status == 0 && FileManager.default.fileExists(atPath: s.path + "/semi.heed"), "\(semi.stderr)")
        let text = "A great film. It was fun!"
        let p = try heed(["predict", model, "--json", text])
        #expect(p.status == 0, "\(p.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any])
        let sentences = try #require(object["sentences"] as? [[String: Any]])
        #expect(sentences.count == 2)
        let bytes = Array(text.utf8)
        let spans = sentences.map { (($0["start"] as? Int) ?? -1, ($0["end"] as? Int) ?? -1) }
        #expect(spans.map { String(decoding: bytes[$0.0..<$0.1], as: UTF8.self) } == ["A great film. ", "It was fun!"])
        #expect(sentences.map { $0["first_token"] as? Int } == [0, 3] && sentences.map { $0["token_count"] as? Int } == [3, 3])
        let e = try heed(["explain", model, "--json", text])
        #expect(e.status == 0 && e.stdout.contains("\"sentences\""), "\(e.stderr)")
        let ev = try heed(["evaluate", model, train])
        #expect(ev.status == 0 && ev.stdout.contains("accuracy"), "\(ev.stderr)")
        let b = try heed(["benchmark", "latency", model, train, "--n", "20"])
        let latency = try JSONSerialization.jsonObject(with: Data(b.stdout.utf8)) as? [String: Any]
        #expect(b.status == 0 && (latency?["runs"] as? Int) == 20 && ((latency?["p50_ms"] as? Double) ?? 0) > 0, "\(b.status) \(b.stderr)")

        // explain --metrics: token tables (attention = word × sentence weight), sentence agreement,
        // conicity at both levels, and why there is no permutation test.
        let m = try heed(["explain", "--metrics", model, train, "--steps", "4", "--limit", "12"])
        #expect(m.status == 0, "\(m.stderr)")
        for line in [
            "han: a token's attention is its word attention × its sentence's attention", "Sentence agreement", "attention ~ occlusion",
            "Permutation: not run for han models", "words  ", "sentences  ",
        ] {
            #expect(m.stdout.contains(line), "explain --metrics has no \(line): \(m.stdout)")
        }
        let mj = try heed(["explain", "--metrics", "--json", model, train, "--steps", "4", "--limit", "12"])
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(mj.stdout.utf8)) as? [String: Any])
        #expect((summary["sentence_agreement"] as? [Any])?.count == 3 && summary["sentence_conicity"] != nil && summary["permutation"] == nil)

        // The report: one sentence row (bar and words) per sentence read.
        let r = try heed(["report", model, train, "--limit", "6", "--steps", "4", "-o", s.path + "/r.html"])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: s.path + "/r.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<article class=\"doc").count - 1 == 6)
        #expect(html.components(separatedBy: "<div class=\"sent\">").count - 1 == 12, "every training text has two sentences")
        #expect(!html.contains("not built for han"))
    }
}
