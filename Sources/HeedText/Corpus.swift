import CSV
import Foundation

/// Input formats Heed reads.
public enum CorpusFormat: String, CaseIterable, Codable, Sendable {
    /// `label<TAB>text`, one document per line (the default).
    case tsv
    /// CSV with a header row; label and text columns chosen by name.
    case csv
    /// One JSON object per line: `{"label": ..., "text": ...}`.
    case jsonl
    /// One unlabelled document per line.
    case text
    /// A folder with one sub-folder per label holding `.txt` files, one document each.
    case folder
}

/// Where and how to read a corpus: a file (or, for `folder`, a directory) or standard input.
public struct CorpusSource: Sendable {
    /// The file or directory; nil for standard input.
    public var url: URL? { path == "-" ? nil : URL(fileURLWithPath: path) }
    /// How the documents are laid out; guessed from the file name unless given.
    public var format: CorpusFormat
    /// The CSV column (header name) or JSON Lines field holding the label. When the file has no
    /// such column or field, its documents are unlabelled, which is enough for prediction.
    public var labelColumn: String
    /// The CSV column (header name) or JSON Lines field holding the text; it must be present.
    public var textColumn: String
    /// Documents over this many bytes are rejected with their line number (bounds memory).
    public var maxDocumentBytes: Int
    /// A file path, or "-" for standard input (readers take paths; messages name them).
    let path: String

    /// 16 MiB: far above any real document, low enough that a corrupt file cannot exhaust memory.
    public static let defaultMaxDocumentBytes = 16 << 20

    /// A corpus file (or a `folder` corpus's root); `format` defaults to a guess from the name.
    public init(
        _ url: URL, format: CorpusFormat? = nil, labelColumn: String = "label", textColumn: String = "text",
        maxDocumentBytes: Int = CorpusSource.defaultMaxDocumentBytes
    ) {
        self.init(path: url.path, format: format, labelColumn: labelColumn, textColumn: textColumn, maxDocumentBytes: maxDocumentBytes)
    }

    /// Documents read from standard input (not for CSV or folders, which need a file).
    public static func standardInput(format: CorpusFormat, maxDocumentBytes: Int = CorpusSource.defaultMaxDocumentBytes) -> CorpusSource {
        CorpusSource(path: "-", format: format, labelColumn: "label", textColumn: "text", maxDocumentBytes: maxDocumentBytes)
    }

    init(
        path: String, format: CorpusFormat? = nil, labelColumn: String = "label", textColumn: String = "text",
        maxDocumentBytes: Int = CorpusSource.defaultMaxDocumentBytes
    ) {
        self.path = path
        self.format = format ?? CorpusSource.guessFormat(path)
        self.labelColumn = labelColumn
        self.textColumn = textColumn
        self.maxDocumentBytes = maxDocumentBytes
    }

    /// From the extension or a directory; `.tsv` otherwise.
    public static func guessFormat(_ url: URL) -> CorpusFormat { guessFormat(url.path) }

    static func guessFormat(_ path: String) -> CorpusFormat {
        var isDirectory: ObjCBool = false
        if path != "-", FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return .folder }
        if path.hasSuffix(".csv") { return .csv }
        if path.hasSuffix(".jsonl") || path.hasSuffix(".ndjson") { return .jsonl }
        if path.hasSuffix(".txt") { return .text }
        return .tsv
    }

    var displayName: String { path == "-" ? "<stdin>" : path }
}

/// A document as read: its label (nil for unlabelled formats), its text as UTF-8 bytes (valid only
/// during the callback), and where it came from.
public struct DocumentView {
    /// The label, or nil for plain text and for CSV or JSON Lines without a label column.
    public let label: String?
    /// The text's UTF-8 bytes. They belong to the reader's buffer: copy them (or use `textString`)
    /// to keep them beyond the callback.
    public let text: UnsafeBufferPointer<UInt8>
    /// The 1-based line where the document starts (1 for a `folder` document), for messages.
    public let line: Int
    /// The text as a `String`, a copy that outlives the callback.
    public var textString: String { String(decoding: text, as: UTF8.self) }
}

