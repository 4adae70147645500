import CHeedICU

package enum ICU {
    /// Version of the ICU library Heed's tokenizer runs on.
    package static var version: String { String(cString: heed_icu_version()) }

    /// First invalid byte of a UTF-8 buffer, or nil when it is well formed.
    package static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var bad: Int64 = 0
        return heed_utf8_valid(base, Int64(bytes.count), &bad) == 1 ? nil : Int(bad)
    }
}

/// An ICU word break iterator over UTF-8 text. One per thread: ICU iterators are not shareable.
final class WordSegmenter {
    private let handle: OpaquePointer

    init(locale: String) throws(HeedTextError) {
        var error = [CChar](repeating: 0, count: 64)
        let icuLocale = locale == "root" ? "" : locale
        guard let h = heed_segmenter_open(icuLocale, &error, error.count) else {
            throw .unknownLocale(locale, reason: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        handle = h
    }

    deinit { heed_segmenter_close(handle) }

    /// Calls `body(start, end, ruleStatus)` for every segment of `text`.
    @inline(__always)
    func forEachSegment(_ text: UnsafeBufferPointer<UInt8>, _ body: (Int, Int, Int32) -> Void) {
        guard let base = text.baseAddress, !text.isEmpty else { return }
        guard heed_segmenter_set_text(handle, base, Int64(text.count)) == 0 else { return }
        var start = 0
        var status: Int32 = 0
        while true {
            let end = heed_segmenter_next(handle, &status)
            if end < 0 { break }
            body(start, Int(end), status)
            start = Int(end)
        }
    }
}

enum UnicodeSpan {
    static func isWhitespace(_ s: UnsafeBufferPointer<UInt8>) -> Bool { heed_is_whitespace(s.baseAddress!, Int64(s.count)) == 1 }
    static func containsPictographic(_ s: UnsafeBufferPointer<UInt8>) -> Bool { heed_contains_pictographic(s.baseAddress!, Int64(s.count)) == 1 }
    static func isNumeric(_ s: UnsafeBufferPointer<UInt8>) -> Bool { heed_is_numeric(s.baseAddress!, Int64(s.count)) == 1 }

    /// Normalises into `out` (grown as needed); returns the byte count.
    static func normalize(_ mode: TokenizerSettings.Normalization, _ s: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Int {
        let cMode: Int32
        switch mode {
        case .none: cMode = Int32(HEED_NORM_NONE)
        case .nfkc: cMode = Int32(HEED_NORM_NFKC)
        case .nfkcCasefold: cMode = Int32(HEED_NORM_NFKC_CASEFOLD)
        }
        while true {
            let capacity = out.count
            let n = out.withUnsafeMutableBufferPointer { heed_normalize(cMode, s.baseAddress!, Int64(s.count), $0.baseAddress!, Int64(capacity)) }
            if n < 0 {  // ICU failure: fall back to the surface form rather than lose the token
                if out.count < s.count { out = [UInt8](repeating: 0, count: s.count) }
                out.withUnsafeMutableBufferPointer { _ = memcpyBytes($0.baseAddress!, s) }
                return s.count
            }
            if Int(n) <= capacity { return Int(n) }
            out = [UInt8](repeating: 0, count: Int(n) * 2)
        }
    }

    @inline(__always)
    private static func memcpyBytes(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafeBufferPointer<UInt8>) -> Int {
        dst.update(from: src.baseAddress!, count: src.count)
        return src.count
    }
}
