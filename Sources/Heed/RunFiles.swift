import Foundation
import HeedIO
import HeedNN

/// The one owner of a training run's files: the model (rewritten whenever dev accuracy
/// improves), its JSONL log (rewritten after every epoch, so it can be watched) and the
/// checkpoint (after every epoch). Only the writing rank has files; without an output nothing
/// is written. Every write is atomic, so a kill at any moment leaves complete files.
final class RunFiles {
    private let model: URL?
    private(set) var wroteModel = false
    private let encoder = JSONEncoder()

    init(model: URL?) {
        self.model = model
        encoder.outputFormatting = [.sortedKeys]
    }

    static func logURL(for model: URL) -> URL { URL(fileURLWithPath: model.path + ".log.jsonl") }
    static func checkpointURL(for model: URL) -> URL { URL(fileURLWithPath: model.path + ".ckpt") }

    /// Before any data is read: the model's folder must exist and be writable.
    func checkWritable() throws {
        guard let model else { return }
        try FileChecks.checkWritable(model.path)
    }

    /// Model, checkpoint (four copies of the weights) and, while a checkpoint is replaced, the old
    /// one beside the new must fit: fail before the first epoch, not after hours.
    func checkSpace(for config: some NetworkConfig) throws {
        guard let model else { return }
        let weights = config.tensorShapes.reduce(0) { $0 + $1.shape.reduce(4, *) }
        try FileChecks.checkSpace(model.path, needed: 9 * weights + (1 << 20), for: "the model and its checkpoint")
    }

    func bestChanged(_ classifier: TextClassifier) throws {
        guard let model else { return }
        try classifier.write(to: model)
        wroteModel = true
    }

    /// The whole log so far (after a resume it starts with the checkpoint's epochs). Best effort
    /// during training: a failed log write must not stop the run; the final one may throw.
    func writeLog<Record: Encodable>(_ records: [Record], final: Bool = false) throws {
        guard let model else { return }
        let text = try records.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        if final {
            try AtomicWriter.write(text, to: Self.logURL(for: model).path)
        } else {
            try? AtomicWriter.write(text, to: Self.logURL(for: model).path)
        }
    }

    func writeCheckpoint(classifier: TextClassifier, model network: some ClassifierNetwork, adam: Adam, best: ParameterSnapshot, state: Checkpoint.State) throws
    {
        guard let model else { return }
        try Checkpoint.write(to: Self.checkpointURL(for: model).path, classifier: classifier, model: network, adam: adam, best: best, state: state)
    }
}
