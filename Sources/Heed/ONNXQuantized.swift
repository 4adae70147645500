import HeedNN

/// A quantised model's tensors in the ONNX graph, still opset 17 and never as a float copy of a table.
///
/// Tables (`embedding.weight`, `subwords.weight`) keep their file image: int8 rows as an `INT8`
/// initializer, 4-bit rows as the same packed bytes in a `UINT8` initializer (ONNX's own INT4 type
/// needs opset 21, and `Gather` does not take it: ONNX Runtime 1.20 rejects the graph), each with its `FLOAT`
/// per-row scales. The graph gathers the rows and their scales, unpacks 4-bit nibbles with
/// float arithmetic that is exact on 0…255, and multiplies: `Float(q) * scale`, the product
/// Heed's lookup computes, so the dequantised vectors are Heed's bit for bit. A table without its
/// all-zero rows keeps them out here too, with the file's presence flags: the graph counts them
/// into a row map (`CumSum`) that sends every left-out row to one appended zero row.
///
/// LSTM and linear matrices (`heed quantize --weights`) are `INT8` plus scales through
/// `DequantizeLinear` along the rows (zero point 0: the same `Float(q) * scale`), which Heed also
/// does once at load.
extension ONNXGraphBuilder {
    /// Rows of table `name` ([rows, dim]) at the int64 or int32 `indices` (rank `indexRank`) as
    /// floats in `output` ([indices..., dim]).
    mutating func lookup(_ name: String, rows: Int, dim E: Int, at indices: String, indexRank: Int, into output: String) {
        let axis0: [(String, ONNX.AttributeValue)] = [("axis", .int(0))]
        guard let q = quantized[name] else {
            constant(name, dims: [rows, E], floats: tensor(name))
            node("Gather", [name, indices], output, axis0)
            return
        }
        var bytes = q.storedBytes
        var scales = Array(UnsafeBufferPointer(start: q.scaleStorage, count: q.storedRows))
        var stored = q.storedRows
        var index = indices
        if let present = q.presentStorage {
            // The file's one-byte presence flags, not an index per row: a left-out row reads an
            // appended zero row with scale 0 (Float(0) * 0 = +0, as Heed's copy), a stored row its
            // place among the stored ones, the running count of flags minus one.
            let flags = (0..<rows).map { UInt8(bitPattern: present[$0]) }
            bytes += [UInt8](repeating: 0, count: q.rowBytes)
            scales.append(0)
            m.initializers.append(ONNX.Tensor(name: name + ".present", type: .int8, dims: [rows], bytes: flags))
            constant("zero_i32", dims: [], int32s: [0])
            constant("one_i32", dims: [], int32s: [1])
            constant(name + ".zero_row", dims: [], int32s: [Int32(stored)])
            node("Cast", [name + ".present"], name + "_present_i32", [("to", .int(ONNX.DataType.int32.rawValue))])
            node("Cast", [name + ".present"], name + "_present_bool", [("to", .int(ONNX.DataType.bool.rawValue))])
            node("CumSum", [name + "_present_i32", "zero_i32"], name + "_present_count")
            node("Sub", [name + "_present_count", "one_i32"], name + "_stored_index")
            node("Where", [name + "_present_bool", name + "_stored_index", name + ".zero_row"], name + "_row")
            node("Gather", [name + "_row", indices], output + "_stored", axis0)
            index = output + "_stored"
            stored += 1
        }
        constant("axis_last", dims: [1], int64s: [-1])
        constant(name + ".scale", dims: [stored], floats: scales)
        node("Gather", [name + ".scale", index], output + "_row_scale", axis0)
        node("Unsqueeze", [output + "_row_scale", "axis_last"], output + "_scale")
        let toFloat: [(String, ONNX.AttributeValue)] = [("to", .int(ONNX.DataType.float.rawValue))]
        let levels = output + "_levels"
        switch q.scheme {
        case .int8:
            m.initializers.append(ONNX.Tensor(name: name + ".q", type: .int8, dims: [stored, E], bytes: bytes))
            node("Gather", [name + ".q", index], output + "_q", axis0)
            node("Cast", [output + "_q"], levels, toFloat)
        case .int4:
            // Byte b = 16·hi + lo (Int4Packing: element 2j low nibble, 2j+1 high); in floats b/16,
            // floor, ·16 and − are exact, so the nibbles come out exactly, then two's complement.
            m.initializers.append(ONNX.Tensor(name: name + ".q4", type: .uint8, dims: [stored, q.rowBytes], bytes: bytes))
            constant("sixteen_f", dims: [], floats: [16])
            constant("eight_f", dims: [], floats: [8])
            node("Gather", [name + ".q4", index], output + "_packed", axis0)
            node("Cast", [output + "_packed"], output + "_bytes", toFloat)
            node("Div", [output + "_bytes", "sixteen_f"], output + "_bytes_16")
            node("Floor", [output + "_bytes_16"], output + "_hi")
            node("Mul", [output + "_hi", "sixteen_f"], output + "_hi_16")
            node("Sub", [output + "_bytes", output + "_hi_16"], output + "_lo")
            node("Unsqueeze", [output + "_lo", "axis_last"], output + "_lo_1")
            node("Unsqueeze", [output + "_hi", "axis_last"], output + "_hi_1")
            node("Concat", [output + "_lo_1", output + "_hi_1"], output + "_nibble_pairs", [("axis", .int(-1))])
            // [indices..., bytes, 2] → [indices..., 2·bytes]: 0 keeps a dimension.
            constant("nibble_shape_\(indexRank)", dims: [indexRank + 1], int64s: [Int](repeating: 0, count: indexRank) + [-1])
            node("Reshape", [output + "_nibble_pairs", "nibble_shape_\(indexRank)"], output + "_nibbles_wide")
            var nibbles = output + "_nibbles_wide"
            if 2 * q.rowBytes != E {  // an odd width: drop the padding nibble
                constant("zero_1d", dims: [1], int64s: [0])
                constant("width_\(E)", dims: [1], int64s: [E])
                node("Slice", [nibbles, "zero_1d", "width_\(E)", "axis_last"], output + "_nibbles")
                nibbles = output + "_nibbles"
            }
            node("GreaterOrEqual", [nibbles, "eight_f"], output + "_negative")
            node("Sub", [nibbles, "sixteen_f"], output + "_nibbles_16")
            node("Where", [output + "_negative", output + "_nibbles_16", nibbles], levels)
        }
        node("Mul", [levels, output + "_scale"], output)
    }

