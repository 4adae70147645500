/// A matrix stored as int8 with one Float scale per row (symmetric per-row quantisation, written
/// by `heed quantize`): element (r, k) stands for `Float(values[r·dim + k]) * scales[r]`.
///
/// Immutable once built, so every replica of a model (inference workers, `heed serve`'s threads)
/// reads the one table. The embedding lookup dequantises only the rows it gathers: no float copy
/// of a quantised table is ever made.
public final class QuantizedTable: @unchecked Sendable {
    /// Rows (the first dimension).
    public let rows: Int
    /// Values per row.
    public let dim: Int
    /// Row-major int8 values, each in -127...127 (owned; stable for the table's lifetime, so a
    /// file write can stream from it).
    public let storage: UnsafeMutablePointer<Int8>
    /// One scale per row, finite and ≥ 0 (owned).
    public let scaleStorage: UnsafeMutablePointer<Float>

    /// The scheme recorded in model files (`heed.quantization`).
    public static let scheme = "int8-symmetric-per-row"

    /// A table from stored values (`values.count == rows·dim`, `scales.count == rows`).
    public init(rows: Int, dim: Int, values: [Int8], scales: [Float]) {
        precondition(
            values.count == rows * dim && scales.count == rows, "quantised table: \(values.count) values and \(scales.count) scales for [\(rows), \(dim)]")
        self.rows = rows
        self.dim = dim
        storage = .allocate(capacity: max(rows * dim, 1))
        _ = UnsafeMutableBufferPointer(start: storage, count: values.count).initialize(from: values)
        scaleStorage = .allocate(capacity: max(rows, 1))
        _ = UnsafeMutableBufferPointer(start: scaleStorage, count: rows).initialize(from: scales)
    }

    deinit {
        storage.deallocate()
        scaleStorage.deallocate()
    }

    /// Copy of the int8 values.
    public var values: [Int8] { Array(UnsafeBufferPointer(start: storage, count: rows * dim)) }
    /// Copy of the row scales.
    public var scales: [Float] { Array(UnsafeBufferPointer(start: scaleStorage, count: rows)) }

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
        let s = scaleStorage[r], src = storage + r * dim
        for k in 0..<dim { dst[k] = Float(src[k]) * s }
    }

    /// Adds row `r` dequantised to `dst` element by element: `dst[k] + Float(q) * scale`, the same
    /// rounding as adding a float row that holds the dequantised values.
    @inline(__always)
    func addRow(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        let s = scaleStorage[r], src = storage + r * dim
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

    /// Bytes the table occupies (values and scales).
    public var byteCount: Int { rows * dim + 4 * rows }
}
