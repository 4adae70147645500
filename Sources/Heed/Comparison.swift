/// One row of `heed compare`'s table, as written to its JSON file (`heed report --compare` reads it).
public struct ComparisonRow: Codable, Sendable, Equatable {
    /// The model kind (`lstm`, `attention`, …).
    public var model: String
    /// Test-set accuracy and macro-F1, in [0, 1].
    public var accuracy: Double
    public var macroF1: Double
    /// Mean test cross-entropy.
    public var testLoss: Double
    public var trainSeconds: Double
    public var tokensPerSecond: Double
    public var bestEpoch: Int
    public var epochsRun: Int
    /// The model file this row's figures come from.
    public var modelFile: String

    public init(model: String, accuracy: Double, macroF1: Double, testLoss: Double, trainSeconds: Double,
                tokensPerSecond: Double, bestEpoch: Int, epochsRun: Int, modelFile: String) {
        self.model = model; self.accuracy = accuracy; self.macroF1 = macroF1; self.testLoss = testLoss
        self.trainSeconds = trainSeconds; self.tokensPerSecond = tokensPerSecond; self.bestEpoch = bestEpoch
        self.epochsRun = epochsRun; self.modelFile = modelFile
    }

    enum CodingKeys: String, CodingKey {
        case model, accuracy
        case macroF1 = "macro_f1", testLoss = "test_loss", trainSeconds = "train_seconds", tokensPerSecond = "tokens_per_s"
        case bestEpoch = "best_epoch", epochsRun = "epochs_run", modelFile = "model_file"
    }
}

/// The JSON file `heed compare` writes: baseline and attention model trained alike, scored on one test set.
public struct Comparison: Codable, Sendable, Equatable {
    /// The training and test files, as given.
    /// (Both models were trained with `options` and `seed`.)
    public var train: String
    public var test: String
    public var seed: UInt64
    public var options: TrainingOptions
    public var rows: [ComparisonRow]
    /// Attention model accuracy minus baseline accuracy, in points.
    public var accuracyGain: Double

    public init(train: String, test: String, seed: UInt64, options: TrainingOptions, rows: [ComparisonRow], accuracyGain: Double) {
        self.train = train; self.test = test; self.seed = seed; self.options = options; self.rows = rows
        self.accuracyGain = accuracyGain
    }

    enum CodingKeys: String, CodingKey {
        case train, test, seed, options, rows
        case accuracyGain = "accuracy_gain"
    }
}
