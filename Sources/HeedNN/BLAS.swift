import CHeedBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin façade over the C BLAS target; the rest of HeedNN calls only this.
public enum BLAS {
    public static var kernel: String { String(cString: heed_blas_kernel()) }

    /// Threads the BLAS library will use for a product called from this thread now: what the
    /// process default or this thread's scope set (`heed --version` prints the default, which holds
    /// from the start).
    public static var libraryThreads: Int { Int(heed_blas_library_threads()) }

    /// The kernel with how it was chosen: `kernel`, plus ", chosen over NAME" when the CLI restarted
    /// itself because OpenBLAS's own detection had fallen back to NAME (see `preferredCoreType`).
    public static var kernelDescription: String {
        guard let replaced = replacedKernel(record: environment(replacedKernelVariable), coreType: environment("OPENBLAS_CORETYPE")) else {
            return kernel
        }
        return "\(kernel), chosen over \(replaced)"
    }

    /// The kernel a restart replaced, from its record "DETECTED>CHOSEN" (`restartRecord`), if
    /// `OPENBLAS_CORETYPE` is still the one it chose: a child process that inherits the record
    /// and whose user then set another core type ran no replacement.
    public static func replacedKernel(record: String?, coreType: String?) -> String? {
        guard let record, let coreType, let split = record.firstIndex(of: ">") else { return nil }
        let chosen = record[record.index(after: split)...]
        return chosen.lowercased() == coreType.lowercased() ? String(record[..<split]) : nil
    }

    /// The value of `replacedKernelVariable` for a restart that chose `coreType` over `detected`.
    public static func restartRecord(detected: String, coreType: String) -> String { "\(detected)>\(coreType)" }

    /// The OpenBLAS core type to force, or nil to keep what OpenBLAS picked: non-nil only when
    /// `OPENBLAS_CORETYPE` is unset and OpenBLAS's detection fell back to a kernel without AVX2 on
    /// a CPU with AVX2 or AVX-512 (Debian 12's OpenBLAS runs its SSE3 Prescott kernels, 3–4× slower
    /// products, on Sapphire Rapids). OpenBLAS reads the variable only when it loads, so a process
    /// must set it and restart itself; the CLI does that before any work (`heed --version` then
    /// says "chosen over Prescott"). A user's own `OPENBLAS_CORETYPE` is always kept.
    public static var preferredCoreType: String? {
        if environment("OPENBLAS_CORETYPE") != nil { return nil }
        return coreType(replacing: detectedKernel, cpuVectorTier: cpuVectorTier)
    }

    /// The core type to force when OpenBLAS detected `detected` on a CPU of `cpuVectorTier`, or nil
    /// to keep it: SkylakeX (tier 3) or Haswell (tier 2) for a kernel without AVX2, else nil.
    public static func coreType(replacing detected: String, cpuVectorTier: Int) -> String? {
        guard let name = heed_blas_coretype_for(detected, Int32(cpuVectorTier)) else { return nil }
        return String(cString: name)
    }

    /// The widest vector extensions this CPU and OS run, grouped as OpenBLAS's kernels are: 0 SSE
    /// (or not x86-64), 1 AVX, 2 AVX2 with FMA, 3 AVX-512 (F, CD, BW, DQ, VL).
    public static var cpuVectorTier: Int { Int(heed_cpu_vector_tier()) }

    /// What OpenBLAS detected; `HEED_TEST_BLAS_DETECTED` stands in for it so the CLI's test can
    /// exercise the restart on a CPU that OpenBLAS knows (never set it otherwise).
    public static var detectedKernel: String { environment("HEED_TEST_BLAS_DETECTED") ?? kernel }

