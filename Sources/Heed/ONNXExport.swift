import Foundation
import HeedIO
import HeedNN
import HeedText

/// A classifier as an ONNX graph (opset 17), so ONNX Runtime and other runtimes can run it:
/// embedding (plus the subword bag), the standard `LSTM` operator, attention in basic operators,
/// the output layer, and softmax(logits / T). docs/onnx.md describes the inputs and outputs.
///
/// The standard `LSTM` operator computes exactly Heed's plain cell: PyTorch's gate rows i, f, g, o
/// are reordered into ONNX's i, o, f, c, and both bias vectors are kept (ONNX adds Wb and Rb as
/// PyTorch does). `sequence_lens` makes padding invisible to both directions, as Heed's packing
/// does. An orthogonal encoder changes each state after the cell, which no standard operator
/// expresses, so such models are refused.
extension TextClassifier {
    /// The serialised ONNX `ModelProto` of this classifier. Throws for an orthogonal encoder and for
    /// han models. A quantised model's tables stay int8 or 4-bit in the graph and are dequantised
    /// row by row after the lookup (docs/onnx.md, "Quantised models").
    public func onnxModel() throws -> [UInt8] {
        if isHierarchical {
            throw HeedError.notForHierarchical("ONNX export", instead: "export a flat model (heed train --model bilstm-attention, the default)")
        }
        let config = self.config
        if config.resolvedEncoder == .orthogonal {
            throw HeedError.modelMismatch(
                "the orthogonal encoder orthogonalises every hidden state against the earlier ones, which ONNX's LSTM operator cannot express; "
                    + "only lstm and diversity encoders can be exported")
        }
        let (tensors, quantized): ([String: [Float]], [String: QuantizedTable]) = box.withModel { model in
            (Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.values) }), model.quantizedTensors)
        }
        var builder = ONNXGraphBuilder(config: config, tensors: tensors, quantized: quantized, temperature: temperature, metadata: onnxMetadata())
        return builder.model().serialized()
    }

    /// What a runtime needs besides the graph, as `metadata_props`.
    private func onnxMetadata() -> [(String, String)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let labelsJSON = (try? encoder.encode(labels)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        return [
            ("heed.labels", labelsJSON),
            ("heed.model", modelKind.rawValue),
            ("heed.encoder", config.resolvedEncoder.rawValue),
            ("heed.temperature", "\(temperature)"),
            ("heed.max_length", "\(options.maxLength)"),
            ("heed.tokenizer", vocabulary.settings.headerFields),
        ]
    }

    /// Everything a tokenizer outside Heed needs to produce the graph's inputs, as JSON: the
    /// tokenizer settings, the vocabulary in id order (`<pad>` and `<unk>` included), the subword
    /// recipe, the cut length, the labels and the temperature.
    public func tokenizerJSON() throws -> [UInt8] {
        let s = vocabulary.settings
        let subwords = options.subwordSettings.map { SubwordMetadata($0) }
        let description = ONNXTokenizerDescription(
            tokenizer: .init(
                headerFields: s.headerFields, locale: s.locale, normalization: s.normalization.rawValue, keepPunctuation: s.keepPunctuation,
                maskNumbers: s.maskNumbers),
            vocabulary: vocabulary.allTokens, unknownId: Int(Vocabulary.unknownID), labels: labels, maxLength: options.maxLength,
            temperature: temperature, subwords: subwords)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(description))
    }
}

/// The JSON written beside an exported graph (`TextClassifier.tokenizerJSON`).
private struct ONNXTokenizerDescription: Encodable {
    struct Settings: Encodable {
        var headerFields: String
        var locale: String
        var normalization: String
        var keepPunctuation: Bool
        var maskNumbers: Bool
    }
    var format = "heed-tokenizer"
    var version = 1
    var tokenizer: Settings
    var vocabulary: [String]
    var unknownId: Int
    var labels: [String]
    var maxLength: Int
    var temperature: Double
    var subwords: SubwordMetadata?
}

/// Builds the graph from a configuration and its tensors (state_dict names).
struct ONNXGraphBuilder {
    let config: ClassifierConfig
    let tensors: [String: [Float]]
    /// A quantised model's int8 and 4-bit tensors (ONNXQuantized.swift), empty for a float model.
    let quantized: [String: QuantizedTable]
    let temperature: Double
    let metadata: [(String, String)]
    var m = ONNX.Model(graphName: "heed")

    init(config: ClassifierConfig, tensors: [String: [Float]], quantized: [String: QuantizedTable], temperature: Double, metadata: [(String, String)]) {
        self.config = config
        self.tensors = tensors
        self.quantized = quantized
        self.temperature = temperature
        self.metadata = metadata
    }

    func tensor(_ name: String) -> [Float] {
        guard let t = tensors[name] else { preconditionFailure("missing tensor \(name)") }
        return t
    }

