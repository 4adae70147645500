import Foundation
import Testing

@testable import HeedNN

/// `LanguageModel` rebuilt on a `Tape` (see Reference.swift), one sequence at a time: the exact
/// full-softmax loss, its Float32 rounding bound, and the exact gradients with their magnitudes.
struct LMReference {
    let tape = Tape()
    let config: LanguageModelConfig
    var params: [String: [Int]] = [:]
    var loss = 0
    /// Targets predicted (both directions).
    var targets = 0

    init(_ model: LanguageModel, ids: [Int32], lengths: [Int], steps T: Int) {
        config = model.config
        for p in model.parameters { params[p.name] = p.values.map { tape.leaf(Double($0)) } }
        var nll: [Int] = []
        for (b, len) in lengths.enumerated() {
            let doc = (0..<len).map { Int(ids[b * T + $0]) }
            let xs = doc.map { Array(row("embedding.weight", $0, config.embedDim)) }
            let hf = direction("", xs)
            for t in 0..<(len - 1) where doc[t + 1] != 0 { nll.append(negLogLikelihood("lm_forward", hf[t], doc[t + 1])) }
            if config.bidirectional {
                let hr = direction("_reverse", Array(xs.reversed()))  // hr[s] is position len−1−s
                for t in 1..<max(len, 1) where doc[t - 1] != 0 {
                    nll.append(negLogLikelihood("lm_backward", hr[len - 1 - t], doc[t - 1]))
                }
            }
        }
        targets = nll.count
        loss = tape.sum([], nll.map { ($0, 1 / Double(nll.count)) })
    }

    private func row(_ name: String, _ r: Int, _ width: Int) -> ArraySlice<Int> { params[name]![(r * width)..<((r + 1) * width)] }

    private func direction(_ suffix: String, _ xs: [[Int]]) -> [[Int]] {
        let E = config.embedDim, H = config.hiddenDim
        var h: [Int] = [], c: [Int] = [], out: [[Int]] = []
        for x in xs {
            let pre = (0..<(4 * H)).map { r -> Int in
                var products = Array(zip(row("lstm.weight_ih_l0" + suffix, r, E), x))
                if !h.isEmpty { products += zip(row("lstm.weight_hh_l0" + suffix, r, H), h) }
                return tape.sum(products, [(params["lstm.bias_ih_l0" + suffix]![r], 1), (params["lstm.bias_hh_l0" + suffix]![r], 1)])
            }
            let i = pre[0..<H].map(tape.sigmoid), f = pre[H..<(2 * H)].map(tape.sigmoid)
            let g = pre[(2 * H)..<(3 * H)].map { tape.tanh($0) }, o = pre[(3 * H)..<(4 * H)].map(tape.sigmoid)
            c = (0..<H).map { k in tape.sum(h.isEmpty ? [(i[k], g[k])] : [(f[k], c[k]), (i[k], g[k])]) }
            h = (0..<H).map { k in tape.mul(o[k], tape.tanh(c[k])) }
            out.append(h)
        }
        return out
    }

    /// −log softmax over ids 1..<V at `y`, from one state.
    private func negLogLikelihood(_ head: String, _ h: [Int], _ y: Int) -> Int {
        let H = config.hiddenDim
        let z = (1..<config.vocabSize).map { c in tape.sum(Array(zip(row(head + ".weight", c, H), h)), [(params[head + ".bias"]![c], 1)]) }
        let m = tape.leaf(z.map { tape.value[$0] }.max()!)
        let e = z.map { tape.exp(tape.sum([], [($0, 1), (m, -1)])) }
        let s = tape.log(tape.sum([], e.map { ($0, 1) }))
        return tape.sum([], [(m, 1), (s, 1), (z[y - 1], -1)])
    }

    var value: Double { tape.value[loss] }
    var error: Double { tape.err[loss] }

    /// Exact gradient and its magnitude (Σ|terms|), per parameter name; the padding row is zero.
    func gradients() -> (exact: [String: [Double]], magnitude: [String: [Double]]) {
        let g = tape.gradient(of: loss, magnitude: false), m = tape.gradient(of: loss, magnitude: true)
        var exact = params.mapValues { $0.map { g[$0] } }, magnitude = params.mapValues { $0.map { m[$0] } }
        for k in 0..<config.embedDim {
            exact["embedding.weight"]![k] = 0
            magnitude["embedding.weight"]![k] = 0
        }
        return (exact, magnitude)
    }

