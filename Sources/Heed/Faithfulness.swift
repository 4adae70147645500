import Foundation
import HeedNN
import HeedText

/// Kendall's τ-b between two scorings of the same tokens, with a two-sided p-value from the normal
/// approximation with the variance corrected for ties (as `scipy.stats.kendalltau(x, y,
/// method="asymptotic")`), so an agreement figure can be checked against the usual tools.
public struct RankCorrelation: Codable, Sendable, Equatable {
    /// τ-b in [−1, 1].
    public var tau: Double
    /// Probability of a |τ| at least this large when the two rankings are independent.
    public var pValue: Double

    enum CodingKeys: String, CodingKey {
        case tau
        case pValue = "p_value"
    }

    /// Nil when there are fewer than two tokens or either scoring is constant (τ-b is undefined).
    public init?(_ x: [Float], _ y: [Float]) {
        precondition(x.count == y.count, "two scorings of the same tokens")
        let n = x.count
        guard n >= 2 else { return nil }
        var s = 0  // concordant − discordant pairs
        for i in 0..<n {
            for j in (i + 1)..<n {
                let a = x[i] < x[j] ? 1 : (x[i] > x[j] ? -1 : 0)
                let b = y[i] < y[j] ? 1 : (y[i] > y[j] ? -1 : 0)
                s += a * b
            }
        }
        /// Σ over groups of tied values of t(t−1)/2, t(t−1)(2t+5), t(t−1), t(t−1)(t−2).
        func ties(_ v: [Float]) -> (pairs: Double, v0: Double, v1: Double, v2: Double) {
            var r = (pairs: 0.0, v0: 0.0, v1: 0.0, v2: 0.0)
            let sorted = v.sorted()
            var i = 0
            while i < sorted.count {
                var j = i + 1
                while j < sorted.count && sorted[j] == sorted[i] { j += 1 }
                let t = Double(j - i)
                r.pairs += t * (t - 1) / 2
                r.v0 += t * (t - 1) * (2 * t + 5)
                r.v1 += t * (t - 1)
                r.v2 += t * (t - 1) * (t - 2)
                i = j
            }
            return r
        }
        let tx = ties(x), ty = ties(y)
        let nn = Double(n), n0 = nn * (nn - 1) / 2
        let denominator = ((n0 - tx.pairs) * (n0 - ty.pairs)).squareRoot()
        guard denominator > 0 else { return nil }
        tau = Double(s) / denominator
        var variance = (nn * (nn - 1) * (2 * nn + 5) - tx.v0 - ty.v0) / 18 + tx.v1 * ty.v1 / (2 * nn * (nn - 1))
        if n > 2 { variance += tx.v2 * ty.v2 / (9 * nn * (nn - 1) * (nn - 2)) }
        pValue = variance > 0 ? erfc(abs(Double(s)) / variance.squareRoot() / 2.0.squareRoot()) : 1
    }
}

/// What `TextClassifier.faithfulness(of:options:progress:)` computes and how.
public struct FaithfulnessOptions: Sendable {
    /// Methods to score and compare (default: every method the model supports).
    public var methods: [AttributionMethod]?
    /// What the gradient methods differentiate.
    public var target: AttributionTarget = .logit
    /// Integrated-gradients steps.
    public var steps = 32
    /// ERASER's token shares, in percent: the top ⌈k·n/100⌉ tokens (at least one) are removed or kept.
    public var percentages = [1, 5, 10, 20, 50]
    /// Shuffles of the attention weights per document in the permutation test (0: no test).
    public var permutations = 100
    /// Seeds the random ranking and the shuffles; each document draws from its own stream, so the
    /// results do not depend on `workers`.
    public var seed: UInt64 = 1
    /// Threads, each with its own copy of the network.
    public var workers = 1

    /// The defaults: every method, the logit, 32 steps, k = 1, 5, 10, 20, 50%, 100 shuffles, seed 1, one thread.
    public init() {}
}

