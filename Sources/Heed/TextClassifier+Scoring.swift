import Dispatch
import Foundation
import HeedNN
import HeedText

/// A text as the model sees it: token ids (after `maxLength` truncation) and the tokens they came
/// from, with byte offsets into the text.
public struct EncodedText: Sendable {
    /// Vocabulary ids, `<unk>` (1) for unknown tokens.
    public var ids: [Int32]
    /// The tokens behind `ids`, one each, with their byte ranges (no weights yet).
    public var tokens: [AttendedToken]
}

/// Class probabilities (model label order) and, for attention models, one weight per id.
public struct IDPrediction: Sendable {
    /// Class probabilities, in the order of `TextClassifier.labels`, at the model's temperature.
    public var probabilities: [Float]
    /// The network's raw scores, before the temperature and the softmax.
    public var logits: [Float]
    /// One weight per id (after the `maxLength` cut), summing to 1; nil for models without
    /// attention and for empty sequences.
    public var attention: [Float]?
    /// Index of the most probable class: the largest logit (the first on ties), so no temperature
    /// and no rounding of the probabilities can change it.
    public var best: Int { Calibration.bestIndex(logits[...]) }
}

extension TextClassifier {
    /// Tokenizes texts exactly as `predict` and training do, without running the network.
    public func encode(_ texts: [String]) throws -> [EncodedText] {
        let tokenizer = try Tokenizer(settings: vocabulary.settings)
        return texts.map { encode($0, tokenizer: tokenizer, maxLength: options.maxLength) }
    }

    /// One text's ids and tokens, at most `maxLength` of them (one past the model's limit tells
    /// whether a text was cut).
    func encode(_ text: String, tokenizer: Tokenizer, maxLength: Int) -> EncodedText {
        var tokens: [AttendedToken] = []
        let ids = vocabulary.ids(of: text, tokenizer: tokenizer, maxLength: maxLength) { token, start, end in
            tokens.append(AttendedToken(text: String(decoding: token, as: UTF8.self), start: start, end: end))
        }
        return EncodedText(ids: ids, tokens: tokens)
    }

    /// Scores id sequences directly (for erasure and occlusion experiments). Sequences longer than
    /// `options.maxLength` are cut; an empty sequence is scored on a lone `<unk>`, as `predict` does
    /// for a text without tokens, and gets no attention weights.
    public func predict(ids sequences: [[Int32]]) -> [IDPrediction] {
        guard !sequences.isEmpty else { return [] }
        let cut = sequences.map { $0.count > options.maxLength ? Array($0.prefix(options.maxLength)) : $0 }
        let order = cut.indices.sorted { cut[$0].count > cut[$1].count }
        let batches = stride(from: 0, to: order.count, by: 64).map { Array(order[$0..<min($0 + 64, order.count)]) }
        let threads = max(1, min(workers, batches.count))
        let out = PredictionSlots(count: cut.count)
        box.withModels(threads) { models in
            if threads == 1 {
                for rows in batches { score(rows, cut, on: models[0], into: out) }
                return
            }
            // One BLAS thread per worker (a shared OpenBLAS pool spins); batches handed out in turn.
            let blasThreads = BLAS.threads
            BLAS.setThreads(1)
            defer { BLAS.setThreads(blasThreads) }
            let next = BatchCounter()
            let shared = UncheckedInference((self, batches, cut, models, out))
            DispatchQueue.concurrentPerform(iterations: threads) { w in
                let (classifier, batches, cut, models, out) = shared.value
                while let b = next.take(below: batches.count) { classifier.score(batches[b], cut, on: models[w], into: out) }
            }
        }
        return out.values
    }

    /// Scores one batch of sequences (longest first) into their slots.
    private func score(_ rows: [Int], _ cut: [[Int32]], on model: Classifier, into out: PredictionSlots) {
        let C = labels.count
        let steps = max(1, cut[rows[0]].count)
        var ids = [Int32](repeating: 0, count: rows.count * steps)
        var lengths: [Int] = []
        for (r, i) in rows.enumerated() {
            let doc = cut[i].isEmpty ? [Vocabulary.unknownID] : cut[i]
            for (t, id) in doc.enumerated() { ids[r * steps + t] = id }
            lengths.append(doc.count)
        }
        let result = model.forward(ids: ids, lengths: lengths, batch: rows.count, steps: steps, training: false)
        for (r, i) in rows.enumerated() {
            let logits = Array(result.logits[(r * C)..<((r + 1) * C)])
            let probabilities =
                temperature == 1
                ? Array(result.probabilities[(r * C)..<((r + 1) * C)])
                : Calibration.probabilities(logits: logits[...], temperature: temperature).map { Float($0) }
            let attention = cut[i].isEmpty ? nil : result.attention.map { Array($0[(r * steps)..<(r * steps + cut[i].count)]) }
            out.set(i, IDPrediction(probabilities: probabilities, logits: logits, attention: attention))
        }
    }
}

/// One prediction slot per sequence, each written by the one thread scoring its batch.
private final class PredictionSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<IDPrediction?>
    init(count: Int) { slots = .allocate(capacity: count); slots.initialize(repeating: nil) }
    deinit { slots.deinitialize(); slots.deallocate() }
    func set(_ i: Int, _ p: IDPrediction) { slots[i] = p }
    var values: [IDPrediction] { slots.map { $0! } }
}

/// Hands out batch numbers in order under a lock.
private final class BatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    func take(below count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}

/// Carries the batches, models and slots into `concurrentPerform`; each thread scores its own
/// batches on its own model.
private struct UncheckedInference<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
