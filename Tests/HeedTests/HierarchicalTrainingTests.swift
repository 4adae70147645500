import Foundation
import HeedNN
import HeedText
import Testing

@testable import Heed

/// `--model han` above the network: the sentence level of the one text → input path, bucketed
/// training with workers, the model file, and predictions with sentence weights.
@Suite(.serialized) struct HierarchicalTrainingTests {
    /// Small enough for a debug build: short sentences, few of them, narrow layers.
    func hanOptions() -> TrainingOptions {
        var o = smallOptions(.han)
        o.maxSentences = 4
        o.maxWords = 16
        o.epochs = 3
        return o
    }

    func vocabulary(_ docs: [LabelledText]) throws -> Vocabulary {
        let tokenizer = try Tokenizer(settings: .default)
        return Vocabulary(counts: try Trainer.countTokens(docs, tokenizer: tokenizer, file: "train"), minCount: 1, maxSize: 5000)
    }

    func temporaryModel() -> URL { URL(fileURLWithPath: NSTemporaryDirectory() + "heed-han-\(UUID().uuidString).heed") }

    func remove(_ url: URL) {
        for u in [url, Trainer.logURL(for: url), Trainer.checkpointURL(for: url)] { try? FileManager.default.removeItem(at: u) }
    }

    @Test func theEncoderCutsToSentencesAndWords() throws {
        let text = "One two three four. Five six! Seven eight nine? Ten eleven. Twelve."
        let docs = [LabelledText(label: "a", text: text), LabelledText(label: "b", text: "x y")]
        var options = hanOptions()
        (options.maxSentences, options.maxWords) = (3, 3)
        let encoder = try DocumentEncoder(vocabulary: try vocabulary(docs), options: options)
        let tokenizer = try Tokenizer(settings: .default)
        let input = networkInput(
            text, vocabulary: encoder.vocabulary, tokenizer: tokenizer, maxLength: options.maxLength, subwords: nil, keepTokens: true,
            sentenceLevel: encoder.sentenceLevel)
        let sentences = try #require(input.sentences)
        #expect(sentences.map(\.tokenCount) == [3, 2, 3])
        #expect(sentences.map(\.firstToken) == [0, 3, 5])
        #expect(input.truncated)
        #expect(input.tokens.map(\.text) == ["one", "two", "three", "five", "six", "seven", "eight", "nine"])
        let bytes = Array(text.utf8)
        #expect(String(decoding: bytes[sentences[1].start..<sentences[1].end], as: UTF8.self) == "Five six! ")
        for s in sentences {
            for t in input.tokens[s.firstToken..<(s.firstToken + s.tokenCount)] { #expect(s.start <= t.start && t.end <= s.end) }
        }
        // Training documents carry the same ids and sentence lengths.
        let (encoded, skipped) = try encoder.encode(docs, file: "t")
        #expect(skipped == 0)
        #expect(encoded[0].ids == input.ids && encoded[0].sentenceLengths == [3, 2, 3])
        #expect(encoded[1].sentenceLengths == [2])
        let whole = networkInput(
            "Short one.", vocabulary: encoder.vocabulary, tokenizer: tokenizer, maxLength: 1, subwords: nil, keepTokens: false,
            sentenceLevel: encoder.sentenceLevel)
        #expect(whole.ids.count == 2 && !whole.truncated, "--max-len does not bound a han document")
    }

    @Test func selectingTokensKeepsTheirSentences() {
        let s = TokenSequence(ids: [5, 6, 7, 8, 9, 10], pieces: nil, sentenceLengths: [2, 1, 3])
        #expect(s.selecting([0, 1, 3, 4, 5]).sentenceLengths == [2, 3], "a sentence left without tokens is dropped")
        #expect(s.selecting([1, 2, 5]).sentenceLengths == [1, 1, 1])
        #expect(s.selecting(sentences: [0, 2]).ids == [5, 6, 8, 9, 10])
        #expect(s.selecting(sentences: [0, 2]).sentenceLengths == [2, 3])
    }

    @Test func bucketsBySentenceCount() {
        let docs = (0..<40).map { i in
            let sentences = 1 + i % 5
            return EncodedDocument(
                ids: [Int32](repeating: 3, count: sentences * 2), pieces: nil, label: 0, line: i + 1,
                sentenceLengths: [Int](repeating: 2, count: sentences))
        }
        var generator: Rng? = Rng(seed: 4)
        let batches = Bucketing.batches(docs, size: 8, shuffle: &generator)
        #expect(batches.joined().sorted() == Array(0..<40))
        for batch in batches { #expect(Set(batch.map { docs[$0].sentenceLengths!.count }).count == 1) }
        let batch = HierarchicalBatch(docs, indices: batches[0])
        #expect(batch.documents == 8 && batch.ids.count == batch.sentenceLengths.reduce(0, +))
    }

    @Test func smallCorpusTrainsAboveMajority() throws {
        let (train, test) = try smallTopicCorpus()
        let result = try Trainer(options: hanOptions()).train(train)
        #expect(result.classifier.isHierarchical && result.classifier.modelKind == .han)
        let evaluation = try result.classifier.evaluate(test)
        let majority = Double(test.filter { $0.label == "games" }.count) / Double(test.count)
        #expect(evaluation.accuracy > majority + 0.1, "accuracy \(evaluation.accuracy) vs majority \(majority)")
        #expect(result.log.allSatisfy { $0.trainLoss.isFinite })
        #expect(result.log.last!.trainLoss < result.log.first!.trainLoss)
    }

    /// The same seed and worker count give the same model file, bit for bit; a checkpoint resumes.
    @Test(arguments: [1, 2])
    func deterministicPerWorkerCount(workers: Int) throws {
        let (train, _) = try smallTopicCorpus()
        var options = hanOptions()
        options.epochs = 1
        options.workers = workers
        var files: [Data] = []
        for _ in 0..<2 {
            let url = temporaryModel()
            defer { remove(url) }
            var trainer = Trainer(options: options)
            trainer.output = url
            _ = try trainer.train(Array(train.prefix(80)))
            files.append(try Data(contentsOf: url))
            #expect(FileManager.default.fileExists(atPath: Trainer.checkpointURL(for: url).path))
        }
        #expect(files[0] == files[1])
    }

    /// Two epochs straight, or one and a resume from its checkpoint: the same model file.
    @Test func resumesFromItsCheckpoint() throws {
        let (train, _) = try smallTopicCorpus()
        let docs = Array(train.prefix(60))
        var options = hanOptions()
        options.epochs = 2
        let straight = temporaryModel(), split = temporaryModel()
        defer { remove(straight); remove(split) }
        var trainer = Trainer(options: options)
        trainer.output = straight
        _ = try trainer.train(docs)
        options.epochs = 1
        trainer = Trainer(options: options)
        trainer.output = split
        _ = try trainer.train(docs)
        options.epochs = 2
        trainer = Trainer(options: options)
        (trainer.output, trainer.resume) = (split, Trainer.checkpointURL(for: split))
        _ = try trainer.train(docs)
        #expect(try Data(contentsOf: straight) == Data(contentsOf: split))
    }

    /// `explain --metrics` for han: token-level tables with attention = word × sentence weight,
    /// sentence-level τ from the sentence scores, conicity at both levels, no permutation test.
    @Test func faithfulnessAtBothLevels() throws {
        let (train, test) = try smallTopicCorpus()
        var options = hanOptions()
        options.epochs = 1
        let classifier = try Trainer(options: options).train(Array(train.prefix(90))).classifier
        var f = FaithfulnessOptions()
        f.steps = 4
        f.permutations = 5
        let texts = test.prefix(10).map(\.text) + ["", "One. Two three."]
        let analysis = try classifier.faithfulness(of: texts, options: f)
        let s = analysis.summary
        #expect(s.documents == 11 && s.skipped == 1)
        #expect(s.permutation == nil && analysis.documents.allSatisfy { $0.permutation == nil })
        let pairs = try #require(s.sentenceAgreement).map { "\($0.first)~\($0.second)" }
        #expect(pairs == ["attention~occlusion", "attention~integrated-gradients", "integrated-gradients~occlusion"])
        #expect(s.agreement.count == 10 && s.erasure.count == 6)
        let words = try #require(s.conicity), sentences = try #require(s.sentenceConicity)
        #expect(words.documents == 11 && sentences.documents == 11)
        #expect((-1...1).contains(words.mean) && (-1...1).contains(sentences.mean))
        // Each document alone, as explain scores it (a batch of several may round differently).
        let predictions = try texts.map { try classifier.predict([$0])[0] }
        for (d, p) in zip(analysis.documents, predictions) where !p.tokens.isEmpty {
            // The token attention measured is the one predict reports: word × sentence weight.
            #expect(d.explanation.scores(.attention) == p.tokens.map { $0.weight! })
            let sentenceScores = try #require(d.explanation.sentenceScores)
            #expect(sentenceScores["attention"] == p.sentences!.map { $0.weight! })
            let n = p.sentences!.count
            for a in try #require(d.sentenceAgreement) {
                // τ-b over the sentences, recomputed from the scores; undefined for a lone sentence.
                let tau = RankCorrelation(sentenceScores[a.first]!, sentenceScores[a.second]!)
                #expect(a.correlation == tau && (n >= 2 || tau == nil))
            }
            if n == 1 { #expect(abs(d.sentenceConicity! - 1) < 1e-9, "a lone sentence state points at its own mean") }
        }
    }

    @Test func modelFileRoundTripsWithBitEqualPredictions() throws {
        let (train, test) = try smallTopicCorpus()
        var options = hanOptions()
        options.epochs = 1
        let classifier = try Trainer(options: options).train(Array(train.prefix(90))).classifier
        let url = temporaryModel()
        defer { remove(url) }
        try classifier.write(to: url)
        let (network, metadata) = try ModelFile.loadNetwork(from: url)
        #expect(metadata["model"] == "han")
        guard case .hierarchical(let model) = network else { Issue.record("not read back as han"); return }
        #expect(model.config == options.hierarchicalConfig(vocabularySize: classifier.vocabulary.count, classes: 3))
        #expect(throws: ModelFileError.self) { try ModelFile.load(from: url) }  // the flat loader refuses it
        let loaded = try TextClassifier(contentsOf: url)
        #expect(loaded.isHierarchical && loaded.options == classifier.options)
        let texts = test.prefix(12).map(\.text) + ["", "One. Two three."]
        let (a, b) = (try classifier.predict(texts), try loaded.predict(texts))
        for (p, q) in zip(a, b) {
            #expect(p.probabilities.map(\.bitPattern) == q.probabilities.map(\.bitPattern))
            #expect(p.tokens == q.tokens && p.sentences == q.sentences)
        }
    }

    /// Predict's sentences slice the text, their weights and the token weights each sum to 1, and
    /// a sentence's token weights sum to its own weight (word attention × sentence attention).
    @Test func predictionsCarrySentencesWithOffsets() throws {
        let (train, _) = try smallTopicCorpus()
        var options = hanOptions()
        options.epochs = 1
        let classifier = try Trainer(options: options).train(Array(train.prefix(90))).classifier
        let text = "Play chess against the computer.  A card game for two!\nSynthesizer with MIDI input. Ünïcödé words here."
        let p = try classifier.predict(text)
        let sentences = try #require(p.sentences)
        #expect(sentences.count == 4)
        let bytes = Array(text.utf8)
        #expect(sentences.first!.start == 0 && sentences.last!.end == bytes.count)
        for (s, next) in zip(sentences, sentences.dropFirst()) { #expect(s.end == next.start) }
        var expectedFirst = 0
        for s in sentences {
            #expect(s.firstToken == expectedFirst)
            expectedFirst += s.tokenCount
            let tokens = p.tokens[s.firstToken..<(s.firstToken + s.tokenCount)]
            for t in tokens { #expect(s.start <= t.start && t.end <= s.end) }
            // Float sums of ≤ 16 products in [0, 1]: a few ulps of 1.
            let sum = tokens.reduce(Float(0)) { $0 + $1.weight! }
            #expect(abs(sum - s.weight!) <= 1e-5)
        }
        #expect(expectedFirst == p.tokens.count)
        #expect(abs(sentences.reduce(Float(0)) { $0 + $1.weight! } - 1) <= 1e-5)
        #expect(abs(p.tokens.reduce(Float(0)) { $0 + $1.weight! } - 1) <= 1e-5)
        #expect(String(decoding: bytes[sentences[1].start..<sentences[1].end], as: UTF8.self) == "A card game for two!\n")

        let json = try resultEncoder().encode(PredictionJSON(text: text, prediction: p, topK: nil, threshold: nil))
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let first = try #require((object["sentences"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["start", "end", "first_token", "token_count", "weight"])

        // An explanation scores tokens and whole sentences; integrated gradients stays complete.
        let e = try classifier.explain(text, steps: 64)
        #expect(e.scores(.integratedGradients)?.count == p.tokens.count)
        #expect(e.sentenceScores?["occlusion"]?.count == 4 && e.sentenceScores?["attention"]?.count == 4)
        #expect(e.integratedGradientsGap! <= 0.05 * max(abs(e.integratedGradientsDelta!), 0.1))
        #expect(e.tokens.map(\.weight) == p.tokens.map(\.weight))
    }

    @Test func unsupportedFeaturesAreRefusedWithAClearMessage() throws {
        let (train, test) = try smallTopicCorpus()
        var options = hanOptions()
        options.epochs = 1
        var trainer = Trainer(options: options)
        trainer.unlabelled = Array(test.prefix(5))
        #expect(throws: HeedError.self) { try trainer.train(Array(train.prefix(60))) }
        let classifier = try Trainer(options: options).train(Array(train.prefix(60))).classifier
        #expect(try LatencyBenchmark.run(classifier, documents: Array(test.prefix(3)), runs: 2, warmup: 1).runs == 2)
        #expect(try !classifier.onnxModel().isEmpty, "han exports (docs/onnx.md, \"Han models\")")
        options.encoder = .orthogonal
        #expect(throws: TrainingError.encoderWithHierarchical) { try options.validate() }
    }
}
