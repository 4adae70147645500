/// The byte layout of 4-bit quantised rows (`QuantizationScheme.int4`). Each value in −7…7 is a
/// 4-bit two's-complement nibble (0x0…0x7 for 0…7, 0x9…0xF for −7…−1; 0x8, −8, is never
/// written). Row element 2j sits in the low nibble of the row's byte j and element 2j+1 in its
/// high nibble, so a row of K values takes ⌈K/2⌉ bytes and an odd row's last high nibble is 0.
/// Rows are not packed across each other: row r starts at byte r·⌈K/2⌉.
///
/// Low-nibble-first is the order NumPy reads with `b & 0xF` then `b >> 4`, and the one GGML's
/// and PyTorch's `quint4x2` packings use.
public enum Int4Packing {
    /// The nibble never written (it would be −8 and break the symmetry).
    public static let forbiddenNibble: UInt8 = 0x8

    /// Element `k` of a packed row.
    @inline(__always)
    public static func value(_ row: UnsafePointer<UInt8>, _ k: Int) -> Int8 {
        let b = row[k >> 1]
        // Move the wanted nibble to the top, then shift it back arithmetically to sign-extend.
        return Int8(bitPattern: k & 1 == 0 ? b << 4 : b) >> 4
    }

    /// Packs `rows × dim` values (each in −7…7) row by row.
    public static func pack(_ values: [Int8], rows: Int, dim: Int) -> [UInt8] {
        precondition(values.count == rows * dim, "int4 pack: \(values.count) values for [\(rows), \(dim)]")
        let width = (dim + 1) / 2
        var out = [UInt8](repeating: 0, count: rows * width)
        for r in 0..<rows {
            for k in 0..<dim {
                let v = values[r * dim + k]
                precondition(v >= -7 && v <= 7, "int4 pack: value \(v) outside −7…7")
                let nibble = UInt8(bitPattern: v) & 0xF
                out[r * width + k / 2] |= k & 1 == 0 ? nibble : nibble << 4
            }
        }
        return out
    }

    /// Unpacks `rows` packed rows of `dim` values.
    public static func unpack(_ bytes: [UInt8], rows: Int, dim: Int) -> [Int8] {
        let width = (dim + 1) / 2
        precondition(bytes.count == rows * width, "int4 unpack: \(bytes.count) bytes for [\(rows), \(dim)]")
        var out = [Int8](repeating: 0, count: rows * dim)
        bytes.withUnsafeBufferPointer { b in
            for r in 0..<rows {
                for k in 0..<dim { out[r * dim + k] = value(b.baseAddress! + r * width, k) }
            }
        }
        return out
    }

    /// Why packed rows cannot be read, or nil: a forbidden nibble (−8), or an odd row's padding
    /// nibble that is not 0 (so every table has one byte image).
    public static func problem(_ bytes: [UInt8], rows: Int, dim: Int) -> String? {
        let width = (dim + 1) / 2
        for (i, b) in bytes.enumerated() {
            if b & 0xF == forbiddenNibble || b >> 4 == forbiddenNibble {
                return "byte \(i) holds nibble 0x8 (−8), outside the symmetric range −7…7"
            }
        }
        if dim % 2 == 1 {
            for r in 0..<rows where bytes[r * width + width - 1] >> 4 != 0 {
                return "row \(r)'s padding nibble (the high nibble of its last byte, as the row has an odd \(dim) values) is not 0"
            }
        }
        return nil
    }
}
