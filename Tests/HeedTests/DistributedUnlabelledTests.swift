import Foundation
import HeedNN
import Testing

@testable import Heed

/// Unlabelled text over ranks (threads of one process standing in for MPI ranks): what
/// `heed train --distributed` does with --semi and --unlabelled, checked without mpirun.
@Suite(.serialized) struct DistributedUnlabelledTests {
    /// Each rank holds half the labelled documents; an unlabelled line equal to either rank's
    /// document (after tokenizing) is dropped on both ranks, so they keep the same lines.
    @Test func linesEqualToAnyRanksDocumentAreDroppedEverywhere() throws {
        let labelled = [LabelledText(label: "pos", text: "a good film", line: 1), LabelledText(label: "neg", text: "a bad film", line: 2)]
        let text = ["a   bad film", "a new film", "a good  film", "good"].enumerated().map { LabelledText(label: nil, text: $0.element, line: $0.offset + 1) }
        let results = try runRanks(2) { member in
            let r = try Pretrainer.dropping([labelled[member.rank]], spreadOver: member, from: text, tokenizer: .default)
            return (r.kept.map(\.text), r.dropped)
        }
        for (kept, dropped) in results {
            #expect(kept == ["a new film", "good"] && dropped == 2)
        }
        // Control: one rank's documents alone drop only that rank's line.
        #expect(try Pretrainer.dropping([labelled[0]], from: text, tokenizer: .default).dropped == 1)
    }

    /// Two ranks, each scoring half of the unlabelled texts, pick exactly what one process picks
    /// from the same labeller: the picks come from the gathered scores, in text order.
    @Test func ranksPickWhatOneProcessPicks() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        let trained = try Trainer(options: smallOptions(.attention)).train(labelled).classifier
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("heed-pick-\(UUID().uuidString).heed")
        try trained.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let one = try SelfTraining.confident(unlabelled, by: trained, threshold: 0.6, proportions: labelled)
        let picks = try runRanks(2) { member in
            // A model of its own per rank, as on separate machines.
            let model = try TextClassifier(contentsOf: file)
            let mine = labelled.indices.filter { $0 % 2 == member.rank }.map { labelled[$0] }
            let pick = try SelfTraining.confident(unlabelled, by: model, threshold: 0.6, proportions: mine, collective: member)
            return (pick.picks.map { [$0.index, $0.label] }, pick.confident)
        }
        #expect(one.count > 0 && one.count < unlabelled.count, "the threshold must pick some texts and leave some")
        for (p, confident) in picks {
            #expect(p == one.picks.map { [$0.index, $0.label] } && confident == one.confident)
        }
    }

    /// The ranks compare their picks by hash after every pseudo-labelling: the same picks pass,
    /// one label changed on one rank stops every rank with a message naming the round.
    @Test func differingPseudoLabelsStopEveryRank() throws {
        let pick = SelfTraining.ConfidentPick(picks: [(index: 3, label: 1), (index: 7, label: 0)], confident: 2)
        let other = SelfTraining.ConfidentPick(picks: [(index: 3, label: 0), (index: 7, label: 0)], confident: 2)
        let same = try runRanks(2) { member in
            try SelfTraining.requireAgreement(on: pick, round: 1, collective: member)
            return true
        }
        #expect(same == [true, true])
        let differing = try runRanks(2) { member in
            do {
                try SelfTraining.requireAgreement(on: member.rank == 0 ? pick : other, round: 2, collective: member)
                return ""
            } catch let error as AgreedFailure {
                return error.description
            }
        }
        for message in differing { #expect(message.contains("ranks disagree on self-training round 2's pseudo-labels"), "\(message)") }
    }

    /// Self-training over 2 ranks: every round trains distributed and every rank ends with the
    /// same rounds and the same kept weights; the run repeats bit for bit, and only rank 0 hears
    /// of the rounds.
    @Test func selfTrainingOverRanksAgreesAndRepeats() throws {
        let (labelled, unlabelled) = try selfTrainingData()
        // Per rank half the batch: the global batch, and the step count, are one process's.
        let options = {
            var o = smallOptions(.attention)
            o.batchSize /= 2
            return o
        }()
        func run() throws -> [(rounds: [SelfTrainingRound], weights: [Float], heard: Int)] {
            try runRanks(2) { member in
                let mine = labelled.indices.filter { $0 % 2 == member.rank }
                var selfTraining = SelfTraining(trainer: Trainer(options: options))
                (selfTraining.rounds, selfTraining.threshold) = (1, 0.5)
                let counter = RoundCounter()
                selfTraining.roundEnded = { _ in counter.add() }
                let r = try selfTraining.train(
                    shard: Shard(documents: mine.map { labelled[$0] }, indices: mine), unlabelled: unlabelled, dev: nil, file: "labelled",
                    collective: member)
                let weights = r.kept.classifier.box.withModel { $0.parameters.flatMap(\.values) }
                return (r.rounds, weights, counter.count)
            }
        }
        let first = try run()
        #expect(first[0].rounds == first[1].rounds && first[0].weights == first[1].weights)
        #expect(first[0].rounds.count == 2 && first[0].rounds[1].pseudoLabelled > 0, "\(first[0].rounds)")
        #expect(first.map(\.heard) == [2, 0])
        let second = try run()
        #expect(second[0].rounds == first[0].rounds && second[0].weights == first[0].weights)
    }
}

/// Counts `roundEnded` calls from the training thread.
final class RoundCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var count: Int { lock.withLock { n } }
    func add() { lock.withLock { n += 1 } }
}
