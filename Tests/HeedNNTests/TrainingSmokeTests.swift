import Foundation
import Testing

@testable import HeedNN

@Suite struct TrainingSmokeTests {
    /// Label = whether token 3 occurs: every variant must fit this quickly.
    @Test(arguments: [
        (false, ClassifierConfig.Pooling.last, ClassifierConfig.Scorer.linear),
        (false, .attention, .linear), (false, .attention, .additive), (true, .attention, .additive),
    ])
    func learnsToyTask(bidirectional: Bool, pooling: ClassifierConfig.Pooling, scorer: ClassifierConfig.Scorer) {
        let cfg = ClassifierConfig(
            vocabSize: 8, embedDim: 6, hiddenDim: 8, bidirectional: bidirectional,
            pooling: pooling, scorer: scorer, classes: 2, dropout: 0.1)
        let model = Classifier(config: cfg, seed: 5)
        let adam = Adam(parameters: model.parameters, lr: 0.02)
        var rng = Rng(seed: 6)
        let B = 16, T = 6
        var ids = [Int32](repeating: 0, count: B * T), lengths = [Int](), labels = [Int]()
        for b in 0..<B {
            let len = 1 + rng.int(below: T)
            lengths.append(len)
            for t in 0..<len { ids[b * T + t] = Int32(4 + rng.int(below: 4)) }
            let positive = b % 2 == 0
            if positive { ids[b * T + rng.int(below: len)] = 3 }
            labels.append(positive ? 1 : 0)
        }
        var first: Float = 0, last: Float = 0
        for step in 0..<60 {
            model.zeroGrad()
            _ = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: true)
            let l = model.loss(labels: labels)
            if step == 0 { first = l }
            last = l
            model.backward()
            model.clipGradNorm(5)
            adam.step()
        }
        #expect(last < 0.5 * first, "loss \(first) → \(last)")
        let out = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false)
        let correct = (0..<B).filter { (out.probabilities[$0 * 2 + 1] > 0.5) == (labels[$0] == 1) }.count
        #expect(correct >= B - 1)
    }

    @Test func pretrainedRowsAndClone() {
        let cfg = ClassifierConfig(vocabSize: 5, embedDim: 3, hiddenDim: 2, classes: 2)
        let m = Classifier(config: cfg, seed: 1)
        m.loadPretrained(rows: [(index: 2, vector: [1, 2, 3]), (index: 4, vector: [-1, 0, 1])])
        let w = m.parameter(named: "embedding.weight")!.values
        #expect(Array(w[6..<9]) == [1, 2, 3] && Array(w[12..<15]) == [-1, 0, 1] && Array(w[0..<3]) == [0, 0, 0])
        let c = m.clone()
        let a = m.forward(ids: [2, 4, 1], lengths: [3], batch: 1, steps: 3, training: false)
        let b = c.forward(ids: [2, 4, 1], lengths: [3], batch: 1, steps: 3, training: false)
        #expect(a.logits == b.logits && a.attention! == b.attention!)
        c.parameters[1].value[0] += 1
        #expect(m.parameters[1].value[0] != c.parameters[1].value[0])
    }
}
