import CHeedKernels
import Testing

@testable import HeedNN

/// The C cell kernels against the scalar Swift math, element by element and bit for bit: every
/// operation is IEEE single precision in the same order, so any difference is a wrong formula, a
/// fused multiply-add, or a mishandled tail (hidden sizes 13 and 21 are not multiples of 8, and 45
/// is one 32-float slice of the AVX2 forward plus a tail).
@Suite struct CellKernelTests {
    struct Case {
        let n: Int, H: Int, stride: Int
        var gates: [Float], bias: [Float], prev: [Float], tanhCell: [Float], dh: [Float], dc: [Float]

        init(n: Int, H: Int, stride: Int, seed: UInt64) {
            var r = Rng(seed: seed)
            // Some values below 0.0625 in magnitude, for tanh's series branch; some far out, for clamping.
            func value(_ scale: Float) -> Float { r.uniform(-scale, scale) * (r.uniform() < 0.2 ? 0.01 : 1) }
            (self.n, self.H, self.stride) = (n, H, stride)
            gates = (0..<n * 4 * H).map { _ in value(6) }
            bias = (0..<4 * H).map { _ in value(1) }
            prev = (0..<max(1, n * stride + H)).map { _ in stride == 0 ? 0 : value(3) }
            tanhCell = (0..<n * H).map { _ in value(1) }
            dh = (0..<n * H).map { _ in value(2) }
            dc = (0..<n * H).map { _ in value(2) }
        }
    }

    static let cases: [(Int, Int, Int)] = [(5, 8, 8), (3, 13, 13), (4, 21, 0), (3, 45, 45), (2, 128, 128), (1, 128, 0)]

    @Test(arguments: cases)
    func forwardMatchesScalarSwift(_ shape: (Int, Int, Int)) {
        let (n, H, stride) = shape
        let k = Case(n: n, H: H, stride: stride, seed: UInt64(n * 1000 + H))
        var gates = k.gates, cell = [Float](repeating: 0, count: n * H), tc = cell, out = cell
        var expected = k.gates, eCell = cell, eTc = cell, eOut = cell
        for j in 0..<n {
            for q in 0..<H {
                let g = j * 4 * H
                let i = fastSigmoid(k.gates[g + q] + k.bias[q]), f = fastSigmoid(k.gates[g + H + q] + k.bias[H + q])
                let gg = fastTanh(k.gates[g + 2 * H + q] + k.bias[2 * H + q]), o = fastSigmoid(k.gates[g + 3 * H + q] + k.bias[3 * H + q])
                let c = f * k.prev[j * stride + q] + i * gg
                (expected[g + q], expected[g + H + q], expected[g + 2 * H + q], expected[g + 3 * H + q]) = (i, f, gg, o)
                (eCell[j * H + q], eTc[j * H + q], eOut[j * H + q]) = (c, fastTanh(c), o * fastTanh(c))
            }
        }
        for variant: Int32 in [-1, 0, 1, 2] {
            gates = k.gates
            let status: Int32
            if variant < 0 {
                heed_lstm_cell_forward(Int32(n), Int32(H), &gates, k.bias, k.prev, Int32(stride), &cell, &tc, &out)
                status = 0
            } else {
                status = heed_lstm_cell_forward_variant(variant, Int32(n), Int32(H), &gates, k.bias, k.prev, Int32(stride), &cell, &tc, &out)
            }
            if status != 0 { continue }  // this CPU lacks the variant
            #expect(gates.map(\.bitPattern) == expected.map(\.bitPattern), "gates, variant \(variant)")
            #expect(cell.map(\.bitPattern) == eCell.map(\.bitPattern), "cell, variant \(variant)")
            #expect(tc.map(\.bitPattern) == eTc.map(\.bitPattern), "tanh(cell), variant \(variant)")
            #expect(out.map(\.bitPattern) == eOut.map(\.bitPattern), "h, variant \(variant)")
        }
    }

