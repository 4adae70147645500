import HeedNN

/// A classifier network the training loop can step, flat or hierarchical: `ClassifierObjective`,
/// `DataParallelStep` and the checkpoint take either through it, so early stopping, workers,
/// clipping, Adam and resuming are written once.
protocol TrainableNetwork: ClassifierNetwork, ReplicableNetwork {
    /// Each parameter's layer group, bottom to top (discriminative rates and gradual unfreezing).
    var parameterGroups: [Int] { get }
    /// Forward and backward of one share of a batch (`indices` into `train`) on this network;
    /// `lossWeightTotal` and `documentTotal` nil mean the share is the whole batch. Returns the
    /// share's totals; the gradients are left in `parameters`.
    func trainingStep(_ train: [EncodedDocument], indices: [Int], classWeights: [Float]?, lossWeightTotal: Double?, documentTotal: Int?)
        -> GradientReducer.Totals
    /// Adds share `w` of `n` of an unlabelled batch's VAT gradient.
    func addVAT(_ vat: VATBatch, share w: Int, of n: Int)
}

extension GradientReducer.Totals {
    /// One share's totals: its mean cross-entropy `loss` over `labels`, plus `penalty` (already
    /// divided by the whole batch's documents) weighted as the whole batch's loss is.
    static func share(loss: Double, penalty: Double = 0, labels: [Int], classWeights: [Float]?, lossWeightTotal: Double?, tokens: Int) -> Self {
        var local = Self()
        local.weight = classWeights.map { w in labels.reduce(0.0) { $0 + Double(w[$1]) } } ?? Double(labels.count)
        local.weightedLoss = loss * local.weight + penalty * (lossWeightTotal ?? local.weight)
        local.examples = Double(labels.count)
        local.exampleLoss = (loss + penalty) * Double(labels.count)
        local.tokens = Double(tokens)
        return local
    }
}

extension Classifier: TrainableNetwork {
    /// The loss it reports is the objective minimised: the cross-entropy plus, for a diversity
    /// encoder, λ·(mean conicity over the whole batch's documents), of which this share holds
    /// λ·Σ_share conicity / `documentTotal`.
    func trainingStep(_ train: [EncodedDocument], indices: [Int], classWeights: [Float]?, lossWeightTotal: Double?, documentTotal: Int?)
        -> GradientReducer.Totals
    {
        let batch = Batch(train, indices: indices)
        zeroGrad()
        _ = forward(ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, training: true, pieces: batch.pieces)
        let labels = batch.labels.map(Int.init)
        let loss = Double(self.loss(labels: labels, classWeights: classWeights))
        backward(lossWeightTotal: lossWeightTotal, documentTotal: documentTotal)
        let penalty = diversityPenaltySum / Double(documentTotal ?? batch.count)
        return .share(loss: loss, penalty: penalty, labels: labels, classWeights: classWeights, lossWeightTotal: lossWeightTotal, tokens: batch.tokens)
    }

    func addVAT(_ vat: VATBatch, share w: Int, of n: Int) { vat.accumulate(on: self, share: w, of: n) }
}

extension HierarchicalClassifier: TrainableNetwork {
    /// Both levels run batched over the share's documents (`HierarchicalBatch`).
    func trainingStep(_ train: [EncodedDocument], indices: [Int], classWeights: [Float]?, lossWeightTotal: Double?, documentTotal: Int?)
        -> GradientReducer.Totals
    {
        let batch = HierarchicalBatch(train, indices: indices)
        zeroGrad()
        _ = forward(batch, training: true)
        let labels = indices.map { train[$0].label }
        let loss = Double(self.loss(labels: labels, classWeights: classWeights))
        backward(lossWeightTotal: lossWeightTotal)
        return .share(loss: loss, labels: labels, classWeights: classWeights, lossWeightTotal: lossWeightTotal, tokens: batch.ids.count)
    }

    /// Never reached: `Trainer` refuses unlabelled data for han before training starts.
    func addVAT(_ vat: VATBatch, share w: Int, of n: Int) {
        preconditionFailure("virtual adversarial training is not built for han (Trainer refuses it)")
    }
}