/// Kendall τ-b between two methods on one document.
public struct MethodAgreement: Codable, Sendable, Equatable {
    /// The first method's raw value.
    public var first: String
    /// The second method's raw value.
    public var second: String
    /// Nil when undefined (fewer than two tokens, or a constant scoring).
    public var correlation: RankCorrelation?
}

/// Jain & Wallace's permutation test for one document: how much the output distribution moves when
/// the attention weights are shuffled over the same encoder states.
public struct AttentionPermutation: Codable, Sendable, Equatable {
    /// The document's largest attention weight.
    public var maxAttention: Double
    /// Median total-variation distance between the output distributions with the real and with
    /// shuffled weights (0: attention's arrangement does not matter to this prediction).
    public var medianOutputChange: Double

    enum CodingKeys: String, CodingKey {
        case maxAttention = "max_attention"
        case medianOutputChange = "median_output_change"
    }
}

/// Every faithfulness measure for one document.
public struct DocumentFaithfulness: Codable, Sendable {
    /// Position in the input.
    public var index: Int
    /// The scores the measures are computed from.
    public var explanation: Explanation
    /// τ-b for every pair of methods (pairs with attention first).
    public var agreement: [MethodAgreement]
    /// τ-b between attention and the magnitude of each signed method's scores (`magnitudePairs`).
    public var magnitudeAgreement: [MethodAgreement]? = nil
    /// Per ranking (a method's raw value, or `random`), one value per percentage:
    /// p(y|x) − p(y|x without the top tokens), y the predicted class.
    public var comprehensiveness: [String: [Double]]
    /// Per ranking, one value per percentage: p(y|x) − p(y|only the top tokens, in text order).
    public var sufficiency: [String: [Double]]
    /// Attention models with at least two tokens, when shuffles were asked for.
    public var permutation: AttentionPermutation?
    /// Conicity of the document's encoder states (`Conicity.of`; nil without tokens): a property
    /// of the encoder, so every model has it, attention or not. A han model's is over its word
    /// states: the mean over its sentences of each sentence's word-LSTM states' conicity (the
    /// states one word attention pools).
    public var conicity: Double?
    /// Han models: τ-b between every pair of methods with sentence scores (attention, integrated
    /// gradients, occlusion), over the document's sentences.
    public var sentenceAgreement: [MethodAgreement]? = nil
    /// Han models: conicity of the sentence-LSTM states (what sentence attention pools).
    public var sentenceConicity: Double? = nil
}

/// Agreement between two methods over a corpus.
public struct AgreementSummary: Codable, Sendable, Equatable {
    /// The first method's raw value.
    public var first: String
    /// The second method's raw value.
    public var second: String
    /// Documents where τ-b is defined.
    public var documents: Int
    /// Mean τ-b over them.
    public var meanTau: Double
    /// Sample standard deviation of τ-b over them (0 for one document).
    public var sdTau: Double
    /// Share of them where τ-b is significant at p < 0.05.
    public var significantShare: Double
    /// Mean τ-b over the documents predicted as each label (as Jain & Wallace report it, by class).
    public var meanTauByPredictedLabel: [String: Double]

    enum CodingKeys: String, CodingKey {
        case first, second, documents
        case meanTau = "mean_tau", sdTau = "sd_tau", significantShare = "significant_share", meanTauByPredictedLabel = "mean_tau_by_predicted_label"
    }
}

/// ERASER comprehensiveness and sufficiency of one ranking, averaged over documents.
public struct ErasureSummary: Codable, Sendable, Equatable {
    /// A method's raw value, or `random`.
    public var ranking: String
    /// One mean per percentage (higher is more faithful).
    public var comprehensiveness: [Double]
    /// One mean per percentage (lower is more faithful).
    public var sufficiency: [Double]
    /// Area over the perturbation curve: the mean comprehensiveness over the percentages.
    public var aopcComprehensiveness: Double
    /// The mean sufficiency over the percentages.
    public var aopcSufficiency: Double

