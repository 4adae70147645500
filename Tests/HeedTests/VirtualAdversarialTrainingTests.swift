import Foundation
import HeedNN
import HeedText
import Testing

@testable import Heed

/// Virtual adversarial training in the one training loop (`Trainer.unlabelled`).
@Suite(.serialized) struct VirtualAdversarialTrainingTests {
    func options(workers: Int = 1) -> TrainingOptions {
        var o = smallOptions(.bilstmAttention)
        o.epochs = 1
        o.workers = workers
        o.vatEpsilon = 0.5
        return o
    }

    func parameters(_ r: TrainingResult) -> [[Float]] { r.classifier.box.withModel { m in m.parameters.map(\.values) } }

    /// λ = 0, or no unlabelled text, trains exactly the plain run's parameters; λ > 0 does not.
    @Test func withoutTheTermTrainingIsThePlainRun() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        let plain = try Trainer(options: options()).train(labelled)
        var off = Trainer(options: options())
        off.options.vatWeight = 0
        off.unlabelled = unlabelled
        var none = Trainer(options: options())
        none.unlabelled = []
        var on = Trainer(options: options())
        on.unlabelled = unlabelled
        let p = parameters(plain)
        #expect(parameters(try off.train(labelled)) == p)
        #expect(parameters(try none.train(labelled)) == p)
        let vat = try on.train(labelled)
        #expect(parameters(vat) != p)
        #expect(vat.log.allSatisfy { $0.trainLoss.isFinite && $0.devLoss.isFinite })
    }

    /// VAT on the training texts (`--semi vat` without `--unlabelled`) is VAT on exactly the
    /// training split's texts: the same parameters as passing those texts as unlabelled, and not
    /// those of passing every labelled text, dev split included.
    @Test func trainingTextsAreTheTrainingSplitWithoutDev() throws {
        let (labelled, _) = try selfTrainingData()
        var own = Trainer(options: options())
        own.vatOnTrainingTexts = true
        let (trainShard, devShard) = try SelfTraining.split(
            Shard(documents: labelled, indices: Array(labelled.indices)), dev: nil, options: options(), collective: SingleProcess())
        #expect(!devShard.documents.isEmpty)
        var split = Trainer(options: options())
        split.unlabelled = trainShard.documents.map { LabelledText(label: nil, text: $0.text, line: $0.line) }
        var all = Trainer(options: options())
        all.unlabelled = labelled.map { LabelledText(label: nil, text: $0.text, line: $0.line) }
        let ownResult = try own.train(labelled)
        let p = parameters(ownResult)
        #expect(p == parameters(try split.train(labelled)))
        #expect(p != parameters(try all.train(labelled)))
        let plain = try Trainer(options: options()).train(labelled)
        #expect(p != parameters(plain))
        // The model says that VAT ran, on which text and how much of it; the plain one says nothing.
        let vat = try #require(ownResult.classifier.provenance.vat)
        #expect(vat.onTrainingTexts && vat.documents == trainShard.documents.count && vat.documents == ownResult.trainDocuments)
        #expect(vat.epsilon == options().vatEpsilon && vat.weight == options().vatWeight)
        #expect(plain.classifier.provenance.isEmpty)
    }

    /// The provenance a VAT run records survives the model file: unlabelled text only, and its files.
    @Test func provenanceIsWrittenAndRead() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        var t = Trainer(options: options())
        t.unlabelled = unlabelled
        let source = UnlabelledTextProvenance(files: [], lines: unlabelled.count, droppedAsLabelled: 2, excluded: [], droppedAsExcluded: 0)
        t.unlabelledSource = source
        let classifier = try t.train(labelled).classifier
        let vat = try #require(classifier.provenance.vat)
        #expect(!vat.onTrainingTexts && vat.documents > 0 && vat.documents <= unlabelled.count)
        let url = URL(fileURLWithPath: NSTemporaryDirectory() + "heed-vat-\(UUID().uuidString).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        try classifier.write(to: url)
        let read = try TextClassifier(contentsOf: url)
        #expect(read.provenance == classifier.provenance && read.provenance.unlabelled == source)
    }

    /// The same seed gives the same model file, with one worker and with two.
    @Test(arguments: [1, 2])
    func sameSeedGivesIdenticalModelFiles(workers: Int) throws {
        let (labelled, unlabelled) = try selfTrainingData()
        var files: [Data] = []
        for _ in 0..<2 {
            var t = Trainer(options: options(workers: workers))
            t.unlabelled = unlabelled
            files.append(try modelBytes(try t.train(labelled).classifier))
        }
        #expect(files[0] == files[1])
    }

    /// Split over 2 workers, one step's gradient with the VAT term is one worker's, up to the
    /// Float rounding of adding the shares (each tensor within 1e-4 of its norm).
    @Test func workersAddUpToTheWholeBatchVATGradient() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        let model = Classifier(config: ClassifierConfig(vocabSize: 50, embedDim: 8, hiddenDim: 6, bidirectional: true, classes: 3), seed: 4)
        let encoder = try DocumentEncoder(vocabulary: vocabulary(labelled), maxLength: 60)
        let train = try encoder.encode(Array(labelled.prefix(16)), file: "t").documents
        var o = options()
        o.dropout = 0
        let schedule = try #require(VATSchedule(unlabelled: unlabelled, encoder: encoder, options: o))
        let batch = schedule.batch(schedule.batches(seed: 1, epoch: 1, rank: 0, steps: 1)[0], step: 0, seed: 1, epoch: 1, rank: 0)
        var grads: [[[Float]]] = []
        for workers in [1, 2] {
            let m = model.clone()
            _ = DataParallelStep(model: m, workers: workers).gradient(train, indices: Array(0..<16), classWeights: nil, vat: batch)
            grads.append(m.parameters.map { p in Array(UnsafeBufferPointer(start: p.grad, count: p.count)) })
        }
        for (a, b) in zip(grads[0], grads[1]) {
            let norm = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let diff = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            #expect(diff <= 1e-4 * norm + 1e-7, "\(diff) vs \(norm)")
        }
    }

    /// Stopped after the first epoch and resumed, a VAT run ends with the same model file; a
    /// resume without its unlabelled text is refused. Both for unlabelled text and for VAT on the
    /// training texts (whose resume without VAT is refused alike).
    @Test(arguments: [false, true])
    func resumingIsBitIdentical(onTrainingTexts: Bool) throws {
        let (labelled, unlabelled) = try selfTrainingData()
        var o = options()
        o.epochs = 2
        o.patience = 3
        let dir = NSTemporaryDirectory() + "heed-vat-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func vat(_ t: inout Trainer) {
            if onTrainingTexts { t.vatOnTrainingTexts = true } else { t.unlabelled = unlabelled }
        }
        var full = Trainer(options: o)
        vat(&full)
        let whole = try full.train(labelled)

        var first = Trainer(options: o)
        vat(&first)
        first.output = URL(fileURLWithPath: dir + "/run.heed")
        let epochs = Counter()
        first.epochEnded = { _ in epochs.add() }
        first.shouldStop = { epochs.value >= 1 }
        #expect(try first.train(labelled).interrupted)
        var second = Trainer(options: o)
        second.resume = Trainer.checkpointURL(for: URL(fileURLWithPath: dir + "/run.heed"))
        var without = second
        vat(&second)
        let resumed = try second.train(labelled)
        #expect(resumed.log.map(\.devLoss) == whole.log.map(\.devLoss))
        #expect(try modelBytes(resumed.classifier) == modelBytes(whole.classifier))
        without.output = nil
        #expect(throws: HeedError.self) { try without.train(labelled) }
    }

    /// Options written before VAT decode with today's VAT defaults (which act only with unlabelled text).
    @Test func olderOptionsDecodeWithTheDefaults() throws {
        let old = try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"model":"attention","epochs":15}"#.utf8))
        #expect(old.vatEpsilon == TrainingOptions().vatEpsilon && old.vatWeight == TrainingOptions().vatWeight)
    }

    func modelBytes(_ classifier: TextClassifier) throws -> Data {
        let url = URL(fileURLWithPath: NSTemporaryDirectory() + "heed-vat-\(UUID().uuidString).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        try classifier.write(to: url)
        return try Data(contentsOf: url)
    }

    func vocabulary(_ docs: [LabelledText]) throws -> Vocabulary {
        let counts = try Trainer.countTokens(docs, tokenizer: try Tokenizer(settings: .default), file: "t")
        return Vocabulary(counts: counts, minCount: 1, maxSize: 50)
    }
}
