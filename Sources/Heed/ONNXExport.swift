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
/// does. An orthogonal encoder changes each state after the cell, which the `LSTM` operator
/// cannot express: it is spelled out as a `Scan` over time instead (`orthogonalEncoder`).
extension TextClassifier {
    /// The serialised ONNX `ModelProto` of this classifier, flat or han. A quantised model's
    /// tables stay int8 or 4-bit in the graph and are dequantised row by row after the lookup
    /// (docs/onnx.md, "Quantised models").
    public func onnxModel() throws -> [UInt8] {
        if case .hierarchical(let han) = network {
            let (config, tensors, quantized) = han.withModel { model in
                (model.config, Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.values) }), model.quantizedTensors)
            }
            var builder = ONNXGraphBuilder(
                hierarchical: config, tensors: tensors, quantized: quantized, temperature: temperature, metadata: onnxMetadata())
            return builder.hierarchicalModel().serialized()
        }
        let config = self.config
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
        var out = [("heed.labels", labelsJSON), ("heed.model", modelKind.rawValue)]
        if isHierarchical {
            out += [("heed.max_sentences", "\(options.maxSentences)"), ("heed.max_words", "\(options.maxWords)")]
        } else {
            out += [("heed.encoder", config.resolvedEncoder.rawValue), ("heed.max_length", "\(options.maxLength)")]
        }
        return out + [("heed.temperature", "\(temperature)"), ("heed.tokenizer", vocabulary.settings.headerFields)]
    }

    /// Everything a tokenizer outside Heed needs to produce the graph's inputs, as JSON: the
    /// tokenizer settings, the vocabulary in id order (`<pad>` and `<unk>` included), the subword
    /// recipe, the cut length (a han model's sentence splitting and limits instead), the labels
    /// and the temperature.
    public func tokenizerJSON() throws -> [UInt8] {
        let s = vocabulary.settings
        let subwords = options.subwordSettings.map { SubwordMetadata($0) }
        let description = ONNXTokenizerDescription(
            tokenizer: .init(
                headerFields: s.headerFields, locale: s.locale, normalization: s.normalization.rawValue, keepPunctuation: s.keepPunctuation,
                maskNumbers: s.maskNumbers),
            vocabulary: vocabulary.allTokens, unknownId: Int(Vocabulary.unknownID), labels: labels, maxLength: options.maxLength,
            temperature: temperature, subwords: subwords,
            sentences: isHierarchical
                ? .init(locale: s.locale, maxSentences: options.maxSentences, maxWords: options.maxWords) : nil)
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
    /// A han model's sentence level (`SentenceLevel`): ICU's sentence break iterator for `locale`
    /// (the root rules where ICU has none) groups the tokens; the first `maxSentences` sentences
    /// keep their first `maxWords` tokens each. `maxLength` does not apply.
    var sentences: Sentences?
    struct Sentences: Encodable {
        var splitter = "icu-sentence-break"
        var locale: String
        var maxSentences: Int
        var maxWords: Int
    }
}

/// Builds the graph from a configuration and its tensors (state_dict names).
struct ONNXGraphBuilder {
    /// The flat network's configuration (nil for a han graph).
    let flat: ClassifierConfig?
    /// The han network's configuration (nil for a flat graph).
    let han: HierarchicalConfig?
    /// The flat configuration; only the flat graph's paths read it.
    var config: ClassifierConfig { flat! }
    let tensors: [String: [Float]]
    /// A quantised model's int8 and 4-bit tensors (ONNXQuantized.swift), empty for a float model.
    let quantized: [String: QuantizedTable]
    let temperature: Double
    let metadata: [(String, String)]
    var m = ONNX.Model(graphName: "heed")

    init(config: ClassifierConfig, tensors: [String: [Float]], quantized: [String: QuantizedTable], temperature: Double, metadata: [(String, String)]) {
        (flat, han) = (config, nil)
        self.tensors = tensors
        self.quantized = quantized
        self.temperature = temperature
        self.metadata = metadata
    }

    init(
        hierarchical config: HierarchicalConfig, tensors: [String: [Float]], quantized: [String: QuantizedTable], temperature: Double,
        metadata: [(String, String)]
    ) {
        (flat, han) = (nil, config)
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
            subwordMean(buckets: buckets, dim: E, tokenRank: 2, words: "word_vectors", into: "token_vectors")
            embedded = "token_vectors"
        }

