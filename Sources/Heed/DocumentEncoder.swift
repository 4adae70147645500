import HeedNN
import HeedText

/// A document as token ids (and subword buckets, for a model with them), ready for batching.
struct EncodedDocument: Sendable {
    var ids: [Int32]
    var pieces: DocumentPieces?
    var label: Int
    /// Line in the source file, for messages.
    var line: Int
    /// Tokens per sentence, in order, for a hierarchical model (they add up to `ids.count`); nil
    /// for a flat one.
    var sentenceLengths: [Int]? = nil
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

/// How a hierarchical model bounds a document: its first `maxSentences` sentences, each cut to
/// its first `maxWords` tokens. The segmenter is ICU's and is not shareable between threads.
struct SentenceLevel {
    let segmenter: SentenceSegmenter
    let maxSentences: Int
    let maxWords: Int

    /// The sentence level of a model trained with `options`, nil for a flat model.
    init?(_ options: TrainingOptions, locale: String) throws {
        guard options.model.isHierarchical else { return nil }
        segmenter = try SentenceSegmenter(locale: locale)
        maxSentences = options.maxSentences
        maxWords = options.maxWords
    }
}

/// The one path from text to what the network reads, shared by training, evaluation, prediction,
/// explanation, the report and the server: the vocabulary ids of the first `maxLength` tokens and,
/// for a model with subwords, every kept token's buckets (an unknown word keeps its own pieces);
/// with `keepTokens`, the tokens too, with their byte ranges in `text`.
///
/// With a sentence level (a hierarchical model) `maxLength` does not apply: the text's tokens are
/// grouped into ICU sentences (`Sentence.group`), and the first `maxSentences` sentences keep their
/// first `maxWords` tokens each. `truncated` says whether anything was cut.
func networkInput(
    _ text: String, vocabulary: Vocabulary, tokenizer: Tokenizer, maxLength: Int, subwords: SubwordSettings?, keepTokens: Bool,
    sentenceLevel: SentenceLevel? = nil
) -> EncodedText {
    guard let level = sentenceLevel else {
        var tokens: [AttendedToken] = []
        var pieces = subwords.map { _ in PieceLists() }
        let ids = vocabulary.ids(of: text, tokenizer: tokenizer, maxLength: maxLength) { token, start, end in
            if keepTokens { tokens.append(AttendedToken(text: String(decoding: token, as: UTF8.self), start: start, end: end)) }
            if let subwords { pieces!.append(bucketsOf: token, subwords) }
        }
        return EncodedText(ids: ids, tokens: tokens, pieces: pieces)
    }
    // Every token first (sentences need all their ranges), then the kept ones.
    var allIds: [Int32] = [], ranges: [Range<Int>] = [], normalised: [[UInt8]] = []
    let needText = keepTokens || subwords != nil
    var utf8 = text
    let sentences = utf8.withUTF8 { bytes in
        tokenizer.forEachToken(in: bytes) { token, start, end in
            allIds.append(vocabulary.id(of: token))
            ranges.append(start..<end)
            if needText { normalised.append(Array(token)) }
        }
        return level.segmenter.sentences(bytes, tokenRanges: ranges)
    }
    var out = EncodedText(ids: [], tokens: [], pieces: subwords.map { _ in PieceLists() })
    out.sentences = []
    out.truncated = sentences.count > level.maxSentences
    for sentence in sentences.prefix(level.maxSentences) {
        let kept = sentence.tokens.prefix(level.maxWords)
        if kept.count < sentence.tokens.count { out.truncated = true }
        out.sentences!.append(SentenceSpan(start: sentence.range.lowerBound, end: sentence.range.upperBound, firstToken: out.ids.count, tokenCount: kept.count))
        for t in kept {
            out.ids.append(allIds[t])
            if keepTokens {
                out.tokens.append(AttendedToken(text: String(decoding: normalised[t], as: UTF8.self), start: ranges[t].lowerBound, end: ranges[t].upperBound))
            }
            if let subwords { normalised[t].withUnsafeBufferPointer { out.pieces!.append(bucketsOf: $0, subwords) } }
        }
    }
    return out
}

/// Turns labelled text into id sequences with one tokenizer and vocabulary, through
/// `networkInput`, the function prediction uses too; for a hierarchical model, sentences of ids.
struct DocumentEncoder {
    let vocabulary: Vocabulary
    let tokenizer: Tokenizer
    /// Documents are cut to their first `maxLength` tokens (bounds memory and time).
    let maxLength: Int
    /// How tokens hash into subword buckets (nil: the model has none).
    let subwords: SubwordSettings?
    /// The sentence level of a hierarchical model (nil: flat).
    let sentenceLevel: SentenceLevel?
    /// The vocabulary's buckets, made once (with subwords).
    private let vocabularyPieces: VocabularyPieces?

    init(vocabulary: Vocabulary, maxLength: Int, subwords: SubwordSettings? = nil, sentenceLevel: SentenceLevel? = nil) throws {
        self.vocabulary = vocabulary
        tokenizer = try Tokenizer(settings: vocabulary.settings)
        self.maxLength = maxLength
        self.subwords = subwords
        self.sentenceLevel = sentenceLevel
        vocabularyPieces = subwords.map { VocabularyPieces(vocabulary, $0) }
    }

    /// The encoder of a model trained with `options` on `vocabulary`: flat or with sentences.
    init(vocabulary: Vocabulary, options: TrainingOptions) throws {
        try self.init(
            vocabulary: vocabulary, maxLength: options.maxLength, subwords: options.subwordSettings,
            sentenceLevel: try SentenceLevel(options, locale: vocabulary.settings.locale))
    }

