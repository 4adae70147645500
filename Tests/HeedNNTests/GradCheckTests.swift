import Foundation
import Testing

@testable import HeedNN

/// Central-difference gradient checks along random directions, per layer and for the whole
/// model. Loss sums are accumulated in Double; ε = 3e-2 along a unit direction (Float32 noise
/// dominates below it). Correct code stays below ~2.5e-4 of the gradient norm; mutations tried
/// (dropping σ' of the forget gate, the cell carry's f factor, the softmax Jacobian's
/// centering, tanh' in the additive scorer) give 3e-3 … 1e2, so the tolerance is 1e-3.
let gradTolerance = 1e-3

private func owned(_ values: [Float]) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
    values.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: values.count) }
    return p
}

private func weightedSum(_ p: UnsafePointer<Float>, _ r: [Float]) -> Double {
    var s = 0.0
    for i in r.indices { s += Double(p[i]) * Double(r[i]) }
    return s
}

@Suite struct GradCheckTests {
    /// Lengths with a 1, unsorted, with ties.
    static let lengths = [3, 1, 5, 3, 2]
    static let steps = 5

    func packing() -> Packing {
        var pk = Packing()
        pk.build(lengths: Self.lengths, batch: Self.lengths.count, steps: Self.steps)
        return pk
    }

