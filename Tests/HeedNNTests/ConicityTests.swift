import Foundation
import Testing

@testable import HeedNN

@Suite struct ConicityTests {
    @Test func parallelStatesHaveConicityOne() {
        // Three states along one direction (different lengths): every cosine to the mean is 1.
        let states: [Float] = [1, 2, 0, 2, 4, 0, 0.5, 1, 0]
        let c = states.withUnsafeBufferPointer { Conicity.of($0.baseAddress!, length: 3, dim: 3) }
        #expect(abs(c - 1) <= 4 * Double(Float.ulpOfOne))
    }

    @Test func orthogonalStatesHaveConicityOneOverRootN() {
        // n orthonormal states: the mean is (1/n)·Σ e_i, each cosine is 1/√n.
        for n in [2, 3, 5] {
            var states = [Float](repeating: 0, count: n * n)
            for i in 0..<n { states[i * n + i] = 1 }
            let c = states.withUnsafeBufferPointer { Conicity.of($0.baseAddress!, length: n, dim: n) }
            #expect(abs(c - 1 / Double(n).squareRoot()) <= 1e-12, "n = \(n): \(c)")
        }
    }

    @Test func paddingIsIgnoredAndZeroMeanIsZero() {
        // Document 0: two opposite states (mean 0 → 0). Document 1: one state then padding.
        let states: [Float] = [1, 0, -1, 0, 0, 3, 9, 9]
        let c = Conicity.perDocument(states, lengths: [2, 1], steps: 2, dim: 2)
        #expect(c[0] == 0)
        #expect(abs(c[1] - 1) <= 4 * Double(Float.ulpOfOne))
    }
}
