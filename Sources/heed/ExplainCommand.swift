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

            With --metrics the argument is a corpus (label<TAB>text, or --input): every document is \
            scored by each method and the tables say how far the scores can be trusted: Kendall τ-b \
            between methods, ERASER comprehensiveness and sufficiency against a random ranking, \
            (flat attention models) the attention-permutation test, and (every model) the conicity of the \
            encoder states. A han model is measured per token with its token attention taken as word \
            attention × its sentence's attention, and per sentence by τ-b between sentence attention, \
            integrated gradients (the sum over the sentence's tokens) and whole-sentence occlusion; its \
            conicity is given at both levels. See docs/explanations.md.
            """)
    @Argument(help: "Model file.") var model: String
    @Argument(help: "Texts to explain (- or none: one per line from standard input).") var texts: [String] = []
    @Option(help: "Comma-separated methods (attention, gradient, grad-input, integrated-gradients, occlusion) or all.")
    var method = "all"
    @Option(help: "What the gradients differentiate: logit or probability.") var target: AttributionTarget = .logit
    @Option(help: "Integrated-gradients steps.") var steps = 32
    @Flag(help: "Print one JSON object per text.") var json = false
    @Option(help: "Tokens to list per method in the plain output (highest score first).") var top = 5
    @Flag(help: "Treat the argument as a corpus and print agreement and faithfulness tables.") var metrics = false
    @Option(
        help: ArgumentHelp(
            "Threads, each explaining whole documents with its own copy of the model (default: the number of cores, at most 8).",
            discussion: "BLAS runs single-threaded inside each; output order and every score are the same for any count."))
    var workers = defaultWorkers
    @Option(help: "With --metrics: measure only the first N documents.") var limit: Int?
    @Option(help: "With --metrics: attention shuffles per document in the permutation test (0: skip it).") var permutations = 100
    @Option(help: "With --metrics: seed for the random ranking and the shuffles.") var seed: UInt64 = 1
    @OptionGroup var input: InputOptions

    func validate() throws {
        guard (1...10_000).contains(steps) else { throw ValidationError("--steps must be in 1...10000 (got \(steps))") }
        guard top >= 0 else { throw ValidationError("--top must be at least 0") }
        _ = try methods(all: AttributionMethod.allCases)
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1...256 (got \(workers))") }
        guard (0...100_000).contains(permutations) else { throw ValidationError("--permutations must be in 0...100000 (got \(permutations))") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if metrics && texts.count != 1 { throw ValidationError("--metrics reads one corpus file (or - for standard input); got \(texts.count) arguments") }
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
        if metrics { return try runMetrics(classifier, methods: chosen) }
        var inputs = texts
        if inputs.isEmpty || inputs == ["-"] {
            inputs = []
            try CorpusReader(CorpusSource.standardInput(format: .text)).forEachDocument { inputs.append($0.textString) }
        }
        let encoder = resultEncoder()
        let o = classifier.options
        let limit = classifier.isHierarchical ? "\(o.maxSentences) sentences of \(o.maxWords) tokens" : "\(o.maxLength) tokens"
        // One document's many small products gain nothing from BLAS threads; documents are split
        // over --workers instead, in groups explained in batched passes; the groups, and with them
        // every score, do not depend on --workers. Each explanation is printed as soon as it and
        // every earlier one are done. (Explaining in blocks of 16 groups per worker and printing
        // after each block left the workers waiting for each other at every block's end.)
        BLAS.setThreads(1)
        try classifier.explain(inputs, methods: chosen, target: target, steps: steps, workers: workers) { i, e in
            try show(inputs[i], e, chosen: chosen, encoder: encoder, maxLength: limit)
        }
    }

    private func show(_ text: String, _ e: Explanation, chosen: [AttributionMethod], encoder: JSONEncoder, maxLength: String) throws {
        if json {
            let out = ExplanationJSON(text: text, explanation: e, target: target)
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
        } else {
            let probs = zip(e.labels, e.probabilities).map { "\($0) \(fixed(Double($1), 3))" }.joined(separator: ", ")
            print("\(e.label)\t(\(probs))\(e.truncated ? "\t[cut to the first \(maxLength)]" : "")")
            for m in chosen {
                guard let scores = e.scores(m), !scores.isEmpty else { continue }
                let ranked = scores.indices.sorted { abs(scores[$0]) > abs(scores[$1]) }.prefix(top)
                print(
                    "  \(Format.pad(m.rawValue + ":", 22))" + ranked.map { "\(e.tokens[$0].text) \(fixed(Double(scores[$0]), 3))" }.joined(separator: ", "))
            }
            if let sentences = e.sentences, let sentenceScores = e.sentenceScores {
                let bytes = Array(text.utf8)
                for m in chosen {
                    guard let scores = sentenceScores[m.rawValue], !scores.isEmpty else { continue }
                    let ranked = scores.indices.sorted { abs(scores[$0]) > abs(scores[$1]) }.prefix(top)
                    let shown = ranked.map { k in
                        let s = sentences[k], words = String(decoding: bytes[s.start..<s.end], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                        return "\"\(words.count > 40 ? String(words.prefix(40)) + "…" : words)\" \(fixed(Double(scores[k]), 3))"
                    }
                    print("  \(Format.pad("sentence " + m.rawValue + ":", 22))" + shown.joined(separator: ", "))
                }
            }
            if let gap = e.integratedGradientsGap, let delta = e.integratedGradientsDelta {
                print("  integrated gradients: the target changes by \(fixed(delta, 4)) from the zero baseline; the scores' sum is off by \(fixed(gap, 4))")
            }
        }
    }
}

extension Explain {
    func runMetrics(_ classifier: TextClassifier, methods: [AttributionMethod]) throws {
        let corpus = texts[0]
        var docs = try CorpusReader(input.source(corpus)).readAll()
        guard !docs.isEmpty else { throw CommandLineMessage(description: "\(corpus): no documents") }
        if let limit { docs = Array(docs.prefix(limit)) }
        var options = FaithfulnessOptions()
        options.methods = methods
        options.target = target
        options.steps = steps
        options.permutations = permutations
        options.seed = seed
        options.workers = workers
        let total = docs.count
        let progress = Progress("explain", quiet: json)
        let analysis = try classifier.faithfulness(of: docs.map(\.text), options: options) { done in
            if progress.enabled && (done == total || done % max(1, total / 100) == 0) {
                writeStderr("\rexplain: \(done)/\(total) documents   ")
            }
        }
        progress.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(analysis.summary), as: UTF8.self))
        } else {
            print(analysis.summary.table(model: model, corpus: corpus, hierarchical: classifier.isHierarchical))
        }
    }
}

extension FaithfulnessSummary {
    /// The tables `heed explain --metrics` prints.
    func table(model: String, corpus: String, hierarchical: Bool = false) -> String {
        func f(_ x: Double, _ digits: Int = 3) -> String { x.isNaN ? "-" : Format.decimals(x, digits) }
        func pad(_ s: String, _ n: Int) -> String { Format.pad(s, n) }
        func lpad(_ s: String, _ n: Int) -> String { Format.pad(s, n, alignRight: true) }
        var lines = [
            "\(model) on \(corpus): \(documents) documents\(skipped > 0 ? " (\(skipped) without tokens left out)" : ""); "
                + "gradients of the predicted class's \(target), integrated gradients with \(steps) steps",
            "",
            "Agreement: Kendall τ-b between two methods' scores over each document's tokens"
                + (hierarchical ? " (han: a token's attention is its word attention × its sentence's attention)" : ""),
            pad("methods", 44) + lpad("mean τ", 8) + lpad("sd", 8) + lpad("p < 0.05", 10) + lpad("documents", 11),
        ]
        func row(_ a: AgreementSummary, second: String) -> String {
            pad("\(a.first) ~ \(second)", 44) + lpad(f(a.meanTau), 8) + lpad(f(a.sdTau), 8)
                + lpad(a.significantShare.isNaN ? "-" : percent(a.significantShare), 10) + lpad("\(a.documents)", 11)
        }
        lines += agreement.map { row($0, second: $0.second) }
        // Attention has no sign: against the magnitude of each signed method as well.
        lines += (magnitudeAgreement ?? []).map { row($0, second: "|\($0.second)|") }
        if let sentences = sentenceAgreement {
            lines += [
                "",
                "Sentence agreement: Kendall τ-b between two methods' sentence scores (attention: sentence attention; "
                    + "integrated gradients: the sum over the sentence's tokens; occlusion: the whole sentence left out), documents of 2+ sentences",
                pad("methods", 44) + lpad("mean τ", 8) + lpad("sd", 8) + lpad("p < 0.05", 10) + lpad("documents", 11),
            ]
            lines += sentences.map { row($0, second: $0.second) }
        }
        let header = pad("ranking", 22) + percentages.map { lpad("\($0)%", 8) }.joined() + lpad("AOPC", 8)
        lines += [
            "", "Comprehensiveness: predicted-class probability lost when the top k% tokens are removed (higher: the ranking found what the decision needs)",
            header,
        ]
        for e in erasure { lines.append(pad(e.ranking, 22) + e.comprehensiveness.map { lpad(f($0), 8) }.joined() + lpad(f(e.aopcComprehensiveness), 8)) }
        lines += [
            "", "Sufficiency: predicted-class probability lost when only the top k% tokens are kept (lower: those tokens alone carry the decision)",
            header,
        ]
        for e in erasure { lines.append(pad(e.ranking, 22) + e.sufficiency.map { lpad(f($0), 8) }.joined() + lpad(f(e.aopcSufficiency), 8)) }
        if let p = permutation {
            lines += [
                "",
                "Permutation: median total-variation change of the output when the attention weights are shuffled \(permutations) times "
                    + "(\(p.documents) documents; overall median \(f(p.medianOutputChange, 4)))",
                pad("largest attention weight", 26) + lpad("documents", 11) + lpad("median change", 15),
            ]
            for b in p.bins {
                lines.append(
                    pad("\(Format.decimals(b.low, 2))–\(Format.decimals(b.high, 2))", 26) + lpad("\(b.documents)", 11)
                        + lpad(b.medianOutputChange.map { f($0, 4) } ?? "-", 15))
            }
        }
        if hierarchical && permutation == nil {
            lines += ["", "Permutation: not run for han models (two attentions, no one weighting of one set of states to shuffle)"]
        }
        if let c = conicity {
            lines += [
                "",
                "Conicity: mean cosine of each encoder state to the document's mean state (near 1: the states point one way, "
                    + "so any attention weights give about the same output)"
                    + (hierarchical ? "; han: word states per sentence (mean over the sentences), and sentence states per document" : ""),
                pad(hierarchical ? "level" : "documents", 26) + lpad("mean", 8) + lpad("sd", 8) + lpad("median", 8)
                    + (hierarchical ? lpad("documents", 11) : ""),
            ]
            if hierarchical {
                lines.append(pad("words", 26) + lpad(f(c.mean), 8) + lpad(f(c.sd), 8) + lpad(f(c.median), 8) + lpad("\(c.documents)", 11))
                if let s = sentenceConicity {
                    lines.append(pad("sentences", 26) + lpad(f(s.mean), 8) + lpad(f(s.sd), 8) + lpad(f(s.median), 8) + lpad("\(s.documents)", 11))
                }
            } else {
                lines.append(pad("\(c.documents)", 26) + lpad(f(c.mean), 8) + lpad(f(c.sd), 8) + lpad(f(c.median), 8))
            }
        }
        return lines.joined(separator: "\n")
    }
}
