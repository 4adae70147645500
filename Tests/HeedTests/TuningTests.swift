import Foundation
import HeedNN
import Testing

@testable import Heed

/// `Tuner`: successive halving over settings, ranked on a fixed dev set.
@Suite(.serialized) struct TuningTests {
    func base() -> TrainingOptions {
        var o = smallOptions(.bilstmAttention)
        o.epochs = 3
        o.calibration = .none
        return o
    }

    /// Sizes a debug build trains in seconds.
    func smallSpace() -> TuningSpace {
        var space = TuningSpace()
        (space.hiddenSizes, space.embeddingSizes, space.batchSizes) = ([8, 16], [8, 16], [16, 32])
        space.subwords = [nil, 3...4]
        return space
    }

    /// A tuner of the small base options capped at two epochs.
    func twoEpochTuner(_ work: URL) -> Tuner {
        var options = base()
        options.epochs = 2
        return Tuner(base: options, workDirectory: work)
    }

    func workDirectory() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("heed-tune-test-\(UUID().uuidString)") }

    @Test func samplesAreSeededDistinctAndStartFromTheBase() {
        let a = TuningSettings.sample(12, base: base(), ideographic: false, seed: 5)
        #expect(a == TuningSettings.sample(12, base: base(), ideographic: false, seed: 5))
        #expect(a != TuningSettings.sample(12, base: base(), ideographic: false, seed: 6))
        #expect(a.count == 12 && Set(a).count == 12)
        #expect(a[0] == TuningSettings(base()))
        #expect(a.allSatisfy { $0.learningRate >= 5e-4 && $0.learningRate <= 8e-3 })
        let chinese = TuningSettings.sample(30, base: base(), ideographic: true, seed: 5)
        #expect(chinese.dropFirst().compactMap(\.subwords).allSatisfy { $0.lowerBound == 1 })
        #expect(a.dropFirst().compactMap(\.subwords).allSatisfy { $0.lowerBound >= 2 })
    }

    /// With the diversity encoder and no fixed λ, λ is drawn too, after everything else (so the
    /// first drawn trial's other settings are the plain search's), and a search without it never
    /// sets λ.
    @Test func diversityEncoderSearchesItsWeightLast() {
        var diverse = base()
        diverse.encoder = .diversity
        let plain = TuningSettings.sample(12, base: base(), ideographic: false, seed: 5)
        let drawn = TuningSettings.sample(12, base: diverse, ideographic: false, seed: 5)
        #expect(plain.allSatisfy { $0.diversityWeight == nil })
        #expect(drawn[0].diversityWeight == nil && drawn.dropFirst().allSatisfy { $0.diversityWeight != nil })
        #expect(Set(drawn.compactMap(\.diversityWeight)).isSubset(of: Set(TuningSpace().diversityWeights)))
        #expect(Set(drawn.compactMap(\.diversityWeight)).count > 1)
        var first = drawn[1]
        first.diversityWeight = nil
        #expect(first == plain[1])
        let applied = drawn[1].applied(to: diverse)
        #expect(applied.diversityWeight == drawn[1].diversityWeight && applied.resolvedEncoder == .diversity)
        #expect(drawn[1].description.hasSuffix("--encoder diversity --diversity-weight \(drawn[1].diversityWeight!)"))
        var fixed = diverse
        fixed.diversityWeight = 0.3
        #expect(TuningSettings.sample(12, base: fixed, ideographic: false, seed: 5).allSatisfy { $0.diversityWeight == nil })
    }

    @Test func ideographicCorporaAreRecognised() {
        #expect(TuningSettings.isIdeographic([LabelledText(label: "a", text: "这家酒店性价比很高，服务 good", line: 1)]))
        #expect(!TuningSettings.isIdeographic([LabelledText(label: "a", text: "A fine hotel, 很好", line: 1)]))
    }

    @Test func scheduleKeepsAThirdThenTwo() {
        #expect(Tuner.rungSizes(1) == [1])
        #expect(Tuner.rungSizes(2) == [2])
        #expect(Tuner.rungSizes(3) == [3, 2, 2])
        #expect(Tuner.rungSizes(12) == [12, 4, 2])
        #expect(Tuner.rungSizes(30) == [30, 10, 2])
        // 12 trials: 12 first epochs, 4 × 2 more, 2 × 5 more to reach 8.
        #expect(Tuner.plannedEpochs(12, finalEpochs: 8) == 12 + 8 + 10)
    }

    /// The same seed and trial count give the same trials, scores and model, bit for bit; the
    /// winner has the best dev score, trial 0 trained with the base settings, and only survivors
    /// went on.
    @Test func fixedTrialsAreDeterministic() throws {
        let (train, _) = try smallTopicCorpus()
        func run() throws -> (TuningResult, Data) {
            let work = workDirectory()
            defer { try? FileManager.default.removeItem(at: work) }
            var tuner = twoEpochTuner(work)
            tuner.trials = 4
            tuner.seed = 3
            tuner.space = smallSpace()
            let result = try tuner.tune(train: train, dev: nil)
            let bytes = try ModelFile.encode(result.classifier.box.withModel { $0 }, metadata: try result.classifier.metadata())
            return (result, bytes)
        }
        let (a, bytesA) = try run()
        let (b, bytesB) = try run()
        #expect(bytesA == bytesB)
        func withoutTimes(_ r: [TrialRecord]) -> [TrialRecord] {
            r.map {
                var t = $0; t.seconds = 0; return t
            }
        }
        #expect(withoutTimes(a.trials) == withoutTimes(b.trials))
        #expect(a.trials.count == 4 && !a.cutShort)
        let best = a.trials[a.best]
        #expect(a.trials.allSatisfy { $0.score <= best.score })
        #expect(best.epochs >= 1 && a.classifier.options.learningRate == best.settings.learningRate)
        // Two go on by score, and the base settings (trial 0) always go on to the last rung, so
        // the search never ends below them on dev.
        #expect(a.trials.filter { $0.epochs > 1 }.count <= 3)
        #expect(a.trials[0].status != "dropped" && (a.trials[0].epochs == 2 || a.trials[0].stopped))
        #expect(a.trials[0].score <= best.score)
        #expect(a.trials[0].settings.hiddenSize == 16 && a.trials[0].settings.learningRate == base().learningRate)
    }

    @Test func devLabelMissingFromTrainingIsNamed() throws {
        let (train, _) = try smallTopicCorpus()
        var tuner = Tuner(base: base(), workDirectory: workDirectory())
        tuner.trials = 2
        tuner.devFile = "dev.tsv"
        let dev = [LabelledText(label: "games", text: "a game", line: 1), LabelledText(label: "poetry", text: "a poem", line: 2)]
        #expect(throws: HeedError.devLabelNotInTraining(file: "dev.tsv", line: 2, label: "poetry", known: ["games", "math", "sound"])) {
            try tuner.tune(train: train, dev: dev)
        }
    }

    /// A budget shorter than one epoch says so and trains the base settings once, to the end.
    @Test func budgetTooSmallTrainsTheBaseOnce() throws {
        let (train, _) = try smallTopicCorpus()
        let work = workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var tuner = twoEpochTuner(work)
        tuner.budget = 0.001
        let notes = NoteBox()
        tuner.note = notes.add
        let result = try tuner.tune(train: train, dev: nil)
        #expect(result.budgetTooSmall)
        #expect(result.trials[result.best].trial == 0 && result.trials[result.best].epochs >= 2)
        #expect(notes.all.contains { $0.contains("too small") })
    }

    /// Ctrl-C before any trial finished an epoch, even in the too-small fallback, ends the search
    /// with its error (it used to crash on a missing trial).
    @Test func stopBeforeAnyEpochIsAnErrorNotACrash() throws {
        let (train, _) = try smallTopicCorpus()
        let work = workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var tuner = twoEpochTuner(work)
        tuner.budget = 0.001
        tuner.shouldStop = { true }
        #expect(throws: HeedError.tuningStopped) { try tuner.tune(train: train, dev: nil) }
    }

    /// The budget arithmetic: the first round's wall time is one trial-epoch per core when the
    /// trials ran side by side, two when they ran one after the other, and more trials at once than
    /// cores gain nothing.
    @Test func budgetPlanCountsCoresAndConcurrency() {
        func plan(_ seconds: Double, concurrency: Int, cores: Int) -> (trials: Int, epochSeconds: Double) {
            Tuner.budgetPlan(firstSeconds: seconds, firstTrials: 2, concurrency: concurrency, cores: cores, budget: 600, finalEpochs: 8, cap: 81)
        }
        // Two at once on two cores: 10 s of wall time is 10 s per trial-epoch.
        #expect(plan(10, concurrency: 2, cores: 2).epochSeconds == 10)
        // One at a time: the pair took two epochs' time.
        #expect(plan(20, concurrency: 1, cores: 2).epochSeconds == 10)
        // Two at once on one core: each had half of it.
        #expect(plan(20, concurrency: 2, cores: 1).epochSeconds == 10)
        // The same speed per trial-epoch buys the same trials at concurrency 2 and 4 on two cores,
        // and twice the epochs with two cores rather than one.
        let two = plan(10, concurrency: 2, cores: 2).trials, four = plan(10, concurrency: 4, cores: 2).trials
        #expect(two == four)
        #expect(Tuner.plannedEpochs(plan(10, concurrency: 1, cores: 2).trials + 1, finalEpochs: 8) * 10 > 540)
        #expect(Tuner.plannedEpochs(two, finalEpochs: 8) * 10 <= 2 * 540)
        #expect(Tuner.plannedEpochs(two + 1, finalEpochs: 8) * 10 > 2 * 540)
    }

    /// A budget that fits fewer trials than a search needs trains the base settings to the end.
    @Test func budgetForTooFewTrialsTrainsTheBaseToTheEnd() throws {
        let (train, _) = try smallTopicCorpus()
        let work = workDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var tuner = twoEpochTuner(work)
        tuner.base.epochs = 6
        // Measure a pair's epoch, then give a budget of two: room for two trials, far from four.
        let probe = try {
            var t = twoEpochTuner(workDirectory())
            defer { try? FileManager.default.removeItem(at: t.workDirectory) }
            t.trials = 2
            t.base.epochs = 1
            let started = Date()
            _ = try t.tune(train: train, dev: nil)
            return Date().timeIntervalSince(started)
        }()
        tuner.budget = max(probe * 2, 1)
        let notes = NoteBox()
        tuner.note = notes.add
        let result = try tuner.tune(train: train, dev: nil)
        #expect(result.budgetTooSmall)
        #expect(result.trials[result.best].trial == 0)
        #expect(notes.all.contains { $0.contains("too few for a search") || $0.contains("too small") })
        #expect(result.trials[result.best].epochs > 1 && result.log.count == result.trials[result.best].epochs)
    }
}

