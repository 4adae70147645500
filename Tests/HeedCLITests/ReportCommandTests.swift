import Foundation
import Testing

/// `heed report` end to end: a tiny model trained by `heed compare`, its log and comparison JSON.
@Suite struct ReportCommandTests {
    static func corpus() -> String {
        let good = ["a great and lovely film", "great acting, lovely score", "a lovely warm story", "great fun and a great cast", "warm and great"]
        let bad = ["a dull and boring film", "boring plot, dull cast", "a dull cold story", "boring and bad acting", "cold and dull"]
        return zip(good, bad).map { "pos\t\($0)\nneg\t\($1)\n" }.joined()
    }

    @Test func writesAReportWithLogAndComparison() throws {
        let scratch = Scratch()
        let train = scratch.file("train.tsv", Self.corpus())
        let tiny = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--threads", "1", "--min-count", "1", "--dev-fraction", "0.3", "--quiet"]
        let compare = try heed(["compare", train, train, "-o", scratch.path + "/c.json"] + tiny)
        #expect(compare.status == 0, "\(compare.stderr)")
        let run = try heed([
            "report", scratch.path + "/c.attention.heed", train, "--compare", scratch.path + "/c.json", "--limit", "4", "--sort", "length",
            "-o", scratch.path + "/r.html",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("4 of 10 documents"))
        let html = try String(contentsOfFile: scratch.path + "/r.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<article class=\"doc").count == 5)
        #expect(html.contains("Which attention, for what"))
        #expect(html.contains("<polyline"), "the training log beside the model is found by default")
        #expect(html.contains("Faithfulness"))

        let baseline = try heed(["report", scratch.path + "/c.lstm.heed", train, "-o", scratch.path + "/b.html"])
        #expect(baseline.status == 0, "\(baseline.stderr)")
        #expect(try String(contentsOfFile: scratch.path + "/b.html", encoding: .utf8).contains("leave-one-out occlusion"))
    }

    @Test func errorsNameTheFile() throws {
        let scratch = Scratch()
        let train = scratch.file("train.tsv", Self.corpus())
        let missing = try heed(["report", scratch.path + "/none.heed", train, "-o", scratch.path + "/r.html"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("none.heed"))
        #expect(!scratch.exists("r.html"))

        let tiny = ["--embed", "8", "--hidden", "8", "--epochs", "1", "--threads", "1", "--min-count", "1", "--dev-fraction", "0.3", "--quiet"]
        #expect(try heed(["train", train, "--model", "attention", "-o", scratch.path + "/m.heed"] + tiny).status == 0)
        let log = scratch.file("bad.jsonl", "{\"epoch\": 1}\n")
        let badLog = try heed(["report", scratch.path + "/m.heed", train, "--log", log, "-o", scratch.path + "/r.html"])
        #expect(badLog.status != 0)
        #expect(badLog.stderr.contains("bad.jsonl:1:"), "\(badLog.stderr)")
        let badCompare = try heed(["report", scratch.path + "/m.heed", train, "--compare", log, "-o", scratch.path + "/r.html"])
        #expect(badCompare.status != 0 && badCompare.stderr.contains("bad.jsonl"))
        let unknown = scratch.file("other.tsv", "cooking\ta recipe\n")
        let badLabel = try heed(["report", scratch.path + "/m.heed", unknown, "-o", scratch.path + "/r.html"])
        #expect(badLabel.status != 0 && badLabel.stderr.contains("other.tsv:1"), "\(badLabel.stderr)")
        let noFolder = try heed(["report", scratch.path + "/m.heed", train, "-o", scratch.path + "/no/such/r.html"])
        #expect(noFolder.status != 0 && noFolder.stderr.contains("does not exist"))
        for (option, value) in [("--steps", "0"), ("--attribution-limit", "-1"), ("--workers", "0")] {
            let bad = try heed(["report", scratch.path + "/m.heed", train, option, value, "-o", scratch.path + "/r.html"])
            #expect(bad.status != 0 && bad.stderr.contains(option), "\(bad.stderr)")
        }
        #expect(!scratch.exists("r.html"))

        // A cheaper page: fewer integrated-gradients steps, and only the first document scored by every method.
        let cheap = try heed(["report", scratch.path + "/m.heed", train, "--steps", "2", "--attribution-limit", "1", "-o", scratch.path + "/r.html"])
        #expect(cheap.status == 0, "\(cheap.stderr)")
        let html = try String(contentsOfFile: scratch.path + "/r.html", encoding: .utf8)
        #expect(html.contains("Integrated gradients (2 steps") && html.contains("Only the first 1 document in this order is scored"))

        // The disagreement sort: the documents scored by every method, lowest τ(attention, IG) first.
        let worst = try heed([
            "report", scratch.path + "/m.heed", train, "--sort", "disagreement", "--limit", "3", "--steps", "2", "--workers", "2", "-o",
            scratch.path + "/w.html",
        ])
        #expect(worst.status == 0, "\(worst.stderr)")
        let page = try String(contentsOfFile: scratch.path + "/w.html", encoding: .utf8)
        #expect(page.contains("<option value=\"disagreement\" selected>attention and attribution disagree most</option>"))
        #expect(page.contains("Order: attention and attribution disagree most."))
        let taus = page.components(separatedBy: "τ(attention, IG) ").dropFirst().compactMap { Double($0.prefix { $0 != "<" }) }
        #expect(taus.count == 3 && taus == taus.sorted(), "\(taus)")
        #expect(page.contains("id=\"h-calibration\"") && page.contains("<table class=\"tau\">"))
    }
}
