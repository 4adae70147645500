import Foundation
import Testing

@testable import Heed

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// A few hundred real documents: three Debian sections with distinct vocabularies.
func smallTopicCorpus() throws -> (train: [LabelledText], test: [LabelledText]) {
    let keep: Set<String> = ["games", "sound", "math"]
    func load(_ split: String, _ perLabel: Int) throws -> [LabelledText] {
        var seen: [String: Int] = [:]
        return try CorpusReader(CorpusSource(URL(fileURLWithPath: "\(repositoryRoot)/corpora/topic-en-debian/\(split).tsv"))).readAll().filter { doc in
            guard let l = doc.label, keep.contains(l), seen[l, default: 0] < perLabel else { return false }
            seen[l, default: 0] += 1
            return true
        }
    }
    return (try load("train", 100), try load("test", 40))
}

func smallOptions(_ model: ModelKind) -> TrainingOptions {
    var o = TrainingOptions()
    o.model = model
    o.embeddingSize = 16; o.hiddenSize = 16; o.epochs = 4; o.batchSize = 16; o.learningRate = 5e-3; o.maxLength = 60; o.dropout = 0.2
    o.wordDropout = 0  // 100 documents, 4 epochs: more regularisation only slows learning here
    o.threads = 1; o.patience = 4
    return o
}

@Suite(.serialized) struct TrainingTests {
    @Test(arguments: [ModelKind.lstm, .bilstmAttention])
    func smallCorpusTrainsAboveMajority(model: ModelKind) throws {
        let (train, test) = try smallTopicCorpus()
        let result = try Trainer(options: smallOptions(model)).train(train)
        let evaluation = try result.classifier.evaluate(test)
        let majority = Double(test.filter { $0.label == "games" }.count) / Double(test.count)
        #expect(evaluation.accuracy > majority + 0.1, "accuracy \(evaluation.accuracy) vs majority \(majority)")
        #expect(result.log.count >= 1 && result.log.allSatisfy { $0.trainLoss.isFinite })
        #expect(result.log.last!.trainLoss < result.log.first!.trainLoss)
    }

