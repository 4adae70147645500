import Foundation
import HeedNN
import HeedText

/// Self-training with calibrated confidence: train on the labelled documents, label the
/// unlabelled texts the model is sure of, train again on both, and keep whichever round scores
/// best on one fixed dev set.
///
/// Every round is a run of the one training loop (`Trainer`), from the same starting point (the
/// seed's weights, or the `--init` encoder), so a round differs from the first only by its
/// pseudo-labelled documents. The dev set is carved from the labelled documents once, as the
/// trainer itself would carve it, so round 0 is exactly a plain `heed train` run, and no
/// pseudo-label ever reaches dev. "Sure" is the calibrated probability (the temperature each
/// round fits on dev), at least `threshold`; the classes are then taken in the labelled set's
/// proportions, so a model that is sure of one class only cannot flood the next round with it.
public struct SelfTraining {
    /// Trains every round. Its `output` receives the kept round's model and log (rewritten when a
    /// later round does better); a checkpoint is not written, so `resume` must be nil.
    public var trainer: Trainer
    /// Pseudo-labelling rounds after the supervised one. A round that does not beat the best so far
    /// on dev ends the run: the next would relabel with the same model.
    public var rounds = 2
    /// Calibrated probability a prediction needs before its text is taken with that label.
    public var threshold = 0.9
    /// Called after each round (round 0 is the supervised run), once its files are written.
    public var roundEnded: (@Sendable (SelfTrainingRound) -> Void)?

    /// Self-training with `trainer`'s options, the default number of rounds and threshold.
    public init(trainer: Trainer) { self.trainer = trainer }

    /// Throws when `rounds`, `threshold` or a `resume` make the run impossible.
    public func validate() throws(SelfTrainingError) {
        guard rounds >= 1 else { throw .rounds(rounds) }
        guard threshold > 0 && threshold < 1 else { throw .threshold(threshold) }
        guard trainer.resume == nil else { throw .resume }
    }

    /// Runs the rounds; `labelled` as `Trainer.train` takes it (a share held out as dev unless
    /// `dev` is given), `unlabelled` without labels (any label it has is ignored).
    public func train(_ labelled: [LabelledText], unlabelled: [LabelledText], dev: [LabelledText]? = nil, file: String = "training data") throws
        -> SelfTrainingResult
    {
        let shard = Shard(documents: labelled, indices: Array(labelled.indices))
        let devShard = dev.map { Shard(documents: $0, indices: Array($0.indices)) }
        return try train(shard: shard, unlabelled: unlabelled, dev: devShard, file: file, collective: SingleProcess())
    }

    /// The rounds, one call per rank of `collective`: `shard` is this rank's part of the labelled
    /// documents (and `dev` of the dev file), `unlabelled` the same texts on every rank. Every
    /// round is a distributed run of the training loop; each rank scores its share of the
    /// unlabelled texts (index mod ranks) and all ranks pick from the gathered scores, so they
    /// take the same pseudo-labels from the same bytes (checked by hash) and deal them out as a
    /// shard again. Rank 0 writes the files and calls `roundEnded`.
    package func train(shard: Shard, unlabelled: [LabelledText], dev devShard: Shard?, file: String, collective: any Collective) throws
        -> SelfTrainingResult
    {
        try validate()
        let isRoot = collective.rank == 0
        let (trainShard, devShard) = try Self.split(shard, dev: devShard, options: trainer.options, collective: collective)
        let files = RunFiles(model: isRoot ? trainer.output : nil)
        try files.checkWritable()
        var roundTrainer = trainer
        roundTrainer.output = nil
        // Pseudo-labelled texts are numbered after every labelled document, so shard indices stay unique.
        var firstPseudoIndex = [Double(trainShard.indices.max().map { $0 + 1 } ?? 0)]
        collective.sum(&firstPseudoIndex)
        let pseudoBase = Int(firstPseudoIndex[0])

        var best = try roundTrainer.train(shard: trainShard, dev: devShard, file: file, collective: collective)
        var bestRound = 0
        var records = [
            SelfTrainingRound(
                round: 0, labelled: best.trainDocuments, pseudoLabelled: 0, confident: 0, byLabel: [:],
                devAccuracy: Self.devScore(best), confidentDevShare: nil, confidentDevAccuracy: nil, kept: true)
        ]
        try write(best, rounds: records, files: files)
        if isRoot { roundEnded?(records[0]) }
        guard !best.interrupted else {
            best.wroteModel = files.wroteModel
            return SelfTrainingResult(kept: best, keptRound: 0, rounds: records)
        }

        for round in 1...rounds {
            let labeller = best.classifier
            let pick = try Self.confident(
                unlabelled, by: labeller, threshold: threshold, proportions: trainShard.documents, collective: collective)
            try Self.requireAgreement(on: pick, round: round, collective: collective)
            let check = try Self.confidentAccuracy(devShard.documents, by: labeller, threshold: threshold, collective: collective)
            let pseudo = pick.map { LabelledText(label: labeller.labels[$0.label], text: unlabelled[$0.index].text, line: unlabelled[$0.index].line) }
            let mine = pseudo.indices.filter { $0 % collective.size == collective.rank }
            let roundShard = Shard(
                documents: trainShard.documents + mine.map { pseudo[$0] },
                indices: trainShard.indices + mine.map { pseudoBase + pick.picks[$0].index })
            let result = try roundTrainer.train(shard: roundShard, dev: devShard, file: file, collective: collective)
            // Ties keep the earlier round: it rests on fewer guesses.
            let improved = !result.interrupted && Self.devScore(result) > Self.devScore(best)
            var byLabel: [String: Int] = [:]
            for p in pick { byLabel[labeller.labels[p.label], default: 0] += 1 }
            var record = SelfTrainingRound(
                round: round, labelled: records[0].labelled, pseudoLabelled: pseudo.count, confident: pick.confident, byLabel: byLabel,
                devAccuracy: Self.devScore(result), confidentDevShare: check.share, confidentDevAccuracy: check.accuracy, kept: improved)
            if improved {
                for k in records.indices { records[k].kept = false }
                (best, bestRound) = (result, round)
            }
            records.append(record)
            try write(best, rounds: records, files: files)
            record = records[records.count - 1]
            if isRoot { roundEnded?(record) }
            if result.interrupted || !improved { break }
        }
        best.wroteModel = files.wroteModel
        return SelfTrainingResult(kept: best, keptRound: bestRound, rounds: records)
    }

