import Foundation
import HeedNN
import Testing

@testable import Heed

/// A protobuf message's fields, read back with the wire format's own rules (an independent reader
/// of what `ProtoWriter` writes): varints as numbers, length-delimited fields as bytes.
private func fields(_ bytes: ArraySlice<UInt8>) -> [(field: Int, varint: UInt64?, bytes: ArraySlice<UInt8>?)] {
    var out: [(Int, UInt64?, ArraySlice<UInt8>?)] = []
    var i = bytes.startIndex
    func varint() -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            let b = bytes[i]
            i += 1
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
    }
    while i < bytes.endIndex {
        let key = varint()
        switch key & 7 {
        case 0: out.append((Int(key >> 3), varint(), nil))
        case 2:
            let n = Int(varint())
            out.append((Int(key >> 3), nil, bytes[i..<(i + n)]))
            i += n
        case 5:
            out.append((Int(key >> 3), nil, bytes[i..<(i + 4)]))
            i += 4
        default: Issue.record("unexpected wire type \(key & 7)"); return out
        }
    }
    return out
}

private func string(_ b: ArraySlice<UInt8>?) -> String { String(decoding: b ?? [], as: UTF8.self) }

/// A graph's float initializers (`GraphProto` field 5; `TensorProto` type 1), by name.
private func floatInitializers(_ graph: [(field: Int, varint: UInt64?, bytes: ArraySlice<UInt8>?)]) -> [String: [Float]] {
    var initializers: [String: [Float]] = [:]
    for t in graph.filter({ $0.field == 5 }) {
        let f = fields(t.bytes!)
        guard f.first(where: { $0.field == 2 })?.varint == 1 else { continue }
        let raw = Array(f.first { $0.field == 9 }!.bytes!)
        initializers[string(f.first { $0.field == 8 }?.bytes)] = stride(from: 0, to: raw.count, by: 4).map { k in
            Float(bitPattern: UInt32(raw[k]) | UInt32(raw[k + 1]) << 8 | UInt32(raw[k + 2]) << 16 | UInt32(raw[k + 3]) << 24)
        }
    }
    return initializers
}

@Suite struct ONNXExportTests {
    @Test func varintsAndKeysFollowTheWireFormat() {
        var w = ProtoWriter()
        w.varint(1, 300)
        w.string(2, "hi")
        w.fixed32(3, Float(1).bitPattern)
        // 300 = 0b10_0101100 → AC 02; keys 1<<3|0, 2<<3|2, 3<<3|5.
        #expect(w.bytes == [0x08, 0xAC, 0x02, 0x12, 0x02, 0x68, 0x69, 0x1D, 0x00, 0x00, 0x80, 0x3F])
    }

    /// IR version, opset, the LSTM node and its weights, reordered from PyTorch's gates i, f, g, o
    /// to ONNX's i, o, f, c bit for bit, with both biases in one [directions, 8H] tensor.
    @Test(arguments: [ModelKind.bilstmAttention, .lstm])
    func graphHoldsTheModelsWeightsInONNXLayout(kind: ModelKind) throws {
        let classifier = randomClassifier(kind)
        let bytes = try classifier.onnxModel()
        #expect(try classifier.onnxModel() == bytes, "the export is deterministic")
        let model = fields(bytes[...])
        #expect(model.first { $0.field == 1 }?.varint == 8)
        let opset = fields(model.first { $0.field == 8 }!.bytes!)
        #expect(opset.first { $0.field == 2 }?.varint == 17)
        let graph = fields(model.first { $0.field == 7 }!.bytes!)
        let ops = graph.filter { $0.field == 1 }.map { node in string(fields(node.bytes!).first { $0.field == 4 }?.bytes) }
        #expect(ops.contains("LSTM"))
        #expect(ops.contains("Softmax"))
        let initializers = floatInitializers(graph)
        let H = classifier.config.hiddenDim, E = classifier.config.embedDim
        let suffixes = kind.isBidirectional ? ["", "_reverse"] : [""]
        let params = classifier.box.withModel { m in Dictionary(uniqueKeysWithValues: m.parameters.map { ($0.name, $0.values) }) }
        func reordered(_ a: [Float], width: Int) -> [Float] { [0, 3, 1, 2].flatMap { a[($0 * H * width)..<(($0 + 1) * H * width)] } }
        let W = suffixes.flatMap { reordered(params["lstm.weight_ih_l0" + $0]!, width: E) }
        let R = suffixes.flatMap { reordered(params["lstm.weight_hh_l0" + $0]!, width: H) }
        let B = suffixes.flatMap { reordered(params["lstm.bias_ih_l0" + $0]!, width: 1) + reordered(params["lstm.bias_hh_l0" + $0]!, width: 1) }
        #expect(initializers["lstm.W"] == W)
        #expect(initializers["lstm.R"] == R)
        #expect(initializers["lstm.B"] == B)
        #expect(initializers["embedding.weight"] == params["embedding.weight"])
        #expect(initializers["classifier.weight"] == params["classifier.weight"])
    }

