import ArgumentParser
import Foundation
import Heed
import HeedIO
import HeedNN

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as an ONNX graph (opset 17), with its tokenizer as JSON beside it.",
        discussion: """
            The graph takes ids int64 [batch, time] (0-padded), lengths int64 [batch] and, for a model \
            with subwords, pieces int64 [batch, time, pieces] (each token's buckets, padded with -1); it \
            returns logits and probabilities [batch, classes] (softmax(logits / T) with the model's \
            temperature) and, for attention models, attention [batch, time]. The tokenizer is not in \
            the graph: --tokenizer writes the vocabulary, settings and subword recipe as JSON. \
            A quantised model (heed quantize) keeps its tables int8 or 4-bit in the graph, dequantised \
            row by row after the lookup, and its --weights matrices int8 through DequantizeLinear. \
            A han model's graph takes ids [batch, sentences, words], word_lengths [batch, sentences] \
            and sentence_counts [batch] (pieces [batch, sentences, words, pieces]) and returns \
            word_attention [batch, sentences, words] and sentence_attention [batch, sentences]; its \
            tokenizer JSON says how sentences are split. \
            docs/onnx.md has the details and a Python example.
            """)
    @Argument(help: "Model file.") var model: String
    @Option(name: .shortAndLong, help: "ONNX file to write.") var output: String
    @Option(help: "Tokenizer JSON to write (default: OUTPUT with .onnx replaced by .tokenizer.json).") var tokenizer: String?
    @Option(
        help: ArgumentHelp(
            "Labelled or unlabelled corpus whose documents Heed scores for --reference-output.",
            discussion: "For checking a runtime against Heed (scripts/onnx-check.py)."))
    var reference: String?
    @Option(help: "JSONL to write: per --reference document, the graph's inputs and Heed's logits, probabilities and attention.")
    var referenceOutput: String?
    @OptionGroup var input: InputOptions

    func validate() throws {
        if (reference == nil) != (referenceOutput == nil) { throw ValidationError("--reference and --reference-output go together") }
        if output == model { throw ValidationError("--output must not be the model file itself") }
    }

    /// OUTPUT's tokenizer file unless --tokenizer names one.
    var tokenizerPath: String {
        if let tokenizer { return tokenizer }
        return (output.hasSuffix(".onnx") ? String(output.dropLast(5)) : output) + ".tokenizer.json"
    }

    func run() throws {
        let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        let graph: [UInt8]
        do { graph = try classifier.onnxModel() } catch let e as HeedError { throw CommandLineMessage(description: "\(model): cannot export: \(e)") }
        try AtomicWriter.write(graph, to: output)
        try AtomicWriter.write(try classifier.tokenizerJSON(), to: tokenizerPath)
        print("\(output): written (ONNX opset 17, \(graph.count) bytes)")
        print("\(tokenizerPath): written")
        if let reference, let referenceOutput {
            let docs = try CorpusReader(input.source(reference)).readAll()
            try AtomicWriter.write(try referenceLines(classifier, docs), to: referenceOutput)
            print("\(referenceOutput): \(docs.count) documents")
        }
    }

    /// One JSON line per document: its line, the graph's inputs as Heed builds them (cut to the
    /// model's length; a text without tokens is a lone `<unk>`, as Heed scores it) and Heed's outputs.
    private func referenceLines(_ classifier: TextClassifier, _ docs: [LabelledText]) throws -> String {
        if classifier.isHierarchical { return try hierarchicalReferenceLines(classifier, docs) }
        let maxLength = classifier.options.maxLength
        var sequences = try classifier.encode(docs.map(\.text)).map(\.sequence)
        for i in sequences.indices {
            if sequences[i].ids.count > maxLength { sequences[i] = sequences[i].prefix(maxLength) }
            if sequences[i].ids.isEmpty {
                sequences[i] = TokenSequence(ids: [1])
                if classifier.options.subwords != nil { sequences[i].pieces = PieceLists(ends: [0], buckets: []) }
            }
        }
        let scores = classifier.predict(sequences)
        func list<T>(_ xs: some Sequence<T>) -> String { "[" + xs.map { "\($0)" }.joined(separator: ",") + "]" }
        var out = ""
        for (doc, (sequence, score)) in zip(docs, zip(sequences, scores)) {
            var line = "{\"line\":\(doc.line),\"ids\":\(list(sequence.ids))"
            if let pieces = sequence.pieces {
                line += ",\"pieces\":" + list((0..<pieces.count).map { list(pieces.buckets[pieces.range($0)]) })
            }
            line += ",\"logits\":\(list(score.logits)),\"probabilities\":\(list(score.probabilities))"
            line += ",\"attention\":" + (score.attention.map { list($0) } ?? "null") + "}\n"
            out += line
        }
        return out
    }

    /// A han model's lines: ids (and pieces) per sentence as Heed splits and cuts them (a text
    /// without tokens is one sentence of a lone `<unk>`), Heed's logits and probabilities, each
    /// sentence's word attention and the sentence attention.
    private func hierarchicalReferenceLines(_ classifier: TextClassifier, _ docs: [LabelledText]) throws -> String {
        var sequences = try classifier.encode(docs.map(\.text)).map(\.sequence)
        for i in sequences.indices where sequences[i].ids.isEmpty {
            let pieces = classifier.options.subwords == nil ? nil : PieceLists(ends: [0], buckets: [])
            sequences[i] = TokenSequence(ids: [1], pieces: pieces, sentenceLengths: [1])
        }
        let scores = classifier.predict(sequences)
        func list<T>(_ xs: some Sequence<T>) -> String { "[" + xs.map { "\($0)" }.joined(separator: ",") + "]" }
        var out = ""
        for (doc, (sequence, score)) in zip(docs, zip(sequences, scores)) {
            guard let lengths = sequence.sentenceLengths, let words = score.wordAttention, let sentences = score.sentenceAttention else {
                throw CommandLineMessage(description: "\(reference ?? ""):\(doc.line): Heed gave no attention for this document")
            }
            var starts: [Int] = [], at = 0
            for n in lengths { starts.append(at); at += n }
            func perSentence<T>(_ xs: [T]) -> String { list(zip(starts, lengths).map { list(xs[$0..<($0 + $1)]) }) }
            var line = "{\"line\":\(doc.line),\"ids\":\(perSentence(sequence.ids))"
            if let pieces = sequence.pieces {
                line += ",\"pieces\":" + perSentence((0..<pieces.count).map { list(pieces.buckets[pieces.range($0)]) })
            }
            line += ",\"logits\":\(list(score.logits)),\"probabilities\":\(list(score.probabilities))"
            line += ",\"word_attention\":\(perSentence(words)),\"sentence_attention\":\(list(sentences))}\n"
            out += line
        }
        return out
    }
}
