import ArgumentParser
import Foundation
import Heed
import HeedIO

struct Vocab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build, count, merge and inspect vocabularies.",
        discussion: """
            A vocabulary file is UTF-8 text: a header line with the tokenizer settings, one \
            "# label" line per label, then token<TAB>count in id order (<pad> = 0, <unk> = 1, then by \
            count descending, ties by token bytes). For corpora too large for one machine, run \
            `vocab count` on each shard and `vocab merge` the count files: the result is identical to \
            `vocab build` on the whole corpus.
            """,
        subcommands: [Build.self, Count.self, Merge.self, Show.self]
    )

    struct SizeOptions: ParsableArguments {
        @Option(help: "Drop tokens seen fewer times than this.")
        var minCount = 2
        @Option(help: "Largest vocabulary, including <pad> and <unk>.")
        var maxSize = 30000

        func validate() throws {
            guard minCount >= 1 else { throw ValidationError("--min-count must be at least 1") }
            guard maxSize >= 2 else { throw ValidationError("--max-size must be at least 2") }
        }
    }

    static func summary(_ v: Vocabulary, path: String) -> String {
        let labels = zip(v.labels, v.labelCounts).map { "\($0) \($1)" }.joined(separator: ", ")
        let coverage = (v.coverage * 1000).rounded() / 10
        return
            "\(path): \(v.count) entries from \(v.documents) documents, covering \(coverage)% of \(v.trainingTokens) training tokens; labels: \(labels.isEmpty ? "none" : labels)"
    }

    /// Counts tokens and labels of `files` with a progress display; with `requireDocuments`, a file
    /// without any document is an error (a vocabulary from nothing is a mistake, a shard may be empty).
    static func count(
        _ files: [String], input: InputOptions, settings: TokenizerSettings, quiet: Bool,
        requireDocuments: Bool
    ) throws -> TokenCounts {
        let tokenizer = try Tokenizer(settings: settings)
        var counts = TokenCounts(settings: settings)
        for path in files {
            let before = counts.documents
            let progress = Progress("counting \(path)", quiet: quiet)
            try counts.count(input.source(path), tokenizer: tokenizer, progress: progress.update)
            progress.finish()
            if requireDocuments && counts.documents == before { throw HeedTextError.noDocuments(path) }
        }
        return counts
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build a vocabulary from training files.")
        @Argument(help: "Training corpus files (never test data).") var files: [String]
        @Option(name: .shortAndLong, help: "Output vocabulary file.") var output: String
        @OptionGroup var size: SizeOptions
        @OptionGroup var input: InputOptions
        @OptionGroup var tokenizerOptions: TokenizerOptions
        @Flag(help: "Print nothing on success.") var quiet = false

        func run() throws {
            try FileChecks.checkWritable(output)
            let counts = try Vocab.count(files, input: input, settings: tokenizerOptions.settings(), quiet: quiet, requireDocuments: true)
            let vocabulary = Vocabulary(counts: counts, minCount: size.minCount, maxSize: size.maxSize)
            try vocabulary.write(to: URL(fileURLWithPath: output))
            if !quiet { print(Vocab.summary(vocabulary, path: output)) }
        }
    }

    struct Count: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count tokens of one shard into a count file (for vocab merge).")
        @Argument(help: "Shard files.") var files: [String]
        @Option(name: .shortAndLong, help: "Output count file.") var output: String
        @OptionGroup var input: InputOptions
        @OptionGroup var tokenizerOptions: TokenizerOptions
        @Flag(help: "Print nothing on success.") var quiet = false

        func run() throws {
            try FileChecks.checkWritable(output)
            let counts = try Vocab.count(files, input: input, settings: tokenizerOptions.settings(), quiet: quiet, requireDocuments: false)
            try counts.write(to: URL(fileURLWithPath: output))
            if !quiet { print("\(output): \(counts.distinctTokens) distinct tokens, \(counts.tokens) tokens, \(counts.documents) documents") }
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge count files into a vocabulary (or, with --counts-only, into one count file).")
        @Argument(help: "Count files written by `heed vocab count`.") var files: [String]
        @Option(name: .shortAndLong, help: "Output file.") var output: String
        @OptionGroup var size: SizeOptions
        @Flag(help: "Write merged counts instead of a vocabulary (for merging in stages).") var countsOnly = false
        @Flag(help: "Print nothing on success.") var quiet = false

        func run() throws {
            guard let first = files.first else { throw ValidationError("give at least one count file") }
            try FileChecks.checkWritable(output)
            var merged = try TokenCounts.load(URL(fileURLWithPath: first))
            for path in files.dropFirst() {
                do { try merged.merge(try TokenCounts.load(URL(fileURLWithPath: path))) } catch let error as HeedTextError {
                    if case .settingsMismatch(_, let d) = error { throw HeedTextError.settingsMismatch(file: path, differences: d) }
                    throw error
                }
            }
            if countsOnly {
                try merged.write(to: URL(fileURLWithPath: output))
                if !quiet { print("\(output): \(merged.distinctTokens) distinct tokens from \(files.count) count files") }
            } else {
                let vocabulary = Vocabulary(counts: merged, minCount: size.minCount, maxSize: size.maxSize)
                try vocabulary.write(to: URL(fileURLWithPath: output))
                if !quiet { print(Vocab.summary(vocabulary, path: output)) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a vocabulary's size, coverage, labels and top tokens.")
        @Argument(help: "Vocabulary file.") var file: String
        @Option(help: "How many top tokens to list.") var top = 20

        func run() throws {
            let v = try Vocabulary.load(URL(fileURLWithPath: file))
            print(Vocab.summary(v, path: file))
            print("tokenizer: \(v.settings.headerFields)")
            print("built with: min-count \(v.minCount), max-size \(v.maxSize)")
            print("<unk> replaced \(v.tokenCount(1)) training tokens")
            let n = min(top, v.count - 2)
            if n > 0 {
                print("top \(n):")
                for id in 2..<(2 + n) { print("  \(id)\t\(v.token(id))\t\(v.tokenCount(id))") }
            }
        }
    }
}
