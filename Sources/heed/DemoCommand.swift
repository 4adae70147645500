import ArgumentParser
import Foundation
import Heed
import HeedIO
import HeedReport

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole pipeline on a shipped corpus and summarise it (what `make demo` runs).")

    @Option(help: "Corpus folder with train.tsv and test.tsv.")
    var corpus = "corpora/sentiment-en-rt"

    @Option(help: "Folder for everything the demo writes.")
    var output = "build/demo"

    @Option(help: "Epochs per model in the comparison (early stopping may end sooner).")
    var epochs = 6

    @Flag(help: "Only the text pipeline: skip training.")
    var skipTraining = false

    func run() throws {
        let clock = ContinuousClock(), started = clock.now
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let train = corpus + "/train.tsv", test = corpus + "/test.tsv"
        for file in [train, test] where !FileManager.default.fileExists(atPath: file) {
            throw HeedTextError.fileNotFound(file)
        }
        print("== 1. Tokenize (ICU \(ICU.version)) — \(train)")
        let tokenizer = try Tokenizer()
        var lengths: [Int] = []
        var counts = TokenCounts(settings: tokenizer.settings)
        var example: (String, [Token])? = nil
        try CorpusReader(CorpusSource(URL(fileURLWithPath: train))).forEachDocument { doc in
            counts.addDocument(label: doc.label)
            var n = 0
            tokenizer.forEachToken(in: doc.text) { token, _, _ in
                counts.add(token: token); n += 1
            }
            lengths.append(n)
            if example == nil && doc.text.count > 60 { example = (doc.textString, tokenizer.tokenize(bytes: doc.text)) }
        }
        if let (text, tokens) = example {
            print("   \(text)")
            print(
                "   → " + tokens.prefix(12).map { "\($0.text)[\($0.range.lowerBound),\($0.range.upperBound))" }.joined(separator: " ")
                    + (tokens.count > 12 ? " …" : ""))
        }
        let sorted = lengths.sorted()
        print(
            "   \(counts.documents) documents, \(counts.tokens) tokens, \(counts.distinctTokens) distinct; tokens per document: median \(sorted[sorted.count / 2]), 95th percentile \(sorted[sorted.count * 95 / 100]), max \(sorted.last!)"
        )

        print("== 2. Vocabulary")
        let vocabulary = Vocabulary(counts: counts)
        let vocabPath = output + "/vocab.vocab"
        try vocabulary.write(to: URL(fileURLWithPath: vocabPath))
        print("   " + Vocab.summary(vocabulary, path: vocabPath))
        print("   top tokens: " + (2..<min(vocabulary.count, 17)).map { vocabulary.token($0) }.joined(separator: " "))

        print("== 3. Corpus statistics")
        let testDocs = try CorpusReader(CorpusSource(URL(fileURLWithPath: test))).readAll()
        var unknown = 0, total = 0
        for doc in testDocs {
            for id in vocabulary.ids(of: doc.text, tokenizer: tokenizer) { total += 1; if id == Vocabulary.unknownID { unknown += 1 } }
        }
        let majority = vocabulary.labelCounts.max() ?? 0
        print(
            "   labels (train): " + zip(vocabulary.labels, vocabulary.labelCounts).map { "\($0) \($1)" }.joined(separator: ", ")
                + "; majority-class accuracy \(percent(Double(majority) / Double(max(1, counts.documents))))")
        print("   test: \(testDocs.count) documents, \(total) tokens, \(percent(Double(unknown) / Double(max(1, total)))) out of vocabulary")
        if !skipTraining {
            print("== 4. Baseline vs attention (same data, seed and settings; dev = 10% of train; test never seen)")
            let flags = try TrainingFlags.parse(["--epochs", "\(epochs)"])
            // Faithfulness on the first 100 test documents keeps the demo to minutes.
            let comparison = try runComparison(
                train: train, test: test, models: try CompareModel.parse("lstm,attention"), seeds: 1,
                measures: CompareMeasures(faithfulnessLimit: 100), flags: flags, output: output + "/compare.json", quiet: false)
            print(comparison.table.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n"))
            print("   wrote \(output)/compare.json and the two models beside it")

            print("== 5. Attention report")
            let attentionRow = comparison.rows[1]
            let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: attentionRow.modelFile))
            var report = HTMLReport()
            report.modelName = (attentionRow.modelFile as NSString).lastPathComponent
            report.corpusName = test
            report.generator = "heed demo \(HeedCommand.configuration.version)"
            report.trainingLog = try HTMLReport.readTrainingLog(attentionRow.modelFile + ".log.jsonl")
            report.comparison = comparison
            report.workers = defaultWorkers
            let html = try report.render(classifier: classifier, documents: testDocs)
            let reportPath = output + "/report.html"
            try AtomicWriter.write(html, to: reportPath)
            print("   wrote \(reportPath) (\(html.utf8.count / 1024) KiB): open it in a browser")
        }
        let elapsed = started.duration(to: clock.now)
        print("Done in \(elapsed.components.seconds) s. Outputs in \(output)/")
    }
}
