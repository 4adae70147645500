import HeedNN

/// A hierarchical attention network (`HierarchicalClassifier`) as an ONNX graph: documents come
/// padded to [batch, sentences, words]; every sentence of the batch runs through the word-level
/// `LSTM` operator as one row of [batch·sentences, words] with its own length, word attention
/// turns each into a sentence vector, and the sentence-level `LSTM` operator and attention read
/// each document's vectors up to its sentence count. docs/onnx.md, "Han models".
///
/// A padded sentence has length 0: ONNX Runtime's `LSTM` gives zeros for it (onnx-check feeds it
/// such batches), and its attention is masked to exactly 0, so its sentence vector is 0; the
/// sentence level never reads it anyway (sequence_lens and the mask stop at the count).
extension ONNXGraphBuilder {
    mutating func hierarchicalModel() -> ONNX.Model {
        let c = han!
        let E = c.embedDim, C = c.classes
        m.producerVersion = "heed"
        m.metadata = metadata
        m.doc =
            "Heed han classifier: sentences of ids, their lengths and each document's sentence count (and subword pieces) in; "
            + "logits, probabilities (softmax(logits / T)), word and sentence attention out."
        let words: [ONNX.Dimension] = [.named("batch"), .named("sentences"), .named("words")]
        m.inputs.append(.init("ids", .int64, words, doc: "vocabulary ids of each sentence's words, 0-padded"))
        m.inputs.append(
            .init("word_lengths", .int64, [.named("batch"), .named("sentences")], doc: "words per sentence, 0 for padded sentences"))
        m.inputs.append(.init("sentence_counts", .int64, [.named("batch")], doc: "sentences per document, 1...sentences"))
        if c.subwordBuckets != nil {
            m.inputs.append(.init("pieces", .int64, words + [.named("pieces")], doc: "each word's subword buckets, padded with -1"))
        }

        lookup("embedding.weight", rows: c.vocabSize, dim: E, at: "ids", indexRank: 3, into: "word_vectors")
        var embedded = "word_vectors"
        if let buckets = c.subwordBuckets {
            subwordMean(buckets: buckets, dim: E, tokenRank: 3, words: "word_vectors", into: "token_vectors")
            embedded = "token_vectors"
        }

        // Word level: [batch·sentences, words, E], time-major for the LSTM operator.
        constant("minus_one_1d", dims: [1], int64s: [-1])
        constant("embed_dim_1d", dims: [1], int64s: [E])
        node("Shape", ["ids"], "ids_shape")
        node("Shape", ["ids"], "word_steps", [("start", .int(2))])
        node("Shape", ["ids"], "batch_and_sentences", [("end", .int(2))])
        node("Concat", ["minus_one_1d", "word_steps", "embed_dim_1d"], "sentence_rows_shape", [("axis", .int(0))])
        node("Reshape", [embedded, "sentence_rows_shape"], "sentence_rows")
        node("Reshape", ["word_lengths", "minus_one_1d"], "sentence_lengths")
        node("Cast", ["sentence_lengths"], "word_sequence_lens", [("to", .int(ONNX.DataType.int32.rawValue))])
        node("Transpose", ["sentence_rows"], "word_time_major", [("perm", .ints([1, 0, 2]))])
        lstmOperator("word_lstm", input: "word_time_major", sequenceLens: "word_sequence_lens", bidirectional: c.bidirectional, E: E, H: c.wordHiddenDim)
        batchMajorStates("word_lstm_Y", dim: c.wordOutputDim, into: "word_states")
        let (wordWeights, sentenceVectors) = attention(
            "word_attention", states: "word_states", dim: c.wordOutputDim, width: c.resolvedWordAttentionDim, lengths: "sentence_lengths")

        // Sentence level: each document's sentence vectors [batch, sentences, Dw].
        constant("word_output_dim_1d", dims: [1], int64s: [c.wordOutputDim])
        node("Concat", ["batch_and_sentences", "word_output_dim_1d"], "sentence_inputs_shape", [("axis", .int(0))])
        node("Reshape", [sentenceVectors, "sentence_inputs_shape"], "sentence_inputs")
        node("Cast", ["sentence_counts"], "sentence_sequence_lens", [("to", .int(ONNX.DataType.int32.rawValue))])
        node("Transpose", ["sentence_inputs"], "sentence_time_major", [("perm", .ints([1, 0, 2]))])
        lstmOperator(
            "sentence_lstm", input: "sentence_time_major", sequenceLens: "sentence_sequence_lens", bidirectional: c.bidirectional,
            E: c.wordOutputDim, H: c.sentenceHiddenDim)
        batchMajorStates("sentence_lstm_Y", dim: c.sentenceOutputDim, into: "sentence_states")
        let (sentenceWeights, document) = attention(
            "sentence_attention", states: "sentence_states", dim: c.sentenceOutputDim, width: c.resolvedSentenceAttentionDim,
            lengths: "sentence_counts")

        classified(document, D: c.sentenceOutputDim, C: C)
        node("Reshape", [wordWeights, "ids_shape"], "word_attention")
        node("Identity", [sentenceWeights], "sentence_attention")
        m.outputs.append(.init("word_attention", .float, words, doc: "each sentence's word attention, 0 at padding"))
        m.outputs.append(
            .init("sentence_attention", .float, [.named("batch"), .named("sentences")], doc: "sentence attention, 0 past each count"))
        return m
    }

