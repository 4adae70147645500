import Foundation
import HeedNN
import HeedText

/// One token of a prediction: its normalised text, its UTF-8 byte range `start..<end` in the
/// input (slicing the input's UTF-8 by it gives the token as written), and the attention it
/// received (nil for models without attention).
public struct AttendedToken: Codable, Sendable, Equatable {
    /// The normalised token, as the vocabulary looked it up (e.g. case-folded).
    public var text: String
    /// UTF-8 byte offset in the input where the token as written begins.
    public var start: Int
    /// UTF-8 byte offset just past the token's end.
    public var end: Int
    /// The share of attention the token received, in [0, 1]; a prediction's weights sum to 1.
    /// Nil for models without attention.
    public var weight: Float?

    /// A token at bytes `start..<end` of its text, with its weight when there is one.
    public init(text: String, start: Int, end: Int, weight: Float? = nil) {
        self.text = text
        self.start = start
        self.end = end
        self.weight = weight
    }
}

/// A prediction with everything behind it: the label, every class's probability, and the tokens
/// the model read with their offsets and attention weights.
public struct Prediction: Codable, Sendable {
    /// The most probable label.
    public var label: String
    /// Class probabilities in the model's label order (`labels`).
    public var probabilities: [Float]
    /// The model's labels, parallel to `probabilities`.
    public var labels: [String]
    /// Tokens the model saw (after `maxLength` truncation), with attention weights when it has them.
    /// A hierarchical model's token weight is its word attention times its sentence's attention.
    public var tokens: [AttendedToken]
    /// Hierarchical model: the sentences it read, with their byte ranges, tokens and sentence
    /// attention; nil for a flat model.
    public var sentences: [SentenceSpan]? = nil
    /// The probability of `label`.
    public var confidence: Float { probabilities.max() ?? 0 }

    /// Labels with their probabilities, most probable first (model order on ties): every label
    /// with probability ≥ `threshold` (possibly none), at most `maximumCount` of them (more than
    /// the model has is the same as all). Neither given: the most probable label alone.
    public func rankedLabels(maximumCount: Int? = nil, threshold: Float? = nil) -> [LabelScore] {
        let order = labels.indices.sorted { probabilities[$0] > probabilities[$1] || probabilities[$0] == probabilities[$1] && $0 < $1 }
        var kept = order.filter { i in threshold.map { probabilities[i] >= $0 } ?? true }
        if let maximumCount { kept = Array(kept.prefix(max(0, maximumCount))) } else if threshold == nil { kept = Array(kept.prefix(1)) }
        return kept.map { LabelScore(label: labels[$0], score: probabilities[$0]) }
    }
}

/// A label and its (calibrated) probability, as Hugging Face pipelines return them.
public struct LabelScore: Codable, Sendable, Equatable {
    /// The label.
    public var label: String
    /// Its probability.
    public var score: Float
}

/// A trained classifier: tokenizer settings, vocabulary, labels and network in one value.
///
/// Shaped like Create ML's `MLTextClassifier`: train with `init(trainingData:parameters:)` (or a
/// `Trainer` for files, progress and resuming), then `prediction(from:)`,
/// `predictedLabelHypotheses(for:maximumCount:)`, `write(to:)` and `init(contentsOf:)`.
/// `predict(_:)` adds what Heed is for: per-token byte offsets and attention weights.
/// Safe to share between threads (calls on one value are serialised).
public struct TextClassifier: Sendable {
    /// The vocabulary it was trained with, and with it the tokenizer settings and the labels.
    public let vocabulary: Vocabulary
    /// The options the model was trained with.
    public let options: TrainingOptions
    /// Class labels, in the order of `Prediction.probabilities`.
    public var labels: [String] { vocabulary.labels }
    /// The network's shape and pooling.
    public var modelKind: ModelKind { options.model }
    /// True for models that pool with attention (and so report per-token weights).
    public var hasAttention: Bool {
        switch network {
        case .flat(let box): return box.config.pooling == .attention
        case .hierarchical: return true
        }
    }
    /// True for a hierarchical attention network (`ModelKind.han`): it reads sentences of words.
    public var isHierarchical: Bool { if case .hierarchical = network { true } else { false } }
    /// The flat network's config (only for a flat model: `isHierarchical` is false).
    package var config: ClassifierConfig { box.config }
    /// The hierarchical network's config (nil for a flat model).
    package var hierarchicalConfig: HierarchicalConfig? { if case .hierarchical(let box) = network { box.config } else { nil } }
    /// The network, flat or hierarchical.
    let network: Network
    /// The flat network's box; the paths that use it refuse a hierarchical model first.
    var box: ModelBox<Classifier> {
        guard case .flat(let box) = network else { preconditionFailure("a han model reached a path built for flat models only") }
        return box
    }

