/// A matrix stored as int8 with one Float scale per row (symmetric per-row quantisation, written
/// by `heed quantize`): element (r, k) stands for `Float(values[r·dim + k]) * scales[r]`.
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
    /// Rows actually stored: `rows`, or fewer when zero rows are left out.
    public let storedRows: Int
    /// The stored rows' int8 values, row-major, each in -127...127 (owned; stable for the table's
    /// lifetime, so a file write can stream from it).
    public let storage: UnsafeMutablePointer<Int8>
    /// One scale per stored row, finite and ≥ 0 (owned).
    public let scaleStorage: UnsafeMutablePointer<Float>
    /// For a table without its zero rows: per row, 1 when stored and 0 when left out (owned; the
    /// file's `.present` tensor). Nil when every row is stored.
    public let presentStorage: UnsafeMutablePointer<Int8>?
    /// Per row, its index among the stored rows or -1 (nil when every row is stored).
    private let rowIndex: UnsafeMutablePointer<Int32>?

    /// The scheme recorded in model files (`heed.quantization`).
    public static let scheme = "int8-symmetric-per-row"

    /// A table from stored values (`values.count == rows·dim`, `scales.count == rows`).
    public convenience init(rows: Int, dim: Int, values: [Int8], scales: [Float]) {
        precondition(
            values.count == rows * dim && scales.count == rows, "quantised table: \(values.count) values and \(scales.count) scales for [\(rows), \(dim)]")
        self.init(rows: rows, dim: dim, storedValues: values, storedScales: scales, present: nil)
    }

    /// A table of `rows` rows of which only those with `present[r] == 1` are stored, in order
    /// (`storedValues` and `storedScales` hold as many rows as `present` has ones). Nil `present`:
    /// every row is stored.
    public init(rows: Int, dim: Int, storedValues: [Int8], storedScales: [Float], present: [Int8]?) {
        let stored = present.map { p in p.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } } ?? rows
        precondition(present == nil || present!.count == rows, "quantised table: \(present!.count) presence flags for \(rows) rows")
        precondition(
            storedValues.count == stored * dim && storedScales.count == stored,
            "quantised table: \(storedValues.count) values and \(storedScales.count) scales for \(stored) stored rows of \(dim)")
        self.rows = rows
        self.dim = dim
        storedRows = stored
        storage = .allocate(capacity: max(stored * dim, 1))
        _ = UnsafeMutableBufferPointer(start: storage, count: storedValues.count).initialize(from: storedValues)
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

    /// Copy of every row's int8 values (zeros for rows left out).
    public var values: [Int8] {
        var out = [Int8](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            guard let i = stored(r) else { continue }
            for k in 0..<dim { out[r * dim + k] = storage[i * dim + k] }
        }
        return out
    }
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
    /// `dim` + 4 bytes; the presence flags cost one byte a row), else itself.
    public func droppingZeroRows() -> QuantizedTable {
        guard rowIndex == nil else { return self }
        let zero = (0..<rows).filter { r in scaleStorage[r] == 0 && (0..<dim).allSatisfy { storage[r * dim + $0] == 0 } }
        guard zero.count * (dim + 4) > rows else { return self }
        var present = [Int8](repeating: 1, count: rows)
        for r in zero { present[r] = 0 }
        var values: [Int8] = []
        var scales: [Float] = []
        values.reserveCapacity((rows - zero.count) * dim)
        for r in 0..<rows where present[r] == 1 {
            values.append(contentsOf: UnsafeBufferPointer(start: storage + r * dim, count: dim))
            scales.append(scaleStorage[r])
        }
        return QuantizedTable(rows: rows, dim: dim, storedValues: values, storedScales: scales, present: present)
    }

    /// Quantises `rows × dim` floats: scale = max|row| / 127, q = round(x / scale) clamped to
    /// ±127. A zero row (the padding row) gets scale 0 and stays exactly zero.
    public static func quantize(_ x: UnsafePointer<Float>, rows: Int, dim: Int) -> QuantizedTable {
        var q = [Int8](repeating: 0, count: rows * dim)
        var scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = x + r * dim
            var m: Float = 0
            for k in 0..<dim { m = max(m, abs(row[k])) }
            guard m > 0, m.isFinite else { continue }
            let s = m / 127
            scales[r] = s
            for k in 0..<dim { q[r * dim + k] = Int8(max(-127, min(127, (row[k] / s).rounded()))) }
        }
        return QuantizedTable(rows: rows, dim: dim, values: q, scales: scales)
    }

    /// Quantises a float array of `rows × dim` values.
    public static func quantize(_ x: [Float], rows: Int, dim: Int) -> QuantizedTable {
        precondition(x.count == rows * dim, "quantize: \(x.count) values for [\(rows), \(dim)]")
        return x.withUnsafeBufferPointer { quantize($0.baseAddress!, rows: rows, dim: dim) }
    }

    /// Writes row `r` dequantised (`Float(q) * scale`) to `dst`.
    @inline(__always)
    func copyRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        guard let i = stored(r) else {
            // A left-out row is zero: the same +0 that Float(0) * scale gives.
            dst.update(repeating: 0, count: dim)
            return
        }
        let s = scaleStorage[i], src = storage + i * dim
        for k in 0..<dim { dst[k] = Float(src[k]) * s }
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
        let s = scaleStorage[i], src = storage + i * dim
        for k in 0..<dim { dst[k] = dst[k] + Float(src[k]) * s }
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
    public var byteCount: Int { storedRows * (dim + 4) + (rowIndex == nil ? 0 : 5 * rows) }
}
