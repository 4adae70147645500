import HeedNN
import HeedText

/// The unlabelled side of a run with virtual adversarial training: the unlabelled documents,
/// encoded by the labelled documents' encoder, and the batch each optimiser step draws from
/// them. Batches and random directions come from seeds of (seed, epoch, rank, step, document),
/// never from the labelled streams, so a resume draws the same ones and a run without VAT is the
/// run it was before VAT existed.
struct VATSchedule: Sendable {
    let documents: [EncodedDocument]
    let vat: VirtualAdversarial
    let weight: Float
    let batchSize: Int

    /// How many of `documents` (the first ones) are unlabelled text; the rest are the training
    /// split's own, already in the run's data hash.
    let unlabelledCount: Int

    /// nil when the run has no VAT term (no document with a token, or weight 0). `training`: the
    /// training split as the run encoded it, drawn from too (`Trainer.vatOnTrainingTexts`).
    init?(unlabelled: [LabelledText]?, training: [EncodedDocument] = [], encoder: DocumentEncoder, options: TrainingOptions) {
        guard options.vatWeight > 0 else { return nil }
        // The one path from text to network input; documents without a kept token have nothing to perturb.
        let other = (unlabelled ?? []).compactMap { doc -> EncodedDocument? in
            let (ids, pieces, _) = encoder.document(doc.text)
            return ids.isEmpty ? nil : EncodedDocument(ids: ids, pieces: pieces, label: -1, line: doc.line)
        }
        let own = training.map { EncodedDocument(ids: $0.ids, pieces: $0.pieces, label: -1, line: $0.line) }
        guard !other.isEmpty || !own.isEmpty else { return nil }
        documents = other + own
        unlabelledCount = other.count
        vat = VirtualAdversarial(epsilon: options.vatEpsilon)
        weight = options.vatWeight
        batchSize = options.batchSize
    }

    /// Added to the run's data hash, so a checkpoint resumes only with the same unlabelled text.
    /// The training split's texts are in that hash already (the same for any rank count), so they
    /// add a marker only.
    var hash: UInt64 {
        var sum: UInt64 = unlabelledCount == 0 ? 0 : 0x5641_5400
        for (i, d) in documents.prefix(unlabelledCount).enumerated() {
            var h = FNV1a()
            for id in d.ids { withUnsafeBytes(of: id.littleEndian) { h.add($0) } }
            var mixed = Rng(seed: h.value ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
            sum &+= mixed.next()
        }
        return documents.count > unlabelledCount ? 0x5641_5400_5452_4149 &+ sum : sum
    }

    /// The epoch's generator seed, apart from the labelled streams derived from the same triple.
    static func stream(seed: UInt64, epoch: Int, rank: Int) -> UInt64 {
        var h = FNV1a()
        h.add("vat".utf8)
        withUnsafeBytes(of: Trainer.streamSeed(seed, epoch: epoch, rank: rank).littleEndian) { h.add($0) }
        return h.value
    }

    /// One batch per step: consecutive `batchSize` slices of a seeded permutation (a new one each
    /// time the documents run out), each in length order so dealing them gives workers like
    /// token counts.
    func batches(seed: UInt64, epoch: Int, rank: Int, steps: Int) -> [[Int]] {
        var rng = Rng(seed: Self.stream(seed: seed, epoch: epoch, rank: rank))
        var order: [Int] = []
        var out: [[Int]] = []
        for _ in 0..<steps {
            var batch: [Int] = []
            while batch.count < min(batchSize, documents.count) {
                if order.isEmpty { order = Bucketing.deterministicShuffle(Array(documents.indices), &rng).reversed() }
                batch.append(order.removeLast())
            }
            out.append(
                batch.enumerated().sorted { a, b in
                    let la = documents[a.element].ids.count, lb = documents[b.element].ids.count
                    return la != lb ? la < lb : a.offset < b.offset
                }.map(\.element))
        }
        return out
    }

    /// Step `step`'s unlabelled batch with one direction seed per document.
    func batch(_ indices: [Int], step: Int, seed: UInt64, epoch: Int, rank: Int) -> VATBatch {
        let stream = Self.stream(seed: seed, epoch: epoch, rank: rank)
        let seeds = indices.map { i in
            var h = FNV1a()
            for v in [stream, UInt64(step), UInt64(i)] { withUnsafeBytes(of: v.littleEndian) { h.add($0) } }
            return h.value
        }
        return VATBatch(schedule: self, indices: indices, seeds: seeds)
    }
}

/// One optimiser step's unlabelled documents, dealt over the workers like the labelled batch.
struct VATBatch: Sendable {
    let schedule: VATSchedule
    let indices: [Int]
    let seeds: [UInt64]

    /// Adds share `w` of `n`'s VAT gradient to `model`'s gradients (the divisor is the whole
    /// batch's size, so the shares add up to the batch's mean).
    func accumulate(on model: Classifier, share w: Int, of n: Int) {
        let mine = Array(stride(from: w, to: indices.count, by: max(n, 1)))
        guard !mine.isEmpty else { return }
        let batch = Batch(schedule.documents, indices: mine.map { indices[$0] })
        schedule.vat.accumulateGradient(
            model, ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, pieces: batch.pieces,
            seeds: mine.map { seeds[$0] }, weight: schedule.weight, divisor: Double(indices.count))
    }
}
