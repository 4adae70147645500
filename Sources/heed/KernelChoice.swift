import HeedNN

#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS chooses its kernels once, as it loads, from `OPENBLAS_CORETYPE` or its own CPU
/// detection. When that detection fell back to kernels without AVX2 on a CPU that has it
/// (`BLAS.preferredCoreType`), the CLI sets the variable and restarts itself in place, before it
/// reads an argument, so every product runs at the CPU's speed. The restart happens at most once:
/// the variable is set in the restarted process. If exec fails, the run goes on as detected.
enum KernelChoice {
    static func restartIfDetectionFellBack() {
        #if os(Linux)
        guard let coreType = BLAS.preferredCoreType else { return }
        setenv(BLAS.replacedKernelVariable, BLAS.restartRecord(detected: BLAS.detectedKernel, coreType: coreType), 1)
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(BLAS.replacedKernelVariable)
        #endif
    }
}