    /// The ids of `text`, its sentence lengths (hierarchical model) and, with subwords, the buckets
    /// of its `<unk>` tokens (the training set's compact form).
    func document(_ text: String) -> (ids: [Int32], pieces: DocumentPieces?, sentenceLengths: [Int]?) {
        let input = sequence(text)
        guard let pieces = input.pieces, let vocabularyPieces else { return (input.ids, nil, input.sentenceLengths) }
        var unknown = PieceLists()
        for (t, id) in input.ids.enumerated() where id == Vocabulary.unknownID { unknown.append(pieces.buckets[pieces.range(t)]) }
        return (input.ids, DocumentPieces(vocabulary: vocabularyPieces, unknown: unknown), input.sentenceLengths)
    }

    /// The ids of `text` and, with subwords, every kept token's buckets.
    func sequence(_ text: String) -> TokenSequence {
        networkInput(
            text, vocabulary: vocabulary, tokenizer: tokenizer, maxLength: maxLength, subwords: subwords, keepTokens: false,
            sentenceLevel: sentenceLevel
        ).sequence
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
            let (ids, pieces, sentenceLengths) = document(doc.text)
            if ids.isEmpty { skipped += 1; continue }
            out.append(EncodedDocument(ids: ids, pieces: pieces, label: label, line: doc.line, sentenceLengths: sentenceLengths))
        }
        return (out, skipped)
    }
}

/// A sentence of a hierarchical model's input: its UTF-8 byte range in the text (trailing spaces
/// included, as ICU ends sentences) and the kept tokens in it.
public struct SentenceSpan: Codable, Sendable, Equatable {
    /// UTF-8 byte offset where the sentence begins.
    public var start: Int
    /// UTF-8 byte offset just past its end.
    public var end: Int
    /// Index of its first kept token in the text's token list.
    public var firstToken: Int
    /// Kept tokens in it (at most `maxWords`), ≥ 1.
    public var tokenCount: Int
    /// Sentence attention, in [0, 1]; a prediction's weights sum to 1 (nil before scoring).
    public var weight: Float?

    /// A sentence at bytes `start..<end` holding `tokenCount` tokens from `firstToken`.
    public init(start: Int, end: Int, firstToken: Int, tokenCount: Int, weight: Float? = nil) {
        (self.start, self.end, self.firstToken, self.tokenCount, self.weight) = (start, end, firstToken, tokenCount, weight)
    }

    private enum CodingKeys: String, CodingKey {
        case start, end, firstToken = "first_token", tokenCount = "token_count", weight
    }
}

/// Token ids with, for a model with subwords, each token's buckets: what the network reads.
public struct TokenSequence: Sendable, Hashable {
    /// Vocabulary ids, `<unk>` (1) for unknown tokens.
    public var ids: [Int32]
    /// One bucket list per id; nil for a model without subwords.
    package var pieces: PieceLists?
    /// Tokens per sentence for a hierarchical model (adding up to `count`, none 0); nil: flat.
    package var sentenceLengths: [Int]?

    /// A sequence of `ids`; a model with subwords reads each id's vocabulary token through its
    /// pieces (an unknown word has none: its word is gone).
    public init(ids: [Int32]) {
        self.ids = ids
        pieces = nil
        sentenceLengths = nil
    }

    /// A sequence of `ids` with their `pieces` (if the model has subwords).
    package init(ids: [Int32], pieces: PieceLists?, sentenceLengths: [Int]? = nil) {
        precondition(pieces == nil || pieces!.count == ids.count, "need one piece list per id")
        precondition(sentenceLengths == nil || sentenceLengths!.reduce(0, +) == ids.count, "sentence lengths must add up to the ids")
        self.ids = ids
        self.pieces = pieces
        self.sentenceLengths = sentenceLengths
    }

    /// Tokens.
    public var count: Int { ids.count }

    /// The tokens at `indices`, in that order (erasure and occlusion build their inputs with it).
    /// Sentences keep the selected tokens of theirs; a sentence left without one is dropped.
    public func selecting<S: Sequence>(_ indices: S) -> TokenSequence where S.Element == Int {
        let kept = Array(indices)
        var lengths: [Int]? = nil
        if let sentenceLengths {
            var sentenceOf: [Int] = []
            sentenceOf.reserveCapacity(count)
            for (s, n) in sentenceLengths.enumerated() { sentenceOf += repeatElement(s, count: n) }
            var grouped: [Int] = [], last = -1
            for i in kept {
                if sentenceOf[i] == last { grouped[grouped.count - 1] += 1 } else { grouped.append(1) }
                last = sentenceOf[i]
            }
            lengths = grouped
        }
        return TokenSequence(ids: kept.map { ids[$0] }, pieces: pieces?.selecting(kept), sentenceLengths: lengths)
    }

    /// The tokens of sentences `sentences` (indices into `sentenceLengths`), in that order:
    /// occluding a whole sentence builds its input with it.
    package func selecting(sentences: [Int]) -> TokenSequence {
        guard let sentenceLengths else { preconditionFailure("sentence selection needs a hierarchical sequence") }
        var starts: [Int] = [], at = 0
        for n in sentenceLengths {
            starts.append(at)
            at += n
        }
        return selecting(sentences.flatMap { starts[$0]..<(starts[$0] + sentenceLengths[$0]) })
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
