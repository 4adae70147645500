/// One row of `heed compare`'s table, as written to its JSON file (`heed report --compare` reads it).
public struct ComparisonRow: Codable, Sendable, Equatable {
    public var model: String
    public var accuracy: Double
    public var macro_f1: Double
    public var test_loss: Double
    public var train_seconds: Double
    public var tokens_per_s: Double
    public var best_epoch: Int
    public var epochs_run: Int
    public var model_file: String

    public init(model: String, accuracy: Double, macro_f1: Double, test_loss: Double, train_seconds: Double,
                tokens_per_s: Double, best_epoch: Int, epochs_run: Int, model_file: String) {
        self.model = model; self.accuracy = accuracy; self.macro_f1 = macro_f1; self.test_loss = test_loss
        self.train_seconds = train_seconds; self.tokens_per_s = tokens_per_s; self.best_epoch = best_epoch
        self.epochs_run = epochs_run; self.model_file = model_file
    }
}

/// The JSON file `heed compare` writes: baseline and attention model trained alike, scored on one test set.
public struct Comparison: Codable, Sendable, Equatable {
    public var train: String
    public var test: String
    public var seed: UInt64
    public var options: TrainingOptions
    public var rows: [ComparisonRow]
    /// Attention model accuracy minus baseline accuracy, in points.
    public var accuracy_gain: Double

    public init(train: String, test: String, seed: UInt64, options: TrainingOptions, rows: [ComparisonRow], accuracy_gain: Double) {
        self.train = train; self.test = test; self.seed = seed; self.options = options; self.rows = rows
        self.accuracy_gain = accuracy_gain
    }
}
