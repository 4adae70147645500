/// One row of `heed compare`'s table, as written to its JSON file (`heed report --compare` reads it).
package struct ComparisonRow: Codable, Sendable, Equatable {
    /// The model kind (`lstm`, `attention`, …).
    package var model: String
    /// Test-set accuracy, in [0, 1].
    package var accuracy: Double
    /// Test-set macro-F1, in [0, 1].
    package var macroF1: Double
    /// Mean test cross-entropy.
    package var testLoss: Double
    /// Wall time of the model's training run.
    package var trainSeconds: Double
    /// Mean training tokens per second.
    package var tokensPerSecond: Double
    /// The epoch whose weights were kept.
    package var bestEpoch: Int
    /// Epochs trained before early stopping (or the epoch limit) ended the run.
    package var epochsRun: Int
    /// The model file this row's figures come from.
    package var modelFile: String

    /// A row with every figure given.
    package init(
        model: String, accuracy: Double, macroF1: Double, testLoss: Double, trainSeconds: Double,
        tokensPerSecond: Double, bestEpoch: Int, epochsRun: Int, modelFile: String
    ) {
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
package struct Comparison: Codable, Sendable, Equatable {
    /// The training file, as given.
    package var train: String
    /// The test file, as given.
    package var test: String
    /// The seed both models were trained with.
    package var seed: UInt64
    /// The attention model's options; the baseline was trained with the same apart from `model`.
    package var options: TrainingOptions
    /// One row per model, the baseline first.
    package var rows: [ComparisonRow]
    /// Attention model accuracy minus baseline accuracy, in points.
    package var accuracyGain: Double

    /// A comparison with every field given.
    package init(train: String, test: String, seed: UInt64, options: TrainingOptions, rows: [ComparisonRow], accuracyGain: Double) {
        self.train = train; self.test = test; self.seed = seed; self.options = options; self.rows = rows
        self.accuracyGain = accuracyGain
    }

    enum CodingKeys: String, CodingKey {
        case train, test, seed, options, rows
        case accuracyGain = "accuracy_gain"
    }
}
