import Testing

@testable import HeedText

@Test func icuVersionIsReported() {
    #expect(!ICU.version.isEmpty)
}
