/// Errors in the training and evaluation path, each naming the file, line or epoch concerned.
/// Messages speak of the library's concepts; the command line adds its flag names.
public enum HeedError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A document's label is not one of the model's labels.
    case unknownLabel(file: String, line: Int, label: String, known: [String])
    /// Training and evaluation need a label on every document.
    case missingLabel(file: String, line: Int)
    /// Every document lost all its tokens to the tokenizer.
    case noUsableDocuments(String)
    /// Fewer than two labels: there is nothing to classify.
    case tooFewClasses(String, found: [String])
    /// No document is left for early stopping.
    case emptyDevSet
    /// A line of a pretrained-vector file cannot be used.
    case badEmbeddings(file: String, line: Int, reason: String)
    /// The pretrained vectors have `found` values per word; the model's embedding has `expected`.
    case embeddingDimension(file: String, line: Int, found: Int, expected: Int)
    /// A model or checkpoint file does not fit what it is used with (the message says how).
    case modelMismatch(String)
    /// The loss or the gradient stopped being finite.
    case nonFinite(epoch: Int, batch: Int, what: String)
    /// A dev document's label never occurs in the training data, so no model could predict it.
    case devLabelNotInTraining(file: String, line: Int, label: String, known: [String])
    /// `heed tune` was stopped before any trial finished an epoch.
    case tuningStopped
    /// A feature not built for the hierarchical model (han) yet; `instead` says what to use.
    case notForHierarchical(String, instead: String)
    /// A feature that needs float weights, refused for a model written by `heed quantize`;
    /// `instead` says what to use.
    case notForQuantized(String, instead: String)

    /// The message for the user, naming the file and line or the epoch concerned.
    public var description: String {
        switch self {
        case .unknownLabel(let f, let l, let label, let known):
            return "\(f):\(l): label \"\(label)\" was not seen in training (the model knows \(known.joined(separator: ", ")))"
        case .missingLabel(let f, let l): return "\(f):\(l): the document has no label (training and evaluation need labelled data)"
        case .noUsableDocuments(let f): return "\(f): no document has any token the tokenizer keeps"
        case .tooFewClasses(let f, let found):
            return "\(f): training needs at least two labels, found \(found.isEmpty ? "none" : found.joined(separator: ", "))"
        case .emptyDevSet: return "the dev set is empty: give a dev file or more training data"
        case .badEmbeddings(let f, let l, let r): return "\(f):\(l): \(r)"
        case .embeddingDimension(let f, let l, let found, let expected):
            return "\(f):\(l): vector has \(found) values, the model's embeddings have \(expected) (train with an embedding size of \(found))"
        case .modelMismatch(let m): return m
        case .nonFinite(let e, let b, let w):
            return "training diverged: non-finite \(w) in epoch \(e), batch \(b); the best model so far is kept (a lower learning rate usually helps)"
        case .devLabelNotInTraining(let f, let l, let label, let known):
            return
                "\(f):\(l): label \"\(label)\" does not occur in the training data (its labels: \(known.joined(separator: ", "))); no model trained on it can predict it"
        case .tuningStopped: return "tuning was stopped before any trial finished an epoch; no model was written"
        case .notForHierarchical(let what, let instead): return "\(what) is not built for han models yet; \(instead)"
        case .notForQuantized(let what, let instead): return "\(what) needs float weights and the model is quantised (heed quantize); \(instead)"
        }
    }
}

