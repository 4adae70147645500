import Foundation
import HeedNN
import HeedTestSupport
import Testing

@testable import Heed

/// Ranks as threads of one process: every collective waits until all ranks have contributed, then
/// each rank reads the combined result. Lets the data-parallel trainer run in `make test` without MPI.
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var contributions: [[UInt8]?]
    private var result: [[UInt8]] = []
    private var generation = 0, arrived = 0

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    /// Every rank's bytes, once all have arrived (a barrier).
    func exchange(_ bytes: [UInt8], rank: Int) -> [[UInt8]] {
        condition.lock()
        defer { condition.unlock() }
        let mine = generation
        contributions[rank] = bytes
        arrived += 1
        if arrived == size {
            result = contributions.map { $0! }
            contributions = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        return result
    }

    final class Member: Collective, @unchecked Sendable {
        let group: ThreadGroup
        let rank: Int
        var size: Int { group.size }
        init(_ group: ThreadGroup, rank: Int) { self.group = group; self.rank = rank }

        func sum(_ values: UnsafeMutableBufferPointer<Float>) {
            let all = group.exchange(Array(UnsafeRawBufferPointer(values)), rank: rank)
            for k in values.indices { values[k] = 0 }
            for bytes in all {  // in rank order, the same on every rank
                bytes.withUnsafeBytes { raw in
                    let f = raw.bindMemory(to: Float.self)
                    for k in values.indices { values[k] += f[k] }
                }
            }
        }

        func sum(_ values: inout [Double]) {
            let all = values.withUnsafeBytes { group.exchange(Array($0), rank: rank) }
            for k in values.indices { values[k] = 0 }
            for bytes in all { bytes.withUnsafeBytes { raw in for k in values.indices { values[k] += raw.bindMemory(to: Double.self)[k] } } }
        }

        func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] { group.exchange(bytes, rank: rank)[root] }
        func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { group.exchange(bytes, rank: rank) }
    }
}

final class RankResults<T>: @unchecked Sendable {
    var values: [Result<T, any Error>?]
    init(_ size: Int) { values = Array(repeating: nil, count: size) }
}

/// Runs `body` once per rank on its own thread and returns the results in rank order.
func runRanks<T: Sendable>(_ size: Int, _ body: @escaping @Sendable (ThreadGroup.Member) throws -> T) throws -> [T] {
    let group = ThreadGroup(size: size)
    let results = RankResults<T>(size)
    let lock = NSLock()
    let threads = (0..<size).map { rank in
        Thread {
            let r = Result { try body(ThreadGroup.Member(group, rank: rank)) }
            lock.lock(); results.values[rank] = r; lock.unlock()
        }
    }
    threads.forEach {
        $0.stackSize = 8 << 20; $0.start()
    }
    while true {
        lock.lock(); let done = results.values.allSatisfy { $0 != nil }; lock.unlock()
        if done { break }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try results.values.map { try $0!.get() }
}

/// A collective whose "other ranks" are fixed values: enough to check what one rank does with sums.
final class FixedPeers: Collective {
    let rank = 0, size = 2
    var peerFloats: [Float] = []
    var peerValue: UInt64 = 0
    func sum(_ values: UnsafeMutableBufferPointer<Float>) { for k in values.indices { values[k] += peerFloats[k] } }
    func sum(_ values: inout [Double]) {}
    func broadcast(_ bytes: [UInt8], from root: Int) throws -> [UInt8] { bytes }
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        [bytes, withUnsafeBytes(of: peerValue.littleEndian) { Array($0) }]
    }
}

