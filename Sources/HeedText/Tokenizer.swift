/// A token: its normalised form and the UTF-8 byte range `[start, end)` of its surface form in the
/// original text. Slicing the original bytes by `range` gives the text as written.
public struct Token: Hashable, Sendable, CustomStringConvertible {
    /// The normalised form: what the vocabulary looks up (e.g. case-folded).
    public var text: String
    /// UTF-8 byte offsets of the token as written in the tokenized text.
    public var range: Range<Int>
    /// A token with normalised `text` found at byte `range`.
    public init(text: String, range: Range<Int>) { self.text = text; self.range = range }
    /// `text@start..<end`, for debugging and tests.
    public var description: String { "\(text)@\(range.lowerBound)..<\(range.upperBound)" }
}

/// Segments with ICU's word break rules, then normalises each segment (segment first: normalising
/// first would break Thai and shift offsets).
///
/// Pure-ASCII documents take a fast path that implements the same UAX #29 rules ICU applies to
/// ASCII (tests compare both on every shipped document). Not thread-safe: use one per thread.
public final class Tokenizer {
    /// The settings it applies; vocabularies and models record them so text is tokenized alike.
    public let settings: TokenizerSettings
    private let segmenter: WordSegmenter
    private var scratch = [UInt8](repeating: 0, count: 256)
    private static let numberBytes = Array(TokenizerSettings.numberToken.utf8)
    /// Tests set this to check the ASCII fast path against ICU on the same text.
    var alwaysUseICU = false

    /// A tokenizer for `settings`; fails with ``HeedTextError/unknownLocale(_:reason:)`` when ICU
    /// has no word breaker for the locale.
    public init(settings: TokenizerSettings = .default) throws(HeedTextError) {
        self.settings = settings
        segmenter = try WordSegmenter(locale: settings.locale)
    }

    /// Tokenizes a string.
    public func tokenize(_ text: String) -> [Token] {
        var text = text
        return text.withUTF8 { tokenize(bytes: $0) }
    }

    /// Tokenizes UTF-8 bytes (invalid sequences count as U+FFFD and never become tokens on their own).
    public func tokenize(bytes: UnsafeBufferPointer<UInt8>) -> [Token] {
        var tokens: [Token] = []
        forEachToken(in: bytes) { normalized, start, end in
            tokens.append(Token(text: String(decoding: normalized, as: UTF8.self), range: start..<end))
        }
        return tokens
    }

    /// The hot path: calls `body(normalizedBytes, start, end)` per token without creating Strings.
    /// `normalizedBytes` is only valid during the call.
    public func forEachToken(
        in text: UnsafeBufferPointer<UInt8>,
        _ body: (UnsafeBufferPointer<UInt8>, Int, Int) -> Void
    ) {
        guard !text.isEmpty else { return }
        if alwaysUseICU { return forEachICUToken(text, nil, body) }
        // Mostly-ASCII text: only the stretches around non-ASCII bytes go through ICU. A split is
        // safe where an ASCII non-space follows a space: no word rule joins across that boundary
        // or looks past it, so ICU segments the pieces exactly as it segments the whole.
        let count = text.count
        var pieceStart = 0, lastSplit = 0
        var nonASCII = text[0] >= 0x80
        var i = 1
        while i < count {
            let b = text[i]
            if b >= 0x80 {
                if !nonASCII {
                    if lastSplit > pieceStart {
                        forEachASCIIToken(text, pieceStart..<lastSplit, body)
                        pieceStart = lastSplit
                    }
                    nonASCII = true
                }
            } else if b != 0x20 && text[i - 1] == 0x20 {
                if nonASCII {
                    forEachICUToken(text, pieceStart..<i, body)
                    pieceStart = i
                    nonASCII = false
                }
                lastSplit = i
            }
            i += 1
        }
        if nonASCII { forEachICUToken(text, pieceStart..<count, body) } else { forEachASCIIToken(text, pieceStart..<count, body) }
    }

    // MARK: - ICU path

    private func forEachICUToken(
        _ whole: UnsafeBufferPointer<UInt8>, _ piece: Range<Int>? = nil,
        _ body: (UnsafeBufferPointer<UInt8>, Int, Int) -> Void
    ) {
        let settings = self.settings
        let base = piece?.lowerBound ?? 0
        let text = piece.map { UnsafeBufferPointer(rebasing: whole[$0]) } ?? whole
        segmenter.forEachSegment(text) { pieceStart, pieceEnd, status in
            let start = pieceStart + base, end = pieceEnd + base
            let span = UnsafeBufferPointer(rebasing: whole[start..<end])
            if status < 100 {  // no word content: whitespace, punctuation, symbols, emoji
                if UnicodeSpan.containsPictographic(span) {
                    // Emoji stay as written: case folding would strip the ZWJ and variation
                    // selectors that make a sequence one emoji.
                    body(span, start, end)
                } else if settings.keepPunctuation && !UnicodeSpan.isWhitespace(span) {
                    emit(span, start, end, numeric: false, body)
                }
                return
            }
            emit(span, start, end, numeric: settings.maskNumbers && UnicodeSpan.isNumeric(span), body)
        }
    }

