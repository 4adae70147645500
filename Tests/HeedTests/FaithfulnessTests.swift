import Foundation
import HeedNN
import Testing

@testable import Heed

let faithfulnessTexts = [
    attributionText, "w1 w2 w2 w9 w14 w20 w21 w22 w5 w6 w7 w13 w18", "w26", "", "w12 w12 w12", "w0 w28 w27 w19 w15 w16 w10 w23 w24",
]

@Suite struct FaithfulnessTests {
    /// τ-b and its p-value against scipy.stats.kendalltau(x, y, method="asymptotic") (scipy 1.17),
    /// with and without ties.
    @Test func kendallTauMatchesScipy() throws {
        let cases: [([Float], [Float], Double, Double)] = [
            ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 0.6, 0.1416446902951368),
            ([1, 1, 2, 3, 3, 4], [1, 2, 2, 3, 4, 4], 0.8461538461538463, 0.026567513335842154),
            ([0.5, 0.1, 0.1, 0.9, 0.3, 0.3, 0.7], [3, 1, 2, 9, 1, 1, 5], 0.7029594915666377, 0.037256873218511434),
            ([1, 2, 3], [1, 3, 2], 0.33333333333333337, 0.6015081344405899),
            ([3, 1, 2, 2], [1, 1, 0, 2], 0, 1),
        ]
        for (x, y, tau, p) in cases {
            let r = try #require(RankCorrelation(x, y))
            #expect(abs(r.tau - tau) <= 1e-12, "τ of \(x) and \(y)")
            #expect(abs(r.pValue - p) <= 1e-12, "p of \(x) and \(y)")
            // Symmetric in its arguments.
            #expect(RankCorrelation(y, x) == r)
        }
        #expect(RankCorrelation([1, 2], [2, 1])?.tau == -1)
        #expect(RankCorrelation([1], [1]) == nil)
        #expect(RankCorrelation([2, 2, 2], [1, 2, 3]) == nil)
    }

    /// Pooling the encoder states again (in Double) with the model's own weights gives the model's
    /// logits, within the rounding the model's Float pooling and output layer can make
    /// (γ_{n+D+1} of the summed magnitudes): the states really are the rows attention pooled.
    @Test(arguments: [ModelKind.attention, .bilstmAttention])
    func repoolingReproducesTheModel(kind: ModelKind) throws {
        let classifier = randomClassifier(kind)
        let ids = try classifier.encode([faithfulnessTexts[1]])[0].ids
        let r = classifier.repooling(TokenSequence(ids: ids))
        let n = ids.count, D = classifier.config.outputDim
        let gamma = Double(n + D + 2) * 0x1p-24 / (1 - Double(n + D + 2) * 0x1p-24)
        for c in r.bias.indices {
            var z = r.bias[c]
            for t in 0..<n { z += Double(r.weights[t]) * r.projected[t * r.bias.count + c] }
            #expect(abs(z - Double(r.logits[c])) <= 2 * gamma * r.magnitude[c], "class \(c)")
        }
        // Shuffling nothing moves nothing; shuffles of unequal weights move the output.
        #expect(classifier.attentionPermutation(TokenSequence(ids: ids), shuffles: 0, seed: 1).medianOutputChange.isNaN)
        #expect(r.distribution(r.weights) == r.distribution(r.weights))
        #expect(classifier.attentionPermutation(TokenSequence(ids: ids), shuffles: 20, seed: 1).medianOutputChange > 0)
    }

    /// ERASER plumbing checked against quantities computed another way: removing the single top
    /// occlusion token is that token's occlusion score, keeping every token changes nothing, and
    /// removing every token is the same sequence for every ranking.
    @Test(arguments: [ModelKind.lstm, .bilstmAttention])
    func erasureAgreesWithOcclusion(kind: ModelKind) throws {
        let classifier = randomClassifier(kind)
        var options = FaithfulnessOptions()
        options.percentages = [1, 50, 100]
        let analysis = try classifier.faithfulness(of: faithfulnessTexts, options: options)
        #expect(analysis.summary.documents == faithfulnessTexts.count - 1)
        #expect(analysis.summary.skipped == 1)
        for d in analysis.documents where !d.explanation.tokens.isEmpty {
            let occlusion = try #require(d.explanation.scores(.occlusion))
            // Different batches (one document alone vs. many sequences): equal up to the rounding of
            // a probability, far below the scores compared.
            #expect(abs(d.comprehensiveness["occlusion"]![0] - Double(occlusion.max()!)) <= 1e-5)
            let all = d.comprehensiveness["random"]![2]
            for (ranking, values) in d.comprehensiveness {
                #expect(values[2] == all, "\(ranking): removing every token is the same sequence")
                #expect(d.sufficiency[ranking]![2] == 0, "\(ranking): keeping every token is the document")
            }
            #expect(d.agreement.count == 10 - (kind == .lstm ? 4 : 0))
            #expect((d.permutation != nil) == (kind.hasAttention && d.explanation.tokens.count >= 2))
        }
        let pairs = analysis.summary.agreement.map { "\($0.first)~\($0.second)" }
        if kind.hasAttention {
            #expect(Array(pairs.prefix(2)) == ["attention~gradient", "attention~occlusion"])
        }
        #expect(analysis.summary.erasure.map(\.ranking).last == "random")
        for row in analysis.summary.erasure {
            #expect(abs(row.aopcComprehensiveness - row.comprehensiveness.reduce(0, +) / 3) <= 1e-15)
        }
    }

    /// Attention is also ranked against the magnitude of each signed method: per document, τ-b of
    /// the attention weights against |scores|, and its mean over the documents in the summary. Not
    /// the signed pair under another name: on a document whose scores take both signs the two
    /// differ.
    @Test func attentionIsComparedWithMagnitudes() throws {
        let classifier = randomClassifier(.bilstmAttention)
        var options = FaithfulnessOptions()
        options.steps = 4
        options.permutations = 0
        let analysis = try classifier.faithfulness(of: faithfulnessTexts, options: options)
        var differs = false
        for d in analysis.documents where !d.explanation.tokens.isEmpty {
            let pairs = try #require(d.magnitudeAgreement)
            #expect(pairs.map(\.second) == ["occlusion", "integrated-gradients", "grad-input"])
            let attention = try #require(d.explanation.scores(.attention))
            for pair in pairs {
                let scores = try #require(d.explanation.scores(AttributionMethod(rawValue: pair.second)!))
                #expect(pair.first == "attention" && pair.correlation == RankCorrelation(attention, scores.map { abs($0) }))
                let signed = d.agreement.first { $0.first == "attention" && $0.second == pair.second }?.correlation
                if scores.contains(where: { $0 < 0 }) && signed?.tau != pair.correlation?.tau { differs = true }
            }
        }
        #expect(differs, "some document's signed and magnitude τ differ")
        let summary = try #require(analysis.summary.magnitudeAgreement)
        let measured = analysis.documents.filter { !$0.explanation.tokens.isEmpty }
        for (k, row) in summary.enumerated() {
            let taus = measured.compactMap { $0.magnitudeAgreement?[k].correlation?.tau }
            #expect(row.documents == taus.count && abs(row.meanTau - taus.reduce(0, +) / Double(taus.count)) <= 1e-12)
        }
        // Without attention there is nothing to compare with magnitudes.
        let lstm = try randomClassifier(.lstm).faithfulness(of: faithfulnessTexts, options: options)
        #expect(lstm.summary.magnitudeAgreement == nil && lstm.documents.allSatisfy { $0.magnitudeAgreement == nil })
    }

    /// Threads each run their own copy and every document draws from its own random stream, so the
    /// analysis is bit-identical for any worker count.
    @Test func sameResultForAnyWorkerCount() throws {
        let classifier = randomClassifier(.bilstmAttention)
        let texts = (0..<12).map { faithfulnessTexts[$0 % faithfulnessTexts.count] + " w\($0)" }
        var options = FaithfulnessOptions()
        options.steps = 8
        options.permutations = 10
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let one = try encoder.encode(classifier.faithfulness(of: texts, options: options))
        options.workers = 3
        let three = try encoder.encode(classifier.faithfulness(of: texts, options: options))
        #expect(one == three)
        options.seed = 2
        #expect(try encoder.encode(classifier.faithfulness(of: texts, options: options)) != one, "the seed reaches the random ranking")
    }

    /// Every model, attention or not, reports each document's conicity: exactly `Conicity.perDocument`
    /// of `encoderStates()` after that document's own forward pass, and close to the value from one
    /// padded batch of all documents, whose states differ by BLAS rounding only. That bound is first
    /// order in the measured state differences: a cosine moves by at most |δa|/|a| + |δb|/|b|, so
    /// the mean by the mean of |δh_t|/|h_t| + |δμ|/|μ| (doubled for the second-order terms).
    @Test(arguments: [ModelKind.lstm, .attention, .bilstm, .bilstmAttention])
    func conicityOfTheEncoderStates(kind: ModelKind) throws {
        let classifier = randomClassifier(kind)
        var options = FaithfulnessOptions()
        options.steps = 2
        options.permutations = 3
        let analysis = try classifier.faithfulness(of: faithfulnessTexts, options: options)
        let sequences = try classifier.encode(faithfulnessTexts).map(\.sequence)
        let D = classifier.config.outputDim
        let present = sequences.indices.filter { sequences[$0].count > 0 }
        let T = present.map { sequences[$0].count }.max()!
        let batch: [Float] = classifier.box.withModel { model in
            var ids = [Int32](repeating: 0, count: present.count * T)
            for (b, d) in present.enumerated() { for (t, id) in sequences[d].ids.enumerated() { ids[b * T + t] = id } }
            _ = model.forward(ids: ids, lengths: present.map { sequences[$0].count }, batch: present.count, steps: T, training: false)
            return model.encoderStates()
        }
        for (b, d) in present.enumerated() {
            let n = sequences[d].count
            let alone: [Float] = classifier.box.withModel { model in
                _ = model.forward(ids: sequences[d].ids, lengths: [n], batch: 1, steps: n, training: false)
                return model.encoderStates()
            }
            let expected = Conicity.perDocument(alone, lengths: [n], steps: n, dim: D)[0]
            #expect(analysis.documents[d].conicity == expected, "document \(d)")
            let rows = Array(batch[(b * T * D)..<(b * T * D + n * D)])
            let fromBatch = Conicity.perDocument(rows, lengths: [n], steps: n, dim: D)[0]
            func norm(_ v: [Double]) -> Double { v.map { $0 * $0 }.reduce(0, +).squareRoot() }
            var mean = [Double](repeating: 0, count: D), shift = [Double](repeating: 0, count: D), bound = 0.0
            for t in 0..<n {
                let h = (0..<D).map { Double(alone[t * D + $0]) }, delta = (0..<D).map { Double(rows[t * D + $0]) - h[$0] }
                for k in 0..<D { mean[k] += h[k] / Double(n); shift[k] += delta[k] / Double(n) }
                if norm(h) > 0 { bound += norm(delta) / norm(h) / Double(n) }
            }
            if norm(mean) > 0 { bound += norm(shift) / norm(mean) }
            #expect(abs(fromBatch - expected) <= 2 * bound + 1e-12, "document \(d): \(fromBatch) vs \(expected)")
            #expect(expected > -1 && expected <= 1 + 1e-12)
        }
        #expect(analysis.documents[3].conicity == nil, "the empty document has no states")
        let summary = try #require(analysis.summary.conicity)
        let values = present.map { analysis.documents[$0].conicity! }
        #expect(summary.documents == values.count)
        #expect(summary.mean == values.reduce(0, +) / Double(values.count))
        #expect(summary.median == values.sorted()[values.count / 2])  // an odd count: the middle one
    }

    /// `heed compare`'s figures are the analysis's own: τ of attention's pairs with integrated
    /// gradients and occlusion, the comprehensiveness AOPC of each ranking, the permutation median
    /// and the mean conicity; attention's are nil for a model without it, and a mean over seeds
    /// skips the runs where a figure is undefined.
    @Test(arguments: [ModelKind.lstm, .bilstmAttention])
    func comparisonFiguresComeFromTheSummary(kind: ModelKind) throws {
        let classifier = randomClassifier(kind)
        var options = FaithfulnessOptions()
        options.methods = (kind.hasAttention ? [.attention] : []) + [.integratedGradients, .occlusion]
        options.steps = 2
        options.permutations = 5
        let s = try classifier.faithfulness(of: faithfulnessTexts, options: options).summary
        let f = ComparisonFaithfulness(s)
        func tau(_ second: String) -> Double? { s.agreement.first { $0.first == "attention" && $0.second == second }?.meanTau }
        func aopc(_ ranking: String) -> Double? { s.erasure.first { $0.ranking == ranking }?.aopcComprehensiveness }
        #expect(f.documents == 5 && f.conicity == s.conicity?.mean && f.conicity != nil)
        #expect(f.aopcIntegratedGradients == aopc("integrated-gradients") && f.aopcRandom == aopc("random") && f.aopcRandom != nil)
        #expect(f.tauAttentionIntegratedGradients == tau("integrated-gradients") && f.tauAttentionOcclusion == tau("occlusion"))
        #expect(f.aopcAttention == aopc("attention") && f.permutationTVD == s.permutation?.medianOutputChange)
        let magnitude = s.magnitudeAgreement?.first { $0.first == "attention" && $0.second == "integrated-gradients" }?.meanTau
        #expect(f.tauAttentionIntegratedGradientsMagnitude == magnitude && (magnitude != nil) == kind.hasAttention)
        #expect((f.tauAttentionIntegratedGradients != nil) == kind.hasAttention && (f.permutationTVD != nil) == kind.hasAttention)
        var other = f
        other.conicity = 0.5
        other.tauAttentionOcclusion = nil
        let mean = try #require(ComparisonFaithfulness.mean([f, other]))
        #expect(mean.conicity == (f.conicity! + 0.5) / 2 && mean.tauAttentionOcclusion == f.tauAttentionOcclusion)
        #expect(ComparisonFaithfulness.mean([]) == nil)
    }

    @Test func refusesWhatItCannotCompute() throws {
        var options = FaithfulnessOptions()
        options.methods = [.attention]
        #expect(throws: AttributionError.noAttention(.lstm)) { try randomClassifier(.lstm).faithfulness(of: ["w1 w2"], options: options) }
        options.methods = [.integratedGradients]
        options.steps = 0
        #expect(throws: AttributionError.steps(0)) { try randomClassifier(.attention).faithfulness(of: ["w1 w2"], options: options) }
    }
}
