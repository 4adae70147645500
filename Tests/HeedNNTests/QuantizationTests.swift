import Foundation
import Testing

@testable import HeedNN

/// Int8 and 4-bit tables (`QuantizedTable`), their safetensors I8 and packed U8 encodings and the
/// quantised classifier.
@Suite struct QuantizationTests {
    static let config = ClassifierConfig(
        vocabSize: 11, embedDim: 5, hiddenDim: 3, bidirectional: true, pooling: .attention, scorer: .additive, attentionDim: 4, classes: 3,
        subwordBuckets: 7)

    /// A float model with random subword rows (they start at zero) and a zero padding row.
    static func floatModel(seed: UInt64 = 5) -> Classifier {
        let model = Classifier(config: config, seed: seed)
        model.parameter(named: "subwords.weight")!.values = randomFloats(7 * 5, 0.5, seed: seed + 1)
        return model
    }

    /// `model` quantised: the embedding tables in `scheme`, plus every other matrix (int8) with
    /// `weights`, as `heed quantize` does.
    static func quantized(_ model: Classifier, weights: Bool, scheme: QuantizationScheme = .int8) -> Classifier {
        var tables: [String: QuantizedTable] = [:]
        for (name, shape) in model.config.tensorShapes where shape.count == 2 {
            let isTable = name.hasSuffix("embedding.weight") || name == "subwords.weight"
            guard weights || isTable else { continue }
            tables[name] = QuantizedTable.quantize(model.parameter(named: name)!.values, rows: shape[0], dim: shape[1], scheme: isTable ? scheme : .int8)
        }
        let q = Classifier(config: model.config, quantized: tables)
        for p in q.parameters { p.values = tables[p.name]?.dequantized() ?? model.parameter(named: p.name)!.values }
        return q
    }

    /// A float model holding `q`'s dequantised values in every tensor.
    static func dequantizedTwin(_ q: Classifier) -> Classifier {
        let f = Classifier(config: q.config, seed: 99)
        for p in f.parameters { p.values = q.quantizedTensors[p.name]?.dequantized() ?? q.parameter(named: p.name)!.values }
        return f
    }

    static let ids: [Int32] = [3, 1, 7, 10, 2, 0, 0, 0, 4, 9, 0, 0]
    static let lengths = [4, 1, 2]
    static let pieces: PieceLists = {
        var p = PieceLists()
        let lists: [[Int32]] = [[0, 3], [6], [], [2, 2, 5], [], [], [], [], [1], [4, 0, 6], [], []]
        for l in lists { p.append(l) }
        return p
    }()

    @Test(arguments: QuantizationScheme.allCases) func errorPerElementIsAtMostHalfAScale(scheme: QuantizationScheme) {
        let rows = 40, dim = 17, L = scheme.level
        var x = randomFloats(rows * dim, 3, seed: 21)
        for k in 0..<dim { x[k] = 0 }  // the padding row
        for k in 0..<dim { x[5 * dim + k] = 1e-30 * Float(k) }  // tiny values: scale stays usable
        let q = QuantizedTable.quantize(x, rows: rows, dim: dim, scheme: scheme)
        #expect(q.scheme == scheme && q.rowBytes == (scheme == .int8 ? 17 : 9))
        let deq = q.dequantized(), values = q.values, scales = q.scales
        #expect(scales[0] == 0 && values.prefix(dim).allSatisfy { $0 == 0 } && deq.prefix(dim).allSatisfy { $0 == 0 })
        for r in 0..<rows {
            let row = x[(r * dim)..<((r + 1) * dim)]
            let m = row.map(abs).max()!
            if m > 0 {
                #expect(scales[r] == m / Float(L))
                // The largest element lands on ±L exactly.
                #expect(values[r * dim..<(r + 1) * dim].contains { abs(Int($0)) == L })
            }
            // s = max|row|/L puts every x/s within ±L (up to rounding), so nothing is clipped and
            // round(x/s) is off by at most 1/2, plus the rounding of x/s and of q·s: each at most
            // L·2^-24 of s, so (L + 1)·ulpOfOne·s (ulpOfOne = 2^-23) covers both.
            let bound = scales[r] / 2 + Float(L + 1) * Float.ulpOfOne * scales[r]
            for k in 0..<dim {
                let i = r * dim + k
                #expect(abs(Int(values[i])) <= L)
                #expect(deq[i] == Float(values[i]) * scales[r], "dequantised value is exactly q·scale")
                #expect(abs(deq[i] - x[i]) <= bound, "row \(r) element \(k): \(x[i]) → \(deq[i]), scale \(scales[r])")
            }
        }
    }

