import Foundation
import HeedNN
import HeedText

/// Everything needed to continue training exactly where an epoch ended: weights, Adam moments,
/// both random generators, the best weights so far and the log. One safetensors file, written
/// atomically at the end of every epoch, so a kill at any moment leaves the previous complete one.
struct Checkpoint {
    struct State: Codable {
        var epoch: Int
        var bestAccuracy: Double
        var bestEpoch: Int
        var sinceBest: Int
        var log: [EpochRecord]
        var adamSteps: Int
        /// Per-document hashes of the training data summed over ranks (`Shard.localHash`), so a
        /// resume on other data is refused whatever the rank count.
        var dataHash: UInt64
        /// The rank count of the run that wrote it (1 for a single process). Files from before the
        /// one training loop lack it: their data hash and random streams differ, so they cannot resume.
        var ranks: Int? = nil
        /// The early-stopping state; files from before the step schedule lack it and stopped on
        /// `sinceBest` alone.
        var stopping: EarlyStopping? = nil
        /// Adam's step count per parameter (they differ once gradual unfreezing froze some);
        /// files from before it lack it: every parameter took `adamSteps`.
        var adamParameterSteps: [Int]? = nil
    }

    static let stateKey = "heed.checkpoint"

    /// Streams every tensor from the live buffers: a checkpoint holds four copies of the model, and
    /// building its image in memory first used to dominate training's peak memory.
    static func write<Network: ClassifierNetwork>(
        to path: String, classifier: TextClassifier, model: Network, adam: Adam, best: ParameterSnapshot, state: State
    ) throws {
        var meta = try classifier.metadata()
        meta["format"] = "heed-checkpoint"
        meta["config"] = String(decoding: try JSONEncoder().encode(model.config), as: UTF8.self)
        if let kind = Network.modelFileKind { meta["model"] = kind }
        meta[stateKey] = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try writeTensors(model.parameters, adam: adam, best: best, metadata: meta, to: path)
    }

    /// One training checkpoint's tensors, streamed from the live buffers: each parameter, its Adam
    /// moments (`adam.m.`, `adam.v.`) and its best weights (`best.`). The classifier's and the
    /// language model's checkpoints share this layout.
    static func writeTensors(_ parameters: [Param], adam: Adam, best: ParameterSnapshot, metadata: [String: String], to path: String) throws {
        var tensors: [SafeTensors.Source] = []
        for (i, p) in parameters.enumerated() {
            let (m, v) = adam.moments(i)
            tensors.append(.init(name: p.name, shape: p.shape, values: p.value))
            tensors.append(.init(name: "adam.m." + p.name, shape: p.shape, values: m))
            tensors.append(.init(name: "adam.v." + p.name, shape: p.shape, values: v))
            tensors.append(.init(name: "best." + p.name, shape: p.shape, values: best.values(i)))
        }
        do { try SafeTensors.write(tensors, metadata: metadata, to: URL(fileURLWithPath: path)) } catch {
            if case let .io(_, reason) = error { throw HeedTextError.writeFailed(path, reason: reason) }
            throw error
        }
    }

    /// Puts `writeTensors`' tensors back into `parameters`, `adam` (at `steps`, and
    /// `parameterSteps` per parameter when saved) and `best`; the caller has checked every shape.
    static func restoreTensors(
        _ tensors: [String: NamedTensor], into parameters: [Param], adam: Adam, steps: Int, parameterSteps: [Int]? = nil, best: ParameterSnapshot
    ) {
        for p in parameters { tensors[p.name]!.values.withUnsafeBufferPointer { p.value.update(from: $0.baseAddress!, count: p.count) } }
        adam.restore(
            Adam.State(
                steps: steps,
                m: parameters.map { tensors["adam.m." + $0.name]!.values },
                v: parameters.map { tensors["adam.v." + $0.name]!.values }, parameterSteps: parameterSteps))
        best.load(parameters.map { tensors["best." + $0.name]!.values })
    }

    struct Loaded {
        var metadata: [String: String]
        /// The network's config: `ClassifierConfig`, or `HierarchicalConfig` for han (`model` entry).
        var config: any NetworkConfig
        var state: State
        var tensors: [String: NamedTensor]
    }

    static func load(_ path: String) throws -> Loaded {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw HeedTextError.fileNotFound(path) }
        let tensors: [String: NamedTensor], meta: [String: String]
        do { (tensors, meta) = try SafeTensors.parse(data) } catch { throw HeedError.modelMismatch("\(path): \(error)") }
        func decode<Config: NetworkConfig>(_: Config.Type, _ text: String) -> (any NetworkConfig)? {
            try? JSONDecoder().decode(Config.self, from: Data(text.utf8))
        }
        guard meta["format"] == "heed-checkpoint", let stateText = meta[stateKey], let configText = meta["config"],
            let state = try? JSONDecoder().decode(State.self, from: Data(stateText.utf8)),
            let config = meta["model"] == HierarchicalClassifier.modelFileKind
                ? decode(HierarchicalConfig.self, configText) : decode(ClassifierConfig.self, configText)
        else {
            throw HeedError.modelMismatch("\(path): not a Heed training checkpoint")
        }
        for (name, shape) in config.tensorShapes {
            for prefix in ["", "adam.m.", "adam.v.", "best."] {
                guard tensors[prefix + name]?.shape == shape else {
                    throw HeedError.modelMismatch("\(path): tensor \(prefix + name) is missing or has the wrong shape")
                }
            }
        }
        return Loaded(metadata: meta, config: config, state: state, tensors: tensors)
    }
}

extension Checkpoint.Loaded {
    /// The options and vocabulary the interrupted run trained with: a resumed run must be that
    /// run, so they win over the caller's, except that `epochs` may be raised and the caller's
    /// machine decides the BLAS threads and the workers.
    func settings(path: String, caller: TrainingOptions) throws -> (options: TrainingOptions, vocabulary: Vocabulary) {
        let (vocabulary, saved) = try TextClassifier.decodeMetadata(metadata, path: path, config: config)
        var options = saved
        if let more = caller.epochs { options.epochs = max(options.epochs ?? more, more) }
        if let more = caller.steps { options.steps = max(options.steps ?? more, more) }
        options.threads = caller.threads
        options.workers = caller.workers
        return (options, vocabulary)
    }

    /// Puts the weights, Adam moments and best weights back (shapes were checked by `load`).
    func restore(model: some ClassifierNetwork, adam: Adam, best: ParameterSnapshot) {
        Checkpoint.restoreTensors(
            tensors, into: model.parameters, adam: adam, steps: state.adamSteps, parameterSteps: state.adamParameterSteps, best: best)
    }

    /// The early-stopping state to continue with (rebuilt from the older fields for files
    /// written before it was saved whole).
    func stopping(options: TrainingOptions) -> EarlyStopping {
        if let saved = state.stopping { return saved }
        var rebuilt = EarlyStopping(options: options, devDocuments: .max)
        (rebuilt.bestScore, rebuilt.bestEpoch) = (state.bestAccuracy, state.bestEpoch)
        rebuilt.progressEpoch = state.epoch - state.sinceBest
        rebuilt.progressStep = 0
        rebuilt.stopped = state.sinceBest >= options.patience
        return rebuilt
    }
}
