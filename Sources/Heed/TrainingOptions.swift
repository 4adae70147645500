import HeedNN
import HeedText

/// Which network to train.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// Baseline: LSTM, last real hidden state → softmax.
    case lstm
    /// LSTM with attention pooling over time.
    case attention
    /// Bidirectional LSTM with attention pooling (the default: best on every shipped corpus).
    case bilstmAttention = "bilstm-attention"
    /// Bidirectional baseline (forward-last ⊕ backward-first).
    case bilstm
}

/// Everything that shapes a training run. Defaults were chosen on dev splits carved from the
/// shipped training sets (never on test sets); see BENCHMARKS.md.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public var model: ModelKind = .bilstmAttention
    public var attention: ClassifierConfig.Scorer = .additive
    public var embed = 100
    public var hidden = 128
    public var epochs = 10
    public var batch = 32
    public var lr: Float = 2e-3
    public var dropout: Float = 0.5
    public var maxLength = 400
    public var minCount = 2
    public var maxVocabulary = 30000
    public var classWeights = false
    public var seed: UInt64 = 1
    public var threads = 2
    /// Epochs without dev improvement before stopping.
    public var patience = 3
    /// Share of training documents held out as the dev set when no dev file is given.
    public var devFraction = 0.1
    public var clipNorm: Float = 5
    public var weightDecay: Float = 0

    public init() {}

    public func classifierConfig(vocabularySize: Int, classes: Int) -> ClassifierConfig {
        ClassifierConfig(vocabSize: vocabularySize, embedDim: embed, hiddenDim: hidden,
                         bidirectional: model == .bilstmAttention || model == .bilstm,
                         pooling: model == .lstm || model == .bilstm ? .last : .attention,
                         scorer: attention, classes: classes, dropout: dropout)
    }

    /// A message naming the first unusable option, or nil.
    public var problem: String? {
        if embed < 1 || hidden < 1 { return "--embed and --hidden must be positive" }
        if epochs < 1 { return "--epochs must be at least 1" }
        if batch < 1 { return "--batch must be at least 1" }
        if !(lr > 0) || !lr.isFinite { return "--lr must be a positive number" }
        if !(dropout >= 0 && dropout < 1) { return "--dropout must be in [0, 1)" }
        if maxLength < 1 { return "--max-len must be at least 1" }
        if minCount < 1 { return "--min-count must be at least 1" }
        if threads < 1 { return "--threads must be at least 1" }
        if !(devFraction > 0 && devFraction < 1) { return "--dev-fraction must be between 0 and 1" }
        return nil
    }
}
