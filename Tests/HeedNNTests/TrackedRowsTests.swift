import Testing

@testable import HeedNN

/// The word table's gradient tracks the rows it holds: zeroing, the gradient norm and clipping
/// visit only those rows, and give the dense computation's bits (training's results must not
/// depend on the shortcut). Dropout draws its mask from the model's stream exactly as before.
@Suite struct TrackedRowsTests {
    /// A gradient of `rows` × `width` whose only nonzero rows are `touched`.
    func gradient(rows: Int, width: Int, touched: [Int], seed: UInt64) -> [Float] {
        var g = [Float](repeating: 0, count: rows * width)
        var r = Rng(seed: seed)
        for row in touched {
            for k in 0..<width { g[row * width + k] = r.uniform(-3, 3) }
        }
        return g
    }

    @Test(arguments: [(100, 500), (8, 700), (3, 333), (1030, 9), (17, 301), (1, 5000)])
    func normFromTrackedRowsHasTheDenseBits(width: Int, rows: Int) {
        var r = Rng(seed: UInt64(width * 31 + rows))
        // Neighbours, the first and last rows, rows across block edges, and scattered ones.
        var touched = Set([0, 1, rows - 1, rows / 2, rows / 2 + 1])
        for _ in 0..<(rows / 7) { touched.insert(Int(r.next() % UInt64(rows))) }
        let sorted = touched.sorted()
        let g = gradient(rows: rows, width: width, touched: sorted, seed: 9)
        g.withUnsafeBufferPointer { buffer in
            let x = buffer.baseAddress!
            for threads in [1, 2, 3] {
                let scope = BLAS.ThreadScope(1, loops: threads)
                defer { scope.end() }
                let dense = sumOfSquares([SquaredTensor(pointer: x, count: g.count)])
                let tracked = sumOfSquares([
                    SquaredTensor(pointer: x, count: 7), SquaredTensor(pointer: x, count: g.count, rows: sorted.map(Int32.init), width: width),
                ])
                let denseWithHead = sumOfSquares([SquaredTensor(pointer: x, count: 7), SquaredTensor(pointer: x, count: g.count)])
                #expect(dense > 0)
                #expect(tracked.bitPattern == denseWithHead.bitPattern, "width \(width), \(threads) threads")
                #expect(sumOfSquares(x, g.count).bitPattern == dense.bitPattern)
                // Rows left out of the list are left out of the sum: the test sees the rows read.
                let missing = sumOfSquares([SquaredTensor(pointer: x, count: g.count, rows: sorted.dropFirst().map(Int32.init), width: width)])
                #expect(missing < dense)
            }
        }
    }

    static let config = ClassifierConfig(
        vocabSize: 400, embedDim: 12, hiddenDim: 4, bidirectional: true, pooling: .attention, scorer: .additive, classes: 3, dropout: 0.2)

    /// A model's tracked word table clips as a dense copy of its gradient does, and zeroGrad
    /// leaves no value behind.
    @Test func clippingAndZeroingTheWordTable() {
        let model = Classifier(config: Self.config, seed: 3)
        let ids = randomBatch(vocab: 400, lengths: [9, 6, 4], steps: 9, seed: 8)
        model.zeroGrad()
        _ = model.forward(ids: ids, lengths: [9, 6, 4], batch: 3, steps: 9, training: true)
        _ = model.loss(labels: [0, 2, 1])
        model.backward()
        let table = model.parameter(named: "embedding.weight")!
        let touched = table.touchedRows!.sorted().map(Int.init)
        #expect(!touched.isEmpty && !table.updatesLazily)
        #expect(Set(touched) == Set(ids.filter { $0 != 0 }.map(Int.init)))
        let copies = model.parameters.map { p in
            let q = Param(p.name, p.shape)
            for k in 0..<p.count { q.grad[k] = p.grad[k] }
            return q
        }
        let norm = clipGradNorm(model.parameters, maxNorm: 0.01), denseNorm = clipGradNorm(copies, maxNorm: 0.01)
        #expect(norm.bitPattern == denseNorm.bitPattern && norm > 0.01)
        for (p, q) in zip(model.parameters, copies) { #expect(p.grads.map(\.bitPattern) == q.grads.map(\.bitPattern), "\(p.name)") }
        model.zeroGrad()
        #expect(table.grads.allSatisfy { $0 == 0 } && table.touchedRows!.rows.isEmpty)
    }

    /// Dropout keeps an element when the stream's next uniform is at least p, and scales it by
    /// 1/(1 − p); the backward pass applies the same mask; the stream moves on by one draw per element.
    @Test func dropoutMaskFollowsTheStream() {
        let p: Float = 0.3, n = 1001
        let layer = Dropout(p: p)
        var x = randomFloats(n, 2, seed: 5)
        let input = x
        var rng = Rng(seed: 11), reference = Rng(seed: 11)
        x.withUnsafeMutableBufferPointer { layer.forward($0.baseAddress!, count: n, training: true, rng: &rng) }
        let scale = 1 / (1 - p)
        let keep = (0..<n).map { _ in reference.uniform() >= p }
        #expect(keep.contains(true) && keep.contains(false))
        #expect(x.map(\.bitPattern) == (0..<n).map { (input[$0] * (keep[$0] ? scale : 0)).bitPattern })
        #expect(rng.state == reference.state)
        var dx = [Float](repeating: 1, count: n)
        dx.withUnsafeMutableBufferPointer { layer.backward($0.baseAddress!) }
        #expect(dx == keep.map { $0 ? scale : 0 })
    }
}
