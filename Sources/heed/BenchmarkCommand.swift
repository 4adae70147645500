import ArgumentParser
import Foundation
import Heed
import HeedNN

/// Measurements the benchmark harness (`bench/run`) calls; each prints one JSON line.
struct Benchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "In-process measurements for bench/run (JSON on standard output).",
        subcommands: [TokenizeSpeed.self, Latency.self]
    )

    struct TokenizeSpeed: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tokenize",
            abstract: "Text → token ids throughput on one core, after building the vocabulary (untimed).")
        @Argument(help: "Corpus file.") var file: String
        @Option(name: .customLong("repeat"), help: "Passes over the text (timed together).") var passes = 5
        @OptionGroup var input: InputOptions
        @OptionGroup var tokenizerOptions: TokenizerOptions

        func run() throws {
            let tokenizer = try Tokenizer(settings: tokenizerOptions.settings())
            var counts = TokenCounts(settings: tokenizer.settings)
            // One contiguous buffer of all texts, as a streaming reader would hand them over.
            var texts: [UInt8] = []
            var ends: [Int] = []
            try CorpusReader(input.source(file)).forEachDocument { doc in
                texts.append(contentsOf: doc.text)
                ends.append(texts.count)
                counts.addDocument(label: doc.label)
                tokenizer.forEachToken(in: doc.text) {
                    counts.add(token: $0); _ = ($1, $2)
                }
            }
            let vocabulary = Vocabulary(counts: counts)
            var ids = [Int32](repeating: 0, count: 1 << 16)
            var tokens = 0
            let clock = ContinuousClock()
            let start = clock.now
            texts.withUnsafeBufferPointer { all in
                for _ in 0..<max(1, passes) {
                    var begin = 0
                    for end in ends {
                        var n = 0
                        tokenizer.forEachToken(in: UnsafeBufferPointer(rebasing: all[begin..<end])) { token, _, _ in
                            if n == ids.count { ids.append(0) }
                            ids[n] = vocabulary.id(of: token)
                            n += 1
                        }
                        tokens += n
                        begin = end
                    }
                }
            }
            let elapsed = start.duration(to: clock.now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            let bytes = texts.count * max(1, passes)
            print(
                "{\"bytes\": \(bytes), \"seconds\": \(seconds), \"tokens\": \(tokens), \"mb_per_s\": \(Double(bytes) / seconds / 1e6), \"documents\": \(ends.count * max(1, passes))}"
            )
        }
    }

    struct Latency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Batch-1 forward latency (p50/p99 ms) on a corpus's documents, token ids prepared untimed.")
        @Argument(help: "Model file.") var model: String
        @Argument(help: "Corpus whose documents are fed one at a time.") var corpus: String
        @Option(help: "Timed runs (after 50 untimed warm-up runs).") var n = 1000
        @Option(help: "BLAS threads.") var threads = 1
        @OptionGroup var input: InputOptions

        func run() throws {
            BLAS.setThreads(threads)
            let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
            let docs = try CorpusReader(input.source(corpus)).readAll()
            let r = try LatencyBenchmark.run(classifier, documents: docs, runs: n)
            print(
                "{\"p50_ms\": \(r.p50Milliseconds), \"p99_ms\": \(r.p99Milliseconds), \"mean_ms\": \(r.meanMilliseconds), \"runs\": \(r.runs), \"mean_tokens\": \(r.meanTokens), \"threads\": \(threads)}"
            )
        }
    }
}
