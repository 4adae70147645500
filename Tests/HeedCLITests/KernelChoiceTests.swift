import Foundation
import Testing

/// The CLI's restart when OpenBLAS's detection fell back below AVX2 (`BLAS.preferredCoreType`),
/// driven by `HEED_TEST_BLAS_DETECTED`, which stands in for the detection.
@Suite struct KernelChoiceTests {
    /// This CPU's flags as /proc/cpuinfo lists them (empty off Linux).
    var cpuFlags: Set<String> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(line.split(separator: ":", maxSplits: 1).last!.split(separator: " ").map(String.init))
    }

    var environmentWithoutCoreType: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env["HEED_BLAS_REPLACED"] = nil
        return env
    }

    @Test func aFallbackDetectionRestartsWithTheKernelTheCPURuns() throws {
        let flags = cpuFlags
        var env = environmentWithoutCoreType
        env["HEED_TEST_BLAS_DETECTED"] = "Prescott"
        let r = try heed(["--version"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let avx512 = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
        let avx2 = flags.contains("avx2") && flags.contains("fma")
        if avx512 {
            #expect(r.stdout.contains("BLAS SkylakeX, chosen over Prescott,"), "\(r.stdout)")
        } else if avx2 {
            #expect(r.stdout.contains("BLAS Haswell, chosen over Prescott,"), "\(r.stdout)")
        } else {
            #expect(!r.stdout.contains("chosen over"), "\(r.stdout)")
        }
    }

    /// Heed's default of one BLAS thread holds from the start, whatever OpenBLAS would pick for the
    /// cores (its idle threads spin between the small products of an explanation).
    @Test func oneBLASThreadFromTheStart() throws {
        var env = environmentWithoutCoreType
        env["OPENBLAS_NUM_THREADS"] = "2"
        let r = try heed(["--version"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("default BLAS threads 1)"), "\(r.stdout)")
    }

    @Test func aDetectionThatIsNotAFallbackIsKept() throws {
        var env = environmentWithoutCoreType
        env["HEED_TEST_BLAS_DETECTED"] = "Haswell"
        let r = try heed(["--version"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("chosen over"), "\(r.stdout)")
    }

    /// A user's own OPENBLAS_CORETYPE always wins (here only for --version, which multiplies nothing).
    @Test func theUsersCoreTypeIsKept() throws {
        var env = environmentWithoutCoreType
        env["HEED_TEST_BLAS_DETECTED"] = "Prescott"
        env["OPENBLAS_CORETYPE"] = "Prescott"
        let r = try heed(["--version"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("BLAS Prescott,"), "\(r.stdout)")
        #expect(!r.stdout.contains("chosen over"), "\(r.stdout)")
    }
}
