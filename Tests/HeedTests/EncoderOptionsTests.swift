import Foundation
import HeedNN
import Testing

@testable import Heed

/// `TrainingOptions.encoder` and `diversityWeight`: stored, checked, and mapped to the network.
@Suite struct EncoderOptionsTests {
    /// Older options files (no encoder) train the plain LSTM and write no encoder fields, so a
    /// plain model's file is what it was; set fields round-trip.
    @Test func optionsRoundTripAndOlderFilesArePlain() throws {
        let old = try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"model":"attention","epochs":15}"#.utf8))
        #expect(old.encoder == nil && old.resolvedEncoder == .lstm && old.diversityWeight == nil)
        let plain = String(decoding: try JSONEncoder().encode(TrainingOptions()), as: UTF8.self)
        #expect(!plain.contains("encoder") && !plain.contains("diversityWeight"))
        var set = TrainingOptions()
        (set.encoder, set.diversityWeight) = (.diversity, 0.25)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(set)) == set)
    }

    @Test func configAndNameFollowTheEncoder() throws {
        var o = TrainingOptions()
        #expect(o.classifierConfig(vocabularySize: 10, classes: 2).encoder == nil && o.networkName == "bilstm-attention")
        o.encoder = .orthogonal
        let orthogonal = o.classifierConfig(vocabularySize: 10, classes: 2)
        #expect(orthogonal.encoder == .orthogonal && orthogonal.diversityWeight == nil)
        #expect(o.networkName == "bilstm-attention, orthogonal encoder")
        o.encoder = .diversity
        #expect(o.classifierConfig(vocabularySize: 10, classes: 2).diversityWeight == TrainingOptions.defaultDiversityWeight)
        o.diversityWeight = 2
        #expect(o.classifierConfig(vocabularySize: 10, classes: 2).diversityWeight == 2)
        #expect(o.networkName == "bilstm-attention, diversity encoder λ 2.0")
        o.encoder = .lstm
        #expect(o.classifierConfig(vocabularySize: 10, classes: 2).encoder == nil)
    }

    @Test func diversityWeightIsChecked() {
        var o = TrainingOptions()
        o.diversityWeight = 0.5
        #expect(throws: TrainingError.diversityWeightWithoutDiversity) { try o.validate() }
        o.encoder = .orthogonal
        #expect(throws: TrainingError.diversityWeightWithoutDiversity) { try o.validate() }
        o.encoder = .diversity
        #expect(throws: Never.self) { try o.validate() }
        for bad: Float in [-0.1, .infinity, .nan] {
            o.diversityWeight = bad
            #expect(throws: TrainingError.self) { try o.validate() }
        }
        o.diversityWeight = 0
        #expect(throws: Never.self) { try o.validate() }
    }
}