    /// As `Reference.gradientDepth`: longest chain of roundings times the widest sum (the output
    /// layer's V − 1 logits and the weight gradients' sums over every packed row included).
    func gradientDepth(steps T: Int, rows P: Int) -> Int {
        let fanIn = max(config.embedDim + config.hiddenDim + 2, config.vocabSize, P, 4 * config.hiddenDim)
        return (6 * T + 12) * fanIn
    }
}

@Suite struct LanguageModelTests {
    static let lengths = [3, 1, 5, 3, 2]
    static let steps = 5
    static let vocab = 13

    static func model(bidirectional: Bool, seed: UInt64 = 21, dropout: Float = 0) -> LanguageModel {
        LanguageModel(
            config: LanguageModelConfig(vocabSize: vocab, embedDim: 4, hiddenDim: 3, bidirectional: bidirectional, dropout: dropout), seed: seed)
    }

    /// Has a `<pad>` inside sequence 0 (skipped as a target) and a length-1 sequence (no targets).
    static let ids = randomBatch(vocab: vocab, lengths: lengths, steps: steps, seed: 12)

    /// A fixed sample holding some of the batch's targets (accidental hits) and a Q correction.
    static let fixedSample = SampledCandidates(ids: [1, 2, 5, 7, 8, 11], tries: 9)

    func loss(_ m: LanguageModel, _ output: LanguageModelOutput, gradients: Bool = false) -> LanguageModelLoss {
        m.loss(ids: Self.ids, lengths: Self.lengths, batch: Self.lengths.count, steps: Self.steps, training: false, output: output, gradients: gradients)
    }

    /// Central differences (Double-accumulated loss) along a random direction of each parameter;
    /// the tolerance is GradCheckTests' (chosen there against mutated backward passes).
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gradientsMatchFiniteDifferences(bidirectional: Bool, sampled: Bool) {
        let m = Self.model(bidirectional: bidirectional)
        let output: LanguageModelOutput = sampled ? .candidates(Self.fixedSample) : .full
        m.zeroGrad()
        let l = loss(m, output, gradients: true)
        #expect(l.forwardTokens == 8 && l.backwardTokens == (bidirectional ? 8 : 0), "\(l)")
        for (i, p) in m.parameters.enumerated() {
            // Row 0 of the embedding is read (as zeros in practice) but never trained.
            let mask: ((Int) -> Bool)? = p.name == "embedding.weight" ? { $0 >= m.config.embedDim } : nil
            let e = directionalError(values: p.value, grads: p.grad, count: p.count, seed: UInt64(i), mask: mask) { loss(m, output).loss }
            #expect(e < gradTolerance, "\(p.name) (sampled: \(sampled)): \(e)")
        }
        #expect((0..<m.config.embedDim).allSatisfy { m.parameters[0].grad[$0] == 0 })
        #expect((0..<m.config.hiddenDim).allSatisfy { m.forwardHead.weight.grad[$0] == 0 }, "<pad> is never scored")
    }

    /// The full-softmax loss and gradients against the exact ones, within the Float32 rounding
    /// bounds the reference derives.
    @Test(arguments: [false, true])
    func fullSoftmaxMatchesExact(bidirectional: Bool) {
        let m = Self.model(bidirectional: bidirectional)
        let ref = LMReference(m, ids: Self.ids, lengths: Self.lengths, steps: Self.steps)
        m.zeroGrad()
        let l = loss(m, .full, gradients: true)
        #expect(l.forwardTokens + l.backwardTokens == ref.targets)
        var worst = Worst()
        worst.check("loss", [l.loss], [ref.value], bound: [ref.error])
        let (exact, magnitude) = ref.gradients()
        let g = gamma(ref.gradientDepth(steps: Self.steps, rows: Self.lengths.reduce(0, +)))
        for p in m.parameters { worst.check(p.name, p.grads, exact[p.name]!, bound: magnitude[p.name]!.map { g * $0 }) }
        print("LM exact \(bidirectional): worst error / bound \(worst.ratio) (\(worst.what))")
    }

