import ArgumentParser
import Foundation
import Heed
import HeedNN

extension ModelKind: ExpressibleByArgument {}
extension AttentionScorer: ExpressibleByArgument {}
extension ClassifierConfig.Encoder: ExpressibleByArgument {}

/// Hyper-parameters shared by train and compare.
extension CalibrationMethod: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}

struct TrainingFlags: ParsableArguments {
    @Option(help: "Dev file for early stopping (default: hold out --dev-fraction of TRAIN).") var dev: String?
    @Option(help: "Share of each label's training documents held out as dev set when --dev is not given.") var devFraction = TrainingOptions().devFraction
    @Option(help: "Attention scorer: linear (w·h+b) or additive (v·tanh(Wh+b)).") var attention = TrainingOptions().attention
    @Option(
        help: ArgumentHelp(
            "Encoder: lstm, orthogonal (each state orthogonal to the sum of the earlier ones) or diversity (conicity penalty in the loss).",
            discussion:
                "Mohankumar et al., ACL 2020: attention over states that point different ways is more faithful. docs/explanations.md has the details and cost."
        ))
    var encoder: ClassifierConfig.Encoder = .lstm
    @Option(
        help: ArgumentHelp(
            "--encoder diversity: λ, the conicity penalty's weight beside the cross-entropy (default \(TrainingOptions.defaultDiversityWeight), the paper's --diversity 0.5).",
            valueName: "λ"))
    var diversityWeight: Float?
    @Option(help: "Embedding size.") var embed = TrainingOptions().embeddingSize
    @Option(help: "LSTM hidden size (per direction).") var hidden = TrainingOptions().hiddenSize
    @Option(
        help: ArgumentHelp(
            "Maximum epochs (default: \(TrainingOptions.automaticEpochs) epochs or \(TrainingOptions.automaticSteps) optimiser steps, whichever is more).",
            discussion: "Early stopping usually ends the run sooner. With --steps too, whichever comes first ends it."))
    var epochs: Int?
    @Option(help: "Maximum optimiser steps, rounded up to a whole epoch (default: see --epochs).") var steps: Int?
    @Option(help: "Early stopping never stops before this many optimiser steps.") var minSteps = TrainingOptions().minSteps
    @Option(help: "Evaluations (one per epoch) without dev progress before stopping; --patience-steps must pass too.")
    var patience = TrainingOptions().patience
    @Option(help: "Optimiser steps without dev progress before stopping (as well as --patience evaluations).")
    var patienceSteps = TrainingOptions().patienceSteps
    @Option(
        help: ArgumentHelp(
            "Dev sets smaller than this many documents also watch their smoothed dev loss and keep the epoch of their best smoothed accuracy.",
            discussion:
                "A new low of the running average of the dev loss counts as progress, and accuracy ties go to the lower dev loss. The kept epoch is where the running average of dev accuracy peaks (--dev-score-smoothing), so one lucky evaluation is not kept."
        ))
    var smallDevSet = TrainingOptions().smallDevSet
    @Option(help: "Weight of the newest dev loss in that running average (1 = no smoothing).")
    var devLossSmoothing = TrainingOptions().devLossSmoothing
    @Option(help: "Weight of the newest dev accuracy in the running average small dev sets keep their epoch by (1 = the accuracy itself).")
    var devScoreSmoothing = TrainingOptions().devScoreSmoothing
    @Option(help: "Documents per batch.") var batch = TrainingOptions().batchSize
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate = TrainingOptions().learningRate
    @Option(
        help: ArgumentHelp(
            "Discriminative learning rates: each layer group below the head learns F times more slowly (ULMFiT uses 2.6; 1 = off).",
            discussion: "Groups from the top: attention and output layer (--lr), LSTM (--lr/F), embedding (--lr/F²).", valueName: "F"))
    var lrDecay = TrainingOptions().lrDecay
    @Option(
        help: ArgumentHelp(
            "Gradual unfreezing: train only the head at first, and every N optimiser steps let the next layer group down train too (default: \(TrainingOptions.encoderUnfreezeEvery) with --init, else off; 0 = off).",
            discussion:
                "Counted in steps, not epochs: an epoch is ~15 steps at 500 labels. With N, the LSTM joins at step N and the embedding at 2N.",
            valueName: "N"))
    var unfreezeEvery: Int?
    @Option(
        help: ArgumentHelp(
            "Learning-rate schedule: constant (--lr throughout) or stlr (slanted triangular: rise from --lr/32 to --lr over the first 10% of the planned steps, then fall back).",
            discussion: "The planned steps are the schedule's (see --epochs and --steps), not where early stopping ends the run."))
    var schedule = TrainingOptions().schedule
    @Option(help: "Dropout after the embedding and before the classifier.") var dropout = TrainingOptions().dropout
    @Option(help: "Probability of replacing a training token by <unk> (word dropout).") var wordDropout = TrainingOptions().wordDropout
    @Option(help: "Std of the random embedding init (PyTorch's default is 1).") var embedInitStd = TrainingOptions().embeddingInitStd
    @Option(name: .customLong("max-len"), help: "Keep the first N tokens of each document (default \(TrainingOptions().maxLength); not with --model han).")
    var maxLength: Int?
    @Option(
        help: ArgumentHelp(
            "--model han: keep the first N sentences of each document (default \(TrainingOptions.defaultMaxSentences)).",
            discussion: "Sentences come from ICU's sentence break rules for the tokenizer's locale."))
    var maxSentences: Int?
    @Option(help: "--model han: keep the first N tokens of each sentence (default \(TrainingOptions.defaultMaxWords)).") var maxWords: Int?
    @Option(help: "Vocabulary: drop tokens seen fewer times in training.") var minCount = TrainingOptions().minCount
    @Option(help: "Vocabulary: largest size including <pad> and <unk>.") var maxVocab = TrainingOptions().maxVocabulary
    @Option(
        help: ArgumentHelp(
            "Character n-gram lengths whose hashed rows are added to each token's vector, e.g. 3-6 (English words) or 1-2 (Chinese); 0 = off.",
            discussion: "Words outside the vocabulary then still get a vector from their pieces.", valueName: "MIN-MAX"))
    var subwords = SubwordLengths(TrainingOptions().subwords)
    @Option(help: "Rows of the table that subword n-grams hash into (with --subwords).") var buckets = TrainingOptions().buckets
    @Option(
        help: ArgumentHelp(
            "Use this vocabulary instead of building one from TRAIN.",
            discussion:
                "One built from unlabelled text (heed vocab build --input text) names no labels: TRAIN's are used. With --embeddings, it gives words the labelled set lacks rows of their own."
        )) var vocab: String?
    @Option(help: "Pretrained word vectors (.vec text format) for the embedding (rows of words outside the vocabulary are skipped).")
    var embeddings: String?
    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "Start from a pretrained encoder (heed pretrain): its embedding, LSTM, vocabulary and tokenizer.",
            discussion: "--embed, --hidden and --model left at their defaults take the encoder's.", valueName: "ENCODER"))
    var initEncoder: String?
    @Flag(help: "Weight the loss by inverse class frequency.") var classWeights = false
    @Option(help: "Random seed (same seed and threads → identical model file).") var seed: UInt64 = TrainingOptions().seed
    @Option(help: "BLAS threads, with --workers 1.") var threads = TrainingOptions().threads
    @Option(
        help: ArgumentHelp(
            "Training threads, each computing its share of every batch (default: the number of cores, at most 8; 1 with --threads above 1).",
            discussion: "The effective batch stays --batch. The same seed and worker count train the same model on any machine."))
    var workers: Int?
    @Option(help: "After training, fit a temperature on the dev set (temperature) or keep the softmax as trained (none).")
    var calibration = TrainingOptions().calibration
    @Option(help: "Continue from a checkpoint (MODEL.ckpt, written after every epoch) on the same data.") var resume: String?
    @OptionGroup var tokenizerOptions: TokenizerOptions
    @OptionGroup var input: InputOptions

    func options(model: ModelKind) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = model
        o.attention = attention
        o.embeddingSize = embed; o.hiddenSize = hidden; o.epochs = epochs; o.steps = steps; o.patience = patience; o.batchSize = batch
        o.minSteps = minSteps; o.patienceSteps = patienceSteps; o.smallDevSet = smallDevSet; o.devLossSmoothing = devLossSmoothing
        o.devScoreSmoothing = devScoreSmoothing
        o.learningRate = learningRate; o.dropout = dropout; o.wordDropout = wordDropout; o.embeddingInitStd = embedInitStd;
        o.maxLength = maxLength ?? o.maxLength;
        if let maxSentences { o.maxSentences = maxSentences }
        if let maxWords { o.maxWords = maxWords }
        o.minCount = minCount; o.maxVocabulary = maxVocab
        o.subwords = subwords.range; o.buckets = buckets
        o.classWeights = classWeights; o.seed = seed; o.threads = threads; o.devFraction = devFraction
        o.workers = workers ?? (threads > 1 ? 1 : defaultWorkers)
        o.calibration = calibration
        o.lrDecay = lrDecay; o.unfreezeEvery = unfreezeEvery; o.schedule = schedule
        o.encoder = encoder == .lstm ? nil : encoder
        o.diversityWeight = diversityWeight
        return o
    }

    func trainer(model: ModelKind) -> Trainer {
        var t = Trainer(options: options(model: model), tokenizer: tokenizerOptions.settings())
        t.vocabulary = vocab.map { URL(fileURLWithPath: $0) }
        t.embeddings = embeddings.map { URL(fileURLWithPath: $0) }
        t.encoder = initEncoder.map { URL(fileURLWithPath: $0) }
        t.resume = resume.map { URL(fileURLWithPath: $0) }
        return t
    }

    /// Usage errors for `kind`'s flags: `han` is bounded by sentences and words, not `--max-len`,
    /// and does not take the flat encoders or a pretrained one yet.
    func validate(for kind: ModelKind) throws {
        if kind.isHierarchical {
            if let maxLength {
                throw ValidationError(
                    "--max-len \(maxLength) does not apply to --model han: bound documents with --max-sentences N (default \(TrainingOptions().maxSentences)) and --max-words N (words per sentence, default \(TrainingOptions().maxWords))"
                )
            }
            if encoder != .lstm { throw ValidationError(flagMessage(TrainingError.encoderWithHierarchical)) }
            if initEncoder != nil {
                throw ValidationError(
                    "--init is not built for --model han yet: train han from scratch, or a flat --model (e.g. bilstm-attention) from the encoder")
            }
        } else if maxSentences != nil || maxWords != nil {
            throw ValidationError("--max-sentences and --max-words apply to --model han only; a \(kind.rawValue) model is bounded by --max-len")
        }
    }

    /// Usage errors (exit 64) before anything is read: the library's range checks, in flag names.
    func validate() throws {
        do { try options(model: .lstm).validate() } catch { throw ValidationError(flagMessage(error)) }
        if let workers, workers > 1 && threads > 1 {
            throw ValidationError(
                "--threads \(threads) sets BLAS threads for one worker; with --workers \(workers) each worker runs one BLAS thread (pass one of them)")
        }
    }

    func read(_ path: String) throws -> [LabelledText] {
        let docs = try CorpusReader(input.source(path)).readAll()
        guard !docs.isEmpty else { throw HeedTextError.noDocuments(path) }
        return docs
    }
}

/// `--subwords MIN-MAX` (`0` or `off` for none).
struct SubwordLengths: ExpressibleByArgument, CustomStringConvertible {
    var range: ClosedRange<Int>?

    init(_ range: ClosedRange<Int>?) { self.range = range }

    init?(argument: String) {
        if argument == "0" || argument == "off" { range = nil; return }
        let parts = argument.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let lo = Int(parts[0]), let hi = Int(parts[1]), lo >= 1, hi >= lo else { return nil }
        range = lo...hi
    }

    var description: String { range.map { "\($0.lowerBound)-\($0.upperBound)" } ?? "0" }
    var defaultValueDescription: String { description }
}