    enum CodingKeys: String, CodingKey {
        case ranking, comprehensiveness, sufficiency
        case aopcComprehensiveness = "aopc_comprehensiveness", aopcSufficiency = "aopc_sufficiency"
    }
}

/// The permutation test over a corpus, binned by the documents' largest attention weight.
public struct PermutationSummary: Codable, Sendable, Equatable {
    /// One bin of documents whose largest attention weight lies in [low, high).
    public struct Bin: Codable, Sendable, Equatable {
        /// Lower edge (included).
        public var low: Double
        /// Upper edge (excluded, except 1 in the last bin).
        public var high: Double
        /// Documents in the bin.
        public var documents: Int
        /// Median over the bin's documents of their median output change (nil when empty).
        public var medianOutputChange: Double?

        enum CodingKeys: String, CodingKey {
            case low, high, documents
            case medianOutputChange = "median_output_change"
        }
    }
    /// Documents tested (attention models, at least two tokens).
    public var documents: Int
    /// Median over documents of the median output change.
    public var medianOutputChange: Double
    /// Bins of a quarter each; the last includes 1.
    public var bins: [Bin]

    enum CodingKeys: String, CodingKey {
        case documents, bins
        case medianOutputChange = "median_output_change"
    }
}

/// Conicity over a corpus: how far the encoder's states point one way (Mohankumar et al. 2020).
/// Near 1, any weighting of the states gives about the same context vector, so attention has
/// little room to matter; lower values leave it room to be faithful.
public struct ConicitySummary: Codable, Sendable, Equatable {
    /// Documents with at least one token.
    public var documents: Int
    /// Mean over them.
    public var mean: Double
    /// Sample standard deviation over them (0 for one document).
    public var sd: Double
    /// The middle value.
    public var median: Double

    /// The summary of per-document values; nil for none.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        documents = values.count
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        sd = values.count < 2 ? 0 : (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
        let sorted = values.sorted(), half = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
    }
}

/// Agreement and faithfulness tables for a corpus.
public struct FaithfulnessSummary: Codable, Sendable {
    /// Documents measured (those with at least one token).
    public var documents: Int
    /// Documents without tokens, left out.
    public var skipped: Int
    /// The methods compared, by raw value.
    public var methods: [String]
    /// What the gradients differentiate (`AttributionTarget`'s raw value).
    public var target: String
    /// Integrated-gradients steps.
    public var steps: Int
    /// ERASER's token shares, in percent.
    public var percentages: [Int]
    /// Seed of the random ranking and the shuffles.
    public var seed: UInt64
    /// Shuffles per document in the permutation test.
    public var permutations: Int
    /// Every pair of methods, attention's pairs first.
    public var agreement: [AgreementSummary]
    /// Attention against the magnitude of each signed method (`magnitudePairs`); nil without
    /// attention, and in files written before it was measured.
    public var magnitudeAgreement: [AgreementSummary]? = nil
    /// Every method, then the random ranking.
    public var erasure: [ErasureSummary]
    /// Attention models only.
    public var permutation: PermutationSummary?
    /// The encoder states' conicity over the documents with tokens (every model; nil in files
    /// written before it was measured, or when no document has a token). Han models: word level.
    public var conicity: ConicitySummary?
    /// Han models only: agreement between the methods' sentence scores, per pair.
    public var sentenceAgreement: [AgreementSummary]? = nil
    /// Han models only: conicity of the sentence-level states.
    public var sentenceConicity: ConicitySummary? = nil

    enum CodingKeys: String, CodingKey {
        case documents, skipped, methods, target, steps, percentages, seed, permutations, agreement, erasure, permutation, conicity
        case sentenceAgreement = "sentence_agreement", sentenceConicity = "sentence_conicity", magnitudeAgreement = "magnitude_agreement"
    }
}

/// Per-document measures and the corpus tables built from them.
public struct FaithfulnessAnalysis: Codable, Sendable {
    /// The corpus tables.
    public var summary: FaithfulnessSummary
    /// In input order.
    public var documents: [DocumentFaithfulness]
}