    /// Either network, each in its box.
    enum Network: Sendable {
        case flat(ModelBox<Classifier>)
        case hierarchical(ModelBox<HierarchicalClassifier>)
    }
    /// The temperature fitted by `heed train` or `calibrated(on:)`; nil for models trained with
    /// `calibration: .none` or written before calibration existed.
    public internal(set) var calibration: TemperatureCalibration?
    /// What the model learnt from besides its labelled file: the pretraining text of its encoder
    /// and self-training's rounds (empty for a plain run).
    public internal(set) var provenance = TrainingProvenance()
    /// Divides the logits before every softmax Heed reports (1 without calibration).
    public var temperature: Double { calibration?.temperature ?? 1 }
    /// Threads that prediction and evaluation of many texts split their batches over, each on a
    /// replica sharing this model's weights, with one BLAS thread. The batches are the same for
    /// any count, so are the results, bit for bit.
    public var workers = 1

    /// Trains a classifier on labelled documents, holding out a share of them as the dev set for
    /// early stopping (`parameters.devFraction`). Use a `Trainer` for progress, files and resuming.
    public init(trainingData: [LabelledText], parameters: TrainingOptions = TrainingOptions()) throws {
        self = try Trainer(options: parameters).train(trainingData).classifier
    }

    init(model: Classifier, vocabulary: Vocabulary, options: TrainingOptions, calibration: TemperatureCalibration? = nil) {
        self.init(network: .flat(ModelBox(model)), vocabulary: vocabulary, options: options, calibration: calibration)
    }

    init(hierarchical model: HierarchicalClassifier, vocabulary: Vocabulary, options: TrainingOptions, calibration: TemperatureCalibration? = nil) {
        self.init(network: .hierarchical(ModelBox(model)), vocabulary: vocabulary, options: options, calibration: calibration)
    }

    init(network: Network, vocabulary: Vocabulary, options: TrainingOptions, calibration: TemperatureCalibration?) {
        self.vocabulary = vocabulary
        self.options = options
        self.calibration = calibration
        self.network = network
    }

    /// Makes training's worker replicas (weight-sharing, of this classifier's network) the ones
    /// inference uses, so evaluating during training allocates no second set.
    func adopt<Model: ClassifierNetwork>(_ replicas: [Model]) {
        switch network {
        case .flat(let box): if let replicas = replicas as? [Classifier] { box.adopt(replicas) }
        case .hierarchical(let box): if let replicas = replicas as? [HierarchicalClassifier] { box.adopt(replicas) }
        }
    }

    /// A copy with its own network (same weights), e.g. for another thread.
    func cloned(options: TrainingOptions? = nil, calibration: TemperatureCalibration?) -> TextClassifier {
        let copy: Network
        switch network {
        case .flat(let box): copy = .flat(ModelBox(box.withModel { $0.clone() }))
        case .hierarchical(let box): copy = .hierarchical(ModelBox(box.withModel { $0.clone() }))
        }
        return TextClassifier(network: copy, vocabulary: vocabulary, options: options ?? self.options, calibration: calibration)
    }

    // MARK: Persistence

