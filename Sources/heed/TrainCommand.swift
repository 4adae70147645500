import ArgumentParser
import Foundation
import Heed
import HeedIO

#if canImport(Glibc)
import Glibc
#endif

/// The signal (SIGINT or SIGTERM) that asked training to stop, 0 while none has; training checks
/// it between batches.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// First Ctrl-C (or SIGTERM) asks training to stop after the current batch; a second one exits at once.
func installInterruptHandler() {
    let handler: @convention(c) (Int32) -> Void = { sig in
        stopRequested = sig
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
    signal(SIGINT, handler)
    signal(SIGTERM, handler)
    // A parent may have started us with these signals blocked (Foundation's Process does);
    // a training run must still hear Ctrl-C and SIGTERM.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Progress display: a live bar on a terminal, one line per epoch otherwise, nothing with --quiet.
final class TrainingDisplay: @unchecked Sendable {
    let name: String
    let quiet: Bool
    let live: Bool
    init(name: String, quiet: Bool) {
        self.name = name
        self.quiet = quiet
        live = !quiet && isatty(2) == 1
    }

    func progress(_ p: TrainingProgress) {
        guard live, p.batch % 5 == 0 || p.batch == p.batches else { return }
        let width = 24, filled = width * p.batch / max(p.batches, 1)
        let eta = p.epochSeconds / Double(p.batch) * Double(p.batches - p.batch)
        writeStderr(
            "\r\(name) epoch \(p.epoch)/\(p.epochs) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(p.batch)/\(p.batches) loss \(fixed(p.loss, 4)) \(Int(p.tokensPerSecond)) tok/s ETA \(Int(eta.rounded())) s \u{1B}[K"
        )
    }

    /// Set once an epoch became the best: the trainer has written the model by then.
    private(set) var sawBestEpoch = false

    func epoch(_ r: EpochRecord) {
        if r.best { sawBestEpoch = true }
        guard !quiet else { return }
        if live { writeStderr("\r\u{1B}[K") }
        writeStderr(
            "\(name) epoch \(r.epoch): train loss \(fixed(r.trainLoss, 4)), dev loss \(fixed(r.devLoss, 4)), dev accuracy \(percent(r.devAccuracy))\(r.testAccuracy.map { ", test accuracy \(percent($0))" } ?? ""), \(Int(r.tokensPerSecond)) tok/s, \(fixed(r.seconds, 1)) s\(r.best ? " *" : "")\n"
        )
    }
}

/// Trains one model; the trainer writes the model, its log and checkpoint. Shared by train,
/// compare and demo.
func runTraining(
    model kind: ModelKind, flags: TrainingFlags, trainPath: String, monitorPath: String? = nil, monitor: [LabelledText]? = nil, output: String,
    quiet: Bool, name: String
) throws -> TrainingResult {
    var trainer = flags.trainer(model: kind)
    trainer.output = URL(fileURLWithPath: output)
    try FileChecks.checkWritable(output)  // before reading the corpus
    let trainDocs = try flags.read(trainPath)
    let devDocs = try flags.dev.map { try flags.read($0) }
    // `monitor`: monitorPath's documents when the caller read them already.
    trainer.monitor = try monitor ?? monitorPath.map { try flags.read($0) }
    let display = TrainingDisplay(name: name, quiet: quiet)
    trainer.progress = display.progress
    trainer.epochEnded = display.epoch
    trainer.shouldStop = { stopRequested != 0 }
    installInterruptHandler()
    let result: TrainingResult
    do {
        result = try trainer.train(trainDocs, dev: devDocs, file: trainPath)
    } catch let error as HeedError {
        if case .nonFinite = error, display.sawBestEpoch { note("\(output) holds the best model so far.") }
        throw error
    }
    if result.interrupted {
        if result.wroteModel {
            note(
                "Interrupted by \(stopRequested == SIGTERM ? "SIGTERM" : "Ctrl-C"). \(output) holds the best model so far (epoch \(result.bestEpoch)); continue with --resume \(output).ckpt"
            )
        } else {
            note("Interrupted before the first epoch finished; no model was written.")
        }
        // The shell convention for "ended by signal N": 130 for Ctrl-C, 143 for SIGTERM.
        throw ExitCode(128 + Int32(stopRequested))
    }
    return result
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a text classifier and write it as one model file.",
        discussion: """
            Builds the vocabulary from TRAIN (or loads --vocab), holds out a dev set unless --dev is \
            given, trains with Adam on length-bucketed batches, stops early when the dev set stops \
            making progress, and keeps the best epoch. The schedule counts optimiser steps, so a few \
            hundred documents train long enough: 15 epochs or 3000 steps, whichever is more, unless \
            --epochs or --steps fix it; early stopping waits --patience evaluations and \
            --patience-steps steps, never before --min-steps. --workers threads (default: the cores) share every \
            batch. Beside MODEL it writes MODEL.log.jsonl (per epoch: \
            train loss, dev loss, dev accuracy, tokens/s, seconds). Ctrl-C stops after the current \
            batch; MODEL then holds the best model so far, and `--resume MODEL.ckpt` (written after \
            every epoch) continues the run exactly as if it had not stopped. \
            Defaults (a BiLSTM with additive attention, dropout 0.5) were chosen on dev splits.
            """)

    @Argument(help: "Training corpus.") var train: String
    @Option(
        help: ArgumentHelp(
            "lstm (baseline), attention, bilstm-attention (default), bilstm or han (hierarchical attention over sentences and words).",
            discussion: "han reads each document as ICU sentences (--max-sentences, --max-words) instead of one token sequence (--max-len)."))
    var model: ModelKind = TrainingOptions().model
    @OptionGroup var flags: TrainingFlags
    @Option(name: .shortAndLong, help: "Model file to write.") var output: String
    @Option(
        help: ArgumentHelp(
            "Labelled file scored after every epoch, for the log's test_accuracy.",
            discussion: "Watched only: never used to stop early or to choose the kept epoch (that is the dev set's job)."))
    var test: String?
    @OptionGroup(title: "Unlabelled text") var unlabelledFlags: UnlabelledFlags
    @Flag(help: "No progress output.") var quiet = false
    @Flag(
        help: ArgumentHelp(
            "Data-parallel training under mpirun (needs `make build-mpi`); see docs/scale-out.md.",
            discussion:
                "Every rank reads its shard of TRAIN and --dev and all of --unlabelled; --semi and --pretrain-epochs run on the same ranks. Not with --test or --model han."
        ))
    var distributed = false

    func validate() throws {
        try flags.validate(for: model)
        if model.isHierarchical && distributed {
            throw ValidationError("--distributed is not built for --model han yet; train han on one machine (--workers uses its cores)")
        }
        if model.isHierarchical && (unlabelledFlags.pretrainEpochs != nil || unlabelledFlags.semi == .vat) {
            throw ValidationError(
                "--semi vat and --pretrain-epochs are not built for --model han yet; train han with --semi self-training or on the labelled data alone, or a flat --model with them"
            )
        }
        if distributed && test != nil {
            throw ValidationError("--test is not available with --distributed; evaluate the model afterwards with `heed evaluate`")
        }
        if distributed && unlabelledFlags.unlabelled.contains("-") {
            throw ValidationError("standard input (-) cannot be read by every rank; pass files to --unlabelled with --distributed")
        }
        if unlabelledFlags.semi == .selfTraining && flags.resume != nil {
            throw ValidationError("a self-training run cannot be resumed (it writes no checkpoint); start it again without --resume")
        }
        if unlabelledFlags.pretrainEpochs != nil && flags.initEncoder != nil {
            throw ValidationError("--pretrain-epochs pretrains a new encoder; drop --init, or drop --pretrain-epochs to start from --init's encoder")
        }
        // --semi vat without --unlabelled reads TRAIN's texts only, which are labelled: nothing to exclude from.
        if !unlabelledFlags.exclude.isEmpty && unlabelledFlags.unlabelled.isEmpty && unlabelledFlags.pretrainEpochs == nil && flags.initEncoder == nil {
            throw ValidationError(
                "--exclude keeps documents out of unlabelled text and pretrained encoders: use it with --unlabelled and --semi or --pretrain-epochs, or with --init"
                    + (unlabelledFlags.semi.map { " (--semi \($0.rawValue) without --unlabelled reads only TRAIN's texts, which are labelled)" } ?? "")
            )
        }
        if unlabelledFlags.pretrainEpochs != nil && flags.resume != nil {
            throw ValidationError("--resume continues the classifier's run; drop --pretrain-epochs (the run already has its encoder)")
        }
    }

    func run() throws {
        if distributed {
            return try runDistributedTraining(
                model: model, flags: flags, unlabelledFlags: unlabelledFlags, trainPath: train, output: output, quiet: quiet)
        }
        let checksEncoder = flags.initEncoder != nil && flags.resume == nil
        // Read once, for the encoder check, the unlabelled text and the per-epoch test score.
        let excluded =
            checksEncoder || unlabelledFlags.isUsed
            ? try ExcludedDocuments(test: try test.map { try flags.read($0) }, testPath: test, exclude: unlabelledFlags.exclude, read: flags.read)
            : ExcludedDocuments()
        if checksEncoder, let encoder = flags.initEncoder {
            for (path, documents) in excluded.files { try checkEncoderAgainstTest(encoder, test: documents, testPath: path) }
        }
        let r =
            unlabelledFlags.isUsed
            ? try runWithUnlabelledText(excluded: excluded)
            : try runTraining(
                model: model, flags: flags, trainPath: train, monitorPath: test, monitor: excluded.test?.documents, output: output, quiet: quiet,
                name: flags.options(model: model).networkName)
        if !quiet {
            let best = r.log.first { $0.epoch == r.bestEpoch }
            print(
                "\(output): \(r.classifier.options.networkName), best epoch \(r.bestEpoch) of \(r.log.count), dev accuracy \(percent(best?.devAccuracy ?? 0)), \(r.trainDocuments) training documents (\(r.skippedDocuments) without tokens skipped), \(Int(r.tokensPerSecond)) tokens/s, \(fixed(r.seconds, 1)) s"
            )
            if let c = r.classifier.calibration { print(c.summary) }
        }
    }
}

extension Train {
    /// Training that reads unlabelled text: pretraining first (`--pretrain-epochs`), then plain
    /// training, self-training or virtual adversarial training (`--semi`), all on the same
    /// labelled, dev and test files. `excluded` holds --test's documents and --exclude's.
    func runWithUnlabelledText(excluded: ExcludedDocuments) throws -> TrainingResult {
        try FileChecks.checkWritable(output)
        let trainDocs = try flags.read(train)
        let devDocs = try flags.dev.map { try flags.read($0) }
        var trainer = flags.trainer(model: model)
        trainer.output = URL(fileURLWithPath: output)
        trainer.monitor = excluded.test?.documents
        let settings = try flags.initEncoder.map { try PretrainedEncoder.load(URL(fileURLWithPath: $0)).settings } ?? flags.tokenizerOptions.settings()
        let read = try readUnlabelledText(
            unlabelledFlags.unlabelled, input: flags.input, labelled: trainDocs + (devDocs ?? []), excluded: excluded, settings: settings,
            quiet: quiet, required: unlabelledFlags.readsUnlabelledLines)
        let unlabelled = read.documents
        if unlabelledFlags.pretrainEpochs != nil {
            let encoder = try pretrainForTraining(
                flags: flags, unlabelledFlags: unlabelledFlags, model: model, labelled: trainDocs + (devDocs ?? []), unlabelled: unlabelled,
                trainPath: train, excluded: excluded, output: output, quiet: quiet)
            trainer.encoder = URL(fileURLWithPath: encoder)
        }
        let display = TrainingDisplay(name: flags.options(model: model).networkName, quiet: quiet)
        trainer.progress = display.progress
        trainer.epochEnded = display.epoch
        trainer.shouldStop = { stopRequested != 0 }
        installInterruptHandler()
        let result = try trainWithSemi(
            trainer, unlabelledFlags, unlabelled: read, shard: Shard(documents: trainDocs, indices: Array(trainDocs.indices)),
            dev: devDocs.map { Shard(documents: $0, indices: Array($0.indices)) }, file: train, collective: SingleProcess(), quiet: quiet)
        if result.interrupted {
            note(
                result.wroteModel ? "Interrupted; \(output) holds the best model so far." : "Interrupted before the first epoch finished; no model was written."
            )
            throw ExitCode(128 + Int32(stopRequested))
        }
        return result
    }
}
