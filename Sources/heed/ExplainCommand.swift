import ArgumentParser
import Foundation
import Heed
import HeedNN

extension AttributionTarget: ExpressibleByArgument {}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every token of each text by attention, gradient, gradient × input, integrated gradients and occlusion.",
        discussion: """
            Texts come from the arguments, or one per line from standard input with - or no argument. \
            Gradients are taken of the predicted class's logit (--target probability: its probability) \
            with respect to each token's embedding row. Integrated gradients uses the right Riemann rule \
            from the zero baseline with --steps points; the JSON reports its completeness gap. Occlusion \
            is the predicted class's probability minus its probability without the token.
            """)
    @Argument(help: "Model file.") var model: String
    @Argument(help: "Texts to explain (- or none: one per line from standard input).") var texts: [String] = []
    @Option(help: "Comma-separated methods (attention, gradient, grad-input, integrated-gradients, occlusion) or all.")
    var method = "all"
    @Option(help: "What the gradients differentiate: logit or probability.") var target: AttributionTarget = .logit
    @Option(help: "Integrated-gradients steps.") var steps = 32
    @Flag(help: "Print one JSON object per text.") var json = false
    @Option(help: "Tokens to list per method in the plain output (highest score first).") var top = 5
    @Option(
        help: ArgumentHelp(
            "Texts explained at once, each thread with its own copy of the model (output order is kept, and the scores do not depend on it).",
            discussion: "BLAS runs single-threaded inside each."))
    var threads = 1

    func validate() throws {
        guard (1...10_000).contains(steps) else { throw ValidationError("--steps must be in 1...10000 (got \(steps))") }
        guard top >= 0 else { throw ValidationError("--top must be at least 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1 (got \(threads))") }
        _ = try methods(all: AttributionMethod.allCases)
    }

    func methods(all: [AttributionMethod]) throws -> [AttributionMethod] {
        if method == "all" { return all }
        return try method.split(separator: ",").map { name in
            guard let m = AttributionMethod(rawValue: String(name)) else {
                throw ValidationError("unknown --method \(name): choose from \(AttributionMethod.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            return m
        }
    }

    func run() throws {
        let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        let chosen = try methods(all: classifier.attributionMethods)
        if chosen.contains(.attention) && !classifier.hasAttention {
            throw CommandLineMessage(
                description:
                    "\(model): a \(classifier.modelKind.rawValue) model has no attention; use --method gradient, grad-input, integrated-gradients or occlusion")
        }
        var inputs = texts
        if inputs.isEmpty || inputs == ["-"] {
            inputs = []
            try CorpusReader(CorpusSource.standardInput(format: .text)).forEachDocument { inputs.append($0.textString) }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // One document's many small products gain nothing from BLAS threads; documents are split
        // over --threads instead. Blocks keep the output flowing on long inputs.
        BLAS.setThreads(1)
        let block = 32 * threads
        for start in stride(from: 0, to: inputs.count, by: block) {
            let texts = Array(inputs[start..<min(start + block, inputs.count)])
            let explanations = try classifier.explain(texts, methods: chosen, target: target, steps: steps, threads: threads)
            for (text, e) in zip(texts, explanations) { try show(text, e, chosen: chosen, encoder: encoder, maxLength: classifier.options.maxLength) }
        }
    }

    private func show(_ text: String, _ e: Explanation, chosen: [AttributionMethod], encoder: JSONEncoder, maxLength: Int) throws {
        if json {
            struct Token: Encodable {
                var text: String, start: Int, end: Int, scores: [String: Float]
            }
            struct Out: Encodable {
                var text: String, label: String, probabilities: [String: Float], tokens: [Token], truncated: Bool
                var target: String, integratedGradientsDelta: Double?, integratedGradientsGap: Double?
                enum CodingKeys: String, CodingKey {
                    case text, label, probabilities, tokens, truncated, target
                    case integratedGradientsDelta = "integrated_gradients_delta", integratedGradientsGap = "integrated_gradients_gap"
                }
            }
            let tokens = e.tokens.indices.map { t in
                Token(
                    text: e.tokens[t].text, start: e.tokens[t].start, end: e.tokens[t].end,
                    scores: e.scores.compactMapValues { $0.indices.contains(t) ? $0[t] : nil })
            }
            let out = Out(
                text: text, label: e.label, probabilities: Dictionary(uniqueKeysWithValues: zip(e.labels, e.probabilities)),
                tokens: tokens, truncated: e.truncated, target: target.rawValue,
                integratedGradientsDelta: e.integratedGradientsDelta, integratedGradientsGap: e.integratedGradientsGap)
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
        } else {
            let probs = zip(e.labels, e.probabilities).map { "\($0) \(fixed(Double($1), 3))" }.joined(separator: ", ")
            print("\(e.label)\t(\(probs))\(e.truncated ? "\t[cut to the first \(maxLength) tokens]" : "")")
            for m in chosen {
                guard let scores = e.scores(m), !scores.isEmpty else { continue }
                let ranked = scores.indices.sorted { abs(scores[$0]) > abs(scores[$1]) }.prefix(top)
                print(
                    "  \(Format.pad(m.rawValue + ":", 22))" + ranked.map { "\(e.tokens[$0].text) \(fixed(Double(scores[$0]), 3))" }.joined(separator: ", "))
            }
            if let gap = e.integratedGradientsGap, let delta = e.integratedGradientsDelta {
                print("  integrated gradients: the target changes by \(fixed(delta, 4)) from the zero baseline; the scores' sum is off by \(fixed(gap, 4))")
            }
        }
    }
}