    static let metadataKeys = (
        tokenizer: "heed.tokenizer", labels: "heed.labels", vocabulary: "heed.vocabulary", training: "heed.training", calibration: "heed.calibration",
        subwords: "heed.subwords"
    )

    func metadata() throws -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var meta = [
            Self.metadataKeys.tokenizer: vocabulary.settings.headerFields,
            Self.metadataKeys.labels: String(decoding: try encoder.encode(vocabulary.labels), as: UTF8.self),
            Self.metadataKeys.vocabulary: String(decoding: try encoder.encode(Array(vocabulary.allTokens.dropFirst(2))), as: UTF8.self),
            Self.metadataKeys.training: String(decoding: try encoder.encode(options), as: UTF8.self),
        ]
        if let calibration { meta[Self.metadataKeys.calibration] = String(decoding: try encoder.encode(calibration), as: UTF8.self) }
        if !provenance.isEmpty { meta[Self.provenanceKey] = try sortedJSON(provenance) }
        if let subwords = options.subwordSettings {
            meta[Self.metadataKeys.subwords] = String(decoding: try encoder.encode(SubwordMetadata(subwords)), as: UTF8.self)
        }
        return meta
    }

    /// Writes the model file atomically (temp file + fsync + rename): one safetensors file with the
    /// weights under PyTorch names, the vocabulary, labels, tokenizer settings and options.
    public func write(to url: URL) throws {
        let meta = try metadata()
        switch network {
        case .flat(let box): try box.withModel { try ModelFile.save($0, to: url, metadata: meta) }
        case .hierarchical(let box): try box.withModel { try ModelFile.save($0, to: url, metadata: meta) }
        }
    }

    /// Loads a model file written by `write(to:)` or `heed train`.
    public init(contentsOf url: URL) throws {
        let loaded: ModelFile.Network, meta: [String: String]
        do { (loaded, meta) = try ModelFile.loadNetwork(from: url) } catch {
            if case .io = error { throw HeedTextError.fileNotFound(url.path) }
            throw HeedError.modelMismatch("\(url.path): \(error)")  // name the file, whatever is wrong inside
        }
        let network: Network, config: any NetworkConfig
        switch loaded {
        case .flat(let model): (network, config) = (.flat(ModelBox(model)), model.config)
        case .hierarchical(let model): (network, config) = (.hierarchical(ModelBox(model)), model.config)
        }
        let (vocabulary, options) = try Self.decodeMetadata(meta, path: url.path, config: config)
        var calibration: TemperatureCalibration?
        if let json = meta[Self.metadataKeys.calibration] {
            guard let c = try? JSONDecoder().decode(TemperatureCalibration.self, from: Data(json.utf8)), c.temperature > 0, c.temperature.isFinite else {
                throw HeedError.modelMismatch("\(url.path): the \(Self.metadataKeys.calibration) entry is not a valid temperature")
            }
            calibration = c
        }
        self.init(network: network, vocabulary: vocabulary, options: options, calibration: calibration)
        if let json = meta[Self.provenanceKey] {
            guard let p = try? JSONDecoder().decode(TrainingProvenance.self, from: Data(json.utf8)) else {
                throw HeedError.modelMismatch("\(url.path): the \(Self.provenanceKey) entry is not valid JSON provenance")
            }
            provenance = p
        }
    }

    /// Vocabulary and options from a model or checkpoint file's metadata, checked against `config`.
    static func decodeMetadata(_ meta: [String: String], path: String, config: any NetworkConfig) throws -> (vocabulary: Vocabulary, options: TrainingOptions) {
        func field(_ key: String) throws -> String {
            guard let v = meta[key] else { throw HeedError.modelMismatch("\(path): model file has no \(key) entry (not written by heed train?)") }
            return v
        }
        let settings: TokenizerSettings
        do { settings = try TokenizerSettings(headerFields: Substring(try field(Self.metadataKeys.tokenizer))) } catch let e as HeedTextError {
            throw HeedError.modelMismatch("\(path): \(e.description)")
        }
        let decoder = JSONDecoder()
        guard let labels = try? decoder.decode([String].self, from: Data(try field(Self.metadataKeys.labels).utf8)),
            let tokens = try? decoder.decode([String].self, from: Data(try field(Self.metadataKeys.vocabulary).utf8)),
            let options = try? decoder.decode(TrainingOptions.self, from: Data(try field(Self.metadataKeys.training).utf8))
        else {
            throw HeedError.modelMismatch("\(path): model metadata is not valid JSON")
        }
        guard tokens.count + 2 == config.vocabSize else {
            throw HeedError.modelMismatch("\(path): vocabulary has \(tokens.count + 2) entries but the embedding has \(config.vocabSize) rows")
        }
        guard options.subwords == nil ? config.subwordBuckets == nil : config.subwordBuckets == options.buckets else {
            throw HeedError.modelMismatch("\(path): the training options' subword buckets do not match the subwords.weight tensor")
        }
        if let problem = options.subwordSettings?.problem { throw HeedError.modelMismatch("\(path): \(problem)") }
        guard labels.count == config.classes, Set(labels).count == labels.count else {
            throw HeedError.modelMismatch("\(path): \(labels.count) labels but the classifier has \(config.classes) outputs")
        }
        guard options.model.isHierarchical == (config is HierarchicalConfig) else {
            throw HeedError.modelMismatch(
                "\(path): the training options say --model \(options.model.rawValue) but the network is \(config is HierarchicalConfig ? "han" : "flat")")
        }
        let vocabulary = Vocabulary(settings: settings, tokens: tokens, labels: labels)
        guard vocabulary.count == tokens.count + 2 else { throw HeedError.modelMismatch("\(path): vocabulary has duplicate tokens") }
        return (vocabulary, options)
    }

    // MARK: Prediction

    /// Label, probabilities and (for attention models) per-token weights for each text. A text
    /// without tokens is scored on a lone `<unk>` (the model's prior) and reports no tokens.
    public func predict(_ texts: [String]) throws -> [Prediction] {
        predict(texts, tokenizer: try Tokenizer(settings: vocabulary.settings))
    }

    /// `predict` with the caller's tokenizer (a server worker reuses one for all its requests).
    package func predict(_ texts: [String], tokenizer: Tokenizer) -> [Prediction] {
        let level = sentenceLevel()
        let encoded = texts.map { encode($0, tokenizer: tokenizer, maxLength: options.maxLength, sentenceLevel: level) }
        let scores = predict(encoded.map(\.sequence))
        return zip(encoded, scores).map { text, score in
            var tokens = text.tokens
            if let attention = score.attention {
                for t in tokens.indices { tokens[t].weight = attention[t] }
            }
            var prediction = Prediction(label: labels[score.best], probabilities: score.probabilities, labels: labels, tokens: tokens)
            prediction.sentences = text.sentences.map { sentences in
                zip(sentences.indices, sentences).map { k, sentence in
                    var weighted = sentence
                    weighted.weight = score.sentenceAttention?[k]
                    return weighted
                }
            }
            return prediction
        }
    }

    /// `predict(_:)` for one text.
    public func predict(_ text: String) throws -> Prediction { try predict([text])[0] }

    /// The most probable label for `text`.
    public func prediction(from text: String) throws -> String { try predict(text).label }

    /// The `maximumCount` most probable labels for `text` with their probabilities.
    public func predictedLabelHypotheses(for text: String, maximumCount: Int) throws -> [String: Double] {
        let ranked = try predict(text).rankedLabels(maximumCount: maximumCount)
        return Dictionary(uniqueKeysWithValues: ranked.map { ($0.label, Double($0.score)) })
    }

    /// Accuracy, macro-F1, per-class scores, confusion matrix and mean cross-entropy on labelled
    /// data; `file` names the data in error messages.
    public func evaluate(_ docs: [LabelledText], file: String = "test data") throws -> Evaluation {
        try assessment(docs, file: file, calibration: false).evaluation
    }

    /// `evaluate` and `calibrationReport` from one pass of the network over `docs`.
    public func assess(_ docs: [LabelledText], file: String = "test data") throws -> (evaluation: Evaluation, calibration: CalibrationReport) {
        let (evaluation, calibration) = try assessment(docs, file: file, calibration: true)
        return (evaluation, calibration!)
    }

    func assessment(_ docs: [LabelledText], file: String, calibration: Bool) throws -> (evaluation: Evaluation, calibration: CalibrationReport?) {
        var loss = 0.0
        var predicted: [Int] = []
        var logits: [Float] = []
        predicted.reserveCapacity(docs.count)
        if calibration { logits.reserveCapacity(docs.count * labels.count) }
        let truth = try scoreLabelled(docs, file: file) { truth, score in
            loss -= log(max(Double(score.probabilities[truth]), 1e-12))
            predicted.append(score.best)
            if calibration { logits += score.logits }
        }
        let evaluation = Evaluation(labels: labels, truth: truth, predicted: predicted, loss: loss / Double(docs.count))
        return (evaluation, calibration ? CalibrationReport(logits: logits, truth: truth, classes: labels.count, temperature: temperature) : nil)
    }

    /// Runs the network over labelled documents in order, ids only and a chunk at a time (no token
    /// strings or attention are kept: evaluation runs after every training epoch), calling `body`
    /// with each one's true class index and scores; returns the true class indices.
    func scoreLabelled(_ docs: [LabelledText], file: String, _ body: (_ truth: Int, _ score: IDPrediction) -> Void) throws -> [Int] {
        guard !docs.isEmpty else { throw HeedTextError.noDocuments(file) }
        let encoder = try DocumentEncoder(vocabulary: vocabulary, options: options)
        let truth = try encoder.labelIndices(docs, file: file)
        for start in stride(from: 0, to: docs.count, by: 1024) {
            let scores = predict(docs[start..<min(start + 1024, docs.count)].map { encoder.sequence($0.text) })
            for (k, score) in scores.enumerated() { body(truth[start + k], score) }
        }
        return truth
    }
}

