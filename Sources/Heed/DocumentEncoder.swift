import HeedNN
import HeedText

/// A document as token ids (and subword buckets, for a model with them), ready for batching.
struct EncodedDocument: Sendable {
    var ids: [Int32]
    var pieces: DocumentPieces?
    var label: Int
    /// Line in the source file, for messages.
    var line: Int
}

/// A training document's subword buckets, stored once per vocabulary word: a known word's list
/// comes from the shared table, and only the `<unk>` tokens keep lists of their own (a corpus of
/// millions of tokens would otherwise hold every token's n-grams).
struct DocumentPieces: Sendable {
    /// Every vocabulary id's buckets (none for `<pad>` and `<unk>`).
    let vocabulary: VocabularyPieces
    /// One list per `<unk>` token, in order.
    var unknown: PieceLists

    /// Appends each token's buckets, in order, to `out`.
    func append(ids: [Int32], to out: inout PieceLists) {
        var u = 0
        for id in ids {
            if id == Vocabulary.unknownID {
                out.append(unknown.buckets[unknown.range(u)])
                u += 1
            } else {
                out.append(vocabulary.lists.buckets[vocabulary.lists.range(Int(id))])
            }
        }
    }
}

/// The buckets of every vocabulary token, by id.
final class VocabularyPieces: Sendable {
    let lists: PieceLists

    init(_ vocabulary: Vocabulary, _ subwords: SubwordSettings) {
        var lists = PieceLists()
        for id in 0..<vocabulary.count { lists.append(bucketsOfVocabularyID: id, in: vocabulary, subwords) }
        self.lists = lists
    }
}

extension PieceLists {
    /// Appends a token owning the buckets of its n-grams.
    mutating func append(bucketsOf token: UnsafeBufferPointer<UInt8>, _ subwords: SubwordSettings) {
        subwords.appendBuckets(of: token, to: &buckets)
        ends.append(Int32(buckets.count))
    }

    /// Appends vocabulary token `id` owning its buckets (`<pad>` and `<unk>` own none: their word is unknown).
    mutating func append(bucketsOfVocabularyID id: Int, in vocabulary: Vocabulary, _ subwords: SubwordSettings) {
        guard id > Int(Vocabulary.unknownID) else { return appendEmpty(1) }
        var token = vocabulary.token(id)
        token.withUTF8 { append(bucketsOf: $0, subwords) }
    }
}

/// The one path from text to what the network reads, shared by training, evaluation, prediction,
/// explanation, the report and the server: the vocabulary ids of the first `maxLength` tokens and,
/// for a model with subwords, every kept token's buckets (an unknown word keeps its own pieces);
/// with `keepTokens`, the tokens too, with their byte ranges in `text`.
func networkInput(
    _ text: String, vocabulary: Vocabulary, tokenizer: Tokenizer, maxLength: Int, subwords: SubwordSettings?, keepTokens: Bool
) -> EncodedText {
    var tokens: [AttendedToken] = []
    var pieces = subwords.map { _ in PieceLists() }
    let ids = vocabulary.ids(of: text, tokenizer: tokenizer, maxLength: maxLength) { token, start, end in
        if keepTokens { tokens.append(AttendedToken(text: String(decoding: token, as: UTF8.self), start: start, end: end)) }
        if let subwords { pieces!.append(bucketsOf: token, subwords) }
    }
    return EncodedText(ids: ids, tokens: tokens, pieces: pieces)
}

/// Turns labelled text into id sequences with one tokenizer and vocabulary, through
/// `Vocabulary.ids(of:tokenizer:maxLength:kept:)`, the function prediction uses too.
struct DocumentEncoder {
    let vocabulary: Vocabulary
    let tokenizer: Tokenizer
    /// Documents are cut to their first `maxLength` tokens (bounds memory and time).
    let maxLength: Int
    /// How tokens hash into subword buckets (nil: the model has none).
    let subwords: SubwordSettings?
    /// The vocabulary's buckets, made once (with subwords).
    private let vocabularyPieces: VocabularyPieces?

    init(vocabulary: Vocabulary, maxLength: Int, subwords: SubwordSettings? = nil) throws {
        self.vocabulary = vocabulary
        tokenizer = try Tokenizer(settings: vocabulary.settings)
        self.maxLength = maxLength
        self.subwords = subwords
        vocabularyPieces = subwords.map { VocabularyPieces(vocabulary, $0) }
    }

    /// The ids of `text` and, with subwords, the buckets of its `<unk>` tokens (the training set's
    /// compact form).
    func document(_ text: String) -> (ids: [Int32], pieces: DocumentPieces?) {
        let input = sequence(text)
        guard let pieces = input.pieces, let vocabularyPieces else { return (input.ids, nil) }
        var unknown = PieceLists()
        for (t, id) in input.ids.enumerated() where id == Vocabulary.unknownID { unknown.append(pieces.buckets[pieces.range(t)]) }
        return (input.ids, DocumentPieces(vocabulary: vocabularyPieces, unknown: unknown))
    }

    /// The ids of `text` and, with subwords, every kept token's buckets.
    func sequence(_ text: String) -> TokenSequence {
        networkInput(text, vocabulary: vocabulary, tokenizer: tokenizer, maxLength: maxLength, subwords: subwords, keepTokens: false).sequence
    }

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
            let (ids, pieces) = document(doc.text)
            if ids.isEmpty { skipped += 1; continue }
            out.append(EncodedDocument(ids: ids, pieces: pieces, label: label, line: doc.line))
        }
        return (out, skipped)
    }
}

/// Token ids with, for a model with subwords, each token's buckets: what the network reads.
public struct TokenSequence: Sendable, Hashable {
    /// Vocabulary ids, `<unk>` (1) for unknown tokens.
    public var ids: [Int32]
    /// One bucket list per id; nil for a model without subwords.
    package var pieces: PieceLists?

    /// A sequence of `ids`; a model with subwords reads each id's vocabulary token through its
    /// pieces (an unknown word has none: its word is gone).
    public init(ids: [Int32]) {
        self.ids = ids
        pieces = nil
    }

    /// A sequence of `ids` with their `pieces` (if the model has subwords).
    package init(ids: [Int32], pieces: PieceLists?) {
        precondition(pieces == nil || pieces!.count == ids.count, "need one piece list per id")
        self.ids = ids
        self.pieces = pieces
    }

    /// Tokens.
    public var count: Int { ids.count }

    /// The tokens at `indices`, in that order (erasure and occlusion build their inputs with it).
    public func selecting<S: Sequence>(_ indices: S) -> TokenSequence where S.Element == Int {
        let kept = Array(indices)
        return TokenSequence(ids: kept.map { ids[$0] }, pieces: pieces?.selecting(kept))
    }

    /// The first `n` tokens.
    public func prefix(_ n: Int) -> TokenSequence { n >= count ? self : selecting(0..<n) }
}

/// Token sequences collected once each: equal inputs are scored by one row, so their scores are
/// equal bit for bit whatever the BLAS kernel (erasure and occlusion build many equal sequences).
struct DistinctSequences {
    private(set) var sequences: [TokenSequence] = []
    private var slot: [TokenSequence: Int] = [:]

    /// The position of `sequence` in `sequences`, appending it the first time.
    mutating func index(of sequence: TokenSequence) -> Int {
        if let i = slot[sequence] { return i }
        sequences.append(sequence)
        slot[sequence] = sequences.count - 1
        return sequences.count - 1
    }
}