    /// The environment variable recording a restart's choice (for `kernelDescription`).
    public static let replacedKernelVariable = "HEED_BLAS_REPLACED"

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name), value.pointee != 0 else { return nil }
        return String(cString: value)
    }
    /// The seed of the perturbation test mode (`HEED_BLAS_PERTURB`, debug builds only), nil when
    /// off: every BLAS result is then moved by a few ulps, as another kernel would round it.
    public static var perturbation: UInt64? {
        let seed = heed_blas_perturbation()
        return seed == 0 ? nil : seed
    }
    /// Sets the process's default BLAS and loop threads: for a program's entry point (the CLI),
    /// before any work starts. Library calls never write it; they scope their own setting to the
    /// calling thread with `withThreads`.
    public static func setThreads(_ n: Int) {
        heed_threads_set_default(Int32(max(1, n)), Int32(max(1, n)))
    }

    /// BLAS threads for the products this thread runs: its `withThreads` scope's, else the
    /// process default.
    public static var threads: Int { Int(heed_threads_blas()) }

    /// Threads for HeedNN's own large elementwise loops (Adam, clipping, summing gradients) run on
    /// this thread: its scope's, else the process default. Data-parallel training raises it to the
    /// worker count while BLAS runs one thread per worker. The loops' results do not depend on it.
    public static var loopThreads: Int { Int(heed_threads_loops()) }

    /// Runs `body` with BLAS and loop thread counts of its own, seen by this thread only, so
    /// concurrent calls (the trials of `heed tune`, the server's workers) each keep theirs.
    public static func withThreads<R>(_ blas: Int, loops: Int? = nil, _ body: () throws -> R) rethrows -> R {
        let scope = ThreadScope(blas, loops: loops)
        defer { scope.end() }
        return try body()
    }

    /// `withThreads` for a scope that is not one closure: ends where `end()` is called (in a `defer`).
    package struct ThreadScope {
        private let previous: (blas: Int32, loops: Int32)
        /// Starts `blas` BLAS threads and `loops` loop threads (default: `blas`) on this thread.
        package init(_ blas: Int, loops: Int? = nil) {
            previous = (heed_threads_scoped_blas(), heed_threads_scoped_loops())
            heed_threads_scope(Int32(max(1, blas)), Int32(max(1, loops ?? blas)))
        }
        /// Puts back the setting the scope found.
        package func end() { heed_threads_scope(previous.blas, previous.loops) }
    }

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major. Empty products are handled here
    /// (k == 0 only scales C), so callers need not special-case zero-sized batches.
    @inline(__always)
    static func gemm(
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : row[j] * beta }
            }
            return
        }
        if m <= 2 && !transA {
            // Row-vector products (batch-1 inference, the last few active rows of a sorted
            // batch): GEMV avoids GEMM re-packing the whole weight matrix on every call.
            for i in 0..<m {
                // Some OpenBLAS versions compute β·y even for β = 0 (NaN-propagating); zero first.
                if beta == 0 { (c + i * ldc).update(repeating: 0, count: n) }
                if transB {  // c_i[n] = B[n×k] · a_i
                    heed_sgemv(0, Int32(n), Int32(k), alpha, b, Int32(ldb), a + i * lda, beta, c + i * ldc)
                } else {  // c_i[n] = B[k×n]ᵀ · a_i
                    heed_sgemv(1, Int32(k), Int32(n), alpha, b, Int32(ldb), a + i * lda, beta, c + i * ldc)
                }
            }
            return
        }
        heed_sgemm(
            transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Rows per call for the recurrent products of one LSTM step (few rows against the same
    /// weights every step), or nil for one call. OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake,
    /// SapphireRapids) have a small-matrix path that skips packing B, taken for NN products with
    /// m·n·k ≤ 10⁶ (OpenBLAS 0.3.21). At H = 128 (n·k = 4H·H) it does 8 rows in 9 µs against 22 µs
    /// for the packed product, and 64 rows as eight such calls in 74 µs against 91 µs. The forward
    /// product (k = H) comes out the same bits as one packed product; the backward's (k = 4H) does
    /// not from 16 rows up, where the packed path splits k in two, so weights trained here moved in
    /// their last bits when blocking came (still one result per seed; checked on Cooperlake and
    /// SkylakeX at bench/step_gemm.py's shapes). Blocks under 4 rows lose more to per-call cost
    /// than packing costs, and other kernels have no such path (Haswell's blocked 8-row calls took
    /// 1.7× as long), so they keep one packed product.
    static func recurrentBlockRows(n: Int, k: Int) -> Int? {
        guard smallMatrixKernel else { return nil }
        let rows = min(8, 1_000_000 / max(1, n * k))
        return rows >= 4 ? rows : nil
    }

    private static let smallMatrixKernel: Bool = heed_blas_kernel_is_avx512() != 0

    /// Whether the LSTM's recurrent products run on CHeedBLAS's packed kernel (`gemmPacked`)
    /// instead of the BLAS library: on x86-64 CPUs with AVX2 and FMA whose OpenBLAS kernel has no
    /// small-matrix path (`recurrentBlockRows` is for those that have one). On an AMD EPYC (Zen 3,
    /// OpenBLAS `Zen`) it ran the step's shapes 1.1–1.6× as fast as OpenBLAS (BENCHMARKS §5c).
    /// `HEED_RECURRENT_PRODUCTS=blas` or `=packed` overrides the choice (benchmarks compare the two
    /// in one binary; `packed` where the CPU cannot run it is ignored).
    public static let packedRecurrent: Bool = {
        guard packedKernelAvailable else { return false }
        switch environment("HEED_RECURRENT_PRODUCTS") {
        case "blas": return false
        case "packed": return true
        default: return !smallMatrixKernel && kernel != "Accelerate"
        }
    }()

    /// Whether this CPU runs the packed kernel at all (x86-64 with AVX2 and FMA).
    static var packedKernelAvailable: Bool { heed_packed_gemm_available() != 0 }

    /// The packed kernel's variant on this CPU ("avx512", "avx2", or "none"); all give the same bits.
    public static var packedKernelVariant: String {
        switch heed_packed_gemm_variant() {
        case 3: "avx512"
        case 2: "avx2"
        default: "none"
        }
    }

    /// Whether the other products (the once-per-batch ones: input projections, weight gradients)
    /// run on the packed kernel too, B packed per call, instead of the BLAS library: on CPUs with
    /// AVX-512 whose OpenBLAS kernel does not use it (`OPENBLAS_CORETYPE=Haswell`, or a CPU
    /// OpenBLAS does not know), where it ran them about twice as fast, and only for calls made
    /// with one BLAS thread. `HEED_BATCH_PRODUCTS=blas` or `=heed` overrides the choice.
    public static var ownBatchProducts: Bool { heed_own_batch_products() != 0 }

    /// Floats `packB` writes for a k×n B.
    static func packedCount(k: Int, n: Int) -> Int { heed_packed_floats(Int32(k), Int32(n)) }

    /// Packs B [k×n] (with `transposed`, B is stored n×k, as W_hh is for the forward's W_hhᵀ).
    static func packB(k: Int, n: Int, _ b: UnsafePointer<Float>, _ ldb: Int, transposed: Bool, into packed: UnsafeMutablePointer<Float>) {
        heed_pack_b(Int32(k), Int32(n), b, Int32(ldb), transposed ? 1 : 0, packed)
    }

    /// C[m×n] += A[m×k] · B, B packed by `packB`; only where `packedRecurrent` may be set.
    @inline(__always)
    static func gemmPacked(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ packed: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        heed_sgemm_packed(Int32(m), Int32(n), Int32(k), a, Int32(lda), packed, c, Int32(ldc))
    }

    /// C[m×n] += A[m×k] · B[k×n] in blocks of `blockRows` rows (see `recurrentBlockRows`). Every
    /// block goes to GEMM, short ones too, so each row comes out as it would from one product.
    @inline(__always)
    static func gemmRowBlocks(
        _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, blockRows: Int
    ) {
        var r = 0
        while r < m {
            let rows = min(blockRows, m - r)
            heed_sgemm(0, 0, Int32(rows), Int32(n), Int32(k), 1, a + r * lda, Int32(lda), b, Int32(ldb), 1, c + r * ldc, Int32(ldc))
            r += rows
        }
    }

    /// y = alpha · op(A) · x + beta · y with A stored row-major as m×n.
    @inline(__always)
    static func gemv(
        _ transA: Bool, _ m: Int, _ n: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
        _ x: UnsafePointer<Float>, _ beta: Float, _ y: UnsafeMutablePointer<Float>
    ) {
        if m == 0 || n == 0 { return }
        if beta == 0 { y.update(repeating: 0, count: transA ? n : m) }
        heed_sgemv(transA ? 1 : 0, Int32(m), Int32(n), alpha, a, Int32(lda), x, beta, y)
    }

    @inline(__always)
    static func axpy(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        if n > 0 { heed_saxpy(Int32(n), alpha, x, y) }
    }

    @inline(__always)
    static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        n > 0 ? heed_sdot(Int32(n), x, y) : 0
    }
}
