import Foundation

/// What a classifier network's hyper-parameters tell its users: sizes to check a vocabulary and
/// labels against, and the tensors a file of it must hold.
public protocol NetworkConfig: Codable, Sendable, Equatable {
    /// Rows of the word embedding (row 0 is padding).
    var vocabSize: Int { get }
    /// Output classes.
    var classes: Int { get }
    /// Rows of the subword bucket table; nil without one.
    var subwordBuckets: Int? { get }
    /// Every tensor in state_dict order, with its shape.
    var tensorShapes: [(name: String, shape: [Int])] { get }
    /// Why the config is unusable, or nil.
    var problem: String? { get }
}

extension ClassifierConfig: NetworkConfig {}
extension HierarchicalConfig: NetworkConfig {}

/// A network of named parameters built from a config and a seed: the classifiers and the
/// language model. The copies, gradient helpers and state_dict loading are written once here.
public protocol ParameterizedNetwork: AnyObject {
    /// The hyper-parameters, stored as JSON in model files and checkpoints.
    associatedtype Config: Codable & Sendable & Equatable
    /// Builds a model initialised from `seed`; `embeddingStd` scales the embedding initialisation.
    init(config: Config, seed: UInt64, embeddingStd: Float)
    /// A model whose every value the caller overwrites (a model file's): what
    /// `init(config:seed: 0, embeddingStd: 1)` builds, generator state included, without computing
    /// its random values.
    init(forLoading config: Config)
    /// The configuration it was built with.
    var config: Config { get }
    /// All parameters in state_dict order.
    var parameters: [Param] { get }
    /// The model's generator (init and dropout).
    var rng: Rng { get set }
    /// A model of the same config whose values are not drawn, for `clone` and `replica` to fill
    /// or share (a quantised classifier's copy shares its int8 tables).
    func blankCopy() -> Self
}

/// A document classifier network, flat (`Classifier`) or hierarchical (`HierarchicalClassifier`):
/// what training, checkpoints and model files need of either.
public protocol ClassifierNetwork: ParameterizedNetwork where Config: NetworkConfig {
    /// The model file's `model` entry (nil: none, as files of the flat classifier always were).
    static var modelFileKind: String? { get }
    /// The int8 tensors of a quantised model by name; empty for a float one.
    var quantizedTensors: [String: QuantizedTable] { get }
}

extension ClassifierNetwork {
    public var quantizedTensors: [String: QuantizedTable] { [:] }
}

extension ParameterizedNetwork {
    public func blankCopy() -> Self { Self(forLoading: config) }

    /// Generator state (restore it to continue a training run bit for bit).
    public var rngState: RandomState {
        get { rng.state }
        set { rng = Rng(state: newValue) }
    }

    /// Parameter by state_dict name.
    public func parameter(named name: String) -> Param? { parameters.first { $0.name == name } }

    /// Copies tensors in by state_dict name; every parameter must be present with its exact count.
    public func load(stateDict: [String: [Float]]) {
        for p in parameters {
            guard let v = stateDict[p.name] else { preconditionFailure("missing tensor \(p.name)") }
            p.values = v
        }
    }

    /// An independent copy with the same weights and RNG state (e.g. one per inference thread).
    public func clone() -> Self {
        let c = blankCopy()
        for (dst, src) in zip(c.parameters, parameters) { dst.value.update(from: src.value, count: src.count) }
        c.rng = rng
        return c
    }

    /// A copy that shares this model's weights (an optimizer step on either is seen by both) but has
    /// its own gradients, buffers and generator: one per data-parallel training worker. It must
    /// not outlive its use alongside this model in one training loop.
    public func replica() -> Self {
        let c = blankCopy()
        for (dst, src) in zip(c.parameters, parameters) { dst.shareValues(of: src) }
        c.rng = rng
        return c
    }

    /// Sets every gradient to zero (call once per training step, before `backward`).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Scales gradients to global L2 norm ≤ maxNorm; returns the norm before clipping.
    @discardableResult
    public func clipGradNorm(_ maxNorm: Float) -> Float { HeedNN.clipGradNorm(parameters, maxNorm: maxNorm) }
}

extension LanguageModel: ParameterizedNetwork {}

extension Classifier: ClassifierNetwork {
    public static var modelFileKind: String? { nil }
}

extension HierarchicalClassifier: ClassifierNetwork {
    public static var modelFileKind: String? { "han" }
}