    @Test func sameSeedSameThreadsGiveIdenticalModelFiles() throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        options.epochs = 2
        let dir = NSTemporaryDirectory() + "heed-repro-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var files: [Data] = []
        for run in 0..<2 {
            let url = URL(fileURLWithPath: "\(dir)/m\(run).heed")
            try Trainer(options: options).train(train).classifier.write(to: url)
            files.append(try Data(contentsOf: url))
        }
        #expect(files[0] == files[1])
        options.seed = 2
        let url = URL(fileURLWithPath: "\(dir)/other.heed")
        try Trainer(options: options).train(train).classifier.write(to: url)
        #expect(try Data(contentsOf: url) != files[0])
    }

    /// The temperature is fitted on the dev set after training, written into the model file the
    /// run leaves behind, and changes no prediction; `.none` leaves it out.
    @Test func trainingCalibratesOnTheDevSet() throws {
        let (train, test) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        options.epochs = 2
        let url = URL(fileURLWithPath: NSTemporaryDirectory() + "heed-cal-\(UUID().uuidString).heed")
        defer {
            for u in [url, Trainer.logURL(for: url), Trainer.checkpointURL(for: url)] { try? FileManager.default.removeItem(at: u) }
        }
        var trainer = Trainer(options: options)
        trainer.output = url
        let result = try trainer.train(train)
        let calibration = try #require(result.classifier.calibration)
        #expect(calibration.documents == result.devDocuments)
        #expect(calibration.nllAfter <= calibration.nllBefore)
        #expect(Calibration.temperatureRange.contains(calibration.temperature))
        #expect(try TextClassifier(contentsOf: url).calibration == calibration, "the file on disk carries the temperature")
        // heed calibrate --training-file refits on the same held-out documents: the same temperature, bit for bit.
        var uncalibrated = result.classifier
        uncalibrated.calibration = nil
        #expect(try uncalibrated.calibrated(on: uncalibrated.heldOutDevSet(of: train)).calibration == calibration)
        let report = try result.classifier.calibrationReport(test)
        #expect(report.reported.accuracy == report.uncalibrated.accuracy)
        #expect(report.reported.accuracy == (try result.classifier.evaluate(test)).accuracy)
        options.calibration = .none
        #expect(try Trainer(options: options).train(train).classifier.calibration == nil)
    }

    @Test func savedModelPredictsTheSame() throws {
        let (train, test) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        options.epochs = 1
        let classifier = try Trainer(options: options).train(train).classifier
        let url = URL(fileURLWithPath: NSTemporaryDirectory() + "heed-\(UUID().uuidString).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        try classifier.write(to: url)
        let loaded = try TextClassifier(contentsOf: url)
        let texts = test.prefix(10).map(\.text) + ["", "!!!"]
        let a = try classifier.predict(texts), b = try loaded.predict(texts)
        #expect(a.map(\.probabilities) == b.map(\.probabilities))
        #expect(loaded.labels == ["games", "math", "sound"])
        for p in a where !p.tokens.isEmpty {
            let sum = p.tokens.reduce(Float(0)) { $0 + ($1.weight ?? 0) }
            #expect(abs(sum - 1) < 1e-4)
        }
        #expect(a[10].tokens.isEmpty && a[11].tokens.isEmpty)  // nothing to attend to
    }

    @Test func badInputsGiveClearErrors() throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.lstm)
        options.epochs = 1
        let classifier = try Trainer(options: options).train(train).classifier
        #expect(throws: HeedError.self) { try classifier.evaluate([LabelledText(label: "cooking", text: "a recipe", line: 7)], file: "t.tsv") }
        do { _ = try classifier.evaluate([LabelledText(label: "cooking", text: "a recipe", line: 7)], file: "t.tsv") } catch {
            #expect("\(error)".contains("t.tsv:7") && "\(error)".contains("cooking"))
        }
        #expect(throws: HeedTextError.noDocuments("empty.tsv")) { try classifier.evaluate([], file: "empty.tsv") }
        let oneLabel = train.map { LabelledText(label: "x", text: $0.text, line: $0.line) }
        #expect(throws: HeedError.self) { try Trainer(options: options).train(oneLabel) }
        var bad = options
        bad.dropout = 1
        #expect(throws: TrainingError.dropout(1)) { try Trainer(options: bad).train(train) }
    }

    @Test func interruptedTrainingKeepsTheBestEpoch() throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        options.epochs = 5
        var trainer = Trainer(options: options)
        let epochs = Counter()
        trainer.epochEnded = { _ in epochs.add() }
        trainer.shouldStop = { epochs.value >= 1 }  // "Ctrl-C" during epoch 2
        let dir = NSTemporaryDirectory() + "heed-int-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let url = URL(fileURLWithPath: dir + "/m.heed")
        trainer.output = url
        let result = try trainer.train(train)
        #expect(result.interrupted && result.bestEpoch == 1 && result.log.count == 1 && result.wroteModel)
        // The trainer owns the files: the best model, the log and the checkpoint, nothing else.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["m.heed", "m.heed.ckpt", "m.heed.log.jsonl"])
        let loaded = try TextClassifier(contentsOf: url)
        #expect(try loaded.predict("a game").probabilities == result.classifier.predict("a game").probabilities)
        let logLines = try String(contentsOf: Trainer.logURL(for: url), encoding: .utf8).split(separator: "\n")
        #expect(logLines.count == 1 && logLines[0].contains("\"dev_accuracy\""))
    }
}

final class Counter: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

/// Trains into `dir` with `options`, stopped when its first epoch has ended, then resumes from the
/// checkpoint that epoch wrote: the resumed run's result and that checkpoint.
func trainInterruptedThenResumed(_ options: TrainingOptions, _ train: [LabelledText], in dir: String) throws -> (TrainingResult, URL) {
    var first = Trainer(options: options)
    first.output = URL(fileURLWithPath: dir + "/run.heed")
    let epochs = Counter()
    first.epochEnded = { _ in epochs.add() }
    first.shouldStop = { epochs.value >= 1 }
    #expect(try first.train(train).interrupted)
    let checkpoint = Trainer.checkpointURL(for: URL(fileURLWithPath: dir + "/run.heed"))
    var second = Trainer(options: options)
    second.resume = checkpoint
    return (try second.train(train), checkpoint)
}

@Suite struct ResumeTests {
    /// With subwords too: the lazy optimizer's moments go through the checkpoint at full shape.
    @Test(arguments: [(1, false), (2, false), (2, true)])
    func resumingAtAnEpochBoundaryIsBitIdentical(workers: Int, subwords: Bool) throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        options.workers = workers
        if subwords { (options.subwords, options.buckets) = (3...5, 997) }
        options.epochs = 3
        options.patience = 3
        let dir = NSTemporaryDirectory() + "heed-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let straight = URL(fileURLWithPath: dir + "/straight.heed")
        let full = try Trainer(options: options).train(train)
        try full.classifier.write(to: straight)