final class NoteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var notes: [String] = []
    func add(_ s: String) { lock.withLock { notes.append(s) } }
    var all: [String] { lock.withLock { notes } }
}

/// `heed tune` holds no more than twice the memory of the base settings' run, or its largest
/// trial's alone: trials share memory only while their weights fit.
@Suite struct TuningMemoryTests {
    @Test func trialsShareMemoryOnlyWhileTheyFit() {
        let gate = MemoryGate(limit: 10)
        gate.acquire(4)
        // A second small trial starts beside the first.
        let second = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            gate.acquire(4)
            second.signal()
        }
        #expect(second.wait(timeout: .now() + 30) == .success, "4 + 4 fit under 10: the second trial must not wait")
        // A large one waits for both to finish, then runs alone even though it exceeds the limit.
        let large = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            gate.acquire(12)
            large.signal()
        }
        #expect(large.wait(timeout: .now() + 0.3) == .timedOut)
        gate.release(4)
        #expect(large.wait(timeout: .now() + 0.3) == .timedOut, "4 + 12 do not fit")
        gate.release(4)
        #expect(large.wait(timeout: .now() + 30) == .success, "alone, a trial always runs")
        gate.release(12)
    }

    @Test func weightBytesCountEveryTensorsTrainingState() {
        var base = TrainingOptions()
        base.model = .attention
        let plain = Tuner.weightBytes(base, vocabularySize: 1000, classes: 2)
        let shapes = base.classifierConfig(vocabularySize: 1000, classes: 2).tensorShapes
        #expect(plain == 20 * shapes.reduce(0) { $0 + $1.shape.reduce(1, *) })
        var subwords = base
        subwords.subwords = 3...6
        #expect(Tuner.weightBytes(subwords, vocabularySize: 1000, classes: 2) - plain == 20 * subwords.buckets * base.embeddingSize)
    }
}