/// A document held in memory.
public struct LabelledText: Hashable, Sendable, Codable {
    /// The class; nil for unlabelled text. Training and evaluation need one on every document.
    public var label: String?
    /// The document as written; the tokenizer's byte offsets refer to its UTF-8.
    public var text: String
    /// The line it was read from (0 for documents made in code); error messages name it.
    public var line: Int
    /// A document; `line` only serves error messages.
    public init(label: String?, text: String, line: Int = 0) { self.label = label; self.text = text; self.line = line }
}

/// Streams documents from any supported format. Blank lines are skipped; every other malformed
/// line stops reading with an error naming the file and line.
public struct CorpusReader {
    /// The corpus this reader reads.
    public let source: CorpusSource
    /// Called now and then with (bytes read, total bytes or nil).
    public var progress: ((Int, Int?) -> Void)?

    /// A reader of `source`; nothing is opened before `forEachDocument(_:)`.
    public init(_ source: CorpusSource) { self.source = source }

    /// Calls `body` with each document in file order, streaming: only the current document is in
    /// memory. Throwing from `body` stops reading.
    public func forEachDocument(_ body: (DocumentView) throws -> Void) throws {
        switch source.format {
        case .tsv:
            try readLines { line, number in
                guard let tab = line.firstIndex(of: 0x09) else { throw HeedTextError.missingTab(file: source.displayName, line: number) }
                let label = String(decoding: UnsafeBufferPointer(rebasing: line[..<tab]), as: UTF8.self)
                guard !label.isEmpty else { throw HeedTextError.emptyLabel(file: source.displayName, line: number) }
                try body(DocumentView(label: label, text: UnsafeBufferPointer(rebasing: line[(tab + 1)...]), line: number))
            }
        case .text:
            try readLines { line, number in
                try body(DocumentView(label: nil, text: line, line: number))
            }
        case .jsonl:
            try readLines { line, number in
                var (label, text) = try parseJSONLine(line, number)
                try text.withUTF8 { try body(DocumentView(label: label, text: $0, line: number)) }
            }
        case .csv: try readCSV(body)
        case .folder: try readFolder(body)
        }
    }

    /// All documents in memory.
    public func readAll() throws -> [LabelledText] {
        var out: [LabelledText] = []
        try forEachDocument { out.append(LabelledText(label: $0.label, text: $0.textString, line: $0.line)) }
        return out
    }

    private func readLines(_ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws {
        let reader = try LineReader(path: source.path, maxLineBytes: source.maxDocumentBytes)
        let total = reader.fileSize
        var sinceReport = 0
        do {
            try reader.forEachLine { line throws(HeedTextError) in
                if let bad = ICU.firstInvalidUTF8(line) {
                    throw .invalidUTF8(file: reader.displayName, line: reader.lineNumber, byteOffset: bad)
                }
                if Self.isBlank(line) { return }
                do { try body(line, reader.lineNumber) } catch let e as HeedTextError { throw e } catch {
                    throw .unreadable(reader.displayName, reason: "\(error)")
                }
                sinceReport += line.count
                if sinceReport > 1 << 20, let progress { sinceReport = 0; progress(reader.bytesRead, total) }
            }
        }
        if let progress { progress(reader.bytesRead, total) }
    }

    package static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        for b in line where b != 0x20 && b != 0x09 { return false }
        return true
    }

