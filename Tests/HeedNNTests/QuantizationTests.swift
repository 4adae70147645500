import Foundation
import Testing

@testable import HeedNN

/// Int8 tables (`QuantizedTable`), their safetensors I8 encoding and the quantised classifier.
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

    /// `model` quantised: the embedding tables, plus every matrix with `weights`.
    static func quantized(_ model: Classifier, weights: Bool) -> Classifier {
        var tables: [String: QuantizedTable] = [:]
        for (name, shape) in model.config.tensorShapes where shape.count == 2 && (weights || name.hasSuffix("embedding.weight") || name == "subwords.weight") {
            tables[name] = QuantizedTable.quantize(model.parameter(named: name)!.values, rows: shape[0], dim: shape[1])
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

    @Test func errorPerElementIsAtMostHalfAScale() {
        let rows = 40, dim = 17
        var x = randomFloats(rows * dim, 3, seed: 21)
        for k in 0..<dim { x[k] = 0 }  // the padding row
        for k in 0..<dim { x[5 * dim + k] = 1e-30 * Float(k) }  // tiny values: scale stays usable
        let q = QuantizedTable.quantize(x, rows: rows, dim: dim)
        let deq = q.dequantized(), values = q.values, scales = q.scales
        #expect(scales[0] == 0 && values.prefix(dim).allSatisfy { $0 == 0 } && deq.prefix(dim).allSatisfy { $0 == 0 })
        for r in 0..<rows {
            let row = x[(r * dim)..<((r + 1) * dim)]
            let m = row.map(abs).max()!
            if m > 0 {
                #expect(scales[r] == m / 127)
                // The largest element lands on ±127 exactly.
                #expect(values[r * dim..<(r + 1) * dim].contains { abs(Int($0)) == 127 })
            }
            // round(x/s) is off by at most 1/2 plus the rounding of x/s and of q·s: each at most
            // 127·2^-23 of s relative, so 128·ulpOfOne·s covers both.
            let bound = scales[r] / 2 + 128 * Float.ulpOfOne * scales[r]
            for k in 0..<dim {
                let i = r * dim + k
                #expect(abs(Int(values[i])) <= 127)
                #expect(deq[i] == Float(values[i]) * scales[r], "dequantised value is exactly q·scale")
                #expect(abs(deq[i] - x[i]) <= bound, "row \(r) element \(k): \(x[i]) → \(deq[i]), scale \(scales[r])")
            }
        }
    }

    @Test(arguments: [false, true]) func logitsEqualTheDequantisedFloatModelBitForBit(weights: Bool) {
        let q = Self.quantized(Self.floatModel(), weights: weights)
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
        let (floats, int8, meta) = try SafeTensors.parseMixed(bytes)
        #expect(Set(int8.keys) == Set(q.quantizedTensors.keys))
        for (name, table) in q.quantizedTensors {
            #expect(int8[name] == Int8Tensor(shape: [table.rows, table.dim], values: table.values))
            #expect(floats[name + ".scale"] == NamedTensor(shape: [table.rows], values: table.scales))
            #expect(floats[name] == nil)
        }
        #expect(meta["heed.quantization"]?.contains("int8-symmetric-per-row") == true && meta["heed.labels"] == "[]")
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

    @Test func zeroRowsAreLeftOutExactly() throws {
        let float = Self.floatModel()
        let buckets = float.parameter(named: "subwords.weight")!
        for r in [1, 3, 4] { (buckets.value + r * 5).update(repeating: 0, count: 5) }
        let dense = Self.quantized(float, weights: false)
        var tables = dense.quantizedTensors
        tables["subwords.weight"] = tables["subwords.weight"]!.droppingZeroRows()
        let sparse = tables["subwords.weight"]!
        // Three zero rows cost 3·(5 + 4) bytes stored, more than 7 presence flags: they are left out.
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
        let (floats, int8, meta) = try SafeTensors.parseMixed(bytes)
        #expect(int8["subwords.weight.present"] == Int8Tensor(shape: [7], values: [1, 0, 1, 0, 0, 1, 1]))
        #expect(int8["subwords.weight"]?.shape == [4, 5] && floats["subwords.weight.scale"]?.shape == [4])
        let (loaded, _) = try ModelFile.load(from: url)
        let a = q.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        let b = loaded.forward(ids: Self.ids, lengths: Self.lengths, batch: 3, steps: 4, training: false, pieces: Self.pieces)
        #expect(a.logits.map(\.bitPattern) == b.logits.map(\.bitPattern))
        // Presence flags that are not 0/1, or that count other than the stored rows, are refused.
        var f = floats.map { (name: $0.key, tensor: $0.value) }, i = int8.map { (name: $0.key, tensor: $0.value) }
        let k = i.firstIndex { $0.name == "subwords.weight.present" }!
        i[k].tensor.values[1] = 2
        #expect(throws: ModelFileError.self) { try ModelFile.decodeNetwork(SafeTensors.serialize(f, int8: i, metadata: meta)) }
        i[k].tensor.values[1] = 1
        #expect(throws: ModelFileError.shapeMismatch(tensor: "subwords.weight", expected: [5, 5], found: [4, 5])) {
            try ModelFile.decodeNetwork(SafeTensors.serialize(f, int8: i, metadata: meta))
        }
        i[k].tensor.values[1] = 0
        f.removeAll { $0.name == "subwords.weight.scale" }
        #expect(throws: ModelFileError.self) { try ModelFile.decodeNetwork(SafeTensors.serialize(f, int8: i, metadata: meta)) }
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
