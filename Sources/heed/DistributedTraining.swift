import ArgumentParser
import Foundation
import Heed
import HeedIO

#if canImport(Glibc)
import Glibc
#endif

/// `heed train --distributed` under mpirun: every rank reads its shard of TRAIN (and --dev) and
/// trains; rank 0 alone shows progress and writes the model, log and checkpoint. A failure every
/// rank saw alike is reported once by rank 0 and ends all ranks normally; a failure only one rank
/// saw (a bad line in its shard, a full disk on rank 0) aborts the whole job at once, so no rank is
/// left waiting in a collective. With unlabelled text, every rank reads all of it
/// (`readUnlabelledText`); --pretrain-epochs pretrains on the same ranks first, and
/// --semi vat and self-training run every step and round through the same distributed loop.
func runDistributedTraining(
    model kind: ModelKind, flags: TrainingFlags, unlabelledFlags: UnlabelledFlags = UnlabelledFlags(), trainPath: String, output: String, quiet: Bool
) throws {
    try onEveryRank { group, isRoot in
        let rank = group.rank
        if isRoot { try FileChecks.checkWritable(output) }  // only rank 0 writes files
        let shard = try Shard.read(flags.input.source(trainPath), rank: rank, size: group.size)
        let devShard = try flags.dev.map { try Shard.read(flags.input.source($0), rank: rank, size: group.size) }
        var trainer = flags.trainer(model: kind)
        trainer.output = URL(fileURLWithPath: output)
        var read = UnlabelledLines(paths: [], excludedPaths: [])
        var temporaryEncoder: String?  // rank 0's pretrained encoder, copied to this rank
        defer { if let temporaryEncoder { try? FileManager.default.removeItem(atPath: temporaryEncoder) } }
        // Every rank reads the --exclude files whole, as it reads --unlabelled.
        let excluded = try ExcludedDocuments(test: nil, testPath: nil, exclude: unlabelledFlags.exclude, read: flags.read)
        if let encoder = flags.initEncoder, flags.resume == nil {
            for (path, documents) in excluded.files { try checkEncoderAgainstTest(encoder, test: documents, testPath: path) }
        }
        if unlabelledFlags.isUsed {
            let settings =
                try flags.initEncoder.map { try PretrainedEncoder.load(URL(fileURLWithPath: $0)).settings } ?? flags.tokenizerOptions.settings()
            read = try readUnlabelledText(
                unlabelledFlags.unlabelled, input: flags.input, labelled: shard.documents + (devShard?.documents ?? []), excluded: excluded,
                settings: settings, quiet: quiet, required: unlabelledFlags.readsUnlabelledLines, collective: group)
        }
        if unlabelledFlags.pretrainEpochs != nil {
            guard
                let encoder = try pretrainForDistributedTraining(
                    flags: flags, unlabelledFlags: unlabelledFlags, model: kind, train: shard, dev: devShard, unlabelled: read.documents,
                    trainPath: trainPath, excluded: excluded, output: output, quiet: quiet, collective: group)
            else {
                if isRoot { note("Interrupted while pretraining; no model was written.") }
                return true
            }
            trainer.encoder = URL(fileURLWithPath: encoder.path)
            if encoder.temporary { temporaryEncoder = encoder.path }
        }
        let display = TrainingDisplay(name: "\(kind.rawValue) ×\(group.size)", quiet: quiet)
        trainer.progress = display.progress
        trainer.epochEnded = { record in
            display.epoch(record)
            if !quiet, let s = record.allreduceSeconds {
                note("  allreduce \(fixed(s, 2)) s of \(fixed(record.seconds, 1)) s (\(percent(s / max(record.seconds, 1e-9))))")
            }
        }
        trainer.shouldStop = { stopRequested != 0 }
        installInterruptHandler()
        let r = try trainWithSemi(
            trainer, unlabelledFlags, unlabelled: read, shard: shard, dev: devShard, file: trainPath, collective: group, quiet: quiet)
        if isRoot {
            if r.interrupted {
                note(
                    r.wroteModel
                        ? "Interrupted. \(output) holds the best model so far (epoch \(r.bestEpoch))\(unlabelledFlags.semi == .selfTraining ? "" : "; continue with --resume \(output).ckpt")"
                        : "Interrupted before the first epoch finished; no model was written.")
            } else if !quiet {
                let best = r.log.first { $0.epoch == r.bestEpoch }
                print(
                    "\(output): \(kind.rawValue) on \(group.size) ranks, best epoch \(r.bestEpoch) of \(r.log.count), dev accuracy \(percent(best?.devAccuracy ?? 0)), \(r.trainDocuments) training documents (\(r.skippedDocuments) without tokens skipped), \(Int(r.tokensPerSecond)) tokens/s, \(fixed(r.seconds, 1)) s"
                )
            }
        }
        return r.interrupted
    }
}

/// Runs `body` (which returns whether it was interrupted) on this rank of an mpirun job. A failure
/// every rank saw alike is reported once by rank 0 and ends all ranks normally; any other failure
/// aborts the whole job at once, so no rank is left waiting in a collective. Ranks told to stop by
/// rank 0 report SIGINT.
func onEveryRank(_ body: (_ group: any Collective & Terminating, _ isRoot: Bool) throws -> Bool) throws {
    let group = try Distributed.start()
    let rank = group.rank, isRoot = rank == 0
    do {
        let interrupted = try body(group, isRoot)
        group.finish()
        if interrupted { throw ExitCode(128 + (stopRequested == 0 ? SIGINT : Int32(stopRequested))) }
    } catch let error as AgreedFailure {
        if isRoot { note("heed: error: \(commandLineMessage(error.underlying))") }
        group.finish()
        throw ExitCode.failure
    } catch let error as ExitCode {
        throw error
    } catch {
        note("heed: error on rank \(rank) of \(group.size): \(commandLineMessage(error))")
        group.abort(code: 1)
    }
}