extension TextClassifier {
    /// Scores every text by each method and measures how far the scores can be trusted: Kendall
    /// τ-b between every pair of methods, ERASER comprehensiveness and sufficiency (with a random
    /// ranking as the floor), and for attention models the permutation test. Rankings order tokens
    /// by signed score, most in favour of the predicted class first. `progress` is called with the
    /// number of documents done, from the worker threads.
    ///
    /// A han model is measured at the token level with its token attention taken as word
    /// attention × the sentence's attention (what `predict` reports), and at the sentence level by
    /// τ-b between the sentence scores; it has no permutation test (two attentions, no one
    /// weighting to shuffle).
    public func faithfulness(
        of texts: [String], options: FaithfulnessOptions = FaithfulnessOptions(), progress: (@Sendable (Int) -> Void)? = nil
    ) throws -> FaithfulnessAnalysis {
        let methods = options.methods ?? attributionMethods
        if methods.contains(.attention) && !hasAttention { throw AttributionError.noAttention(modelKind) }
        if methods.contains(.integratedGradients) && options.steps < 1 { throw AttributionError.steps(options.steps) }
        precondition(options.percentages.allSatisfy { (1...100).contains($0) }, "percentages in 1...100")
        // The documents are explained in `explain(_:workers:)`'s groups, so their scores are the
        // ones `heed explain` prints, bit for bit.
        let size = Self.explanationGroup, groups = Self.explanationGroups(texts.count)
        let counted: (@Sendable (Int) -> Void)? = progress.map { report in { @Sendable groupsDone in report(min(texts.count, groupsDone * size)) } }
        let documents = try parallelMap(count: groups.count, workers: options.workers, progress: counted) { classifier, tokenizer, g in
            let encoded = groups[g].map { classifier.encodeNotingCut(texts[$0], tokenizer: tokenizer) }
            let explanations = try classifier.explain(encoded, methods: methods, target: options.target, steps: options.steps)
            return zip(groups[g], zip(encoded, explanations)).map { i, document in
                classifier.documentFaithfulness(document.1, of: document.0.encoded, index: i, methods: methods, options: options)
            }
        }.flatMap { $0 }
        return FaithfulnessAnalysis(summary: Self.summarize(documents, methods: methods, options: options), documents: documents)
    }

