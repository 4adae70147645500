import ArgumentParser
import Foundation
import Heed
import HeedIO

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split documents into tokens (ICU word rules), with their source byte offsets.",
        discussion: """
            Output formats:
              text   label<TAB>token token ...   (label omitted for unlabelled input)
              jsonl  {"label": ..., "tokens": [...], "offsets": [[start, end], ...]}
                     offsets are UTF-8 byte ranges into the document text as written
              ids    label<TAB>id id ...  (needs --vocab; unknown tokens are 1, <unk>)
            With --vocab, the vocabulary's tokenizer settings are used; flags that contradict them are an error.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, jsonl, ids }

    @Argument(help: "Corpus files; - or nothing reads standard input.")
    var files: [String] = []

    @OptionGroup var input: InputOptions
    @OptionGroup var tokenizerOptions: TokenizerOptions

    @Option(help: "Output: text, jsonl or ids.")
    var format: Format = .text

    @Option(help: "Vocabulary for --format ids (its tokenizer settings apply).")
    var vocab: String?

    @Option(name: .shortAndLong, help: "Write to this file (atomically) instead of standard output.")
    var output: String?

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        if format == .ids && vocab == nil { throw ValidationError("--format ids needs --vocab FILE") }
    }

    func run() throws {
        var settings = tokenizerOptions.settings()
        var vocabulary: Vocabulary? = nil
        if let vocab {
            let loaded = try Vocabulary.load(URL(fileURLWithPath: vocab))
            if !tokenizerOptions.isDefault {
                let diff = tokenizerOptions.settings(base: loaded.settings).differences(from: loaded.settings)
                if !diff.isEmpty { throw HeedTextError.settingsMismatch(file: vocab, differences: diff) }
            }
            settings = loaded.settings
            vocabulary = loaded
        }
        if let output { try FileChecks.checkWritable(output) }
        let tokenizer = try Tokenizer(settings: settings)
        let out = OutputBuffer()
        let sink: OutputBuffer? = output == nil ? out : nil
        for path in files.isEmpty ? ["-"] : files {
            var reader = CorpusReader(input.source(path, default: .tsv))
            let progress = Progress("tokenize \(path)", quiet: quiet)
            reader.progress = progress.update
            try reader.forEachDocument { doc in
                if let label = doc.label {
                    if format == .jsonl {
                        out.write("{\"label\": "); out.writeJSONString(label); out.write(", ")
                    } else {
                        out.write(label); out.write(byte: 0x09)
                    }
                } else if format == .jsonl {
                    out.write("{")
                }
                switch format {
                case .text:
                    var first = true
                    tokenizer.forEachToken(in: doc.text) { token, _, _ in
                        if !first { out.write(byte: 0x20) }
                        first = false
                        out.write(token)
                    }
                case .ids:
                    var first = true
                    tokenizer.forEachToken(in: doc.text) { token, _, _ in
                        if !first { out.write(byte: 0x20) }
                        first = false
                        out.write(String(vocabulary!.id(of: token)))
                    }
                case .jsonl:
                    var offsets: [(Int, Int)] = []
                    out.write("\"tokens\": [")
                    tokenizer.forEachToken(in: doc.text) { token, start, end in
                        if !offsets.isEmpty { out.write(", ") }
                        out.writeJSONString(token)
                        offsets.append((start, end))
                    }
                    out.write("], \"offsets\": [")
                    out.write(offsets.map { "[\($0.0), \($0.1)]" }.joined(separator: ", "))
                    out.write("]}")
                }
                out.write(byte: 0x0A)
                sink?.maybeFlush()
            }
            progress.finish()
        }
        if let output { try AtomicWriter.write(out.contents, to: output) } else { out.flush() }
    }
}
