import Heed

/// `POST /v1/models/{name}/predict`: one result per text, in order; plain predictions when no
/// method was asked for, else explanations (with the ranked labels added).
struct PredictResponse: Encodable, Sendable {
    var model: String
    var explain: [String]
    var results: [PredictResult]
}

/// One text's result: the `heed predict --json` or the `heed explain --json` object.
enum PredictResult: Encodable, Sendable {
    case prediction(PredictionJSON)
    case explanation(ExplanationJSON)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .prediction(let p): try p.encode(to: encoder)
        case .explanation(let e): try e.encode(to: encoder)
        }
    }
}

/// `GET /v1/models`: what a client needs to call a model and read its answers.
struct ModelInfo: Encodable, Sendable {
    var name: String, labels: [String], kind: String, vocabularySize: Int
    /// What bounds a text: `maxLength` tokens for a flat model; a han model reads its first
    /// `maxSentences` sentences, `maxWords` tokens each (the others are nil, so not sent).
    var maxLength: Int?, maxSentences: Int?, maxWords: Int?
    var attention: Bool, methods: [String], defaultExplain: [String]
    var calibration: TemperatureCalibration?
    var training: TrainingOptions

    enum CodingKeys: String, CodingKey {
        case name, labels, kind, attention, methods, calibration, training
        case vocabularySize = "vocabulary_size", maxLength = "max_length", maxSentences = "max_sentences", maxWords = "max_words"
        case defaultExplain = "default_explain"
    }

    init(_ model: ServedModel) {
        let c = model.classifier
        name = model.name
        labels = c.labels
        kind = c.modelKind.rawValue
        vocabularySize = c.vocabulary.count
        if c.modelKind.isHierarchical {
            (maxSentences, maxWords) = (c.options.maxSentences, c.options.maxWords)
        } else {
            maxLength = c.options.maxLength
        }
        attention = c.hasAttention
        methods = c.attributionMethods.map(\.rawValue)
        defaultExplain = ExplainChoice.modelDefault.methods(for: c).map(\.rawValue)
        calibration = c.calibration
        training = c.options
    }
}

/// `GET /v1/models`.
struct ModelList: Encodable, Sendable {
    var models: [ModelInfo]
}

/// `GET /health`.
struct Health: Encodable, Sendable {
    var status = "ok"
    var models: Int
    var workers: Int
}