@Suite struct DataParallelTests {
    func corpusFile(_ lines: Int) throws -> String {
        let path = NSTemporaryDirectory() + "heed-shard-\(UUID().uuidString).tsv"
        let text = try String(contentsOfFile: repositoryRoot + "/corpora/sentiment-en-rt/train.tsv", encoding: .utf8)
        try (text.split(separator: "\n").prefix(lines).joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func shardsPartitionTheCorpusAndHashIndependentlyOfTheirCount() throws {
        let path = try corpusFile(101)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let whole = try Shard.read(CorpusSource(URL(fileURLWithPath: path)), rank: 0, size: 1)
        #expect(whole.documents.count == 101)
        var hashes: Set<UInt64> = [whole.localHash()]
        for size in [2, 3, 7] {
            let shards = try (0..<size).map { try Shard.read(CorpusSource(URL(fileURLWithPath: path)), rank: $0, size: size) }
            #expect(shards.flatMap(\.indices).sorted() == Array(0..<101))
            #expect(shards.allSatisfy { s in s.indices.allSatisfy { $0 % size == shards.firstIndex { $0.indices == s.indices }! } })
            hashes.insert(shards.map { $0.localHash() }.reduce(0, &+))
        }
        #expect(hashes.count == 1)
        // Other data, other hash: one changed document.
        var changed = whole
        changed.documents[50].text += " x"
        #expect(changed.localHash() != whole.localHash())
    }

    /// The held-out dev set is a stratified share of each label, drawn over the whole corpus, so
    /// it is the same documents for any rank count and differs with the seed.
    @Test func devSplitIsStratifiedAndIndependentOfTheRankCount() throws {
        let labels = ["a", "b", "c"]
        let docs = (0..<303).map { LabelledText(label: labels[$0 % 7 == 0 ? 2 : $0 % 2], text: "doc \($0)", line: $0 + 1) }
        func devIndices(ranks: Int, seed: UInt64) throws -> [Int] {
            let parts = try runRanks(ranks) { member in
                let mine = docs.indices.filter { $0 % ranks == member.rank }
                let shard = Shard(documents: mine.map { docs[$0] }, indices: mine)
                let isDev = try Trainer.devMembership(shard, fraction: 0.1, seed: seed, collective: member)
                return zip(mine, isDev).filter(\.1).map(\.0)
            }
            return parts.flatMap { $0 }.sorted()
        }
        let single = try devIndices(ranks: 1, seed: 1)
        for label in labels {
            let all = docs.filter { $0.label == label }.count
            #expect(single.filter { docs[$0].label == label }.count == Int((Double(all) * 0.1).rounded()))
        }
        #expect(try devIndices(ranks: 2, seed: 1) == single)
        #expect(try devIndices(ranks: 3, seed: 1) == single)
        #expect(try devIndices(ranks: 1, seed: 2) != single)
    }

    @Test func reducerAveragesByWeightAndKeepsTotals() throws {
        let model = Classifier(config: ClassifierConfig(vocabSize: 5, embedDim: 2, hiddenDim: 2, classes: 2), seed: 1)
        let n = model.parameters.reduce(0) { $0 + $1.count }
        for p in model.parameters { for k in 0..<p.count { p.grad[k] = 1 } }
        let peers = FixedPeers()
        // The other rank: gradient 4 everywhere with weight 3 (so it sends 12), loss 2 (sends 6).
        peers.peerFloats = [Float](repeating: 12, count: n) + [3, 6, 3, 6, 50, 0, 0]
        let reducer = GradientReducer(parameters: model.parameters, collective: peers)
        var local = GradientReducer.Totals()
        local.weight = 1; local.weightedLoss = 1; local.examples = 1; local.exampleLoss = 1; local.tokens = 10
        let global = reducer.reduce(local, hasGradient: true)
        #expect(global.weight == 4 && global.examples == 4 && global.tokens == 60 && global.stop == 0)
        #expect(global.loss == 7.0 / 4)
        // (1·1 + 3·4) / 4 on every element.
        #expect(model.parameters.allSatisfy { $0.grads.allSatisfy { $0 == 13.0 / 4 } })
        // A rank without a batch contributes nothing, even with stale gradients.
        let alone = reducer.reduce(GradientReducer.Totals(), hasGradient: false)
        #expect(alone.weight == 3 && model.parameters.allSatisfy { $0.grads.allSatisfy { $0 == 4 } })
    }

    @Test func disagreementFailsOnEveryRankWithTheValues() throws {
        let peers = FixedPeers()
        peers.peerValue = 7
        #expect(throws: Never.self) { try peers.requireAgreement(7, "the vocabulary") }
        let error = #expect(throws: AgreedFailure.self) { try peers.requireAgreement(8, "the vocabulary") }
        #expect(error?.description.contains("ranks disagree on the vocabulary (rank 0: 8, rank 1: 7)") == true)
    }

    /// Two ranks (threads) on 8 documents each, with 1 or 2 workers per rank, do the same step as
    /// one process on all 16: same vocabulary, parameters within what one Adam step allows.
    @Test(arguments: [1, 2])
    func twoRanksTakeTheSingleProcessStep(workersPerRank: Int) throws {
        let path = try corpusFile(16)
        let devPath = try corpusFile(40)
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: devPath) }
        var options = TrainingOptions()
        options.embeddingSize = 16; options.hiddenSize = 16; options.epochs = 1; options.dropout = 0; options.wordDropout = 0; options.minCount = 1
        var single = Trainer(options: options)
        single.options.batchSize = 16
        let docs = try CorpusReader(CorpusSource(URL(fileURLWithPath: path))).readAll()
        let dev = try CorpusReader(CorpusSource(URL(fileURLWithPath: devPath))).readAll()
        let reference = try single.train(docs, dev: dev, file: path)
        let rankOptions = options
        let distributed = try runRanks(2) { member in
            var t = Trainer(options: rankOptions)
            t.options.batchSize = 8
            t.options.workers = workersPerRank
            return try t.train(
                shard: Shard.read(CorpusSource(URL(fileURLWithPath: path)), rank: member.rank, size: 2),
                dev: Shard.read(CorpusSource(URL(fileURLWithPath: devPath)), rank: member.rank, size: 2), file: path, collective: member)
        }
        #expect(distributed[0].trainDocuments == 16 && distributed[0].log[0].ranks == 2)
        for result in distributed {
            #expect(result.classifier.vocabulary.allTokens == reference.classifier.vocabulary.allTokens)
            // A near-tied dev prediction may go either way under other rounding: at most one document.
            #expect(abs(result.log[0].devAccuracy - reference.log[0].devAccuracy) * Double(result.devDocuments) <= 1.000_001)
            let a = reference.classifier.box.withModel { m in m.parameters.map { $0.values } }
            let b = result.classifier.box.withModel { m in m.parameters.map { $0.values } }
            let agreement = oneAdamStepAgreement(a.flatMap { $0 }, b.flatMap { $0 }, learningRate: options.learningRate)
            #expect(agreement.impossible == 0 && agreement.sensitive * 200 <= agreement.count, "\(agreement)")
        }
    }
}
