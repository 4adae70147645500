import Foundation
import Testing

@testable import HeedText

/// The text of each sentence (sliced by its byte range) and its tokens' texts.
private func split(_ text: String, _ settings: TokenizerSettings = .default) throws -> [(text: String, tokens: [String])] {
    let tokens = try Tokenizer(settings: settings).tokenize(text)
    let sentences = try SentenceSegmenter(locale: settings.locale).sentences(text, tokens: tokens)
    checkSentences(sentences, tokenRanges: tokens.map(\.range), textLength: text.utf8.count)
    let bytes = Array(text.utf8)
    return sentences.map { (String(decoding: bytes[$0.range], as: UTF8.self), tokens[$0.tokens].map(\.text)) }
}

/// The grouping's promises: sentences cover the text without gaps or overlaps, each holds at
/// least one token, the token ranges are consecutive and cover every token, and each token lies
/// inside its sentence's byte range.
private func checkSentences(
    _ sentences: [Sentence], tokenRanges: [Range<Int>], textLength: Int, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard !tokenRanges.isEmpty else {
        #expect(sentences.isEmpty, sourceLocation: sourceLocation)
        return
    }
    #expect(sentences.first?.range.lowerBound == 0 && sentences.last?.range.upperBound == textLength, sourceLocation: sourceLocation)
    #expect(sentences.first?.tokens.lowerBound == 0 && sentences.last?.tokens.upperBound == tokenRanges.count, sourceLocation: sourceLocation)
    for (i, s) in sentences.enumerated() {
        #expect(!s.tokens.isEmpty && !s.range.isEmpty, "\(s)", sourceLocation: sourceLocation)
        if i > 0 {
            #expect(s.range.lowerBound == sentences[i - 1].range.upperBound, sourceLocation: sourceLocation)
            #expect(s.tokens.lowerBound == sentences[i - 1].tokens.upperBound, sourceLocation: sourceLocation)
        }
        for t in s.tokens {
            #expect(s.range.contains(tokenRanges[t].lowerBound) && tokenRanges[t].upperBound <= s.range.upperBound, sourceLocation: sourceLocation)
        }
    }
}

@Suite struct SentenceTests {
    @Test func english() throws {
        let s = try split("The cat sat. Did it? Yes! It did.")
        #expect(s.map(\.text) == ["The cat sat. ", "Did it? ", "Yes! ", "It did."])
        #expect(s.map(\.tokens) == [["the", "cat", "sat"], ["did", "it"], ["yes"], ["it", "did"]])
    }

    /// CLDR's suppressions keep "Mr. Smith" together; "Dr." is not on CLDR's English list (it also
    /// abbreviates "Drive", which can end a sentence), so ICU ends a sentence after it. Numbers,
    /// "e.g." and a lower-case continuation never end one (UAX #29 rules SB6–SB8).
    @Test func abbreviations() throws {
        #expect(try split("Mr. Smith went to Washington. He left.").map(\.text) == ["Mr. Smith went to Washington. ", "He left."])
        #expect(try split("Prof. Brown vs. Mrs. Green.").count == 1)
        #expect(try split("Dr. Smith is here.").map(\.text) == ["Dr. ", "Smith is here."])
        #expect(try split("Pi is 3.14 today, e.g. in class. ok").map(\.text) == ["Pi is 3.14 today, e.g. in class. ok"])
    }

    @Test func noTerminalPunctuation() throws {
        #expect(try split("no punctuation here at all").map(\.text) == ["no punctuation here at all"])
        #expect(try split("First one. then lower case").count == 1)
        #expect(try split("First one. Second without end").map(\.tokens) == [["first", "one"], ["second", "without", "end"]])
    }

    @Test func emptyAndWhitespace() throws {
        #expect(try split("").isEmpty)
        #expect(try split("   \n\t  ").isEmpty)
        #expect(try split("!!! ... ?").isEmpty)  // punctuation only: no token, no sentence
        #expect(try SentenceSegmenter(locale: "root").boundaries(UnsafeBufferPointer(start: nil, count: 0)).isEmpty)
    }

