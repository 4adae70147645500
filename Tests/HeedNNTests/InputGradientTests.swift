import Testing

@testable import HeedNN

/// `backward(dLogits:parameterGradients: false)` is the attribution path: it must give the same
/// input gradient, bit for bit, as the full backward pass (the products it keeps are the same calls
/// on the same values), and leave every parameter gradient untouched. Seen failing when the skip
/// path also skipped the additive scorer's score-gradient rows (the input gradient changed) and
/// when it still accumulated the LSTM weight gradients (a gradient was no longer zero).
@Suite struct InputGradientTests {
    static let configs: [ClassifierConfig] = [
        ClassifierConfig(vocabSize: 20, embedDim: 6, hiddenDim: 5, bidirectional: true, pooling: .attention, scorer: .additive, classes: 3),
        ClassifierConfig(vocabSize: 20, embedDim: 6, hiddenDim: 9, bidirectional: false, pooling: .attention, scorer: .linear, classes: 2),
        ClassifierConfig(vocabSize: 20, embedDim: 5, hiddenDim: 8, bidirectional: true, pooling: .last, classes: 4),
        ClassifierConfig(
            vocabSize: 20, embedDim: 6, hiddenDim: 5, bidirectional: true, pooling: .attention, scorer: .additive, classes: 3,
            encoder: .orthogonal),
    ]

    @Test(arguments: configs.indices)
    func inputGradientIsTheSameWithoutParameterGradients(_ c: Int) {
        let config = Self.configs[c]
        let model = Classifier(config: config, seed: 7, embeddingStd: 0.5)
        // Unsorted lengths with a tie and a 1, padded with a real id (must be ignored).
        let lengths = [4, 1, 6, 4, 3], T = 6, B = lengths.count, C = config.classes
        var rng = Rng(seed: 5)
        let ids: [Int32] = (0..<(B * T)).map { i in i % T < lengths[i / T] ? Int32(1 + Int(rng.uniform() * 18)) : 3 }
        let scales: [Float] = [1, 0.5, 0.25, 0.75, 0]
        let dLogits = (0..<(B * C)).map { _ in rng.normal() }

        func gradient(parameterGradients: Bool, _ dz: [Float]) -> [Float] {
            model.zeroGrad()
            _ = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, inputScales: scales)
            model.backward(dLogits: dz, parameterGradients: parameterGradients)
            return model.inputGradient()
        }
        let full = gradient(parameterGradients: true, dLogits)
        // The linear scorer's bias gradient is Σ of softmax-centred scores: zero up to rounding.
        #expect(model.parameters.filter { $0.name != "attention.score.bias" }.allSatisfy { p in (0..<p.count).contains { p.grad[$0] != 0 } })
        let skipped = gradient(parameterGradients: false, dLogits)
        #expect(model.parameters.allSatisfy { p in (0..<p.count).allSatisfy { p.grad[$0] == 0 } })
        #expect(skipped == full)
        // Not vacuous: the gradient is nonzero and follows dLogits.
        #expect(full.contains { $0 != 0 })
        var other = dLogits
        other[0] += 1
        #expect(gradient(parameterGradients: false, other) != full)
    }

    /// `summedInputGradient` forms the sum over sequences before the input-gradient product, so it
    /// equals Σ_b `inputGradient()` up to Float rounding: both paths sum at most B + 2·4H products
    /// of a gate gradient and a weight, so each entry may differ by (B + 8H)·ε times the largest
    /// such sum of magnitudes, M = Σ_rows Σ_g |dG_rg| · max_k |W_ih,gk| per direction (a bound,
    /// taken over all rows). A sequence read from the wrong row, or the reverse direction left
    /// out, is far outside it.
    @Test(arguments: configs.indices)
    func summedInputGradientIsTheSumOverSequences(_ c: Int) {
        let config = Self.configs[c]
        let model = Classifier(config: config, seed: 9, embeddingStd: 0.5)
        let lengths = [4, 1, 6, 4, 3], T = 6, B = lengths.count, C = config.classes, E = config.embedDim
        let H4 = 4 * config.hiddenDim, P = lengths.reduce(0, +)
        var rng = Rng(seed: 6)
        let ids: [Int32] = (0..<(B * T)).map { i in i % T < lengths[i / T] ? Int32(1 + Int(rng.uniform() * 18)) : 3 }
        let scales: [Float] = [1, 0.5, 0.25, 0.75, 0.125]
        let dLogits = (0..<(B * C)).map { _ in rng.normal() }
        _ = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, inputScales: scales)
        model.backward(dLogits: dLogits, parameterGradients: false)
        let rows = model.inputGradient()
        var magnitude = 0.0
        for dir in [model.lstm.forwardDir] + (model.lstm.reverseDir.map { [$0] } ?? []) {
            for g in 0..<H4 {
                var w = 0.0
                for k in 0..<E { w = max(w, Double(abs(dir.wih.value[g * E + k]))) }
                for r in 0..<P { magnitude += Double(abs(dir.gates.ptr[r * H4 + g])) * w }
            }
        }
        _ = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, inputScales: scales)
        let summed = model.summedInputGradient(dLogits: dLogits)
        #expect(summed.count == T * E)
        let bound = Double(B + 2 * H4) * Double(Float.ulpOfOne) * magnitude
        var worst = 0.0, largest = 0.0
        for i in 0..<(T * E) {
            var expected = 0.0
            for b in 0..<B { expected += Double(rows[b * T * E + i]) }
            worst = max(worst, abs(Double(summed[i]) - expected))
            largest = max(largest, abs(expected))
        }
        #expect(worst <= bound, "worst \(worst), bound \(bound)")
        #expect(largest > 100 * bound, "the bound must be far below the values (largest \(largest), bound \(bound))")
    }
}
