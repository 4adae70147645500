import ArgumentParser
import Foundation
import Heed

extension TokenizerSettings.Normalization: ExpressibleByArgument {}
extension CorpusFormat: ExpressibleByArgument {}

/// Tokenizer flags. Unset flags take the value from a given vocabulary or model, else the default.
struct TokenizerOptions: ParsableArguments {
    @Option(help: "ICU locale for word breaking (root covers English, CJK and Thai).")
    var locale: String?

    @Option(help: "Per-token normalisation: none, nfkc, nfkc-casefold (default).")
    var normalization: TokenizerSettings.Normalization?

    @Flag(help: "Keep punctuation and symbols as tokens (whitespace is always dropped).")
    var keepPunctuation = false

    @Flag(help: "Replace numbers (3.14, 1,234) by <num>.")
    var maskNumbers = false

    var isDefault: Bool { locale == nil && normalization == nil && !keepPunctuation && !maskNumbers }

    /// Settings from the flags, starting from `base` (a vocabulary's or model's settings).
    func settings(base: TokenizerSettings = .default) -> TokenizerSettings {
        var s = base
        if let locale { s.locale = locale }
        if let normalization { s.normalization = normalization }
        if keepPunctuation { s.keepPunctuation = true }
        if maskNumbers { s.maskNumbers = true }
        return s
    }
}

/// How corpus files are read.
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("input"), help: "Input format: tsv (label<TAB>text), csv, jsonl, text, folder. Default: from the file extension, else tsv.")
    var format: CorpusFormat?

    @Option(help: "CSV column or JSONL field holding the label.")
    var labelColumn = "label"

    @Option(help: "CSV column or JSONL field holding the text.")
    var textColumn = "text"

    @Option(help: "Reject documents longer than this many bytes (bounds memory on bad input).")
    var maxBytes = CorpusSource.defaultMaxDocumentBytes

    /// The source for a path argument; "-" is standard input (in `fallback` format unless --input says).
    func source(_ path: String, default fallback: CorpusFormat? = nil) -> CorpusSource {
        var source =
            path == "-"
            ? CorpusSource.standardInput(format: format ?? fallback ?? .tsv, maxDocumentBytes: maxBytes)
            : CorpusSource(URL(fileURLWithPath: path), format: format, maxDocumentBytes: maxBytes)
        source.labelColumn = labelColumn
        source.textColumn = textColumn
        return source
    }

    /// Unlabelled text: labels are ignored, so a file without a known extension is plain text
    /// (one document per line), not tsv.
    func readUnlabelled(_ path: String) throws -> [LabelledText] {
        try CorpusReader(unlabelledSource(path)).readAll()
    }

    /// The source `readUnlabelled` reads.
    func unlabelledSource(_ path: String) -> CorpusSource {
        var source = source(path, default: .text)
        if format == nil, source.format == .tsv, !path.hasSuffix(".tsv") { source.format = .text }
        return source
    }
}

/// The `--workers` default of every command: the cores this process may use, at most 8.
let defaultWorkers = min(8, ProcessInfo.processInfo.activeProcessorCount)

/// `--workers` for commands that score many texts: batches split over threads, results unchanged.
struct InferenceWorkers: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Threads scoring batches of texts, each with a replica of the model (default: the number of cores, at most 8).",
            discussion: "BLAS runs single-threaded inside each; output order and every score are the same for any count."))
    var workers = defaultWorkers

    func validate() throws {
        if workers < 1 { throw ValidationError("--workers must be at least 1 (got \(workers))") }
    }
}
