/// How raw text becomes tokens. Saved in every vocabulary and model so that text is always
/// tokenized the same way it was at training time.
public struct TokenizerSettings: Codable, Hashable, Sendable {
    /// What each word segment is turned into before the vocabulary looks it up.
    public enum Normalization: String, Codable, CaseIterable, Sendable {
        /// Segments as written.
        case none
        /// Unicode compatibility composition: full-width letters, ligatures and the like become
        /// their plain forms; case is kept.
        case nfkc
        /// NFKC and case folding (the default): "The" and "the" are one token.
        case nfkcCasefold = "nfkc-casefold"
    }

    /// ICU locale for word breaking ("" or "root" = root rules, which already cover CJK and Thai).
    public var locale: String
    /// How segments are normalised.
    public var normalization: Normalization
    /// Keep punctuation and symbol segments as tokens (whitespace is always dropped).
    public var keepPunctuation: Bool
    /// Replace number tokens (digits without letters, e.g. `3.14`, `1,234`) by `<num>`.
    public var maskNumbers: Bool

    /// Settings with the same defaults as `default`.
    public init(
        locale: String = "root", normalization: Normalization = .nfkcCasefold,
        keepPunctuation: Bool = false, maskNumbers: Bool = false
    ) {
        self.locale = locale
        self.normalization = normalization
        self.keepPunctuation = keepPunctuation
        self.maskNumbers = maskNumbers
    }

    /// Root-locale word breaking, NFKC with case folding, punctuation dropped, numbers kept: the
    /// settings of the shipped vocabularies and of `heed` unless told otherwise.
    public static let `default` = TokenizerSettings()

    /// The token that replaces numbers when `maskNumbers` is on.
    public static let numberToken = "<num>"

    /// One line of `key=value` pairs, as written in vocabulary and count-file headers.
    public var headerFields: String {
        "tokenizer=icu-word locale=\(locale) normalization=\(normalization.rawValue) "
            + "punctuation=\(keepPunctuation ? "keep" : "drop") numbers=\(maskNumbers ? "mask" : "keep")"
    }

    /// Parses `headerFields`; unknown keys are ignored so later versions can add fields.
    public init(headerFields line: Substring) throws(HeedTextError) {
        var fields: [Substring: Substring] = [:]
        for pair in line.split(separator: " ") {
            guard let eq = pair.firstIndex(of: "=") else { continue }
            fields[pair[..<eq]] = pair[pair.index(after: eq)...]
        }
        func field(_ key: Substring) throws(HeedTextError) -> Substring {
            guard let value = fields[key] else { throw .malformedHeader("missing \(key)= in \"\(line)\"") }
            return value
        }
        guard try field("tokenizer") == "icu-word" else { throw .malformedHeader("unknown tokenizer in \"\(line)\"") }
        guard let normalization = Normalization(rawValue: String(try field("normalization"))) else {
            throw .malformedHeader("unknown normalization in \"\(line)\"")
        }
        let punctuation = try field("punctuation"), numbers = try field("numbers")
        guard punctuation == "keep" || punctuation == "drop", numbers == "keep" || numbers == "mask" else {
            throw .malformedHeader("bad punctuation= or numbers= in \"\(line)\"")
        }
        self.init(
            locale: String(try field("locale")), normalization: normalization,
            keepPunctuation: punctuation == "keep", maskNumbers: numbers == "mask")
    }

    /// Human-readable differences, for "vocabulary was built with other settings" errors.
    public func differences(from other: TokenizerSettings) -> [String] {
        var out: [String] = []
        if locale != other.locale { out.append("locale \(other.locale) vs \(locale)") }
        if normalization != other.normalization { out.append("normalization \(other.normalization.rawValue) vs \(normalization.rawValue)") }
        if keepPunctuation != other.keepPunctuation {
            out.append("punctuation \(other.keepPunctuation ? "keep" : "drop") vs \(keepPunctuation ? "keep" : "drop")")
        }
        if maskNumbers != other.maskNumbers { out.append("numbers \(other.maskNumbers ? "mask" : "keep") vs \(maskNumbers ? "mask" : "keep")") }
        return out
    }
}
