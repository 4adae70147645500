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
            "word_attention", scorer: c.scorer, states: "word_states", dim: c.wordOutputDim, width: c.resolvedWordAttentionDim,
            lengths: "sentence_lengths", emptyRows: true)

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
            "sentence_attention", scorer: c.scorer, states: "sentence_states", dim: c.sentenceOutputDim, width: c.resolvedSentenceAttentionDim,
            lengths: "sentence_counts", emptyRows: true)

        classified(document, D: c.sentenceOutputDim, C: C)
        node("Reshape", [wordWeights, "ids_shape"], "word_attention")
        node("Identity", [sentenceWeights], "sentence_attention")
        m.outputs.append(.init("word_attention", .float, words, doc: "each sentence's word attention, 0 at padding"))
        m.outputs.append(
            .init("sentence_attention", .float, [.named("batch"), .named("sentences")], doc: "sentence attention, 0 past each count"))
        return m
    }
}