    @Test(arguments: [false, true], QuantizationScheme.allCases)
    func logitsEqualTheDequantisedFloatModelBitForBit(weights: Bool, scheme: QuantizationScheme) {
        let q = Self.quantized(Self.floatModel(), weights: weights, scheme: scheme)
        #expect(q.quantizedTensors["embedding.weight"]!.scheme == scheme && q.quantizedTensors["subwords.weight"]!.scheme == scheme)
        let f = Self.dequantizedTwin(q)
        #expect(q.isQuantized && !q.parameters.contains { $0.name == "embedding.weight" || $0.name == "subwords.weight" })
        for pieces in [nil, Self.pieces] {
            let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: pieces)
            let b = f.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: pieces)
            #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
            #expect(a.attention!.map(\.bitPattern) == b.attention!.map(\.bitPattern))
            #expect(
                q.inputVectors(ids: Self.ids, pieces: pieces).map(\.bitPattern) == f.inputVectors(ids: Self.ids, pieces: pieces).map(\.bitPattern))
            // Explanations' gradient with respect to the input vectors; the int8 tables get none.
            let dLogits = randomFloats(9, 1, seed: 4)
            q.backward(dLogits: dLogits)
            f.backward(dLogits: dLogits)
            #expect(q.inputGradient().map(\.bitPattern) == f.inputGradient().map(\.bitPattern))
        }
        // Replicas and clones read the same int8 tables rather than copies.
        let r = q.replica(), c = q.clone()
        #expect(r.quantizedTensors["embedding.weight"] === q.quantizedTensors["embedding.weight"])
        #expect(c.quantizedTensors["subwords.weight"] === q.quantizedTensors["subwords.weight"])
        let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        let b = c.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
    }

    @Test(arguments: [false, true]) func int8FileRoundTrip(weights: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-q-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("q.heed"), again = dir.appendingPathComponent("again.heed")
        let q = Self.quantized(Self.floatModel(), weights: weights)
        try ModelFile.save(q, to: url, metadata: ["heed.labels": "[]"])
        let bytes = try Data(contentsOf: url)
        let (floats, int8, uint8, meta) = try SafeTensors.parseMixed(bytes)
        #expect(Set(int8.keys) == Set(q.quantizedTensors.keys) && uint8.isEmpty)
        for (name, table) in q.quantizedTensors {
            #expect(int8[name] == Int8Tensor(shape: [table.rows, table.dim], values: table.values))
            #expect(floats[name + ".scale"] == NamedTensor(shape: [table.rows], values: table.scales))
            #expect(floats[name] == nil)
        }
        // The entry int8 files have always had: no `schemes`, so their bytes did not change.
        let names = q.config.tensorShapes.map(\.name).filter { q.quantizedTensors[$0] != nil }
        #expect(meta["heed.quantization"] == #"{"scheme":"int8-symmetric-per-row","tensors":["# + names.map { "\"\($0)\"" }.joined(separator: ",") + "]}")
        #expect(meta["heed.labels"] == "[]")
        // Float-only readers (checkpoints, encoders) refuse it, naming the int8 tensor.
        #expect(throws: ModelFileError.unsupportedDType(tensor: int8.keys.sorted()[0], dtype: "I8")) { try SafeTensors.parse(bytes) }
        let (loaded, _) = try ModelFile.load(from: url)
        #expect(Set(loaded.quantizedTensors.keys) == Set(q.quantizedTensors.keys))
        for (name, table) in q.quantizedTensors {
            #expect(loaded.quantizedTensors[name]!.values == table.values && loaded.quantizedTensors[name]!.scales == table.scales)
        }
        for (a, b) in zip(q.parameters, loaded.parameters) { #expect(a.name == b.name && a.values == b.values) }
        let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        let b = loaded.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
        try ModelFile.save(loaded, to: again, metadata: ["heed.labels": "[]"])
        #expect(try Data(contentsOf: again) == bytes, "reading and writing again is byte-exact")
    }

    @Test(arguments: QuantizationScheme.allCases) func zeroRowsAreLeftOutExactly(scheme: QuantizationScheme) throws {
        let float = Self.floatModel()
        let buckets = float.parameter(named: "subwords.weight")!
        for r in [1, 3, 4] { (buckets.value + r * 5).update(repeating: 0, count: 5) }
        let dense = Self.quantized(float, weights: false, scheme: scheme)
        var tables = dense.quantizedTensors
        tables["subwords.weight"] = tables["subwords.weight"]!.droppingZeroRows()
        let sparse = tables["subwords.weight"]!
        // Three zero rows cost 3·(5 + 4) bytes stored (3·(3 + 4) in 4 bits), more than 7 presence
        // flags: they are left out.
        #expect(sparse.storedRows == 4 && sparse.presentStorage != nil)
        #expect(sparse.values == dense.quantizedTensors["subwords.weight"]!.values && sparse.scales == dense.quantizedTensors["subwords.weight"]!.scales)
        // The embedding table's one zero row (padding) costs less stored than 11 flags: kept.
        #expect(tables["embedding.weight"]!.droppingZeroRows() === tables["embedding.weight"]!)
        let q = Classifier(config: dense.config, quantized: tables)
        for p in q.parameters { p.values = dense.parameter(named: p.name)!.values }
        let twin = Self.dequantizedTwin(q)
        for m in [dense, twin] {
            let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
            let b = m.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
            #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heed-q-sparse-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        try ModelFile.save(q, to: url)
        let bytes = try Data(contentsOf: url)
        let (floats, int8, uint8, meta) = try SafeTensors.parseMixed(bytes)
        #expect(int8["subwords.weight.present"] == Int8Tensor(shape: [7], values: [1, 0, 1, 0, 0, 1, 1]))
        let width = scheme.rowBytes(dim: 5)
        let storedShape = scheme == .int8 ? int8["subwords.weight"]?.shape : uint8["subwords.weight"]?.shape
        #expect(storedShape == [4, width] && floats["subwords.weight.scale"]?.shape == [4])
        let (loaded, _) = try ModelFile.load(from: url)
        let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        let b = loaded.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
        // Presence flags that are not 0/1, or that count other than the stored rows, are refused.
        var f = floats.map { (name: $0.key, tensor: $0.value) }, i = int8.map { (name: $0.key, tensor: $0.value) }
        let u = uint8.map { (name: $0.key, tensor: $0.value) }
        let k = i.firstIndex { $0.name == "subwords.weight.present" }!
        i[k].tensor.values[1] = 2
        #expect(throws: ModelFileError.self) { try ModelFile.decodeNetwork(SafeTensors.serialize(f, int8: i, uint8: u, metadata: meta)) }
        i[k].tensor.values[1] = 1
        #expect(throws: ModelFileError.shapeMismatch(tensor: "subwords.weight", expected: [5, width], found: [4, width])) {
            try ModelFile.decodeNetwork(SafeTensors.serialize(f, int8: i, uint8: u, metadata: meta))
        }
        i[k].tensor.values[1] = 0
        f.removeAll { $0.name == "subwords.weight.scale" }
        #expect(throws: ModelFileError.self) { try ModelFile.decodeNetwork(SafeTensors.serialize(f, int8: i, uint8: u, metadata: meta)) }
    }

    /// A quantised file's image with its tensors edited.
    static func image(
        edit: (inout [(name: String, tensor: NamedTensor)], inout [(name: String, tensor: Int8Tensor)], inout [String: String]) -> Void
    ) throws -> Data {
        let q = quantized(floatModel(), weights: false)
        var floats: [(name: String, tensor: NamedTensor)] = q.parameters.map { ($0.name, NamedTensor(shape: $0.shape, values: $0.values)) }
        var int8: [(name: String, tensor: Int8Tensor)] = []
        for (name, t) in q.quantizedTensors.sorted(by: { $0.key < $1.key }) {
            int8.append((name, Int8Tensor(shape: [t.rows, t.dim], values: t.values)))
            floats.append((name + ".scale", NamedTensor(shape: [t.rows], values: t.scales)))
        }
        var meta = try ModelFile.fileMetadata(q, extra: [:])
        edit(&floats, &int8, &meta)
        return SafeTensors.serialize(floats, int8: int8, metadata: meta)
    }

    func refuses(
        _ what: String, _ check: (ModelFileError) -> Bool,
        _ edit: (inout [(name: String, tensor: NamedTensor)], inout [(name: String, tensor: Int8Tensor)], inout [String: String]) -> Void
    ) throws {
        let data = try Self.image(edit: edit)
        do {
            _ = try ModelFile.decodeNetwork(data)
            Issue.record("\(what): loaded without error")
        } catch {
            #expect(check(error), "\(what): got \(error)")
        }
    }

    @Test func badInt8TensorsAreRefused() throws {
        // The unedited image loads (so each refusal below is the edit's doing).
        _ = try ModelFile.decodeNetwork(try Self.image { _, _, _ in })
        func isBadQuantization(_ name: String) -> (ModelFileError) -> Bool { { if case .badQuantization(name, _) = $0 { true } else { false } } }
        try refuses("missing scale", isBadQuantization("embedding.weight")) { f, _, _ in f.removeAll { $0.name == "embedding.weight.scale" } }
        try refuses("scale of the wrong length", { $0 == .shapeMismatch(tensor: "subwords.weight.scale", expected: [7], found: [6]) }) { f, _, _ in
            let i = f.firstIndex { $0.name == "subwords.weight.scale" }!
            f[i].tensor = NamedTensor(shape: [6], values: Array(f[i].tensor.values.prefix(6)))
        }
        try refuses("negative scale", isBadQuantization("embedding.weight")) { f, _, _ in
            f[f.firstIndex { $0.name == "embedding.weight.scale" }!].tensor.values[2] = -1
        }
        try refuses("NaN scale", isBadQuantization("embedding.weight")) { f, _, _ in
            f[f.firstIndex { $0.name == "embedding.weight.scale" }!].tensor.values[2] = .nan
        }
        try refuses("-128", isBadQuantization("subwords.weight")) { _, q, _ in q[q.firstIndex { $0.name == "subwords.weight" }!].tensor.values[3] = -128 }
        try refuses("no quantisation entry", isBadQuantization("embedding.weight")) { _, _, m in m["heed.quantization"] = nil }
        try refuses("unlisted int8 tensor", isBadQuantization("subwords.weight")) { _, _, m in
            m["heed.quantization"] = #"{"scheme":"int8-symmetric-per-row","tensors":["embedding.weight"]}"#
        }
        try refuses("unknown scheme", { if case .invalidConfig = $0 { true } else { false } }) { _, _, m in
            m["heed.quantization"] = #"{"scheme":"int4","tensors":["embedding.weight","subwords.weight"]}"#
        }
        try refuses("int8 table with the wrong shape", { $0 == .shapeMismatch(tensor: "embedding.weight", expected: [11, 5], found: [5, 11]) }) { _, q, _ in
            q[q.firstIndex { $0.name == "embedding.weight" }!].tensor.shape = [5, 11]
        }
        try refuses("listed but float", isBadQuantization("lstm.weight_hh_l0")) { _, _, m in
            m["heed.quantization"] = #"{"scheme":"int8-symmetric-per-row","tensors":["embedding.weight","subwords.weight","lstm.weight_hh_l0"]}"#
        }
        try refuses("embedding left float", isBadQuantization("embedding.weight")) { f, q, m in
            q.removeAll { $0.name == "embedding.weight" }
            f.removeAll { $0.name == "embedding.weight.scale" }
            f.append(("embedding.weight", NamedTensor(shape: [11, 5], values: [Float](repeating: 0, count: 55))))
            m["heed.quantization"] = #"{"scheme":"int8-symmetric-per-row","tensors":["subwords.weight"]}"#
        }
        try refuses("quantised han", { if case .invalidConfig = $0 { true } else { false } }) { _, _, m in m["model"] = "han" }
        // Byte-level: an I8 tensor whose span is not its element count.
        let header = #"{"a":{"dtype":"I8","shape":[2,3],"data_offsets":[0,5]}}"#
        var raw = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { raw.append(contentsOf: $0) }
        raw.append(contentsOf: Array(header.utf8) + [UInt8](repeating: 1, count: 5))
        #expect(throws: ModelFileError.sizeMismatch(tensor: "a", bytes: 5, expected: 6)) { try SafeTensors.parseMixed(raw) }
    }
}