        node("Transpose", [embedded], "time_major", [("perm", .ints([1, 0, 2]))])
        if config.resolvedEncoder == .orthogonal {
            orthogonalEncoder(E: E, H: H)
        } else {
            standardLSTM(E: E, H: H)
        }
        return pooledAndClassified(D: D, C: C)
    }

    /// `words` plus the mean of each token's subword rows ("pieces", one axis after the
    /// `tokenRank` token axes, padded with −1; a token without pieces adds 0), as Heed's lookup.
    mutating func subwordMean(buckets: Int, dim E: Int, tokenRank r: Int, words: String, into output: String) {
        constant("one_f", dims: [], floats: [1])
        constant("axis_\(r)", dims: [1], int64s: [r])
        constant("axis_\(r + 1)", dims: [1], int64s: [r + 1])
        constant("zero_i64", dims: [], int64s: [0])
        node("GreaterOrEqual", ["pieces", "zero_i64"], "piece_present")
        node("Cast", ["piece_present"], "piece_mask", [("to", .int(ONNX.DataType.float.rawValue))])
        node("Max", ["pieces", "zero_i64"], "piece_index")
        lookup("subwords.weight", rows: buckets, dim: E, at: "piece_index", indexRank: r + 1, into: "piece_rows")
        node("Unsqueeze", ["piece_mask", "axis_\(r + 1)"], "piece_mask_expanded")
        node("Mul", ["piece_rows", "piece_mask_expanded"], "piece_rows_masked")
        node("ReduceSum", ["piece_rows_masked", "axis_\(r)"], "piece_sum", [("keepdims", .int(0))])
        node("ReduceSum", ["piece_mask", "axis_\(r)"], "piece_count", [("keepdims", .int(1))])
        node("Max", ["piece_count", "one_f"], "piece_divisor")
        node("Div", ["piece_sum", "piece_divisor"], "piece_mean")
        node("Add", [words, "piece_mean"], output)
    }

    /// The (Bi)LSTM as ONNX's `LSTM` operator over "time_major"; sequence_lens keeps padding out of
    /// both directions. Writes "lstm_Y" [time, directions, batch, H] and "lstm_Y_h".
    private mutating func standardLSTM(E: Int, H: Int) {
        node("Cast", ["lengths"], "sequence_lens", [("to", .int(ONNX.DataType.int32.rawValue))])
        lstmOperator("lstm", input: "time_major", sequenceLens: "sequence_lens", bidirectional: config.bidirectional, E: E, H: H)
    }

    /// ONNX's `LSTM` operator with the weights `prefix`.weight_ih_l0 etc. (PyTorch's names) over
    /// `input` [time, batch, E] and int32 `sequenceLens` [batch]; writes "`prefix`_Y" [time,
    /// directions, batch, H] and "`prefix`_Y_h" [directions, batch, H].
    mutating func lstmOperator(_ prefix: String, input: String, sequenceLens: String, bidirectional: Bool, E: Int, H: Int) {
        let directions = bidirectional ? ["", "_reverse"] : [""]
        var B: [Float] = []
        for s in directions {
            B += Self.onnxGateOrder(tensor(prefix + ".bias_ih_l0" + s), hidden: H, width: 1)
            B += Self.onnxGateOrder(tensor(prefix + ".bias_hh_l0" + s), hidden: H, width: 1)
        }
        lstmWeights(prefix + ".W", prefix + ".weight_ih_l0", directions: directions, hidden: H, width: E)
        lstmWeights(prefix + ".R", prefix + ".weight_hh_l0", directions: directions, hidden: H, width: H)
        constant(prefix + ".B", dims: [directions.count, 8 * H], floats: B)
        m.nodes.append(
            ONNX.Node(
                "LSTM", [input, prefix + ".W", prefix + ".R", prefix + ".B", sequenceLens], [prefix + "_Y", prefix + "_Y_h"], name: prefix,
                attributes: [("hidden_size", .int(H)), ("direction", .string(bidirectional ? "bidirectional" : "forward"))]))
    }

    /// Attention or last-state pooling over "lstm_Y" / "lstm_Y_h", the output layer and the
    /// calibrated softmax; the model's outputs.
    private mutating func pooledAndClassified(D: Int, C: Int) -> ONNX.Model {
        let pooled: String
        if config.pooling == .attention {
            batchMajorStates("lstm_Y", dim: D, into: "states")
            let (weights, context) = attention(
                "attention", scorer: config.scorer, states: "states", dim: D, width: config.resolvedAttentionDim, lengths: "lengths", emptyRows: false)
            node("Identity", [weights], "attention")
            pooled = context
        } else {
            // Y_h holds each direction's state after its last real step: forward at the last
            // token, reverse at the first, as Heed's last-state pooling reads them.
            constant("pooled_shape", dims: [2], int64s: [0, D])
            node("Transpose", ["lstm_Y_h"], "final_states", [("perm", .ints([1, 0, 2]))])
            node("Reshape", ["final_states", "pooled_shape"], "pooled")
            pooled = "pooled"
        }

        classified(pooled, D: D, C: C)
        if config.pooling == .attention {
            m.outputs.append(.init("attention", .float, [.named("batch"), .named("time")], doc: "attention weights, 0 past each length"))
        }
        return m
    }

    /// The `LSTM` operator's Y [time, directions, batch, H] as [batch, time, D], the forward half
    /// first as in Heed.
    mutating func batchMajorStates(_ y: String, dim D: Int, into output: String) {
        constant("states_shape_\(D)", dims: [3], int64s: [0, 0, D])
        node("Transpose", [y], output + "_4d", [("perm", .ints([2, 0, 1, 3]))])
        node("Reshape", [output + "_4d", "states_shape_\(D)"], output)
    }

    /// Attention layer `p` (tensors `p.score.*` or `p.proj.*` and `p.context.*`, as `scorer`
    /// says) over `states` [rows, time, D] with int64 `lengths` [rows]: returns the weights
    /// [rows, time] (exactly 0 at and past each length: those scores are −∞) and the context
    /// vectors [rows, D]. With `emptyRows` a row may have length 0 (a han batch's padded
    /// sentence): it is softmaxed as if of length 1, so nothing is NaN, then masked to 0.
    mutating func attention(
        _ p: String, scorer: ClassifierConfig.Scorer, states: String, dim D: Int, width A: Int, lengths: String, emptyRows: Bool
    ) -> (weights: String, context: String) {
        constant("axis_1", dims: [1], int64s: [1])
        constant("axis_2_scores", dims: [1], int64s: [2])
        switch scorer {
        case .linear:
            transposedMatrix("\(p).score.weight", rows: 1, cols: D, into: "\(p).score.weight_t")
            constant("\(p).score.bias", dims: [1], floats: tensor("\(p).score.bias"))
            node("MatMul", [states, "\(p).score.weight_t"], "\(p)_scores_3d")
            node("Squeeze", ["\(p)_scores_3d", "axis_2_scores"], "\(p)_scores_raw")
            node("Add", ["\(p)_scores_raw", "\(p).score.bias"], "\(p)_scores")
        case .additive:
            transposedMatrix("\(p).proj.weight", rows: A, cols: D, into: "\(p).proj.weight_t")
            constant("\(p).proj.bias", dims: [A], floats: tensor("\(p).proj.bias"))
            transposedMatrix("\(p).context.weight", rows: 1, cols: A, into: "\(p).context.weight_t")
            node("MatMul", [states, "\(p).proj.weight_t"], "\(p)_projected_raw")
            node("Add", ["\(p)_projected_raw", "\(p).proj.bias"], "\(p)_projected")
            node("Tanh", ["\(p)_projected"], "\(p)_keys")
            node("MatMul", ["\(p)_keys", "\(p).context.weight_t"], "\(p)_scores_3d")
            node("Squeeze", ["\(p)_scores_3d", "axis_2_scores"], "\(p)_scores")
        }
        constant("zero_i64", dims: [], int64s: [0])
        constant("one_i64", dims: [], int64s: [1])
        constant("minus_infinity", dims: [], floats: [-.infinity])
        node("Shape", [states], "\(p)_states_shape")
        node("Gather", ["\(p)_states_shape", "one_i64"], "\(p)_steps", [("axis", .int(0))])
        node("Range", ["zero_i64", "\(p)_steps", "one_i64"], "\(p)_positions")
        node("Unsqueeze", [lengths, "axis_1"], "\(p)_lengths_column")
        node("Less", ["\(p)_positions", "\(p)_lengths_column"], "\(p)_real_positions")
        if emptyRows {
            constant("zero_f", dims: [], floats: [0])
            node("Max", ["\(p)_lengths_column", "one_i64"], "\(p)_softmax_lengths")
            node("Less", ["\(p)_positions", "\(p)_softmax_lengths"], "\(p)_softmax_positions")
            node("Where", ["\(p)_softmax_positions", "\(p)_scores", "minus_infinity"], "\(p)_masked_scores")
            node("Softmax", ["\(p)_masked_scores"], "\(p)_softmax", [("axis", .int(1))])
            node("Where", ["\(p)_real_positions", "\(p)_softmax", "zero_f"], "\(p)_weights")
        } else {
            node("Where", ["\(p)_real_positions", "\(p)_scores", "minus_infinity"], "\(p)_masked_scores")
            node("Softmax", ["\(p)_masked_scores"], "\(p)_weights", [("axis", .int(1))])
        }
        node("Unsqueeze", ["\(p)_weights", "axis_1"], "\(p)_weights_row")
        node("MatMul", ["\(p)_weights_row", states], "\(p)_context_3d")
        node("Squeeze", ["\(p)_context_3d", "axis_1"], "\(p)_context")
        return ("\(p)_weights", "\(p)_context")
    }

    /// The output layer over `pooled` [batch, D] and the calibrated softmax: the outputs "logits"
    /// and "probabilities".
    mutating func classified(_ pooled: String, D: Int, C: Int) {
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
    }
}