    /// The method pairs in reporting order: attention against gradient and occlusion first (as in
    /// Jain & Wallace), then the rest in declaration order.
    static func methodPairs(_ methods: [AttributionMethod]) -> [(AttributionMethod, AttributionMethod)] {
        let ordered = AttributionMethod.allCases.filter(methods.contains)
        var pairs: [(AttributionMethod, AttributionMethod)] = []
        for (i, a) in ordered.enumerated() { for b in ordered[(i + 1)...] { pairs.append((a, b)) } }
        func rank(_ p: (AttributionMethod, AttributionMethod)) -> Int {
            guard p.0 == .attention else { return 9 }
            return [.gradient: 0, .occlusion: 1, .integratedGradients: 2, .gradientTimesInput: 3][p.1] ?? 9
        }
        return pairs.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    /// Attention against the magnitude of each signed method: attention weights are non-negative
    /// and say how much, never which way, so a token that argues hard against the prediction ranks
    /// last by its signed score and high by its weight. The reference of the faithful encoders
    /// (Mohankumar et al. 2020, `akashkm99/Interpretable-Attention`) compares attention with
    /// |integrated gradients| for this reason; the signed pairs stay in `methodPairs`.
    static func magnitudePairs(_ methods: [AttributionMethod]) -> [(AttributionMethod, AttributionMethod)] {
        guard methods.contains(.attention) else { return [] }
        return [AttributionMethod.occlusion, .integratedGradients, .gradientTimesInput].filter(methods.contains).map { (.attention, $0) }
    }

    /// The agreement, ERASER and permutation figures of one document's `explanation`.
    func documentFaithfulness(
        _ explanation: Explanation, of encoded: EncodedText, index: Int, methods: [AttributionMethod], options: FaithfulnessOptions
    ) -> DocumentFaithfulness {
        let sequence = encoded.sequence, n = sequence.count
        var result = DocumentFaithfulness(index: index, explanation: explanation, agreement: [], comprehensiveness: [:], sufficiency: [:])
        guard n > 0 else { return result }
        for (a, b) in Self.methodPairs(methods) {
            result.agreement.append(
                MethodAgreement(first: a.rawValue, second: b.rawValue, correlation: RankCorrelation(explanation.scores(a)!, explanation.scores(b)!)))
        }
        let magnitudePairs = Self.magnitudePairs(methods)
        if !magnitudePairs.isEmpty {
            result.magnitudeAgreement = magnitudePairs.map { a, b in
                MethodAgreement(
                    first: a.rawValue, second: b.rawValue, correlation: RankCorrelation(explanation.scores(a)!, explanation.scores(b)!.map { abs($0) }))
            }
        }

        // ERASER: every ranking's top ⌈k·n/100⌉ tokens removed, and kept alone; equal sequences scored once.
        let streamSeed = options.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        var rng = Rng(seed: streamSeed)
        var random = Array(0..<n)
        for j in stride(from: n - 1, to: 0, by: -1) { random.swapAt(j, rng.int(below: j + 1)) }
        let rankings = methods.map { ($0.rawValue, rankedPositions(explanation.scores($0)!)) } + [("random", random)]
        var distinct = DistinctSequences()
        // The whole document is scored in the same batch, so keeping every token changes nothing, exactly.
        let whole = distinct.index(of: sequence)
        var plan: [(ranking: String, without: [Int], only: [Int])] = []
        for (name, order) in rankings {
            var without: [Int] = [], only: [Int] = []
            for k in options.percentages {
                let count = min(n, max(1, (k * n + 99) / 100))
                let top = Set(order.prefix(count))
                without.append(distinct.index(of: sequence.selecting((0..<n).filter { !top.contains($0) })))
                only.append(distinct.index(of: sequence.selecting((0..<n).filter { top.contains($0) })))
            }
            plan.append((name, without, only))
        }
        let predicted = labels.firstIndex(of: explanation.label)!
        let scored = predict(distinct.sequences).map { Double($0.probabilities[predicted]) }
        let p = scored[whole]
        for entry in plan {
            result.comprehensiveness[entry.ranking] = entry.without.map { p - scored[$0] }
            result.sufficiency[entry.ranking] = entry.only.map { p - scored[$0] }
        }

        if hasAttention && !isHierarchical && options.permutations > 0 && n >= 2 {
            result.permutation = attentionPermutation(sequence, shuffles: options.permutations, seed: streamSeed &+ 1)
        }
        if let sentenceScores = explanation.sentenceScores {
            let scored = methods.filter { sentenceScores[$0.rawValue] != nil }
            result.sentenceAgreement = Self.methodPairs(scored).map { a, b in
                MethodAgreement(
                    first: a.rawValue, second: b.rawValue, correlation: RankCorrelation(sentenceScores[a.rawValue]!, sentenceScores[b.rawValue]!))
            }
        }
        (result.conicity, result.sentenceConicity) = conicity(sequence)
        return result
    }

    /// Conicity of one document's encoder states, from a batch-1 forward pass (what `predict` of
    /// the document alone computes); a han model's at the word level (mean over its sentences)
    /// and the sentence level.
    func conicity(_ sequence: TokenSequence) -> (Double, Double?) {
        let n = sequence.count
        switch network {
        case .flat(let box):
            let D = box.config.outputDim
            return box.withModel { model in
                _ = model.forward(ids: sequence.ids, lengths: [n], batch: 1, steps: n, training: false, pieces: sequence.pieces)
                return (Conicity.perDocument(model.encoderStates(), lengths: [n], steps: n, dim: D)[0], nil)
            }
        case .hierarchical(let box):
            let lengths = sequence.sentenceLengths ?? [n]
            return box.withModel { model in
                _ = model.forward(
                    HierarchicalBatch(ids: sequence.ids, sentenceLengths: lengths, sentenceCounts: [lengths.count], pieces: sequence.pieces),
                    training: false)
                let c = model.conicity()
                return (c.words.reduce(0, +) / Double(c.words.count), c.sentences[0])
            }
        }
    }

    /// One document's attention weights and, per token, its encoder state projected by the output
    /// layer (in Double), so pooling with any weights is Σ_t a_t·projected[t] + bias.
    struct Repooling {
        var weights: [Float]
        /// The model's own logits, for checking the re-pooling against.
        var logits: [Float]
        /// [n × C] and [C].
        var projected: [Double]
        var bias: [Double]
        /// Per class, Σ_t a_t Σ_k |W_ck h_tk| + |b_c|: what rounding in the model's logit scales with.
        var magnitude: [Double]

        /// The model's temperature.
        var temperature: Double

        /// Softmax of the logits pooled with `a`, at the model's temperature.
        func distribution(_ a: [Float]) -> [Double] {
            let C = bias.count
            var z = bias
            for t in a.indices { for c in 0..<C { z[c] += Double(a[t]) * projected[t * C + c] } }
            for c in 0..<C { z[c] /= temperature }
            return Calibration.softmax(z)
        }
    }

    func repooling(_ sequence: TokenSequence) -> Repooling {
        let n = sequence.count, C = labels.count, D = config.outputDim
        return box.withModel { model in
            let out = model.forward(ids: sequence.ids, lengths: [n], batch: 1, steps: n, training: false, pieces: sequence.pieces)
            let h = model.encoderStates()
            let w = model.parameter(named: "classifier.weight")!.value, b = model.parameter(named: "classifier.bias")!.value
            var r = Repooling(
                weights: out.attention!, logits: out.logits, projected: [Double](repeating: 0, count: n * C), bias: (0..<C).map { Double(b[$0]) },
                magnitude: (0..<C).map { abs(Double(b[$0])) }, temperature: temperature)
            for c in 0..<C {
                for t in 0..<n {
                    var s = 0.0, m = 0.0
                    for k in 0..<D {
                        let term = Double(w[c * D + k]) * Double(h[t * D + k])
                        s += term
                        m += abs(term)
                    }
                    r.projected[t * C + c] = s
                    r.magnitude[c] += Double(r.weights[t]) * m
                }
            }
            return r
        }
    }

    /// Re-pools the document's encoder states with its attention weights shuffled over its tokens
    /// and measures the output's total-variation change (in Double, from the same states, so the
    /// unshuffled weights give exactly 0).
    func attentionPermutation(_ sequence: TokenSequence, shuffles: Int, seed: UInt64) -> AttentionPermutation {
        let r = repooling(sequence)
        let original = r.distribution(r.weights)
        var rng = Rng(seed: seed)
        var shuffled = r.weights
        var changes: [Double] = []
        for _ in 0..<shuffles {
            for j in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(j, rng.int(below: j + 1)) }
            changes.append(zip(original, r.distribution(shuffled)).reduce(0) { $0 + abs($1.0 - $1.1) } / 2)
        }
        return AttentionPermutation(maxAttention: Double(r.weights.max()!), medianOutputChange: median(changes))
    }

