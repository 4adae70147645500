import HeedNN
import HeedText

/// A text as the model sees it: token ids (after `maxLength` truncation) and the tokens they came
/// from, with byte offsets into the text.
public struct EncodedText: Sendable {
    /// Vocabulary ids, `<unk>` (1) for unknown tokens.
    public var ids: [Int32]
    /// The tokens behind `ids`, one each, with their byte ranges (no weights yet).
    public var tokens: [AttendedToken]
    /// Each token's subword buckets, for a model with subwords.
    package var pieces: PieceLists?
    /// The kept sentences of a hierarchical model's input, in order, covering `tokens`; nil for a
    /// flat model.
    public var sentences: [SentenceSpan]?
    /// Hierarchical model: whether sentences or words past the limits were cut (a flat model's
    /// callers tell by reading one token past the limit).
    public var truncated = false
    /// What the network reads.
    public var sequence: TokenSequence { TokenSequence(ids: ids, pieces: pieces, sentenceLengths: sentences?.map(\.tokenCount)) }

    init(ids: [Int32], tokens: [AttendedToken], pieces: PieceLists?) {
        (self.ids, self.tokens, self.pieces) = (ids, tokens, pieces)
    }
}

/// Class probabilities (model label order) and, for attention models, one weight per id.
public struct IDPrediction: Sendable {
    /// Class probabilities, in the order of `TextClassifier.labels`, at the model's temperature.
    public var probabilities: [Float]
    /// The network's raw scores, before the temperature and the softmax.
    public var logits: [Float]
    /// One weight per id (after the `maxLength` cut), summing to 1; nil for models without
    /// attention and for empty sequences. For a hierarchical model, each token's word attention
    /// times its sentence's attention.
    public var attention: [Float]?
    /// Hierarchical model: one weight per sentence, summing to 1; nil otherwise and for empty
    /// sequences.
    public var sentenceAttention: [Float]?
    /// Hierarchical model: each token's word attention within its sentence (each sentence's sum
    /// to 1), as the network computed it; nil otherwise. For the ONNX reference lines.
    package var wordAttention: [Float]?
    /// Index of the most probable class: the largest logit (the first on ties), so no temperature
    /// and no rounding of the probabilities can change it.
    public var best: Int { Calibration.bestIndex(logits[...]) }
}

extension TextClassifier {
    /// Tokenizes texts exactly as `predict` and training do, without running the network.
    public func encode(_ texts: [String]) throws -> [EncodedText] {
        let tokenizer = try Tokenizer(settings: vocabulary.settings)
        let level = sentenceLevel()
        return texts.map { encode($0, tokenizer: tokenizer, maxLength: options.maxLength, sentenceLevel: level) }
    }

    /// One text's ids and tokens, at most `maxLength` of them (one past the model's limit tells
    /// whether a text was cut); a hierarchical model's bounded by its sentence level instead.
    func encode(_ text: String, tokenizer: Tokenizer, maxLength: Int, sentenceLevel: SentenceLevel?) -> EncodedText {
        networkInput(
            text, vocabulary: vocabulary, tokenizer: tokenizer, maxLength: maxLength, subwords: options.subwordSettings, keepTokens: true,
            sentenceLevel: sentenceLevel)
    }

    /// A sentence level for this thread (hierarchical model), nil for a flat one. The tokenizer
    /// opened the vocabulary's locale already; should ICU have no sentence rules for it, the root
    /// rules split sentences.
    func sentenceLevel() -> SentenceLevel? {
        guard isHierarchical else { return nil }
        if let level = try? SentenceLevel(options, locale: vocabulary.settings.locale) { return level }
        return try? SentenceLevel(options, locale: "root")
    }

    /// Scores id sequences directly (for erasure and occlusion experiments). Sequences longer than
    /// `options.maxLength` are cut; an empty sequence is scored on a lone `<unk>`, as `predict` does
    /// for a text without tokens, and gets no attention weights. A model with subwords hashes each
    /// id's vocabulary token into its buckets (`<unk>` gets none: its word is gone); score
    /// `TokenSequence`s to keep an unknown word's pieces. A hierarchical model reads each id
    /// sequence as one sentence (cut to `maxWords`).
    public func predict(ids sequences: [[Int32]]) -> [IDPrediction] {
        predict(sequences.map(sequence(ofVocabularyIds:)))
    }

