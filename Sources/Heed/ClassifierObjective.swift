import HeedNN

/// A text classifier as the training loop's objective: labelled batches (plus a VAT term), dev
/// metrics summed over ranks, early stopping, and the model, log and checkpoint of `RunFiles`.
/// The same for either network (`TrainableNetwork`): flat or hierarchical.
final class ClassifierObjective<Network: TrainableNetwork>: TrainingObjective {
    let trainer: Trainer
    let options: TrainingOptions
    let collective: any Collective
    let train: [EncodedDocument]
    let devDocuments: [LabelledText]
    let classWeights: [Float]?
    let vatSchedule: VATSchedule?
    let classifier: TextClassifier
    let step: DataParallelStep<Network>
    let fineTuning: FineTuning
    let adam: Adam
    let best: ParameterSnapshot
    let files: RunFiles
    let dataHash: UInt64
    var stopping: EarlyStopping
    var log: [EpochRecord]
    /// Set by `judge`, kept by `endEpoch` with rank 0's stop decision.
    private var judged: EarlyStopping?
    private var epoch = 0
    private var batches: [[Int]] = []
    private var unlabelledBatches: [[Int]]?
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var monitorSeconds = 0.0

    init(
        trainer: Trainer, options: TrainingOptions, collective: any Collective, train: [EncodedDocument], devDocuments: [LabelledText],
        classWeights: [Float]?, vatSchedule: VATSchedule?, classifier: TextClassifier, step: DataParallelStep<Network>, adam: Adam,
        best: ParameterSnapshot, files: RunFiles, dataHash: UInt64, stopping: EarlyStopping, log: [EpochRecord], started: ContinuousClock.Instant
    ) {
        (self.trainer, self.options, self.collective, self.train, self.devDocuments) = (trainer, options, collective, train, devDocuments)
        (self.classWeights, self.vatSchedule, self.classifier, self.step, self.adam) = (classWeights, vatSchedule, classifier, step, adam)
        (self.best, self.files, self.dataHash, self.stopping, self.log, self.started) = (best, files, dataHash, stopping, log, started)
        fineTuning = FineTuning(options: options, groups: step.model.parameterGroups)
    }

    var parameters: [Param] { step.model.parameters }

    func startEpoch(_ epoch: Int) -> Int {
        self.epoch = epoch
        let rank = collective.rank
        // Streams per (seed, epoch, rank): different on each rank, reproducible after a resume.
        step.seedStreams(seed: options.seed, epoch: epoch, rank: rank)
        var shuffler: Rng? = Rng(seed: Trainer.streamSeed(options.seed, epoch: epoch, rank: rank) &+ 1)
        batches = Bucketing.batches(train, size: options.batchSize, shuffle: &shuffler)
        unlabelledBatches = vatSchedule?.batches(seed: options.seed, epoch: epoch, rank: rank, steps: batches.count)
        return batches.count
    }

    func gradient(batch b: Int) -> GradientReducer.Totals {
        let vat = vatSchedule.flatMap { schedule in
            unlabelledBatches.map { schedule.batch($0[b], step: b, seed: options.seed, epoch: epoch, rank: collective.rank) }
        }
        return step.gradient(train, indices: batches[b], classWeights: classWeights, vat: vat)
    }

    func prepare(_ adam: Adam, plannedSteps: Int) { fineTuning.prepare(adam, plannedSteps: plannedSteps) }

    func evaluate() throws -> Evaluation { try Trainer.evaluate(classifier, devDocuments, collective: collective) }

    func judge(_ evaluation: Evaluation, epoch: Int, step: Int) -> TrainingVerdict {
        var next = stopping
        let improved = next.record(epoch: epoch, step: step, score: trainer.selectionMetric.score(evaluation), devLoss: evaluation.loss)
        judged = next
        return TrainingVerdict(improved: improved, stop: next.stopped)
    }

