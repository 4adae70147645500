import ArgumentParser
import Foundation
import Heed

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label texts; for attention models also show each token's weight and source offsets.",
        discussion: """
            Texts come from the arguments, or one per line from standard input with - or no argument. \
            Probabilities are calibrated with the model's temperature (see heed calibrate). --top-k and \
            --threshold choose which labels are listed (JSON: "labels", most probable first); "label" \
            is always the most probable one.
            """)
    @Argument(help: "Model file.") var model: String
    @Argument(help: "Texts to classify (- or none: one per line from standard input).") var texts: [String] = []
    @Flag(help: "Print one JSON object per text.") var json = false
    @OptionGroup var scoring: InferenceWorkers
    @Option(help: "Tokens to list per text in the plain output (highest attention first).") var top = 8
    @Option(help: "List the K most probable labels (more than the model has: all of them). Default 1, or no limit with --threshold.")
    var topK: Int?
    @Option(help: "List every label whose probability is at least P (possibly none).") var threshold: Float?

    func validate() throws {
        if let topK, topK < 1 { throw ValidationError("--top-k must be at least 1 (got \(topK))") }
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be a probability in 0...1 (got \(threshold))") }
    }

    func run() throws {
        var classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        classifier.workers = scoring.workers
        var inputs = texts
        if inputs.isEmpty || inputs == ["-"] {
            inputs = []
            try CorpusReader(CorpusSource.standardInput(format: .text)).forEachDocument { inputs.append($0.textString) }
        }
        let predictions = try classifier.predict(inputs)
        let encoder = resultEncoder()
        for (text, p) in zip(inputs, predictions) {
            if json {
                let out = PredictionJSON(text: text, prediction: p, topK: topK, threshold: threshold)
                print(String(decoding: try encoder.encode(out), as: UTF8.self))
            } else {
                let probs = zip(p.labels, p.probabilities).map { "\($0) \(fixed(Double($1), 3))" }.joined(separator: ", ")
                if topK == nil && threshold == nil {
                    print("\(p.label)\t(\(probs))")
                } else {
                    let ranked = p.rankedLabels(maximumCount: topK, threshold: threshold)
                    let chosen =
                        ranked.isEmpty ? "(no label ≥ \(threshold.map { Format.decimals(Double($0), 3) } ?? ""))" : ranked.map(\.label).joined(separator: ",")
                    print("\(chosen)\t(\(probs))")
                }
                if classifier.hasAttention {
                    let ranked = p.tokens.sorted { ($0.weight ?? 0) > ($1.weight ?? 0) }.prefix(top)
                    print("  attention: " + ranked.map { "\($0.text) \(fixed(Double($0.weight ?? 0), 3))" }.joined(separator: ", "))
                }
            }
        }
    }
}