    /// Matrix `name` ([rows, cols]) as the graph value `name`: a float initializer, or for a
    /// quantised one its int8 levels and scales through `DequantizeLinear`.
    mutating func matrix(_ name: String, rows: Int, cols: Int) {
        if let q = quantized[name] {
            dequantized(name, levels: q.values, scales: q.scales, rows: rows, cols: cols)
        } else {
            constant(name, dims: [rows, cols], floats: tensor(name))
        }
    }

    /// Matrix `name` ([rows, cols]) transposed, as the graph value `output`. A quantised one is
    /// stored transposed and dequantised along axis 1: ONNX Runtime 1.20's optimiser moves a
    /// `Transpose` after `DequantizeLinear` onto the int8 initializer and gets the per-row scales
    /// wrong (its output differed from the unoptimised graph's by 0.34 on a [1, 10] scorer).
    mutating func transposedMatrix(_ name: String, rows: Int, cols: Int, into output: String) {
        if let q = quantized[name] {
            let levels = q.values
            var t = [Int8](repeating: 0, count: levels.count)
            for r in 0..<rows {
                for c in 0..<cols { t[c * rows + r] = levels[r * cols + c] }
            }
            dequantized(output, levels: t, scales: q.scales, rows: cols, cols: rows, axis: 1)
        } else {
            constant(output, dims: [cols, rows], floats: Self.transposed(tensor(name), rows: rows, cols: cols))
        }
    }

    /// The LSTM operator's `W` or `R` ([directions, 4H, width], ONNX's gate order) from the
    /// per-direction matrices `base` + suffix; quantised rows are reordered with their scales.
    mutating func lstmWeights(_ output: String, _ base: String, directions: [String], hidden H: Int, width: Int) {
        let names = directions.map { base + $0 }
        if names.allSatisfy({ quantized[$0] != nil }) {
            var levels: [Int8] = [], scales: [Float] = []
            for n in names {
                levels += Self.onnxGateOrder(quantized[n]!.values, hidden: H, width: width)
                scales += Self.onnxGateOrder(quantized[n]!.scales, hidden: H, width: 1)
            }
            dequantized(output + "_rows", levels: levels, scales: scales, rows: names.count * 4 * H, cols: width)
            constant(output + ".shape", dims: [3], int64s: [names.count, 4 * H, width])
            node("Reshape", [output + "_rows", output + ".shape"], output)
        } else {
            let W = names.flatMap { Self.onnxGateOrder(tensor($0), hidden: H, width: width) }
            constant(output, dims: [names.count, 4 * H, width], floats: W)
        }
    }

    /// `output` = DequantizeLinear(levels as INT8 [rows, cols], scales along `axis`).
    private mutating func dequantized(_ output: String, levels: [Int8], scales: [Float], rows: Int, cols: Int, axis: Int = 0) {
        m.initializers.append(ONNX.Tensor(name: output + ".q", type: .int8, dims: [rows, cols], bytes: levels.map { UInt8(bitPattern: $0) }))
        constant(output + ".scale", dims: [scales.count], floats: scales)
        node("DequantizeLinear", [output + ".q", output + ".scale"], output, [("axis", .int(axis))])
    }
}