    mutating func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [(String, ONNX.AttributeValue)] = []) {
        m.nodes.append(ONNX.Node(op, inputs, [output], name: output, attributes: attributes))
    }

    /// A float constant; added once however often asked for.
    mutating func constant(_ name: String, dims: [Int], floats: [Float]) {
        guard !m.initializers.contains(where: { $0.name == name }) else { return }
        m.initializers.append(ONNX.Tensor(name: name, dims: dims, floats: floats))
    }

    /// An int32 constant; added once however often asked for.
    mutating func constant(_ name: String, dims: [Int], int32s: [Int32]) {
        guard !m.initializers.contains(where: { $0.name == name }) else { return }
        m.initializers.append(ONNX.Tensor(name: name, dims: dims, int32s: int32s))
    }

    /// An int64 constant; added once however often asked for, and only where a node uses it
    /// (ONNX Runtime warns about unused initializers).
    mutating func constant(_ name: String, dims: [Int], int64s: [Int]) {
        guard !m.initializers.contains(where: { $0.name == name }) else { return }
        m.initializers.append(ONNX.Tensor(name: name, dims: dims, int64s: int64s))
    }

    /// `rows` × `cols` row-major → `cols` × `rows`.
    static func transposed(_ a: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: a.count)
        for r in 0..<rows {
            for c in 0..<cols { out[c * rows + r] = a[r * cols + c] }
        }
        return out
    }

    /// PyTorch's gate blocks i, f, g, o (each `hidden` rows of `width`) in ONNX's order i, o, f, c.
    static func onnxGateOrder<T>(_ a: [T], hidden H: Int, width: Int) -> [T] {
        let block = H * width
        return [0, 3, 1, 2].flatMap { a[($0 * block)..<(($0 + 1) * block)] }
    }

    mutating func model() -> ONNX.Model {
        let E = config.embedDim, H = config.hiddenDim, D = config.outputDim, C = config.classes
        let hasSubwords = config.subwordBuckets != nil
        m.producerVersion = "heed"
        m.metadata = metadata
        m.doc = "Heed classifier: ids and lengths (and subword pieces) in; logits, probabilities (softmax(logits / T)) and attention out."
        m.inputs.append(.init("ids", .int64, [.named("batch"), .named("time")], doc: "vocabulary ids, 0-padded after each document's length"))
        m.inputs.append(.init("lengths", .int64, [.named("batch")], doc: "tokens per document, 1...time"))
        if hasSubwords {
            m.inputs.append(
                .init("pieces", .int64, [.named("batch"), .named("time"), .named("pieces")], doc: "each token's subword buckets, padded with -1"))
        }

        // Embedding, and the mean of each token's subword rows.
        lookup("embedding.weight", rows: config.vocabSize, dim: E, at: "ids", indexRank: 2, into: "word_vectors")
        var embedded = "word_vectors"
        if let buckets = config.subwordBuckets {
            constant("one_f", dims: [], floats: [1])
            constant("axis_2", dims: [1], int64s: [2])
            constant("axis_3", dims: [1], int64s: [3])
            constant("zero_i64", dims: [], int64s: [0])
            node("GreaterOrEqual", ["pieces", "zero_i64"], "piece_present")
            node("Cast", ["piece_present"], "piece_mask", [("to", .int(ONNX.DataType.float.rawValue))])
            node("Max", ["pieces", "zero_i64"], "piece_index")
            lookup("subwords.weight", rows: buckets, dim: E, at: "piece_index", indexRank: 3, into: "piece_rows")
            node("Unsqueeze", ["piece_mask", "axis_3"], "piece_mask_4d")
            node("Mul", ["piece_rows", "piece_mask_4d"], "piece_rows_masked")
            node("ReduceSum", ["piece_rows_masked", "axis_2"], "piece_sum", [("keepdims", .int(0))])
            node("ReduceSum", ["piece_mask", "axis_2"], "piece_count", [("keepdims", .int(1))])
            node("Max", ["piece_count", "one_f"], "piece_divisor")
            node("Div", ["piece_sum", "piece_divisor"], "piece_mean")
            node("Add", ["word_vectors", "piece_mean"], "token_vectors")
            embedded = "token_vectors"
        }

        // The (Bi)LSTM over time-major input; sequence_lens keeps padding out of both directions.
        let directions = config.bidirectional ? ["", "_reverse"] : [""]
        var B: [Float] = []
        for s in directions {
            B += Self.onnxGateOrder(tensor("lstm.bias_ih_l0" + s), hidden: H, width: 1)
            B += Self.onnxGateOrder(tensor("lstm.bias_hh_l0" + s), hidden: H, width: 1)
        }
        let dirs = directions.count
        lstmWeights("lstm.W", "lstm.weight_ih_l0", directions: directions, width: E)
        lstmWeights("lstm.R", "lstm.weight_hh_l0", directions: directions, width: H)
        constant("lstm.B", dims: [dirs, 8 * H], floats: B)
        node("Transpose", [embedded], "time_major", [("perm", .ints([1, 0, 2]))])
        node("Cast", ["lengths"], "sequence_lens", [("to", .int(ONNX.DataType.int32.rawValue))])
        m.nodes.append(
            ONNX.Node(
                "LSTM", ["time_major", "lstm.W", "lstm.R", "lstm.B", "sequence_lens"], ["lstm_Y", "lstm_Y_h"], name: "lstm",
                attributes: [("hidden_size", .int(H)), ("direction", .string(config.bidirectional ? "bidirectional" : "forward"))]))

        let pooled: String
        if config.pooling == .attention {
            // [time, directions, batch, H] → [batch, time, D], the forward half first as in Heed.
            constant("states_shape", dims: [3], int64s: [0, 0, D])
            node("Transpose", ["lstm_Y"], "states_4d", [("perm", .ints([2, 0, 1, 3]))])
            node("Reshape", ["states_4d", "states_shape"], "states")
            constant("axis_1", dims: [1], int64s: [1])
            constant("axis_2_scores", dims: [1], int64s: [2])
            switch config.scorer {
            case .linear:
                transposedMatrix("attention.score.weight", rows: 1, cols: D, into: "attention.score.weight_t")
                constant("attention.score.bias", dims: [1], floats: tensor("attention.score.bias"))
                node("MatMul", ["states", "attention.score.weight_t"], "scores_3d")
                node("Squeeze", ["scores_3d", "axis_2_scores"], "scores_raw")
                node("Add", ["scores_raw", "attention.score.bias"], "scores")
            case .additive:
                let A = config.resolvedAttentionDim
                transposedMatrix("attention.proj.weight", rows: A, cols: D, into: "attention.proj.weight_t")
                constant("attention.proj.bias", dims: [A], floats: tensor("attention.proj.bias"))
                transposedMatrix("attention.context.weight", rows: 1, cols: A, into: "attention.context.weight_t")
                node("MatMul", ["states", "attention.proj.weight_t"], "projected_raw")
                node("Add", ["projected_raw", "attention.proj.bias"], "projected")
                node("Tanh", ["projected"], "keys")
                node("MatMul", ["keys", "attention.context.weight_t"], "scores_3d")
                node("Squeeze", ["scores_3d", "axis_2_scores"], "scores")
            }
            // Positions at or past a document's length get −∞, so exactly zero weight.
            constant("zero_i64", dims: [], int64s: [0])
            constant("one_i64", dims: [], int64s: [1])
            constant("minus_infinity", dims: [], floats: [-.infinity])
            node("Shape", ["ids"], "ids_shape")
            node("Gather", ["ids_shape", "one_i64"], "time_steps", [("axis", .int(0))])
            node("Range", ["zero_i64", "time_steps", "one_i64"], "positions")
            node("Unsqueeze", ["lengths", "axis_1"], "lengths_column")
            node("Less", ["positions", "lengths_column"], "real_positions")
            node("Where", ["real_positions", "scores", "minus_infinity"], "masked_scores")
            node("Softmax", ["masked_scores"], "attention", [("axis", .int(1))])
            node("Unsqueeze", ["attention", "axis_1"], "attention_row")
            node("MatMul", ["attention_row", "states"], "context_3d")
            node("Squeeze", ["context_3d", "axis_1"], "pooled")
            pooled = "pooled"
        } else {
            // Y_h holds each direction's state after its last real step: forward at the last
            // token, reverse at the first, as Heed's last-state pooling reads them.
            constant("pooled_shape", dims: [2], int64s: [0, D])
            node("Transpose", ["lstm_Y_h"], "final_states", [("perm", .ints([1, 0, 2]))])
            node("Reshape", ["final_states", "pooled_shape"], "pooled")
            pooled = "pooled"
        }

        matrix("classifier.weight", rows: C, cols: D)
        constant("classifier.bias", dims: [C], floats: tensor("classifier.bias"))
        node("Gemm", [pooled, "classifier.weight", "classifier.bias"], "logits", [("transB", .int(1))])
        if temperature == 1 {
            node("Softmax", ["logits"], "probabilities", [("axis", .int(1))])
        } else {
            constant("temperature", dims: [], floats: [Float(temperature)])
            node("Div", ["logits", "temperature"], "scaled_logits")
            node("Softmax", ["scaled_logits"], "probabilities", [("axis", .int(1))])
        }
        m.outputs.append(.init("logits", .float, [.named("batch"), .fixed(C)], doc: "raw scores, in heed.labels order"))
        m.outputs.append(.init("probabilities", .float, [.named("batch"), .fixed(C)], doc: "softmax(logits / temperature)"))
        if config.pooling == .attention {
            m.outputs.append(.init("attention", .float, [.named("batch"), .named("time")], doc: "attention weights, 0 past each length"))
        }
        return m
    }
}