    func endEpoch(_ summary: EpochSummary, score evaluation: Evaluation, verdict: TrainingVerdict) throws {
        if var next = judged {
            next.stopped = verdict.stop
            stopping = next
        }
        if verdict.improved { try files.bestChanged(classifier) }
        let ranks = collective.size
        var record = EpochRecord(
            epoch: summary.epoch, trainLoss: summary.trainLoss, devLoss: evaluation.loss ?? .nan,
            devAccuracy: evaluation.accuracy, devMacroF1: evaluation.macroF1,
            tokensPerSecond: summary.tokensPerSecond, seconds: summary.seconds, best: verdict.improved)
        record.optimizerSteps = summary.optimizerSteps
        if ranks > 1 {
            record.ranks = ranks
            record.steps = summary.steps
            record.allreduceSeconds = summary.allreduceSeconds
        }
        if options.workers > 1 { record.workers = options.workers }
        record.elapsed = Trainer.seconds(started.duration(to: clock.now)) - monitorSeconds
        if collective.rank == 0, let monitor = trainer.monitor {
            let start = clock.now
            record.testAccuracy = try classifier.evaluate(monitor, file: "monitor set").accuracy
            monitorSeconds += Trainer.seconds(start.duration(to: clock.now))
        }
        log.append(record)
        try files.writeLog(log)
        let state = Checkpoint.State(
            epoch: summary.epoch, bestAccuracy: stopping.bestScore, bestEpoch: stopping.bestEpoch,
            sinceBest: summary.epoch - stopping.progressEpoch, log: log, adamSteps: adam.steps, dataHash: dataHash, ranks: ranks,
            stopping: stopping, adamParameterSteps: adam.parameterSteps)
        try files.writeCheckpoint(classifier: classifier, model: step.model, adam: adam, best: best, state: state)
        if collective.rank == 0 { trainer.epochEnded?(record) }
    }
}

extension DataParallelStep where Network: TrainableNetwork {
    /// Seeds every worker's dropout stream for one epoch: worker 0 keeps the single-threaded
    /// stream, so one worker trains exactly as before workers existed.
    func seedStreams(seed: UInt64, epoch: Int, rank: Int) {
        model.rngState = Rng(seed: Trainer.streamSeed(seed, epoch: epoch, rank: rank)).state
        for (k, replica) in replicas.enumerated() {
            replica.rngState = Rng(seed: Trainer.streamSeed(seed, epoch: epoch, rank: rank, worker: k + 1)).state
        }
    }

    /// Leaves the batch's mean-loss gradient in `model`'s gradients and returns the batch's
    /// totals (loss weight, weighted loss, examples, tokens). With `vat`, each worker adds its
    /// share of the unlabelled batch's VAT gradient after its labelled one.
    func gradient(_ train: [EncodedDocument], indices: [Int], classWeights: [Float]?, vat: VATBatch? = nil) -> GradientReducer.Totals {
        if replicas.isEmpty {
            let totals = model.trainingStep(train, indices: indices, classWeights: classWeights, lossWeightTotal: nil, documentTotal: nil)
            if let vat { model.addVAT(vat, share: 0, of: 1) }
            return totals
        }
        let shares = Self.shares(indices, workers: workers)
        let weightTotal = classWeights.map { w in indices.reduce(0.0) { $0 + Double(w[train[$1].label]) } } ?? Double(indices.count)
        let parts = run(shares) { network, w in
            let part = network.trainingStep(
                train, indices: shares[w], classWeights: classWeights, lossWeightTotal: weightTotal, documentTotal: indices.count)
            if let vat { network.addVAT(vat, share: w, of: shares.count) }
            return part
        }
        var total = GradientReducer.Totals()
        for part in parts {
            total.weightedLoss += part.weightedLoss
            total.examples += part.examples
            total.tokens += part.tokens
        }
        total.weight = weightTotal
        total.exampleLoss = total.weightedLoss / weightTotal * Double(indices.count)
        return total
    }
}
