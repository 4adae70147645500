import HeedText

/// Batch-1 inference latency of the network on pre-tokenized documents, as the benchmark harness
/// compares it with PyTorch (which also receives token ids): forward pass only, eval mode.
package enum LatencyBenchmark {
    /// Milliseconds per document (median, 99th percentile, mean) over `runs` forward passes.
    package struct Result: Codable, Sendable {
        package var p50Milliseconds: Double
        package var p99Milliseconds: Double
        package var meanMilliseconds: Double
        package var runs: Int
        /// Mean tokens per timed document.
        package var meanTokens: Double

        enum CodingKeys: String, CodingKey {
            case runs
            case p50Milliseconds = "p50_ms", p99Milliseconds = "p99_ms", meanMilliseconds = "mean_ms", meanTokens = "mean_tokens"
        }
    }

    /// Times `runs` batch-1 forward passes over `documents` (cycling) after `warmup` untimed ones.
    package static func run(_ classifier: TextClassifier, documents: [LabelledText], runs: Int, warmup: Int = 50) throws -> Result {
        if classifier.isHierarchical {
            throw HeedError.notForHierarchical("the latency benchmark", instead: "time heed predict over the corpus for han models")
        }
        let encoder = try DocumentEncoder(
            vocabulary: classifier.vocabulary, maxLength: classifier.options.maxLength, subwords: classifier.options.subwordSettings)
        let sequences = documents.map { encoder.sequence($0.text) }.filter { $0.count > 0 }
        guard !sequences.isEmpty else { throw HeedTextError.noDocuments("benchmark documents") }
        let clock = ContinuousClock()
        var times: [Double] = []
        var tokens = 0
        classifier.box.withModel { model in
            for i in 0..<(warmup + runs) {
                let sequence = sequences[i % sequences.count], n = sequence.count
                let start = clock.now
                _ = model.forward(ids: sequence.ids, lengths: [n], batch: 1, steps: n, training: false, pieces: sequence.pieces)
                let elapsed = Trainer.seconds(start.duration(to: clock.now)) * 1000
                if i >= warmup { times.append(elapsed); tokens += n }
            }
        }
        times.sort()
        func quantile(_ q: Double) -> Double { times[min(times.count - 1, Int((q * Double(times.count)).rounded(.down)))] }
        return Result(
            p50Milliseconds: quantile(0.5), p99Milliseconds: quantile(0.99),
            meanMilliseconds: times.reduce(0, +) / Double(times.count),
            runs: times.count, meanTokens: Double(tokens) / Double(times.count))
    }
}
