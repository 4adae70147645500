import Foundation
import HeedNN
import HeedText

/// A language model as the training loop's objective (`heed pretrain`): this rank's chunks under a
/// sampled softmax, held-out perplexity summed over ranks (lower is better; no early stopping: the
/// schedule or the deadline ends the run), and the encoder, log and checkpoint beside `output`.
final class LanguageModelObjective: TrainingObjective {
    let pretrainer: Pretrainer
    let options: PretrainingOptions
    let tokenizer: TokenizerSettings
    let collective: any Collective
    let data: Pretrainer.Prepared
    /// The encoder file's entries beside the weights (vocabulary, options, line keys).
    let metadata: [String: String]
    let step: DataParallelStep<LanguageModel>
    let adam: Adam
    let best: ParameterSnapshot
    let files: RunFiles
    var log: [PretrainingRecord]
    var bestPerplexity: Double
    var bestEpoch: Int
    private(set) var wroteEncoder = false
    private var batches: [[Int]] = []

    init(
        pretrainer: Pretrainer, options: PretrainingOptions, tokenizer: TokenizerSettings, collective: any Collective, data: Pretrainer.Prepared,
        metadata: [String: String], step: DataParallelStep<LanguageModel>, adam: Adam, best: ParameterSnapshot, files: RunFiles,
        log: [PretrainingRecord], bestPerplexity: Double, bestEpoch: Int
    ) {
        (self.pretrainer, self.options, self.tokenizer, self.collective, self.data) = (pretrainer, options, tokenizer, collective, data)
        (self.metadata, self.step, self.adam, self.best, self.files) = (metadata, step, adam, best, files)
        (self.log, self.bestPerplexity, self.bestEpoch) = (log, bestPerplexity, bestEpoch)
    }

    var parameters: [Param] { step.model.parameters }
    /// Only rank 0 writes files and reports.
    private var output: URL? { collective.rank == 0 ? pretrainer.output : nil }

    func startEpoch(_ epoch: Int) -> Int {
        let rank = collective.rank
        var shuffler: Rng? = Rng(seed: Trainer.streamSeed(options.seed, epoch: epoch, rank: rank) &+ 1)
        step.seedStreams(seed: options.seed, epoch: epoch, rank: rank)
        batches = Bucketing.batches(data.train, size: options.batchSize, shuffle: &shuffler)
        return batches.count
    }

    func gradient(batch b: Int) -> GradientReducer.Totals {
        step.gradient(data.train, indices: batches[b], samples: options.samples)
    }

    func evaluate() throws -> Double {
        Pretrainer.perplexity(step.model, data.heldOut, batchSize: options.batchSize, collective: collective)
    }

    func judge(_ perplexity: Double, epoch: Int, step: Int) -> TrainingVerdict {
        TrainingVerdict(improved: perplexity < bestPerplexity, stop: false)
    }

    func endEpoch(_ summary: EpochSummary, score perplexity: Double, verdict: TrainingVerdict) throws {
        var record = PretrainingRecord(
            epoch: summary.epoch, trainLoss: summary.trainLoss, heldOutPerplexity: perplexity, tokensPerSecond: summary.tokensPerSecond,
            seconds: summary.seconds, evaluationSeconds: summary.evaluationSeconds, optimizerSteps: summary.optimizerSteps, best: verdict.improved)
        if summary.partial { record.partial = true }
        if collective.size > 1 { record.ranks = collective.size }
        log.append(record)
        if verdict.improved {
            (bestPerplexity, bestEpoch) = (perplexity, summary.epoch)
            if let output {
                let provenance = PretrainingProvenance(
                    files: pretrainer.sources, excluded: pretrainer.excluded, droppedLines: pretrainer.droppedLines, trainLines: data.trainLines,
                    heldOutLines: data.heldOutLines, trainTokens: data.trainTokens, heldOutPerplexity: perplexity,
                    unigramPerplexity: data.unigramPerplexity, epoch: summary.epoch, curve: log.map(PretrainingPoint.init), options: options)
                var meta = metadata
                meta[PretrainedEncoder.provenanceKey] = try sortedJSON(provenance)
                try Pretrainer.saveEncoder(step.model, metadata: meta, perplexity: perplexity, epoch: summary.epoch, to: output)
                wroteEncoder = true
            }
        }
        try files.writeLog(log)
        // A partial epoch is not a place a resume could continue from exactly: the previous
        // checkpoint stays.
        if !summary.partial, let output {
            let state = PretrainCheckpoint.State(
                epoch: summary.epoch, adamSteps: adam.steps, bestPerplexity: bestPerplexity, bestEpoch: bestEpoch, log: log,
                dataHash: data.dataHash, lineHash: data.lineHash, options: options, tokenizer: tokenizer.headerFields)
            try PretrainCheckpoint.write(to: Pretrainer.checkpointURL(for: output).path, model: step.model, adam: adam, best: best, state: state)
        }
        if collective.rank == 0 { pretrainer.epochEnded?(record) }
    }
}

extension DataParallelStep where Network == LanguageModel {
    /// Dropout and sampled candidates from a per-epoch stream per worker, so a resume at an epoch
    /// boundary continues bit for bit without saving the generators.
    func seedStreams(seed: UInt64, epoch: Int, rank: Int) {
        for (w, network) in networks.enumerated() { network.rng = Rng(seed: Trainer.streamSeed(seed, epoch: epoch, rank: rank, worker: w) &+ 2) }
    }

    /// Leaves the batch's gradient in `model`'s gradients: each share's loss is divided by the
    /// whole batch's prediction count so the shares' gradients add up to the batch's. Each worker
    /// samples its own candidates from its own stream. The totals weigh the batch by its
    /// predictions, so ranks average to the mean over every rank's predictions.
    func gradient(_ train: [EncodedDocument], indices: [Int], samples: Int) -> GradientReducer.Totals {
        let shares = Self.shares(indices, workers: workers)
        let batches = shares.map { Batch(train, indices: $0) }
        let bidirectional = model.config.bidirectional
        let divisor: Double? =
            shares.count == 1
            ? nil
            : Double(
                batches.reduce(0) {
                    $0 + LanguageModel.targetCount(ids: $1.ids, lengths: $1.lengths.map(Int.init), steps: $1.steps, bidirectional: bidirectional)
                })
        let parts = run(shares) { network, w in
            let batch = batches[w]
            network.zeroGrad()
            return network.loss(
                ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, training: true,
                output: .sampled(samples), lossDivisor: divisor)
        }
        let predictions = parts.reduce(0.0) { $0 + Double($1.forwardTokens + $1.backwardTokens) }
        let loss = parts.reduce(0.0) { $0 + $1.loss }
        var totals = GradientReducer.Totals()
        (totals.weight, totals.examples) = (predictions, predictions)
        totals.weightedLoss = loss * predictions
        totals.exampleLoss = totals.weightedLoss
        totals.tokens = Double(batches.reduce(0) { $0 + $1.tokens })
        return totals
    }
}