/// 4-bit tables: the nibble layout, the U8 file encoding and its refusals.
extension QuantizationTests {
    typealias Parts = (
        floats: [(name: String, tensor: NamedTensor)], int8: [(name: String, tensor: Int8Tensor)], uint8: [(name: String, tensor: UInt8Tensor)],
        metadata: [String: String]
    )

    /// The tensors and metadata `ModelFile.save` writes for `model`, for editing into other images.
    static func parts(of model: Classifier) throws -> Parts {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heed-q4-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        try ModelFile.save(model, to: url)
        let (f, i, u, m) = try SafeTensors.parseMixed(try Data(contentsOf: url))
        return (
            f.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }, i.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) },
            u.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }, m
        )
    }

    static func decode(_ p: Parts) throws -> Classifier {
        try ModelFile.decode(SafeTensors.serialize(p.floats, int8: p.int8, uint8: p.uint8, metadata: p.metadata)).model
    }

    @Test func int4PackingIsLowNibbleFirstAndRoundTrips() {
        // Element 0 in the low nibble, element 1 in the high one; two's complement: 1 → 0x1,
        // −1 → 0xF, 7 → 0x7, −7 → 0x9; an odd row's last high nibble is 0.
        #expect(Int4Packing.pack([1, -1, 7, -7, 3], rows: 1, dim: 5) == [0xF1, 0x97, 0x03])
        for a in Int8(-7)...7 {
            for b in Int8(-7)...7 {
                let byte = Int4Packing.pack([a, b], rows: 1, dim: 2)
                #expect(byte == [UInt8(a & 0xF) | UInt8(b & 0xF) << 4])
                #expect(Int4Packing.unpack(byte, rows: 1, dim: 2) == [a, b])
            }
        }
        // Rows start on byte boundaries, whatever the parity of K.
        for dim in [1, 2, 5, 8] {
            let rows = 15
            let values = (0..<(rows * dim)).map { Int8(($0 * 7 + $0 / dim) % 15 - 7) }
            let packed = Int4Packing.pack(values, rows: rows, dim: dim)
            #expect(packed.count == rows * ((dim + 1) / 2))
            #expect(Int4Packing.unpack(packed, rows: rows, dim: dim) == values)
            #expect(Int4Packing.problem(packed, rows: rows, dim: dim) == nil)
        }
        #expect(Int4Packing.problem([0x18], rows: 1, dim: 2) != nil, "−8 in a low nibble")
        #expect(Int4Packing.problem([0x81], rows: 1, dim: 2) != nil, "−8 in a high nibble")
        #expect(Int4Packing.problem([0x11], rows: 1, dim: 1) != nil, "an odd row's padding nibble must be 0")
        #expect(Int4Packing.problem([0x01], rows: 1, dim: 1) == nil)
    }

    /// A word table packed here by hand, from the documented layout rather than `Int4Packing`, reads
    /// back as the values meant: a lookup with the nibbles swapped, or signs not extended, fails.
    @Test func aHandPackedInt4TableReadsAsDocumented() throws {
        var p = try Self.parts(of: Self.quantized(Self.floatModel(), weights: false, scheme: .int4))
        let V = 11, E = 5, width = 3
        // Row r, element k: every level −7…7 occurs, in both nibbles.
        func v(_ r: Int, _ k: Int) -> Int8 { Int8((r * 3 + 2 * k) % 15 - 7) }
        var bytes = [UInt8](repeating: 0, count: V * width)
        for r in 0..<V {
            for k in 0..<E { bytes[r * width + k / 2] |= (UInt8(bitPattern: v(r, k)) & 0x0F) << (k % 2 == 0 ? 0 : 4) }
        }
        let scales = (0..<V).map { Float($0 + 1) * 0.25 }
        p.uint8[p.uint8.firstIndex { $0.name == "embedding.weight" }!].tensor = UInt8Tensor(shape: [V, width], values: bytes)
        p.floats[p.floats.firstIndex { $0.name == "embedding.weight.scale" }!].tensor = NamedTensor(shape: [V], values: scales)
        let model = try Self.decode(p)
        let table = model.quantizedTensors["embedding.weight"]!
        #expect(table.scheme == .int4 && table.storedBytes == bytes)
        #expect(table.values == (0..<V).flatMap { r in (0..<E).map { v(r, $0) } })
        // q·s with q ≤ 7 and s a multiple of 1/4 below 3 is exact in Float, so == is the right check.
        let expected = (0..<V).flatMap { r in (0..<E).map { Float(v(r, $0)) * scales[r] } }
        #expect(model.inputVectors(ids: (0..<V).map(Int32.init)) == expected)
        #expect(table.dequantized() == expected)
    }

    @Test(arguments: [false, true]) func int4FileRoundTrip(weights: Bool) throws {
        let q = Self.quantized(Self.floatModel(), weights: weights, scheme: .int4)
        let p = try Self.parts(of: q)
        let tables = ["embedding.weight", "subwords.weight"]
        // The tables are U8 [R, ⌈5/2⌉] holding the packed bytes; the matrices (with weights) stay I8.
        #expect(p.uint8.map(\.name) == tables)
        for (name, t) in p.uint8 {
            let table = q.quantizedTensors[name]!
            #expect(t == UInt8Tensor(shape: [table.rows, 3], values: table.storedBytes))
            #expect(Int4Packing.unpack(t.values, rows: table.rows, dim: 5) == table.values)
            #expect(p.floats.first { $0.name == name + ".scale" }?.tensor == NamedTensor(shape: [table.rows], values: table.scales))
        }
        let matrices = q.config.tensorShapes.map(\.name).filter { q.quantizedTensors[$0] != nil && !tables.contains($0) }
        #expect(p.int8.map(\.name) == matrices.sorted() && matrices.isEmpty == !weights)
        // `scheme` is int4, so a reader that knows only int8 refuses the file by name; the int8
        // matrices are named in `schemes`.
        let entry = try JSONSerialization.jsonObject(with: Data(p.metadata["heed.quantization"]!.utf8)) as! [String: Any]
        #expect(entry["scheme"] as? String == "int4-symmetric-per-row")
        #expect(entry["tensors"] as? [String] == q.config.tensorShapes.map(\.name).filter { q.quantizedTensors[$0] != nil })
        #expect((entry["schemes"] as? [String: String]) == (weights ? Dictionary(uniqueKeysWithValues: matrices.map { ($0, "int8-symmetric-per-row") }) : nil))
        if !weights {
            // Float-only readers (checkpoints, encoders) refuse it, naming the packed tensor.
            let image = SafeTensors.serialize(p.floats, int8: p.int8, uint8: p.uint8, metadata: p.metadata)
            #expect(throws: ModelFileError.unsupportedDType(tensor: "embedding.weight", dtype: "U8")) { try SafeTensors.parse(image) }
        }
        // Saved and loaded, the model computes bit for bit what the in-memory one does.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-q4-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("q.heed"), again = dir.appendingPathComponent("again.heed")
        try ModelFile.save(q, to: url)
        let (loaded, _) = try ModelFile.load(from: url)
        for (name, table) in q.quantizedTensors {
            let l = loaded.quantizedTensors[name]!
            #expect(l.scheme == table.scheme && l.storedBytes == table.storedBytes && l.scales == table.scales)
        }
        for (a, b) in zip(q.parameters, loaded.parameters) { #expect(a.name == b.name && a.values == b.values) }
        for pieces in [nil, Self.pieces] {
            let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: pieces)
            let b = loaded.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: pieces)
            #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
        }
        try ModelFile.save(loaded, to: again)
        #expect(try Data(contentsOf: again) == Data(contentsOf: url), "reading and writing again is byte-exact")
    }

    @Test func badInt4TensorsAreRefused() throws {
        let good = try Self.parts(of: Self.quantized(Self.floatModel(), weights: true, scheme: .int4))
        _ = try Self.decode(good)
        func refuses(_ what: String, _ check: (ModelFileError) -> Bool, _ edit: (inout Parts) -> Void) {
            var p = good
            edit(&p)
            do {
                _ = try Self.decode(p)
                Issue.record("\(what): loaded without error")
            } catch let error as ModelFileError {
                #expect(check(error), "\(what): got \(error)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        func isBad(_ name: String) -> (ModelFileError) -> Bool { { if case .badQuantization(name, _) = $0 { true } else { false } } }
        func isConfig(_ e: ModelFileError) -> Bool { if case .invalidConfig = e { true } else { false } }
        func table(_ p: Parts, _ name: String) -> Int { p.uint8.firstIndex { $0.name == name }! }
        refuses("nibble 0x8 (−8)", isBad("embedding.weight")) { p in p.uint8[table(p, "embedding.weight")].tensor.values[4] = 0x78 }
        refuses("padding nibble not 0", isBad("subwords.weight")) { p in p.uint8[table(p, "subwords.weight")].tensor.values[2] |= 0x10 }
        refuses("one byte a value", { $0 == .shapeMismatch(tensor: "embedding.weight", expected: [11, 3], found: [11, 5]) }) { p in
            let i = table(p, "embedding.weight")
            p.uint8[i].tensor = UInt8Tensor(shape: [11, 5], values: [UInt8](repeating: 0, count: 55))
        }
        refuses("listed int4 but stored I8", isBad("embedding.weight")) { p in
            let t = p.uint8.remove(at: table(p, "embedding.weight")).tensor
            p.int8.append(("embedding.weight", Int8Tensor(shape: t.shape, values: t.values.map { Int8(bitPattern: $0) })))
        }
        refuses("listed int8 but stored U8", isBad("lstm.weight_ih_l0")) { p in
            let i = p.int8.firstIndex { $0.name == "lstm.weight_ih_l0" }!
            let t = p.int8.remove(at: i).tensor
            p.uint8.append(("lstm.weight_ih_l0", UInt8Tensor(shape: t.shape, values: t.values.map { UInt8(bitPattern: $0) })))
        }
        refuses("an int8-only entry over U8 tables", isBad("embedding.weight")) { p in
            let entry = p.metadata["heed.quantization"]!
            p.metadata["heed.quantization"] = entry.replacingOccurrences(of: "int4-symmetric-per-row", with: "int8-symmetric-per-row")
        }
        refuses("unlisted U8 tensor", isBad("subwords.weight")) { p in
            p.metadata["heed.quantization"] = #"{"scheme":"int4-symmetric-per-row","tensors":["embedding.weight"]}"#
            p.int8.removeAll { !$0.name.hasSuffix(".present") }
        }
        refuses("unknown scheme for one tensor", isConfig) { p in
            p.metadata["heed.quantization"] = p.metadata["heed.quantization"]!.replacingOccurrences(of: "\"int8-symmetric-per-row\"", with: "\"int2\"")
        }
        refuses("a scheme for a tensor not listed", isConfig) { p in
            p.metadata["heed.quantization"] =
                #"{"scheme":"int4-symmetric-per-row","schemes":{"classifier.bias":"int8-symmetric-per-row"},"tensors":["embedding.weight","subwords.weight"]}"#
        }
    }
}
