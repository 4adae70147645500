import Testing

@testable import HeedNN

/// Integrated gradients runs one forward over scaled copies of one document, and the model then
/// forms the LSTM's input projection once for the document, s·(e·W_ihᵀ), instead of once per copy,
/// (s·e)·W_ihᵀ. The two orders round differently, so each path is held to the `Reference` bound
/// of its own evaluation order (the exact values are the same). Seen failing (logits off by ~400×
/// the bound) with the reverse direction reading the shared projection forwards.
@Suite struct ScaledCopiesTests {
    static let configs = InputGradientTests.configs

    @Test(arguments: configs.indices)
    func sharedInputProjectionIsWithinTheRoundingBound(_ c: Int) {
        let config = Self.configs[c]
        let model = Classifier(config: config, seed: 11, embeddingStd: 0.5)
        // Copies of one 5-token document padded to 7 steps with a real id (must be ignored); the
        // scales are unsorted and include the baseline 0, as integrated gradients passes them.
        let L = 5, T = 7
        let scales: [Float] = [0.5, 0, 1, 0.25, 0.75]
        let B = scales.count
        var rng = Rng(seed: 3)
        let doc: [Int32] = (0..<L).map { _ in Int32(1 + Int(rng.uniform() * 18)) }
        let ids = Array(repeating: doc + [Int32](repeating: 3, count: T - L), count: B).flatMap { $0 }
        let lengths = [Int](repeating: L, count: B)
        var worst = Worst()
        for shared in [true, false] {
            model.sharesInputProjection = shared
            let out = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, inputScales: scales)
            #expect(model.sharedInputProjection == shared)
            let ref = Reference(model, ids: ids, lengths: lengths, steps: T, inputScales: scales, sharedProjection: shared)
            worst.check("logits shared: \(shared)", out.logits, ref.logits.flatMap(ref.values), bound: ref.logits.flatMap(ref.errors))
            if let att = out.attention {
                var exact: [Double] = [], bound: [Double] = [], got: [Float] = []
                for b in 0..<B {
                    exact += ref.values(ref.attention[b])
                    bound += ref.errors(ref.attention[b])
                    got += att[(b * T)..<(b * T + L)]
                }
                worst.check("attention shared: \(shared)", got, exact, bound: bound)
            }
            // Not vacuous: the copies' logits differ from each other (the scales reach the LSTM).
            #expect(Set(out.logits).count > config.classes)
        }
        // Any difference in one sequence's ids or length takes the per-row product.
        var other = ids
        other[T * (B - 1)] = doc[0] == 4 ? 5 : 4
        model.sharesInputProjection = true
        _ = model.forward(ids: other, lengths: lengths, batch: B, steps: T, training: false, inputScales: scales)
        #expect(!model.sharedInputProjection)
        _ = model.forward(ids: ids, lengths: [L] + [Int](repeating: L - 1, count: B - 1), batch: B, steps: T, training: false, inputScales: scales)
        #expect(!model.sharedInputProjection)
        print("scaled copies config \(c): worst error / bound \(worst.ratio) (\(worst.what))")
    }

    /// The backward pass after a shared-projection forward reads the kept inputs: with and without
    /// parameter gradients it gives the same input gradient, bit for bit, and the W_ih gradient
    /// (which needs those inputs) is nonzero.
    @Test func backwardAfterASharedProjection() {
        let config = Self.configs[0]
        let model = Classifier(config: config, seed: 12, embeddingStd: 0.5)
        let L = 4, scales: [Float] = [0, 0.5, 1], B = scales.count, C = config.classes
        let doc: [Int32] = [3, 7, 2, 9]
        let ids = Array(repeating: doc, count: B).flatMap { $0 }
        var rng = Rng(seed: 4)
        let dLogits = (0..<(B * C)).map { _ in rng.normal() }
        func gradient(parameterGradients: Bool) -> [Float] {
            model.zeroGrad()
            _ = model.forward(ids: ids, lengths: [Int](repeating: L, count: B), batch: B, steps: L, training: false, inputScales: scales)
            #expect(model.sharedInputProjection)
            model.backward(dLogits: dLogits, parameterGradients: parameterGradients)
            return model.inputGradient()
        }
        let full = gradient(parameterGradients: true)
        let wih = model.lstm.forwardDir.wih
        #expect((0..<wih.count).contains { wih.grad[$0] != 0 })
        #expect(gradient(parameterGradients: false) == full)
        #expect(full.contains { $0 != 0 })
    }

    /// Inside `withFixedWeights` the LSTM builds W_hhᵀ once for all passes; after it, a change of
    /// W_hh must reach the next forward, which a kept transpose would hide. Compared with a second
    /// model given the changed weights, bit for bit (the same products in the same order).
    @Test func fixedWeightsLeaveNoStaleTransposeBehind() {
        let config = Self.configs[0]
        let model = Classifier(config: config, seed: 13, embeddingStd: 0.5)
        let documents: [(ids: [Int32], pieces: PieceLists?)] = [(ids: [3, 17, 8, 11], pieces: nil), (ids: [5, 2, 9], pieces: nil)]
        let scales: [Float] = [0, 0.25, 0.5, 0.75, 1]  // 10 rows a step: the blocked recurrent product where the kernel has it
        let fixed = model.withFixedWeights {
            let first = model.forwardScaledCopies(of: documents, scales: scales)
            #expect(model.forwardScaledCopies(of: documents, scales: scales) == first)
            return first
        }
        for p in model.parameters where p.name.contains("weight_hh") {
            for i in 0..<p.count { p.value[i] *= 1.5 }
        }
        let changed = model.forwardScaledCopies(of: documents, scales: scales)
        let fresh = Classifier(config: config, seed: 1, embeddingStd: 0.5)
        for (a, b) in zip(fresh.parameters, model.parameters) { a.values = b.values }
        #expect(changed == fresh.forwardScaledCopies(of: documents, scales: scales))
        #expect(changed != fixed)
    }
}
