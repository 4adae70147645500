import Foundation
import Testing

/// `heed compare --models … --seeds N` end to end on a slice of the shipped RT sentiment corpus,
/// with tiny models and few faithfulness documents so it takes seconds.
@Suite struct CompareCommandTests {
    /// Every `step`-th line of a shipped corpus file, written to `scratch`.
    static func slice(_ scratch: Scratch, _ file: String, every step: Int, as name: String) throws -> String {
        let lines = try String(contentsOfFile: repositoryRoot + "/corpora/sentiment-en-rt/" + file, encoding: .utf8).split(separator: "\n")
        return scratch.file(name, lines.enumerated().filter { $0.offset % step == 0 }.map { $0.element + "\n" }.joined())
    }

    static let tiny = [
        "--embed", "8", "--hidden", "8", "--epochs", "1", "--workers", "1", "--min-count", "1", "--quiet",
        "--faithfulness-limit", "4", "--ig-steps", "2", "--permutations", "3", "--latency-runs", "5",
    ]

    @Test func threeModelsTwoSeeds() throws {
        let s = Scratch()
        let train = try Self.slice(s, "train.tsv", every: 100, as: "train.tsv")
        let test = try Self.slice(s, "test.tsv", every: 200, as: "test.tsv")
        let out = s.path + "/c.json"
        let run = try heed(["compare", train, test, "--models", "lstm,attention,bilstm-attention", "--seeds", "2", "--seed", "5", "-o", out] + Self.tiny)
        #expect(run.status == 0, "\(run.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        #expect(json["seeds"] as? [Int] == [5, 6])
        #expect(json["seed"] as? Int == 5 && json["faithfulness_limit"] as? Int == 4)
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["model"] as! String } == ["lstm", "lstm", "attention", "attention", "bilstm-attention", "bilstm-attention"])
        #expect(rows.map { $0["seed"] as! Int } == [5, 6, 5, 6, 5, 6])
        for row in rows {
            let file = try #require(row["model_file"] as? String)
            #expect(FileManager.default.fileExists(atPath: file), "\(file)")
            #expect(file.hasSuffix(".seed\(row["seed"] as! Int).heed"))
            #expect((row["model_bytes"] as? Int ?? 0) > 0 && (row["latency_ms"] as? Double ?? 0) > 0)
            let f = try #require(row["faithfulness"] as? [String: Any])
            #expect(f["documents"] as? Int == 4)
            let conicity = try #require(f["conicity"] as? Double)
            #expect(conicity > -1 && conicity <= 1 + 1e-9)
            #expect(f["aopc_ig"] is Double && f["aopc_random"] is Double)
            // Attention's figures exist exactly for the attention models (absent, not null, otherwise).
            let attention = row["model"] as! String != "lstm"
            for key in ["tau_attention_ig", "tau_attention_occlusion", "aopc_attention", "permutation_tvd"] {
                #expect((f[key] != nil) == attention, "\(row["model"]!) \(key)")
            }
        }
        let models = try #require(json["models"] as? [[String: Any]])
        #expect(models.map { $0["model"] as! String } == ["lstm", "attention", "bilstm-attention"])
        for (m, model) in models.enumerated() {
            #expect(model["seeds"] as? Int == 2)
            let accuracy = try #require(model["accuracy"] as? [String: Double])
            let perSeed = rows[(2 * m)..<(2 * m + 2)].map { $0["accuracy"] as! Double }
            // Within the decimal round trip of the JSON numbers (a few ulps of numbers below 1).
            #expect(abs(accuracy["mean"]! - (perSeed[0] + perSeed[1]) / 2) <= 1e-12)
            #expect(abs(accuracy["sd"]! - abs(perSeed[0] - perSeed[1]) / 2.0.squareRoot()) <= 1e-12)
        }
        // The fields of the first version are all still there, for older readers.
        for key in ["train", "test", "options", "accuracy_gain"] { #expect(json[key] != nil, "\(key)") }

        // The table: mean ± sd with several seeds, "–" in the baseline's attention columns.
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("τ(att,IG)") == true && lines.first?.contains("conicity") == true, "\(run.stdout)")
        let lstm = try #require(lines.first { $0.hasPrefix("lstm ") })
        // τ(att,IG), τ(att,|IG|), τ(att,occ), AOPC att and perm TVD; AOPC IG and conicity are every model's.
        #expect(lines.first?.contains("τ(att,|IG|)") == true)
        #expect(lstm.contains(" ± ") && lstm.components(separatedBy: "–").count - 1 == 5, "\(lstm)")
        let bilstm = try #require(lines.first { $0.hasPrefix("bilstm-attention ") })
        #expect(!bilstm.contains("–"), "\(bilstm)")
        #expect(run.stdout.contains("attention vs lstm:"))

        // heed report renders the new table.
        let report = try heed(["report", rows[2]["model_file"] as! String, test, "--compare", out, "--steps", "2", "-o", s.path + "/r.html"])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: s.path + "/r.html", encoding: .utf8)
        #expect(html.contains("Which attention, for what") && !html.contains("Baseline vs attention"))
        #expect(html.contains("<b>bilstm-attention</b>") && html.contains("<td>lstm</td>"))
        #expect(html.contains("encoder conicity"), "the model card shows conicity")
    }

    /// han trains beside a flat model on the same data, with its faithfulness (token level, no
    /// permutation test) and latency columns.
    @Test func hanBesideAFlatModel() throws {
        let s = Scratch()
        let train = try Self.slice(s, "train.tsv", every: 100, as: "train.tsv")
        let test = try Self.slice(s, "test.tsv", every: 200, as: "test.tsv")
        let out = s.path + "/c.json"
        let run = try heed(["compare", train, test, "--models", "attention,han", "-o", out] + Self.tiny)
        #expect(run.status == 0, "\(run.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { $0["model"] as! String } == ["attention", "han"])
        let han = try #require(rows[1]["faithfulness"] as? [String: Any])
        #expect(rows[0]["faithfulness"] != nil && han["tau_attention_ig"] != nil && han["conicity"] != nil, "\(han)")
        #expect(han["permutation_tvd"] == nil, "no permutation test for han: \(han)")
        #expect(((rows[1]["latency_ms"] as? Double) ?? 0) > 0, "\(rows[1])")
        #expect((rows[1]["accuracy"] as? Double).map { $0 >= 0 && $0 <= 1 } == true)
        #expect(FileManager.default.fileExists(atPath: try #require(rows[1]["model_file"] as? String)))
    }

    @Test func usageErrorsAndTheDeprecatedPair() throws {
        let s = Scratch()
        let train = try Self.slice(s, "train.tsv", every: 200, as: "train.tsv")
        let unknown = try heed(["compare", train, train, "--models", "lstm,transformer", "-o", s.path + "/c.json"])
        #expect(unknown.status == 64, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("unknown model \"transformer\" in --models: choose from lstm, attention, bilstm, bilstm-attention"))
        let twice = try heed(["compare", train, train, "--models", "lstm,lstm", "-o", s.path + "/c.json"])
        #expect(twice.status == 64 && twice.stderr.contains("--models names lstm twice"), "\(twice.stderr)")
        let both = try heed(["compare", train, train, "--models", "lstm", "--baseline", "bilstm", "-o", s.path + "/c.json"])
        #expect(both.status == 64 && both.stderr.contains("give only --models"), "\(both.stderr)")
        let seeds = try heed(["compare", train, train, "--seeds", "0", "-o", s.path + "/c.json"])
        #expect(seeds.status == 64 && seeds.stderr.contains("--seeds must be in 1...100"), "\(seeds.stderr)")
        #expect(!s.exists("c.json"))

        // The old flags still work, as a two-model --models, and say what replaces them; one seed
        // keeps the old file names.
        let old = try heed(["compare", train, train, "--baseline", "bilstm", "-o", s.path + "/c.json", "--faithfulness-limit", "0"] + Self.tiny.dropLast(8))
        #expect(old.status == 0, "\(old.stderr)")
        #expect(old.stderr.contains("deprecated; use --models bilstm,attention"))
        #expect(s.exists("c.bilstm.heed") && s.exists("c.attention.heed"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.path + "/c.json"))) as? [String: Any])
        #expect((json["rows"] as? [[String: Any]])?.compactMap { $0["faithfulness"] }.isEmpty == true, "--faithfulness-limit 0 skips it")
        #expect(!old.stdout.contains(" ± "))
    }
}
