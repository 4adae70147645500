import Foundation
import Testing

@testable import HeedNN

/// A parity fixture written by scripts/make_han_fixture.py from bench/reference/han_torch.py.
struct HANFixture {
    struct Meta: Decodable {
        var config: HierarchicalConfig
        var ids: [Int32]
        var sentenceLengths: [Int]
        var sentenceCounts: [Int]
        var labels: [Int]
        var classWeights: [Float]?
        var inputScales: [Float]
    }

    let name: String
    let meta: Meta
    let tensors: [String: NamedTensor]

    init(_ name: String) throws {
        self.name = name
        let folder = Fixture.folder
        meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: folder.appendingPathComponent("han_\(name).json")))
        tensors = try SafeTensors.parse(Data(contentsOf: folder.appendingPathComponent("han_\(name).safetensors"))).tensors
    }

    var batch: HierarchicalBatch { HierarchicalBatch(ids: meta.ids, sentenceLengths: meta.sentenceLengths, sentenceCounts: meta.sentenceCounts) }

    func tensor(_ key: String) -> [Float] {
        guard let t = tensors[key] else { Issue.record("fixture han_\(name) lacks \(key)"); return [] }
        return t.values
    }

    /// A model carrying the fixture's weights.
    func model() -> HierarchicalClassifier {
        let m = HierarchicalClassifier(config: meta.config, seed: 1)
        var dict: [String: [Float]] = [:]
        for p in m.parameters { dict[p.name] = tensor("w." + p.name) }
        m.load(stateDict: dict)
        return m
    }
}

@Suite struct HANTests {
    /// Documents of 2, 1 and 3 sentences; sentences of 1 to 5 tokens, one-token sentences in the
    /// one-sentence document and elsewhere; unsorted, with ties.
    static let sentenceCounts = [2, 1, 3]
    static let sentenceLengths = [3, 1, 1, 2, 5, 1]
    static let labels = [2, 0, 1]

    static func batch(vocab: Int, seed: UInt64) -> HierarchicalBatch {
        var r = Rng(seed: seed)
        let n = sentenceLengths.reduce(0, +)
        var ids = (0..<n).map { _ in Int32(1 + r.int(below: vocab - 1)) }
        ids[1] = 0  // a padding id inside a sentence
        return HierarchicalBatch(ids: ids, sentenceLengths: sentenceLengths, sentenceCounts: sentenceCounts)
    }

    static let variants: [(name: String, bidirectional: Bool, scorer: ClassifierConfig.Scorer, subwords: Bool, dropout: Bool)] = [
        ("lstm-linear", false, .linear, false, false), ("lstm-additive", false, .additive, false, false),
        ("bilstm-additive", true, .additive, false, false), ("bilstm-linear", true, .linear, false, false),
        ("bilstm-additive-subwords", true, .additive, true, false), ("bilstm-additive-dropout", true, .additive, false, true),
        ("bilstm-additive-word-dropout", true, .additive, false, true),
    ]

