import HeedText

/// A document as token ids, ready for batching.
public struct EncodedDocument: Sendable {
    public var ids: [Int32]
    public var label: Int
    /// Line in the source file, for messages.
    public var line: Int
}

/// Errors in the training and evaluation path, with what to do about them.
public enum HeedError: Error, CustomStringConvertible, Sendable {
    case unknownLabel(file: String, line: Int, label: String, known: [String])
    case missingLabel(file: String, line: Int)
    case noUsableDocuments(String)
    case tooFewClasses(String, found: [String])
    case badOption(String)
    case badEmbeddings(file: String, line: Int, reason: String)
    case modelMismatch(String)
    case nonFinite(epoch: Int, batch: Int, what: String)

    public var description: String {
        switch self {
        case .unknownLabel(let f, let l, let label, let known):
            return "\(f):\(l): label \"\(label)\" was not seen in training (the model knows \(known.joined(separator: ", ")))"
        case .missingLabel(let f, let l): return "\(f):\(l): the document has no label (training and evaluation need labelled data)"
        case .noUsableDocuments(let f): return "\(f): no document has any token the tokenizer keeps"
        case .tooFewClasses(let f, let found): return "\(f): training needs at least two labels, found \(found.isEmpty ? "none" : found.joined(separator: ", "))"
        case .badOption(let m): return m
        case .badEmbeddings(let f, let l, let r): return "\(f):\(l): \(r)"
        case .modelMismatch(let m): return m
        case .nonFinite(let e, let b, let w): return "training diverged: non-finite \(w) in epoch \(e), batch \(b); the best model so far is kept (try a lower --lr)"
        }
    }
}

/// Turns labelled text into id sequences with one tokenizer and vocabulary.
public struct Encoder {
    public let vocabulary: Vocabulary
    public let tokenizer: Tokenizer
    /// Documents are cut to their first `maxLength` tokens (bounds memory and time).
    public let maxLength: Int

    public init(vocabulary: Vocabulary, maxLength: Int) throws {
        self.vocabulary = vocabulary
        tokenizer = try Tokenizer(settings: vocabulary.settings)
        self.maxLength = maxLength
    }

    public func ids(_ text: String) -> [Int32] {
        var text = text
        return text.withUTF8 { Array(vocabulary.ids($0, tokenizer: tokenizer).prefix(maxLength)) }
    }

    /// Encodes labelled documents. Documents with no kept token are skipped and counted (a
    /// sequence must have length ≥ 1); an unknown or missing label is an error naming the line.
    public func encode(_ docs: [LabelledText], file: String) throws -> (documents: [EncodedDocument], skipped: Int) {
        var out: [EncodedDocument] = []
        out.reserveCapacity(docs.count)
        var skipped = 0
        var labelIndex: [String: Int] = [:]
        for (i, l) in vocabulary.labels.enumerated() { labelIndex[l] = i }
        for doc in docs {
            guard let label = doc.label else { throw HeedError.missingLabel(file: file, line: doc.line) }
            guard let index = labelIndex[label] else {
                throw HeedError.unknownLabel(file: file, line: doc.line, label: label, known: vocabulary.labels)
            }
            let ids = self.ids(doc.text)
            if ids.isEmpty { skipped += 1; continue }
            out.append(EncodedDocument(ids: ids, label: index, line: doc.line))
        }
        return (out, skipped)
    }
}

/// A padded batch: `ids` is `[count × steps]` row-major with 0 (`<pad>`) after each length.
public struct Batch: Sendable {
    public var ids: [Int32]
    public var lengths: [Int32]
    public var labels: [Int32]
    public var indices: [Int]
    public var steps: Int
    public var count: Int { lengths.count }
    public var tokens: Int { lengths.reduce(0) { $0 + Int($1) } }

    public init(_ docs: [EncodedDocument], indices: [Int]) {
        self.indices = indices
        steps = indices.map { docs[$0].ids.count }.max() ?? 0
        ids = [Int32](repeating: 0, count: indices.count * steps)
        lengths = []
        labels = []
        for (row, i) in indices.enumerated() {
            let d = docs[i]
            for (t, id) in d.ids.enumerated() { ids[row * steps + t] = id }
            lengths.append(Int32(d.ids.count))
            labels.append(Int32(d.label))
        }
    }
}

/// Batches of similar lengths so padding is rare; batch order is shuffled each epoch and ties in
/// length are broken by the seeded shuffle, so the same seed gives the same batches.
public enum Bucketing {
    public static func batches<G: RandomNumberGenerator>(_ docs: [EncodedDocument], size: Int, shuffle generator: inout G?) -> [[Int]] {
        var order = Array(docs.indices)
        if generator != nil { order = deterministicShuffle(order, &generator!) }
        // Stable sort by length keeps the shuffled order within each length.
        let sorted = order.enumerated().sorted { a, b in
            let la = docs[a.element].ids.count, lb = docs[b.element].ids.count
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
        var batches = stride(from: 0, to: sorted.count, by: size).map { Array(sorted[$0..<min($0 + size, sorted.count)]) }
        if generator != nil { batches = deterministicShuffle(batches, &generator!) }
        return batches
    }

    /// Fisher–Yates with our own bounded draw (the standard library's shuffle may change between
    /// Swift versions; a saved seed must keep meaning the same order).
    static func deterministicShuffle<T, G: RandomNumberGenerator>(_ items: [T], _ g: inout G) -> [T] {
        var items = items
        guard items.count > 1 else { return items }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = Int(g.next() % UInt64(i + 1))
            items.swapAt(i, j)
        }
        return items
    }
}
