import Foundation
import Testing

@Suite struct TokenizeCommand {
    @Test func jsonlSchemaAndOffsets() throws {
        let r = try heed(["tokenize", "--format", "jsonl"], stdin: "pos\tCafé \"ok\" 👍🏽 北京大学\n")
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(object["label"] as? String == "pos")
        #expect(object["tokens"] as? [String] == ["café", "ok", "👍🏽", "北京", "大学"])
        let offsets = object["offsets"] as! [[Int]]
        let text = Array("Café \"ok\" 👍🏽 北京大学".utf8)
        #expect(String(decoding: text[offsets[0][0]..<offsets[0][1]], as: UTF8.self) == "Café")
        #expect(String(decoding: text[offsets[4][0]..<offsets[4][1]], as: UTF8.self) == "大学")
    }

    @Test func textAndIdsFormats() throws {
        let s = Scratch()
        let train = s.file("train.tsv", "pos\tgood good film\nneg\tbad bad film\n")
        #expect(try heed(["vocab", "build", train, "-o", s.path + "/v.vocab", "--quiet"]).status == 0)
        let text = try heed(["tokenize", train])
        #expect(text.stdout == "pos\tgood good film\nneg\tbad bad film\n")
        let ids = try heed(["tokenize", "--format", "ids", "--vocab", s.path + "/v.vocab", "-"], stdin: "pos\tGood unseen film\n")
        #expect(ids.stdout == "pos\t4 1 3\n", "\(ids.stderr)")  // bad, film, good all occur twice: ids by bytes 2, 3, 4
        let noVocab = try heed(["tokenize", "--format", "ids", train])
        #expect(noVocab.status != 0 && noVocab.stderr.contains("--vocab"))
        let mismatch = try heed(["tokenize", "--format", "ids", "--vocab", s.path + "/v.vocab", "--normalization", "none", train])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("different tokenizer settings"))
    }

    @Test func badInputNamesFileAndLineAndWritesNothing() throws {
        let s = Scratch()
        let cases: [(String, [UInt8], String)] = [
            ("notab.tsv", Array("pos\tfine\nno tab here\n".utf8), "notab.tsv:2:"),
            ("nolabel.tsv", Array("pos\tfine\n\ttext\n".utf8), "nolabel.tsv:2:"),
            ("utf8.tsv", Array("pos\tfine\npos\tbad ".utf8) + [0xFF, 0x0A], "utf8.tsv:2:"),
        ]
        for (name, bytes, expected) in cases {
            let input = s.file(name, bytes)
            for args in [["tokenize", input, "-o", s.path + "/out.txt"], ["vocab", "build", input, "-o", s.path + "/out.vocab"]] {
                let r = try heed(args)
                #expect(r.status != 0)
                #expect(r.stderr.contains(expected), "\(r.stderr)")
                #expect(!s.exists("out.txt") && !s.exists("out.vocab"))
                #expect(s.contents.allSatisfy { !$0.contains(".tmp") }, "\(s.contents)")
            }
        }
        let missing = try heed(["vocab", "build", s.path + "/missing.tsv", "-o", s.path + "/out.vocab"])
        #expect(missing.status != 0 && missing.stderr.contains("missing.tsv: no such file"))
        let empty = try heed(["vocab", "build", s.file("empty.tsv", ""), "-o", s.path + "/out.vocab"])
        #expect(empty.status != 0 && empty.stderr.contains("empty.tsv: contains no documents"))
        let unwritable = try heed(["vocab", "build", cases[0].0, "-o", "/nonexistent-dir/out.vocab"])
        #expect(unwritable.status != 0)
    }
}

@Suite struct VocabCommand {
    @Test func countAndMergeEqualBuild() throws {
        let s = Scratch()
        let a = s.file("a.tsv", "pos\tthe film was good\nneg\tthe film was bad\n")
        let b = s.file("b.tsv", "pos\tgood acting\nneg\tbad plot and bad acting\n")
        #expect(try heed(["vocab", "count", a, "-o", s.path + "/a.counts", "--quiet"]).status == 0)
        #expect(try heed(["vocab", "count", b, "-o", s.path + "/b.counts", "--quiet"]).status == 0)
        #expect(try heed(["vocab", "merge", s.path + "/a.counts", s.path + "/b.counts", "-o", s.path + "/m.vocab", "--quiet"]).status == 0)
        #expect(try heed(["vocab", "build", a, b, "-o", s.path + "/w.vocab", "--quiet"]).status == 0)
        let merged = try Data(contentsOf: URL(fileURLWithPath: s.path + "/m.vocab"))
        let whole = try Data(contentsOf: URL(fileURLWithPath: s.path + "/w.vocab"))
        #expect(merged == whole)
        let show = try heed(["vocab", "show", s.path + "/w.vocab", "--top", "3"])
        #expect(show.status == 0 && show.stdout.contains("top 3:") && show.stdout.contains("labels: neg 2, pos 2"))
        #expect(try heed(["vocab", "count", a, "--mask-numbers", "-o", s.path + "/c.counts", "--quiet"]).status == 0)
        let clash = try heed(["vocab", "merge", s.path + "/a.counts", s.path + "/c.counts", "-o", s.path + "/x.vocab"])
        #expect(clash.status != 0 && clash.stderr.contains("c.counts"))
    }
}