    /// With every id a candidate the sampled loss is the full softmax (Q = 1, the target's own
    /// logit taken out of the candidates): both within their rounding bounds of the exact value.
    @Test func sampledWithEveryCandidateIsFull() {
        let m = Self.model(bidirectional: true)
        let ref = LMReference(m, ids: Self.ids, lengths: Self.lengths, steps: Self.steps)
        let (_, magnitude) = ref.gradients()
        let g = gamma(ref.gradientDepth(steps: Self.steps, rows: Self.lengths.reduce(0, +)))
        m.zeroGrad()
        let full = loss(m, .full, gradients: true)
        let fullGrads = m.parameters.map(\.grads)
        m.zeroGrad()
        let sampled = loss(m, .sampled(Self.vocab), gradients: true)
        var worst = Worst()
        worst.check("loss", [sampled.loss], [full.loss], bound: [2 * ref.error])
        for (p, f) in zip(m.parameters, fullGrads) { worst.check(p.name, p.grads, f, bound: magnitude[p.name]!.map { 2 * g * $0 }) }
        print("LM sampled(all) vs full: worst error / bound \(worst.ratio) (\(worst.what))")
    }

    /// Same seed: the same samples, dropout masks, losses and gradients, bit for bit, over Adam steps.
    @Test func sameSeedIsBitIdentical() {
        func run(_ seed: UInt64) -> [[UInt32]] {
            let m = Self.model(bidirectional: true, seed: seed, dropout: 0.3)
            let adam = Adam(parameters: m.parameters, lr: 0.01)
            var out: [[UInt32]] = []
            for _ in 0..<3 {
                m.zeroGrad()
                let l = m.loss(ids: Self.ids, lengths: Self.lengths, batch: 5, steps: Self.steps, training: true, output: .sampled(4))
                out.append([UInt32(truncatingIfNeeded: l.loss.bitPattern), UInt32(truncatingIfNeeded: l.loss.bitPattern >> 32)])
                m.clipGradNorm(1)
                out += m.parameters.map { $0.grads.map(\.bitPattern) }
                adam.step()
            }
            return out
        }
        #expect(run(3) == run(3))
        #expect(run(3) != run(4))
    }

    @Test func samplerIsLogUniformAndUnique() {
        let s = LogUniformSampler(vocabSize: 1000)
        let total = (1..<1000).reduce(0.0) { $0 + s.probability($1) }
        #expect(abs(total - 1) < 1e-12)  // the log terms telescope to log(V)/log(V)
        #expect(s.probability(1) > s.probability(2) && s.probability(2) > s.probability(999))
        var a = Rng(seed: 5), b = Rng(seed: 5)
        let c = s.sample(64, rng: &a)
        #expect(c == s.sample(64, rng: &b))
        #expect(c.ids.count == 64 && Set(c.ids).count == 64 && c.ids.allSatisfy { $0 >= 1 && $0 < 1000 })
        #expect(c.tries! >= 64)
        // Expected counts follow TF: 1 − (1 − p)^tries.
        let p = s.probability(3)
        #expect(abs(Double(s.logExpectedCount(3, tries: c.tries)) - log(1 - pow(1 - p, Double(c.tries!)))) < 1e-6)
        #expect(s.sample(999, rng: &a).tries == nil && s.sample(999, rng: &a).ids.count == 999)
    }

    @Test func fileRoundTripIsBitEqual() throws {
        let m = Self.model(bidirectional: true)
        let data = try LanguageModelFile.encode(m, metadata: ["heed.note": "x"])
        let (back, meta) = try LanguageModelFile.decode(data)
        #expect(back.config == m.config && meta["format"] == "heed-lm" && meta["heed.note"] == "x")
        #expect(back.parameters.map(\.name) == m.config.tensorShapes.map(\.name))
        for (a, b) in zip(m.parameters, back.parameters) { #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "\(a.name)") }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heed-lm-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try LanguageModelFile.save(m, to: url)
        #expect(try Data(contentsOf: url) == (try LanguageModelFile.encode(m)))
        let loaded = try LanguageModelFile.load(from: url).model
        #expect(loss(loaded, .full).loss.bitPattern == loss(m, .full).loss.bitPattern)
        // For `scripts/make_lm_fixture.py --check FILE` (safetensors.torch.load_file).
        if let out = ProcessInfo.processInfo.environment["HEED_LM_OUT"] { try LanguageModelFile.save(m, to: URL(fileURLWithPath: out)) }
        // A classifier file is refused with a message saying what is needed.
        let cls = Classifier(config: ClassifierConfig(vocabSize: 13, embedDim: 4, hiddenDim: 3, classes: 2), seed: 1)
        #expect(throws: ModelFileError.invalidConfig("this is a classifier file; a pretrained encoder file (format \"heed-lm\") is needed")) {
            try LanguageModelFile.decode(try ModelFile.encode(cls))
        }
    }

