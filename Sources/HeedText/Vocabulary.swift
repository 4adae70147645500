import Foundation
import HeedIO

/// Raw token and label counts for one corpus or shard. Count files merge by addition, so counting
/// shards separately and merging gives exactly the counts of the whole corpus.
public struct TokenCounts: Sendable {
    /// The tokenizer settings the text was counted with; only counts with equal settings merge.
    public let settings: TokenizerSettings
    fileprivate var table = ByteTable(capacity: 1 << 14)
    fileprivate var counts: [Int] = []
    /// Documents per label (unlabelled documents are not in it).
    public private(set) var labelCounts: [String: Int] = [:]
    /// The labels in byte order: the order of a model's classes.
    public var labelsInClassOrder: [String] { labelCounts.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } }
    /// Documents counted, labelled or not.
    public private(set) var documents = 0
    /// Tokens counted, repeats included.
    public private(set) var tokens = 0

    /// Empty counts for text tokenized with `settings`.
    public init(settings: TokenizerSettings) { self.settings = settings }

    /// How many different tokens were counted.
    public var distinctTokens: Int { table.count }

    /// Counts one occurrence of a normalised token, given as the bytes
    /// `Tokenizer.forEachToken(in:_:)` hands over.
    @inline(__always)
    public mutating func add(token: UnsafeBufferPointer<UInt8>) {
        let (id, inserted) = table.insert(token)
        if inserted { counts.append(1) } else { counts[id] += 1 }
        tokens += 1
    }

    /// Counts one document and its label, if any (its tokens go through `add(token:)`).
    public mutating func addDocument(label: String?) {
        documents += 1
        if let label { labelCounts[label, default: 0] += 1 }
    }

    /// Tokenizes and counts every document of `source`.
    public mutating func count(_ source: CorpusSource, tokenizer: Tokenizer, progress: ((Int, Int?) -> Void)? = nil) throws {
        var reader = CorpusReader(source)
        reader.progress = progress
        var copy = self
        try reader.forEachDocument { doc in
            copy.addDocument(label: doc.label)
            tokenizer.forEachToken(in: doc.text) { token, _, _ in copy.add(token: token) }
        }
        self = copy
    }

    /// Adds `other`'s counts, as if its documents had been counted here; fails with
    /// `HeedTextError.settingsMismatch` when it was counted with other tokenizer settings.
    public mutating func merge(_ other: TokenCounts) throws(HeedTextError) {
        let diff = settings.differences(from: other.settings)
        guard diff.isEmpty else { throw .settingsMismatch(file: "count file", differences: diff) }
        for id in 0..<other.table.count {
            let n = other.counts[id]
            other.table.key(id).withUnsafeBufferPointer { key in
                let (mine, inserted) = table.insert(key)
                if inserted { counts.append(n) } else { counts[mine] += n }
            }
        }
        for (label, n) in other.labelCounts { labelCounts[label, default: 0] += n }
        documents += other.documents
        tokens += other.tokens
    }

    /// How often the normalised `token` was counted (0 if never).
    public func count(of token: String) -> Int { table.find(token).map { counts[$0] } ?? 0 }

    /// (token bytes, count) for every token, in byte order (the count file's order).
    fileprivate func sortedEntries(by order: (Int, Int) -> Bool) -> [Int] {
        (0..<table.count).sorted(by: order)
    }

    fileprivate func bytesLess(_ a: Int, _ b: Int) -> Bool {
        table.key(a).lexicographicallyPrecedes(table.key(b))
    }

    // MARK: File format

    static let magic = "# heed counts v1"

    /// `# heed counts v1<TAB>settings<TAB>documents=N<TAB>tokens=N`, `# label<TAB>name<TAB>count`
    /// lines, then `token<TAB>count` in byte order.
    public func serialized() throws(HeedTextError) -> [UInt8] {
        var out = Array("\(Self.magic)\t\(settings.headerFields)\tdocuments=\(documents)\ttokens=\(tokens)\n".utf8)
        try appendLabels(labelCounts, to: &out)
        for id in sortedEntries(by: bytesLess) {
            out.append(contentsOf: table.key(id))
            out.append(contentsOf: "\t\(counts[id])\n".utf8)
        }
        return out
    }

    /// Writes the counts atomically (a `vocab merge` input).
    public func write(to url: URL) throws(HeedTextError) { try writeAtomically(try serialized(), to: url) }

    /// Counts written by `write(to:)`.
    public static func load(_ url: URL) throws -> TokenCounts {
        try parse(VocabularyFileParser(path: url.path, magic: magic), path: url.path)
    }

    /// Counts from serialized bytes (e.g. another process's `serialized()`); `name` appears in errors.
    public static func load(bytes: [UInt8], name: String) throws -> TokenCounts {
        try parse(VocabularyFileParser(bytes: bytes, name: name, magic: magic), path: name)
    }

    private static func parse(_ parsed: VocabularyFileParser, path: String) throws -> TokenCounts {
        var counts = TokenCounts(settings: parsed.settings)
        counts.documents = parsed.number("documents") ?? 0
        counts.tokens = parsed.number("tokens") ?? 0
        counts.labelCounts = Dictionary(parsed.labelCounts, uniquingKeysWith: +)
        try parsed.forEachEntry { token, n, line throws(HeedTextError) in
            let (_, inserted) = counts.table.insert(token)
            guard inserted else { throw .malformedVocabulary(file: path, line: line, reason: "token appears twice") }
            counts.counts.append(n)
        }
        return counts
    }
}

