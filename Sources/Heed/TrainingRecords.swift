/// One epoch of training, as written to the JSONL log beside the model (snake_case keys there).
public struct EpochRecord: Codable, Sendable, Equatable {
    /// The epoch number, from 1.
    public var epoch: Int
    /// Mean training loss over the epoch's examples.
    public var trainLoss: Double
    /// Mean cross-entropy on the dev set.
    public var devLoss: Double
    /// Accuracy on the dev set, in [0, 1]; early stopping keeps the epoch where it was highest.
    public var devAccuracy: Double
    /// Macro-F1 on the dev set, in [0, 1].
    public var devMacroF1: Double
    /// Training tokens per second of wall time (the dev evaluation is not counted).
    public var tokensPerSecond: Double
    /// Wall time of the epoch's training steps (the dev evaluation is not counted).
    public var seconds: Double
    /// True when this epoch's model became the kept (best) one.
    public var best: Bool
    /// Distributed runs only: the number of ranks. Absent from single-process logs.
    public var ranks: Int? = nil
    /// Distributed runs only: the optimizer steps every rank took (ranks short of batches take
    /// empty steps).
    public var steps: Int? = nil
    /// Distributed runs only: rank 0's seconds in the gradient allreduce, including waiting for
    /// slower ranks.
    public var allreduceSeconds: Double? = nil
    /// Optimiser steps taken since the run began (the schedule and early stopping count these).
    public var optimizerSteps: Int? = nil
    /// Training threads, when more than one.
    public var workers: Int? = nil
    /// Seconds since this run's `train` call (tokenizing, the vocabulary and encoding included) at
    /// the end of the epoch's dev evaluation; the monitor set's evaluation is not counted. For
    /// time-to-accuracy curves.
    public var elapsed: Double? = nil
    /// Accuracy on the monitor set (`heed train --test`), in [0, 1]: watched, never used to stop
    /// or to choose the model.
    public var testAccuracy: Double? = nil

    /// A single-process epoch's record (the distributed fields stay nil).
    public init(
        epoch: Int, trainLoss: Double, devLoss: Double, devAccuracy: Double, devMacroF1: Double,
        tokensPerSecond: Double, seconds: Double, best: Bool
    ) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.devLoss = devLoss
        self.devAccuracy = devAccuracy
        self.devMacroF1 = devMacroF1
        self.tokensPerSecond = tokensPerSecond
        self.seconds = seconds
        self.best = best
    }

    enum CodingKeys: String, CodingKey {
        case epoch, seconds, best, ranks, steps, workers, elapsed
        case testAccuracy = "test_accuracy", optimizerSteps = "optimizer_steps"
        case trainLoss = "train_loss", devLoss = "dev_loss", devAccuracy = "dev_accuracy", devMacroF1 = "dev_macro_f1"
        case tokensPerSecond = "tokens_per_s", allreduceSeconds = "allreduce_seconds"
    }
}

/// Live progress within an epoch, for a progress bar.
public struct TrainingProgress: Sendable {
    /// The current epoch (from 1) and the most epochs the run may take.
    public var epoch: Int, epochs: Int
    /// Optimizer steps done and due this epoch.
    public var batch: Int, batches: Int
    /// Mean training loss so far this epoch.
    public var loss: Double
    /// Training tokens per second so far this epoch (over all ranks).
    public var tokensPerSecond: Double
    /// Seconds since the epoch began.
    public var epochSeconds: Double
}

/// What a training run produced.
public struct TrainingResult: Sendable {
    /// The model with the best epoch's weights.
    public var classifier: TextClassifier
    /// Every epoch's record, those before a resume included (as in the log file).
    public var log: [EpochRecord]
    /// The epoch whose weights `classifier` holds (0 if interrupted before the first epoch ended,
    /// in which case it holds the initial weights).
    public var bestEpoch: Int
    /// True when `Trainer.shouldStop` ended the run early.
    public var interrupted: Bool
    /// True when the run wrote a model file to `Trainer.output` (false when interrupted in the
    /// first epoch, or when there is no output).
    public var wroteModel: Bool
    /// Documents trained on and held out as the dev set (over all ranks).
    public var trainDocuments: Int, devDocuments: Int
    /// Training documents left with no token after tokenization.
    public var skippedDocuments: Int
    /// Wall time of the whole run, dev evaluations and file writes included.
    public var seconds: Double
    /// Mean training tokens per second over all epochs.
    public var tokensPerSecond: Double
}
