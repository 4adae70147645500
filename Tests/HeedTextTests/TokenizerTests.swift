import Testing

@testable import HeedText

private func words(_ text: String, _ settings: TokenizerSettings = .default) throws -> [String] {
    try Tokenizer(settings: settings).tokenize(text).map(\.text)
}

/// Slicing the original UTF-8 by each token's range must give its surface form, and ranges must
/// be ordered and non-overlapping.
func checkOffsets(_ text: String, _ tokens: [Token], settings: TokenizerSettings) {
    let bytes = Array(text.utf8)
    var previousEnd = 0
    for token in tokens {
        #expect(token.range.lowerBound >= previousEnd && token.range.upperBound <= bytes.count)
        previousEnd = token.range.upperBound
        let surface = String(decoding: bytes[token.range], as: UTF8.self)
        if token.text != TokenizerSettings.numberToken {
            let expected = settings.normalization == .nfkcCasefold ? nil : surface
            if let expected { #expect(token.text == expected || settings.normalization == .nfkc) }
            #expect(!surface.isEmpty)
        }
    }
}

@Suite struct EnglishTokenization {
    @Test func contractionsAndCase() throws {
        #expect(try words("Don't STOP, it's fine.") == ["don't", "stop", "it's", "fine"])
        #expect(try words("Don’t") == ["don’t"])  // typographic apostrophe is MidNumLet too
    }

    @Test func numbers() throws {
        #expect(try words("pi is 3.14 and 1,234.56 items") == ["pi", "is", "3.14", "and", "1,234.56", "items"])
        let masked = TokenizerSettings(maskNumbers: true)
        #expect(try words("pi is 3.14 and 1,234.56 items, a1b2", masked) == ["pi", "is", "<num>", "and", "<num>", "items", "a1b2"])
        #expect(try words("the ½ of ٣٤ 0__", masked) == ["the", "of", "<num>", "<num>"])  // ½ is a symbol to ICU
    }

    @Test func urlsAndHyphens() throws {
        #expect(try words("see https://example.com/a?b=1 now") == ["see", "https", "example.com", "a", "b", "1", "now"])
        #expect(try words("a well-known e.g. U.S.A. case") == ["a", "well", "known", "e.g", "u.s.a", "case"])
        #expect(try words("foo_bar __init__ _ __") == ["foo_bar", "__init__", "__"])  // as ICU: a lone _ is punctuation
        #expect(try words("mail me@example.org @heed") == ["mail", "me@example.org", "@heed"])  // ICU 72: '@' is a letter
    }

    @Test func punctuationKeptOnRequest() throws {
        let keep = TokenizerSettings(keepPunctuation: true)
        #expect(try words("Wow!! (really?)", keep) == ["wow", "!", "!", "(", "really", "?", ")"])
        #expect(try words("Wow!! (really?)") == ["wow", "really"])
        #expect(try words("a — b", keep) == ["a", "—", "b"])
    }

    @Test func emojiWithSkinTonesAndZWJ() throws {
        let text = "great 👍🏽 family 👨‍👩‍👧 ❤️!"
        let tokens = try Tokenizer().tokenize(text)
        #expect(tokens.map(\.text) == ["great", "👍🏽", "family", "👨‍👩‍👧", "❤️"])
        checkOffsets(text, tokens, settings: .default)
    }

    @Test func normalizationModes() throws {
        #expect(try words("Ｆｕｌｌ Straße ﬁne") == ["full", "strasse", "fine"])
        #expect(try words("Ｆｕｌｌ Straße", .init(normalization: .nfkc)) == ["Full", "Straße"])
        #expect(try words("Ｆｕｌｌ Straße", .init(normalization: .none)) == ["Ｆｕｌｌ", "Straße"])
    }

    @Test func emptyAndPunctuationOnly() throws {
        #expect(try words("").isEmpty)
        #expect(try words("   \t ").isEmpty)
        #expect(try words("?!... --- ()").isEmpty)
        #expect(try words("?!", .init(keepPunctuation: true)) == ["?", "!"])
    }
}

@Suite struct OtherScripts {
    @Test func chineseDictionarySegmentation() throws {
        #expect(try words("我们今天去北京大学参观") == ["我们", "今天", "去", "北京", "大学", "参观"])
        let text = "这部电影很好看！"
        let tokens = try Tokenizer().tokenize(text)
        #expect(tokens.map(\.text) == ["这", "部", "电影", "很好", "看"])  // ICU 72 cjdict
        checkOffsets(text, tokens, settings: .default)
    }

    @Test func japanese() throws {
        #expect(try words("東京に行きました") == ["東京", "に", "行き", "ま", "した"])
        #expect(try words("カタカナ テスト") == ["カタカナ", "テスト"])
    }

    @Test func thai() throws {
        #expect(try words("ผมไปโรงเรียน") == ["ผม", "ไป", "โรงเรียน"])
    }

    @Test func mixedScripts() throws {
        let text = "iPhone很好用, Café au lait! Привет мир 123"
        let tokens = try Tokenizer().tokenize(text)
        #expect(tokens.map(\.text) == ["iphone", "很好", "用", "café", "au", "lait", "привет", "мир", "123"])
        checkOffsets(text, tokens, settings: .default)
    }

    @Test func invalidUTF8NeverCrashesAndKeepsOffsets() throws {
        let bytes: [UInt8] = Array("ab".utf8) + [0xFF, 0xC3] + Array(" cd é".utf8) + [0xE2, 0x82]
        let tokens = try bytes.withUnsafeBufferPointer { try Tokenizer().tokenize(bytes: $0) }
        #expect(tokens.map(\.text) == ["ab", "cd", "é"])
        for t in tokens { #expect(t.range.upperBound <= bytes.count) }
        #expect(bytes[tokens[1].range] == Array("cd".utf8)[...])
    }

    @Test func unknownLocaleStillOpens() throws {
        // ICU falls back to root rules for locales it does not know; that is not an error.
        #expect(try words("hello world", .init(locale: "xx_YY")) == ["hello", "world"])
    }
}

/// The ASCII fast path (and its splicing with ICU around non-ASCII stretches) must agree with ICU
/// exactly; random strings over the characters the word rules care about.
@Test(arguments: [TokenizerSettings.default, .init(keepPunctuation: true, maskNumbers: true), .init(normalization: .none)])
func asciiFastPathMatchesICUOnRandomText(settings: TokenizerSettings) throws {
    let alphabet = Array("aZ09_.',;:-@ \t\r\n!?\"()/$%x#&+") + ["é", "中", "文", "\u{301}", "\u{200D}", "👍", "\u{A0}", "ไ", "ก", "Ａ", "’", "\u{1F3FD}"]
    var rng = SystemRandomNumberGenerator()
    let fast = try Tokenizer(settings: settings)
    let icu = try Tokenizer(settings: settings)
    icu.alwaysUseICU = true
    for round in 0..<4000 {
        let length = Int.random(in: 0..<24, using: &rng)
        let pool = round % 2 == 0 ? alphabet.prefix(30) : alphabet[...]  // half pure ASCII
        let text = String((0..<length).map { _ in pool.randomElement(using: &rng)! })
        let a = fast.tokenize(text), b = icu.tokenize(text)
        #expect(a == b, "\(text.debugDescription)")
        if a != b { break }
    }
}
