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
    /// A han model's pass is its batch-1 prediction of the document's sentences (the cut to
    /// maxSentences × maxWords and the batch's assembly included, so a little more than a flat
    /// model's bare forward pass).
    package static func run(_ classifier: TextClassifier, documents: [LabelledText], runs: Int, warmup: Int = 50) throws -> Result {
        let encoder =
            classifier.isHierarchical
            ? try DocumentEncoder(vocabulary: classifier.vocabulary, options: classifier.options)
            : try DocumentEncoder(
                vocabulary: classifier.vocabulary, maxLength: classifier.options.maxLength, subwords: classifier.options.subwordSettings)
        let sequences = documents.map { encoder.sequence($0.text) }.filter { $0.count > 0 }
        guard !sequences.isEmpty else { throw HeedTextError.noDocuments("benchmark documents") }
        let clock = ContinuousClock()
        var times: [Double] = []
        var tokens = 0
        func timed(_ i: Int, _ pass: () -> Void) {
            let start = clock.now
            pass()
            let elapsed = Trainer.seconds(start.duration(to: clock.now)) * 1000
            if i >= warmup { times.append(elapsed); tokens += sequences[i % sequences.count].count }
        }
        if classifier.isHierarchical {
            var one = classifier
            one.workers = 1
            for i in 0..<(warmup + runs) { timed(i) { _ = one.predict([sequences[i % sequences.count]]) } }
        } else {
            classifier.box.withModel { model in
                for i in 0..<(warmup + runs) {
                    let sequence = sequences[i % sequences.count], n = sequence.count
                    timed(i) { _ = model.forward(ids: sequence.ids, lengths: [n], batch: 1, steps: n, training: false, pieces: sequence.pieces) }
                }
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
