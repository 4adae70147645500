import HeedNN
import HeedText

/// One rank's part of a corpus: the documents with index i (0-based, in file order) where
/// i mod size = rank. Every rank streams the file but keeps only its own documents in memory.
package struct Shard: Sendable {
    /// This rank's documents, in file order.
    package var documents: [LabelledText]
    /// Each document's index in the whole file (decides dev membership independently of the rank count).
    package var indices: [Int]

    /// A shard of `documents` with each one's index in the whole file (one index per document).
    package init(documents: [LabelledText], indices: [Int]) {
        precondition(documents.count == indices.count, "one index per document")
        self.documents = documents
        self.indices = indices
    }

    /// Reads the documents of `source` that belong to `rank` out of `size` ranks, streaming past
    /// the others.
    package static func read(_ source: CorpusSource, rank: Int, size: Int) throws -> Shard {
        try read([source], rank: rank, size: size)
    }

    /// `read(_:rank:size:)` over `sources` taken as one corpus, in order (the index runs on from
    /// one source to the next).
    package static func read(_ sources: [CorpusSource], rank: Int, size: Int) throws -> Shard {
        precondition(size >= 1 && (0..<size).contains(rank), "rank \(rank) not in 0..<\(size)")
        var docs: [LabelledText] = [], indices: [Int] = []
        var i = 0
        for source in sources {
            try CorpusReader(source).forEachDocument { d in
                if i % size == rank {
                    docs.append(LabelledText(label: d.label, text: d.textString, line: d.line))
                    indices.append(i)
                }
                i += 1
            }
        }
        return Shard(documents: docs, indices: indices)
    }

    /// This shard's part of the whole corpus's fingerprint: a wrapping sum of per-document hashes
    /// mixed with the index, so the total over ranks is the same for any rank count.
    func localHash() -> UInt64 {
        var sum: UInt64 = 0
        for (d, i) in zip(documents, indices) {
            var h = FNV1a()
            h.add((d.label ?? "").utf8)
            h.add([0x09])
            h.add(d.text.utf8)
            var mixed = Rng(seed: h.value ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
            sum &+= mixed.next()
        }
        return sum
    }
}