    /// Finite differences along random directions for every parameter, and for the input
    /// gradient through the input scales: d loss / d s_b = Σ over document b's tokens of
    /// inputGradient · input vector (at s = 1). The dropout variant trains (dropout on the
    /// embeddings, the sentence vectors and the document vector, plus word dropout) and restores
    /// the generator before every evaluation, so each one draws the same masks. With word dropout
    /// some tokens read the `<unk>` row instead of their own, so the input-scale check (which
    /// needs each token's input vector) is left to the other variants.
    @Test(arguments: 0..<7)
    func gradientCheck(_ v: Int) {
        let variant = Self.variants[v]
        let config = HierarchicalConfig(
            vocabSize: 11, embedDim: 4, wordHiddenDim: 3, sentenceHiddenDim: 2, bidirectional: variant.bidirectional, scorer: variant.scorer,
            wordAttentionDim: 5, sentenceAttentionDim: 3, classes: 3, dropout: variant.dropout ? 0.3 : 0,
            wordDropout: variant.name.hasSuffix("word-dropout") ? 0.2 : nil, subwordBuckets: variant.subwords ? 7 : nil)
        let model = HierarchicalClassifier(config: config, seed: UInt64(60 + v))
        var batch = Self.batch(vocab: 11, seed: 13)
        if variant.subwords {
            model.parameter(named: "subwords.weight")!.values = randomFloats(7 * 4, seed: 14)
            var r = Rng(seed: 15)
            var p = PieceLists()
            for _ in batch.ids { p.append((0..<r.int(below: 4)).map { _ in Int32(r.int(below: 7)) }) }
            batch.pieces = p
        }
        let weights: [Float]? = v % 2 == 0 ? [0.5, 2.0, 1.25] : nil
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: Self.sentenceCounts.count)
        scales.initialize(repeating: 1, count: Self.sentenceCounts.count)
        defer { scales.deallocate() }
        let state = model.rngState
        func loss() -> Double {
            model.rngState = state
            let s = Array(UnsafeBufferPointer(start: scales, count: Self.sentenceCounts.count))
            _ = model.forward(batch, training: variant.dropout, inputScales: s)
            _ = model.loss(labels: Self.labels, classWeights: weights)
            return model.criterion.value
        }
        _ = loss()
        model.zeroGrad()
        model.backward()
        let dx = model.inputGradient()  // before the checks' forward passes replace the batch's state
        for (i, p) in model.parameters.enumerated() {
            if p.name.hasSuffix("score.bias") { continue }  // exactly 0 in theory (shift-invariant softmax)
            let mask: ((Int) -> Bool)? = p.name == "embedding.weight" ? { $0 >= config.embedDim } : nil
            let e = directionalError(values: p.value, grads: p.grad, count: p.count, seed: UInt64(i), mask: mask, loss: loss)
            #expect(e < gradTolerance, "\(variant.name) \(p.name): \(e)")
        }
        #expect((0..<config.embedDim).allSatisfy { model.parameter(named: "embedding.weight")!.grad[$0] == 0 })
        if config.wordDropout != nil { return }
        // d loss / d s_b from the input gradient.
        let x = model.inputVectors(ids: batch.ids, pieces: batch.pieces), E = config.embedDim
        #expect(dx.count == batch.ids.count * E)
        var dScale = [Float](repeating: 0, count: Self.sentenceCounts.count)
        var token = 0, sentence = 0
        for (b, count) in Self.sentenceCounts.enumerated() {
            var sum = 0.0
            for _ in 0..<count {
                for _ in 0..<Self.sentenceLengths[sentence] {
                    for k in 0..<E { sum += Double(dx[token * E + k]) * Double(x[token * E + k]) }
                    token += 1
                }
                sentence += 1
            }
            dScale[b] = Float(sum)
        }
        let e = dScale.withUnsafeBufferPointer {
            directionalError(values: scales, grads: $0.baseAddress!, count: Self.sentenceCounts.count, seed: 99, loss: loss)
        }
        #expect(e < gradTolerance, "\(variant.name) input gradient: \(e)")
    }

    static let fixtures = ["bilstm_additive", "lstm_linear_h9"]

    /// Heed vs PyTorch (`HeedHAN`) vs the exact Double evaluation: logits, both levels' attention,
    /// the loss, every gradient and the input gradient, each within the tape's rounding bound of
    /// the exact value (two Float32 evaluations: within twice that of each other).
    @Test(arguments: fixtures)
    func parity(_ name: String) throws {
        let fx = try HANFixture(name)
        let m = fx.meta, batch = fx.batch
        let model = fx.model()
        let ref = HANReference(model, batch: batch, labels: m.labels, classWeights: m.classWeights)
        let out = model.forward(batch, training: true)
        var worst = Worst()
        let logitErr = ref.logits.flatMap(ref.errors)
        worst.check("logits vs PyTorch", out.logits, fx.tensor("logits"), bound: logitErr.map { 2 * $0 })
        worst.check("logits vs exact", out.logits, ref.logits.flatMap(ref.values), bound: logitErr)
        for (label, heed, nodes) in [
            ("word_attention", out.wordAttention, ref.wordAttention), ("sentence_attention", out.sentenceAttention, ref.sentenceAttention),
        ] {
            let bound = nodes.flatMap(ref.errors)
            worst.check("\(label) vs PyTorch", heed, fx.tensor(label), bound: bound.map { 2 * $0 })
            worst.check("\(label) vs exact", heed, nodes.flatMap(ref.values), bound: bound)
            // Each group's weights share one rounded Σ: they sum to 1 within its and the divisions' rounding.
            var start = 0
            for group in nodes {
                let sum = heed[start..<(start + group.count)].reduce(0.0) { $0 + Double($1) }
                #expect(abs(sum - 1) <= gamma(2 * group.count + 2), "\(name) \(label) group at \(start) sums to \(sum)")
                start += group.count
            }
        }
        let loss = model.loss(labels: m.labels, classWeights: m.classWeights)
        let lossNode = try #require(ref.loss)
        worst.check("loss vs PyTorch", [loss], fx.tensor("loss"), bound: [2 * ref.tape.err[lossNode]])
        model.zeroGrad()
        model.backward()
        let (exact, magnitude) = ref.gradients()
        let g = gamma(ref.gradientDepth)
        for p in model.parameters {
            let mag = magnitude[p.name]!
            worst.check("grad \(p.name) vs PyTorch", p.grads, fx.tensor("g." + p.name), bound: mag.map { 2 * g * $0 })
            worst.check("grad \(p.name) vs exact", p.grads, exact[p.name]!, bound: mag.map { g * $0 })
        }
        let dx = model.inputGradient()
        worst.check("input gradient vs PyTorch", dx, fx.tensor("input_grad"), bound: magnitude["input"]!.map { 2 * g * $0 })
        worst.check("input gradient vs exact", dx, exact["input"]!, bound: magnitude["input"]!.map { g * $0 })
        // Scaled inputs (integrated gradients' path).
        let scaledRef = HANReference(model, batch: batch, inputScales: m.inputScales)
        let scaled = model.forward(batch, training: false, inputScales: m.inputScales)
        let scaledErr = scaledRef.logits.flatMap(scaledRef.errors)
        worst.check("scaled logits vs PyTorch", scaled.logits, fx.tensor("scaled_logits"), bound: scaledErr.map { 2 * $0 })
        worst.check("scaled logits vs exact", scaled.logits, scaledRef.logits.flatMap(scaledRef.values), bound: scaledErr)
        print("parity han_\(name): worst error / bound \(worst.ratio) (\(worst.what))")
    }

    /// A document alone (other packing, other BLAS shapes) vs in the fixture batch: each within
    /// the exact value's rounding bound, so within twice that of each other.
    @Test(arguments: fixtures)
    func aloneMatchesBatched(_ name: String) throws {
        let fx = try HANFixture(name)
        let m = fx.meta
        let model = fx.model()
        let all = model.forward(fx.batch, training: false)
        let C = m.config.classes
        var worst = Worst()
        var token = 0, sentence = 0
        for (b, count) in m.sentenceCounts.enumerated() {
            let lengths = Array(m.sentenceLengths[sentence..<(sentence + count)])
            let n = lengths.reduce(0, +)
            let single = HierarchicalBatch(ids: Array(m.ids[token..<(token + n)]), sentenceLengths: lengths, sentenceCounts: [count])
            let ref = HANReference(model, batch: single)
            let err = ref.errors(ref.logits[0]), exact = ref.values(ref.logits[0])
            let one = model.forward(single, training: false)
            let batched = Array(all.logits[(b * C)..<((b + 1) * C)])
            worst.check("document \(b) alone vs batched", one.logits, batched, bound: err.map { 2 * $0 })
            worst.check("document \(b) alone vs exact", one.logits, exact, bound: err)
            token += n
            sentence += count
        }
        print("batching han_\(name): worst error / bound \(worst.ratio) (\(worst.what))")
    }

    /// A document's outputs do not depend on its neighbours' tokens: with the same sentence
    /// structure, the packing and every BLAS call's shapes are the same and each output row
    /// depends only on its own input row, so they must be bit-identical.
    @Test(arguments: fixtures)
    func neighboursDoNotLeakIn(_ name: String) throws {
        let fx = try HANFixture(name)
        let m = fx.meta
        let model = fx.model()
        let base = model.forward(fx.batch, training: false)
        let C = m.config.classes
        var rng = Rng(seed: 31)
        var tokenStart: [Int] = [], sentenceStart: [Int] = []
        var t = 0, s = 0
        for count in m.sentenceCounts {
            tokenStart.append(t)
            sentenceStart.append(s)
            t += m.sentenceLengths[s..<(s + count)].reduce(0, +)
            s += count
        }
        tokenStart.append(t)
        sentenceStart.append(s)
        for b in m.sentenceCounts.indices {
            var batch = fx.batch
            for i in batch.ids.indices where !(tokenStart[b]..<tokenStart[b + 1]).contains(i) {
                batch.ids[i] = Int32(1 + rng.int(below: m.config.vocabSize - 1))
            }
            let out = model.forward(batch, training: false)
            let mine = (b * C)..<((b + 1) * C)
            #expect(out.logits[mine].map(\.bitPattern) == base.logits[mine].map(\.bitPattern), "\(name) document \(b)")
            #expect(out.logits != base.logits, "the neighbours did change")
            let words = tokenStart[b]..<tokenStart[b + 1], sentences = sentenceStart[b]..<sentenceStart[b + 1]
            #expect(out.wordAttention[words].map(\.bitPattern) == base.wordAttention[words].map(\.bitPattern))
            #expect(out.sentenceAttention[sentences].map(\.bitPattern) == base.sentenceAttention[sentences].map(\.bitPattern))
        }
    }

    /// Conicity at both levels comes back in the batch's order, whatever order packing sorted
    /// the sentences and documents into: each document alone gives the same values (up to the
    /// rounding another batch shape may give the states), and a single state has conicity 1.
    @Test func conicityPerSentenceAndDocumentInBatchOrder() {
        let config = HierarchicalConfig(vocabSize: 20, embedDim: 6, wordHiddenDim: 5, sentenceHiddenDim: 4, classes: 3)
        let model = HierarchicalClassifier(config: config, seed: 9)
        let documents: [[[Int32]]] = [[[3]], [[4, 5, 6, 7], [8, 9], [10, 11, 12]], [[13, 14], [15, 16, 17, 18, 19]]]
        _ = model.forward(HierarchicalBatch(documents: documents), training: false)
        let together = model.conicity()
        #expect(together.words.count == 6 && together.sentences.count == 3)
        #expect(abs(together.words[0] - 1) < 1e-12 && abs(together.sentences[0] - 1) < 1e-12, "one state: cosine 1 with itself")
        var sentence = 0
        for document in documents {
            _ = model.forward(HierarchicalBatch(documents: [document]), training: false)
            let alone = model.conicity()
            #expect(abs(alone.sentences[0] - together.sentences[documents.firstIndex(of: document)!]) < 1e-5)
            for (k, w) in alone.words.enumerated() { #expect(abs(w - together.words[sentence + k]) < 1e-5, "sentence \(sentence + k)") }
            sentence += document.count
        }
        #expect(Set(together.words.map { ($0 * 1e4).rounded() }).count > 2, "different sentences, different values: the order is tested")
    }

    /// Same seed, same weights and outputs, bit for bit; the state_dict order and shapes are
    /// the config's.
    @Test func determinismAndNames() {
        let config = HierarchicalConfig(vocabSize: 13, embedDim: 5, wordHiddenDim: 4, sentenceHiddenDim: 3, classes: 4, subwordBuckets: 9)
        let a = HierarchicalClassifier(config: config, seed: 5), b = HierarchicalClassifier(config: config, seed: 5)
        let c = HierarchicalClassifier(config: config, seed: 6)
        #expect(a.parameters.map(\.name) == config.tensorShapes.map(\.name))
        #expect(a.parameters.map(\.shape) == config.tensorShapes.map(\.shape))
        #expect(zip(a.parameters, b.parameters).allSatisfy { $0.values.map(\.bitPattern) == $1.values.map(\.bitPattern) })
        #expect(zip(a.parameters, c.parameters).contains { $0.values != $1.values })
        let batch = Self.batch(vocab: 13, seed: 3)
        let x = a.forward(batch, training: false), y = b.forward(batch, training: false)
        #expect(x.logits.map(\.bitPattern) == y.logits.map(\.bitPattern))
        #expect(x.wordAttention.map(\.bitPattern) == y.wordAttention.map(\.bitPattern))
        let names = Set(config.tensorShapes.map(\.name))
        for name in [
            "word_lstm.weight_ih_l0_reverse", "word_attention.proj.weight", "sentence_lstm.bias_hh_l0", "sentence_attention.context.weight",
            "classifier.bias", "subwords.weight",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        let clone = a.clone()
        #expect(clone.forward(batch, training: false).logits.map(\.bitPattern) == x.logits.map(\.bitPattern))
        let decoded = try? JSONDecoder().decode(HierarchicalConfig.self, from: JSONEncoder().encode(config))
        #expect(decoded == config)
    }
}
