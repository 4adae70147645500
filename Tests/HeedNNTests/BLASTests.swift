import CHeedBLAS
import Foundation
import Testing

@testable import HeedNN

@Test func blasKernelIsReported() {
    #expect(!BLAS.kernel.isEmpty)
}

/// Only a detection that fell back below AVX2 is replaced, and only on a CPU with AVX2 or AVX-512.
@Test func fallbackKernelsAreReplacedByWhatTheCPURuns() {
    #expect(BLAS.coreType(replacing: "Prescott", cpuVectorTier: 3) == "SkylakeX")
    #expect(BLAS.coreType(replacing: "Prescott", cpuVectorTier: 2) == "Haswell")
    #expect(BLAS.coreType(replacing: "Sandybridge", cpuVectorTier: 3) == "SkylakeX")
    #expect(BLAS.coreType(replacing: "Nehalem", cpuVectorTier: 2) == "Haswell")
    #expect(BLAS.coreType(replacing: "Prescott", cpuVectorTier: 1) == nil)
    #expect(BLAS.coreType(replacing: "Prescott", cpuVectorTier: 0) == nil)
    for kept in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Accelerate", "NeoverseN1", ""] {
        #expect(BLAS.coreType(replacing: kept, cpuVectorTier: 3) == nil, "\(kept)")
    }
}

/// `heed --version` says "chosen over" only while OPENBLAS_CORETYPE is still the restart's choice:
/// a child that inherited the record and whose user set another core type ran no replacement.
@Test func aRestartIsReportedOnlyWhileItsChoiceHolds() {
    let record = BLAS.restartRecord(detected: "Prescott", coreType: "SkylakeX")
    #expect(BLAS.replacedKernel(record: record, coreType: "SkylakeX") == "Prescott")
    #expect(BLAS.replacedKernel(record: record, coreType: "skylakex") == "Prescott")
    #expect(BLAS.replacedKernel(record: record, coreType: "Haswell") == nil)
    #expect(BLAS.replacedKernel(record: record, coreType: nil) == nil)
    #expect(BLAS.replacedKernel(record: nil, coreType: "SkylakeX") == nil)
    #expect(BLAS.replacedKernel(record: "Prescott", coreType: "SkylakeX") == nil)  // an older heed's record
}

/// Under `HEED_BLAS_PERTURB` (make test-perturbed) every product is moved by a few ulps, the same
/// way each time: equal rows of one product stop tying, a repeated call gives the same bits, and
/// nothing moves by more than a few ulps.
@Test func perturbationModeMovesLastBitsDeterministically() {
    let k = 37, n = 64, m = 8
    var rng = Rng(seed: 3)
    let row = (0..<k).map { _ in rng.uniform(-1, 1) }
    let a = (0..<m).flatMap { _ in row }  // m equal rows
    let b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
    func product() -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        BLAS.gemm(false, false, m, n, k, 1, a, k, b, n, 0, &c, n)
        return c
    }
    if let seed = ProcessInfo.processInfo.environment["HEED_BLAS_PERTURB"], UInt64(seed) ?? 0 > 0 {
        #expect(BLAS.perturbation == UInt64(seed), "the test mode is on in a debug build")
    }
    let first = product(), second = product()
    #expect(first == second)
    let rows = (0..<m).map { Array(first[($0 * n)..<(($0 + 1) * n)]) }
    if BLAS.perturbation != nil {
        #expect(Set(rows.map { $0.map(\.bitPattern) }).count > 1, "equal rows should differ in their last bits")
        for (x, y) in zip(rows[0], rows[1]) where x != 0 {
            #expect(abs(x - y) <= 8 * x.ulp, "a few ulps at most")
        }
    }
}