    @inline(__always)
    private func emit(
        _ span: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, numeric: Bool,
        _ body: (UnsafeBufferPointer<UInt8>, Int, Int) -> Void
    ) {
        if numeric {
            Self.numberBytes.withUnsafeBufferPointer { body($0, start, end) }
            return
        }
        if Self.isASCII(span) {  // NFKC leaves ASCII alone; case folding only lowers A–Z
            if settings.normalization != .nfkcCasefold { return body(span, start, end) }
            return lowercased(span) { body($0, start, end) }
        }
        let n = UnicodeSpan.normalize(settings.normalization, span, into: &scratch)
        guard n > 0 else { return }  // e.g. only default-ignorable code points
        scratch.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<n]), start, end) }
    }

    // MARK: - ASCII fast path (UAX #29 word rules restricted to ASCII, as ICU's root rules apply them)

    @inline(__always)
    static func isASCII(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var acc: UInt8 = 0
        for b in text { acc |= b }
        return acc < 0x80
    }

    /// Character classes of the word break rules, for ASCII.
    private enum Kind: UInt8 { case letter, digit, underscore, midLetterOrNum, midNum, space, other }

    private static let kinds: [Kind] = (0..<128).map { b -> Kind in
        switch UInt8(b) {
        // ICU 72 (CLDR 42) root rules count '@' as a letter, keeping e-mail addresses and @handles whole.
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "@"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .digit
        case UInt8(ascii: "_"): return .underscore
        case UInt8(ascii: "."), UInt8(ascii: "'"): return .midLetterOrNum  // MidNumLet, Single_Quote
        case UInt8(ascii: ","), UInt8(ascii: ";"): return .midNum
        case UInt8(ascii: " "), 0x09, 0x0A, 0x0B, 0x0C, 0x0D: return .space
        default: return .other
        }
    }

    /// '@' joins words like a letter but is not alphabetic: "9@" is still a number.
    private static func hasASCIILetter(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        range.contains { ((text[$0] | 0x20) &- UInt8(ascii: "a")) < 26 }
    }

    @inline(__always)
    private func lowercased(_ span: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if scratch.count < span.count { scratch = [UInt8](repeating: 0, count: span.count) }
        scratch.withUnsafeMutableBufferPointer { out in
            for j in 0..<span.count {
                let b = span[j]
                out[j] = (b &- UInt8(ascii: "A")) < 26 ? b | 0x20 : b
            }
            body(UnsafeBufferPointer(rebasing: out[0..<span.count]))
        }
    }

    private func forEachASCIIToken(
        _ text: UnsafeBufferPointer<UInt8>, _ piece: Range<Int>,
        _ body: (UnsafeBufferPointer<UInt8>, Int, Int) -> Void
    ) {
        let count = piece.upperBound
        let keepPunctuation = settings.keepPunctuation, maskNumbers = settings.maskNumbers
        let lower = settings.normalization == .nfkcCasefold
        if scratch.count < count { scratch = [UInt8](repeating: 0, count: count) }
        Self.kinds.withUnsafeBufferPointer { kinds in
            scratch.withUnsafeMutableBufferPointer { scratch in
                var i = piece.lowerBound
                while i < count {
                    let kind = kinds[Int(text[i])]
                    switch kind {
                    case .space:
                        i += 1
                    case .letter, .digit, .underscore:
                        // A run joined by WB5–WB13b: letters, digits, underscores, and a single
                        // middle character between letter–letter ('.' ''') or digit–digit ('.' ''' ',' ';').
                        let start = i
                        var hasLetter = false, hasDigit = false
                        var previous = kind
                        while true {
                            if previous == .letter { hasLetter = true } else if previous == .digit { hasDigit = true }
                            let next = i + 1
                            guard next < count else { i = next; break }
                            let k = kinds[Int(text[next])]
                            if k == .letter || k == .digit || k == .underscore { previous = k; i = next; continue }
                            if k == .midLetterOrNum || k == .midNum, next + 1 < count,
                                previous == .letter || previous == .digit
                            {
                                let after = kinds[Int(text[next + 1])]
                                if after == previous && (k == .midLetterOrNum || previous == .digit) {
                                    previous = after; i = next + 1; continue
                                }
                            }
                            i = next
                            break
                        }
                        let end = i
                        if !hasLetter && !hasDigit && end - start == 1 {  // a lone '_' is punctuation to ICU,
                            if keepPunctuation { body(UnsafeBufferPointer(rebasing: text[start..<end]), start, end) }
                            continue  // but a run of two or more is a word (rule status "letter")
                        }
                        if maskNumbers && hasDigit && !(hasLetter && Self.hasASCIILetter(text, start..<end)) {
                            Self.numberBytes.withUnsafeBufferPointer { body($0, start, end) }
                            continue
                        }
                        if lower {
                            var j = 0
                            for p in start..<end {
                                let b = text[p]
                                scratch[j] = (b &- UInt8(ascii: "A")) < 26 ? b | 0x20 : b
                                j += 1
                            }
                            body(UnsafeBufferPointer(rebasing: scratch[0..<(end - start)]), start, end)
                        } else {
                            body(UnsafeBufferPointer(rebasing: text[start..<end]), start, end)
                        }
                    default:
                        if keepPunctuation { body(UnsafeBufferPointer(rebasing: text[i..<(i + 1)]), i, i + 1) }
                        i += 1
                    }
                }
            }
        }
    }
}