/// `HeedIO`'s atomic write, failing with this module's error type.
func writeAtomically(_ bytes: [UInt8], to url: URL) throws(HeedTextError) {
    do { try AtomicWriter.write(bytes, to: url.path) } catch { throw .writeFailed(error.path, reason: error.reason) }
}

private func appendLabels(_ labels: [String: Int], to out: inout [UInt8]) throws(HeedTextError) {
    for label in labels.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
        guard !label.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" }) else {
            throw .malformedHeader("label \(label.debugDescription) contains a tab or line break")
        }
        out.append(contentsOf: "# label\t\(label)\t\(labels[label]!)\n".utf8)
    }
}

/// Token ↔ id mapping built from training data only. Ids: `<pad>` = 0, `<unk>` = 1, then tokens
/// by count descending, ties by token bytes ascending, so the same data always gives the same ids.
public struct Vocabulary: Sendable {
    /// The two reserved tokens: `<pad>` fills a batch's shorter documents up to the longest, and
    /// `<unk>` stands for every token outside the vocabulary.
    public static let pad = "<pad>", unknown = "<unk>"
    /// The ids of `pad` (0) and `unknown` (1), the first two entries of every vocabulary.
    public static let padID: Int32 = 0, unknownID: Int32 = 1

    /// The tokenizer settings of the training data: text must be tokenized with them for its ids
    /// to mean anything.
    public let settings: TokenizerSettings
    /// Tokens counted fewer times than this in training were left to `<unk>`.
    public let minCount: Int
    /// The most ids it may hold, `<pad>` and `<unk>` included.
    public let maxSize: Int
    /// Labels seen in training with their document counts, in byte order (the model's class order).
    public let labels: [String]
    /// Training documents per label, parallel to `labels` (zeros for a vocabulary taken from a
    /// model file, which does not record them).
    public let labelCounts: [Int]
    /// Training documents counted (0 for a vocabulary taken from a model file).
    public let documents: Int
    /// Tokens counted in training (including those that fell to `<unk>`).
    public let trainingTokens: Int
    private var table = ByteTable()
    private var counts: [Int] = []

    /// The number of ids, `<pad>` and `<unk>` included.
    public var count: Int { table.count }

    /// The token with id `id`, in `0..<count`.
    public func token(_ id: Int) -> String { table.string(id) }
    /// How often the token with id `id` was counted in training; for `<unk>`, how many tokens it
    /// replaced (0 throughout for a vocabulary taken from a model file).
    public func tokenCount(_ id: Int) -> Int { counts[id] }

    /// The id of a normalised token's bytes; `<unk>` when absent.
    @inline(__always)
    public func id(of token: UnsafeBufferPointer<UInt8>) -> Int32 {
        table.find(token).map { Int32($0) } ?? Self.unknownID
    }

    /// The id of a normalised token (e.g. "the", not "The", under case folding); `<unk>` when
    /// absent.
    public func id(of token: String) -> Int32 { table.find(token).map { Int32($0) } ?? Self.unknownID }

    /// The class index of `label` (its position in `labels`); nil for a label not seen in training.
    public func labelIndex(_ label: String) -> Int? { labels.firstIndex(of: label) }

    /// Keeps the tokens counted at least `minCount` times, most frequent first, up to `maxSize` ids
    /// in all; the labels are those of the counted documents.
    public init(counts source: TokenCounts, minCount: Int = 2, maxSize: Int = 30000) {
        settings = source.settings
        self.minCount = minCount
        self.maxSize = max(2, maxSize)
        labels = source.labelsInClassOrder
        labelCounts = labels.map { source.labelCounts[$0]! }
        documents = source.documents
        trainingTokens = source.tokens
        let kept = (0..<source.table.count).filter { source.counts[$0] >= minCount }.sorted { a, b in
            let ca = source.counts[a], cb = source.counts[b]
            return ca != cb ? ca > cb : source.bytesLess(a, b)
        }.prefix(self.maxSize - 2)
        table.insert(Self.pad)
        table.insert(Self.unknown)
        counts = [0, 0]
        var keptTotal = 0
        for id in kept {
            source.table.key(id).withUnsafeBufferPointer { _ = table.insert($0) }
            counts.append(source.counts[id])
            keptTotal += source.counts[id]
        }
        counts[1] = source.tokens - keptTotal
    }