    /// The `LSTM` operator's Y [time, directions, batch, H] as [batch, time, D], the forward half
    /// first as in Heed.
    private mutating func batchMajorStates(_ y: String, dim D: Int, into output: String) {
        constant("states_shape_\(D)", dims: [3], int64s: [0, 0, D])
        node("Transpose", [y], output + "_4d", [("perm", .ints([2, 0, 1, 3]))])
        node("Reshape", [output + "_4d", "states_shape_\(D)"], output)
    }

    /// Attention layer `p` (linear or additive, the model's scorer) over `states` [rows, time, D]
    /// with int64 `lengths` [rows]: returns the weights [rows, time] (exactly 0 at and past each
    /// length) and the context vectors [rows, D]. Scores past a length get −∞; a row of length 0
    /// (a padded sentence) is softmaxed as if of length 1, so nothing is NaN, then masked to 0.
    private mutating func attention(_ p: String, states: String, dim D: Int, width A: Int, lengths: String) -> (String, String) {
        constant("axis_1", dims: [1], int64s: [1])
        constant("axis_2_scores", dims: [1], int64s: [2])
        switch han!.scorer {
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
        constant("zero_f", dims: [], floats: [0])
        constant("minus_infinity", dims: [], floats: [-.infinity])
        node("Shape", [states], "\(p)_states_shape")
        node("Gather", ["\(p)_states_shape", "one_i64"], "\(p)_steps", [("axis", .int(0))])
        node("Range", ["zero_i64", "\(p)_steps", "one_i64"], "\(p)_positions")
        node("Unsqueeze", [lengths, "axis_1"], "\(p)_lengths_column")
        node("Max", ["\(p)_lengths_column", "one_i64"], "\(p)_softmax_lengths")
        node("Less", ["\(p)_positions", "\(p)_softmax_lengths"], "\(p)_softmax_positions")
        node("Where", ["\(p)_softmax_positions", "\(p)_scores", "minus_infinity"], "\(p)_masked_scores")
        node("Softmax", ["\(p)_masked_scores"], "\(p)_softmax", [("axis", .int(1))])
        node("Less", ["\(p)_positions", "\(p)_lengths_column"], "\(p)_real_positions")
        node("Where", ["\(p)_real_positions", "\(p)_softmax", "zero_f"], "\(p)_weights")
        node("Unsqueeze", ["\(p)_weights", "axis_1"], "\(p)_weights_row")
        node("MatMul", ["\(p)_weights_row", states], "\(p)_context_3d")
        node("Squeeze", ["\(p)_context_3d", "axis_1"], "\(p)_context")
        return ("\(p)_weights", "\(p)_context")
    }
}