extension ONNXGraphBuilder {
    /// The orthogonal LSTM (HeedNN's `LSTMDirection` with `orthogonal`) as one `Scan` over time per
    /// direction: the cell in basic operators, then h̃ = h − (⟨h, s⟩ / (⟨s, s⟩ + ε)) s and s += h̃,
    /// where s is the running sum of the sequence's earlier h̃. A step past a document's length
    /// keeps every state and emits 0, so padding never enters the sums; the reverse direction runs
    /// the same body over `ReverseSequence` of each document's real steps, and its outputs are
    /// reversed back. Writes "lstm_Y" [time, directions, batch, H] and "lstm_Y_h" [directions,
    /// batch, H], laid out as the `LSTM` operator's.
    fileprivate mutating func orthogonalEncoder(E: Int, H: Int) {
        let directions = config.bidirectional ? ["", "_reverse"] : [""]
        // Masks [time, batch, 1]: true at a document's real steps (the same after reversal).
        constant("zero_i64", dims: [], int64s: [0])
        constant("one_i64", dims: [], int64s: [1])
        constant("axis_0", dims: [1], int64s: [0])
        constant("axis_1", dims: [1], int64s: [1])
        constant("axis_2", dims: [1], int64s: [2])
        node("Shape", ["time_major"], "time_major_shape")
        node("Gather", ["time_major_shape", "zero_i64"], "scan_steps", [("axis", .int(0))])
        node("Range", ["zero_i64", "scan_steps", "one_i64"], "scan_positions")
        node("Unsqueeze", ["scan_positions", "axis_1"], "scan_positions_column")
        node("Unsqueeze", ["lengths", "axis_0"], "lengths_row")
        node("Less", ["scan_positions_column", "lengths_row"], "scan_real")
        node("Unsqueeze", ["scan_real", "axis_2"], "scan_mask")
        // Zero initial states [batch, H].
        constant("hidden_dim", dims: [1], int64s: [H])
        node("Gather", ["time_major_shape", "axis_1"], "scan_batch", [("axis", .int(0))])
        node("Concat", ["scan_batch", "hidden_dim"], "state_shape", [("axis", .int(0))])
        node("ConstantOfShape", ["state_shape"], "zero_state")
        constant("orthogonal.epsilon", dims: [], floats: [orthogonalLSTMEpsilon])
        constant("zero_f", dims: [], floats: [0])
        constant("gate_split", dims: [4], int64s: [H, H, H, H])

        var outputs: [String] = [], finals: [String] = []
        for suffix in directions {
            let d = suffix.isEmpty ? "fw" : "bw"
            // The input projection with both biases, for every step at once: [time, batch, 4H].
            // Float initializers, or int8 ones through DequantizeLinear for a --weights model.
            transposedMatrix("lstm.weight_ih_l0" + suffix, rows: 4 * H, cols: E, into: "orthogonal.\(d).W_ih_t")
            transposedMatrix("lstm.weight_hh_l0" + suffix, rows: 4 * H, cols: H, into: "orthogonal.\(d).W_hh_t")
            let bias = zip(tensor("lstm.bias_ih_l0" + suffix), tensor("lstm.bias_hh_l0" + suffix)).map { $0 + $1 }
            constant("orthogonal.\(d).bias", dims: [4 * H], floats: bias)
            node("MatMul", ["time_major", "orthogonal.\(d).W_ih_t"], "\(d)_projected_raw")
            node("Add", ["\(d)_projected_raw", "orthogonal.\(d).bias"], "\(d)_projected")
            var stepInput = "\(d)_projected"
            if !suffix.isEmpty {
                node("ReverseSequence", ["\(d)_projected", "lengths"], "\(d)_projected_reversed", [("batch_axis", .int(1)), ("time_axis", .int(0))])
                stepInput = "\(d)_projected_reversed"
            }
            m.nodes.append(
                ONNX.Node(
                    "Scan", ["zero_state", "zero_state", "zero_state", stepInput, "scan_mask"],
                    ["\(d)_h_last", "\(d)_c_last", "\(d)_s_last", "\(d)_states"], name: "\(d)_scan",
                    attributes: [("body", .graph(Self.orthogonalStep(d, H: H))), ("num_scan_inputs", .int(2))]))
            var states = "\(d)_states"
            if !suffix.isEmpty {
                node("ReverseSequence", [states, "lengths"], "\(d)_states_forward_order", [("batch_axis", .int(1)), ("time_axis", .int(0))])
                states = "\(d)_states_forward_order"
            }
            node("Unsqueeze", [states, "axis_1"], "\(d)_states_4d")
            node("Unsqueeze", ["\(d)_h_last", "axis_0"], "\(d)_h_last_3d")
            outputs.append("\(d)_states_4d")
            finals.append("\(d)_h_last_3d")
        }
        node("Concat", outputs, "lstm_Y", [("axis", .int(1))])
        node("Concat", finals, "lstm_Y_h", [("axis", .int(0))])
    }