    @Test(arguments: cases)
    func backwardMatchesScalarSwift(_ shape: (Int, Int, Int)) {
        let (n, H, stride) = shape
        let k = Case(n: n, H: H, stride: stride, seed: UInt64(n * 1000 + H + 7))
        // Activated gates lie in (0, 1) and (−1, 1).
        let acts = k.gates.enumerated().map { i, v in (i / H) % 4 == 2 ? fastTanh(v) : fastSigmoid(v) }
        var expected = acts, eDc = k.dc
        for j in 0..<n {
            for q in 0..<H {
                let g = j * 4 * H, h = j * H + q
                let iv = acts[g + q], fv = acts[g + H + q], gv = acts[g + 2 * H + q], ov = acts[g + 3 * H + q]
                let tv = k.tanhCell[h], dhv = k.dh[h]
                let dcv = k.dc[h] + dhv * ov * (1 - tv * tv)
                eDc[h] = dcv * fv
                expected[g + q] = dcv * gv * iv * (1 - iv)
                expected[g + H + q] = dcv * k.prev[j * stride + q] * fv * (1 - fv)
                expected[g + 2 * H + q] = dcv * iv * (1 - gv * gv)
                expected[g + 3 * H + q] = dhv * tv * ov * (1 - ov)
            }
        }
        for variant: Int32 in [-1, 0, 1, 2] {
            var gates = acts, dc = k.dc
            let status: Int32
            if variant < 0 {
                heed_lstm_cell_backward(Int32(n), Int32(H), &gates, k.tanhCell, k.dh, &dc, k.prev, Int32(stride))
                status = 0
            } else {
                status = heed_lstm_cell_backward_variant(variant, Int32(n), Int32(H), &gates, k.tanhCell, k.dh, &dc, k.prev, Int32(stride))
            }
            if status != 0 { continue }
            #expect(gates.map(\.bitPattern) == expected.map(\.bitPattern), "gate gradients, variant \(variant)")
            #expect(dc.map(\.bitPattern) == eDc.map(\.bitPattern), "carried cell gradient, variant \(variant)")
        }
    }

    @Test(arguments: [1, 8, 37, 256])
    func tanhInPlaceMatchesScalarSwift(_ count: Int) {
        var r = Rng(seed: UInt64(count))
        let values = (0..<count).map { _ in r.uniform(-30, 30) * (r.uniform() < 0.3 ? 0.001 : 1) }
        let expected = values.map { fastTanh($0).bitPattern }
        var out = values
        heed_tanh_in_place(&out, count)
        #expect(out.map(\.bitPattern) == expected)
        for variant: Int32 in [0, 1, 2] {
            out = values
            if heed_tanh_in_place_variant(variant, &out, count) == 0 {
                #expect(out.map(\.bitPattern) == expected, "variant \(variant)")
            }
        }
    }

    /// Quantised rows: every variant against Float(q) * scale (added or written) in Swift, for
    /// int8 and 4-bit rows of odd and even widths, past the 4-bit unpacking block of 256.
    @Test(arguments: [(8, 1), (8, 100), (4, 1), (4, 7), (4, 100), (4, 301)])
    func dequantizedRowsMatchScalarSwift(_ shape: (Int, Int)) {
        let (bits, count) = shape
        var r = Rng(seed: UInt64(bits * 1000 + count))
        let levels: [Int8] = (0..<count).map { _ in Int8(r.uniform(-127, 127).rounded()) / (bits == 4 ? 18 : 1) }
        let bytes: [UInt8] = bits == 8 ? levels.map { UInt8(bitPattern: $0) } : Int4Packing.pack(levels, rows: 1, dim: count)
        let scale: Float = 0.0137, start = (0..<count).map { _ in r.uniform(-1, 1) }
        for add: Int32 in [0, 1] {
            let expected = (0..<count).map { k in (add == 1 ? start[k] + Float(levels[k]) * scale : Float(levels[k]) * scale).bitPattern }
            var out = start
            heed_dequantize_row(&out, bytes, Int32(count), scale, Int32(bits), add)
            #expect(out.map(\.bitPattern) == expected, "bits \(bits), add \(add)")
            for variant: Int32 in [0, 1, 2] {
                out = start
                if heed_dequantize_row_variant(variant, &out, bytes, Int32(count), scale, Int32(bits), add) == 0 {
                    #expect(out.map(\.bitPattern) == expected, "bits \(bits), add \(add), variant \(variant)")
                }
            }
        }
    }
}
