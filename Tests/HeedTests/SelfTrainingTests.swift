import Foundation
import HeedIO
import HeedNN
import Testing

@testable import Heed

/// Half of the small topic corpus labelled, the other half as unlabelled text.
func selfTrainingData() throws -> (labelled: [LabelledText], unlabelled: [LabelledText]) {
    let (train, _) = try smallTopicCorpus()
    let labelled = train.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
    let unlabelled = train.enumerated().filter { $0.offset % 2 == 1 }.map { LabelledText(label: nil, text: $0.element.text, line: $0.element.line) }
    return (labelled, unlabelled)
}

@Suite(.serialized) struct SelfTrainingTests {
    /// Round 0 is a plain run: the dev split self-training carves is the trainer's own, so the
    /// same documents give the same log and weights, bit for bit.
    @Test func roundZeroIsThePlainRun() throws {
        let (labelled, _) = try selfTrainingData()
        let options = smallOptions(.attention)
        let plain = try Trainer(options: options).train(labelled)
        let (trainShard, devShard) = try SelfTraining.split(
            Shard(documents: labelled, indices: Array(labelled.indices)), dev: nil, options: options, collective: SingleProcess())
        let (train, dev) = (trainShard.documents, devShard.documents)
        #expect(train.count + dev.count == labelled.count && dev.count == plain.devDocuments)
        let split = try Trainer(options: options).train(train, dev: dev)
        #expect(split.log.map(\.devLoss) == plain.log.map(\.devLoss) && split.log.map(\.trainLoss) == plain.log.map(\.trainLoss))
        split.classifier.box.withModel { a in
            plain.classifier.box.withModel { b in
                for (p, q) in zip(a.parameters, b.parameters) { #expect(p.values == q.values, "\(p.name)") }
            }
        }
    }

    /// Two runs with the same seed agree bit for bit; the rounds say what they took, the taken
    /// texts keep the labelled proportions, and the kept model's file names its rounds.
    @Test func roundsAreDeterministicAndRecorded() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-self-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(_ name: String) throws -> SelfTrainingResult {
            var trainer = Trainer(options: smallOptions(.attention))
            trainer.output = dir.appendingPathComponent(name)
            var selfTraining = SelfTraining(trainer: trainer)
            (selfTraining.rounds, selfTraining.threshold) = (1, 0.5)
            return try selfTraining.train(labelled, unlabelled: unlabelled)
        }
        let a = try run("a.heed"), b = try run("b.heed")
        #expect(a.rounds.count == 2 && a.rounds.map(\.devAccuracy) == b.rounds.map(\.devAccuracy))
        #expect(try Data(contentsOf: dir.appendingPathComponent("a.heed")) == Data(contentsOf: dir.appendingPathComponent("b.heed")))
        #expect(a.kept.wroteModel && a.rounds.filter(\.kept).map(\.round) == [a.keptRound])

        let round = a.rounds[1]
        #expect(round.pseudoLabelled > 0 && round.pseudoLabelled <= round.confident && round.confident <= unlabelled.count)
        #expect(round.byLabel.values.reduce(0, +) == round.pseudoLabelled)
        #expect(round.confidentDevAccuracy != nil && round.confidentDevShare! > 0)

        let saved = try TextClassifier(contentsOf: dir.appendingPathComponent("a.heed"))
        #expect(saved.provenance.selfTraining?.rounds == a.rounds && saved.provenance.selfTraining?.threshold == 0.5)
    }

    /// A han model self-trains too. Its unlabelled texts are scored as `predict` reads any text
    /// (sentences of words), never as one flat sequence: the same probabilities, bit for bit.
    @Test func hierarchicalModelScoresTextsAsItPredicts() throws {
        let (labelled, single) = try selfTrainingData()
        // Two descriptions per text, so every text has several sentences.
        let unlabelled = stride(from: 0, to: single.count - 1, by: 2).map {
            LabelledText(label: nil, text: single[$0].text + " " + single[$0 + 1].text, line: single[$0].line)
        }
        var selfTraining = SelfTraining(trainer: Trainer(options: smallOptions(.han)))
        (selfTraining.rounds, selfTraining.threshold) = (1, 0.5)
        let result = try selfTraining.train(labelled, unlabelled: unlabelled)
        #expect(result.rounds.count == 2 && result.rounds[1].pseudoLabelled <= result.rounds[1].confident)
        let model = result.kept.classifier
        #expect(model.isHierarchical)
        var scored: [[Float]] = []
        try model.scoreTexts(unlabelled) { _, score in scored.append(score.probabilities) }
        let predicted = try model.predict(unlabelled.map(\.text))
        #expect(scored == predicted.map(\.probabilities))
        #expect(predicted.filter { ($0.sentences?.count ?? 0) > 1 }.count > unlabelled.count / 2)
    }