    /// One step of the orthogonal LSTM for `Scan`: states h, c, s [batch, H] and scan inputs x
    /// (the step's input projection, [batch, 4H], gates in PyTorch's order i, f, g, o) and mask
    /// [batch, 1]; outputs the new states and the step's output h̃ (0 past a document's length).
    private static func orthogonalStep(_ d: String, H: Int) -> ONNX.Graph {
        var g = ONNX.Graph(name: "\(d)_orthogonal_step")
        let state: [ONNX.Dimension] = [.named("batch"), .fixed(H)]
        for name in ["h", "c", "s"] { g.inputs.append(.init("\(d)_\(name)_in", .float, state)) }
        g.inputs.append(.init("\(d)_x", .float, [.named("batch"), .fixed(4 * H)]))
        g.inputs.append(.init("\(d)_mask", .bool, [.named("batch"), .fixed(1)]))
        func add(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [(String, ONNX.AttributeValue)] = []) {
            g.nodes.append(ONNX.Node(op, inputs, outputs, name: outputs[0], attributes: attributes))
        }
        let p = { (name: String) in "\(d)_\(name)" }
        add("MatMul", [p("h_in"), "orthogonal.\(d).W_hh_t"], [p("recurrent")])
        add("Add", [p("x"), p("recurrent")], [p("gates")])
        add("Split", [p("gates"), "gate_split"], [p("zi"), p("zf"), p("zg"), p("zo")], [("axis", .int(1))])
        add("Sigmoid", [p("zi")], [p("i")])
        add("Sigmoid", [p("zf")], [p("f")])
        add("Tanh", [p("zg")], [p("g")])
        add("Sigmoid", [p("zo")], [p("o")])
        add("Mul", [p("f"), p("c_in")], [p("fc")])
        add("Mul", [p("i"), p("g")], [p("ig")])
        add("Add", [p("fc"), p("ig")], [p("c")])
        add("Tanh", [p("c")], [p("tanh_c")])
        add("Mul", [p("o"), p("tanh_c")], [p("h")])
        add("Mul", [p("h"), p("s_in")], [p("hs")])
        add("ReduceSum", [p("hs"), "axis_1"], [p("a")], [("keepdims", .int(1))])
        add("Mul", [p("s_in"), p("s_in")], [p("ss")])
        add("ReduceSum", [p("ss"), "axis_1"], [p("s_norm2")], [("keepdims", .int(1))])
        add("Add", [p("s_norm2"), "orthogonal.epsilon"], [p("q")])
        add("Div", [p("a"), p("q")], [p("coefficient")])
        add("Mul", [p("coefficient"), p("s_in")], [p("projection")])
        add("Sub", [p("h"), p("projection")], [p("h_tilde")])
        add("Add", [p("s_in"), p("h_tilde")], [p("s")])
        add("Where", [p("mask"), p("h_tilde"), p("h_in")], [p("h_out")])
        add("Where", [p("mask"), p("c"), p("c_in")], [p("c_out")])
        add("Where", [p("mask"), p("s"), p("s_in")], [p("s_out")])
        add("Where", [p("mask"), p("h_tilde"), "zero_f"], [p("y")])
        for name in ["h_out", "c_out", "s_out"] { g.outputs.append(.init(p(name), .float, state)) }
        g.outputs.append(.init(p("y"), .float, state))
        return g
    }
}