@Suite struct EncoderTuningTests {
    /// From an encoder, the sizes are the encoder's and subwords off in every trial; the
    /// fine-tuning options are drawn instead, trial 0 keeps the base options as they are.
    @Test func anEncoderFixesSizesAndDrawsFineTuning() {
        var space = TuningSpace()
        space.encoder = (embeddingSize: 24, hiddenSize: 40)
        var base = TrainingOptions()
        (base.embeddingSize, base.hiddenSize) = (24, 40)
        let drawn = TuningSettings.sample(12, base: base, space: space, ideographic: false, seed: 3)
        #expect(drawn.count == 12 && drawn[0] == TuningSettings(base) && drawn[0].unfreezeEvery == nil)
        for s in drawn {
            #expect(s.embeddingSize == 24 && s.hiddenSize == 40 && s.subwords == nil)
        }
        for s in drawn.dropFirst() {
            #expect(s.lrDecay.map(space.lrDecays.contains) == true && s.unfreezeEvery.map(space.unfreezeIntervals.contains) == true && s.schedule != nil)
            let o = s.applied(to: base)
            #expect(o.lrDecay == s.lrDecay && o.unfreezeEvery == s.unfreezeEvery && o.schedule == s.schedule)
            #expect(s.description.contains("--unfreeze-every \(s.unfreezeEvery!)"))
        }
        #expect(Set(drawn.dropFirst().map(\.schedule)).count == 2, "both schedules should be drawn in 11 trials")
        // Without an encoder nothing of fine-tuning is drawn.
        #expect(
            TuningSettings.sample(12, base: base, ideographic: false, seed: 3).allSatisfy { $0.lrDecay == nil && $0.unfreezeEvery == nil && $0.schedule == nil }
        )
    }

    /// With task-adaptive encoders (`heed tune --unlabelled`), trials start from scratch (sizes
    /// drawn, no fine-tuning options) or from one pretraining length (the encoder's sizes, the
    /// fine-tuning options drawn); trial 0 is the base options from scratch.
    @Test func pretrainedEncodersAreDrawnBesideScratch() {
        var space = TuningSpace()
        space.encoder = (embeddingSize: 24, hiddenSize: 40)
        space.pretrainedEpochs = [1, 2]
        let base = TrainingOptions()
        let drawn = TuningSettings.sample(16, base: base, space: space, ideographic: false, seed: 5)
        #expect(drawn.count == 16 && drawn[0] == TuningSettings(base) && drawn[0].pretrainEpochs == nil)
        for s in drawn.dropFirst() {
            if let epochs = s.pretrainEpochs {
                #expect(space.pretrainedEpochs.contains(epochs) && s.embeddingSize == 24 && s.hiddenSize == 40 && s.subwords == nil)
                #expect(s.lrDecay != nil && s.unfreezeEvery != nil && s.schedule != nil)
                #expect(s.description.hasSuffix("--pretrain-epochs \(epochs)"))
            } else {
                #expect(s.lrDecay == nil && s.unfreezeEvery == nil && s.schedule == nil)
            }
        }
        let starts = Set(drawn.dropFirst().map(\.pretrainEpochs))
        #expect(starts == [nil, 1, 2], "15 trials should draw scratch and both pretraining lengths: \(starts)")
        // Without pretrained encoders the draw is what it was.
        var plain = space
        plain.pretrainedEpochs = []
        #expect(TuningSettings.sample(16, base: base, space: plain, ideographic: false, seed: 5).allSatisfy { $0.pretrainEpochs == nil })
    }
}