    /// `ids` with each vocabulary token's subword buckets, as `predict(ids:)` scores them.
    func sequence(ofVocabularyIds ids: [Int32]) -> TokenSequence {
        guard let subwords = options.subwordSettings else { return TokenSequence(ids: ids) }
        var pieces = PieceLists()
        for id in ids { pieces.append(bucketsOfVocabularyID: Int(id), in: vocabulary, subwords) }
        return TokenSequence(ids: ids, pieces: pieces)
    }

    /// Scores token sequences (ids with their subword buckets). Sequences longer than
    /// `options.maxLength` are cut (a hierarchical model's: to `maxSentences` sentences of at most
    /// `maxWords` tokens); an empty one is scored on a lone `<unk>` and gets no attention.
    public func predict(_ sequences: [TokenSequence]) -> [IDPrediction] {
        guard !sequences.isEmpty else { return [] }
        if case .hierarchical(let box) = network { return predictHierarchical(sequences, box) }
        let cut = sequences.map { $0.count > options.maxLength ? $0.prefix(options.maxLength) : $0 }
        return inBatches(cut.indices.sorted { cut[$0].count > cut[$1].count }, of: box) { rows, model in score(rows, cut, on: model) }
    }

    /// Scores `order` (positions of the sequences, longest first) in batches of 64 over `workers`
    /// threads, each on its own replica; the results in position order. The batches are the same
    /// for any worker count, so are the scores, bit for bit.
    private func inBatches<Model>(
        _ order: [Int], of box: ModelBox<Model>, _ score: ([Int], Model) -> [IDPrediction]
    ) -> [IDPrediction] {
        let batches = stride(from: 0, to: order.count, by: 64).map { Array(order[$0..<min($0 + 64, order.count)]) }
        let threads = max(1, min(workers, batches.count))
        var out = [IDPrediction?](repeating: nil, count: order.count)
        box.withModels(threads) { models in
            let scored = concurrentMap(count: batches.count, threads: threads) { worker, b in score(batches[b], models[worker]) }
            for (rows, predictions) in zip(batches, scored) {
                for (i, p) in zip(rows, predictions) { out[i] = p }
            }
        }
        return out.map { $0! }
    }

    /// A hierarchical model's scores: a sequence without sentence lengths is one sentence; both are
    /// cut to the model's bounds (`maxSentences` × `maxWords`), batched by sentence count.
    private func predictHierarchical(_ sequences: [TokenSequence], _ box: ModelBox<HierarchicalClassifier>) -> [IDPrediction] {
        let cut = sequences.map { s in
            let lengths = s.sentenceLengths ?? (s.count == 0 ? [] : [s.count])
            guard lengths.count > options.maxSentences || lengths.contains(where: { $0 > options.maxWords }) else {
                return TokenSequence(ids: s.ids, pieces: s.pieces, sentenceLengths: lengths)
            }
            var kept: [Int] = [], at = 0
            for n in lengths.prefix(options.maxSentences) { kept += at..<(at + min(n, options.maxWords)); at += n }
            return TokenSequence(ids: s.ids, pieces: s.pieces, sentenceLengths: lengths).selecting(kept)
        }
        let order = cut.indices.sorted { (cut[$0].sentenceLengths!.count, cut[$0].count) > (cut[$1].sentenceLengths!.count, cut[$1].count) }
        return inBatches(order, of: box) { rows, model in scoreHierarchical(rows, cut, on: model) }
    }

    /// Scores one batch of hierarchical sequences, in the batch's order; an empty one is a lone
    /// `<unk>` sentence and gets no attention.
    private func scoreHierarchical(_ rows: [Int], _ cut: [TokenSequence], on model: HierarchicalClassifier) -> [IDPrediction] {
        let C = labels.count
        var ids: [Int32] = [], lengths: [Int] = [], counts: [Int] = []
        var pieces = options.subwords == nil ? nil : PieceLists()
        for i in rows {
            let doc =
                cut[i].count == 0
                ? TokenSequence(ids: [Vocabulary.unknownID], pieces: pieces.map { _ in PieceLists(ends: [0], buckets: []) }, sentenceLengths: [1]) : cut[i]
            ids += doc.ids
            lengths += doc.sentenceLengths!
            counts.append(doc.sentenceLengths!.count)
            if pieces != nil {
                let own = doc.pieces ?? sequence(ofVocabularyIds: doc.ids).pieces!
                for t in 0..<doc.count { pieces!.append(own.buckets[own.range(t)]) }
            }
        }
        let result = model.forward(HierarchicalBatch(ids: ids, sentenceLengths: lengths, sentenceCounts: counts, pieces: pieces), training: false)
        var token = 0, sentence = 0
        return rows.enumerated().map { r, i in
            let n = counts[r], tokens = lengths[sentence..<(sentence + n)].reduce(0, +)
            defer { (token, sentence) = (token + tokens, sentence + n) }
            let logits = Array(result.logits[(r * C)..<((r + 1) * C)])
            let probabilities =
                temperature == 1
                ? Array(result.probabilities[(r * C)..<((r + 1) * C)])
                : Calibration.probabilities(logits: logits[...], temperature: temperature).map { Float($0) }
            guard cut[i].count > 0 else { return IDPrediction(probabilities: probabilities, logits: logits, attention: nil) }
            let sentenceWeights = Array(result.sentenceAttention[sentence..<(sentence + n)])
            var attention: [Float] = []
            attention.reserveCapacity(tokens)
            var t = token
            for (k, length) in lengths[sentence..<(sentence + n)].enumerated() {
                for _ in 0..<length {
                    attention.append(result.wordAttention[t] * sentenceWeights[k])
                    t += 1
                }
            }
            return IDPrediction(
                probabilities: probabilities, logits: logits, attention: attention, sentenceAttention: sentenceWeights,
                wordAttention: Array(result.wordAttention[token..<(token + tokens)]))
        }
    }