        let (resumed, _) = try trainInterruptedThenResumed(options, train, in: dir)
        let resumedURL = URL(fileURLWithPath: dir + "/resumed.heed")
        try resumed.classifier.write(to: resumedURL)
        #expect(try Data(contentsOf: straight) == Data(contentsOf: resumedURL))
        #expect(resumed.log.map(\.devAccuracy) == full.log.map(\.devAccuracy))

        var other = Trainer(options: options)
        other.resume = Trainer.checkpointURL(for: URL(fileURLWithPath: dir + "/run.heed"))
        #expect(throws: HeedError.self) { try other.train(Array(train.dropFirst())) }

        // Another worker count resumes the same run on this machine's threads.
        var elsewhere = Trainer(options: options)
        elsewhere.options.workers = workers + 1
        elsewhere.resume = Trainer.checkpointURL(for: URL(fileURLWithPath: dir + "/run.heed"))
        let continued = try elsewhere.train(train)
        #expect(continued.log.count == full.log.count && continued.log.last!.workers == workers + 1)
        #expect(continued.log.first?.devAccuracy == full.log.first?.devAccuracy)
    }
}

@Suite struct PretrainedVectorTests {
    @Test func vecRowsInitialiseMatchingTokensAndDimensionsAreChecked() throws {
        let s = NSTemporaryDirectory() + "heed-vec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: s, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: s) }
        let vocabulary = Vocabulary(settings: .default, tokens: ["game", "music"], labels: ["a", "b"])
        let good = s + "/good.vec"
        try "3 4\ngame 0.5 -1 2 0\nunseen 1 1 1 1\nmusic 1e-1 0 0 3\n".write(toFile: good, atomically: true, encoding: .utf8)
        let rows = try PretrainedVectors.load(URL(fileURLWithPath: good), vocabulary: vocabulary, dimension: 4)
        #expect(rows.map(\.index) == [2, 3])
        #expect(rows[0].vector == [0.5, -1, 2, 0])
        let noHeader = s + "/plain.vec"
        try "music 1 2\n".write(toFile: noHeader, atomically: true, encoding: .utf8)
        do { _ = try PretrainedVectors.load(URL(fileURLWithPath: noHeader), vocabulary: vocabulary, dimension: 4); Issue.record("expected an error") } catch {
            #expect(error as? HeedError == .embeddingDimension(file: noHeader, line: 1, found: 2, expected: 4))
        }
        let bad = s + "/bad.vec"
        try "game 1 x 2 3\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: HeedError.self) { try PretrainedVectors.load(URL(fileURLWithPath: bad), vocabulary: vocabulary, dimension: 4) }
    }
}

@Test func divergenceStopsTrainingNamingEpochAndBatch() throws {
    let (train, _) = try smallTopicCorpus()
    var options = smallOptions(.attention)
    options.learningRate = 1e30
    options.clipNorm = 1e30
    let dir = NSTemporaryDirectory() + "heed-diverge-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var trainer = Trainer(options: options)
    trainer.output = URL(fileURLWithPath: dir + "/m.heed")
    do {
        _ = try trainer.train(train)
        Issue.record("training with lr 1e30 should diverge")
    } catch let error as HeedError {
        guard case .nonFinite(let epoch, let batch, _) = error else { Issue.record("\(error)"); return }
        #expect(epoch >= 1 && batch >= 1)
        #expect("\(error)".contains("epoch \(epoch), batch \(batch)"))
        // It diverges within the first epoch (the first step's update is ~1e30), before any dev
        // evaluation: no model may be written from diverged weights.
        #expect(epoch == 1 && !FileManager.default.fileExists(atPath: dir + "/m.heed"))
    }
}

@Suite struct ScheduleTests {
    /// A large dev set stops as the epoch rule always did: `patience` evaluations without a better
    /// score, once the step bounds (non-binding at hundreds of steps an epoch) have passed.
    @Test func largeDevSetsStopOnTheScoreAlone() throws {
        var options = TrainingOptions()
        options.patience = 3
        var stopping = EarlyStopping(options: options, devDocuments: 1000)
        #expect(stopping.smoothing == nil)
        let scores = [0.70, 0.75, 0.74, 0.76, 0.73, 0.80, 0.79, 0.79, 0.79]
        var stoppedAt: Int?
        for (k, score) in scores.enumerated() where stoppedAt == nil {
            // Falling dev loss is ignored on a large dev set.
            _ = stopping.record(epoch: k + 1, step: 250 * (k + 1), score: score, devLoss: 1 - Double(k) * 0.01)
            if stopping.stopped { stoppedAt = k + 1 }
        }
        #expect(stopping.bestEpoch == 6 && stopping.bestScore == 0.80)
        #expect(stoppedAt == 9)
        // The state goes into every checkpoint as JSON, whatever the dev set's size.
        let saved = try JSONEncoder().encode(stopping)
        #expect(try JSONDecoder().decode(EarlyStopping.self, from: saved) == stopping)
        #expect(try JSONDecoder().decode(EarlyStopping.self, from: JSONEncoder().encode(EarlyStopping(options: options, devDocuments: 10))).smoothing == 0.5)
    }

