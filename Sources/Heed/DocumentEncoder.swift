import HeedText

/// A document as token ids, ready for batching.
struct EncodedDocument: Sendable {
    var ids: [Int32]
    var label: Int
    /// Line in the source file, for messages.
    var line: Int
}

/// Turns labelled text into id sequences with one tokenizer and vocabulary, through
/// `Vocabulary.ids(of:tokenizer:maxLength:kept:)`, the function prediction uses too.
struct DocumentEncoder {
    let vocabulary: Vocabulary
    let tokenizer: Tokenizer
    /// Documents are cut to their first `maxLength` tokens (bounds memory and time).
    let maxLength: Int

    init(vocabulary: Vocabulary, maxLength: Int) throws {
        self.vocabulary = vocabulary
        tokenizer = try Tokenizer(settings: vocabulary.settings)
        self.maxLength = maxLength
    }

    func ids(_ text: String) -> [Int32] { vocabulary.ids(of: text, tokenizer: tokenizer, maxLength: maxLength) }

    /// The model's label index of every document, in order; a missing or unknown label is an
    /// error naming the line.
    func labelIndices(_ docs: some Sequence<LabelledText>, file: String) throws -> [Int] {
        var index: [String: Int] = [:]
        for (i, l) in vocabulary.labels.enumerated() { index[l] = i }
        return try docs.map { doc in
            guard let label = doc.label else { throw HeedError.missingLabel(file: file, line: doc.line) }
            guard let i = index[label] else {
                throw HeedError.unknownLabel(file: file, line: doc.line, label: label, known: vocabulary.labels)
            }
            return i
        }
    }

    /// Encodes labelled documents. Documents with no kept token are skipped and counted (a
    /// sequence must have length ≥ 1).
    func encode(_ docs: [LabelledText], file: String) throws -> (documents: [EncodedDocument], skipped: Int) {
        let labels = try labelIndices(docs, file: file)
        var out: [EncodedDocument] = []
        out.reserveCapacity(docs.count)
        var skipped = 0
        for (doc, label) in zip(docs, labels) {
            let ids = self.ids(doc.text)
            if ids.isEmpty { skipped += 1; continue }
            out.append(EncodedDocument(ids: ids, label: label, line: doc.line))
        }
        return (out, skipped)
    }
}