    @Test func classifierAdoptsTheEncoder() throws {
        let lm = Self.model(bidirectional: true)
        let bi = Classifier(config: ClassifierConfig(vocabSize: Self.vocab, embedDim: 4, hiddenDim: 3, bidirectional: true, classes: 2), seed: 1)
        let names = try bi.loadEncoder(from: lm)
        #expect(names == lm.config.encoderShapes.map(\.name))
        for n in names { #expect(bi.parameter(named: n)!.values == lm.parameter(named: n)!.values) }
        let uni = Classifier(config: ClassifierConfig(vocabSize: Self.vocab, embedDim: 4, hiddenDim: 3, bidirectional: false, classes: 2), seed: 1)
        #expect(try uni.loadEncoder(lm.encoderTensors).count == 5)
        // A BiLSTM classifier cannot start from a one-way encoder; a size mismatch changes nothing.
        #expect(throws: EncoderError.missingTensor("lstm.weight_ih_l0_reverse")) { try bi.loadEncoder(from: Self.model(bidirectional: false)) }
        let wide = Classifier(config: ClassifierConfig(vocabSize: Self.vocab, embedDim: 4, hiddenDim: 5, bidirectional: true, classes: 2), seed: 1)
        let before = wide.parameters.map(\.values)
        #expect(throws: EncoderError.shapeMismatch(tensor: "lstm.weight_ih_l0", classifier: [20, 4], encoder: [12, 4])) { try wide.loadEncoder(from: lm) }
        #expect(wide.parameters.map(\.values) == before)
    }
}

/// Swift vs PyTorch (fixtures from scripts/make_lm_fixture.py): the full-softmax loss, target
/// counts and gradients, each within twice the Float32 rounding bound of the exact value (two
/// Float32 evaluations, each within one bound), and Heed within one bound of exact.
@Suite struct LanguageModelParityTests {
    struct Meta: Decodable {
        var config: LanguageModelConfig
        var batch: Int
        var steps: Int
        var ids: [Int32]
        var lengths: [Int]
    }

    @Test(arguments: ["lm_bilstm", "lm_lstm"])
    func fullSoftmaxMatchesPyTorch(_ name: String) throws {
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: Fixture.folder.appendingPathComponent(name + ".json")))
        let tensors = try SafeTensors.parse(Data(contentsOf: Fixture.folder.appendingPathComponent(name + ".safetensors"))).tensors
        func tensor(_ key: String) throws -> [Float] { try #require(tensors[key], "fixture \(name) lacks \(key)").values }
        let m = LanguageModel(config: meta.config, seed: 1)
        for p in m.parameters { p.values = try tensor("w." + p.name) }
        let ref = LMReference(m, ids: meta.ids, lengths: meta.lengths, steps: meta.steps)
        m.zeroGrad()
        let l = m.loss(ids: meta.ids, lengths: meta.lengths, batch: meta.batch, steps: meta.steps, training: false, output: .full)
        #expect(try tensor("tokens") == [Float(l.forwardTokens), Float(l.backwardTokens)])
        var worst = Worst()
        worst.check("loss vs PyTorch", [l.loss], try tensor("loss"), bound: [2 * ref.error])
        worst.check("loss vs exact", [l.loss], [ref.value], bound: [ref.error])
        let (exact, magnitude) = ref.gradients()
        let g = gamma(ref.gradientDepth(steps: meta.steps, rows: meta.lengths.reduce(0, +)))
        for p in m.parameters {
            let mag = magnitude[p.name]!
            worst.check("grad \(p.name) vs PyTorch", p.grads, try tensor("g." + p.name), bound: mag.map { 2 * g * $0 })
            worst.check("grad \(p.name) vs exact", p.grads, exact[p.name]!, bound: mag.map { g * $0 })
        }
        print("LM parity \(name): worst error / bound \(worst.ratio) (\(worst.what))")
    }
}
