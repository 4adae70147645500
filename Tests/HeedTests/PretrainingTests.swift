import Foundation
import HeedNN
import Testing

@testable import Heed

/// Tiny sizes so a run over a few hundred lines takes seconds in a debug build.
func tinyPretraining(epochs: Int = 2) -> PretrainingOptions {
    var o = PretrainingOptions()
    o.embeddingSize = 16; o.hiddenSize = 16; o.epochs = epochs; o.batchSize = 16; o.learningRate = 1e-2
    o.maxLength = 40; o.samples = 64; o.heldOutFraction = 0.1; o.dropout = 0.1
    return o
}

/// Every other document of the small topic corpus (150), labels dropped (pretraining ignores them).
func pretrainingLines() throws -> [LabelledText] {
    try smallTopicCorpus().train.enumerated().filter { $0.offset % 2 == 0 }.map { LabelledText(label: nil, text: $0.element.text, line: $0.element.line) }
}

final class BatchCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}

@Suite(.serialized) struct PretrainingTests {
    @Test func resumeAfterInterruptIsBitIdentical() throws {
        let lines = try pretrainingLines()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-pretrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var whole = Pretrainer(options: tinyPretraining(epochs: 2))
        whole.output = dir.appendingPathComponent("whole.heed")
        let a = try whole.train(lines)
        // Learning: held-out perplexity (full softmax) falls, and is far below the uniform level.
        // (Past the add-one unigram level takes more epochs than a unit test affords: measured in
        // docs/pretraining.md.)
        let uniform = Double(a.vocabulary.count - 1)
        #expect(a.log.count == 2 && a.log[1].heldOutPerplexity < a.log[0].heldOutPerplexity)
        #expect(a.log[1].heldOutPerplexity < uniform / 2, "held-out perplexity \(a.log[1].heldOutPerplexity) vs uniform \(uniform)")

        // Stopped a few batches into epoch 2, then resumed from the epoch-1 checkpoint.
        let out = dir.appendingPathComponent("cut.heed")
        let batches = BatchCounter()
        var cut = Pretrainer(options: tinyPretraining(epochs: 2))
        cut.output = out
        cut.progress = { _ in batches.add() }
        let perEpoch = a.log[0].optimizerSteps
        cut.shouldStop = { batches.value >= perEpoch + 3 }
        let stopped = try cut.train(lines)
        #expect(stopped.interrupted && stopped.log.count == 1)
        var resumed = Pretrainer(options: tinyPretraining(epochs: 2))
        resumed.output = out
        resumed.resume = Pretrainer.checkpointURL(for: out)
        let b = try resumed.train(lines)
        #expect(b.log.map(\.heldOutPerplexity) == a.log.map(\.heldOutPerplexity))
        for (p, q) in zip(a.model.parameters, b.model.parameters) { #expect(p.values == q.values, "\(p.name)") }
        #expect(try Data(contentsOf: whole.output!) == Data(contentsOf: out))
        #expect(try !FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.contains(".tmp-") })
    }

    /// Two workers: the same run twice is bit-identical; with every word a candidate and no
    /// dropout the first step's loss is one worker's up to summation order.
    @Test func workersAreDeterministicAndAddUp() throws {
        let lines = Array(try pretrainingLines().prefix(40))
        var o = tinyPretraining(epochs: 1)
        (o.samples, o.dropout, o.batchSize, o.steps) = (100_000, 0, 10_000, 1)
        o.workers = 2
        let a = try Pretrainer(options: o).train(lines), b = try Pretrainer(options: o).train(lines)
        for (p, q) in zip(a.model.parameters, b.model.parameters) { #expect(p.values == q.values, "\(p.name)") }
        o.workers = 1
        let one = try Pretrainer(options: o).train(lines)
        #expect(a.log[0].optimizerSteps == 1 && one.log[0].optimizerSteps == 1)
        // Float32 sums of a few hundred log-probabilities in another order.
        #expect(abs(a.log[0].trainLoss - one.log[0].trainLoss) <= 1e-5 * one.log[0].trainLoss, "\(a.log[0].trainLoss) vs \(one.log[0].trainLoss)")
    }

    @Test func initStartsTheClassifierFromTheEncoder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-pretrain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var pretrainer = Pretrainer(options: tinyPretraining(epochs: 1))
        let url = dir.appendingPathComponent("enc.heed")
        pretrainer.output = url
        _ = try pretrainer.train(try pretrainingLines())
        let encoder = try PretrainedEncoder.load(url)
        #expect(encoder.model.config.embedDim == 16 && encoder.model.config.bidirectional)

        // Stopped before the first step: the classifier holds its starting weights.
        var options = smallOptions(.bilstmAttention)
        (options.embeddingSize, options.hiddenSize) = (TrainingOptions().embeddingSize, TrainingOptions().hiddenSize)
        var trainer = Trainer(options: options)
        trainer.encoder = url
        trainer.shouldStop = { true }
        let (train, _) = try smallTopicCorpus()
        let r = try trainer.train(train)
        #expect(r.classifier.vocabulary.allTokens == ["<pad>", "<unk>"] + encoder.tokens)
        #expect(r.classifier.labels == ["games", "math", "sound"])
        r.classifier.box.withModel { model in
            for name in ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0_reverse", "lstm.bias_ih_l0"] {
                #expect(model.parameter(named: name)!.values == encoder.model.parameter(named: name)!.values, "\(name)")
            }
            #expect(model.config.embedDim == 16 && model.config.hiddenDim == 16)
        }
        // An orthogonal encoder starts from the same weights (same shapes) and keeps its encoder.
        var orthogonal = trainer
        orthogonal.options.encoder = .orthogonal
        try orthogonal.train(train).classifier.box.withModel { model in
            #expect(model.config.encoder == .orthogonal)
            #expect(model.parameter(named: "lstm.weight_hh_l0")!.values == encoder.model.parameter(named: "lstm.weight_hh_l0")!.values)
        }
        // Fine-tuning unfreezes gradually unless told otherwise (0: off).
        #expect(r.classifier.options.unfreezeEvery == TrainingOptions.encoderUnfreezeEvery)
        var allAtOnce = trainer
        allAtOnce.options.unfreezeEvery = 0
        #expect(try allAtOnce.train(train).classifier.options.unfreezeEvery == 0)
        var scratch = Trainer(options: options)
        scratch.shouldStop = { true }
        #expect(try scratch.train(train).classifier.options.unfreezeEvery == nil)

        // Sizes set to something else conflict; a classifier file is not an encoder.
        var conflicting = Trainer(
            options: {
                var o = options; o.hiddenSize = 32; return o
            }())
        conflicting.encoder = url
        #expect(throws: HeedError.self) { try conflicting.train(train) }
        let model = dir.appendingPathComponent("model.heed")
        try r.classifier.write(to: model)
        #expect {
            _ = try PretrainedEncoder.load(model)
        } throws: { "\($0)".contains("classifier file") }
    }
}

@Suite struct PretrainingExclusionTests {
    /// Test documents are matched by their tokens, so case, punctuation and spacing do not let one
    /// through; a line with other tokens stays.
    @Test func linesEqualToAnExcludedDocumentAreDropped() throws {
        let docs = ["A fine film.", "a  FINE film", "Another one", "fine film"].enumerated().map {
            LabelledText(label: nil, text: $0.element, line: $0.offset + 1)
        }
        let test = [LabelledText(label: "pos", text: "A fine film!", line: 1)]
        let (kept, dropped) = try Pretrainer.dropping(test, from: docs, tokenizer: .default)
        #expect(dropped == 2 && kept.map(\.text) == ["Another one", "fine film"])
        #expect(try Pretrainer.dropping([], from: docs, tokenizer: .default).dropped == 0)
    }
}