    private func write(_ kept: TrainingResult, rounds: [SelfTrainingRound], files: RunFiles) throws {
        var classifier = kept.classifier
        classifier.provenance.selfTraining = SelfTrainingProvenance(threshold: threshold, rounds: rounds)
        try files.bestChanged(classifier)
        try files.writeLog(kept.log, final: true)
    }

    /// The kept epoch's dev accuracy: what every round is compared by.
    static func devScore(_ r: TrainingResult) -> Double { r.log.first { $0.epoch == r.bestEpoch }?.devAccuracy ?? 0 }

    /// Training and dev documents on this rank of `collective`: the dev shard if given, else this
    /// rank's part of the dev set the trainer would carve from the whole corpus.
    static func split(_ shard: Shard, dev: Shard?, options: TrainingOptions, collective: any Collective) throws -> (train: Shard, dev: Shard) {
        if let dev { return (shard, dev) }
        let isDev = try Trainer.devMembership(shard, fraction: options.devFraction, seed: options.seed, collective: collective)
        func part(_ keep: Bool) -> Shard {
            let k = shard.documents.indices.filter { isDev[$0] == keep }
            return Shard(documents: k.map { shard.documents[$0] }, indices: k.map { shard.indices[$0] })
        }
        return (part(false), part(true))
    }

    /// The texts taken in a round: each with its most probable label, calibrated probability at
    /// least `threshold`, then per class the surest ones in the proportions of `proportions`'
    /// labels (confidence descending, then text order: the same picks for the same scores).
    /// Over the ranks of `collective`, each rank scores the texts whose index mod ranks is its
    /// rank and every rank picks from all the gathered scores (`proportions` is this rank's part
    /// of the labelled documents): the picks are made from the same bytes everywhere, never from
    /// two machines' predictions of one text.
    static func confident(
        _ texts: [LabelledText], by model: TextClassifier, threshold: Double, proportions: [LabelledText],
        collective: any Collective = SingleProcess()
    ) throws -> ConfidentPick {
        let C = model.labels.count, ranks = collective.size
        var byClass = [[(index: Int, p: Float)]](repeating: [], count: C)
        let mine = Array(stride(from: collective.rank, to: texts.count, by: ranks))
        var sure = ByteRecord()
        try model.scoreTexts(mine.map { texts[$0] }) { k, score in
            let p = score.probabilities[score.best]
            guard Double(p) >= threshold else { return }
            sure.append(UInt64(mine[k]))
            sure.append(UInt32(score.best))
            sure.append(p.bitPattern)
        }
        for bytes in try collective.allGather(sure.bytes) {
            var reader = ByteRecord.Reader(bytes)
            while !reader.atEnd {
                let index = Int(reader.read(UInt64.self)), label = Int(reader.read(UInt32.self))
                let p = Float(bitPattern: reader.read(UInt32.self))
                guard label < C, index < texts.count else { continue }
                byClass[label].append((index, p))
            }
        }
        for c in 0..<C { byClass[c].sort { $0.index < $1.index } }
        var counts = [Double](repeating: 0, count: C)
        for doc in proportions { if let l = doc.label, let c = model.labels.firstIndex(of: l) { counts[c] += 1 } }
        collective.sum(&counts)
        let total = counts.reduce(0, +)
        // The largest pick that keeps the proportions: limited by the class with the fewest sure texts for its share.
        var size = Double.infinity
        for c in 0..<C where counts[c] > 0 { size = min(size, Double(byClass[c].count) * total / counts[c]) }
        if !size.isFinite { size = 0 }
        var picked: [(index: Int, label: Int)] = []
        for c in 0..<C where counts[c] > 0 {
            let take = min(byClass[c].count, Int((size * counts[c] / total).rounded(.down)))
            let surest = byClass[c].sorted { $0.p != $1.p ? $0.p > $1.p : $0.index < $1.index }.prefix(take)
            picked += surest.map { ($0.index, c) }
        }
        picked.sort { $0.index < $1.index }
        return ConfidentPick(picks: picked, confident: byClass.reduce(0) { $0 + $1.count })
    }

