import Foundation

/// A pretrained language model as one safetensors file: every tensor under its state_dict name
/// (the encoder's are the classifier's names, so `safetensors.torch.load_file` gives a state_dict
/// that a PyTorch `HeedClassifier` can load with `strict=False`), and `__metadata__` holding
/// `format` = "heed-lm", `version` and `config` (LanguageModelConfig JSON) plus caller entries.
/// A different format name from classifier files, so neither loader mistakes one for the other.
public enum LanguageModelFile {
    public static let formatName = "heed-lm"
    public static let version = "1"
    static let reservedKeys: Set<String> = ["format", "version", "config"]

    static func fileMetadata(_ model: LanguageModel, extra: [String: String]) throws(ModelFileError) -> [String: String] {
        for k in extra.keys where reservedKeys.contains(k) { throw .invalidConfig("metadata key \(k) is reserved") }
        var meta = extra
        meta["format"] = formatName
        meta["version"] = version
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        do { meta["config"] = String(decoding: try enc.encode(model.config), as: UTF8.self) } catch {
            throw .invalidConfig("cannot encode the config (\(error))")
        }
        return meta
    }

    /// The file image of `model` (tests; `save` streams instead).
    public static func encode(_ model: LanguageModel, metadata extra: [String: String] = [:]) throws(ModelFileError) -> Data {
        let tensors = model.parameters.map { (name: $0.name, tensor: NamedTensor(shape: $0.shape, values: $0.values)) }
        return SafeTensors.serialize(tensors, metadata: try fileMetadata(model, extra: extra))
    }

    /// Writes atomically, streaming the weights from the model's own buffers.
    public static func save(_ model: LanguageModel, to url: URL, metadata extra: [String: String] = [:]) throws(ModelFileError) {
        let meta = try fileMetadata(model, extra: extra)
        try SafeTensors.write(model.parameters.map { .init(name: $0.name, shape: $0.shape, values: $0.value) }, metadata: meta, to: url)
    }

    public static func load(from url: URL) throws(ModelFileError) -> (model: LanguageModel, metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw .io(path: url.path, reason: "\(error.localizedDescription)") }
        return try decode(data)
    }

    /// Validates and decodes a file image: the format, the config, and every tensor's presence and shape.
    public static func decode(_ data: Data) throws(ModelFileError) -> (model: LanguageModel, metadata: [String: String]) {
        let (tensors, meta) = try SafeTensors.parse(data)
        guard meta["format"] == formatName else {
            throw .invalidConfig(
                meta["format"] == ModelFile.formatName
                    ? "this is a classifier file; a pretrained encoder file (format \"\(formatName)\") is needed"
                    : "not a Heed language model file (format \(meta["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(formatName)\")")
        }
        guard meta["version"] == version else { throw .unsupportedVersion(meta["version"]) }
        guard let text = meta["config"] else { throw .invalidConfig("metadata has no config") }
        let config: LanguageModelConfig
        do { config = try JSONDecoder().decode(LanguageModelConfig.self, from: Data(text.utf8)) } catch {
            throw .invalidConfig("config is not valid LanguageModelConfig JSON (\(error))")
        }
        if let p = config.problem { throw .invalidConfig(p) }
        try SafeTensors.requireExactly(config.tensorShapes, in: tensors)
        let model = LanguageModel(forLoading: config)
        for p in model.parameters { p.values = tensors[p.name]!.values }
        return (model, meta)
    }
}

/// Why a classifier cannot start from a pretrained encoder.
public enum EncoderError: Error, CustomStringConvertible, Equatable {
    /// The classifier reads a direction the encoder lacks (a BiLSTM classifier from a one-way encoder).
    case missingTensor(String)
    case shapeMismatch(tensor: String, classifier: [Int], encoder: [Int])

    public var description: String {
        switch self {
        case let .missingTensor(t):
            return "the encoder has no tensor \(t): a bidirectional classifier needs an encoder pretrained bidirectionally"
        case let .shapeMismatch(t, c, e):
            return "encoder tensor \(t) has shape \(e) but the classifier's is \(c): train the classifier with the "
                + "encoder's vocabulary and its embedding and hidden sizes"
        }
    }
}

extension Classifier {
    /// Overwrites the embedding and LSTM weights with a pretrained encoder's (`LanguageModel.encoderTensors`
    /// or a file's tensors), checking every shape first so a mismatch leaves the classifier as it
    /// was. A one-way classifier takes the forward direction of a bidirectional encoder; the
    /// subword table, attention and output layer keep their own initialisation. Returns the
    /// names copied.
    @discardableResult
    public func loadEncoder(_ tensors: [String: NamedTensor]) throws(EncoderError) -> [String] {
        let shared = parameters.filter { $0.name == "embedding.weight" || $0.name.hasPrefix("lstm.") }
        for p in shared {
            guard let t = tensors[p.name] else { throw .missingTensor(p.name) }
            guard t.shape == p.shape else { throw .shapeMismatch(tensor: p.name, classifier: p.shape, encoder: t.shape) }
        }
        for p in shared { p.values = tensors[p.name]!.values }
        return shared.map(\.name)
    }

    /// `loadEncoder(_:)` from a language model in memory.
    @discardableResult
    public func loadEncoder(from model: LanguageModel) throws(EncoderError) -> [String] { try loadEncoder(model.encoderTensors) }
}