    /// Mean τ-b per pair of `pairs` over the documents, from each document's pairs at `level`.
    static func agreementSummaries(
        _ measured: [DocumentFaithfulness], pairs: [(AttributionMethod, AttributionMethod)], level: (DocumentFaithfulness) -> [MethodAgreement]?
    ) -> [AgreementSummary] {
        var agreement: [AgreementSummary] = []
        for (a, b) in pairs {
            let labelled = measured.compactMap { d in
                level(d)?.first { $0.first == a.rawValue && $0.second == b.rawValue }?.correlation.map { (label: d.explanation.label, correlation: $0) }
            }
            let taus = labelled.map(\.correlation)
            let byLabel = Dictionary(grouping: labelled, by: \.label).mapValues { group in group.map(\.correlation.tau).reduce(0, +) / Double(group.count) }
            let mean = taus.isEmpty ? .nan : taus.map(\.tau).reduce(0, +) / Double(taus.count)
            let sd = taus.count < 2 ? 0 : (taus.map { ($0.tau - mean) * ($0.tau - mean) }.reduce(0, +) / Double(taus.count - 1)).squareRoot()
            agreement.append(
                AgreementSummary(
                    first: a.rawValue, second: b.rawValue, documents: taus.count, meanTau: mean, sdTau: sd,
                    significantShare: taus.isEmpty ? .nan : Double(taus.filter { $0.pValue < 0.05 }.count) / Double(taus.count),
                    meanTauByPredictedLabel: byLabel))
        }
        return agreement
    }

