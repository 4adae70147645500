import Foundation
import Testing

@testable import HeedText

@Suite struct VocabularyTests {
    let corpus = "\(repositoryRoot)/corpora/sentiment-en-rt/train.tsv"

    @Test func orderIsCountThenBytesAndSpecialsFirst() throws {
        let s = Scratch()
        let p = s.file("a.tsv", "pos\tb a c a b a\nneg\tc d d e\npos\tz\n")
        let v = try Vocabulary.build(from: [CorpusSource(path: p)], tokenizer: Tokenizer(), minCount: 2)
        #expect(v.allTokens == ["<pad>", "<unk>", "a", "b", "c", "d"])  // a:3, then b, c, d at 2 by bytes
        #expect(v.tokenCount(1) == 2)  // e and z fell to <unk>
        #expect(v.labels == ["neg", "pos"])
        #expect(v.id(of: "d") == 5 && v.id(of: "zzz") == Vocabulary.unknownID)
        let capped = try Vocabulary.build(from: [CorpusSource(path: p)], tokenizer: Tokenizer(), minCount: 1, maxSize: 4)
        #expect(capped.allTokens == ["<pad>", "<unk>", "a", "b"])
    }

    @Test func unlabelledVocabularyTakesTheLabelsOfTrainingCounts() throws {
        let s = Scratch()
        let text = s.file("u.txt", "b a c a b a\nc d d e\n")
        let unlabelled = try Vocabulary.build(from: [CorpusSource(path: text, format: .text)], tokenizer: Tokenizer(), minCount: 2)
        #expect(unlabelled.labels.isEmpty)
        var train = TokenCounts(settings: unlabelled.settings)
        for label in ["pos", "neg", "pos"] { train.addDocument(label: label) }
        let labelled = unlabelled.labelled(by: train)
        #expect(labelled.labels == ["neg", "pos"] && labelled.labelCounts == [1, 2])
        #expect(labelled.allTokens == unlabelled.allTokens)
        #expect((0..<labelled.count).allSatisfy { labelled.tokenCount($0) == unlabelled.tokenCount($0) })
        #expect(labelled.id(of: "d") == unlabelled.id(of: "d") && labelled.id(of: "e") == Vocabulary.unknownID)
        // Ranks exchange label-only counts (no token entries) for such a vocabulary or an encoder's.
        let exchanged = try TokenCounts.load(bytes: try train.serialized(), name: "rank 1's token counts")
        #expect(exchanged.labelCounts == ["pos": 2, "neg": 1] && exchanged.documents == 3)
    }

    @Test func roundTripAndDeterminism() throws {
        let s = Scratch()
        let a = try Vocabulary.build(from: [CorpusSource(path: corpus)], tokenizer: Tokenizer())
        let b = try Vocabulary.build(from: [CorpusSource(path: corpus)], tokenizer: Tokenizer())
        #expect(try a.serialized() == b.serialized())
        try a.write(to: URL(fileURLWithPath: s.path + "/v.vocab"))
        let loaded = try Vocabulary.load(URL(fileURLWithPath: s.path + "/v.vocab"), expecting: .default)
        #expect(try loaded.serialized() == a.serialized())
        #expect(loaded.allTokens == a.allTokens && loaded.labels == ["neg", "pos"])
    }

    @Test func shardCountsMergeToTheWholeVocabulary() throws {
        // Split the corpus into three shards by line (i mod 3), count each, merge: identical bytes.
        let s = Scratch()
        let lines = try String(contentsOfFile: corpus, encoding: .utf8).split(separator: "\n")
        var shardPaths: [String] = []
        for shard in 0..<3 {
            let text = lines.enumerated().filter { $0.offset % 3 == shard }.map { String($0.element) }.joined(separator: "\n") + "\n"
            let tokenizer = try Tokenizer()
            var counts = TokenCounts(settings: tokenizer.settings)
            try counts.count(CorpusSource(path: s.file("shard\(shard).tsv", text)), tokenizer: tokenizer)
            try counts.write(to: URL(fileURLWithPath: s.path + "/shard\(shard).counts"))
            shardPaths.append(s.path + "/shard\(shard).counts")
        }
        var merged = try TokenCounts.load(URL(fileURLWithPath: shardPaths[0]))
        for p in shardPaths.dropFirst() { try merged.merge(TokenCounts.load(URL(fileURLWithPath: p))) }
        let whole = try Vocabulary.build(from: [CorpusSource(path: corpus)], tokenizer: Tokenizer())
        #expect(try Vocabulary(counts: merged).serialized() == whole.serialized())
    }

    @Test func settingsMismatchIsAnError() throws {
        let s = Scratch()
        let p = s.file("a.tsv", "pos\tHello world hello\n")
        let v = try Vocabulary.build(from: [CorpusSource(path: p)], tokenizer: Tokenizer())
        try v.write(to: URL(fileURLWithPath: s.path + "/v.vocab"))
        #expect(throws: HeedTextError.settingsMismatch(file: s.path + "/v.vocab", differences: ["normalization nfkc-casefold vs none"])) {
            try Vocabulary.load(URL(fileURLWithPath: s.path + "/v.vocab"), expecting: .init(normalization: .none))
        }
        var other = TokenCounts(settings: .init(maskNumbers: true))
        #expect(throws: HeedTextError.self) { try other.merge(TokenCounts(settings: .default)) }
    }

    @Test func malformedFilesNameTheLine() throws {
        let s = Scratch()
        let header = "# heed vocabulary v1\t\(TokenizerSettings.default.headerFields)\tmin-count=2\n"
        let cases: [(String, Int)] = [
            ("hello\n", 1),
            (header + "<pad>\t0\n<unk>\t0\nword\n", 4),
            (header + "<pad>\t0\n<unk>\t0\nword\t1\nword\t2\n", 5),
            (header + "<unk>\t0\n<pad>\t0\n", 2),
            (header + "<pad>\t0\n<unk>\t-3\n", 3),
        ]
        for (i, (text, line)) in cases.enumerated() {
            let p = s.file("bad\(i).vocab", text)
            do { _ = try Vocabulary.load(URL(fileURLWithPath: p)); Issue.record("case \(i) loaded") } catch let e as HeedTextError {
                guard case .malformedVocabulary(let file, let l, _) = e else { Issue.record("case \(i): \(e)"); continue }
                #expect(file == p && l == line, "case \(i): \(e)")
            }
        }
    }
}
