import ArgumentParser
import Foundation
import Heed
import HeedIO

#if canImport(Glibc)
import Glibc
#endif

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain the classifier's embedding and LSTM as a language model on unlabelled text.",
        discussion: """
            Reads TEXT (one document per line; .tsv, .csv, .jsonl files and folders are read as for \
            `heed train`, labels ignored), builds the vocabulary from it, and trains the embedding \
            and (Bi)LSTM to predict the next token (forward) and the previous one (backward) with a \
            sampled softmax. A seeded share of the lines is held out; after every epoch its \
            perplexity is measured with the full softmax, and the epoch with the lowest is kept. \
            Beside ENCODER it writes ENCODER.log.jsonl (per epoch: train loss, held-out perplexity, \
            tokens/s, seconds) and ENCODER.ckpt (after every epoch: `--resume ENCODER.ckpt` continues \
            exactly). Ctrl-C stops after the current batch; --budget ends the run after the batch \
            running when the time is up. Start a classifier from it with \
            `heed train TRAIN --init ENCODER -o MODEL`. See docs/pretraining.md.
            """)

    @Argument(help: "Text files or folders (plain text: one document per line).") var text: [String]
    @Option(name: .shortAndLong, help: "Encoder file to write.") var output: String
    @Option(help: "Embedding size.") var embed = PretrainingOptions().embeddingSize
    @Option(help: "LSTM hidden size (per direction).") var hidden = PretrainingOptions().hiddenSize
    @Option(help: "bilstm (both directions, the default) or lstm (forward only).") var model = EncoderKind.bilstm
    @Option(help: "Passes over the text.") var epochs = PretrainingOptions().epochs
    @Option(help: "Most optimiser steps, rounded up to a whole epoch (with --epochs, whichever comes first).") var steps: Int?
    @Option(help: "Chunks per optimiser step.") var batch = PretrainingOptions().batchSize
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate = PretrainingOptions().learningRate
    @Option(help: "Dropout on the embedded tokens and on the LSTM states fed to the output layers.") var dropout = PretrainingOptions().dropout
    @Option(name: .customLong("max-len"), help: "Split documents into chunks of at most N tokens.") var maxLength = PretrainingOptions().maxLength
    @Option(help: "Vocabulary: drop tokens seen fewer times.") var minCount = PretrainingOptions().minCount
    @Option(help: "Vocabulary: largest size including <pad> and <unk>.") var maxVocab = PretrainingOptions().maxVocabulary
    @Option(help: "Sampled-softmax candidates per batch (the full vocabulary when at least its size).") var samples = PretrainingOptions().samples
    @Option(help: "Share of the lines held out for perplexity.") var heldOut = PretrainingOptions().heldOutFraction
    @Option(help: "At most this many held-out lines (perplexity uses the full softmax).") var maxHeldOut = PretrainingOptions().maxHeldOut
    @Option(help: "Random seed (same seed, text and options → identical encoder file).") var seed = PretrainingOptions().seed
    @Option(help: "BLAS threads, with --workers 1.") var threads = PretrainingOptions().threads
    @Option(
        help: ArgumentHelp(
            "Training threads, each computing its share of every batch (default: the number of cores, at most 8; 1 with --threads above 1).",
            discussion: "The same seed and worker count give the same encoder on any machine."))
    var workers: Int?
    @Option(help: ArgumentHelp("Wall-clock limit, e.g. 90s, 10m, 1h: the epoch running then ends early and is scored.", valueName: "DURATION"))
    var budget: WallClockBudget?
    @Option(
        help: ArgumentHelp(
            "A file (e.g. a test set) whose documents must not be pretrained on; repeatable.",
            discussion: "Lines whose tokens equal one of its documents' are dropped, and their count is printed."))
    var exclude: [String] = []
    @Option(help: "Continue from a checkpoint (ENCODER.ckpt) on the same text.") var resume: String?
    @Flag(help: "Data-parallel pretraining under mpirun (needs `make build-mpi`); see docs/scale-out.md.") var distributed = false
    @Flag(help: "No progress output.") var quiet = false
    @OptionGroup var tokenizerOptions: TokenizerOptions
    @OptionGroup var input: InputOptions

    enum EncoderKind: String, ExpressibleByArgument, CaseIterable {
        case bilstm, lstm
    }

    var options: PretrainingOptions {
        var o = PretrainingOptions()
        o.embeddingSize = embed; o.hiddenSize = hidden; o.bidirectional = model == .bilstm
        o.epochs = epochs; o.steps = steps; o.batchSize = batch; o.learningRate = learningRate; o.dropout = dropout
        o.maxLength = maxLength; o.minCount = minCount; o.maxVocabulary = maxVocab; o.samples = samples
        o.heldOutFraction = heldOut; o.maxHeldOut = maxHeldOut; o.seed = seed; o.threads = threads
        o.workers = workers ?? (threads > 1 ? 1 : defaultWorkers)
        return o
    }

    func validate() throws {
        do { try options.validate() } catch { throw ValidationError(error.description) }
        if distributed && text.contains("-") {
            throw ValidationError("standard input (-) cannot be shared out over ranks; pass files to --distributed")
        }
    }

    func run() throws {
        if distributed { return try runDistributed() }
        try FileChecks.checkWritable(output)
        var docs: [LabelledText] = []
        var droppedLines = 0
        for path in text { docs += try input.readUnlabelled(path) }
        if !exclude.isEmpty {
            (docs, droppedLines) = try Pretrainer.dropping(try excludedDocuments(), from: docs, tokenizer: tokenizerOptions.settings())
            reportExcluded(droppedLines)
        }
        let trainer = try pretrainer(droppedLines: droppedLines, name: "pretrain")
        installInterruptHandler()
        let r = try trainer.train(docs, file: file)
        summarize(r)
        if r.interrupted { throw ExitCode(128 + Int32(stopRequested)) }
    }

    /// `heed pretrain --distributed` under mpirun: every rank reads its shard of the lines (line i
    /// of the text, all files in order, goes to rank i mod N) and drops its own excluded lines; rank
    /// 0 alone shows progress and writes the encoder, log and checkpoint. Failures are handled as in
    /// `heed train --distributed`: reported once when every rank saw them, else the job is aborted.
    func runDistributed() throws {
        try onEveryRank { group, isRoot in
            let rank = group.rank
            if isRoot { try FileChecks.checkWritable(output) }  // only rank 0 writes files
            var shard = try Shard.read(text.map(input.unlabelledSource), rank: rank, size: group.size)
            var droppedLines = 0
            if !exclude.isEmpty {
                (shard, droppedLines) = try Pretrainer.dropping(try excludedDocuments(), from: shard, tokenizer: tokenizerOptions.settings())
                var total = [Double(droppedLines)]
                group.sum(&total)
                droppedLines = Int(total[0])
                if isRoot { reportExcluded(droppedLines) }
            }
            let trainer = try pretrainer(droppedLines: droppedLines, name: "pretrain ×\(group.size)")
            installInterruptHandler()
            let r = try trainer.train(shard: shard, file: file, collective: group)
            if isRoot { summarize(r) }
            return r.interrupted
        }
    }

    /// The text's files, as messages name them.
    private var file: String { text.count == 1 ? text[0] : text.joined(separator: ", ") }

    private func excludedDocuments() throws -> [LabelledText] {
        var excluded: [LabelledText] = []
        for path in exclude { excluded += try CorpusReader(input.source(path)).readAll() }
        return excluded
    }

    /// Said even with --quiet: it is what keeps a test set out of the encoder.
    private func reportExcluded(_ dropped: Int) {
        writeStderr("--exclude: dropped \(dropped) line\(dropped == 1 ? "" : "s") of \(file) equal to a document of \(exclude.joined(separator: ", "))\n")
    }

    private func pretrainer(droppedLines: Int, name: String) throws -> Pretrainer {
        var trainer = Pretrainer(options: options, tokenizer: tokenizerOptions.settings())
        trainer.output = URL(fileURLWithPath: output)
        trainer.resume = resume.map { URL(fileURLWithPath: $0) }
        trainer.sources = try text.map(SourceFile.init(path:))
        trainer.excluded = try exclude.map(SourceFile.init(path:))
        trainer.droppedLines = droppedLines
        if let budget { trainer.deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(budget.seconds * 1000))) }
        let display = TrainingDisplay(name: name, quiet: quiet)
        trainer.progress = display.progress
        let quiet = quiet
        trainer.epochEnded = { r in
            guard !quiet else { return }
            if display.live { writeStderr("\r\u{1B}[K") }
            writeStderr(
                "pretrain epoch \(r.epoch)\(r.partial == true ? " (cut by --budget)" : ""): train loss \(fixed(r.trainLoss, 4)) (sampled), held-out perplexity \(fixed(r.heldOutPerplexity, 2)), \(Int(r.tokensPerSecond)) tok/s, \(fixed(r.seconds, 1)) s + \(fixed(r.evaluationSeconds, 1)) s held-out\(r.best ? " *" : "")\n"
            )
        }
        trainer.shouldStop = { stopRequested != 0 }
        return trainer
    }

    /// What the run produced, for the user (the caller turns an interrupt into the exit status).
    private func summarize(_ r: PretrainingResult) {
        if !quiet {
            note(
                "\(r.trainLines) training lines (\(r.trainChunks) chunks), \(r.heldOutLines) held out; vocabulary \(r.vocabulary.count) (coverage \(percent(r.vocabulary.coverage))); unigram held-out perplexity \(fixed(r.unigramPerplexity, 2))."
            )
        }
        if r.interrupted {
            note(
                r.wroteEncoder
                    ? "Interrupted by \(stopRequested == SIGTERM ? "SIGTERM" : "Ctrl-C"). \(output) holds the best encoder so far (epoch \(r.bestEpoch)); continue with --resume \(output).ckpt"
                    : "Interrupted before the first epoch finished; no encoder was written.")
        } else if !quiet, let best = r.log.first(where: { $0.epoch == r.bestEpoch }) {
            print(
                "\(output): best epoch \(r.bestEpoch) of \(r.log.count), held-out perplexity \(fixed(best.heldOutPerplexity, 2)) (unigram \(fixed(r.unigramPerplexity, 2)))"
            )
        }
    }
}