    /// Segments without a token join the sentence before them (or after them at the start).
    @Test func tokenlessSegmentsJoinANeighbour() throws {
        #expect(try split("Hello there. !!! Bye now.").map(\.text) == ["Hello there. !!! ", "Bye now."])
        #expect(try split("?! Hello. Bye.").map(\.text) == ["?! Hello. ", "Bye."])
        #expect(try split("  Leading spaces. Trailing ones.   ").map(\.text) == ["  Leading spaces. ", "Trailing ones.   "])
    }

    /// Paragraph separators end a sentence; ICU keeps the newline with the sentence before it.
    @Test func newlines() throws {
        #expect(try split("a title\nThe body text.").map(\.text) == ["a title\n", "The body text."])
    }

    @Test func chinese() throws {
        let s = try split("我们今天去北京大学参观。天气很好！你呢？好")
        #expect(s.map(\.text) == ["我们今天去北京大学参观。", "天气很好！", "你呢？", "好"])
        #expect(s[0].tokens == ["我们", "今天", "去", "北京", "大学", "参观"])
        // A locale without CLDR suppressions (zh) and one with them (de) open and split alike here.
        for locale in ["zh", "de"] {
            #expect(try split("我们今天去北京大学参观。天气很好！你呢？好", TokenizerSettings(locale: locale)).map(\.text) == s.map(\.text))
        }
    }

    /// A boundary strictly inside a token is dropped, merging its two sentences; boundaries at a
    /// token's edges are kept.
    @Test func tokenStraddlingABoundary() {
        let tokens = [0..<5, 6..<12, 13..<15, 16..<20]
        let merged = Sentence.group(tokenRanges: tokens, boundaries: [8, 13, 20], textLength: 20)
        #expect(merged == [Sentence(range: 0..<13, tokens: 0..<2), Sentence(range: 13..<20, tokens: 2..<4)])
        checkSentences(merged, tokenRanges: tokens, textLength: 20)
        let edges = Sentence.group(tokenRanges: tokens, boundaries: [5, 12, 16, 20], textLength: 20)
        #expect(edges.map(\.tokens) == [0..<1, 1..<2, 2..<3, 3..<4])
        #expect(edges.map(\.range) == [0..<5, 5..<12, 12..<16, 16..<20])
        // Every boundary inside a token: one sentence.
        let one = Sentence.group(tokenRanges: tokens, boundaries: [3, 7, 14, 20], textLength: 20)
        #expect(one == [Sentence(range: 0..<20, tokens: 0..<4)])
        // Leading and trailing token-less segments.
        let padded = Sentence.group(tokenRanges: [4..<6, 10..<11], boundaries: [2, 4, 8, 9, 12, 14], textLength: 14)
        #expect(padded == [Sentence(range: 0..<9, tokens: 0..<1), Sentence(range: 9..<14, tokens: 1..<2)])
        #expect(Sentence.group(tokenRanges: [], boundaries: [3, 7], textLength: 7).isEmpty)
    }

    /// Every document of the shipped corpora (English and Chinese): the grouping's promises hold,
    /// and every sentence's bytes are whole UTF-8 (it slices back to text).
    @Test(arguments: shippedCorpora)
    func shippedCorpus(name: String) throws {
        let tokenizer = try Tokenizer(), segmenter = try SentenceSegmenter(locale: "root")
        var documents = 0, sentences = 0, multi = 0
        try CorpusReader(CorpusSource(path: "\(repositoryRoot)/corpora/\(name)/train.tsv")).forEachDocument { doc in
            documents += 1
            var ranges: [Range<Int>] = []
            tokenizer.forEachToken(in: doc.text) { _, s, e in ranges.append(s..<e) }
            let found = segmenter.sentences(doc.text, tokenRanges: ranges)
            checkSentences(found, tokenRanges: ranges, textLength: doc.text.count)
            for s in found {
                let slice = UnsafeBufferPointer(rebasing: doc.text[s.range])
                #expect(ICU.firstInvalidUTF8(slice) == nil)
            }
            sentences += found.count
            if found.count > 1 { multi += 1 }
        }
        #expect(documents > 0 && multi > 0)
        print("\(name): \(documents) documents, \(sentences) sentences, \(multi) with more than one")
    }
}
