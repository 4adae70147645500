import Foundation
import Testing

@testable import HeedNN

@Suite struct DeterminismTests {
    static let config = ClassifierConfig(
        vocabSize: 30, embedDim: 5, hiddenDim: 4, bidirectional: true,
        pooling: .attention, scorer: .additive, classes: 3, dropout: 0.3)

    @Test func sameSeedSameModel() {
        let a = Classifier(config: Self.config, seed: 42), b = Classifier(config: Self.config, seed: 42)
        let c = Classifier(config: Self.config, seed: 43)
        for (p, q) in zip(a.parameters, b.parameters) {
            #expect(p.values.map(\.bitPattern) == q.values.map(\.bitPattern))
        }
        #expect(a.parameters[1].values != c.parameters[1].values)
        #expect(a.parameters.map(\.name) == Self.config.tensorShapes.map(\.name))
        #expect(a.parameters.map(\.shape) == Self.config.tensorShapes.map(\.shape))
    }

    @Test func initialisationRanges() {
        let m = Classifier(config: Self.config, seed: 1)
        let k = 1 / Float(4).squareRoot()
        for p in m.parameters where p.name.hasPrefix("lstm.") { #expect(p.values.allSatisfy { abs($0) <= k }) }
        let kc = 1 / Float(8).squareRoot()
        #expect(m.parameter(named: "classifier.weight")!.values.allSatisfy { abs($0) <= kc })
        let emb = m.parameter(named: "embedding.weight")!.values
        let mean = emb.dropFirst(5).reduce(0, +) / Float(emb.count - 5)
        #expect(abs(mean) < 0.3 && emb.prefix(5).allSatisfy { $0 == 0 })
    }

    func trainSteps(_ m: Classifier, _ adam: Adam, steps: Int) -> [Float] {
        let ids = randomBatch(vocab: 30, lengths: [4, 2, 1], steps: 4, seed: 5)
        var losses: [Float] = []
        for _ in 0..<steps {
            m.zeroGrad()
            _ = m.forward(ids: ids, lengths: [4, 2, 1], batch: 3, steps: 4, training: true)
            losses.append(m.loss(labels: [0, 1, 2]))
            m.backward()
            m.clipGradNorm(1)
            adam.step()
        }
        return losses
    }

    /// Restoring weights, Adam state and RNG state continues a run bit for bit (dropout included).
    @Test func resumeIsBitExact() {
        let a = Classifier(config: Self.config, seed: 7)
        let adamA = Adam(parameters: a.parameters, weightDecay: 1e-4)
        _ = trainSteps(a, adamA, steps: 2)
        let b = Classifier(config: Self.config, seed: 999)
        for (p, q) in zip(a.parameters, b.parameters) { q.values = p.values }
        let adamB = Adam(parameters: b.parameters, weightDecay: 1e-4)
        adamB.restore(adamA.state)
        b.rngState = a.rngState
        let la = trainSteps(a, adamA, steps: 3), lb = trainSteps(b, adamB, steps: 3)
        #expect(la.map(\.bitPattern) == lb.map(\.bitPattern))
        for (p, q) in zip(a.parameters, b.parameters) {
            #expect(p.values.map(\.bitPattern) == q.values.map(\.bitPattern))
        }
    }

    @Test func inferenceIgnoresDropout() {
        let m = Classifier(config: Self.config, seed: 2)
        let ids = randomBatch(vocab: 30, lengths: [4, 2], steps: 4, seed: 6)
        let state = m.rngState
        let x = m.forward(ids: ids, lengths: [4, 2], batch: 2, steps: 4, training: false)
        let y = m.forward(ids: ids, lengths: [4, 2], batch: 2, steps: 4, training: false)
        #expect(x.logits == y.logits && m.rngState == state)
        let t = m.forward(ids: ids, lengths: [4, 2], batch: 2, steps: 4, training: true)
        #expect(t.logits != x.logits && m.rngState != state)
        #expect(abs(x.probabilities[0] + x.probabilities[1] + x.probabilities[2] - 1) < 1e-6)
    }

    @Test func wordDropoutTurnsTrainingTokensIntoUnknown() {
        var config = Self.config
        config.dropout = 0
        config.wordDropout = 0.999_999
        let m = Classifier(config: config, seed: 2)
        let ids = randomBatch(vocab: 30, lengths: [4, 2], steps: 4, seed: 6)
        let lengths = [4, 2]
        let unknown = ids.indices.map { i in i % 4 < lengths[i / 4] ? ClassifierConfig.unknownId : 0 }
        let dropped = m.forward(ids: ids, lengths: [4, 2], batch: 2, steps: 4, training: true)
        let allUnknown = m.forward(ids: unknown, lengths: [4, 2], batch: 2, steps: 4, training: false)
        let kept = m.forward(ids: ids, lengths: [4, 2], batch: 2, steps: 4, training: false)
        #expect(dropped.logits == allUnknown.logits)
        #expect(kept.logits != allUnknown.logits)  // inference never drops words
    }

    @Test func rngIsStableAcrossReleases() {
        // Pinned values (from an independent xoshiro256**/SplitMix64 implementation): changing the
        // generator would change every seeded model.
        var r = Rng(seed: 0)
        #expect([r.next(), r.next(), r.next()] == [11091344671253066420, 13793997310169335082, 1900383378846508768])
        var s = Rng(seed: 123)
        let u = (0..<1000).map { _ in s.uniform() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let n = (0..<4000).map { _ in Double(s.normal()) }
        let mean = n.reduce(0, +) / 4000, v = n.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4000
        #expect(abs(mean) < 0.06 && abs(v - 1) < 0.08)
    }

    /// Adam, clipping and the gradient norm split the parameters' elements across threads (small
    /// tensors included); results must not depend on it, and the norm must be the serial sum's bits.
    @Test func threadedOptimizerIsBitExact() {
        func run(threads: Int) -> (values: [[Float]], norms: [Float]) {
            var r = Rng(seed: 4)
            let params = [300_001, 7, 65_536, 1025, 40_000].enumerated().map { i, n in
                let p = Param("p\(i)", [n])
                for k in 0..<n { p.value[k] = r.normal(); p.grad[k] = r.normal() }
                return p
            }
            let adam = Adam(parameters: params, weightDecay: 0.01)
            let scope = BLAS.ThreadScope(1, loops: threads)
            defer { scope.end() }
            var norms: [Float] = []
            for _ in 0..<2 {
                norms.append(clipGradNorm(params, maxNorm: 1))
                adam.step()
            }
            return (params.map(\.values), norms)
        }
        let serial = run(threads: 1)
        // The serial norm, computed here tensor by tensor as the loop did before threads.
        var r = Rng(seed: 4)
        var sq = 0.0
        for n in [300_001, 7, 65_536, 1025, 40_000] {
            var g = [Float](repeating: 0, count: n)
            for k in 0..<n { _ = r.normal(); g[k] = r.normal() }
            sq += g.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, n) }
        }
        #expect(serial.norms[0].bitPattern == Float(sq.squareRoot()).bitPattern)
        for threads in [2, 3] {
            let threaded = run(threads: threads)
            #expect(threaded.norms.map(\.bitPattern) == serial.norms.map(\.bitPattern))
            #expect(threaded.values.map { $0.map(\.bitPattern) } == serial.values.map { $0.map(\.bitPattern) })
        }
    }
}
