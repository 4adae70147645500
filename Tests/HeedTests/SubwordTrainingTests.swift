import Foundation
import HeedNN
import Testing

@testable import Heed

/// A classifier with subword buckets: trained, saved, reloaded, explained, and readable by PyTorch.
@Suite(.serialized) struct SubwordTrainingTests {
    static func options() -> TrainingOptions {
        var o = smallOptions(.bilstmAttention)
        o.epochs = 2
        o.subwords = 3...5
        o.buckets = 2003
        return o
    }

    static let trained: Result<TrainingResult, any Error> = Result { try Trainer(options: options()).train(try smallTopicCorpus().train) }

    @Test func savesAndReloadsExactly() throws {
        let result = try Self.trained.get()
        let classifier = result.classifier
        #expect(classifier.config.subwordBuckets == 2003)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-subwords-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.heed")
        try classifier.write(to: url)
        let (_, meta) = try ModelFile.load(from: url)
        let entry = try #require(meta[TextClassifier.metadataKeys.subwords])
        #expect(entry.contains("\"buckets\":2003") && entry.contains("fnv1a-32") && entry.contains("\"minn\":3"))
        let loaded = try TextClassifier(contentsOf: url)
        #expect(loaded.options.subwords == 3...5)
        let texts = try smallTopicCorpus().test.prefix(20).map(\.text)
        let a = try classifier.predict(Array(texts)), b = try loaded.predict(Array(texts))
        #expect(a.map { $0.probabilities.map(\.bitPattern) } == b.map { $0.probabilities.map(\.bitPattern) })
    }

    /// Training touches only a fraction of the buckets; the optimizer kept moments for those rows alone.
    @Test func bucketTableLearnsOnlyUsedRows() throws {
        let classifier = try Self.trained.get().classifier
        let table = try #require(classifier.box.withModel { $0.parameter(named: "subwords.weight")?.values })
        let E = classifier.options.embeddingSize
        let used = (0..<2003).filter { r in (0..<E).contains { table[r * E + $0] != 0 } }.count
        #expect(used > 100 && used < 2003, "\(used) rows moved")
    }

    /// A word outside the vocabulary is read through its pieces: the text's prediction differs
    /// from the same ids scored without them, and occlusion removes a token's pieces with it.
    @Test func unknownWordsKeepTheirPieces() throws {
        let classifier = try Self.trained.get().classifier
        let text = "installing soundcards mathematically"
        let encoded = try classifier.encode([text])[0]
        #expect(encoded.ids.contains(1), "the test needs an unknown word: \(encoded.tokens.map(\.text))")
        let withPieces = try classifier.predict(text).probabilities
        let idsOnly = classifier.predict(ids: [encoded.ids])[0].probabilities
        #expect(withPieces != idsOnly)
        let explanation = try classifier.explain(text, methods: [.attention, .occlusion, .integratedGradients])
        #expect(explanation.scores["occlusion"]?.count == encoded.ids.count)
        // Integrated gradients' completeness holds with the subword input vectors too.
        #expect(try #require(explanation.integratedGradientsGap) <= 0.1 * abs(explanation.integratedGradientsDelta ?? 0) + 0.01)
    }

    /// Training documents keep only their `<unk>` tokens' lists (known words share the
    /// vocabulary's); expanded, they are each token's own buckets.
    @Test func compactTrainingPiecesEqualEachTokensOwn() throws {
        let (train, _) = try smallTopicCorpus()
        let tokenizer = try Tokenizer(settings: .default)
        let vocabulary = Vocabulary(counts: try Trainer.countTokens(train, tokenizer: tokenizer, file: "train"), minCount: 3, maxSize: 500)
        let encoder = try DocumentEncoder(
            vocabulary: vocabulary, maxLength: 60, subwords: SubwordSettings(minLength: 3, maxLength: 5, buckets: 997))
        let (docs, _) = try encoder.encode(train, file: "train")
        #expect(docs.contains { $0.ids.contains(Vocabulary.unknownID) })
        for doc in docs.prefix(60) {
            var expanded = PieceLists()
            doc.pieces!.append(ids: doc.ids, to: &expanded)
            let text = try #require(train.first { $0.line == doc.line }).text
            #expect(expanded == encoder.sequence(text).pieces, "line \(doc.line)")
        }
    }

    /// `HEED_MODEL_OUT=/tmp/s.heed swift test --filter subwordModelFileForPyTorch`, then
    /// `scripts/make_fixtures.py --check-model /tmp/s.heed`: PyTorch hashes the vocabulary's
    /// tokens itself and must reproduce these logits.
    @Test func subwordModelFileForPyTorch() throws {
        let classifier = try Self.trained.get().classifier
        let probe = classifier.predict(ids: [[3, 1], [2]])
        guard let out = ProcessInfo.processInfo.environment["HEED_MODEL_OUT"] else { return }
        var meta = try classifier.metadata()
        // Padded to 3 steps as the script's probe is: logits row by row.
        meta["check.logits"] = "[" + probe.flatMap(\.logits).map { "\($0)" }.joined(separator: ",") + "]"
        try classifier.box.withModel { try ModelFile.save($0, to: URL(fileURLWithPath: out), metadata: meta) }
    }
}
