import Testing

@testable import HeedNN

@Test func blasKernelIsReported() {
    #expect(!BLAS.kernel.isEmpty)
}