    private func parseJSONLine(_ line: UnsafeBufferPointer<UInt8>, _ number: Int) throws(HeedTextError) -> (String?, String) {
        let file = source.displayName
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed]) } catch {
            throw .badJSON(file: file, line: number, reason: "not valid JSON")
        }
        guard let dict = object as? [String: Any] else { throw .badJSON(file: file, line: number, reason: "expected a JSON object") }
        guard let text = dict[source.textColumn] as? String else {
            throw .badJSON(file: file, line: number, reason: "missing string field \"\(source.textColumn)\"")
        }
        guard let raw = dict[source.labelColumn] else { return (nil, text) }
        let label: String
        switch raw {
        case let s as String: label = s
        case let n as NSNumber: label = n.stringValue
        default: throw .badJSON(file: file, line: number, reason: "field \"\(source.labelColumn)\" must be a string or a number")
        }
        guard !label.isEmpty else { throw .emptyLabel(file: file, line: number) }
        return (label, text)
    }

    /// CSV via yaslab/CSV.swift (RFC 4180 quoting, multi-line fields). A streaming UTF-8 check runs
    /// first because the parser would otherwise stop silently at the first bad byte.
    private func readCSV(_ body: (DocumentView) throws -> Void) throws {
        let file = source.displayName
        guard source.path != "-" else { throw HeedTextError.badCSV(file: file, reason: "CSV cannot be read from standard input; save it to a file") }
        let validator = try LineReader(path: source.path, maxLineBytes: source.maxDocumentBytes)
        try validator.forEachLine { line throws(HeedTextError) in
            if let bad = ICU.firstInvalidUTF8(line) { throw .invalidUTF8(file: file, line: validator.lineNumber, byteOffset: bad) }
        }
        guard let stream = InputStream(fileAtPath: source.path) else { throw HeedTextError.fileNotFound(file) }
        let reader: CSVReader
        do { reader = try CSVReader(stream: stream, hasHeaderRow: true) } catch {
            throw HeedTextError.badCSV(file: file, reason: "cannot read the header row (the file needs a header naming its columns)")
        }
        let header = (reader.headerRow ?? []).map { $0.hasPrefix("\u{FEFF}") ? String($0.dropFirst()) : $0 }
        guard let textIndex = header.firstIndex(of: source.textColumn) else {
            throw HeedTextError.badCSV(
                file: file, reason: "no column named \"\(source.textColumn)\" in the header (\(header.joined(separator: ", "))); choose the text column")
        }
        let labelIndex = header.firstIndex(of: source.labelColumn)
        var line = 2
        while let row = reader.next() {
            let rowLine = line
            line += 1 + row.reduce(0) { $0 + $1.utf8.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
            if row.count == 1 && row[0].isEmpty { continue }
            guard row.count == header.count else {
                throw HeedTextError.badCSV(file: file, reason: "line \(rowLine): \(row.count) fields, the header has \(header.count)")
            }
            var label: String? = nil
            if let labelIndex {
                label = row[labelIndex]
                if label!.isEmpty { throw HeedTextError.emptyLabel(file: file, line: rowLine) }
            }
            var text = row[textIndex]
            try text.withUTF8 { try body(DocumentView(label: label, text: $0, line: rowLine)) }
        }
        // On Linux, Foundation's file InputStream reports bytes available at EOF, so CSV.swift ends
        // every file with `cannotReadFile`. The file was fully read above, so that one is the EOF.
        if let error = reader.error, !(error is CSVError && "\(error)" == "cannotReadFile") {
            throw HeedTextError.badCSV(file: file, reason: "\(error)")
        }
    }

    /// `root/<label>/*.txt`, labels and files in byte order so reading is deterministic.
    private func readFolder(_ body: (DocumentView) throws -> Void) throws {
        let fm = FileManager.default
        let root = source.path
        guard let labels = try? fm.contentsOfDirectory(atPath: root) else { throw HeedTextError.fileNotFound(root) }
        for label in labels.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) where !label.hasPrefix(".") {
            let dir = root + "/" + label
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let files = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
            for name in files.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) where name.hasSuffix(".txt") {
                let path = dir + "/" + name
                guard let data = fm.contents(atPath: path) else { throw HeedTextError.unreadable(path, reason: "cannot open") }
                guard data.count <= source.maxDocumentBytes else {
                    throw HeedTextError.documentTooLong(file: path, line: 1, bytes: data.count, limit: source.maxDocumentBytes)
                }
                var bytes = [UInt8](data)
                if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
                try bytes.withUnsafeBufferPointer { buffer in
                    if let bad = ICU.firstInvalidUTF8(buffer) {
                        let line = 1 + buffer[..<bad].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                        throw HeedTextError.invalidUTF8(file: path, line: line, byteOffset: bad)
                    }
                    try body(DocumentView(label: label, text: buffer, line: 1))
                }
            }
        }
    }
}
