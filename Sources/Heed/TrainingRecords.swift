/// One epoch of training, as written to the JSONL log beside the model (snake_case keys there).
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    /// Mean training loss over the epoch's examples.
    public var trainLoss: Double
    /// Mean cross-entropy on the dev set.
    public var devLoss: Double
    public var devAccuracy: Double
    public var devMacroF1: Double
    /// Training tokens per second of wall time (the dev evaluation is not counted).
    public var tokensPerSecond: Double
    public var seconds: Double
    /// True when this epoch's model became the kept (best) one.
    public var best: Bool
    /// Distributed runs only: the number of ranks, optimizer steps, and rank 0's seconds in the
    /// gradient allreduce (including waiting for slower ranks). Absent from single-process logs.
    public var ranks: Int? = nil
    public var steps: Int? = nil
    public var allreduceSeconds: Double? = nil

    public init(epoch: Int, trainLoss: Double, devLoss: Double, devAccuracy: Double, devMacroF1: Double,
                tokensPerSecond: Double, seconds: Double, best: Bool) {
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
        case epoch, seconds, best, ranks, steps
        case trainLoss = "train_loss", devLoss = "dev_loss", devAccuracy = "dev_accuracy", devMacroF1 = "dev_macro_f1"
        case tokensPerSecond = "tokens_per_s", allreduceSeconds = "allreduce_seconds"
    }
}

/// Live progress within an epoch, for a progress bar.
public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int
    /// Optimizer steps done and due this epoch.
    public var batch: Int, batches: Int
    /// Mean training loss so far this epoch.
    public var loss: Double
    public var tokensPerSecond: Double
    public var epochSeconds: Double
}

/// What a training run produced.
public struct TrainingResult: Sendable {
    /// The model with the best epoch's weights.
    public var classifier: TextClassifier
    public var log: [EpochRecord]
    public var bestEpoch: Int
    /// True when `Trainer.shouldStop` ended the run early.
    public var interrupted: Bool
    /// True when the run wrote a model file to `Trainer.output` (false when interrupted in the
    /// first epoch, or when there is no output).
    public var wroteModel: Bool
    public var trainDocuments: Int, devDocuments: Int
    /// Training documents left with no token after tokenization.
    public var skippedDocuments: Int
    public var seconds: Double
    /// Mean training tokens per second over all epochs.
    public var tokensPerSecond: Double
}