@Suite struct TrainingCommands {
    @Test func predictJSONSchemaAndModelErrors() throws {
        let s = Scratch()
        let (model, train) = try trainTinyModel(in: s, kind: "attention", epochs: 2)
        #expect(s.exists("m.heed.log.jsonl") && s.exists("m.heed.ckpt"))
        let p = try heed(["predict", model, "--json", "A great film"])
        let object = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as! [String: Any]
        #expect(Set(object.keys) == ["text", "label", "probabilities", "tokens", "labels"])
        let ranked = object["labels"] as! [[String: Any]]
        #expect(ranked.count == 1 && ranked[0]["label"] as? String == object["label"] as? String, "one label by default: the predicted one")
        let all = try heed(["predict", model, "--json", "--threshold", "0", "A great film"])
        let both = (try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as! [String: Any])["labels"] as! [[String: Any]]
        #expect(both.count == 2 && (both[0]["score"] as! Double) >= (both[1]["score"] as! Double), "--threshold 0: every label, highest first")
        let clamped = try heed(["predict", model, "--top-k", "9", "A great film"])
        #expect(clamped.status == 0 && (clamped.stdout.hasPrefix("pos,neg") || clamped.stdout.hasPrefix("neg,pos")), "\(clamped.stdout)")
        for bad in [["--top-k", "0"], ["--threshold", "1.5"]] {
            let r = try heed(["predict", model] + bad + ["x"])
            #expect(r.status == 64 && r.stderr.contains(bad[0]), "\(r.stderr)")
        }
        let evaluation = try heed(["evaluate", model, train, "--json"])
        let e = try JSONSerialization.jsonObject(with: Data(evaluation.stdout.utf8)) as! [String: Any]
        let calibration = e["calibration"] as! [String: Any]
        #expect((calibration["uncalibrated"] as! [String: Any])["ece"] is Double && calibration["risk_coverage"] is [Any])
        #expect(try heed(["evaluate", model, train]).stdout.contains("calibration (confidence = top probability"))
        let calibrated = try heed(["calibrate", model, train, "-o", s.path + "/cal.heed"])
        #expect(calibrated.status == 0 && calibrated.stdout.contains("calibration:") && s.exists("cal.heed"), "\(calibrated.stderr)")
        let tokens = object["tokens"] as! [[String: Any]]
        #expect(tokens.map { $0["text"] as! String } == ["a", "great", "film"])
        #expect(tokens[1]["start"] as? Int == 2 && tokens[1]["end"] as? Int == 7)
        #expect(tokens.allSatisfy { $0["weight"] is Double })
        let unknown = try heed(["evaluate", model, s.file("test.tsv", "pos\tfine\ncooking\trecipe\n")])
        #expect(unknown.status != 0 && unknown.stderr.contains("test.tsv:2") && unknown.stderr.contains("cooking"))
        let notModel = try heed(["evaluate", s.file("junk.heed", "not a model"), train])
        #expect(notModel.status != 0 && notModel.stderr.contains("junk.heed"))
        let masked = try heed(["vocab", "build", train, "--mask-numbers", "-o", s.path + "/masked.vocab", "--quiet"])
        #expect(masked.status == 0, "\(masked.stderr)")
        let mismatch = try heed(["train", train, "--vocab", s.path + "/masked.vocab", "-o", s.path + "/x.heed"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("different tokenizer settings"))
    }

    @Test func vocabularyFromUnlabelledTextTrainsWithTheTrainingLabels() throws {
        // The route for pretrained word vectors: a vocabulary over unlabelled text gives words the
        // labelled set lacks a row of their own; it names no labels, so TRAIN's are used.
        let s = Scratch()
        let train = s.file("train.tsv", "pos\ta great film\nneg\ta dull film\npos\tgreat fun\nneg\tdull and slow\n")
        let text = s.file("u.txt", "a superb film\na tedious film\nsuperb superb tedious tedious great dull\n")
        #expect(try heed(["vocab", "build", text, "--input", "text", "-o", s.path + "/u.vocab", "--quiet"]).status == 0)
        let trained = try heed([
            "train", train, "--vocab", s.path + "/u.vocab", "--epochs", "1", "--dev-fraction", "0.5", "--workers", "1", "--quiet", "-o",
            s.path + "/m.heed",
        ])
        #expect(trained.status == 0, "\(trained.stderr)")
        let p = try heed(["predict", s.path + "/m.heed", "--json", "--threshold", "0", "a superb film"])
        let object = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as! [String: Any]
        #expect(Set((object["labels"] as! [[String: Any]]).map { $0["label"] as! String }) == ["neg", "pos"], "\(p.stderr)")
    }
}