    /// Fails on every rank unless all ranks took the same texts with the same labels: a rank that
    /// trained on other pseudo-labels would leave the lockstep without a word.
    static func requireAgreement(on pick: ConfidentPick, round: Int, collective: any Collective) throws {
        guard collective.size > 1 else { return }
        var hash = FNV1a()
        for p in pick.picks {
            withUnsafeBytes(of: UInt64(p.index).littleEndian) { hash.add($0) }
            withUnsafeBytes(of: UInt64(p.label).littleEndian) { hash.add($0) }
        }
        try collective.requireAgreement(hash.value, "self-training round \(round)'s pseudo-labels")
    }

    /// How trustworthy `threshold` is, measured where labels are known: the share of dev documents
    /// the model is that sure of, and its accuracy on them (nil when there are none).
    static func confidentAccuracy(_ dev: [LabelledText], by model: TextClassifier, threshold: Double, collective: any Collective = SingleProcess())
        throws -> (share: Double, accuracy: Double?)
    {
        var sure = 0, right = 0
        _ = try model.scoreLabelled(dev, file: "dev set") { truth, score in
            guard Double(score.probabilities[score.best]) >= threshold else { return }
            sure += 1
            if score.best == truth { right += 1 }
        }
        // Counts over every rank's dev documents.
        var sums = [Double(sure), Double(right), Double(dev.count)]
        collective.sum(&sums)
        let (allSure, allRight, all) = (sums[0], sums[1], sums[2])
        return (allSure / max(all, 1), allSure > 0 ? allRight / allSure : nil)
    }

    /// The texts one round takes, in text order, and how many were sure before the proportions.
    struct ConfidentPick: Sequence {
        var picks: [(index: Int, label: Int)]
        var confident: Int
        var count: Int { picks.count }
        func makeIterator() -> IndexingIterator<[(index: Int, label: Int)]> { picks.makeIterator() }
    }
}

/// Why self-training cannot run.
public enum SelfTrainingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Fewer than one pseudo-labelling round.
    case rounds(Int)
    /// A threshold outside (0, 1).
    case threshold(Double)
    /// Self-training keeps no checkpoint to continue from.
    case resume

    /// The message for the user.
    public var description: String {
        switch self {
        case .rounds(let n): return "self-training needs at least 1 round (got \(n))"
        case .threshold(let t): return "the pseudo-label threshold must be between 0 and 1 (got \(t))"
        case .resume: return "a self-training run cannot be resumed (it writes no checkpoint); start it again"
        }
    }
}

/// One round of self-training (a line of what `heed train --semi self-training` prints and of the
/// model's provenance). No timings: the model file holds it, and the same seed must give the
/// same file.
public struct SelfTrainingRound: Codable, Sendable, Equatable {
    /// 0 for the supervised run, then 1, 2, ….
    public var round: Int
    /// Labelled training documents (the dev set not counted).
    public var labelled: Int
    /// Unlabelled texts trained on with a predicted label.
    public var pseudoLabelled: Int
    /// Unlabelled texts at or above the threshold, before the classes were put in proportion.
    public var confident: Int
    /// The pseudo-labelled texts per label.
    public var byLabel: [String: Int]
    /// Dev accuracy of this round's model (its kept epoch).
    public var devAccuracy: Double
    /// Share of the dev documents the labelling model was at least `threshold` sure of.
    public var confidentDevShare: Double?
    /// The labelling model's accuracy on those dev documents: how right the pseudo-labels
    /// are likely to be.
    public var confidentDevAccuracy: Double?
    /// True for the round whose model was kept.
    public var kept: Bool
}

/// What self-training produced.
public struct SelfTrainingResult: Sendable {
    /// The kept round's training result.
    public var kept: TrainingResult
    /// Which round it was (0: the supervised run did best on dev).
    public var keptRound: Int
    /// Every round run.
    public var rounds: [SelfTrainingRound]
}

extension TextClassifier {
    /// Runs the network over texts in order, a chunk at a time, ids only (labels are not needed).
    func scoreTexts(_ texts: [LabelledText], _ body: (_ index: Int, _ score: IDPrediction) -> Void) throws {
        let encoder = try DocumentEncoder(vocabulary: vocabulary, options: options)
        for start in stride(from: 0, to: texts.count, by: 1024) {
            let scores = predict(texts[start..<min(start + 1024, texts.count)].map { encoder.sequence($0.text) })
            for (k, score) in scores.enumerated() { body(start + k, score) }
        }
    }
}