/// A training option outside its range, with the value given.
public enum TrainingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `embeddingSize` below 1.
    case embeddingSize(Int)
    /// `hiddenSize` below 1.
    case hiddenSize(Int)
    /// `epochs` below 1.
    case epochs(Int)
    /// `steps` below 1.
    case steps(Int)
    /// `minSteps` below 0.
    case minSteps(Int)
    /// `patienceSteps` below 0.
    case patienceSteps(Int)
    /// `smallDevSet` below 0.
    case smallDevSet(Int)
    /// `devLossSmoothing` outside (0, 1].
    case devLossSmoothing(Double)
    /// `devScoreSmoothing` outside (0, 1].
    case devScoreSmoothing(Double)
    /// `patience` below 1.
    case patience(Int)
    /// `batchSize` below 1.
    case batchSize(Int)
    /// `learningRate` not a positive finite number.
    case learningRate(Float)
    /// `dropout` outside [0, 1).
    case dropout(Float)
    /// `wordDropout` outside [0, 1).
    case wordDropout(Float)
    /// `embeddingInitStd` not a positive finite number.
    case embeddingInitStd(Float)
    /// `maxLength` below 1.
    case maxLength(Int)
    /// `maxSentences` below 1.
    case maxSentences(Int)
    /// `maxWords` below 1.
    case maxWords(Int)
    /// An encoder other than the plain LSTM with `model` `.han` (not built for it yet).
    case encoderWithHierarchical
    /// `minCount` below 1.
    case minCount(Int)
    /// `maxVocabulary` below 3 (`<pad>`, `<unk>` and one token).
    case maxVocabulary(Int)
    /// Subword n-gram lengths or bucket count out of range (the reason says which).
    case subwords(String)
    /// `threads` below 1.
    case threads(Int)
    /// `workers` below 1.
    case workers(Int)
    /// `devFraction` not strictly between 0 and 1.
    case devFraction(Double)
    /// `clipNorm` not positive.
    case clipNorm(Float)
    /// `weightDecay` negative or not finite.
    case weightDecay(Float)
    /// `lrDecay` not a positive finite number.
    case lrDecay(Float)
    /// `unfreezeEvery` negative.
    case unfreezeEvery(Int)
    /// `vatEpsilon` not a positive finite number.
    case vatEpsilon(Float)
    /// `vatWeight` negative or not finite.
    case vatWeight(Float)
    /// `diversityWeight` negative or not finite.
    case diversityWeight(Float)
    /// `diversityWeight` set with an encoder other than `.diversity` (it would do nothing).
    case diversityWeightWithoutDiversity

    /// The message for the user: the option, its range and the value given.
    public var description: String {
        switch self {
        case .embeddingSize(let v): return "the embedding size must be positive (got \(v))"
        case .hiddenSize(let v): return "the hidden size must be positive (got \(v))"
        case .epochs(let v): return "epochs must be at least 1 (got \(v))"
        case .steps(let v): return "steps must be at least 1 (got \(v))"
        case .minSteps(let v): return "the minimum steps must not be negative (got \(v))"
        case .patienceSteps(let v): return "the patience in steps must not be negative (got \(v))"
        case .smallDevSet(let v): return "the small dev set size must not be negative (got \(v))"
        case .devLossSmoothing(let v): return "the dev loss smoothing must be in (0, 1] (got \(v))"
        case .devScoreSmoothing(let v): return "the dev score smoothing must be in (0, 1] (got \(v))"
        case .patience(let v): return "patience must be at least 1 (got \(v))"
        case .batchSize(let v): return "the batch size must be at least 1 (got \(v))"
        case .learningRate(let v): return "the learning rate must be a positive number (got \(v))"
        case .dropout(let v): return "dropout must be in [0, 1) (got \(v))"
        case .wordDropout(let v): return "word dropout must be in [0, 1) (got \(v))"
        case .embeddingInitStd(let v): return "the embedding init standard deviation must be a positive number (got \(v))"
        case .maxLength(let v): return "the maximum length must be at least 1 (got \(v))"
        case .maxSentences(let v): return "the maximum sentences per document must be at least 1 (got \(v))"
        case .maxWords(let v): return "the maximum words per sentence must be at least 1 (got \(v))"
        case .encoderWithHierarchical: return "the orthogonal and diversity encoders are not built for han yet; use the plain LSTM encoder"
        case .minCount(let v): return "the minimum count must be at least 1 (got \(v))"
        case .maxVocabulary(let v): return "the vocabulary size limit must be at least 3 (got \(v))"
        case .subwords(let why): return "subwords: \(why)"
        case .threads(let v): return "threads must be at least 1 (got \(v))"
        case .workers(let v): return "workers must be at least 1 (got \(v))"
        case .devFraction(let v): return "the dev fraction must be between 0 and 1 (got \(v))"
        case .clipNorm(let v): return "the gradient clipping norm must be a positive number (got \(v))"
        case .weightDecay(let v): return "weight decay must be a finite number ≥ 0 (got \(v))"
        case .lrDecay(let v): return "the learning-rate decay per layer group must be a positive number (got \(v))"
        case .unfreezeEvery(let v): return "the steps between unfreezing layer groups must not be negative (got \(v))"
        case .vatEpsilon(let v): return "the VAT epsilon must be a positive number (got \(v))"
        case .vatWeight(let v): return "the VAT weight must be a finite number ≥ 0 (got \(v))"
        case .diversityWeight(let v): return "the diversity weight must be a finite number ≥ 0 (got \(v))"
        case .diversityWeightWithoutDiversity: return "a diversity weight needs the diversity encoder"
        }
    }
}
