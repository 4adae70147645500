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
}
