/// Character n-grams of a token hashed into a fixed number of buckets, as fastText builds its
/// subword features, so a word the vocabulary lacks still gets a vector from its pieces.
///
/// The recipe, for anyone reproducing it: wrap the token's (normalised) UTF-8 bytes in `<` and
/// `>`; take every run of `minLength`…`maxLength` consecutive Unicode scalars of the wrapped
/// token (a lone `<` or `>` is not an n-gram, the whole wrapped token is one when short enough),
/// in order of start position and then length; hash each run's UTF-8 bytes with 32-bit FNV-1a
/// (offset basis 2166136261, prime 16777619, each byte taken as an unsigned value) and keep
/// `hash % buckets`. fastText differs in one detail: it sign-extends bytes ≥ 0x80 before the
/// xor, so its buckets for non-ASCII n-grams are not these.
public struct SubwordSettings: Codable, Sendable, Equatable, CustomStringConvertible {
    /// Shortest n-gram, in Unicode scalars (the boundary markers count).
    public var minLength: Int
    /// Longest n-gram.
    public var maxLength: Int
    /// Rows of the bucket table the n-grams hash into.
    public var buckets: Int

    /// Settings for n-grams of `minLength...maxLength` scalars in `buckets` rows.
    public init(minLength: Int, maxLength: Int, buckets: Int) {
        self.minLength = minLength
        self.maxLength = maxLength
        self.buckets = buckets
    }

    /// `MIN-MAX`, as `--subwords` takes it.
    public var description: String { "\(minLength)-\(maxLength)" }

    /// Why the settings cannot be used, or nil.
    public var problem: String? {
        if minLength < 1 || maxLength < minLength { return "the n-gram range \(minLength)-\(maxLength) must have 1 ≤ MIN ≤ MAX" }
        if maxLength > 32 { return "n-grams longer than 32 characters (\(maxLength)) are not supported" }
        if buckets < 1 || buckets > Int(Int32.max) { return "buckets must be in 1...\(Int32.max), got \(buckets)" }
        return nil
    }

    /// 32-bit FNV-1a of `bytes` (unsigned bytes).
    public static func fnv1a<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// Appends the bucket of every n-gram of `token` to `out`; returns how many it appended.
    @discardableResult
    public func appendBuckets(of token: UnsafeBufferPointer<UInt8>, to out: inout [Int32]) -> Int {
        // Byte offset where each scalar of "<token>" starts, plus the end.
        var starts: [Int] = [0]
        starts.reserveCapacity(token.count + 3)
        for (i, b) in token.enumerated() where b & 0xC0 != 0x80 { starts.append(i + 1) }
        starts.append(token.count + 1)
        starts.append(token.count + 2)
        let scalars = starts.count - 1
        let bucketCount = UInt32(buckets)
        var appended = 0
        for first in 0..<scalars {
            var h: UInt32 = 2_166_136_261
            var hashedTo = starts[first]
            for n in 1...min(maxLength, scalars - first) {
                let end = starts[first + n]
                while hashedTo < end {
                    let byte: UInt8 = hashedTo == 0 ? 0x3C : hashedTo == token.count + 1 ? 0x3E : token[hashedTo - 1]
                    h = (h ^ UInt32(byte)) &* 16_777_619
                    hashedTo += 1
                }
                guard n >= minLength else { continue }
                if n == 1 && (first == 0 || first == scalars - 1) { continue }  // a lone boundary marker
                out.append(Int32(h % bucketCount))
                appended += 1
            }
        }
        return appended
    }

    /// The n-grams themselves, in the order of `appendBuckets` (for documentation and tests).
    public func ngrams(of token: String) -> [String] {
        let wrapped = Array(("<" + token + ">").unicodeScalars)
        var out: [String] = []
        for first in wrapped.indices {
            for n in 1...min(maxLength, wrapped.count - first) where n >= minLength {
                if n == 1 && (first == 0 || first == wrapped.count - 1) { continue }
                var s = String.UnicodeScalarView()
                s.append(contentsOf: wrapped[first..<(first + n)])
                out.append(String(s))
            }
        }
        return out
    }
}
