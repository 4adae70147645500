import CHeedBLAS

/// Thin façade over the C BLAS target; the rest of HeedNN calls only this.
public enum BLAS {
    public static var kernel: String { String(cString: heed_blas_kernel()) }
    public static func setThreads(_ n: Int) { heed_blas_set_threads(Int32(n)) }
}