/// Owns the network; a lock serialises use because its buffers are reused between calls.
final class ModelBox<Model: ClassifierNetwork>: @unchecked Sendable {
    private let model: Model
    /// Inference replicas sharing `model`'s weights (so they follow training's updates), made on
    /// first use and kept.
    private var replicas: [Model] = []
    private let lock = NSLock()
    let config: Model.Config
    /// Whether the model holds int8 tables (read without taking the lock).
    let isQuantized: Bool
    init(_ model: Model) {
        self.model = model
        config = model.config
        isQuantized = !model.quantizedTensors.isEmpty
    }
    func withModel<T>(_ body: (Model) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(model)
    }

    /// Makes `replicas` (weight-sharing replicas of this box's model, such as training's workers)
    /// the ones inference uses, so evaluating during training allocates no second set.
    func adopt(_ replicas: [Model]) {
        lock.lock()
        defer { lock.unlock() }
        if self.replicas.isEmpty { self.replicas = replicas }
    }

    /// The model and `count − 1` replicas of it, for as many threads.
    func withModels<T>(_ count: Int, _ body: ([Model]) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        while replicas.count < count - 1 { replicas.append(model.replica()) }
        return try body([model] + replicas.prefix(max(0, count - 1)))
    }
}

/// The `heed.subwords` metadata entry: everything an independent loader needs to hash tokens into
/// the `subwords.weight` rows (see `SubwordSettings` for the recipe).
struct SubwordMetadata: Codable {
    var minn: Int
    var maxn: Int
    var buckets: Int
    var hash = "fnv1a-32"
    var boundary = ["<", ">"]
    var mode = "mean"

    init(_ s: SubwordSettings) {
        minn = s.minLength
        maxn = s.maxLength
        buckets = s.buckets
    }
}
