import HeedNN

/// One training step's gradient over worker threads in this process. The batch is dealt into one
/// share per worker; each worker runs forward and backward on its own replica (shared
/// weights, its own gradients, buffers and dropout stream) with the whole batch's loss divisor,
/// so the shares' gradients add up to the batch's mean-loss gradient. They are added into the
/// model's gradients in worker order, so the result depends on the seed and the worker count,
/// never on thread timing. One worker is exactly the single-threaded step.
final class DataParallelStep {
    let model: Classifier
    /// Workers 1..<count; worker 0 is `model` itself.
    let replicas: [Classifier]
    var workers: Int { replicas.count + 1 }

    init(model: Classifier, workers: Int) {
        self.model = model
        replicas = (1..<max(1, workers)).map { _ in model.replica() }
    }

    /// Seeds every worker's dropout stream for one epoch: worker 0 keeps the single-threaded
    /// stream, so one worker trains exactly as before workers existed.
    func seedStreams(seed: UInt64, epoch: Int, rank: Int) {
        model.rngState = Rng(seed: Trainer.streamSeed(seed, epoch: epoch, rank: rank)).state
        for (k, replica) in replicas.enumerated() {
            replica.rngState = Rng(seed: Trainer.streamSeed(seed, epoch: epoch, rank: rank, worker: k + 1)).state
        }
    }

    /// The shares `indices` is dealt into, round-robin (worker w takes positions w, w + n, …): a
    /// batch lists its documents in length order, so dealing gives every worker a like number of
    /// tokens. At most one share per worker, none empty.
    static func shares(_ indices: [Int], workers: Int) -> [[Int]] {
        let n = max(1, min(workers, indices.count))
        return (0..<n).map { w in Array(stride(from: w, to: indices.count, by: n).map { indices[$0] }) }
    }

    /// Leaves the batch's mean-loss gradient in `model`'s gradients and returns the batch's
    /// totals (loss weight, weighted loss, examples, tokens). With `vat`, each worker adds its
    /// share of the unlabelled batch's VAT gradient after its labelled one.
    func gradient(_ train: [EncodedDocument], indices: [Int], classWeights: [Float]?, vat: VATBatch? = nil) -> GradientReducer.Totals {
        if replicas.isEmpty {
            let totals = Self.step(model, train, indices: indices, classWeights: classWeights, lossWeightTotal: nil)
            vat?.accumulate(on: model, share: 0, of: 1)
            return totals
        }
        let shares = Self.shares(indices, workers: workers)
        let weightTotal = classWeights.map { w in indices.reduce(0.0) { $0 + Double(w[train[$1].label]) } } ?? Double(indices.count)
        let models = [model] + replicas
        // Share w always runs on model w, whichever thread takes it.
        let parts = concurrentMap(count: shares.count, threads: shares.count) { _, w in
            let part = Self.step(models[w], train, indices: shares[w], classWeights: classWeights, lossWeightTotal: weightTotal)
            vat?.accumulate(on: models[w], share: w, of: shares.count)
            return part
        }
        addGradients(of: replicas.prefix(shares.count - 1).map(\.parameters), into: model.parameters)
        var total = GradientReducer.Totals()
        for part in parts {
            total.weightedLoss += part.weightedLoss
            total.examples += part.examples
            total.tokens += part.tokens
        }
        total.weight = weightTotal
        total.exampleLoss = total.weightedLoss / weightTotal * Double(indices.count)
        return total
    }

    /// Forward and backward of one share on one model; `lossWeightTotal` nil means the share is
    /// the whole batch.
    private static func step(
        _ model: Classifier, _ train: [EncodedDocument], indices: [Int], classWeights: [Float]?, lossWeightTotal: Double?
    ) -> GradientReducer.Totals {
        let batch = Batch(train, indices: indices)
        model.zeroGrad()
        _ = model.forward(ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, training: true, pieces: batch.pieces)
        let labels = batch.labels.map(Int.init)
        let loss = Double(model.loss(labels: labels, classWeights: classWeights))
        model.backward(lossWeightTotal: lossWeightTotal)
        var local = GradientReducer.Totals()
        local.weight = classWeights.map { w in labels.reduce(0.0) { $0 + Double(w[$1]) } } ?? Double(batch.count)
        local.weightedLoss = loss * local.weight
        local.examples = Double(batch.count)
        local.exampleLoss = loss * Double(batch.count)
        local.tokens = Double(batch.tokens)
        return local
    }
}
