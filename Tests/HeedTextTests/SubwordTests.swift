import Testing

@testable import HeedText

@Suite struct SubwordTests {
    /// The n-grams of fastText's documented example, "where" with n = 3: <wh, whe, her, ere, re>.
    @Test func fastTextExample() {
        let s = SubwordSettings(minLength: 3, maxLength: 3, buckets: 1000)
        #expect(s.ngrams(of: "where") == ["<wh", "whe", "her", "ere", "re>"])
        let all = SubwordSettings(minLength: 3, maxLength: 6, buckets: 1000).ngrams(of: "where")
        #expect(all.count == 5 + 4 + 3 + 2)
        #expect(all.contains("<where") && all.contains("where>") && !all.contains("<where>"))
        #expect(SubwordSettings(minLength: 3, maxLength: 6, buckets: 1000).ngrams(of: "a") == ["<a>"])
    }

    /// Chinese: single characters (lone markers excluded) and character pairs, counted in scalars.
    @Test func cjkCharacters() {
        let s = SubwordSettings(minLength: 1, maxLength: 2, buckets: 1000)
        #expect(s.ngrams(of: "性价比") == ["<性", "性", "性价", "价", "价比", "比", "比>"])
    }

    /// Published 32-bit FNV-1a test vectors.
    @Test func fnv1aVectors() {
        #expect(SubwordSettings.fnv1a(Array("".utf8)) == 0x811c_9dc5)
        #expect(SubwordSettings.fnv1a(Array("a".utf8)) == 0xe40c_292c)
        #expect(SubwordSettings.fnv1a(Array("foobar".utf8)) == 0xbf9c_f968)
    }

    /// The streaming hash in `appendBuckets` equals hashing each n-gram's bytes on its own.
    @Test(arguments: ["where", "naïve", "性价比", "x", "😀ok", "aaaa"])
    func bucketsMatchTheirNgrams(_ token: String) {
        for (lo, hi, buckets) in [(3, 6, 2_000_003), (1, 2, 97), (2, 4, 1 << 20)] {
            let s = SubwordSettings(minLength: lo, maxLength: hi, buckets: buckets)
            var out: [Int32] = []
            var t = token
            let n = t.withUTF8 { s.appendBuckets(of: $0, to: &out) }
            let expected = s.ngrams(of: token).map { Int32(SubwordSettings.fnv1a(Array($0.utf8)) % UInt32(buckets)) }
            #expect(n == out.count)
            #expect(out == expected, "\(token) \(lo)-\(hi)")
        }
    }

    /// Buckets written down from bench/reference/heed_torch.py's `subword_buckets`, an independent
    /// implementation of the documented recipe (non-ASCII bytes are where fastText's differs).
    @Test func pythonReferenceBuckets() {
        func buckets(_ token: String, _ lo: Int, _ hi: Int) -> [Int32] {
            var out: [Int32] = []
            var t = token
            t.withUTF8 { _ = SubwordSettings(minLength: lo, maxLength: hi, buckets: 2_000_000).appendBuckets(of: $0, to: &out) }
            return out
        }
        #expect(buckets("性价比", 1, 2) == [351974, 1_053_620, 191314, 1_007_293, 798490, 277282, 1_958_932])
        #expect(buckets("naïve", 3, 4) == [1_806_890, 1_061_996, 1_130_130, 415852, 1_215_072, 735327, 1_216_082, 1_222_532, 1_088_654])
    }

    @Test func problems() {
        #expect(SubwordSettings(minLength: 3, maxLength: 6, buckets: 10).problem == nil)
        #expect(SubwordSettings(minLength: 0, maxLength: 6, buckets: 10).problem != nil)
        #expect(SubwordSettings(minLength: 4, maxLength: 3, buckets: 10).problem != nil)
        #expect(SubwordSettings(minLength: 3, maxLength: 6, buckets: 0).problem != nil)
    }
}