    @Test func packingLayout() {
        let pk = packing()
        #expect(pk.order == [2, 0, 3, 4, 1])
        #expect(pk.batchSizes == [5, 4, 3, 1, 1])
        #expect(pk.offsets == [0, 5, 9, 12, 13])
        #expect(pk.total == 14)
        for r in 0..<pk.total { #expect(pk.reversed[pk.reversed[r]] == r) }
        // Sorted sequence 0 (length 5): position 0 ↔ reverse step 4.
        #expect(pk.reversed[0] == pk.offsets[4])
    }

    /// The last two cases gather h_{t-1} for the W_hh gradient a few rows at a time.
    @Test(arguments: [(false, 4, 2048), (true, 4, 2048), (false, 11, 2048), (true, 9, 2048), (false, 8, 3), (true, 5, 1)])
    func lstm(bidirectional: Bool, hidden H: Int, chunkRows: Int) {
        checkLSTM(bidirectional: bidirectional, hidden: H, chunkRows: chunkRows, orthogonal: false)
    }

    /// Orthogonal LSTM: the projection's backward, the running sum's carried gradient (over
    /// sequences of lengths 3, 1, 5, 3, 2, each direction its own sum) and dx. Mutations tried:
    /// dropping the carried dL/ds, the 2a⟨g,s⟩/q² term, or the −(⟨g,s⟩/q) h term each fail.
    @Test(arguments: [(false, 4, 2048), (true, 4, 2048), (false, 11, 3), (true, 9, 2048)])
    func orthogonalLSTM(bidirectional: Bool, hidden H: Int, chunkRows: Int) {
        checkLSTM(bidirectional: bidirectional, hidden: H, chunkRows: chunkRows, orthogonal: true)
    }

    /// Each case runs the step products on BLAS and, where the CPU has it, on the packed kernel.
    private func checkLSTM(bidirectional: Bool, hidden H: Int, chunkRows: Int, orthogonal: Bool) {
        for packed in BLAS.packedKernelAvailable ? [false, true] : [false] {
            checkLSTM(bidirectional: bidirectional, hidden: H, chunkRows: chunkRows, orthogonal: orthogonal, packed: packed)
        }
    }

    private func checkLSTM(bidirectional: Bool, hidden H: Int, chunkRows: Int, orthogonal: Bool, packed: Bool) {
        let pk = packing()
        let E = 3
        var rng = Rng(seed: 7)
        let layer = LSTM(input: E, hidden: H, bidirectional: bidirectional, orthogonal: orthogonal, rng: &rng)
        layer.forwardDir.chunkRows = chunkRows
        layer.reverseDir?.chunkRows = chunkRows
        layer.forwardDir.packedRecurrent = packed
        layer.reverseDir?.packedRecurrent = packed
        let x = owned(randomFloats(pk.total * E, seed: 8))
        defer { x.deallocate() }
        let D = layer.outputDim
        let R = randomFloats(pk.total * D, seed: 9)
        func loss() -> Double {
            layer.forward(x, pk)
            return weightedSum(layer.out.ptr, R)
        }
        _ = loss()
        for p in layer.parameters { p.zeroGrad() }
        var scratch = R  // backward consumes its input
        scratch.withUnsafeMutableBufferPointer { layer.backward($0.baseAddress!, pk) }
        let dx = Array(UnsafeBufferPointer(start: layer.dx.ptr, count: pk.total * E))
        for (i, p) in layer.parameters.enumerated() {
            let e = directionalError(values: p.value, grads: p.grad, count: p.count, seed: UInt64(i), loss: loss)
            #expect(e < gradTolerance, "\(p.name) (packed: \(packed)): \(e)")
        }
        let e = dx.withUnsafeBufferPointer { directionalError(values: x, grads: $0.baseAddress!, count: pk.total * E, seed: 99, loss: loss) }
        #expect(e < gradTolerance, "dx (packed: \(packed)): \(e)")
    }

    /// The conicity penalty over packed rows of documents of different lengths, and its value
    /// against absolute cosines summed in Double: each cosine is a ratio of sums of at most D + 1 products
    /// and square roots, so in Float it is off by at most (3D + 8)·u (cosines are ≤ 1 in size),
    /// and the mean over L adds L·u; ε moves each cosine by at most ε/ν² + ε/μ². Mutations tried:
    /// dropping the gradient through the mean (G_m), or the −p_t h_t/(ν_t³ μ) term, both fail.
    @Test func conicityPenalty() {
        let pk = packing()
        let D = 6
        let h = owned(randomFloats(pk.total * D, 1, seed: 21))
        defer { h.deallocate() }
        let penalty = ConicityPenalty()
        func loss() -> Double { Double(penalty.forward(h, pk, dim: D)) }
        let value = loss()
        let dh = owned([Float](repeating: 0, count: pk.total * D))
        defer { dh.deallocate() }
        penalty.backward(scale: 1, into: dh, pk)
        let e = directionalError(values: h, grads: dh, count: pk.total * D, seed: 22, loss: loss)
        #expect(e < gradTolerance, "dh: \(e)")
        // The scale multiplies, and backward adds to what is there.
        let again = owned(Array(UnsafeBufferPointer(start: dh, count: pk.total * D)))
        defer { again.deallocate() }
        _ = loss()
        penalty.backward(scale: 2, into: again, pk)
        for i in 0..<(pk.total * D) { #expect(abs(again[i] - 3 * dh[i]) <= 4 * Float.ulpOfOne * abs(3 * dh[i])) }
        var expected = 0.0, bound = 0.0, negative = 0
        let u = Double(Float.ulpOfOne) / 2
        for j in 0..<pk.batch {
            let L = pk.lengths[j]
            let rows = [Float]((0..<L).flatMap { t in (0..<D).map { h[pk.row(j, t) * D + $0] } })
            var mean = [Double](repeating: 0, count: D), smallest = Double.infinity, norms: [Double] = []
            for t in 0..<L {
                var n2 = 0.0
                for k in 0..<D {
                    mean[k] += Double(rows[t * D + k]) / Double(L)
                    n2 += Double(rows[t * D + k]) * Double(rows[t * D + k])
                }
                smallest = min(smallest, n2)
                norms.append(n2.squareRoot())
            }
            let mu2 = mean.reduce(0) { $0 + $1 * $1 }
            for t in 0..<L {
                let dot = (0..<D).reduce(0.0) { $0 + Double(rows[t * D + $1]) * mean[$1] }
                expected += abs(dot) / (norms[t] * mu2.squareRoot()) / Double(L)
                if dot < 0 { negative += 1 }
            }
            let eps = Double(ConicityPenalty.epsilon)
            bound += Double(3 * D + 8 + L) * u + eps / smallest + eps / mu2
        }
        #expect(abs(value - expected) <= bound, "\(value) vs \(expected), bound \(bound)")
        #expect(negative >= 2, "the check must cover negative cosines (|c| flips their gradient)")
    }

    @Test(arguments: [Attention.Scorer.linear, .additive])
    func attention(scorer: Attention.Scorer) {
        let pk = packing()
        let D = 4
        var rng = Rng(seed: 3)
        let layer = Attention(dim: D, scorer: scorer, attentionDim: 6, rng: &rng)
        let h = owned(randomFloats(pk.total * D, 2, seed: 4))
        defer { h.deallocate() }
        let R = randomFloats(pk.batch * D, seed: 5)
        func loss() -> Double {
            layer.forward(h, pk)
            return weightedSum(layer.ctx.ptr, R)
        }
        _ = loss()
        for p in layer.parameters { p.zeroGrad() }
        R.withUnsafeBufferPointer { layer.backward($0.baseAddress!, pk) }
        let dh = Array(UnsafeBufferPointer(start: layer.dh.ptr, count: pk.total * D))
        for (i, p) in layer.parameters.enumerated() {
            if p.name == "attention.score.bias" {
                // Σ_r a_r (da_r − Σ_r' a_r' da_r') is exactly 0 (shift-invariant softmax); in Float32
                // it is rounding noise of its terms, da_r = dctx·h_r being sums of D products.
                var magnitude = 0.0
                for j in 0..<pk.batch {
                    let rows = (0..<pk.lengths[j]).map { pk.row(j, $0) }
                    let da = rows.map { r in (0..<D).reduce(0.0) { $0 + Double(R[j * D + $1]) * Double(h[r * D + $1]) } }
                    let daMag = rows.map { r in (0..<D).reduce(0.0) { $0 + abs(Double(R[j * D + $1]) * Double(h[r * D + $1])) } }
                    let a = rows.map { Double(layer.weights.ptr[$0]) }
                    let mean = zip(a, da).reduce(0.0) { $0 + $1.0 * $1.1 }
                    magnitude += zip(a, daMag).reduce(0.0) { $0 + $1.0 * ($1.1 + abs(mean)) }
                }
                #expect(abs(Double(p.grad[0])) <= gamma(2 * (D + pk.total + 2)) * magnitude, "\(p.grad[0]) vs \(magnitude)")
                continue
            }
            let e = directionalError(values: p.value, grads: p.grad, count: p.count, seed: UInt64(i), loss: loss)
            #expect(e < gradTolerance, "\(p.name): \(e)")
        }
        let e = dh.withUnsafeBufferPointer { directionalError(values: h, grads: $0.baseAddress!, count: pk.total * D, seed: 77, loss: loss) }
        #expect(e < gradTolerance, "dh: \(e)")
    }

    @Test func linear() {
        var rng = Rng(seed: 1)
        let layer = Linear("l", inputs: 5, outputs: 3, rng: &rng)
        let n = 4
        let x = owned(randomFloats(n * 5, seed: 2))
        defer { x.deallocate() }
        let R = randomFloats(n * 3, seed: 3)
        func loss() -> Double {
            layer.forward(x, rows: n)
            return weightedSum(layer.out.ptr, R)
        }
        _ = loss()
        let dx = UnsafeMutablePointer<Float>.allocate(capacity: n * 5)
        defer { dx.deallocate() }
        R.withUnsafeBufferPointer { layer.backward($0.baseAddress!, dx: dx) }
        for p in layer.parameters {
            #expect(directionalError(values: p.value, grads: p.grad, count: p.count, seed: 1, loss: loss) < gradTolerance)
        }
        #expect(directionalError(values: x, grads: dx, count: n * 5, seed: 2, loss: loss) < gradTolerance)
    }

    @Test(arguments: [nil, [0.5, 2.0, 1.25] as [Float]])
    func crossEntropy(classWeights: [Float]?) {
        let B = 4, C = 3
        let ce = SoftmaxCrossEntropy(classes: C)
        let z = owned(randomFloats(B * C, 3, seed: 11))
        defer { z.deallocate() }
        let labels = [2, 0, 1, 2]
        func loss() -> Double {
            ce.softmax(z, batch: B)
            _ = ce.forward(z, batch: B, labels: labels, classWeights: classWeights)
            return ce.value
        }
        _ = loss()
        ce.backward(batch: B)
        #expect(directionalError(values: z, grads: ce.dLogits.ptr, count: B * C, eps: 1e-3, seed: 4, loss: loss) < 1e-3)
        // Weighted mean semantics: Σ w_y ℓ / Σ w_y.
        _ = loss()
        var num = 0.0, den = 0.0
        for b in 0..<B {
            let row = (0..<C).map { Double(z[b * C + $0]) }
            let lse = log(row.map { exp($0) }.reduce(0, +))
            let w = Double(classWeights?[labels[b]] ?? 1)
            num += w * (lse - row[labels[b]])
            den += w
        }
        #expect(abs(ce.value - num / den) < 1e-6)
    }

    @Test func embedding() {
        var rng = Rng(seed: 5)
        let layer = Embedding(vocab: 6, dim: 3, rng: &rng)
        #expect(layer.weight.values[0..<3].allSatisfy { $0 == 0 })
        layer.forward(ids: [2, 0, 2, 5])
        let d: [Float] = [1, 2, 3, 9, 9, 9, 10, 20, 30, -1, -2, -3]
        d.withUnsafeBufferPointer { layer.backward(dOut: $0.baseAddress!) }
        let g = layer.weight.grads
        #expect(Array(g[0..<3]) == [0, 0, 0])  // padding row: no gradient
        #expect(Array(g[6..<9]) == [11, 22, 33])  // repeated token accumulates
        #expect(Array(g[15..<18]) == [-1, -2, -3])
        #expect(Array(g[3..<6]) == [0, 0, 0])  // untouched row
        #expect(Array(UnsafeBufferPointer(start: layer.out.ptr + 3, count: 3)) == [0, 0, 0])
    }

    /// Word row plus the mean of the bucket rows; each bucket gets 1/k of its token's gradient,
    /// and only touched bucket rows are listed (and cleared by zeroGrad).
    @Test func subwordEmbedding() throws {
        var rng = Rng(seed: 5)
        let layer = Embedding(vocab: 4, dim: 2, buckets: 5, rng: &rng)
        let table = try #require(layer.subwords)
        #expect(table.values.allSatisfy { $0 == 0 })  // unused buckets add nothing
        table.values = [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        let w = layer.weight.values
        var pieces = PieceLists()
        pieces.append([1, 3])  // token 0: mean of rows 1 (1, 2) and 3 (5, 6)
        pieces.append([])  // token 1: word row alone
        pieces.append([4, 4, 2])  // token 2: a repeated bucket counts twice
        layer.forward(ids: [2, 1, 0], pieces: pieces)
        let out = Array(UnsafeBufferPointer(start: layer.out.ptr, count: 6))
        #expect(out[0] == w[4] + 3 && out[1] == w[5] + 4)
        #expect(out[2] == w[2] && out[3] == w[3])
        #expect(abs(out[4] - (7 + 7 + 3) / 3) < 1e-6 && abs(out[5] - (8 + 8 + 4) / 3) < 1e-6)  // padding id: buckets only
        let d: [Float] = [2, 4, 9, 9, 3, 6]
        d.withUnsafeBufferPointer { layer.backward(dOut: $0.baseAddress!) }
        let g = table.grads
        #expect(Array(g[2..<4]) == [1, 2] && Array(g[6..<8]) == [1, 2])
        #expect(Array(g[8..<10]) == [2, 4] && Array(g[4..<6]) == [1, 2])
        #expect(Array(g[0..<2]) == [0, 0])
        #expect(table.touchedRows!.sorted() == [1, 2, 3, 4])
        table.zeroGrad()
        #expect(table.grads.allSatisfy { $0 == 0 } && table.touchedRows!.rows.isEmpty)
    }

    @Test func dropout() {
        var rng = Rng(seed: 6)
        let n = 4000
        let layer = Dropout(p: 0.25)
        let x = owned([Float](repeating: 1, count: n))
        defer { x.deallocate() }
        layer.forward(x, count: n, training: true, rng: &rng)
        let kept = (0..<n).filter { x[$0] != 0 }
        #expect(kept.allSatisfy { abs(x[$0] - 1 / 0.75) < 1e-6 })
        #expect(abs(Double(kept.count) / Double(n) - 0.75) < 0.03)
        let g = owned([Float](repeating: 1, count: n))
        defer { g.deallocate() }
        layer.backward(g)
        for i in 0..<n { #expect(g[i] == x[i]) }
        let y = owned([Float](repeating: 1, count: n))
        defer { y.deallocate() }
        layer.forward(y, count: n, training: false, rng: &rng)
        #expect((0..<n).allSatisfy { y[$0] == 1 })
    }

    static let variants: [(String, Bool, ClassifierConfig.Pooling, ClassifierConfig.Scorer)] = [
        ("lstm-last", false, .last, .linear), ("lstm-linear", false, .attention, .linear),
        ("lstm-additive", false, .attention, .additive), ("bilstm-additive", true, .attention, .additive),
        ("bilstm-linear", true, .attention, .linear), ("bilstm-last", true, .last, .linear),
        ("bilstm-additive-subwords", true, .attention, .additive),
        ("lstm-additive-orthogonal", false, .attention, .additive), ("bilstm-additive-orthogonal", true, .attention, .additive),
        ("bilstm-last-orthogonal", true, .last, .linear), ("bilstm-additive-diversity", true, .attention, .additive),
        ("lstm-last-diversity", false, .last, .linear),
    ]

    /// The whole model's loss, cross-entropy plus (diversity) λ·conicity, against its backward.
    @Test(arguments: 0..<12)
    func wholeModel(_ v: Int) {
        let (name, bi, pooling, scorer) = Self.variants[v]
        let subwords = name.hasSuffix("subwords")
        let encoder: ClassifierConfig.Encoder? =
            name.hasSuffix("orthogonal") ? .orthogonal : name.hasSuffix("diversity") ? .diversity : nil
        let cfg = ClassifierConfig(
            vocabSize: 11, embedDim: 4, hiddenDim: 3, bidirectional: bi, pooling: pooling,
            scorer: scorer, attentionDim: 5, classes: 3, subwordBuckets: subwords ? 7 : nil,
            encoder: encoder, diversityWeight: encoder == .diversity ? 3 : nil)
        let model = Classifier(config: cfg, seed: UInt64(40 + v))
        let ids = randomBatch(vocab: 11, lengths: Self.lengths, steps: Self.steps, seed: 12)
        var pieces: PieceLists? = nil
        if subwords {
            model.parameter(named: "subwords.weight")!.values = randomFloats(7 * 4, seed: 13)
            var r = Rng(seed: 14)
            var p = PieceLists()
            for _ in ids { p.append((0..<r.int(below: 4)).map { _ in Int32(r.int(below: 7)) }) }
            pieces = p
        }
        let labels = [0, 2, 1, 1, 2]
        let weights: [Float]? = v % 2 == 0 ? [0.5, 2.0, 1.25] : nil
        func loss() -> Double {
            _ = model.forward(ids: ids, lengths: Self.lengths, batch: Self.lengths.count, steps: Self.steps, training: false, pieces: pieces)
            _ = model.loss(labels: labels, classWeights: weights)
            return model.criterion.value + model.diversityPenalty
        }
        _ = loss()
        model.zeroGrad()
        model.backward()
        for (i, p) in model.parameters.enumerated() {
            if p.name == "attention.score.bias" { continue }
            let mask: ((Int) -> Bool)? = p.name == "embedding.weight" ? { $0 >= cfg.embedDim } : nil
            let e = directionalError(values: p.value, grads: p.grad, count: p.count, seed: UInt64(i), mask: mask, loss: loss)
            #expect(e < gradTolerance, "\(name) \(p.name): \(e)")
        }
        let emb = model.parameter(named: "embedding.weight")!
        #expect((0..<cfg.embedDim).allSatisfy { emb.grad[$0] == 0 })
        if encoder == .diversity { #expect(model.diversityPenalty > 0.3, "the penalty must weigh in the checked loss") }
    }

    /// The orthogonal model's input gradient (what gradient, IG and VAT read) against finite
    /// differences of the loss in the embedded inputs.
    @Test(arguments: [false, true])
    func orthogonalInputGradient(bidirectional: Bool) {
        let cfg = ClassifierConfig(
            vocabSize: 11, embedDim: 4, hiddenDim: 3, bidirectional: bidirectional, pooling: .attention, scorer: .additive,
            attentionDim: 5, classes: 3, encoder: .orthogonal)
        let model = Classifier(config: cfg, seed: 50)
        let ids = randomBatch(vocab: 11, lengths: Self.lengths, steps: Self.steps, seed: 12)
        let B = Self.lengths.count, T = Self.steps, E = cfg.embedDim
        let delta = owned([Float](repeating: 0, count: B * T * E))
        defer { delta.deallocate() }
        let labels = [0, 2, 1, 1, 2]
        func loss() -> Double {
            let perturbation = Array(UnsafeBufferPointer(start: delta, count: B * T * E))
            _ = model.forward(ids: ids, lengths: Self.lengths, batch: B, steps: T, training: false, inputPerturbation: perturbation)
            _ = model.loss(labels: labels)
            return model.criterion.value
        }
        _ = loss()
        model.zeroGrad()
        model.backward()
        let g = model.inputGradient()
        let mask: (Int) -> Bool = { i in (i / E) % T < Self.lengths[i / (E * T)] }
        let e = g.withUnsafeBufferPointer { directionalError(values: delta, grads: $0.baseAddress!, count: B * T * E, seed: 51, mask: mask, loss: loss) }
        #expect(e < gradTolerance, "input gradient: \(e)")
    }
}