    /// Every text taken was predicted at or above the threshold with the label it was given, and
    /// per label the takes are the surest ones in the labelled set's proportions.
    @Test func confidentPicksAreSureAndProportional() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        let model = try Trainer(options: smallOptions(.attention)).train(labelled).classifier
        // Unequal proportions: 2 : 1 : 1.
        let counts = ["games": 40, "math": 20, "sound": 20]
        var seen: [String: Int] = [:]
        let proportions = labelled.filter { doc in
            seen[doc.label!, default: 0] += 1
            return seen[doc.label!]! <= counts[doc.label!]!
        }
        let threshold = 0.6
        let pick = try SelfTraining.confident(unlabelled, by: model, threshold: threshold, proportions: proportions)
        var scores: [(label: Int, p: Float)] = []
        try model.scoreTexts(unlabelled) { _, s in scores.append((s.best, s.probabilities[s.best])) }
        var taken = [Int](repeating: 0, count: model.labels.count)
        for (index, label) in pick.picks {
            #expect(scores[index].label == label && Double(scores[index].p) >= threshold)
            taken[label] += 1
        }
        let sure = (0..<model.labels.count).map { c in scores.filter { $0.label == c && Double($0.p) >= threshold }.count }
        #expect(pick.confident == sure.reduce(0, +))
        // Each class's take is floor(size · share); the class that limits the size takes all its sure texts.
        let share = model.labels.map { Double(counts[$0]!) / 80 }
        let size = (0..<share.count).map { Double(sure[$0]) / share[$0] }.min()!
        for c in taken.indices { #expect(taken[c] == Int((size * share[c]).rounded(.down)) || taken[c] == sure[c], "\(taken) of \(sure)") }
        #expect(pick.count > 0, "the model should be sure of some texts: \(sure)")
        // The takes are the surest: nothing left out of a class is surer than what it took.
        for c in taken.indices where taken[c] < sure[c] {
            let took = pick.picks.filter { $0.label == c }.map { scores[$0.index].p }.min() ?? 1
            let chosen = Set(pick.picks.filter { $0.label == c }.map(\.index))
            let leftOut = scores.indices.filter { !chosen.contains($0) && scores[$0].label == c }.map { scores[$0].p }.max() ?? 0
            #expect(leftOut <= took)
        }
    }

    @Test func badSettingsAreRefused() throws {
        var s = SelfTraining(trainer: Trainer())
        s.rounds = 0
        #expect(throws: SelfTrainingError.rounds(0)) { try s.validate() }
        s.rounds = 1
        s.threshold = 1
        #expect(throws: SelfTrainingError.threshold(1)) { try s.validate() }
        s.threshold = 0.9
        s.trainer.resume = URL(fileURLWithPath: "/nonexistent.ckpt")
        #expect(throws: SelfTrainingError.resume) { try s.validate() }
    }
}

@Suite struct ProvenanceTests {
    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    /// The encoder names its text (file hash, lines, tokens, perplexity) and records which lines
    /// it read; a classifier started from it carries that into its own file.
    @Test func pretrainingProvenanceReachesTheClassifier() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-prov-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lines = try pretrainingLines()
        let textFile = dir.appendingPathComponent("text.txt")
        try (lines.map(\.text).joined(separator: "\n") + "\n").write(to: textFile, atomically: true, encoding: .utf8)
        var pretrainer = Pretrainer(options: tinyPretraining(epochs: 1))
        pretrainer.output = dir.appendingPathComponent("enc.heed")
        pretrainer.sources = [try SourceFile(path: textFile.path)]
        let r = try pretrainer.train(lines)
        let encoder = try PretrainedEncoder.load(pretrainer.output!)
        let p = try #require(encoder.provenance)
        let bytes = Array(try Data(contentsOf: textFile))
        #expect(p.files.count == 1 && p.files[0].sha256 == SHA256.hex(bytes) && p.files[0].bytes == bytes.count)
        #expect(p.trainLines == r.trainLines && p.heldOutLines == r.heldOutLines && p.trainTokens > p.trainLines)
        #expect(p.heldOutPerplexity == r.log[0].heldOutPerplexity && p.curve == r.log.map(PretrainingPoint.init))
        // Every line read is recorded, whatever its spacing or case; other text is not.
        #expect(try encoder.pretrainedOn(Array(lines.prefix(5))) == 5)
        #expect(try encoder.pretrainedOn([LabelledText(label: "x", text: "  " + lines[0].text.uppercased() + " ")]) == 1)
        #expect(try encoder.pretrainedOn([LabelledText(label: "x", text: "zebra quasar nonsense")]) == 0)

        var trainer = Trainer(options: smallOptions(.bilstmAttention))
        (trainer.options.embeddingSize, trainer.options.hiddenSize, trainer.options.epochs) = (TrainingOptions().embeddingSize, TrainingOptions().hiddenSize, 1)
        trainer.encoder = pretrainer.output
        let model = dir.appendingPathComponent("model.heed")
        trainer.output = model
        _ = try trainer.train(try smallTopicCorpus().train)
        #expect(try TextClassifier(contentsOf: model).provenance.pretraining == p)
    }
}