/// Thread settings are per thread: concurrent scopes (the trials of `heed tune`, server workers)
/// each see their own, a scope restores what it found, and threads without one see the default.
@Test func threadScopesArePerThread() {
    let before = (BLAS.threads, BLAS.loopThreads)
    nonisolated(unsafe) let seen = UnsafeMutableBufferPointer<(Int, Int, Int, Int)>.allocate(capacity: 4)  // one slot per thread
    defer { seen.deallocate() }
    DispatchQueue.concurrentPerform(iterations: 4) { i in
        BLAS.withThreads(i + 2, loops: 10 + i) {
            let inside = (BLAS.threads, BLAS.loopThreads)
            let nested = BLAS.withThreads(1) { (BLAS.threads, BLAS.loopThreads) }
            // Another thread's scope changes nothing here, however they interleave.
            usleep(2000)
            seen[i] = (inside.0, inside.1, nested.0 * 100 + nested.1, BLAS.threads * 100 + BLAS.loopThreads)
        }
    }
    for i in 0..<4 {
        #expect(seen[i].0 == i + 2 && seen[i].1 == 10 + i)
        #expect(seen[i].2 == 101)
        #expect(seen[i].3 == (i + 2) * 100 + 10 + i)
    }
    #expect(BLAS.threads == before.0 && BLAS.loopThreads == before.1)
}

/// The LSTM's packed step kernel (CHeedBLAS heed_packed_gemm.c) against sums in Double, over row
/// counts around its 6- and 12-row tiles, column counts around its 16-wide panels and k across its
/// 512-long chunks. Each element is c + Σ a·b with one rounding per term, so it is within (k + 1)·u
/// of |c| + Σ|a·b| (u = 2⁻²⁴); twice that is the bound, and a wrong panel, tail or chunk is off by
/// the size of a term. Each element is in fact exactly the FMAs in order of k, so every variant
/// this CPU has (AVX2, AVX-512) gives those bits, and a model trains the same bytes with either.
/// Every row is also computed alone: the same bits, so a document's numbers do not depend on the
/// rows it shares a call with. Packing Bᵀ from its transpose gives the same panels.
@Test func packedStepProductIsWithinItsRoundingBoundAndRowIndependent() throws {
    try #require(BLAS.packedKernelAvailable, "this CPU has no AVX2 and FMA; BLAS runs the step products")
    var rng = Rng(seed: 5)
    let u = 1.0 / Double(1 << 24)
    var worst = 0.0
    let variants = [2, 3].filter { tier in
        var c: Float = 0
        let one: Float = 1
        return heed_packed_gemm_kernel_at(Int32(tier), 1, 1, 1, [one], 1, [one], &c, 1) == 0
    }
    #expect(variants.contains(Int(heed_packed_gemm_variant())), "the kernel in use is one of the variants")
    for (m, n, k) in [
        (1, 1, 1), (5, 15, 3), (6, 16, 100), (7, 17, 128), (13, 40, 513), (12, 512, 128), (9, 128, 600), (3, 100, 33), (25, 48, 64),
        (11, 33, 17), (24, 512, 128),
    ] {
        let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }
        let b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
        let bt = (0..<(n * k)).map { i in b[(i % k) * n + i / k] }  // Bᵀ stored n×k
        let c0 = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
        var packed = [Float](repeating: .nan, count: BLAS.packedCount(k: k, n: n))
        var packedT = packed
        BLAS.packB(k: k, n: n, b, n, transposed: false, into: &packed)
        BLAS.packB(k: k, n: n, bt, k, transposed: true, into: &packedT)
        #expect(packed.map(\.bitPattern) == packedT.map(\.bitPattern), "\(m)×\(n)×\(k): packing Bᵀ")
        var c = c0
        #expect(heed_packed_gemm_kernel(Int32(m), Int32(n), Int32(k), a, Int32(k), packed, &c, Int32(n)) == 0)
        var fused = c0
        for i in 0..<m {
            for j in 0..<n {
                for t in 0..<k { fused[i * n + j].addProduct(a[i * k + t], b[t * n + j]) }
            }
        }
        #expect(c.map(\.bitPattern) == fused.map(\.bitPattern), "\(m)×\(n)×\(k): FMAs in order of k")
        for tier in variants {
            var other = c0
            _ = heed_packed_gemm_kernel_at(Int32(tier), Int32(m), Int32(n), Int32(k), a, Int32(k), packed, &other, Int32(n))
            #expect(other.map(\.bitPattern) == c.map(\.bitPattern), "\(m)×\(n)×\(k): variant \(tier)")
        }
        for i in 0..<m {
            var row = Array(c0[(i * n)..<((i + 1) * n)])
            a.withUnsafeBufferPointer { ap in
                _ = heed_packed_gemm_kernel(1, Int32(n), Int32(k), ap.baseAddress! + i * k, Int32(k), packed, &row, Int32(n))
            }
            #expect(row.map(\.bitPattern) == c[(i * n)..<((i + 1) * n)].map(\.bitPattern), "\(m)×\(n)×\(k): row \(i) alone")
            for j in 0..<n {
                var exact = Double(c0[i * n + j]), magnitude = abs(exact)
                for t in 0..<k {
                    let term = Double(a[i * k + t]) * Double(b[t * n + j])
                    exact += term
                    magnitude += abs(term)
                }
                let bound = 2 * Double(k + 1) * u * magnitude
                let error = abs(Double(c[i * n + j]) - exact)
                worst = max(worst, error / bound)
                #expect(error <= bound, "\(m)×\(n)×\(k) [\(i), \(j)]: \(c[i * n + j]) against \(exact)")
            }
        }
    }
    print("packed step product: worst error / bound \(worst)")
}

