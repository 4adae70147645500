import Foundation
import Testing

@testable import HeedNN

/// A model built to be filled from a file draws no random values but leaves its generator where
/// the seed-0 initialisation leaves it, so nothing that reads the stream later can tell.
@Suite struct LoadingInitTests {
    @Test func normalDrawsWithoutValuesAdvanceTheSameStream() {
        var drawn = Rng(seed: 5), skipped = Rng(seed: 5)
        skipped.computesValues = false
        var values: [Float] = []
        for i in 0..<200 {
            values.append(drawn.normal())
            #expect(skipped.normal() == 0)
            if i % 3 == 0 { #expect(drawn.uniform(-1, 1) == skipped.uniform(-1, 1)) }
        }
        #expect(values.contains { $0 != 0 })
        #expect(drawn.state == skipped.state)
    }

    /// Same generator state and shapes as a seed-0 model; the normally drawn embedding is left at
    /// zero and every uniformly drawn tensor is as drawn.
    func expectLoadingMatchesSeedZero<N: ParameterizedNetwork>(_ seeded: N, _ loading: N) {
        #expect(seeded.rngState == loading.rngState)
        #expect(seeded.parameters.map(\.name) == loading.parameters.map(\.name))
        for (a, b) in zip(seeded.parameters, loading.parameters) {
            if a.name == "embedding.weight" {
                #expect(b.values.allSatisfy { $0 == 0 } && a.values.contains { $0 != 0 })
            } else {
                #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "\(a.name)")
            }
        }
        let replica = seeded.replica()
        #expect(replica.rngState == seeded.rngState)
        #expect(zip(replica.parameters, seeded.parameters).allSatisfy { $0.value == $1.value })
    }

    @Test func everyNetworkLoadsFromSeedZerosState() {
        let flat = ClassifierConfig(
            vocabSize: 30, embedDim: 5, hiddenDim: 4, bidirectional: true, pooling: .attention, scorer: .additive, classes: 3, dropout: 0.3)
        expectLoadingMatchesSeedZero(Classifier(config: flat, seed: 0), Classifier(forLoading: flat))
        let han = HierarchicalConfig(vocabSize: 20, embedDim: 6, wordHiddenDim: 5, sentenceHiddenDim: 4, classes: 3)
        expectLoadingMatchesSeedZero(HierarchicalClassifier(config: han, seed: 0), HierarchicalClassifier(forLoading: han))
        let lm = LanguageModelConfig(vocabSize: 13, embedDim: 4, hiddenDim: 3, bidirectional: true, dropout: 0.1)
        expectLoadingMatchesSeedZero(LanguageModel(config: lm, seed: 0), LanguageModel(forLoading: lm))
    }

    @Test func aLoadedFileHasItsValuesAndTheSeedZeroStream() throws {
        let config = ClassifierConfig(vocabSize: 30, embedDim: 5, hiddenDim: 4, bidirectional: true, pooling: .attention, classes: 3)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heed-loading-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        let model = Classifier(config: config, seed: 9)
        try ModelFile.save(model, to: url, metadata: [:])
        let (loaded, _) = try ModelFile.load(from: url)
        #expect(loaded.rngState == Classifier(config: config, seed: 0).rngState)
        for (a, b) in zip(model.parameters, loaded.parameters) { #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern)) }
    }
}
