import Foundation
import Testing

@Suite struct ExplainCommandTests {
    @Test func jsonSchemaOffsetsAndBadRequests() throws {
        let s = Scratch()
        let (model, train) = try trainTinyModel(in: s, kind: "lstm", epochs: 1)
        let e = try heed(["explain", model, "--json", "--steps", "16", "A great film"])
        #expect(e.status == 0, "\(e.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        #expect(Set(object.keys).isSuperset(of: ["text", "label", "probabilities", "tokens", "truncated", "integrated_gradients_gap"]))
        let tokens = object["tokens"] as! [[String: Any]]
        #expect(tokens.map { $0["text"] as! String } == ["a", "great", "film"])
        #expect(tokens[1]["start"] as? Int == 2 && tokens[1]["end"] as? Int == 7)
        // "all" means every method the model has: a baseline LSTM has no attention.
        #expect(Set((tokens[0]["scores"] as! [String: Any]).keys) == ["gradient", "grad-input", "integrated-gradients", "occlusion"])
        let attention = try heed(["explain", model, "--method", "attention", "x"])
        #expect(attention.status == 1 && attention.stderr.contains("a lstm model has no attention"), "\(attention.stderr)")
        let steps = try heed(["explain", model, "--steps", "0", "x"])
        #expect(steps.status == 64 && steps.stderr.contains("--steps must be in 1...10000"))
        let unknown = try heed(["explain", model, "--method", "saliency", "x"])
        #expect(unknown.status == 64 && unknown.stderr.contains("unknown --method saliency"))
        // Conicity is the encoder's: a model without attention has it too.
        let metrics = try heed(["explain", model, train, "--metrics", "--steps", "2", "--limit", "3"])
        #expect(metrics.status == 0 && metrics.stdout.contains("Conicity: mean cosine") && !metrics.stdout.contains("Permutation"), "\(metrics.stdout)")
    }

    @Test func metricsOverACorpus() throws {
        let s = Scratch()
        let (model, train) = try trainTinyModel(in: s, kind: "attention", epochs: 1)
        let m = try heed(["explain", model, train, "--metrics", "--json", "--steps", "4", "--limit", "10", "--workers", "2", "--permutations", "5"])
        #expect(m.status == 0, "\(m.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as! [String: Any]
        #expect(summary["documents"] as? Int == 10)
        let agreement = summary["agreement"] as! [[String: Any]]
        #expect(agreement.count == 10 && agreement[0]["first"] as? String == "attention" && agreement[0]["second"] as? String == "gradient")
        let erasure = summary["erasure"] as! [[String: Any]]
        #expect(erasure.map { $0["ranking"] as! String } == ["attention", "gradient", "grad-input", "integrated-gradients", "occlusion", "random"])
        #expect((erasure[0]["comprehensiveness"] as! [Any]).count == 5)
        #expect((summary["permutation"] as! [String: Any])["documents"] as? Int == 10)
        let conicity = try #require(summary["conicity"] as? [String: Any])
        let mean = try #require(conicity["mean"] as? Double)
        #expect(conicity["documents"] as? Int == 10 && mean > -1 && mean <= 1 + 1e-9)
        let table = try heed(["explain", model, train, "--metrics", "--method", "attention,occlusion", "--steps", "4", "--limit", "3"])
        #expect(table.status == 0 && table.stdout.contains("attention ~ occlusion") && table.stdout.contains("Sufficiency"), "\(table.stdout)")
        // The conicity line: documents, then mean, sd and median with three decimals.
        let lines = table.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("Conicity: mean cosine of each encoder state") }, "\(table.stdout)")
        let row = lines[header + 2].split(separator: " ")
        #expect(row.count == 4 && row[0] == "3" && row.dropFirst().allSatisfy { $0.split(separator: ".").last?.count == 3 }, "\(lines[header + 2])")
        let two = try heed(["explain", model, train, train, "--metrics"])
        #expect(two.status == 64 && two.stderr.contains("--metrics reads one corpus file"), "\(two.stderr)")
        let missing = try heed(["explain", model, s.path + "/nope.tsv", "--metrics"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.tsv"), "\(missing.stderr)")
    }
}
