import Testing

@testable import HeedNN

/// Adam on a row-sparse parameter (the subword table) moves only the rows with a gradient, keeps
/// moments only for rows ever touched, and otherwise takes Adam's exact steps.
@Suite struct LazyAdamTests {
    func pair(rows: Int = 6, width: Int = 3) -> (sparse: Param, dense: Param) {
        let sparse = Param("subwords.weight", [rows, width], rowSparse: true)
        let dense = Param("dense", [rows, width])
        let start = randomFloats(rows * width, seed: 3)
        sparse.values = start
        dense.values = start
        return (sparse, dense)
    }

    func setGradient(_ p: Param, rows: [Int], seed: UInt64) {
        let w = p.shape[1]
        let g = randomFloats(rows.count * w, seed: seed)
        for (i, r) in rows.enumerated() {
            for k in 0..<w { p.grad[r * w + k] = g[i * w + k] }
            p.touchedRows?.mark(r)
        }
    }

    /// Touching the same rows every step, lazy and dense Adam take bit-identical steps (a row
    /// never touched has zero moments, so dense Adam does not move it either).
    @Test func sameRowsEveryStepMatchesDenseAdam() {
        let (sparse, dense) = pair()
        let lazy = Adam(parameters: [sparse], lr: 0.01), full = Adam(parameters: [dense], lr: 0.01)
        for step in 0..<4 {
            sparse.zeroGrad()
            dense.zeroGrad()
            setGradient(sparse, rows: [4, 1], seed: UInt64(10 + step))
            setGradient(dense, rows: [4, 1], seed: UInt64(10 + step))
            lazy.step()
            full.step()
        }
        #expect(sparse.values.map(\.bitPattern) == dense.values.map(\.bitPattern))
        #expect(lazy.lazyRows == 2)
    }

    /// A row touched once stops moving when it is not touched (dense Adam would keep moving it by
    /// its momentum), and clipping sees only touched rows.
    @Test func untouchedRowsStayPut() {
        let (sparse, _) = pair()
        let adam = Adam(parameters: [sparse], lr: 0.01)
        setGradient(sparse, rows: [2], seed: 1)
        adam.step()
        let afterFirst = sparse.values
        sparse.zeroGrad()
        setGradient(sparse, rows: [5], seed: 2)
        let norm = clipGradNorm([sparse], maxNorm: 1e9)
        let row5 = (0..<3).map { Double(sparse.grad[15 + $0]) }
        #expect(abs(Double(norm) - row5.map { $0 * $0 }.reduce(0, +).squareRoot()) < 1e-6)
        adam.step()
        let afterSecond = sparse.values
        #expect(afterSecond[6..<9] == afterFirst[6..<9])
        #expect(afterSecond[15..<18] != afterFirst[15..<18])
        #expect(adam.lazyRows == 2)
    }

    /// The optimizer state spreads lazy moments to the full shape and restores them exactly.
    @Test func stateRoundTrip() {
        let a = pair().sparse, b = pair().sparse
        let first = Adam(parameters: [a], lr: 0.01)
        setGradient(a, rows: [0, 3], seed: 4)
        first.step()
        b.values = a.values
        let second = Adam(parameters: [b], lr: 0.01)
        second.restore(first.state)
        #expect(second.state == first.state)
        for p in [a, b] {
            p.zeroGrad()
            setGradient(p, rows: [3, 5], seed: 5)
        }
        first.step()
        second.step()
        #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern))
        let (m, _) = first.moments(0)
        #expect(m[1 * 3] == 0 && m[0] != 0)
    }

    /// Replica gradients add row by row into the master, which then lists the union of rows.
    @Test func addGradientsMergesTouchedRows() {
        let master = Param("subwords.weight", [5, 2], rowSparse: true)
        let r1 = Param("subwords.weight", [5, 2], rowSparse: true), r2 = Param("subwords.weight", [5, 2], rowSparse: true)
        setGradient(r1, rows: [3, 1], seed: 6)
        setGradient(r2, rows: [1, 4], seed: 7)
        addGradients(of: [[r1], [r2]], into: [master])
        #expect(master.touchedRows!.sorted() == [1, 3, 4])
        for k in 0..<10 { #expect(master.grad[k] == r1.grad[k] + r2.grad[k]) }
    }
}
