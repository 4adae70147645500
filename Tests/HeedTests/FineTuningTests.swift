import Foundation
import Testing

@testable import Heed
@testable import HeedNN

/// ULMFiT's fine-tuning options: discriminative rates, gradual unfreezing, slanted triangular rates.
@Suite(.serialized) struct FineTuningTests {
    /// Values chosen so every product is exact in Double and survives the rounding to Float, so
    /// the formula's values are compared exactly: lr/32 at the start and the end, lr at the cut
    /// (10% of 1000 steps), halfway up and halfway down alike.
    @Test func slantedTriangularFollowsTheFormula() {
        let lr: Float = 3.2, total = 1000
        func at(_ t: Int) -> Float { FineTuning.slantedTriangular(step: t, total: total, peak: lr) }
        #expect(at(0) == lr / 32)
        #expect(at(100) == lr)
        #expect(at(50) == Float(Double(lr) * 16.5 / 32))
        #expect(at(550) == at(50))
        #expect(at(1000) == lr / 32 && at(1500) == lr / 32)
        let rates = (0...total).map(at)
        #expect(rates.firstIndex(of: rates.max()!) == 100)
        #expect(zip(rates, rates.dropFirst()).prefix(100).allSatisfy { $0 < $1 })
        #expect(zip(rates, rates.dropFirst()).dropFirst(100).allSatisfy { $0 >= $1 })
    }

    /// The head trains from the start; each `unfreezeEvery` steps adds the next group down. Scales
    /// are lr/F^(top − group), exactly 1 for F = 1.
    @Test func groupsThawTopDownWithTheirRates() {
        var options = TrainingOptions()
        (options.unfreezeEvery, options.lrDecay) = (5, 2)
        let tuning = FineTuning(options: options, groups: [0, 0, 1, 1, 2, 2])
        #expect([0, 4, 5, 9, 10, 99].map { tuning.lowestTrainingGroup(step: $0) } == [2, 2, 1, 1, 0, 0])
        let adam = Adam(parameters: (0..<6).map { Param("p\($0)", [1]) })
        tuning.prepare(adam, plannedSteps: 100)
        #expect(adam.lrScale == [0.25, 0.25, 0.5, 0.5, 1, 1] && adam.frozen == [true, true, true, true, false, false])
        #expect(adam.lr == options.learningRate)
        options.unfreezeEvery = 0
        #expect(FineTuning(options: options, groups: [0, 1, 2]).lowestTrainingGroup(step: 0) == 0)
        let off = FineTuning(options: TrainingOptions(), groups: [0, 0, 1, 1, 2, 2])
        off.prepare(adam, plannedSteps: 100)
        #expect(adam.lrScale.allSatisfy { $0 == 1 } && adam.frozen.allSatisfy { !$0 })
    }

    /// In a training run the embedding and the LSTM keep their starting bits while frozen and move
    /// once thawed: an epoch is 17 steps here, the LSTM thaws at step 10 and the embedding at 20.
    @Test func frozenGroupsKeepTheirBitsUntilThawed() throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        (options.epochs, options.unfreezeEvery, options.patience) = (2, 10, 5)
        let dir = NSTemporaryDirectory() + "heed-unfreeze-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        var before = Trainer(options: options)
        before.shouldStop = { true }
        let start = try before.train(train).classifier.box.withModel { Dictionary(uniqueKeysWithValues: $0.parameters.map { ($0.name, $0.values) }) }

        var trainer = Trainer(options: options)
        let model = dir + "/run.heed"
        trainer.output = URL(fileURLWithPath: model)
        trainer.epochEnded = { record in
            try? FileManager.default.copyItem(atPath: model + ".ckpt", toPath: dir + "/epoch\(record.epoch).ckpt")
        }
        let result = try trainer.train(train)
        #expect(result.log.map(\.optimizerSteps) == [17, 34])

        func moved(_ epoch: Int) throws -> (embedding: Bool, lstm: Bool, head: Bool, steps: [Int]?) {
            let saved = try Checkpoint.load(dir + "/epoch\(epoch).ckpt")
            func differs(_ name: String) -> Bool { saved.tensors[name]!.values.map(\.bitPattern) != start[name]!.map(\.bitPattern) }
            return (differs("embedding.weight"), differs("lstm.weight_ih_l0"), differs("classifier.weight"), saved.state.adamParameterSteps)
        }
        let first = try moved(1), second = try moved(2)
        #expect(!first.embedding && first.lstm && first.head)
        #expect(first.steps?.first == 0 && first.steps?.last == 17)
        #expect(second.embedding && second.steps?.first == 14)
    }

    /// A run with all three options, interrupted after its first epoch (before the embedding
    /// thaws) and resumed, ends bit-identical to the uninterrupted run.
    @Test(arguments: [1, 2])
    func resumingWithAllThreeIsBitIdentical(workers: Int) throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        (options.epochs, options.steps, options.minSteps, options.patienceSteps, options.patience) = (nil, 45, 10, 10, 1)
        (options.lrDecay, options.unfreezeEvery, options.schedule, options.workers) = (2.6, 10, .stlr, workers)
        let dir = NSTemporaryDirectory() + "heed-resume-ulmfit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = try Trainer(options: options).train(train)
        #expect(full.log.last!.optimizerSteps! > 20)

        let (resumed, _) = try trainInterruptedThenResumed(options, train, in: dir)
        #expect(resumed.log.map(\.devLoss) == full.log.map(\.devLoss) && resumed.log.map(\.optimizerSteps) == full.log.map(\.optimizerSteps))
        let a = URL(fileURLWithPath: dir + "/a.heed"), b = URL(fileURLWithPath: dir + "/b.heed")
        try full.classifier.write(to: a)
        try resumed.classifier.write(to: b)
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }

    /// Options files from before these options train as they did: one constant rate for all, no
    /// freezing; today's options round-trip.
    @Test func olderOptionsKeepOneConstantRate() throws {
        let old = #"{"model":"attention","epochs":15,"patience":3,"lr":0.002}"#
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(old.utf8))
        #expect(options.lrDecay == 1 && options.unfreezeEvery == nil && options.schedule == .constant)
        var set = TrainingOptions()
        (set.lrDecay, set.unfreezeEvery, set.schedule) = (2.6, 30, .stlr)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(set)) == set)
    }
}