    /// A graph's initializers by name: element type and raw bytes.
    private func initializers(_ bytes: [UInt8]) -> (ops: [String], tensors: [String: (type: UInt64, raw: [UInt8])]) {
        let graph = fields(fields(bytes[...]).first { $0.field == 7 }!.bytes!)
        let ops = graph.filter { $0.field == 1 }.map { node in string(fields(node.bytes!).first { $0.field == 4 }?.bytes) }
        var out: [String: (UInt64, [UInt8])] = [:]
        for t in graph.filter({ $0.field == 5 }) {
            let f = fields(t.bytes!)
            out[string(f.first { $0.field == 8 }?.bytes)] = (f.first { $0.field == 2 }!.varint!, Array(f.first { $0.field == 9 }?.bytes ?? []))
        }
        return (ops, out)
    }

    private func floatBytes(_ xs: [Float]) -> [UInt8] { xs.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

    /// A quantised model's graph holds each table as the file does (int8 rows as INT8, 4-bit rows
    /// as the same packed bytes in UINT8) with its scales, its --weights matrices as INT8 in ONNX's
    /// gate order, and no float copy of any of them. (ONNX Runtime runs these graphs in `make
    /// onnx-check`.)
    @Test(arguments: [QuantizationScheme.int8, .int4])
    func quantisedGraphKeepsTheTablesAsStored(scheme: QuantizationScheme) throws {
        let q = try randomClassifier(.bilstmAttention).quantized(weights: true, tables: scheme)
        let (ops, inits) = initializers(try q.onnxModel())
        let tables = q.box.withModel { $0.quantizedTensors }
        let table = try #require(tables["embedding.weight"])
        let stored = try #require(inits["embedding.weight" + (scheme == .int8 ? ".q" : ".q4")])
        #expect(stored.type == (scheme == .int8 ? 3 : 2) && stored.raw == table.storedBytes)
        #expect(inits["embedding.weight.scale"]?.raw == floatBytes(table.scales))
        let floats = inits.filter { $0.value.type == 1 }.keys
        for name in ["embedding.weight", "lstm.W", "lstm.R", "classifier.weight", "attention.proj.weight_t"] {
            #expect(!floats.contains(name), "\(name) is in the graph as floats")
        }
        let H = q.config.hiddenDim, E = q.config.embedDim
        func reordered(_ a: [Int8]) -> [Int8] { [0, 3, 1, 2].flatMap { a[($0 * H * E)..<(($0 + 1) * H * E)] } }
        let W = ["", "_reverse"].flatMap { reordered(tables["lstm.weight_ih_l0" + $0]!.values) }
        #expect(inits["lstm.W_rows.q"]?.type == 3 && inits["lstm.W_rows.q"]?.raw == W.map { UInt8(bitPattern: $0) })
        #expect(ops.contains("DequantizeLinear"))
    }

    /// A table stored without its all-zero rows stays so in the graph: the file's presence flags
    /// (one byte a row, not an index) and the stored rows plus one zero row that the left-out ones
    /// read. (ONNX Runtime runs such a graph in `make onnx-check`.)
    @Test func leftOutZeroRowsStayOut() throws {
        let float = randomClassifier(.lstm)
        float.box.withModel { model in
            let p = model.parameter(named: "embedding.weight")!
            for k in (8 * model.config.embedDim)..<p.count { p.value[k] = 0 }  // rows 8... all zero
        }
        let q = try float.quantized(tables: .int4)
        let table = q.box.withModel { $0.quantizedTensors["embedding.weight"]! }
        try #require(table.storedRows == 7 && table.rows == 32)  // <pad> and rows 8... left out
        let (ops, inits) = initializers(try q.onnxModel())
        let present = try #require(inits["embedding.weight.present"])
        #expect(present.type == 3 && present.raw == [0] + [UInt8](repeating: 1, count: 7) + [UInt8](repeating: 0, count: 24))
        #expect(inits["embedding.weight.q4"]?.raw == table.storedBytes + [UInt8](repeating: 0, count: table.rowBytes))
        #expect(inits["embedding.weight.scale"]?.raw == floatBytes(Array(UnsafeBufferPointer(start: table.scaleStorage, count: 7)) + [0]))
        #expect(inits["embedding.weight.zero_row"]?.raw == [7, 0, 0, 0])
        #expect(ops.contains("CumSum"))
    }

    /// The orthogonal encoder is a `Scan` per direction whose body orthogonalises each state; the
    /// step's weights are W_ihᵀ, W_hhᵀ and the summed biases (ONNX Runtime runs it in onnx-check).
    @Test func orthogonalEncoderIsAScanPerDirection() throws {
        let words = (0..<10).map { "w\($0)" }
        var options = TrainingOptions()
        options.model = .bilstmAttention
        options.encoder = .orthogonal
        options.embeddingSize = 4
        options.hiddenSize = 3
        let vocabulary = Vocabulary(settings: .default, tokens: words, labels: ["a", "b"])
        let model = Classifier(config: options.classifierConfig(vocabularySize: vocabulary.count, classes: 2), seed: 1)
        let classifier = TextClassifier(model: model, vocabulary: vocabulary, options: options)
        let bytes = try classifier.onnxModel()
        let graph = fields(fields(bytes[...]).first { $0.field == 7 }!.bytes!)
        let nodes = graph.filter { $0.field == 1 }.map { fields($0.bytes!) }
        let ops = nodes.map { string($0.first { $0.field == 4 }?.bytes) }
        #expect(ops.filter { $0 == "Scan" }.count == 2 && ops.filter { $0 == "ReverseSequence" }.count == 2 && !ops.contains("LSTM"), "\(ops)")
        // Each Scan's body (attribute "body", a GraphProto) holds the orthogonalisation.
        for scan in nodes where string(scan.first { $0.field == 4 }?.bytes) == "Scan" {
            let body = scan.filter { $0.field == 5 }.map { fields($0.bytes!) }.first { string($0.first { $0.field == 1 }?.bytes) == "body" }
            let bodyOps = fields(body!.first { $0.field == 6 }!.bytes!).filter { $0.field == 1 }.map {
                string(fields($0.bytes!).first { $0.field == 4 }?.bytes)
            }
            for op in ["MatMul", "Split", "ReduceSum", "Div", "Sub", "Where"] { #expect(bodyOps.contains(op), "\(op) in \(bodyOps)") }
        }
        let initializers = floatInitializers(graph)
        let params = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.values) })
        let H = 3, E = 4
        func transposed(_ a: [Float], rows: Int, cols: Int) -> [Float] {
            (0..<cols).flatMap { c in (0..<rows).map { r in a[r * cols + c] } }
        }
        for (d, suffix) in [("fw", ""), ("bw", "_reverse")] {
            #expect(initializers["orthogonal.\(d).W_ih_t"] == transposed(params["lstm.weight_ih_l0" + suffix]!, rows: 4 * H, cols: E))
            #expect(initializers["orthogonal.\(d).W_hh_t"] == transposed(params["lstm.weight_hh_l0" + suffix]!, rows: 4 * H, cols: H))
            let bias = zip(params["lstm.bias_ih_l0" + suffix]!, params["lstm.bias_hh_l0" + suffix]!).map { $0 + $1 }
            #expect(initializers["orthogonal.\(d).bias"] == bias)
        }
    }

    /// A han graph: both levels are LSTM operators holding their weights in ONNX's gate order (the
    /// word level's input width E, the sentence level's the word output width), both attention
    /// layers' matrices transposed, and the word and sentence attention outputs.
    @Test(arguments: [ClassifierConfig.Scorer.additive, .linear])
    func hanGraphHoldsBothLevelsInONNXLayout(scorer: ClassifierConfig.Scorer) throws {
        let words = (0..<20).map { "w\($0)" }
        var options = TrainingOptions()
        options.model = .han
        options.embeddingSize = 4
        options.hiddenSize = 3
        options.attention = scorer == .additive ? .additive : .linear
        let vocabulary = Vocabulary(settings: .default, tokens: words, labels: ["a", "b"])
        let config = options.hierarchicalConfig(vocabularySize: vocabulary.count, classes: 2)
        let model = HierarchicalClassifier(config: config, seed: 2)
        let classifier = TextClassifier(hierarchical: model, vocabulary: vocabulary, options: options)
        let bytes = try classifier.onnxModel()
        let (ops, inits) = initializers(bytes)
        #expect(ops.filter { $0 == "LSTM" }.count == 2, "\(ops)")
        let graph = fields(fields(bytes[...]).first { $0.field == 7 }!.bytes!)
        let outputs = graph.filter { $0.field == 12 }.map { string(fields($0.bytes!).first { $0.field == 1 }?.bytes) }
        #expect(outputs == ["logits", "probabilities", "word_attention", "sentence_attention"])
        let inputs = graph.filter { $0.field == 11 }.map { string(fields($0.bytes!).first { $0.field == 1 }?.bytes) }
        #expect(inputs == ["ids", "word_lengths", "sentence_counts"])
        let params = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.values) })
        func reordered(_ a: [Float], H: Int, width: Int) -> [Float] { [0, 3, 1, 2].flatMap { a[($0 * H * width)..<(($0 + 1) * H * width)] } }
        func transposed(_ a: [Float], rows: Int, cols: Int) -> [Float] { (0..<cols).flatMap { c in (0..<rows).map { r in a[r * cols + c] } } }
        for (level, width, H) in [("word_lstm", config.embedDim, config.wordHiddenDim), ("sentence_lstm", config.wordOutputDim, config.sentenceHiddenDim)] {
            let W = ["", "_reverse"].flatMap { reordered(params["\(level).weight_ih_l0" + $0]!, H: H, width: width) }
            let R = ["", "_reverse"].flatMap { reordered(params["\(level).weight_hh_l0" + $0]!, H: H, width: H) }
            let B = ["", "_reverse"].flatMap {
                reordered(params["\(level).bias_ih_l0" + $0]!, H: H, width: 1) + reordered(params["\(level).bias_hh_l0" + $0]!, H: H, width: 1)
            }
            #expect(inits["\(level).W"]?.raw == floatBytes(W), "\(level).W")
            #expect(inits["\(level).R"]?.raw == floatBytes(R), "\(level).R")
            #expect(inits["\(level).B"]?.raw == floatBytes(B), "\(level).B")
        }
        for (level, D) in [("word_attention", config.wordOutputDim), ("sentence_attention", config.sentenceOutputDim)] {
            switch scorer {
            case .additive:
                let A = level == "word_attention" ? config.resolvedWordAttentionDim : config.resolvedSentenceAttentionDim
                #expect(inits["\(level).proj.weight_t"]?.raw == floatBytes(transposed(params["\(level).proj.weight"]!, rows: A, cols: D)))
                #expect(inits["\(level).context.weight_t"]?.raw == floatBytes(params["\(level).context.weight"]!))
            case .linear:
                #expect(inits["\(level).score.weight_t"]?.raw == floatBytes(params["\(level).score.weight"]!))
            }
        }
        #expect(inits["embedding.weight"]?.raw == floatBytes(params["embedding.weight"]!))
        #expect(inits["classifier.weight"]?.raw == floatBytes(params["classifier.weight"]!))
        let tokenizer = String(decoding: try classifier.tokenizerJSON(), as: UTF8.self)
        #expect(tokenizer.contains("\"maxSentences\":\(options.maxSentences)") && tokenizer.contains("\"maxWords\":\(options.maxWords)"))
    }
}