    /// A lucky first evaluation on a 50-document dev set no longer ends the run: the step bounds
    /// hold, a new low of the smoothed dev loss is progress, and ties go to the lower loss.
    @Test func smallDevSetsWaitForStepsAndWatchTheSmoothedLoss() {
        var options = TrainingOptions()
        (options.patience, options.minSteps, options.patienceSteps, options.devLossSmoothing) = (3, 100, 50, 0.5)
        // The kept epoch by the single score (the running average has its own test below).
        options.devScoreSmoothing = 1
        var stopping = EarlyStopping(options: options, devDocuments: 50)
        #expect(stopping.smoothing == 0.5)
        // 14 steps an epoch; accuracy peaks at once, the loss keeps falling until epoch 6.
        let losses = [0.69, 0.66, 0.62, 0.58, 0.55, 0.53, 0.60, 0.70, 0.80, 0.90, 1.0, 1.1]
        var kept: [Int] = []
        var stoppedAt: Int?
        for (k, loss) in losses.enumerated() where stoppedAt == nil {
            if stopping.record(epoch: k + 1, step: 14 * (k + 1), score: k == 0 ? 0.62 : (k == 4 ? 0.62 : 0.60), devLoss: loss) {
                kept.append(k + 1)
            }
            if stopping.stopped { stoppedAt = k + 1 }
        }
        // Epoch 5 ties epoch 1's accuracy at a lower loss and becomes the kept one.
        #expect(kept == [1, 5])
        // The smoothed loss last fell at epoch 6 (to 0.556; epoch 7's 0.60 lifts it to 0.578): 3
        // evaluations and 50 steps later is epoch 10, past the 100-step minimum.
        #expect(stoppedAt == 10)
        // The same scores under the epoch rule alone would have stopped at epoch 4, after 56 steps.
        var plain = EarlyStopping(options: TrainingOptions(), devDocuments: 1000)
        (plain.minSteps, plain.patienceSteps) = (0, 0)
        for k in 0..<4 { _ = plain.record(epoch: k + 1, step: 14 * (k + 1), score: k == 0 ? 0.62 : 0.60, devLoss: losses[k]) }
        #expect(plain.stopped)
    }

