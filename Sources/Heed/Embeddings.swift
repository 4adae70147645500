import Foundation
import HeedText

/// Pretrained word vectors in word2vec/fastText text format (`.vec`), with or without the
/// "count dim" header line. Rows whose word is in the vocabulary initialise its embedding.
package enum PretrainedVectors {
    /// (vocabulary row, vector) for every vocabulary token found, streaming the file. A vector of
    /// the wrong length is an error naming its line, whether or not its word is needed.
    package static func load(_ url: URL, vocabulary: Vocabulary, dimension: Int) throws -> [(index: Int, vector: [Float])] {
        let path = url.path
        let reader = try LineReader(path: path)
        var rows: [(index: Int, vector: [Float])] = []
        var seen = Set<Int32>()
        var failure: HeedError? = nil
        try reader.forEachLine { line throws(HeedTextError) in
            guard failure == nil, !CorpusReader.isBlank(line) else { return }
            let fields = line.split(separator: 0x20, omittingEmptySubsequences: true)
            if fields.count == 2 && reader.lineNumber == 1 { return }  // "count dim" header
            guard fields.count - 1 == dimension else {
                failure = .embeddingDimension(file: path, line: reader.lineNumber, found: fields.count - 1, expected: dimension)
                return
            }
            let id = vocabulary.id(of: UnsafeBufferPointer(rebasing: fields[0]))
            guard id > Vocabulary.unknownID, !seen.contains(id) else { return }
            var vector: [Float] = []
            vector.reserveCapacity(dimension)
            for field in fields.dropFirst() {
                guard let v = Float(String(decoding: UnsafeBufferPointer(rebasing: field), as: UTF8.self)), v.isFinite else {
                    failure = .badEmbeddings(
                        file: path, line: reader.lineNumber,
                        reason: "\"\(String(decoding: UnsafeBufferPointer(rebasing: field), as: UTF8.self))\" is not a finite number")
                    return
                }
                vector.append(v)
            }
            seen.insert(id)
            rows.append((Int(id), vector))
        }
        if let failure { throw failure }
        return rows
    }
}