    /// A flat model's scores of several sets of sequences, each set of one length and at most 64
    /// (a document's occlusion sequences), in one batch: each set's scores are those `predict`
    /// gives it alone (one batch of its own) wherever the kernel computes each row of a GEMM
    /// whatever the other rows; the attention's GEMV runs per set (see `Classifier.forward`).
    func predict(sets: [[TokenSequence]]) -> [[IDPrediction]] {
        guard case .flat(let box) = network, !sets.isEmpty else { return sets.map(predict) }
        let cut = sets.flatMap { $0 }, label = sets.indices.flatMap { s in sets[s].map { _ in s } }
        precondition(sets.allSatisfy { set in set.count <= 64 && set.allSatisfy { $0.count == set[0].count && $0.count <= options.maxLength } })
        // Longest first; sets of one length keep their order, so each set stays adjacent.
        let order = cut.indices.sorted { (cut[$0].count, -$0) > (cut[$1].count, -$1) }
        let scored = box.withModel { model in score(order, cut, on: model, attentionGroups: order.map { label[$0] }) }
        var out = [IDPrediction?](repeating: nil, count: cut.count)
        for (i, p) in zip(order, scored) { out[i] = p }
        var at = 0
        return sets.map { set in
            defer { at += set.count }
            return out[at..<(at + set.count)].map { $0! }
        }
    }

    /// Scores one batch of sequences (longest first), in the batch's order; `attentionGroups`
    /// (per row) as in `Classifier.forward`.
    private func score(_ rows: [Int], _ cut: [TokenSequence], on model: Classifier, attentionGroups: [Int]? = nil) -> [IDPrediction] {
        let C = labels.count
        let steps = max(1, cut[rows[0]].count)
        var ids = [Int32](repeating: 0, count: rows.count * steps)
        var lengths: [Int] = []
        var pieces = options.subwords == nil ? nil : PieceLists()
        for (r, i) in rows.enumerated() {
            let doc = cut[i].count == 0 ? TokenSequence(ids: [Vocabulary.unknownID], pieces: pieces.map { _ in PieceLists(ends: [0], buckets: []) }) : cut[i]
            for (t, id) in doc.ids.enumerated() { ids[r * steps + t] = id }
            lengths.append(doc.count)
            if pieces != nil {
                let own = doc.pieces ?? sequence(ofVocabularyIds: doc.ids).pieces!
                for t in 0..<doc.count { pieces!.append(own.buckets[own.range(t)]) }
                pieces!.appendEmpty(steps - doc.count)
            }
        }
        let result = model.forward(
            ids: ids, lengths: lengths, batch: rows.count, steps: steps, training: false, pieces: pieces, attentionGroups: attentionGroups)
        return rows.enumerated().map { r, i in
            let logits = Array(result.logits[(r * C)..<((r + 1) * C)])
            let probabilities =
                temperature == 1
                ? Array(result.probabilities[(r * C)..<((r + 1) * C)])
                : Calibration.probabilities(logits: logits[...], temperature: temperature).map { Float($0) }
            let attention = cut[i].count == 0 ? nil : result.attention.map { Array($0[(r * steps)..<(r * steps + cut[i].count)]) }
            return IDPrediction(probabilities: probabilities, logits: logits, attention: attention)
        }
    }
}