/// The once-per-batch products on the packed kernel (`heed_packed_sgemm`, what `heed_sgemm` runs on
/// CPUs with AVX-512 whose OpenBLAS kernel does not use it): every transposition of A and B, beta 0
/// (over a C of NaNs, which it must overwrite) and 1, shapes around the tiles, panels and k-chunks.
/// Each element must be exactly the FMAs in order of k from c (or 0), with every variant this CPU
/// has: the bits do not depend on the CPU's vector width, only on the operands.
@Test func packedGeneralProductIsFMAsInOrderForEveryTransposition() throws {
    let variants = [2, 3].filter { heed_packed_gemm_variant() >= $0 }
    try #require(!variants.isEmpty, "this CPU has no AVX2 and FMA; BLAS runs every product")
    var rng = Rng(seed: 11)
    for (m, n, k) in [(3, 5, 7), (13, 100, 600), (25, 17, 64), (12, 32, 1), (40, 48, 520)] {
        for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }  // m×k, or k×m when transposed
            let b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }  // k×n, or n×k when transposed
            let lda = transA ? m : k, ldb = transB ? k : n
            func aAt(_ i: Int, _ p: Int) -> Float { transA ? a[p * lda + i] : a[i * lda + p] }
            func bAt(_ p: Int, _ j: Int) -> Float { transB ? b[j * ldb + p] : b[p * ldb + j] }
            let c0 = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
            for beta: Float in [0, 1] {
                var expected = beta == 0 ? [Float](repeating: 0, count: m * n) : c0
                for i in 0..<m {
                    for j in 0..<n {
                        for p in 0..<k { expected[i * n + j].addProduct(aAt(i, p), bAt(p, j)) }
                    }
                }
                for tier in variants {
                    var c = beta == 0 ? [Float](repeating: .nan, count: m * n) : c0
                    let status = heed_packed_sgemm(
                        Int32(tier), transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb), beta, &c,
                        Int32(n))
                    #expect(status == 0)
                    #expect(
                        c.map(\.bitPattern) == expected.map(\.bitPattern),
                        "\(m)×\(n)×\(k) transA \(transA) transB \(transB) beta \(beta) variant \(tier)")
                }
            }
        }
    }
    var c: [Float] = [0]
    let one: [Float] = [1]
    #expect(heed_packed_sgemm(Int32(variants[0]), 0, 0, 1, 1, 1, one, 1, one, 1, 0.5, &c, 1) == -1, "beta 0.5 is left to BLAS")
    #expect(c == [0])
}
