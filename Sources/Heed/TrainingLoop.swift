import HeedNN

/// What the one training loop trains: a classifier (`ClassifierObjective`) or a language model
/// (`LanguageModelObjective`). The loop owns what every kind of training shares (steps in lockstep
/// over ranks, the gradient allreduce, clipping, Adam, keeping the best epoch, stopping); the
/// objective owns its data, its loss, its score and its files.
protocol TrainingObjective: AnyObject {
    /// What `evaluate` measures: dev metrics, held-out perplexity.
    associatedtype Score
    /// The weights Adam updates (worker 0's; every worker's replica shares them).
    var parameters: [Param] { get }
    /// Seeds every worker's random streams for `epoch` and returns this rank's batch count.
    func startEpoch(_ epoch: Int) -> Int
    /// Leaves batch `b`'s mean-loss gradient in `parameters`' gradients and returns its totals.
    func gradient(batch b: Int) -> GradientReducer.Totals
    /// Sets Adam's rates and frozen groups for the step about to be taken.
    func prepare(_ adam: Adam, plannedSteps: Int)
    /// The score of the current weights over every rank's held-out data (the same on every rank).
    func evaluate() throws -> Score
    /// Whether `score` makes these weights the kept ones and whether to stop. Every rank judges
    /// (the same inputs give the same state); rank 0's verdict is the one followed.
    func judge(_ score: Score, epoch: Int, step: Int) -> TrainingVerdict
    /// Writes the epoch's record, log and checkpoint, and the artefact when `verdict.improved`.
    func endEpoch(_ summary: EpochSummary, score: Score, verdict: TrainingVerdict) throws
}

extension TrainingObjective {
    func prepare(_ adam: Adam, plannedSteps: Int) {}
}

/// An evaluation's consequences, decided by rank 0.
struct TrainingVerdict {
    var improved: Bool
    var stop: Bool
}

/// One epoch's training side, as every rank saw it (sums over ranks).
struct EpochSummary {
    var epoch: Int
    /// Mean training loss per example (classifier) or prediction (language model).
    var trainLoss: Double
    var tokensPerSecond: Double
    /// Seconds of the training steps, and of the evaluation after them.
    var seconds: Double, evaluationSeconds: Double
    /// Steps every rank took this epoch (the most batches any rank had), and Adam's total so far.
    var steps: Int, optimizerSteps: Int
    var allreduceSeconds: Double
    /// True when the deadline ended the epoch before its last batch.
    var partial: Bool
}

/// The epochs and steps a run may take (`TrainingOptions`' schedule; a language model's has epochs).
struct TrainingSchedule {
    var epochs: Int?
    var steps: Int?

    func ended(epochsDone: Int, stepsDone: Int) -> Bool {
        switch (epochs, steps) {
        case let (e?, s?): return epochsDone >= e || stepsDone >= s
        case let (e?, nil): return epochsDone >= e
        case let (nil, s?): return stepsDone >= s
        case (nil, nil): return epochsDone >= TrainingOptions.automaticEpochs && stepsDone >= TrainingOptions.automaticSteps
        }
    }

    /// The epochs the schedule allows at `stepsPerEpoch` steps an epoch.
    func plannedEpochs(stepsPerEpoch: Int) -> Int {
        let perEpoch = max(stepsPerEpoch, 1)
        let bySteps = { (s: Int) in (s + perEpoch - 1) / perEpoch }
        switch (epochs, steps) {
        case let (e?, s?): return min(e, bySteps(s))
        case let (e?, nil): return e
        case let (nil, s?): return bySteps(s)
        case (nil, nil): return max(TrainingOptions.automaticEpochs, bySteps(TrainingOptions.automaticSteps))
        }
    }
}

/// The one training loop, one call per rank of `collective`: epochs of steps in lockstep (ranks
/// that run out of batches contribute zeros), gradients averaged over ranks by `GradientReducer`,
/// identical clipping and Adam updates on every rank, then an evaluation whose verdict rank 0
/// decides. Single-process training is this loop over `SingleProcess`.
struct TrainingLoop {
    let collective: any Collective
    let adam: Adam
    /// The kept epoch's weights, captured whenever the verdict says improved.
    let best: ParameterSnapshot
    let schedule: TrainingSchedule
    let clipNorm: Float
    /// The first epoch to run (after a resume, the one after the checkpoint's).
    var firstEpoch = 1
    /// True when a resumed run had already decided to stop.
    var stopped = false
    /// Polled between batches (on every rank); true on any rank stops every rank.
    var shouldStop: (@Sendable () -> Bool)?
    /// Wall-clock end: the epoch running then ends after its current batch and is evaluated; the
    /// run ends there. Any rank past it ends the epoch on every rank.
    var deadline: ContinuousClock.Instant?
    /// Called on rank 0 between batches.
    var progress: (@Sendable (TrainingProgress) -> Void)?