    static func summarize(_ documents: [DocumentFaithfulness], methods: [AttributionMethod], options: FaithfulnessOptions) -> FaithfulnessSummary {
        let measured = documents.filter { !$0.explanation.tokens.isEmpty }
        let agreement = agreementSummaries(measured, pairs: methodPairs(methods)) { $0.agreement }
        let magnitudePairs = magnitudePairs(methods)
        let magnitudeAgreement = magnitudePairs.isEmpty ? nil : agreementSummaries(measured, pairs: magnitudePairs) { $0.magnitudeAgreement }
        var sentenceAgreement: [AgreementSummary]?
        if measured.contains(where: { $0.sentenceAgreement != nil }) {
            let scored = methods.filter { [.attention, .integratedGradients, .occlusion].contains($0) }
            sentenceAgreement = agreementSummaries(measured, pairs: methodPairs(scored)) { $0.sentenceAgreement }
        }
        var erasure: [ErasureSummary] = []
        for ranking in methods.map(\.rawValue) + ["random"] {
            func mean(_ values: KeyPath<DocumentFaithfulness, [String: [Double]]>) -> [Double] {
                options.percentages.indices.map { k in
                    measured.isEmpty ? .nan : measured.map { $0[keyPath: values][ranking]![k] }.reduce(0, +) / Double(measured.count)
                }
            }
            let c = mean(\.comprehensiveness), s = mean(\.sufficiency)
            erasure.append(
                ErasureSummary(
                    ranking: ranking, comprehensiveness: c, sufficiency: s, aopcComprehensiveness: c.reduce(0, +) / Double(c.count),
                    aopcSufficiency: s.reduce(0, +) / Double(s.count)))
        }
        var permutation: PermutationSummary?
        let points = measured.compactMap(\.permutation)
        if !points.isEmpty {
            let bins = (0..<4).map { q -> PermutationSummary.Bin in
                let low = Double(q) / 4, high = Double(q + 1) / 4
                let inside = points.filter { $0.maxAttention >= low && ($0.maxAttention < high || q == 3) }.map(\.medianOutputChange)
                return PermutationSummary.Bin(low: low, high: high, documents: inside.count, medianOutputChange: inside.isEmpty ? nil : median(inside))
            }
            permutation = PermutationSummary(documents: points.count, medianOutputChange: median(points.map(\.medianOutputChange)), bins: bins)
        }
        return FaithfulnessSummary(
            documents: measured.count, skipped: documents.count - measured.count, methods: methods.map(\.rawValue), target: options.target.rawValue,
            steps: options.steps, percentages: options.percentages, seed: options.seed, permutations: options.permutations, agreement: agreement,
            magnitudeAgreement: magnitudeAgreement, erasure: erasure, permutation: permutation, conicity: ConicitySummary(measured.compactMap(\.conicity)),
            sentenceAgreement: sentenceAgreement, sentenceConicity: ConicitySummary(measured.compactMap(\.sentenceConicity)))
    }
}

/// The middle value (the mean of the two middle ones for an even count).
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Token positions by score, highest first, ties in text order: the ranking every erasure test
/// (ERASER here, the report's erase-top-k panel) removes tokens by.
package func rankedPositions(_ scores: [Float]) -> [Int] {
    scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
}