    /// Builds a vocabulary by counting `sources` with `tokenizer`.
    public static func build(
        from sources: [CorpusSource], tokenizer: Tokenizer, minCount: Int = 2, maxSize: Int = 30000,
        progress: ((Int, Int?) -> Void)? = nil
    ) throws -> Vocabulary {
        var counts = TokenCounts(settings: tokenizer.settings)
        for source in sources { try counts.count(source, tokenizer: tokenizer, progress: progress) }
        return Vocabulary(counts: counts, minCount: minCount, maxSize: maxSize)
    }

    /// The one way text becomes model input, shared by training, evaluation and prediction so
    /// they cannot drift apart: the ids of the first `maxLength` tokens (unknown tokens map to
    /// `<unk>`), each kept token also handed to `kept` with its UTF-8 byte range in `text`.
    public func ids(
        of text: UnsafeBufferPointer<UInt8>, tokenizer: Tokenizer, maxLength: Int = .max,
        kept: ((_ token: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Void)? = nil
    ) -> [Int32] {
        var out: [Int32] = []
        tokenizer.forEachToken(in: text) { token, start, end in
            guard out.count < maxLength else { return }
            out.append(id(of: token))
            kept?(token, start, end)
        }
        return out
    }

    /// `ids(of:tokenizer:maxLength:kept:)` for a `String`.
    public func ids(
        of text: String, tokenizer: Tokenizer, maxLength: Int = .max,
        kept: ((_ token: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Void)? = nil
    ) -> [Int32] {
        var text = text
        return text.withUTF8 { ids(of: $0, tokenizer: tokenizer, maxLength: maxLength, kept: kept) }
    }

    /// Share of training tokens covered by the vocabulary (not `<unk>`).
    public var coverage: Double { trainingTokens == 0 ? 0 : Double(trainingTokens - counts[1]) / Double(trainingTokens) }

    // MARK: File format

    static let magic = "# heed vocabulary v1"

    /// Header line with tokenizer settings and build options, one `# label` line per label, then
    /// `token<TAB>count` in id order (`<pad>`, `<unk>` first; `<unk>`'s count is the tokens it replaced).
    public func serialized() throws(HeedTextError) -> [UInt8] {
        var out = Array(
            "\(Self.magic)\t\(settings.headerFields)\tmin-count=\(minCount)\tmax-size=\(maxSize)\tdocuments=\(documents)\ttokens=\(trainingTokens)\n".utf8)
        try appendLabels(Dictionary(uniqueKeysWithValues: zip(labels, labelCounts)), to: &out)
        for id in 0..<table.count {
            out.append(contentsOf: table.key(id))
            out.append(contentsOf: "\t\(counts[id])\n".utf8)
        }
        return out
    }

    /// Writes the vocabulary file atomically.
    public func write(to url: URL) throws(HeedTextError) { try writeAtomically(try serialized(), to: url) }

    /// Loads a vocabulary; when `expecting` is given, settings must match it exactly.
    public static func load(_ url: URL, expecting expected: TokenizerSettings? = nil) throws -> Vocabulary {
        let path = url.path
        let parsed = try VocabularyFileParser(path: path, magic: magic)
        if let expected {
            let diff = expected.differences(from: parsed.settings)
            guard diff.isEmpty else { throw HeedTextError.settingsMismatch(file: path, differences: diff) }
        }
        var vocabulary = Vocabulary(
            settings: parsed.settings, minCount: parsed.number("min-count") ?? 1,
            maxSize: parsed.number("max-size") ?? Int.max, labelCounts: parsed.labelCounts,
            documents: parsed.number("documents") ?? 0, tokens: parsed.number("tokens") ?? 0)
        try parsed.forEachEntry { token, n, line throws(HeedTextError) in
            let (id, inserted) = vocabulary.table.insert(token)
            guard inserted else { throw .malformedVocabulary(file: path, line: line, reason: "token appears twice") }
            if id == 0 && !token.elementsEqual(pad.utf8) || id == 1 && !token.elementsEqual(unknown.utf8) {
                throw .malformedVocabulary(file: path, line: line, reason: "the first entries must be \(pad) and \(unknown)")
            }
            vocabulary.counts.append(n)
        }
        guard vocabulary.table.count >= 2 else { throw HeedTextError.malformedVocabulary(file: path, line: 1, reason: "no entries") }
        return vocabulary
    }

    private init(settings: TokenizerSettings, minCount: Int, maxSize: Int, labelCounts: [(String, Int)], documents: Int, tokens: Int) {
        self.settings = settings
        self.minCount = minCount
        self.maxSize = maxSize
        labels = labelCounts.map(\.0)
        self.labelCounts = labelCounts.map(\.1)
        self.documents = documents
        trainingTokens = tokens
    }

    /// The same tokens and ids with the labels (and their document counts) of `source`: a
    /// vocabulary built from unlabelled text names no labels, so training takes TRAIN's.
    public func labelled(by source: TokenCounts) -> Vocabulary {
        var out = Vocabulary(
            settings: settings, minCount: minCount, maxSize: maxSize, labelCounts: source.labelsInClassOrder.map { ($0, source.labelCounts[$0]!) },
            documents: documents, tokens: trainingTokens)
        out.table = table
        out.counts = counts
        return out
    }

    /// A vocabulary from explicit tokens (ids 2...), for models loaded from a file.
    package init(settings: TokenizerSettings, tokens: [String], labels: [String]) {
        self.init(settings: settings, minCount: 1, maxSize: tokens.count + 2, labelCounts: labels.map { ($0, 0) }, documents: 0, tokens: 0)
        table.insert(Self.pad)
        table.insert(Self.unknown)
        counts = [0, 0]
        for t in tokens { table.insert(t); counts.append(0) }
    }

    /// Every token in id order (including `<pad>` and `<unk>`).
    public var allTokens: [String] { (0..<table.count).map(token) }
}

/// Shared reader for count and vocabulary files.
struct VocabularyFileParser {
    let path: String
    let settings: TokenizerSettings
    private var fields: [Substring: Int] = [:]
    private(set) var labelCounts: [(String, Int)] = []
    private let lines: [ArraySlice<UInt8>]
    private var firstEntry = 1

    init(path: String, magic: String) throws {
        let reader = try LineReader(path: path)
        var lines: [ArraySlice<UInt8>] = []
        try reader.forEachLine { line throws(HeedTextError) in
            if let bad = ICU.firstInvalidUTF8(line) { throw .invalidUTF8(file: path, line: reader.lineNumber, byteOffset: bad) }
            lines.append(ArraySlice(line))
        }
        try self.init(lines: lines, path: path, magic: magic)
    }

    /// Parses a file's bytes held in memory; `name` stands for the path in messages.
    init(bytes: [UInt8], name: String, magic: String) throws {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        for (i, line) in lines.enumerated() {
            if let bad = line.withUnsafeBufferPointer({ ICU.firstInvalidUTF8($0) }) {
                throw HeedTextError.invalidUTF8(file: name, line: i + 1, byteOffset: bad)
            }
        }
        try self.init(lines: lines, path: name, magic: magic)
    }

    private init(lines: [ArraySlice<UInt8>], path: String, magic: String) throws {
        self.path = path
        self.lines = lines
        guard let header = lines.first.map({ String(decoding: $0, as: UTF8.self) }), header.hasPrefix(magic + "\t") else {
            throw HeedTextError.malformedVocabulary(
                file: path, line: 1, reason: "not a Heed file of this kind (expected a first line starting with \"\(magic)\")")
        }
        let parts = header.split(separator: "\t")
        do { settings = try TokenizerSettings(headerFields: parts.count > 1 ? parts[1] : "") } catch {
            throw HeedTextError.malformedVocabulary(file: path, line: 1, reason: error.description)
        }
        for part in parts.dropFirst(2) {
            if let eq = part.firstIndex(of: "="), let n = Int(part[part.index(after: eq)...]) { fields[part[..<eq]] = n }
        }
        while firstEntry < lines.count, lines[firstEntry].starts(with: "# label\t".utf8) {
            let cols = String(decoding: lines[firstEntry], as: UTF8.self).split(separator: "\t", omittingEmptySubsequences: false)
            guard cols.count == 3, let n = Int(cols[2]), !cols[1].isEmpty else {
                throw HeedTextError.malformedVocabulary(file: path, line: firstEntry + 1, reason: "expected \"# label<TAB>name<TAB>count\"")
            }
            labelCounts.append((String(cols[1]), n))
            firstEntry += 1
        }
    }

    func number(_ key: Substring) -> Int? { fields[key] }

    func forEachEntry(_ body: (UnsafeBufferPointer<UInt8>, Int, Int) throws(HeedTextError) -> Void) throws(HeedTextError) {
        for index in firstEntry..<lines.count {
            let line = lines[index]
            guard let tab = line.lastIndex(of: 0x09), let n = Int(String(decoding: line[(tab + 1)...], as: UTF8.self)), n >= 0 else {
                throw .malformedVocabulary(file: path, line: index + 1, reason: "expected token<TAB>count")
            }
            try line[..<tab].withUnsafeBufferPointer { token throws(HeedTextError) in
                guard !token.isEmpty else { throw .malformedVocabulary(file: path, line: index + 1, reason: "empty token") }
                try body(token, n, index + 1)
            }
        }
    }
}
