import CHeedKernels

/// A matrix stored as small integers with one Float scale per row (symmetric per-row
/// quantisation, written by `heed quantize`): element (r, k) stands for `Float(q) * scales[r]`,
/// q its integer value, in int8 or in 4 bits (`scheme`).
///
/// All-zero rows may be left out (`present`): a subword table's buckets that no training token
/// hashed to stay zero, and on the shipped corpora they are about a third of the table.
///
/// Immutable once built, so every replica of a model (inference workers, `heed serve`'s threads)
/// reads the one table. The embedding lookup dequantises only the rows it gathers: no float copy
/// of a quantised table is ever made.
public final class QuantizedTable: @unchecked Sendable {
    /// Rows (the first dimension).
    public let rows: Int
    /// Values per row.
    public let dim: Int
    /// How values are stored: int8, or 4 bits packed two to a byte.
    public let scheme: QuantizationScheme
    /// Bytes per stored row: `dim` for int8, ⌈dim/2⌉ for 4 bits.
    public let rowBytes: Int
    /// Rows actually stored: `rows`, or fewer when zero rows are left out.
    public let storedRows: Int
    /// The stored rows' bytes, row-major, `rowBytes` each: int8 values (as bit patterns) or packed
    /// nibble pairs (`Int4Packing`). Owned; stable for the table's lifetime, so a file write can
    /// stream from it.
    public let storage: UnsafeMutablePointer<UInt8>
    /// One scale per stored row, finite and ≥ 0 (owned).
    public let scaleStorage: UnsafeMutablePointer<Float>
    /// For a table without its zero rows: per row, 1 when stored and 0 when left out (owned; the
    /// file's `.present` tensor). Nil when every row is stored.
    public let presentStorage: UnsafeMutablePointer<Int8>?
    /// Per row, its index among the stored rows or -1 (nil when every row is stored).
    private let rowIndex: UnsafeMutablePointer<Int32>?

    /// An int8 table from stored values (`values.count == rows·dim`, `scales.count == rows`).
    public convenience init(rows: Int, dim: Int, values: [Int8], scales: [Float]) {
        self.init(rows: rows, dim: dim, scheme: .int8, values: values, scales: scales)
    }

    /// A table from unpacked values (`values.count == rows·dim`, each within the scheme's levels)
    /// and one scale per row.
    public convenience init(rows: Int, dim: Int, scheme: QuantizationScheme, values: [Int8], scales: [Float]) {
        precondition(
            values.count == rows * dim && scales.count == rows, "quantised table: \(values.count) values and \(scales.count) scales for [\(rows), \(dim)]")
        self.init(rows: rows, dim: dim, scheme: scheme, storedValues: values, storedScales: scales, present: nil)
    }

    /// An int8 table of `rows` rows of which only those with `present[r] == 1` are stored, in
    /// order (`storedValues` and `storedScales` hold as many rows as `present` has ones). Nil
    /// `present`: every row is stored.
    public convenience init(rows: Int, dim: Int, storedValues: [Int8], storedScales: [Float], present: [Int8]?) {
        self.init(rows: rows, dim: dim, scheme: .int8, storedValues: storedValues, storedScales: storedScales, present: present)
    }

    /// As `init(rows:dim:storedValues:storedScales:present:)`, for either scheme: the values are
    /// unpacked, one per element, and 4-bit tables pack them.
    public convenience init(rows: Int, dim: Int, scheme: QuantizationScheme, storedValues: [Int8], storedScales: [Float], present: [Int8]?) {
        let stored = storedScales.count
        precondition(storedValues.count == stored * dim, "quantised table: \(storedValues.count) values for \(stored) stored rows of \(dim)")
        let bytes: [UInt8] =
            switch scheme {
            case .int8: storedValues.map { UInt8(bitPattern: $0) }
            case .int4: Int4Packing.pack(storedValues, rows: stored, dim: dim)
            }
        self.init(rows: rows, dim: dim, scheme: scheme, storedBytes: bytes, storedScales: storedScales, present: present)
    }