    /// On a small dev set the kept epoch is where the running average of the score peaks: a lucky
    /// early evaluation that the plateau only ties is not kept (it was, under the single-score rule).
    @Test func smallDevSetsKeepTheEpochOfTheBestAverageScore() throws {
        var options = TrainingOptions()
        (options.patience, options.minSteps, options.patienceSteps) = (100, 0, 0)
        // A spike at epoch 2, then a plateau from epoch 6 that reaches the spike's score at epoch 9.
        let scores = [0.60, 0.74, 0.58, 0.60, 0.66, 0.70, 0.72, 0.70, 0.74, 0.72, 0.72]
        // The spike's dev loss is the lowest, so the single-score rule's tie-break keeps it.
        let losses = [0.69, 0.60, 0.70, 0.68, 0.66, 0.64, 0.65, 0.66, 0.67, 0.68, 0.69]
        func kept(_ smoothing: Double) -> (epoch: Int, score: Double) {
            options.devScoreSmoothing = smoothing
            var stopping = EarlyStopping(options: options, devDocuments: 50)
            for (k, score) in scores.enumerated() {
                _ = stopping.record(epoch: k + 1, step: 10 * (k + 1), score: score, devLoss: losses[k])
            }
            return (stopping.bestEpoch, stopping.bestScore)
        }
        #expect(kept(1).epoch == 2)
        // Running average, weight 0.5: 0.600 0.670 0.625 0.613 0.636 0.668 0.694 0.697 0.7185 0.7193 0.7196;
        // each of epochs 9-11 beats the one before by at least 3e-4, far beyond rounding.
        let averaged = kept(0.5)
        #expect(averaged.epoch == 11)
        // The kept epoch reports its own score, not the average.
        #expect(averaged.score == 0.72)
        // A large dev set keeps the single best score whatever the option says.
        options.devScoreSmoothing = 0.5
        var large = EarlyStopping(options: options, devDocuments: 1000)
        for (k, score) in scores.enumerated() { _ = large.record(epoch: k + 1, step: 10 * (k + 1), score: score, devLoss: losses[k]) }
        #expect(large.bestEpoch == 2 && large.scoreSmoothing == nil)
        // Options and early-stopping state saved before the option existed keep the single-score rule.
        let old = try JSONDecoder().decode(TrainingOptions.self, from: Data(#"{"model":"attention","minSteps":600}"#.utf8))
        #expect(old.devScoreSmoothing == 1)
        var saved = try JSONDecoder().decode(
            EarlyStopping.self, from: JSONEncoder().encode(EarlyStopping(options: TrainingOptions(), devDocuments: 50)))
        #expect(saved.scoreSmoothing == 0.7)
        let legacyState =
            #"{"patience":3,"patienceSteps":600,"minSteps":600,"smoothing":0.5,"#
            + #""bestScore":-1,"bestEpoch":0,"progressEpoch":0,"progressStep":0,"stopped":false}"#
        saved = try JSONDecoder().decode(EarlyStopping.self, from: Data(legacyState.utf8))
        #expect(saved.scoreSmoothing == nil)
        options.devScoreSmoothing = 0
        #expect(throws: TrainingError.devScoreSmoothing(0)) { try options.validate() }
    }

    @Test func theScheduleIsCountedInStepsUnlessEpochsAreFixed() {
        var options = TrainingOptions()
        // Automatic: 15 epochs or 3000 steps, whichever is more.
        #expect(!options.scheduleEnded(epochsDone: 15, stepsDone: 15 * 14))
        #expect(options.scheduleEnded(epochsDone: 215, stepsDone: 3010))
        #expect(options.scheduleEnded(epochsDone: 15, stepsDone: 15 * 300))
        #expect(!options.scheduleEnded(epochsDone: 14, stepsDone: 14 * 300))
        #expect(options.plannedEpochs(stepsPerEpoch: 14) == 215 && options.plannedEpochs(stepsPerEpoch: 300) == 15)
        options.epochs = 5
        #expect(options.scheduleEnded(epochsDone: 5, stepsDone: 70) && options.plannedEpochs(stepsPerEpoch: 14) == 5)
        options.steps = 40
        #expect(options.scheduleEnded(epochsDone: 3, stepsDone: 42) && options.plannedEpochs(stepsPerEpoch: 14) == 3)
        options.epochs = nil
        #expect(!options.scheduleEnded(epochsDone: 20, stepsDone: 39))
    }

    /// Options saved before the step schedule keep their epoch rule when a run is resumed.
    @Test func olderOptionsKeepTheEpochRule() throws {
        let old = #"{"model":"attention","epochs":15,"patience":3}"#
        let options = try JSONDecoder().decode(TrainingOptions.self, from: Data(old.utf8))
        #expect(options.epochs == 15 && options.minSteps == 0 && options.patienceSteps == 0 && options.smallDevSet == 0)
        let today = try JSONDecoder().decode(TrainingOptions.self, from: JSONEncoder().encode(TrainingOptions()))
        #expect(today == TrainingOptions())
    }

    /// A run stopped by the step rule on a small dev set resumes to the same model, bit for bit.
    @Test func resumingUnderTheStepRuleIsBitIdentical() throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.attention)
        (options.epochs, options.steps, options.minSteps, options.patienceSteps, options.patience) = (nil, 45, 10, 10, 1)
        #expect(train.count / 10 < options.smallDevSet)
        let dir = NSTemporaryDirectory() + "heed-resume-steps-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = try Trainer(options: options).train(train)
        #expect(full.log.last!.optimizerSteps! >= 10)

        let (resumed, _) = try trainInterruptedThenResumed(options, train, in: dir)
        #expect(resumed.log.map(\.devLoss) == full.log.map(\.devLoss) && resumed.log.map(\.best) == full.log.map(\.best))
        #expect(resumed.log.map(\.optimizerSteps) == full.log.map(\.optimizerSteps))
        #expect(resumed.bestEpoch == full.bestEpoch)
        let a = URL(fileURLWithPath: dir + "/a.heed"), b = URL(fileURLWithPath: dir + "/b.heed")
        try full.classifier.write(to: a)
        try resumed.classifier.write(to: b)
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }
}
