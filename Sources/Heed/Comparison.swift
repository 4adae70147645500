/// The faithfulness figures `heed compare` reports for one trained model, taken from its
/// `FaithfulnessSummary` on the first documents of the test set. Attention's figures are nil for
/// models without attention (and any figure is nil where it is undefined on every document).
package struct ComparisonFaithfulness: Codable, Sendable, Equatable {
    /// Test documents measured (those with at least one token).
    package var documents: Int
    /// Mean Kendall τ-b between attention and integrated gradients.
    package var tauAttentionIntegratedGradients: Double?
    /// Mean Kendall τ-b between attention and leave-one-out occlusion.
    package var tauAttentionOcclusion: Double?
    /// Mean Kendall τ-b between attention and |integrated gradients| (as the faithful encoders'
    /// reference compares them; see `TextClassifier.magnitudePairs`). Nil in older files.
    package var tauAttentionIntegratedGradientsMagnitude: Double?
    /// ERASER comprehensiveness AOPC of attention's ranking (higher: more faithful).
    package var aopcAttention: Double?
    /// ERASER comprehensiveness AOPC of integrated gradients' ranking, the yardstick for attention's.
    package var aopcIntegratedGradients: Double?
    /// ERASER comprehensiveness AOPC of a random ranking: the floor.
    package var aopcRandom: Double?
    /// Median over documents of the permutation test's median total-variation change.
    package var permutationTVD: Double?
    /// Mean conicity of the encoder states (every model).
    package var conicity: Double?

    /// Every figure given.
    package init(
        documents: Int, tauAttentionIntegratedGradients: Double?, tauAttentionOcclusion: Double?, aopcAttention: Double?,
        aopcIntegratedGradients: Double?, aopcRandom: Double?, permutationTVD: Double?, conicity: Double?,
        tauAttentionIntegratedGradientsMagnitude: Double? = nil
    ) {
        self.documents = documents
        self.tauAttentionIntegratedGradients = tauAttentionIntegratedGradients
        self.tauAttentionOcclusion = tauAttentionOcclusion
        self.tauAttentionIntegratedGradientsMagnitude = tauAttentionIntegratedGradientsMagnitude
        self.aopcAttention = aopcAttention
        self.aopcIntegratedGradients = aopcIntegratedGradients
        self.aopcRandom = aopcRandom
        self.permutationTVD = permutationTVD
        self.conicity = conicity
    }

    /// The figures of one analysis (NaN, an undefined figure, becomes nil).
    package init(_ s: FaithfulnessSummary) {
        func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
        func tau(_ other: AttributionMethod, in agreement: [AgreementSummary]) -> Double? {
            finite(agreement.first { $0.first == AttributionMethod.attention.rawValue && $0.second == other.rawValue && $0.documents > 0 }?.meanTau)
        }
        func aopc(_ ranking: String) -> Double? { finite(s.erasure.first { $0.ranking == ranking }?.aopcComprehensiveness) }
        self.init(
            documents: s.documents, tauAttentionIntegratedGradients: tau(.integratedGradients, in: s.agreement),
            tauAttentionOcclusion: tau(.occlusion, in: s.agreement),
            aopcAttention: aopc(AttributionMethod.attention.rawValue), aopcIntegratedGradients: aopc(AttributionMethod.integratedGradients.rawValue),
            aopcRandom: aopc("random"), permutationTVD: finite(s.permutation?.medianOutputChange), conicity: finite(s.conicity?.mean),
            tauAttentionIntegratedGradientsMagnitude: s.magnitudeAgreement.flatMap { tau(.integratedGradients, in: $0) })
    }

    /// Each figure's mean over `runs` (over the runs where it is defined; nil where it is nowhere);
    /// `documents` is the smallest count. Nil for no runs.
    package static func mean(_ runs: [ComparisonFaithfulness]) -> ComparisonFaithfulness? {
        guard let documents = runs.map(\.documents).min() else { return nil }
        func m(_ path: KeyPath<ComparisonFaithfulness, Double?>) -> Double? {
            let values = runs.compactMap { $0[keyPath: path] }
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
        return ComparisonFaithfulness(
            documents: documents, tauAttentionIntegratedGradients: m(\.tauAttentionIntegratedGradients), tauAttentionOcclusion: m(\.tauAttentionOcclusion),
            aopcAttention: m(\.aopcAttention), aopcIntegratedGradients: m(\.aopcIntegratedGradients), aopcRandom: m(\.aopcRandom),
            permutationTVD: m(\.permutationTVD), conicity: m(\.conicity),
            tauAttentionIntegratedGradientsMagnitude: m(\.tauAttentionIntegratedGradientsMagnitude))
    }

    enum CodingKeys: String, CodingKey {
        case documents, conicity
        case tauAttentionIntegratedGradients = "tau_attention_ig", tauAttentionOcclusion = "tau_attention_occlusion"
        case tauAttentionIntegratedGradientsMagnitude = "tau_attention_abs_ig"
        case aopcAttention = "aopc_attention", aopcIntegratedGradients = "aopc_ig", aopcRandom = "aopc_random", permutationTVD = "permutation_tvd"
    }
}

/// One row of `heed compare`'s JSON: one model trained with one seed (`heed report --compare`
/// reads it). Files written before `--models` and `--seeds` have one row per model and none of the
/// optional fields.
package struct ComparisonRow: Codable, Sendable, Equatable {
    /// The model's name in `--models` (`lstm`, `attention`, …).
    package var model: String
    /// Test-set accuracy, in [0, 1].
    package var accuracy: Double
    /// Test-set macro-F1, in [0, 1].
    package var macroF1: Double
    /// Mean test cross-entropy.
    package var testLoss: Double
    /// Wall time of the model's training run.
    package var trainSeconds: Double
    /// Mean training tokens per second.
    package var tokensPerSecond: Double
    /// The epoch whose weights were kept.
    package var bestEpoch: Int
    /// Epochs trained before early stopping (or the epoch limit) ended the run.
    package var epochsRun: Int
    /// The model file this row's figures come from.
    package var modelFile: String
    /// The network it trained (`ModelKind`'s raw value); nil in older files, where it is `model`.
    package var kind: String?
    /// The training seed.
    package var seed: UInt64?
    /// Faithfulness on the test set's first documents (nil when not measured).
    package var faithfulness: ComparisonFaithfulness?
    /// Median batch-1 forward latency on test documents, in milliseconds.
    package var latencyMilliseconds: Double?
    /// Size of the model file in bytes.
    package var modelBytes: Int?

    /// A row with every figure given.
    package init(
        model: String, accuracy: Double, macroF1: Double, testLoss: Double, trainSeconds: Double,
        tokensPerSecond: Double, bestEpoch: Int, epochsRun: Int, modelFile: String, kind: String? = nil, seed: UInt64? = nil,
        faithfulness: ComparisonFaithfulness? = nil, latencyMilliseconds: Double? = nil, modelBytes: Int? = nil
    ) {
        self.model = model; self.accuracy = accuracy; self.macroF1 = macroF1; self.testLoss = testLoss
        self.trainSeconds = trainSeconds; self.tokensPerSecond = tokensPerSecond; self.bestEpoch = bestEpoch
        self.epochsRun = epochsRun; self.modelFile = modelFile; self.kind = kind; self.seed = seed
        self.faithfulness = faithfulness; self.latencyMilliseconds = latencyMilliseconds; self.modelBytes = modelBytes
    }

    enum CodingKeys: String, CodingKey {
        case model, accuracy, kind, seed, faithfulness
        case macroF1 = "macro_f1", testLoss = "test_loss", trainSeconds = "train_seconds", tokensPerSecond = "tokens_per_s"
        case bestEpoch = "best_epoch", epochsRun = "epochs_run", modelFile = "model_file"
        case latencyMilliseconds = "latency_ms", modelBytes = "model_bytes"
    }
}

/// A mean and its sample standard deviation over seeds (0 for one seed).
package struct MeanSD: Codable, Sendable, Equatable {
    /// The mean.
    package var mean: Double
    /// Sample standard deviation (n − 1 in the denominator).
    package var sd: Double

    /// The mean and sd of `values` (at least one).
    package init(_ values: [Double]) {
        precondition(!values.isEmpty, "a mean of no values")
        let m = values.reduce(0, +) / Double(values.count)
        mean = m
        sd = values.count < 2 ? 0 : (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }
}

/// One model's line of `heed compare`'s table: its rows (one per seed) summarised.
package struct ComparisonSummary: Codable, Sendable, Equatable {
    /// The model's name in `--models`.
    package var model: String
    /// The network it trained (`ModelKind`'s raw value).
    package var kind: String
    /// Seeds trained.
    package var seeds: Int
    /// Test accuracy over the seeds.
    package var accuracy: MeanSD
    /// Test macro-F1 over the seeds.
    package var macroF1: MeanSD
    /// Faithfulness figures averaged over the seeds (nil when not measured).
    package var faithfulness: ComparisonFaithfulness?
    /// Mean training tokens per second.
    package var tokensPerSecond: Double
    /// Mean training wall time.
    package var trainSeconds: Double
    /// Mean over the seeds of the median batch-1 latency, in milliseconds.
    package var latencyMilliseconds: Double?
    /// Model file size in bytes (the largest over the seeds; they differ only in their metadata).
    package var modelBytes: Int?

    /// The summary of `rows`, one model's rows (at least one).
    package init(model: String, kind: String, rows: [ComparisonRow]) {
        precondition(!rows.isEmpty, "a summary of no rows")
        self.model = model
        self.kind = kind
        seeds = rows.count
        accuracy = MeanSD(rows.map(\.accuracy))
        macroF1 = MeanSD(rows.map(\.macroF1))
        faithfulness = ComparisonFaithfulness.mean(rows.compactMap(\.faithfulness))
        tokensPerSecond = rows.map(\.tokensPerSecond).reduce(0, +) / Double(rows.count)
        trainSeconds = rows.map(\.trainSeconds).reduce(0, +) / Double(rows.count)
        let latencies = rows.compactMap(\.latencyMilliseconds)
        latencyMilliseconds = latencies.isEmpty ? nil : latencies.reduce(0, +) / Double(latencies.count)
        modelBytes = rows.compactMap(\.modelBytes).max()
    }

    enum CodingKeys: String, CodingKey {
        case model, kind, seeds, accuracy, faithfulness
        case macroF1 = "macro_f1", tokensPerSecond = "tokens_per_s", trainSeconds = "train_seconds", latencyMilliseconds = "latency_ms"
        case modelBytes = "model_bytes"
    }
}

/// The JSON file `heed compare` writes: models trained alike (same data, settings and seeds),
/// scored on one test set. The fields of the first version (two rows, baseline then attention
/// model) are all still written, so older readers keep working; `models`, `seeds` and
/// `faithfulness_limit` are new and absent from older files.
package struct Comparison: Codable, Sendable, Equatable {
    /// The training file, as given.
    package var train: String
    /// The test file, as given.
    package var test: String
    /// The first seed (seed index j trains with seed + j).
    package var seed: UInt64
    /// The last model's options at the first seed; the others differ only in model, its settings and the seed.
    package var options: TrainingOptions
    /// One row per model and seed: the models in `--models` order, each with its seeds in order.
    package var rows: [ComparisonRow]
    /// Mean accuracy of the last model minus that of the first, in points (for two models: the
    /// attention model against its baseline).
    package var accuracyGain: Double
    /// The seeds every model was trained with (nil in older files: one seed, `seed`).
    package var seeds: [UInt64]?
    /// One summary per model, in `--models` order (nil in older files).
    package var models: [ComparisonSummary]?
    /// Faithfulness was measured on at most this many test documents (0: not measured).
    package var faithfulnessLimit: Int?

    /// A comparison with every field given.
    package init(
        train: String, test: String, seed: UInt64, options: TrainingOptions, rows: [ComparisonRow], accuracyGain: Double, seeds: [UInt64]? = nil,
        models: [ComparisonSummary]? = nil, faithfulnessLimit: Int? = nil
    ) {
        self.train = train; self.test = test; self.seed = seed; self.options = options; self.rows = rows
        self.accuracyGain = accuracyGain; self.seeds = seeds; self.models = models; self.faithfulnessLimit = faithfulnessLimit
    }

    /// Rows (each model's seeds together, models in order) summarised per model, in first-appearance order.
    package static func summaries(_ rows: [ComparisonRow]) -> [ComparisonSummary] {
        var order: [String] = []
        var byModel: [String: [ComparisonRow]] = [:]
        for r in rows {
            if byModel[r.model] == nil { order.append(r.model) }
            byModel[r.model, default: []].append(r)
        }
        return order.map { name in
            let group = byModel[name]!
            return ComparisonSummary(model: name, kind: group[0].kind ?? name, rows: group)
        }
    }

    enum CodingKeys: String, CodingKey {
        case train, test, seed, options, rows, seeds, models
        case accuracyGain = "accuracy_gain", faithfulnessLimit = "faithfulness_limit"
    }
}