    struct Outcome {
        var interrupted = false
        var tokens = 0.0, seconds = 0.0
    }

    func run<Objective: TrainingObjective>(_ objective: Objective) throws -> Outcome {
        let rank = collective.rank, ranks = collective.size
        // Failures every rank sees alike; one process reports them as they are.
        func agreed(_ error: any Error) -> any Error { ranks > 1 ? AgreedFailure(error) : error }
        let clock = ContinuousClock()
        func pastDeadline() -> Bool { deadline.map { clock.now >= $0 } ?? false }
        let reducer = GradientReducer(parameters: objective.parameters, collective: collective)
        var outcome = Outcome()
        var stopped = self.stopped
        var epoch = firstEpoch - 1
        epochs: while !stopped && !schedule.ended(epochsDone: epoch, stepsDone: adam.steps) {
            // A deadline that passed at an epoch's end ends the run there (once this run did an epoch).
            if deadline != nil, epoch >= firstEpoch {
                var past = [pastDeadline() ? 1.0 : 0]
                collective.sum(&past)
                if past[0] > 0 { break }
            }
            epoch += 1
            let epochStart = clock.now
            let batches = objective.startEpoch(epoch)
            // Every rank takes the same number of steps.
            let steps = ranks > 1 ? Int(try collective.allGather(UInt64(batches)).max() ?? 0) : batches
            let plannedEpochs = schedule.plannedEpochs(stepsPerEpoch: steps)
            var lossSum = 0.0, seen = 0.0, tokens = 0.0
            var partial = false
            for b in 0..<steps {
                var local = GradientReducer.Totals()
                let stop = shouldStop?() == true ? 1.0 : 0, cut = b > 0 && pastDeadline() ? 1.0 : 0
                let computes = b < batches && stop == 0 && cut == 0
                if computes { local = objective.gradient(batch: b) }
                (local.stop, local.cut) = (stop, cut)
                let global = reducer.reduce(local, hasGradient: computes)
                if global.stop > 0 { outcome.interrupted = true; break epochs }
                if global.cut > 0 { partial = true; break }
                guard global.loss.isFinite else { throw agreed(HeedError.nonFinite(epoch: epoch, batch: b + 1, what: "loss")) }
                objective.prepare(adam, plannedSteps: plannedEpochs * steps)
                let norm = clipGradNorm(adam.unfrozenParameters, maxNorm: clipNorm)
                guard norm.isFinite else { throw agreed(HeedError.nonFinite(epoch: epoch, batch: b + 1, what: "gradient")) }
                adam.step()
                lossSum += global.exampleLoss
                seen += global.examples
                tokens += global.tokens
                if rank == 0, let progress {
                    let elapsed = Trainer.seconds(epochStart.duration(to: clock.now))
                    progress(
                        TrainingProgress(
                            epoch: epoch, epochs: max(epoch, plannedEpochs), batch: b + 1, batches: steps,
                            loss: lossSum / max(seen, 1), tokensPerSecond: tokens / max(elapsed, 1e-9), epochSeconds: elapsed))
                }
            }
            let seconds = Trainer.seconds(epochStart.duration(to: clock.now))
            outcome.tokens += tokens
            outcome.seconds += seconds
            if ranks > 1 {
                try collective.requireAgreement(Trainer.fingerprint(objective.parameters), "the parameters after epoch \(epoch)")
            }
            let evaluationStart = clock.now
            let score = try objective.evaluate()
            let evaluationSeconds = Trainer.seconds(evaluationStart.duration(to: clock.now))
            var verdict = objective.judge(score, epoch: epoch, step: adam.steps)
            if ranks > 1 {
                let decided = try collective.broadcast([verdict.improved ? 1 : 0, verdict.stop ? 1 : 0], from: 0)
                verdict = TrainingVerdict(improved: decided[0] == 1, stop: decided[1] == 1)
            }
            stopped = verdict.stop
            if verdict.improved { best.capture() }
            let summary = EpochSummary(
                epoch: epoch, trainLoss: lossSum / max(seen, 1), tokensPerSecond: tokens / max(seconds, 1e-9), seconds: seconds,
                evaluationSeconds: evaluationSeconds, steps: steps, optimizerSteps: adam.steps, allreduceSeconds: reducer.takeSeconds(),
                partial: partial)
            try objective.endEpoch(summary, score: score, verdict: verdict)
            if partial { break }
        }
        return outcome
    }
}
