import Foundation
import Testing

/// `heed quantize MODEL -o SMALL`, and every model-reading command on its output.
@Suite struct QuantizeCommandTests {
    private func size(_ path: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int }

    @Test func quantisedModelPredictsEvaluatesAndExplains() throws {
        let s = Scratch()
        let (model, train) = try trainTinyModel(in: s, kind: "attention", epochs: 2)
        let small = s.path + "/small.heed"
        let q = try heed(["quantize", model, "-o", small])
        #expect(q.status == 0 && q.stdout.contains("small.heed: written"), "\(q.stderr)")
        for file in [model, small] {
            let p = try heed(["predict", file, "--json", "great fun film", "dull boring film"])
            #expect(p.status == 0, "\(p.stderr)")
            for line in p.stdout.split(separator: "\n") {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let probabilities = object["probabilities"] as! [String: Double]
                // Two Float probabilities from one softmax sum to 1 within a few units of Float rounding.
                #expect(abs(probabilities.values.reduce(0, +) - 1) < 1e-6, "\(line)")
                #expect(["pos", "neg"].contains(object["label"] as! String))
            }
            let e = try heed(["evaluate", file, train, "--json"])
            #expect(e.status == 0, "\(e.stderr)")
            let accuracy = (try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any])["accuracy"] as! Double
            #expect(accuracy >= 0 && accuracy <= 1)
            let x = try heed(["explain", file, "--json", "--steps", "8", "great fun film"])
            #expect(x.status == 0, "\(x.stderr)")
            let tokens = (try JSONSerialization.jsonObject(with: Data(x.stdout.utf8)) as! [String: Any])["tokens"] as! [[String: Any]]
            #expect(tokens.map { $0["text"] as! String } == ["great", "fun", "film"])
            #expect(Set((tokens[0]["scores"] as! [String: Any]).keys).contains("integrated-gradients"))
        }
        // Calibrating a quantised model writes a quantised model.
        let calibrated = s.path + "/calibrated.heed"
        let c = try heed(["calibrate", small, train, "-o", calibrated])
        #expect(c.status == 0, "\(c.stderr)")
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: calibrated)).prefix(100_000), as: UTF8.self)
        #expect(header.contains(#""dtype":"I8""#) && header.contains("heed.quantization") && header.contains("heed.calibration"))
        let w = try heed(["quantize", model, "--weights", "-o", s.path + "/smaller.heed"])
        #expect(w.status == 0, "\(w.stderr)")
        #expect(try size(s.path + "/smaller.heed") < size(small))
        let p = try heed(["predict", s.path + "/smaller.heed", "great fun film"])
        #expect(p.status == 0, "\(p.stderr)")
    }

    /// With a subword table the tables dominate: 4·E bytes per float row become E + 4, or nothing
    /// for an all-zero row.
    @Test func subwordModelShrinksAtLeastThreeAndAHalfFold() throws {
        let s = Scratch()
        var lines = ""
        for i in 0..<40 { lines += (i % 2 == 0 ? "pos\tgreat fun film number \(i)\n" : "neg\tdull boring film number \(i)\n") }
        let train = s.file("train.tsv", lines)
        let model = s.path + "/m.heed", small = s.path + "/small.heed"
        let t = try heed([
            "train", train, "--subwords", "3-5", "--buckets", "4000", "--embed", "32", "--hidden", "4", "--epochs", "1", "--quiet", "-o", model,
        ])
        #expect(t.status == 0, "\(t.stderr)")
        let q = try heed(["quantize", model, "-o", small])
        #expect(q.status == 0, "\(q.stderr)")
        // (4000 + V) rows of 128 bytes → 36 bytes: 3.5× at least, less the metadata and small
        // weights both keep; more, since the buckets no training token hashed to are left out.
        let ratio = Double(try size(model)) / Double(try size(small))
        #expect(ratio > 3.2, "ratio \(ratio)")
        let p = try heed(["predict", small, "--json", "greatness unseen"])
        #expect(p.status == 0, "\(p.stderr)")
    }

    /// `--bits 4`: 4-bit tables, read by every command that reads a model; other widths refused.
    @Test func fourBitTablesAreReadByEveryCommand() throws {
        let s = Scratch()
        let (model, train) = try trainTinyModel(in: s, kind: "attention", epochs: 2)
        let int8 = s.path + "/int8.heed", int4 = s.path + "/int4.heed", all = s.path + "/int4-all.heed"
        #expect(try heed(["quantize", model, "-o", int8]).status == 0)
        let q = try heed(["quantize", model, "--bits", "4", "-o", int4])
        #expect(q.status == 0 && q.stdout.contains("int4.heed: written"), "\(q.stderr)")
        let w = try heed(["quantize", model, "--bits", "4", "--weights", "-o", all])
        #expect(w.status == 0, "\(w.stderr)")
        // Eight-wide rows: 8 int8 bytes + 4 for the scale become 4 + 4.
        #expect(try size(int4) < size(int8) && size(all) < size(int4))
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: all)).prefix(100_000), as: UTF8.self)
        #expect(header.contains(#""dtype":"U8""#) && header.contains(#""dtype":"I8""#) && header.contains("int4-symmetric-per-row"))
        for file in [int4, all] {
            let p = try heed(["predict", file, "--json", "great fun film", "dull boring film"])
            #expect(p.status == 0 && p.stdout.split(separator: "\n").count == 2, "\(p.stderr)")
            let e = try heed(["evaluate", file, train, "--json"])
            #expect(e.status == 0, "\(e.stderr)")
            let x = try heed(["explain", file, "--json", "--steps", "4", "great fun film"])
            #expect(x.status == 0, "\(x.stderr)")
            let r = try heed(["report", file, train, "--limit", "4", "--steps", "2", "-o", s.path + "/r.html"])
            #expect(r.status == 0 && s.exists("r.html"), "\(r.stderr)")
        }
        // Calibrating keeps the 4-bit tables.
        let c = try heed(["calibrate", int4, train, "-o", s.path + "/calibrated.heed"])
        #expect(c.status == 0, "\(c.stderr)")
        let calibrated = String(decoding: try Data(contentsOf: URL(fileURLWithPath: s.path + "/calibrated.heed")).prefix(100_000), as: UTF8.self)
        #expect(calibrated.contains(#""dtype":"U8""#) && calibrated.contains("heed.calibration"))
        for bits in ["3", "16", "0"] {
            let bad = try heed(["quantize", model, "--bits", bits, "-o", s.path + "/bad.heed"])
            #expect(bad.status == 64 && bad.stderr.contains("--bits must be 8 (int8 tables) or 4 (4-bit tables), got \(bits)"), "\(bad.stderr)")
        }
        #expect(!s.exists("bad.heed"))
        let twice = try heed(["quantize", int4, "--bits", "4", "-o", s.path + "/twice.heed"])
        #expect(twice.status == 1 && twice.stderr.contains("already quantised"), "\(twice.stderr)")
        let resume = try heed(["train", train, "--init", int4, "--epochs", "1", "--quiet", "-o", s.path + "/again.heed"])
        #expect(resume.status != 0 && resume.stderr.contains("heed quantize"), "\(resume.stderr)")
    }

    /// The `heed.vocabulary` metadata entry of a model file.
    private func vocabulary(_ path: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as! [String: Any]
        let json = (header["__metadata__"] as! [String: String])["heed.vocabulary"]!
        return try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String]
    }

    @Test func cutoffPrunesTheVocabularyToUnknown() throws {
        let s = Scratch()
        let (model, _) = try trainTinyModel(in: s, kind: "attention", epochs: 1)
        let full = s.path + "/full.heed", small = s.path + "/small.heed"
        #expect(try heed(["quantize", model, "-o", full]).status == 0)
        let q = try heed(["quantize", model, "--cutoff", "3", "-o", small])
        #expect(q.status == 0 && q.stdout.contains("kept 3 of"), "\(q.stdout) \(q.stderr)")
        let all = try vocabulary(model), kept = try vocabulary(small)
        #expect(kept.count == 3 && kept == all.filter { kept.contains($0) }, "kept words stay in their order: \(kept)")
        func probabilities(_ file: String, _ texts: [String]) throws -> [[String: Double]] {
            let p = try heed(["predict", file, "--json"] + texts)
            #expect(p.status == 0, "\(p.stderr)")
            return p.stdout.split(separator: "\n").map {
                let object = try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return object["probabilities"] as! [String: Double]
            }
        }
        // A pruned word reads <unk>'s row, as an unseen word does; a kept word reads its own row,
        // quantised exactly as without the cutoff.
        let pruned = all.first { !kept.contains($0) }!
        let outputs = try probabilities(small, [pruned, "qqqunseen", kept[0]])
        #expect(outputs[0] == outputs[1] && outputs[2] != outputs[1], "\(outputs)")
        #expect(try probabilities(full, [kept[0]]) == [outputs[2]])
        let zero = try heed(["quantize", model, "--cutoff", "0", "-o", s.path + "/zero.heed"])
        #expect(zero.status == 64 && zero.stderr.contains("--cutoff must be at least 1"), "\(zero.stderr)")
    }

    @Test func refusals() throws {
        let s = Scratch()
        let (model, train) = try trainTinyModel(in: s, kind: "attention", epochs: 1)
        let small = s.path + "/small.heed"
        #expect(try heed(["quantize", model, "-o", small]).status == 0)
        let same = try heed(["quantize", model, "-o", model])
        #expect(same.status == 64 && same.stderr.contains("--output must not be the model file itself"), "\(same.stderr)")
        let twice = try heed(["quantize", small, "-o", s.path + "/twice.heed"])
        #expect(twice.status == 1 && twice.stderr.contains("small.heed") && twice.stderr.contains("already quantised"), "\(twice.stderr)")
        // Export keeps the tables int8 (docs/onnx.md; make onnx-check runs the graph).
        let export = try heed(["export", small, "-o", s.path + "/q.onnx"])
        #expect(export.status == 0 && s.exists("q.onnx"), "\(export.stderr)")
        for flag in ["--init", "--resume"] {
            let r = try heed(["train", train, flag, small, "--epochs", "1", "--quiet", "-o", s.path + "/again.heed"])
            #expect(r.status != 0 && r.stderr.contains("small.heed") && r.stderr.contains("heed quantize"), "\(flag): \(r.stderr)")
        }
        let han = try heed(["train", train, "--model", "han", "--embed", "4", "--hidden", "4", "--epochs", "1", "--quiet", "-o", s.path + "/han.heed"])
        #expect(han.status == 0, "\(han.stderr)")
        // han models quantise too, and every command that reads han reads the result, ONNX export
        // included (make onnx-check runs the graphs).
        for bits in ["8", "4"] {
            let hq = s.path + "/hq\(bits).heed"
            let h = try heed(["quantize", s.path + "/han.heed", "--bits", bits, "--weights", "-o", hq])
            #expect(h.status == 0, "\(h.stderr)")
            let p = try heed(["predict", hq, "great fun film"])
            #expect(p.status == 0 && (p.stdout.contains("pos") || p.stdout.contains("neg")), "\(p.stderr)")
            let e = try heed(["explain", hq, "--steps", "4", "great fun film. dull boring film"])
            #expect(e.status == 0, "\(e.stderr)")
            let v = try heed(["evaluate", hq, train])
            #expect(v.status == 0, "\(v.stderr)")
            let x = try heed(["export", hq, "-o", s.path + "/hq\(bits).onnx", "--reference", train, "--reference-output", s.path + "/hq\(bits).jsonl"])
            #expect(x.status == 0 && s.exists("hq\(bits).onnx") && s.exists("hq\(bits).tokenizer.json"), "\(x.stderr)")
            let first = try #require(try String(contentsOfFile: s.path + "/hq\(bits).jsonl", encoding: .utf8).split(separator: "\n").first)
            #expect(first.contains("\"word_attention\":[[") && first.contains("\"sentence_attention\":["), "\(first)")
            let tokenizer = try String(contentsOfFile: s.path + "/hq\(bits).tokenizer.json", encoding: .utf8)
            #expect(tokenizer.contains("\"splitter\":\"icu-sentence-break\"") && tokenizer.contains("\"maxSentences\""), "\(tokenizer)")
        }
        #expect(!s.exists("twice.heed") && !s.exists("again.heed"))
    }
}
