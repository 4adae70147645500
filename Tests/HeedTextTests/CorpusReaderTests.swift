import Foundation
import Testing

@testable import HeedText

/// A scratch folder per test, removed afterwards.
final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "heed-test-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path + "/" + name
        let dir = (p as NSString).deletingLastPathComponent
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    func file(_ name: String, _ text: String) -> String { file(name, Array(text.utf8)) }
}

private func read(_ path: String, _ format: CorpusFormat? = nil, maxBytes: Int = CorpusSource.defaultMaxDocumentBytes) throws -> [LabelledText] {
    try CorpusReader(CorpusSource(path: path, format: format, maxDocumentBytes: maxBytes)).readAll()
}

private func expectError(_ expected: HeedTextError, _ body: () throws -> Void) {
    do { try body(); Issue.record("expected \(expected)") } catch let e as HeedTextError {
        #expect(e == expected)
        #expect(e.description.contains(":"))
    } catch { Issue.record("unexpected \(error)") }
}

@Suite struct TSVReading {
    @Test func plainBOMAndCRLF() throws {
        let s = Scratch()
        let p = s.file("a.tsv", [0xEF, 0xBB, 0xBF] + Array("pos\tgood film\r\nneg\tbad\tfilm\r\n\n   \nneg\t\n".utf8))
        let docs = try read(p)
        #expect(docs.map(\.label) == ["pos", "neg", "neg"])
        #expect(docs.map(\.text) == ["good film", "bad\tfilm", ""])  // only the first tab splits
        #expect(docs.map(\.line) == [1, 2, 5])
    }

    @Test func badLines() {
        let s = Scratch()
        let noTab = s.file("t.tsv", "pos\tok\njust text\n")
        expectError(.missingTab(file: noTab, line: 2)) { _ = try read(noTab) }
        let emptyLabel = s.file("e.tsv", "pos\tok\n\tno label\n")
        expectError(.emptyLabel(file: emptyLabel, line: 2)) { _ = try read(emptyLabel) }
        let badUTF8 = s.file("u.tsv", Array("pos\tok\nneg\tab".utf8) + [0xC3, 0x28] + Array("\n".utf8))
        expectError(.invalidUTF8(file: badUTF8, line: 2, byteOffset: 6)) { _ = try read(badUTF8) }
        expectError(.fileNotFound(s.path + "/missing.tsv")) { _ = try read(s.path + "/missing.tsv") }
        expectError(.unreadable(s.path, reason: "is a directory")) { _ = try read(s.path, .tsv) }
    }

    @Test func emptyFileHasNoDocuments() throws {
        let s = Scratch()
        #expect(try read(s.file("empty.tsv", "")).isEmpty)
    }

    @Test func longLinesAcrossBufferRefills() throws {
        // Lines straddle the reader's 1 MiB buffer many times; a 10 MB line is a document like any other.
        let s = Scratch()
        var text = ""
        for i in 0..<30_000 { text += "l\(i % 3)\tdocument number \(i) with some words\n" }
        let big = String(repeating: "word ", count: 2_000_000)
        text += "big\t\(big)\nlast\tend\n"
        let docs = try read(s.file("big.tsv", text))
        #expect(docs.count == 30_002)
        #expect(docs[29_999].text == "document number 29999 with some words")
        #expect(docs[30_000].text.utf8.count == 10_000_000)
        #expect(docs[30_001].line == 30_002)
    }

    @Test func documentLimitNamesTheLine() {
        let s = Scratch()
        let p = s.file("limit.tsv", "a\tshort\nb\t" + String(repeating: "x", count: 5000) + "\n")
        expectError(.documentTooLong(file: p, line: 2, bytes: 5002, limit: 1000)) { _ = try read(p, maxBytes: 1000) }
        let huge = s.file("huge.tsv", "a\tshort\nb\t" + String(repeating: "x", count: 3_000_000))
        do { _ = try read(huge, maxBytes: 1000); Issue.record("expected an error") } catch let e as HeedTextError {
            guard case .documentTooLong(_, let line, _, _) = e else { Issue.record("\(e)"); return }
            #expect(line == 2)
        } catch { Issue.record("\(error)") }
    }
}

@Suite struct OtherFormats {
    @Test func jsonl() throws {
        let s = Scratch()
        let p = s.file("a.jsonl", "{\"label\": \"pos\", \"text\": \"fine \\u00e9\"}\n{\"label\": 3, \"text\": \"x\"}\n")
        let docs = try read(p)
        #expect(docs.map(\.label) == ["pos", "3"])
        #expect(docs[0].text == "fine é")
        let bad = s.file("b.jsonl", "{\"label\": \"pos\", \"text\": \"ok\"}\n{\"label\": \"pos\"}\n")
        expectError(.badJSON(file: bad, line: 2, reason: "missing string field \"text\"")) { _ = try read(bad) }
        let broken = s.file("c.jsonl", "{\"label\": \"pos\", \"te\n")
        expectError(.badJSON(file: broken, line: 1, reason: "not valid JSON")) { _ = try read(broken) }
    }

    @Test func csvWithQuotesAndColumns() throws {
        let s = Scratch()
        let p = s.file("a.csv", [0xEF, 0xBB, 0xBF] + Array("id,sentiment,review\r\n1,pos,\"great, \"\"really\"\"\nfilm\"\r\n2,neg,bad\r\n".utf8))
        let docs = try CorpusReader(CorpusSource(path: p, labelColumn: "sentiment", textColumn: "review")).readAll()
        #expect(docs.map(\.label) == ["pos", "neg"])
        #expect(docs[0].text == "great, \"really\"\nfilm")
        #expect(docs[1].line == 4)
        expectError(.badCSV(file: p, reason: "no column named \"text\" in the header (id, sentiment, review); choose the text column")) {
            _ = try read(p)
        }
        let ragged = s.file("r.csv", "label,text\npos,ok\nneg,too,many\n")
        expectError(.badCSV(file: ragged, reason: "line 3: 3 fields, the header has 2")) { _ = try read(ragged) }
        let badUTF8 = s.file("u.csv", Array("label,text\npos,o".utf8) + [0xFF] + Array("k\n".utf8))
        expectError(.invalidUTF8(file: badUTF8, line: 2, byteOffset: 5)) { _ = try read(badUTF8) }
    }

    @Test func folderPerLabel() throws {
        let s = Scratch()
        _ = s.file("root/pos/b.txt", "nice")
        _ = s.file("root/pos/a.txt", [0xEF, 0xBB, 0xBF] + Array("good\nfilm".utf8))
        _ = s.file("root/neg/x.txt", "bad")
        _ = s.file("root/neg/notes.md", "ignored")
        let docs = try read(s.path + "/root")
        #expect(docs.map(\.label) == ["neg", "pos", "pos"])
        #expect(docs.map(\.text) == ["bad", "good\nfilm", "nice"])
    }

    @Test func plainText() throws {
        let s = Scratch()
        let docs = try read(s.file("a.txt", "one doc\ntwo\n"))
        #expect(docs.map(\.label) == [nil, nil])
        #expect(docs.map(\.text) == ["one doc", "two"])
    }
}
