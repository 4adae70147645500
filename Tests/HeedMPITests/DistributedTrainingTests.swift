// Runs `mpirun --oversubscribe -np N heed train --distributed` with the heed built beside this test
// bundle. Compiled only with the MPI trait (`make test-mpi`); empty in the default build.
#if MPI
import Foundation
import Heed
import HeedNN
import HeedTestSupport
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let rt = repositoryRoot + "/corpora/sentiment-en-rt"

/// `HEED_BINARY` (make test-mpi passes the release build: the training tests are slow in debug), else
/// the debug `heed` built beside this bundle.
var heedBinary: String {
    if let path = ProcessInfo.processInfo.environment["HEED_BINARY"], !path.isEmpty { return path }
    let beside = Bundle.main.bundleURL.appendingPathComponent("heed").path
    return FileManager.default.fileExists(atPath: beside) ? beside : Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("heed").path
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var seconds: Double
}

/// Starts `executable` with output captured in files (no pipe can fill up and block the job).
final class Job {
    let process = Process()
    private let out: URL, err: URL
    let started = ContinuousClock.now

    init(_ executable: String, _ arguments: [String], scratch: String) throws {
        out = URL(fileURLWithPath: scratch + "/out-\(UUID().uuidString)")
        err = URL(fileURLWithPath: scratch + "/err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        // Tests run as root in CI containers; Open MPI refuses that unless told.
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = env
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func wait() -> RunResult {
        process.waitUntilExit()
        let d = started.duration(to: .now)
        return RunResult(
            status: process.terminationStatus,
            stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
            seconds: Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
    }
}

func mpirun(_ ranks: Int, _ arguments: [String], scratch: String) throws -> Job {
    try Job("/usr/bin/env", ["mpirun", "--oversubscribe", "-np", "\(ranks)", heedBinary] + arguments, scratch: scratch)
}

func heed(_ arguments: [String], scratch: String) throws -> RunResult { try Job(heedBinary, arguments, scratch: scratch).wait() }

final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "heed-mpi-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    /// Lines `from..<to` (0-based) of a shipped corpus file, as a new file.
    func lines(_ source: String, _ range: Range<Int>, as name: String) throws -> String {
        let all = try String(contentsOfFile: source, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let p = path + "/" + name
        try (all[range].joined(separator: "\n") + "\n").write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
    /// The texts (labels cut off) of RT's training lines `range`, then of lines `extra` with their
    /// spacing doubled (still equal to those documents once tokenized), as a plain-text file.
    func unlabelled(_ range: Range<Int>, plus extra: [Int], as name: String) throws -> String {
        let all = try String(contentsOfFile: rt + "/train.tsv", encoding: .utf8).split(separator: "\n")
        func text(_ i: Int) -> String { String(all[i].split(separator: "\t", maxSplits: 1)[1]) }
        let lines = range.map(text) + extra.map { text($0).replacingOccurrences(of: " ", with: "  ") }
        let p = path + "/" + name
        try (lines.joined(separator: "\n") + "\n").write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
}

/// Per tensor: max |a − b| / max |a|; the largest over all tensors, and the tensor it came from.
/// Every weight of a model file, in parameter order.
func weights(_ path: String) throws -> [Float] {
    try ModelFile.load(from: URL(fileURLWithPath: path)).0.parameters.flatMap { $0.values }
}

/// Largest difference of one tensor relative to its largest weight (for the printed summary and
/// the control run, which must be far off).
func relativeDifference(_ a: String, _ b: String) throws -> (value: Double, tensor: String) {
    let (ma, _) = try ModelFile.load(from: URL(fileURLWithPath: a))
    let (mb, _) = try ModelFile.load(from: URL(fileURLWithPath: b))
    var worst = (0.0, "")
    for (pa, pb) in zip(ma.parameters, mb.parameters) {
        #expect(pa.name == pb.name && pa.count == pb.count)
        let va = pa.values, vb = pb.values
        let scale = va.map { abs(Double($0)) }.max() ?? 0
        let diff = zip(va, vb).map { abs(Double($0) - Double($1)) }.max() ?? 0
        let r = scale > 0 ? diff / scale : diff
        if r > worst.0 { worst = (r, pa.name) }
    }
    return worst
}

@Suite(.serialized) struct DistributedTrainingTests {
    /// One step on the same global batch (16 documents: one batch of 16 in one process, 8 per rank
    /// on two ranks) gives the same parameters; the vocabulary merged from both shards is the one
    /// built from the whole file.
    @Test func oneStepMatchesSingleProcess() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<16, as: "train.tsv")
        let dev = try s.lines(rt + "/train.tsv", 100..<140, as: "dev.tsv")
        let common = [
            train, "--dev", dev, "--epochs", "1", "--dropout", "0", "--word-dropout", "0", "--min-count", "1", "--embed", "16", "--hidden", "16", "--quiet",
        ]
        let single = try heed(["train"] + common + ["--batch", "16", "-o", s.path + "/single.heed"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        let dist = try mpirun(2, ["train"] + common + ["--batch", "8", "--distributed", "-o", s.path + "/dist.heed"], scratch: s.path).wait()
        #expect(dist.status == 0, "\(dist.stderr)")
        let (_, metaSingle) = try ModelFile.load(from: URL(fileURLWithPath: s.path + "/single.heed"))
        let (_, metaDist) = try ModelFile.load(from: URL(fileURLWithPath: s.path + "/dist.heed"))
        #expect(metaSingle["heed.vocabulary"] == metaDist["heed.vocabulary"])
        #expect(metaSingle["heed.labels"] == metaDist["heed.labels"])
        let d = try relativeDifference(s.path + "/single.heed", s.path + "/dist.heed")
        print("one-step equivalence: max relative difference \(d.value) (\(d.tensor))")
        let agreement = oneAdamStepAgreement(
            try weights(s.path + "/single.heed"), try weights(s.path + "/dist.heed"),
            learningRate: TrainingOptions().learningRate)
        #expect(agreement.impossible == 0 && agreement.sensitive * 200 <= agreement.count, "\(agreement)")
        // Control: a different global batch (two steps of 8) is far off, so the check can fail.
        let other = try heed(["train"] + common + ["--batch", "8", "-o", s.path + "/other.heed"], scratch: s.path)
        #expect(other.status == 0)
        #expect(try relativeDifference(s.path + "/single.heed", s.path + "/other.heed").value > 1e-3)
        let log = try String(contentsOfFile: s.path + "/dist.heed.log.jsonl", encoding: .utf8)
        #expect(log.contains("\"ranks\":2") && log.contains("allreduce_seconds"))
    }

    /// Full training on 2 ranks (global batch 32) ends as accurate as one process (batch 32),
    /// within the sampling noise of the test set (the two runs see different batches and shuffles).
    @Test func fullTrainingMatchesAccuracy() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<9000, as: "train.tsv")
        let dev = try s.lines(rt + "/train.tsv", 9000..<10200, as: "dev.tsv")
        let common = [train, "--dev", dev, "--epochs", "4", "--patience", "4", "--embed", "32", "--hidden", "32", "--max-len", "60", "--quiet"]
        let single = try heed(["train"] + common + ["--batch", "32", "-o", s.path + "/single.heed"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        let dist = try mpirun(2, ["train"] + common + ["--batch", "16", "--distributed", "-o", s.path + "/dist.heed"], scratch: s.path).wait()
        #expect(dist.status == 0, "\(dist.stderr)")
        let docs = try CorpusReader(CorpusSource(URL(fileURLWithPath: rt + "/test.tsv"))).readAll()
        let a1 = try TextClassifier(contentsOf: URL(fileURLWithPath: s.path + "/single.heed")).evaluate(docs).accuracy
        let a2 = try TextClassifier(contentsOf: URL(fileURLWithPath: s.path + "/dist.heed")).evaluate(docs).accuracy
        let p = (a1 + a2) / 2, noise = 3 * (2 * p * (1 - p) / Double(docs.count)).squareRoot()
        print("full training: test accuracy \(a1) (1 process) vs \(a2) (2 ranks), tolerance \(noise)")
        #expect(a1 > 0.65 && a2 > 0.65, "both runs must learn (chance is 0.5)")
        #expect(abs(a1 - a2) <= noise)
    }

    /// SIGKILL on one rank mid-run ends the job with an error within seconds (no rank hangs in a
    /// collective); the checkpoint rank 0 wrote then resumes on a different number of ranks.
    @Test func killedRankEndsJobAndResumeChangesRankCount() throws {
        let s = Scratch()
        let model = s.path + "/m.heed"
        let flags = [rt + "/train.tsv", "--embed", "32", "--hidden", "32", "--max-len", "60", "--epochs", "3", "--quiet", "--distributed", "-o", model]
        let job = try mpirun(2, ["train"] + flags, scratch: s.path)
        let deadline = ContinuousClock.now + .seconds(300)
        while !FileManager.default.fileExists(atPath: model + ".ckpt") && job.process.isRunning && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(job.process.isRunning, "training ended before its first checkpoint")
        let victim = try #require(rankProcess(1, under: job.process.processIdentifier), "rank 1 not found")
        let killed = ContinuousClock.now
        kill(victim, SIGKILL)
        let result = job.wait()
        let d = killed.duration(to: .now)
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        print("killed rank 1 (pid \(victim)): job ended after \(seconds) s with status \(result.status)")
        #expect(result.status != 0)
        #expect(seconds < 10)
        #expect(result.stderr.contains("exited on signal 9"), "\(result.stderr)")
        let before = try logEpochs(model + ".log.jsonl")
        try #require(before.count == 1, "the kill came after epoch \(before.count)")

        // Resume on 3 ranks: epochs 2 and 3 run there, after epoch 1 from the 2-rank run.
        let resumed = try mpirun(3, ["train"] + flags + ["--resume", model + ".ckpt"], scratch: s.path).wait()
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let epochs = try logEpochs(model + ".log.jsonl")
        #expect(epochs.map(\.epoch) == [1, 2, 3])
        #expect(epochs.map(\.ranks) == [2, 3, 3])
        #expect((try? TextClassifier(contentsOf: URL(fileURLWithPath: model))) != nil)
    }

    /// One training loop: a checkpoint of a 2-rank run resumes in a single process (a collective of
    /// one), and the log keeps the distributed epoch before the single-process ones.
    @Test func singleProcessResumesDistributedCheckpoint() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<200, as: "train.tsv")
        let model = s.path + "/m.heed"
        let flags = [train, "--embed", "8", "--hidden", "8", "--patience", "5", "--quiet", "-o", model]
        let dist = try mpirun(2, ["train"] + flags + ["--epochs", "1", "--distributed"], scratch: s.path).wait()
        #expect(dist.status == 0, "\(dist.stderr)")
        let single = try heed(["train"] + flags + ["--epochs", "2", "--resume", model + ".ckpt"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        let epochs = try logEpochs(model + ".log.jsonl")
        #expect(epochs.map(\.epoch) == [1, 2])
        #expect(epochs.map(\.ranks) == [2, nil])
        #expect((try? TextClassifier(contentsOf: URL(fileURLWithPath: model))) != nil)
    }

    /// `heed pretrain --distributed`: one step of 2 ranks × 32 chunks matches one process's step on
    /// the same 64 chunks (full softmax, no dropout: the only difference is the order of float
    /// sums), with the same vocabulary, line keys and held-out lines; and a 2-rank run with sampled
    /// candidates and dropout writes the same encoder bytes twice.
    @Test func pretrainingMatchesSingleProcessAndRepeats() throws {
        let s = Scratch()
        let text = try s.lines(rt + "/train.tsv", 0..<60, as: "text.tsv")
        let common = [
            text, "--epochs", "1", "--dropout", "0", "--min-count", "1", "--embed", "16", "--hidden", "16", "--samples", "100000", "--workers", "1", "--quiet",
        ]
        let single = try heed(["pretrain"] + common + ["--batch", "64", "-o", s.path + "/single.enc"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        let dist = try mpirun(2, ["pretrain"] + common + ["--batch", "32", "--distributed", "-o", s.path + "/dist.enc"], scratch: s.path).wait()
        #expect(dist.status == 0, "\(dist.stderr)")
        let a = try PretrainedEncoder.load(URL(fileURLWithPath: s.path + "/single.enc"))
        let b = try PretrainedEncoder.load(URL(fileURLWithPath: s.path + "/dist.enc"))
        #expect(a.tokens == b.tokens && a.lineKeys == b.lineKeys)
        let pa = try #require(a.provenance), pb = try #require(b.provenance)
        #expect(pa.trainLines == pb.trainLines && pa.heldOutLines == pb.heldOutLines && pa.trainTokens == pb.trainTokens)
        #expect(pa.curve.map(\.optimizerSteps) == [1] && pb.curve.map(\.optimizerSteps) == [1], "one step each")
        // The unigram baseline adds one positive NLL term per held-out prediction, m of them, each
        // computed alike from the same exact counts. Added in another order (per rank, then over
        // ranks) the sum moves by at most m·2⁻⁵² of itself, so log(perplexity) = sum/m moves by at
        // most m·2⁻⁵²·log(perplexity), plus a few ulps for the division and exp. m is at most two
        // per token and a token has at least one byte: 2 × the file's bytes bounds it. A different
        // held-out draw would move it by far more.
        let m = 2 * Double(try Data(contentsOf: URL(fileURLWithPath: text)).count)
        let tolerance = pa.unigramPerplexity * (m * 0x1p-52 * log(pa.unigramPerplexity) + 8 * 0x1p-52)
        #expect(abs(pa.unigramPerplexity - pb.unigramPerplexity) <= tolerance, "\(pa.unigramPerplexity) vs \(pb.unigramPerplexity)")
        let agreement = oneAdamStepAgreement(
            a.model.parameters.flatMap(\.values), b.model.parameters.flatMap(\.values), learningRate: PretrainingOptions().learningRate)
        print("pretraining one-step equivalence: \(agreement)")
        #expect(agreement.impossible == 0 && agreement.sensitive * 200 <= agreement.count, "\(agreement)")
        let log = try String(contentsOfFile: s.path + "/dist.enc.log.jsonl", encoding: .utf8)
        #expect(log.contains("\"ranks\":2"))

        // Several steps with sampled candidates and dropout: the same seed gives the same bytes.
        let sampled = [
            text, "--epochs", "2", "--batch", "8", "--samples", "20", "--min-count", "1", "--embed", "16", "--hidden", "16", "--quiet", "--distributed",
        ]
        for run in ["first", "second"] {
            let r = try mpirun(2, ["pretrain"] + sampled + ["-o", s.path + "/\(run).enc"], scratch: s.path).wait()
            #expect(r.status == 0, "\(r.stderr)")
        }
        let first = try Data(contentsOf: URL(fileURLWithPath: s.path + "/first.enc"))
        let second = try Data(contentsOf: URL(fileURLWithPath: s.path + "/second.enc"))
        #expect(first == second)
        // Control: one process with the same flags trains on other batches, so its bytes differ.
        let alone = try heed(["pretrain"] + sampled.dropLast() + ["-o", s.path + "/alone.enc"], scratch: s.path)
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path + "/alone.enc")) != first)
    }

    /// `--semi vat` on 2 ranks. One process cannot take the same step: each rank draws its
    /// unlabelled batch and its random directions from streams seeded by (seed, epoch, rank), so
    /// no rank count draws another's. What must hold instead: the same seed writes the same bytes
    /// twice, also when stopped after an epoch and resumed; --vat-epsilon reaches the ranks (another
    /// value writes other weights); and a line of unlabelled text equal to a training document on
    /// rank 1's shard is dropped, counted once.
    @Test func vatOnRanksRepeatsAndDropsOtherRanksDocuments() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<40, as: "train.tsv")
        let dev = try s.lines(rt + "/train.tsv", 100..<140, as: "dev.tsv")
        // TRAIN's document 1 (rank 1's shard: index mod 2) without its label, respaced.
        let text = try s.unlabelled(200..<260, plus: [1], as: "more.txt")
        let common = [
            train, "--dev", dev, "--unlabelled", text, "--semi", "vat", "--epochs", "2", "--embed", "8", "--hidden", "8", "--workers", "1",
            "--distributed",
        ]
        let first = try mpirun(2, ["train"] + common + ["-o", s.path + "/a.heed"], scratch: s.path).wait()
        #expect(first.status == 0, "\(first.stderr)")
        let dropped = first.stderr.components(separatedBy: "--unlabelled: dropped 1 line equal to a labelled document").count - 1
        #expect(dropped == 1, "rank 0 alone says it, once: \(first.stderr)")
        let second = try mpirun(2, ["train"] + common + ["--quiet", "-o", s.path + "/b.heed"], scratch: s.path).wait()
        #expect(second.status == 0, "\(second.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: s.path + "/a.heed"))
        #expect(a == (try Data(contentsOf: URL(fileURLWithPath: s.path + "/b.heed"))))
        let log = try String(contentsOfFile: s.path + "/a.heed.log.jsonl", encoding: .utf8)
        #expect(log.contains("\"ranks\":2"))
        // Stopped after its first epoch and resumed on 2 ranks, the run writes the bytes of the run
        // that never stopped.
        var oneEpoch = common
        oneEpoch[try #require(oneEpoch.firstIndex(of: "--epochs")) + 1] = "1"
        let half = try mpirun(2, ["train"] + oneEpoch + ["--quiet", "-o", s.path + "/r.heed"], scratch: s.path).wait()
        #expect(half.status == 0, "\(half.stderr)")
        let resumed = try mpirun(
            2, ["train"] + common + ["--quiet", "--resume", s.path + "/r.heed.ckpt", "-o", s.path + "/r.heed"], scratch: s.path
        ).wait()
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(a == (try Data(contentsOf: URL(fileURLWithPath: s.path + "/r.heed"))))
        #expect(try logEpochs(s.path + "/r.heed.log.jsonl").map(\.epoch) == [1, 2])
        // Controls: another radius, and no VAT at all, train other weights.
        let radius = try mpirun(2, ["train"] + common + ["--vat-epsilon", "5", "--quiet", "-o", s.path + "/c.heed"], scratch: s.path).wait()
        #expect(radius.status == 0, "\(radius.stderr)")
        let d = try relativeDifference(s.path + "/a.heed", s.path + "/c.heed")
        print("vat: --vat-epsilon 5 vs default, max relative difference \(d.value) (\(d.tensor))")
        #expect(d.value > 1e-4)
        let plain = try mpirun(2, ["train"] + common.prefix(3) + common.dropFirst(7) + ["--quiet", "-o", s.path + "/d.heed"], scratch: s.path).wait()
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try relativeDifference(s.path + "/a.heed", s.path + "/d.heed").value > 1e-4)
    }

    /// A vocabulary built from unlabelled text names no labels; on 2 ranks it takes TRAIN's from
    /// the ranks' merged label counts, and the model names the vocabulary and labels one process
    /// gives it.
    @Test func labelLessVocabularyTakesTheMergedLabels() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<40, as: "train.tsv")
        let text = try s.unlabelled(200..<400, plus: [], as: "text.txt")
        let built = try heed(["vocab", "build", text, "--input", "text", "--min-count", "1", "-o", s.path + "/text.vocab"], scratch: s.path)
        #expect(built.status == 0, "\(built.stderr)")
        let common = [train, "--vocab", s.path + "/text.vocab", "--epochs", "1", "--embed", "8", "--hidden", "8", "--workers", "1", "--quiet"]
        let single = try heed(["train"] + common + ["-o", s.path + "/single.heed"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        let dist = try mpirun(2, ["train"] + common + ["--distributed", "-o", s.path + "/dist.heed"], scratch: s.path).wait()
        #expect(dist.status == 0, "\(dist.stderr)")
        let (_, metaSingle) = try ModelFile.load(from: URL(fileURLWithPath: s.path + "/single.heed"))
        let (_, metaDist) = try ModelFile.load(from: URL(fileURLWithPath: s.path + "/dist.heed"))
        #expect(metaSingle["heed.labels"] != nil && metaSingle["heed.labels"] == metaDist["heed.labels"])
        #expect(metaSingle["heed.vocabulary"] == metaDist["heed.vocabulary"])
    }

    /// `--semi vat` without --unlabelled on 2 ranks: each rank draws its VAT batches from its own
    /// shard of TRAIN. The same seed writes the same bytes twice; a run stopped after an epoch
    /// resumes bit for bit on 2 ranks, and its checkpoint resumes in one process too (the VAT text
    /// is TRAIN's, already in the data hash, which no rank count changes). Control: no VAT trains
    /// other weights.
    @Test func vatOnTrainingTextsOnRanksRepeatsAndResumes() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<40, as: "train.tsv")
        let dev = try s.lines(rt + "/train.tsv", 100..<140, as: "dev.tsv")
        let common = [train, "--dev", dev, "--semi", "vat", "--epochs", "2", "--embed", "8", "--hidden", "8", "--workers", "1", "--quiet"]
        var oneEpoch = common
        oneEpoch[try #require(oneEpoch.firstIndex(of: "--epochs")) + 1] = "1"
        func ranks(_ flags: [String], _ name: String) throws -> Data {
            let r = try mpirun(2, ["train"] + flags + ["--distributed", "-o", s.path + "/" + name], scratch: s.path).wait()
            #expect(r.status == 0, "\(r.stderr)")
            return try Data(contentsOf: URL(fileURLWithPath: s.path + "/" + name))
        }
        let a = try ranks(common, "a.heed")
        #expect(try ranks(common, "b.heed") == a)
        _ = try ranks(oneEpoch, "r.heed")
        #expect(try ranks(common + ["--resume", s.path + "/r.heed.ckpt"], "r.heed") == a)
        _ = try ranks(oneEpoch, "h.heed")
        let single = try heed(["train"] + common + ["--resume", s.path + "/h.heed.ckpt", "-o", s.path + "/h.heed"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        #expect(try logEpochs(s.path + "/h.heed.log.jsonl").map(\.ranks) == [2, nil])
        let plain = common.filter { $0 != "--semi" && $0 != "vat" }
        _ = try ranks(plain, "p.heed")
        #expect(try relativeDifference(s.path + "/a.heed", s.path + "/p.heed").value > 1e-4)
    }

    /// `--semi self-training` on 2 ranks: every round runs distributed, the ranks take the same
    /// pseudo-labels (the run checks their hash after every pick, and stops when they differ),
    /// rank 0 alone reports each round, and the same seed writes the same bytes twice.
    @Test func selfTrainingOnRanksAgreesAndRepeats() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<120, as: "train.tsv")
        let text = try s.unlabelled(300..<420, plus: [], as: "more.txt")
        let common = [
            train, "--unlabelled", text, "--semi", "self-training", "--rounds", "1", "--threshold", "0.5", "--epochs", "2", "--embed", "8", "--hidden",
            "8", "--workers", "1", "--distributed",
        ]
        let first = try mpirun(2, ["train"] + common + ["-o", s.path + "/a.heed"], scratch: s.path).wait()
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.components(separatedBy: "self-training round 1: took").count == 2, "one report per round: \(first.stderr)")
        #expect(first.stderr.contains("self-training round 0 (labelled only)"))
        let second = try mpirun(2, ["train"] + common + ["--quiet", "-o", s.path + "/b.heed"], scratch: s.path).wait()
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path + "/a.heed")) == Data(contentsOf: URL(fileURLWithPath: s.path + "/b.heed")))
        let model = try TextClassifier(contentsOf: URL(fileURLWithPath: s.path + "/a.heed"))
        let rounds = try #require(model.provenance.selfTraining?.rounds)
        #expect(rounds.map(\.round) == [0, 1])
        #expect(rounds[1].pseudoLabelled > 0 && rounds[1].confident == 120, "at 0.5 every text of two classes is sure: \(rounds[1])")
        #expect(rounds[0].labelled > 0 && rounds[0].labelled < 120, "the dev set is carved once, over both ranks' documents")
    }

    /// `--pretrain-epochs` on 2 ranks pretrains on the same text as one process (TRAIN, then the
    /// unlabelled lines, numbered alike: same vocabulary, line keys and held-out lines), writes the
    /// encoder and the model that starts from it, and leaves no copy of the encoder behind on rank
    /// 1. The encoder then starts a 2-rank VAT run with --init.
    @Test func pretrainEpochsOnRanksWritesEncoderAndModel() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<60, as: "train.tsv")
        let text = try s.unlabelled(500..<560, plus: [3], as: "more.txt")
        let common = [train, "--unlabelled", text, "--pretrain-epochs", "1", "--epochs", "1", "--embed", "8", "--hidden", "8", "--workers", "1", "--quiet"]
        let tmp = NSTemporaryDirectory()
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasPrefix("heed-encoder-") })
        let dist = try mpirun(2, ["train"] + common + ["--distributed", "-o", s.path + "/dist.heed"], scratch: s.path).wait()
        #expect(dist.status == 0, "\(dist.stderr)")
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasPrefix("heed-encoder-") })
        #expect(after.subtracting(before).isEmpty, "rank 1's copy of the encoder was removed")
        let single = try heed(["train"] + common + ["-o", s.path + "/single.heed"], scratch: s.path)
        #expect(single.status == 0, "\(single.stderr)")
        let a = try PretrainedEncoder.load(URL(fileURLWithPath: s.path + "/single.heed.encoder.heed"))
        let b = try PretrainedEncoder.load(URL(fileURLWithPath: s.path + "/dist.heed.encoder.heed"))
        #expect(a.tokens == b.tokens && a.lineKeys == b.lineKeys)
        let pa = try #require(a.provenance), pb = try #require(b.provenance)
        #expect(pa.trainLines == pb.trainLines && pa.heldOutLines == pb.heldOutLines && pa.trainTokens == pb.trainTokens)
        #expect(pb.trainLines + pb.heldOutLines == 60 + 60, "TRAIN's 60 and the 60 unlabelled lines left after dropping document 3")
        let encoderLog = try String(contentsOfFile: s.path + "/dist.heed.encoder.heed.log.jsonl", encoding: .utf8)
        #expect(encoderLog.contains("\"ranks\":2"))
        let model = try TextClassifier(contentsOf: URL(fileURLWithPath: s.path + "/dist.heed"))
        #expect(model.provenance.pretraining?.trainLines == pb.trainLines, "the model starts from the encoder")
        let modelLog = try String(contentsOfFile: s.path + "/dist.heed.log.jsonl", encoding: .utf8)
        #expect(modelLog.contains("\"ranks\":2"))

        let vat = try mpirun(
            2,
            [
                "train", train, "--unlabelled", text, "--semi", "vat", "--init", s.path + "/dist.heed.encoder.heed", "--epochs", "1", "--workers", "1",
                "--quiet", "--distributed", "-o", s.path + "/vat.heed",
            ], scratch: s.path
        ).wait()
        #expect(vat.status == 0, "\(vat.stderr)")
        #expect(try TextClassifier(contentsOf: URL(fileURLWithPath: s.path + "/vat.heed")).provenance.pretraining != nil)
    }

    /// A missing --unlabelled file fails on every rank alike: rank 0 reports it once, and the job
    /// ends normally with status 1.
    @Test func missingUnlabelledFileIsReportedOnce() throws {
        let s = Scratch()
        let train = try s.lines(rt + "/train.tsv", 0..<20, as: "train.tsv")
        let r = try mpirun(
            2, ["train", train, "--unlabelled", s.path + "/none.txt", "--semi", "vat", "--quiet", "--distributed", "-o", s.path + "/m.heed"],
            scratch: s.path
        ).wait()
        #expect(r.status != 0, "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "heed: error:").count == 2, "\(r.stderr)")
        #expect(r.stderr.contains("none.txt") && !r.stderr.contains("on rank"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.path + "/m.heed"))
    }
}

func logEpochs(_ path: String) throws -> [EpochRecord] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONDecoder().decode(EpochRecord.self, from: Data($0.utf8)) }
}

/// The process below `root` whose environment says it is MPI rank `rank`.
func rankProcess(_ rank: Int, under root: Int32) -> Int32? {
    var parent: [Int32: Int32] = [:]
    let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    for pid in pids {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let pp = Int32(fields[1]) { parent[pid] = pp }
    }
    func descends(_ pid: Int32) -> Bool {
        var p = pid
        while let up = parent[p], up > 1 { if up == root { return true }; p = up }
        return false
    }
    for pid in pids where descends(pid) {
        guard let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
        if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) { return pid }
    }
    return nil
}
#endif