    /// A table from its stored bytes as a file holds them (`rowBytes` per stored row: int8 bit
    /// patterns, or packed nibbles), its stored rows' scales and optional presence flags.
    public init(rows: Int, dim: Int, scheme: QuantizationScheme, storedBytes: [UInt8], storedScales: [Float], present: [Int8]?) {
        let stored = present.map { p in p.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } } ?? rows
        precondition(present == nil || present!.count == rows, "quantised table: \(present!.count) presence flags for \(rows) rows")
        let width = scheme.rowBytes(dim: dim)
        precondition(
            storedBytes.count == stored * width && storedScales.count == stored,
            "quantised table: \(storedBytes.count) bytes and \(storedScales.count) scales for \(stored) stored rows of \(dim) (\(scheme.rawValue))")
        self.rows = rows
        self.dim = dim
        self.scheme = scheme
        rowBytes = width
        storedRows = stored
        storage = .allocate(capacity: max(stored * width, 1))
        _ = UnsafeMutableBufferPointer(start: storage, count: storedBytes.count).initialize(from: storedBytes)
        scaleStorage = .allocate(capacity: max(stored, 1))
        _ = UnsafeMutableBufferPointer(start: scaleStorage, count: stored).initialize(from: storedScales)
        if let present {
            let flags = UnsafeMutablePointer<Int8>.allocate(capacity: max(rows, 1))
            let index = UnsafeMutablePointer<Int32>.allocate(capacity: max(rows, 1))
            var next: Int32 = 0
            for r in 0..<rows {
                flags[r] = present[r] != 0 ? 1 : 0
                index[r] = present[r] != 0 ? next : -1
                if present[r] != 0 { next += 1 }
            }
            presentStorage = flags
            rowIndex = index
        } else {
            presentStorage = nil
            rowIndex = nil
        }
    }

    deinit {
        storage.deallocate()
        scaleStorage.deallocate()
        presentStorage?.deallocate()
        rowIndex?.deallocate()
    }

    /// Element `k` of stored row `i` as an integer.
    @inline(__always)
    private func level(_ i: Int, _ k: Int) -> Int8 {
        switch scheme {
        case .int8: Int8(bitPattern: storage[i * rowBytes + k])
        case .int4: Int4Packing.value(storage + i * rowBytes, k)
        }
    }

    /// Copy of every row's integer values, unpacked (zeros for rows left out).
    public var values: [Int8] {
        var out = [Int8](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            guard let i = stored(r) else { continue }
            for k in 0..<dim { out[r * dim + k] = level(i, k) }
        }
        return out
    }
    /// Copy of the stored rows' bytes, as a file holds them.
    public var storedBytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: storedRows * rowBytes)) }
    /// Copy of every row's scale (0 for rows left out).
    public var scales: [Float] { (0..<rows).map { r in stored(r).map { scaleStorage[$0] } ?? 0 } }

    /// Row `r`'s index among the stored rows, nil when it is left out (all zero).
    @inline(__always)
    func stored(_ r: Int) -> Int? {
        guard let rowIndex else { return r }
        let i = rowIndex[r]
        return i < 0 ? nil : Int(i)
    }

    /// The same table without its all-zero rows when leaving them out saves bytes (each costs
    /// `rowBytes` + 4 bytes; the presence flags cost one byte a row), else itself.
    public func droppingZeroRows() -> QuantizedTable {
        guard rowIndex == nil else { return self }
        let zero = (0..<rows).filter { r in scaleStorage[r] == 0 && (0..<rowBytes).allSatisfy { storage[r * rowBytes + $0] == 0 } }
        guard zero.count * (rowBytes + 4) > rows else { return self }
        var present = [Int8](repeating: 1, count: rows)
        for r in zero { present[r] = 0 }
        var bytes: [UInt8] = []
        var scales: [Float] = []
        bytes.reserveCapacity((rows - zero.count) * rowBytes)
        for r in 0..<rows where present[r] == 1 {
            bytes.append(contentsOf: UnsafeBufferPointer(start: storage + r * rowBytes, count: rowBytes))
            scales.append(scaleStorage[r])
        }
        return QuantizedTable(rows: rows, dim: dim, scheme: scheme, storedBytes: bytes, storedScales: scales, present: present)
    }

    /// Quantises `rows × dim` floats: scale = max|row| / L, q = round(x / scale) clamped to ±L,
    /// L = 127 (int8) or 7 (int4). Every element within ±L·scale, so the nearest level is at
    /// most scale/2 away and nothing is clipped; a zero row (the padding row) gets scale 0 and
    /// stays exactly zero. (A 4-bit scale chosen to minimise each row's squared error clips the
    /// largest values and cut the error about 9%, but moved test accuracy by −0.23…+0.43 points
    /// against max|row|/7 on the shipped corpora: bench/results/int4-scale.json. The simple bound won.)
    public static func quantize(_ x: UnsafePointer<Float>, rows: Int, dim: Int, scheme: QuantizationScheme = .int8) -> QuantizedTable {
        let L = Float(scheme.level)
        var q = [Int8](repeating: 0, count: rows * dim)
        var scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = x + r * dim
            var m: Float = 0
            for k in 0..<dim { m = max(m, abs(row[k])) }
            guard m > 0, m.isFinite else { continue }
            let s = m / L
            scales[r] = s
            for k in 0..<dim { q[r * dim + k] = Int8(max(-L, min(L, (row[k] / s).rounded()))) }
        }
        return QuantizedTable(rows: rows, dim: dim, scheme: scheme, values: q, scales: scales)
    }

    /// Quantises a float array of `rows × dim` values.
    public static func quantize(_ x: [Float], rows: Int, dim: Int, scheme: QuantizationScheme = .int8) -> QuantizedTable {
        precondition(x.count == rows * dim, "quantize: \(x.count) values for [\(rows), \(dim)]")
        return x.withUnsafeBufferPointer { quantize($0.baseAddress!, rows: rows, dim: dim, scheme: scheme) }
    }

    /// Writes row `r` dequantised (`Float(q) * scale`) to `dst`.
    @inline(__always)
    func copyRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        guard let i = stored(r) else {
            // A left-out row is zero: the same +0 that Float(0) * scale gives.
            dst.update(repeating: 0, count: dim)
            return
        }
        // CHeedKernels: the same Float(q) * scale per element, in vectors as wide as the CPU has.
        heed_dequantize_row(dst, storage + i * rowBytes, Int32(dim), scaleStorage[i], Int32(scheme.bits), 0)
    }

    /// Adds row `r` dequantised to `dst` element by element: `dst[k] + Float(q) * scale`, the same
    /// rounding as adding a float row that holds the dequantised values.
    @inline(__always)
    func addRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        guard let i = stored(r) else {
            // Adding a zero row still turns -0 into +0, as the float path does.
            for k in 0..<dim { dst[k] = dst[k] + 0 }
            return
        }
        heed_dequantize_row(dst, storage + i * rowBytes, Int32(dim), scaleStorage[i], Int32(scheme.bits), 1)
    }

    /// The whole table dequantised, [rows × dim]: for small matrices dequantised once at load
    /// (LSTM and linear weights) and for tests; the embedding path never calls it.
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * dim)
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows { copyRow(r, into: o.baseAddress! + r * dim) }
        }
        return out
    }

    /// Bytes the table occupies in memory: values and scales, plus the presence flags and row index
    /// when zero rows are left out.
    public var byteCount: Int { storedRows * (rowBytes + 4) + (rowIndex == nil ? 0 : 5 * rows) }
}
