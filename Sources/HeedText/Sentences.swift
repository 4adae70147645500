import CHeedICU

/// A sentence of a tokenized document: its UTF-8 byte range in the text and the tokens in it.
///
/// A hierarchical model reads a document as sentences of tokens; the report paints sentence
/// weights over `range` and token weights over the tokens' own ranges, so both come from the
/// same offsets.
public struct Sentence: Hashable, Sendable, CustomStringConvertible {
    /// UTF-8 byte offsets `[start, end)` of the sentence in the text, trailing spaces included
    /// (ICU puts them at the end of the sentence they follow).
    public var range: Range<Int>
    /// Indices of its tokens in the document's token list: consecutive, never empty.
    public var tokens: Range<Int>

    /// A sentence at byte `range` holding tokens `tokens`.
    public init(range: Range<Int>, tokens: Range<Int>) {
        self.range = range
        self.tokens = tokens
    }

    /// `start..<end[first..<last]`, for debugging and tests.
    public var description: String { "\(range.lowerBound)..<\(range.upperBound)[\(tokens.lowerBound)..<\(tokens.upperBound)]" }

    /// Groups tokens into sentences given the sentence boundaries of the text.
    ///
    /// `boundaries` are ICU's: ascending byte offsets ending at `textLength` (the start, 0, may be
    /// left out). `tokenRanges` are the tokens' byte ranges in text order. Two rules make every
    /// sentence usable by a model and every token land in exactly one sentence:
    /// - a boundary strictly inside a token is dropped (the sentences on either side merge), so
    ///   a token never splits across sentences;
    /// - a segment with no token (only punctuation or spaces, e.g. "!!!" with punctuation dropped)
    ///   joins the sentence before it, or the one after it at the start of the text.
    ///
    /// So the result covers `0..<textLength` without gaps or overlaps, each sentence's range holds
    /// its tokens' ranges, and a text without tokens (empty, whitespace only) has no sentence.
    public static func group(tokenRanges: [Range<Int>], boundaries: [Int], textLength: Int) -> [Sentence] {
        guard !tokenRanges.isEmpty else { return [] }
        var out: [Sentence] = []
        var start = 0, token = 0
        for boundary in boundaries where boundary > start && boundary < textLength {
            // Tokens that start before the boundary belong to this segment; if the last of them
            // runs past it, the boundary is inside a token and is dropped.
            var end = token
            while end < tokenRanges.count && tokenRanges[end].lowerBound < boundary { end += 1 }
            if end > token && tokenRanges[end - 1].upperBound > boundary { continue }
            guard end > token else {
                // A segment without tokens joins the sentence before it (at the start of the
                // text, the one after it).
                if !out.isEmpty {
                    out[out.count - 1].range = out[out.count - 1].range.lowerBound..<boundary
                    start = boundary
                }
                continue
            }
            out.append(Sentence(range: start..<boundary, tokens: token..<end))
            start = boundary
            token = end
        }
        if token < tokenRanges.count {
            out.append(Sentence(range: start..<textLength, tokens: token..<tokenRanges.count))
        } else {
            // Trailing segments without tokens join the last sentence.
            out[out.count - 1].range = out[out.count - 1].range.lowerBound..<textLength
        }
        return out
    }
}

/// ICU's sentence break iterator (UAX #29 sentence rules with CLDR's abbreviation suppressions:
/// "Mr. Smith" stays one sentence) over UTF-8 text. One per thread: ICU iterators are not
/// shareable. Abbreviations outside CLDR's list for the locale still end a sentence: English
/// lacks "Dr." (it also abbreviates "Drive", which can end one); the root locale uses the
/// English list.
public final class SentenceSegmenter {
    private let handle: OpaquePointer

    /// A segmenter for the tokenizer locale `locale` ("root" or "" = root rules); fails with
    /// ``HeedTextError/unknownLocale(_:reason:)`` when ICU cannot open one.
    public init(locale: String) throws(HeedTextError) {
        var error = [CChar](repeating: 0, count: 64)
        let icuLocale = locale == "root" ? "" : locale
        guard let h = heed_sentence_segmenter_open(icuLocale, &error, error.count) else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw .unknownLocale(locale, reason: "no sentence breaker: " + reason)
        }
        handle = h
    }

    deinit { heed_segmenter_close(handle) }

    /// ICU's sentence boundaries in `text`: ascending byte offsets after 0, the last one
    /// `text.count` (none for empty text).
    public func boundaries(_ text: UnsafeBufferPointer<UInt8>) -> [Int] {
        guard let base = text.baseAddress, !text.isEmpty else { return [] }
        guard heed_segmenter_set_text(handle, base, Int64(text.count)) == 0 else { return [text.count] }
        var out: [Int] = []
        var status: Int32 = 0
        while true {
            let end = heed_segmenter_next(handle, &status)
            if end < 0 { break }
            out.append(Int(end))
        }
        return out
    }

    /// The sentences of `text` holding tokens at `tokenRanges` (text order), grouped by
    /// ``Sentence/group(tokenRanges:boundaries:textLength:)``.
    public func sentences(_ text: UnsafeBufferPointer<UInt8>, tokenRanges: [Range<Int>]) -> [Sentence] {
        Sentence.group(tokenRanges: tokenRanges, boundaries: boundaries(text), textLength: text.count)
    }

    /// `sentences(_:tokenRanges:)` for a `String` and its tokens.
    public func sentences(_ text: String, tokens: [Token]) -> [Sentence] {
        var text = text
        let ranges = tokens.map(\.range)
        return text.withUTF8 { sentences($0, tokenRanges: ranges) }
    }
}
