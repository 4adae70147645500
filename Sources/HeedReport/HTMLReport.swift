import Foundation
import Heed
import HeedIO
import Mustache

/// Errors reading the report's side inputs; each names the file (and line).
public enum ReportError: Error, CustomStringConvertible, Equatable, Sendable {
    case badTrainingLog(file: String, line: Int, reason: String)
    case badComparison(file: String, reason: String)
    case badTrialsLog(file: String, line: Int, reason: String)
    case template(String)

    public var description: String {
        switch self {
        case .badTrainingLog(let f, let l, let r): return "\(f):\(l): not a training log record (\(r)); pass the MODEL.log.jsonl written by heed train"
        case .badComparison(let f, let r): return "\(f): not a comparison file written by heed compare (\(r))"
        case .badTrialsLog(let f, let l, let r): return "\(f):\(l): not a trial record (\(r)); pass the MODEL.trials.jsonl written by heed tune"
        case .template(let m): return "report template: \(m)"
        }
    }
}

/// Writes the attention report: one self-contained HTML file (inline CSS, a little inline JS that
/// only adds the method switcher and sort/filter controls, inline SVG charts, no request of any kind).
public struct HTMLReport {
    public var modelName = "model"
    public var corpusName = "corpus"
    /// Shown in the footer; no timestamps, so the same inputs give the same bytes.
    public var generator = "heed report"
    public var sort: ReportSort = .misclassified
    public var limit = 200
    /// Seed for the random-erasure baseline of the faithfulness test.
    public var seed: UInt64 = 1
    public var trainingLog: [EpochRecord]?
    package var comparison: Comparison?
    /// The trials of the `heed tune` run that chose the model's settings (MODEL.trials.jsonl).
    public var trials: [TrialRecord]?
    /// Integrated-gradients steps for the shown documents (steps + 1 forward/backward rows each).
    public var steps = 32
    /// Only the first this many shown documents are scored by every method (the rest by attention,
    /// or occlusion for baseline models): integrated gradients is the expensive part of the page.
    public var attributionLimit = 500
    /// Threads for the method comparison (each with its own copy of the network); the page is
    /// the same for any number.
    public var workers = 1
    /// Text after the last token the model saw is cut to this many bytes.
    public var maxTailBytes = 600

    public init() {}

    /// Runs the analysis and renders the page.
    public func render(classifier: TextClassifier, documents: [LabelledText]) throws -> String {
        let analysis = try ReportAnalysis.run(
            classifier: classifier, documents: documents, file: corpusName, sort: sort, limit: limit, seed: seed, steps: steps,
            attributionLimit: attributionLimit, workers: workers)
        return try render(analysis, classifier: classifier)
    }

    public func render(_ analysis: ReportAnalysis, classifier: TextClassifier) throws -> String {
        // The switcher data goes between two halves of the template, not through a Mustache value
        // (which would HTML-escape the JSON's quotes inside a <script>); scriptSafeJSON escapes it.
        let halves = ReportTemplate.page.components(separatedBy: ReportTemplate.scoresMarker)
        guard halves.count == 2 else { throw ReportError.template("expected one \(ReportTemplate.scoresMarker) marker") }
        let head: MustacheTemplate, tail: MustacheTemplate
        do {
            head = try MustacheTemplate(string: halves[0])
            tail = try MustacheTemplate(string: halves[1])
        } catch { throw ReportError.template("\(error)") }
        let view = page(analysis, classifier: classifier)
        return head.render(view) + Self.scoresJSON(analysis) + tail.render(view)
    }

    // MARK: Side inputs

    /// Reads a JSONL training log (one `EpochRecord` per line).
    public static func readTrainingLog(_ path: String) throws -> [EpochRecord] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileManager.default.fileExists(atPath: path)
                ? HeedTextError.unreadable(path, reason: "permission denied or a folder") : HeedTextError.fileNotFound(path)
        }
        var records: [EpochRecord] = []
        let decoder = JSONDecoder()
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do { records.append(try decoder.decode(EpochRecord.self, from: Data(trimmed))) } catch {
                throw ReportError.badTrainingLog(file: path, line: n + 1, reason: decodingReason(error))
            }
        }
        return records
    }

    /// Reads the JSONL trials log written by `heed tune`.
    public static func readTrials(_ path: String) throws -> [TrialRecord] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileManager.default.fileExists(atPath: path)
                ? HeedTextError.unreadable(path, reason: "permission denied or a folder") : HeedTextError.fileNotFound(path)
        }
        var records: [TrialRecord] = []
        for (n, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do { records.append(try JSONDecoder().decode(TrialRecord.self, from: Data(line))) } catch {
                throw ReportError.badTrialsLog(file: path, line: n + 1, reason: decodingReason(error))
            }
        }
        return records
    }

    /// Reads the JSON written by `heed compare`.
    package static func readComparison(_ path: String) throws -> Comparison {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileManager.default.fileExists(atPath: path)
                ? HeedTextError.unreadable(path, reason: "permission denied or a folder") : HeedTextError.fileNotFound(path)
        }
        // heed compare writes an undefined figure (a test loss without documents) as "nan".
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try decoder.decode(Comparison.self, from: data) } catch {
            throw ReportError.badComparison(file: path, reason: decodingReason(error))
        }
    }

    static func decodingReason(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return "bad value at \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case .dataCorrupted: return "invalid JSON"
        default: return "\(error)"
        }
    }

    // MARK: Page model

    func page(_ a: ReportAnalysis, classifier: TextClassifier) -> PageView {
        let labels = a.labels.map { visibleText(Substring($0)) }  // labels come from the model file: show controls too
        let attention = a.scoreKind == .attention
        let kind = classifier.modelKind.rawValue
        let encoder = classifier.modelKind.isBidirectional ? "BiLSTM" : "LSTM"
        let modelKind =
            a.hierarchical
            ? "\(kind): word \(encoder) and word attention per sentence, then sentence \(encoder) and sentence attention"
            : attention
                ? "\(kind): \(encoder) with \(classifier.options.attention.rawValue) attention pooling" : "\(kind): \(encoder), last hidden state, no attention"

        let ev = a.evaluation
        var perClass: [ClassScoreView] = [], confusion: [ConfusionRowView] = []
        if let ev {
            perClass = ev.perClass.map {
                ClassScoreView(
                    label: visibleText(Substring($0.label)), precision: percent($0.precision), recall: percent($0.recall), f1: percent($0.f1),
                    support: "\($0.support)")
            }
            for (i, row) in ev.confusion.enumerated() {
                let total = row.reduce(0, +)
                let cells = row.enumerated().map { j, count in
                    let share = total == 0 ? 0 : Double(count) / Double(total)
                    return ConfusionCell(
                        count: "\(count)", alpha: fixed(share, 3), diagonal: i == j,
                        title: "true \(labels[i]), predicted \(labels[j]): \(count) of \(total) (\(percent(share)))")
                }
                confusion.append(ConfusionRowView(rowLabel: labels[i], cells: cells, total: "\(total)"))
            }
        }

        let tokenPanels = a.classTokens.map { p in
            PanelHeader(
                panelTitle: p.method == .attention
                    ? "attention relative to uniform (n·w), all \(p.documents) documents"
                    : "\(Self.methodName(p.method)), the \(p.documents) documents shown")
        }
        let tokenRows = labels.indices.map { c in
            TokenRowView(
                classLabel: labels[c],
                cells: a.classTokens.map { p in
                    let chips = p.byClass[c].map { t in
                        TokenChip(
                            token: visibleText(Substring(t.token)),
                            value: p.method == .attention ? fixed(t.mean, 2) + "×" : signed(t.mean),
                            chipTitle: "mean over \(t.occurrences) occurrences")
                    }
                    return TokenCell(chips: chips, none: chips.isEmpty)
                })
        }
        let minOccurrences = a.classTokens.first?.minOccurrences ?? 3
        let tokenNote =
            "Per predicted class, the tokens with the highest mean score per occurrence (at least \(minOccurrences) occurrences in that class; hover a chip for the count). "
            + (attention
                ? "Attention is taken relative to uniform (n·w for a document of n tokens: 1× is uniform), so long and short documents compare; "
                : "Occlusion (the drop in the predicted class's probability without the token) and ")
            + "integrated gradients (\(a.steps) steps, towards the predicted class's logit: + supports the prediction, − argues against it) "
            + "\(attention ? "is" : "are") computed only for the documents shown below."

        var faithfulness: [FaithfulnessView] = []
        for row in a.faithfulness {
            let n = max(row.documents, 1)
            let top = Double(row.topFlips) / Double(n), random = Double(row.randomFlips) / Double(n)
            faithfulness.append(
                FaithfulnessView(
                    k: "\(row.k)", documents: "\(row.documents)",
                    top: "\(percent(top)) (\(row.topFlips))", random: "\(percent(random)) (\(row.randomFlips))",
                    topDrop: fixed(row.topProbabilityDrop, 3), randomDrop: fixed(row.randomProbabilityDrop, 3),
                    topWidth: fixed(100 * top, 1), randomWidth: fixed(100 * random, 1)))
        }

        var compareRows: [CompareRowView] = []
        var compareNote = ""
        let modelTable = comparison.flatMap { c in c.models.map { Self.modelTable(c, $0) } }
        if let c = comparison, c.models == nil {
            compareRows = c.rows.map {
                CompareRowView(
                    modelName: $0.model, accuracy: percent($0.accuracy), macroF1: percent($0.macroF1), loss: fixed($0.testLoss, 4),
                    seconds: fixed($0.trainSeconds, 1) + " s", speed: "\(Int($0.tokensPerSecond.isFinite ? $0.tokensPerSecond : 0))",
                    epochs: "\($0.bestEpoch)/\($0.epochsRun)", isAttention: $0.model.contains("attention"))
            }
            compareNote =
                "Trained on \(c.train), scored on \(c.test), seed \(c.seed): attention vs baseline \(c.accuracyGain >= 0 ? "+" : "−")\(fixed(abs(c.accuracyGain), 1)) accuracy points."
        }

        let log = trainingLog ?? []
        let charts =
            log.isEmpty
            ? []
            : [
                Self.chart(title: "Loss per epoch", log: log, series: [("train loss", "s1", \.trainLoss), ("dev loss", "s2", \.devLoss)], percentAxis: false),
                Self.chart(
                    title: "Dev accuracy and macro-F1 per epoch", log: log,
                    series: [("dev accuracy", "s3", \.devAccuracy), ("dev macro-F1", "s4", \.devMacroF1)], percentAxis: true),
            ]
        let pretrainingCurve = classifier.provenance.pretraining.map(Self.pretrainingChart)
        let logNote =
            trainingLog == nil
            ? "No training log found (heed train writes MODEL.log.jsonl; pass it with --log)."
            : (log.isEmpty
                ? "The training log is empty." : "\(log.count) epoch\(log.count == 1 ? "" : "s"); the dotted line marks the kept (best dev accuracy) epoch.")

        // The search's table: each trial's last state, in trial order.
        var tuningRows: [TuningRowView] = []
        var tuningNote = ""
        var tuningStarts = false
        if let trials, !trials.isEmpty {
            var last: [Int: TrialRecord] = [:]
            for r in trials { last[r.trial] = r }
            // --init's trials all start from its encoder; --unlabelled's name their pretraining epochs.
            let fromInit = classifier.provenance.pretraining != nil && !trials.contains { $0.settings.pretrainEpochs != nil }
            tuningStarts = fromInit || trials.contains { $0.settings.pretrainEpochs != nil || $0.settings.lrDecay != nil }
            tuningRows = last.keys.sorted().map { t in
                let r = last[t]!, s = r.settings
                let fineTuning = [
                    s.lrDecay.map { "lr decay \($0)" }, s.unfreezeEvery.map { "unfreeze every \($0)" }, s.schedule.map { "\($0.rawValue) schedule" },
                ].compactMap { $0 }
                return TuningRowView(
                    trial: "\(t)", learningRate: "\(s.learningRate)", hidden: "\(s.hiddenSize)", embed: "\(s.embeddingSize)", dropout: "\(s.dropout)",
                    wordDropout: "\(s.wordDropout)", batch: "\(s.batchSize)", subwords: s.subwords.map { "\($0.lowerBound)–\($0.upperBound)" } ?? "off",
                    epochs: "\(r.bestEpoch)/\(r.epochs)", accuracy: percent(r.devAccuracy), macroF1: percent(r.devMacroF1), status: r.status,
                    isBest: r.status == "best", showStart: tuningStarts,
                    start: s.pretrainEpochs.map { "encoder after \($0) pretraining epoch\($0 == 1 ? "" : "s")" } ?? (fromInit ? "encoder" : "scratch"),
                    fineTuning: fineTuning.isEmpty ? "defaults" : fineTuning.joined(separator: ", "))
            }
            let best = last.values.first { $0.status == "best" }
            tuningNote =
                "heed tune tried \(Self.count(last.count, "setting")) by successive halving on the dev set (dev scores of each trial's kept epoch; epochs kept/trained)."
                + (best.map { " The model is trial \($0.trial): its settings are the training options above." } ?? "")
        }

        let shownRanks = Self.sortRanks(a)
        let documents = a.shown.map { doc(a.documents[$0], analysis: a, keys: shownRanks[$0] ?? "") }
        let defaultMethod = a.methods.first ?? (attention ? .attention : .occlusion)
        let legend = Self.legend(defaultMethod, analysis: a)
        let capNote =
            a.attributedDocuments < a.shown.count
            ? "Only the first \(Self.count(a.attributedDocuments, "document")) in this order \(a.attributedDocuments == 1 ? "is" : "are") scored by every method (heed report --attribution-limit); the other \(a.shown.count - a.attributedDocuments) show \(Self.methodName(defaultMethod)) alone."
            : ""

        let sorts = Self.sortNames(a)
        let trust = trustSections(a)
        var view = PageView(
            title: "Heed report: \(modelName) on \(corpusName)", modelName: modelName, corpusName: corpusName, generator: generator,
            modelKind: modelKind, hasAttention: attention, baseline: !attention, scoreLegend: legend,
            legendSigned: Shading.isSigned(defaultMethod), capNote: capNote, hasCapNote: !capNote.isEmpty,
            methodOptions: a.methods.map { MethodOptionView(value: $0.rawValue, text: Self.methodName($0), selected: $0 == defaultMethod) },
            hasMethods: a.methods.count > 1,
            config: classifier.hierarchicalConfig.map { fields($0) } ?? fields(classifier.config), options: fields(classifier.options),
            provenance: Self.provenanceFields(classifier.provenance), hasProvenance: !classifier.provenance.isEmpty,
            documentCount: "\(a.documents.count)", shownCount: "\(a.shown.count)",
            sortName: sorts.first { $0.0 == a.sort }?.1 ?? a.sort.rawValue,
            hasMetrics: ev != nil, accuracy: ev.map { percent($0.accuracy) } ?? "", macroF1: ev.map { percent($0.macroF1) } ?? "",
            correctCount: ev.map { "\($0.correct) of \($0.count)" } ?? "",
            perClass: perClass, manyClasses: labels.count > 4, confusionLabels: labels, confusion: confusion,
            tokenPanels: tokenPanels, tokenRows: tokenRows, tokenNote: tokenNote,
            hasLog: !charts.isEmpty, charts: charts + (pretrainingCurve.map { [$0] } ?? []), logNote: logNote,
            hasCompare: comparison != nil && modelTable == nil, compareRows: compareRows, compareNote: compareNote,
            hasModelTable: modelTable != nil, modelRows: modelTable?.rows ?? [], modelNote: modelTable?.note ?? "",
            hasTuning: !tuningRows.isEmpty, tuningStarts: tuningStarts, tuningRows: tuningRows, tuningNote: tuningNote,
            faithfulness: faithfulness, hasFaithfulness: !faithfulness.isEmpty,
            faithfulnessNote: attention ? "" : "Not applicable: this model has no attention weights to test.",
            hasCalibration: trust.hasCalibration, ece: trust.ece, eceNote: trust.eceNote, reliability: trust.reliability,
            calibrationNote: trust.calibrationNote, riskPlot: trust.riskPlot, riskRows: trust.riskRows, riskNote: trust.riskNote,
            hasComparison: trust.hasComparison, comparisonNote: trust.comparisonNote, tauNames: trust.tauNames, tauRows: trust.tauRows,
            eraserPercentages: trust.eraserPercentages, eraserRows: trust.eraserRows, hasPermutation: !trust.permutationPlot.isEmpty,
            permutationPlot: trust.permutationPlot, permutationNote: trust.permutationNote,
            tauLegend: trust.tauLegend, hasTauLegend: !trust.tauLegend.isEmpty,
            conicity: trust.conicity.map { [$0] } ?? [],
            documents: documents,
            sortOptions: sorts.map { SortOptionView(value: $0.0.rawValue, text: $0.1, selected: $0.0 == a.sort) },
            scriptHash: SHA256.base64(ReportTemplate.script))
        if a.hierarchical {
            view.hasHanNote = true
            view.hanNote =
                "Hierarchical attention network: each card lists the sentences the model read (at most --max-sentences, each cut to --max-words tokens), "
                + "a bar in the margin for the sentence's score and shading on its words. Under attention the shading is the word attention within the "
                + "sentence, and the bar the sentence attention; under integrated gradients and occlusion both levels are scored by the method "
                + "(a sentence's integrated gradients is the sum over its tokens; its occlusion leaves the whole sentence out). Elsewhere on the page a "
                + "token's attention is its word attention × its sentence's attention. Left out for han models: gradient and gradient × input (no "
                + "sentence-level score) and the attention permutation test (two attentions, no one weighting of one set of states to shuffle). "
                + "Conicity is that of the word states, per sentence, averaged over each document's sentences."
        }
        return view
    }

    /// The rows and note of a `heed compare --models` table: accuracy and macro-F1 as mean ± sd
    /// when any model has several seeds, the other figures as means over seeds.
    static func modelTable(_ c: Comparison, _ models: [ComparisonSummary]) -> (rows: [CompareSummaryView], note: String) {
        let many = models.contains { $0.seeds > 1 }
        func spread(_ m: MeanSD) -> String { many ? "\(fixed(100 * m.mean, 1)) ± \(fixed(100 * m.sd, 1))" : percent(m.mean) }
        func f(_ x: Double?, _ digits: Int = 3) -> String { x.map { fixed($0, digits) } ?? "–" }
        let rows = models.map { s in
            let q = s.faithfulness
            return CompareSummaryView(
                modelName: s.model, accuracy: spread(s.accuracy), macroF1: spread(s.macroF1), tauIG: f(q?.tauAttentionIntegratedGradients),
                tauAbsIG: f(q?.tauAttentionIntegratedGradientsMagnitude), tauOcclusion: f(q?.tauAttentionOcclusion), aopcAttention: f(q?.aopcAttention),
                aopcIG: f(q?.aopcIntegratedGradients),
                tvd: f(q?.permutationTVD, 4), conicity: f(q?.conicity), speed: "\(Int(s.tokensPerSecond.isFinite ? s.tokensPerSecond : 0))",
                latency: s.latencyMilliseconds.map { fixed($0, 2) + " ms" } ?? "–",
                size: s.modelBytes.map { fixed(Double($0) / 1_048_576, 1) + " MB" } ?? "–",
                isAttention: ModelKind(rawValue: s.kind)?.hasAttention ?? false)
        }
        let seeds = (c.seeds ?? [c.seed]).map(String.init).joined(separator: ", ")
        let measured = models.compactMap(\.faithfulness?.documents).max()
        let note =
            "Trained on \(c.train) with the same settings and seeds (\(seeds)), scored on \(c.test)"
            + (many ? "; accuracy and macro-F1 are mean ± sd over the seeds, the other figures means over them." : ".")
            + (measured.map {
                " Faithfulness on the first \(Self.count($0, "test document")): τ is the mean Kendall τ-b between attention and integrated gradients (IG) or occlusion per document; AOPC is ERASER comprehensiveness (the predicted class's probability lost when a ranking's top 1–50% of tokens are removed; higher: more faithful), for attention's ranking and for IG's; perm TVD is the median output change when attention is shuffled (near 0: its arrangement does not matter); conicity is the mean cosine of the encoder states to their mean (near 1: any attention gives about the same output)."
            } ?? " Faithfulness was not measured (heed compare --faithfulness-limit 0).")
            + " – : the model has no attention. Latency: median batch-1 forward pass, one thread."
        return (rows, note)
    }

    /// The sort modes the page offers, in the order of its sort control (and of each document's
    /// `data-s` ranks): the disagreement sort only for attention models.
    static func sortNames(_ a: ReportAnalysis) -> [(ReportSort, String)] {
        [
            (.misclassified, "misclassified first"), (.confidence, "least confident first"), (.length, "longest first"), (.corpus, "corpus order"),
        ] + (a.scoreKind == .attention ? [(.disagreement, "attention and attribution disagree most")] : [])
    }

    /// For each shown document, its position under every sort mode (for the page's sort control).
    static func sortRanks(_ a: ReportAnalysis) -> [Int: String] {
        let shownDocs = a.shown.map { a.documents[$0] }
        var ranks = [[Int]](repeating: [], count: shownDocs.count)
        for mode in sortNames(a).map(\.0) {
            let order = ReportAnalysis.order(shownDocs, by: mode)
            var rank = [Int](repeating: 0, count: order.count)
            for (r, i) in order.enumerated() { rank[i] = r }
            for i in rank.indices { ranks[i].append(rank[i]) }
        }
        var out: [Int: String] = [:]
        for (i, d) in a.shown.enumerated() { out[d] = ranks[i].map(String.init).joined(separator: " ") }
        return out
    }

    /// "1 document", "2 documents".
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// How each method is named on the page.
    static func methodName(_ m: AttributionMethod) -> String {
        switch m {
        case .attention: return "attention"
        case .gradient: return "gradient norm"
        case .gradientTimesInput: return "gradient × input"
        case .integratedGradients: return "integrated gradients"
        case .occlusion: return "occlusion"
        }
    }

    /// What the shading means for `m`, with what full colour stands for.
    static func legend(_ m: AttributionMethod, analysis a: ReportAnalysis) -> String {
        guard a.hierarchical else { return tokenLegend(m, analysis: a) }
        let scale = compact(a.sentenceFullScale[m] ?? 0)
        switch m {
        case .attention:
            return
                "Words: word attention within their sentence, relative to uniform (1/n for a sentence of n tokens): no colour at or below uniform, full colour at \(fixed(Shading.attentionFullMultiple, 0))× uniform or more, log scale in between. Bar in the margin: the sentence's attention (a document's bars sum to 1, the whole margin). A word's weight in the document vector is the two multiplied (what the tables above use as its attention). Hover or focus a word (Tab) for its exact weight; the three words furthest above uniform in their sentence carry a rank badge."
        case .integratedGradients:
            return tokenLegend(m, analysis: a)
                + " Bar in the margin: the sum of the sentence's tokens' scores, full at |sum| ≥ \(scale) (the \(Int(Shading.attributionPercentile * 100))th percentile over the sentences shown); blue when it argues against the prediction."
        case .occlusion:
            return tokenLegend(m, analysis: a)
                + " Bar in the margin: the drop in the predicted class's probability when the whole sentence is left out, full at |drop| ≥ \(scale) (the \(Int(Shading.attributionPercentile * 100))th percentile over the sentences shown); blue when leaving it out raises the probability."
        case .gradient, .gradientTimesInput:
            return tokenLegend(m, analysis: a)
        }
    }

    /// What the token shading means for `m`, with what full colour stands for.
    static func tokenLegend(_ m: AttributionMethod, analysis a: ReportAnalysis) -> String {
        let scale = compact(a.fullScale[m] ?? 0)
        let scored = m == a.methods.first ? a.shown.count : a.attributedDocuments
        let percentile = "the \(Int(Shading.attributionPercentile * 100))th percentile of |score| over all tokens of the \(scored) documents scored by it"
        let full = "Full colour at |score| ≥ \(scale) (\(percentile)), none at 0"
        let direction = "Orange: towards the predicted class; blue: against it."
        let tail =
            " Underline thickness grows at 40%, 60% and 80% of full colour; the three highest-scoring tokens carry a rank badge. Hover or focus a token (Tab) for its exact score."
        let multiple = fixed(Shading.attentionFullMultiple, 0)
        switch m {
        case .attention:
            return
                "Attention weight relative to uniform (1/n for a document of n tokens): no colour at or below uniform, full colour at \(multiple)× uniform or more, log scale in between (2× is one third). Nearly uniform attention stays pale."
                + tail
        case .gradient:
            return "Gradient norm: how strongly the predicted class's logit reacts to the token's embedding (size only, no direction). \(full)." + tail
        case .gradientTimesInput:
            return "Gradient × input: the gradient of the predicted class's logit dotted with the token's embedding. \(direction) \(full)." + tail
        case .integratedGradients:
            return
                "Integrated gradients (\(a.steps) steps from the all-zero embedding): the token's share of the predicted class's logit. \(direction) \(full)."
                + tail
        case .occlusion:
            return
                "Leave-one-out occlusion: the drop in the predicted class's probability when the token is dropped from the input. \(direction) \(full)."
                + tail
        }
    }

    /// The scores as the page prints them (three significant digits): shading, ranks and badges
    /// are computed from these, in Swift and in the page script alike, so both paint the same.
    static func printedScores(_ scores: [Float]) -> [Double] { scores.map { Double(compact(Double($0))) ?? 0 } }

    /// The token scores a card shows for `m`: a han model's attention is shown within each
    /// sentence (word attention, summing to 1 per sentence), its sentence's weight being the bar.
    static func displayScores(_ d: ReportAnalysis.Document, _ m: AttributionMethod, analysis a: ReportAnalysis) -> [Float] {
        if a.hierarchical && m == .attention { return d.wordAttention ?? [] }
        return d.attributions[m] ?? (m == a.methods.first ? d.scores ?? [] : [])
    }

    /// For each token, the number of tokens of its pool: its sentence's for a han model's
    /// attention (uniform is 1/n within the sentence), the document's otherwise.
    static func poolSizes(_ d: ReportAnalysis.Document, _ m: AttributionMethod, analysis a: ReportAnalysis, count: Int) -> [Double] {
        guard a.hierarchical && m == .attention, let sentences = d.sentences else { return Array(repeating: Double(count), count: count) }
        let sizes = sentences.flatMap { Array(repeating: Double($0.tokenCount), count: $0.tokenCount) }
        return sizes.count == count ? sizes : Array(repeating: Double(count), count: count)
    }

    /// Shade (0…1) of each token under `m`; `pools` as from `poolSizes`.
    static func shades(_ m: AttributionMethod, _ values: [Double], analysis a: ReportAnalysis, pools: [Double]? = nil) -> [Double] {
        let scale = Double(compact(a.fullScale[m] ?? 0)) ?? 0  // as printed in the legend and the switcher data
        guard m == .attention else { return values.map { Shading.attribution($0, scale: scale) } }
        guard let pools else { return Shading.attention(values) }
        return zip(values, pools).map { w, n in
            let multiple = n * w
            return multiple <= 1 + 1e-6 ? 0 : min(1, log(multiple) / log(Shading.attentionFullMultiple))
        }
    }

    /// What the rank badges order by: the score, or for attention over pools of different sizes
    /// (han) the weight's excess over uniform in its pool, so a one-word sentence ranks nowhere.
    static func rankKeys(_ m: AttributionMethod, _ values: [Double], pools: [Double]?) -> [Double] {
        guard m == .attention, let pools else { return values }
        return zip(values, pools).map { w, n in n * w - 1 }
    }

    /// Rank badges: the three highest positive scores (ties by position).
    static func ranks(_ values: [Double]) -> [Int: Int] {
        let ranked = values.indices.filter { values[$0] > 0 }.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(3)
        var rankOf: [Int: Int] = [:]
        for (r, t) in ranked.enumerated() { rankOf[t] = r + 1 }
        return rankOf
    }

    func doc(_ d: ReportAnalysis.Document, analysis a: ReportAnalysis, keys: String) -> DocumentView {
        let method = a.methods.first ?? (a.scoreKind == .attention ? .attention : .occlusion)
        let isSigned = Shading.isSigned(method)
        let values = Self.printedScores(Self.displayScores(d, method, analysis: a))
        let pools = a.hierarchical ? Self.poolSizes(d, method, analysis: a, count: values.count) : nil
        let shade = Self.shades(method, values, analysis: a, pools: pools)
        let rankOf = Self.ranks(Self.rankKeys(method, values, pools: pools))

        var segments: [Segment] = []
        let bytes = Array(d.text.utf8)
        var cursor = 0
        func gap(_ from: Int, _ to: Int) {
            guard to > from else { return }
            segments.append(
                Segment(
                    isToken: false, text: visibleText(Substring(String(decoding: bytes[from..<to], as: UTF8.self))),
                    css: "", alpha: "", aria: "", hasRank: false, rank: ""))
            cursor = max(cursor, to)
        }
        func paint(_ t: Int) {
            let token = d.tokens[t]
            let start = min(max(token.start, cursor), bytes.count), end = min(max(token.end, start), bytes.count)
            gap(cursor, start)
            let surface = visibleText(Substring(String(decoding: bytes[start..<end], as: UTF8.self)))
            let score = t < values.count ? values[t] : 0, relative = t < shade.count ? shade[t] : 0
            var css = relative >= 0.8 ? " u3" : relative >= 0.6 ? " u2" : relative >= 0.4 ? " u1" : ""
            if isSigned && score < 0 { css += " neg" }
            let value = isSigned ? signed(score) : compact(score)
            let rank = rankOf[t]
            let aria = "\(surface): \(Self.methodName(method)) \(value)\(rank.map { ", rank \($0)" } ?? "")"
            segments.append(
                Segment(
                    isToken: true, text: surface, css: css, alpha: fixed(relative, 2), aria: aria,
                    hasRank: rank != nil, rank: rank.map(String.init) ?? ""))
            cursor = end
        }
        var tailNote = ""
        func tail() {
            if bytes.count - cursor > maxTailBytes {
                var cut = cursor + maxTailBytes
                while cut > cursor && cut < bytes.count && (bytes[cut] & 0xC0) == 0x80 { cut -= 1 }
                gap(cursor, cut)
                tailNote = "… \(bytes.count - cut) more bytes not shown"
            } else {
                gap(cursor, bytes.count)
            }
        }
        // A han card: one row per sentence read, from its first byte to the next one's, the bar
        // in the margin; text after the last sentence read (beyond --max-sentences) ends the last row.
        var rows: [SentenceRowView] = []
        if a.hierarchical, let sentences = d.sentences, !sentences.isEmpty, !d.tokens.isEmpty {
            let bars = Self.printedScores(d.sentenceAttributions[method] ?? [])
            for (k, sentence) in sentences.enumerated() {
                segments = []
                for t in sentence.firstToken..<min(sentence.firstToken + sentence.tokenCount, d.tokens.count) { paint(t) }
                if k + 1 < sentences.count { gap(cursor, min(sentences[k + 1].start, bytes.count)) } else { tail() }
                rows.append(Self.sentenceBar(k, bars.count == sentences.count ? bars[k] : nil, method: method, analysis: a, segments: segments))
            }
            segments = []
        } else {
            for t in d.tokens.indices { paint(t) }
            tail()
        }

        let best = d.predicted
        let probabilities = d.probabilities.enumerated().map { c, p in
            ProbabilityView(probLabel: visibleText(Substring(a.labels[c])), value: fixed(Double(p), 3), pct: fixed(Double(p) * 100, 1), isTop: c == best)
        }
        // Every other method's three strongest tokens (by |score|), readable without the script.
        let alternatives = a.methods.filter { $0 != method && d.attributions[$0] != nil }.map { m -> AltMethodView in
            let v = Self.printedScores(d.attributions[m] ?? [])
            let top = v.indices.filter { v[$0] != 0 }.sorted { abs(v[$0]) != abs(v[$1]) ? abs(v[$0]) > abs(v[$1]) : $0 < $1 }.prefix(3)
                .map { t -> AltToken in
                    let token = d.tokens[t]
                    let start = min(max(token.start, 0), bytes.count), end = min(max(token.end, start), bytes.count)
                    return AltToken(
                        token: visibleText(Substring(String(decoding: bytes[start..<end], as: UTF8.self))),
                        value: Shading.isSigned(m) ? signed(v[t]) : compact(v[t]))
                }
            return AltMethodView(methodName: Self.methodName(m), top: top, none: top.isEmpty)
        }
        var view = DocumentView(
            n: "\(d.index + 1)", line: "\(d.line)", hasTruth: d.truth != nil, truthLabel: d.truth.map { visibleText(Substring(a.labels[$0])) } ?? "",
            predictedLabel: visibleText(Substring(a.labels[best])), confidence: percent(Double(d.confidence)),
            wrong: d.misclassified, right: d.truth != nil && !d.misclassified, sortKeys: keys,
            segments: segments, noTokens: d.tokens.isEmpty, tokenCount: "\(d.tokens.count)",
            hiddenTail: !tailNote.isEmpty, tailNote: tailNote, probabilities: probabilities,
            alternatives: d.tokens.isEmpty ? [] : alternatives, hasAlternatives: !d.tokens.isEmpty && !alternatives.isEmpty,
            partial: !d.tokens.isEmpty && alternatives.count < a.methods.count - 1,
            hasTau: d.attentionAgreement != nil, tau: d.attentionAgreement.map { fixed($0.tau, 2) } ?? "",
            tauTitle: d.attentionAgreement.map {
                "Kendall τ-b between the attention weights and the integrated-gradients scores of this document's tokens: \(fixed($0.tau, 3)) (p = \(fixed($0.pValue, 3)))"
            } ?? "",
            disagrees: d.disagrees,
            disagreeNote: d.attentionAgreement.map {
                "Attention and integrated gradients rank this document's tokens differently (τ = \(fixed($0.tau, 2)) < \(fixed(ReportAnalysis.disagreementThreshold, 1))): do not read the attention shading as what the decision depends on; paint by integrated gradients or occlusion instead."
            } ?? "")
        view.hierarchical = !rows.isEmpty
        view.sentenceRows = rows
        return view
    }

    /// A han sentence's margin bar under `m`: attention as the sentence's weight (the whole
    /// margin is 1, a document's bars sum to it), the signed methods on their sentence scale as
    /// tokens are shaded; nil when `m` did not score the document.
    static func sentenceBar(_ k: Int, _ value: Double?, method m: AttributionMethod, analysis a: ReportAnalysis, segments: [Segment]) -> SentenceRowView {
        guard let value else {
            return SentenceRowView(
                barWidth: "0", barNeg: false, barValue: "", barAria: "sentence \(k + 1): \(methodName(m)) not computed", segments: segments)
        }
        let scale = Double(compact(a.sentenceFullScale[m] ?? 0)) ?? 0
        let width = m == .attention ? min(1, max(0, value)) : Shading.attribution(value, scale: scale)
        let text = Shading.isSigned(m) ? signed(value) : compact(value)
        return SentenceRowView(
            barWidth: fixed(width, 3), barNeg: Shading.isSigned(m) && value < 0, barValue: text,
            barAria: "sentence \(k + 1): \(m == .attention ? "sentence attention" : methodName(m)) \(text)", segments: segments)
    }

    // MARK: Switcher data

    /// The per-token scores of every method for the shown documents, as JSON for the page script:
    /// `{"attentionFull":8,"methods":[{"id","name","signed","scale","legend"}…],"docs":{"d7":[[scores of
    /// methods[0]],…]}}`, numbers as printed (`compact`), made safe for a `<script>` element.
    static func scoresJSON(_ a: ReportAnalysis) -> String {
        var out = "{\"attentionFull\":\(compact(Shading.attentionFullMultiple)),\"methods\":["
        out += a.methods.map { m in
            "{\"id\":\(jsonString(m.rawValue)),\"name\":\(jsonString(methodName(m))),\"signed\":\(Shading.isSigned(m)),"
                + "\"scale\":\(compact(a.fullScale[m] ?? 0)),\"legend\":\(jsonString(legend(m, analysis: a)))}"
        }.joined(separator: ",")
        out += "],\"docs\":{"
        out += a.shown.map { i in
            let d = a.documents[i]
            let rows = a.methods.map { m in
                "[" + printedScores(d.attributions[m] == nil ? [] : displayScores(d, m, analysis: a)).map(compact).joined(separator: ",") + "]"
            }
            return "\"d\(d.index + 1)\":[" + rows.joined(separator: ",") + "]"
        }.joined(separator: ",\n")
        out += "}"
        // Han: per card, each sentence's token count ("n", attention's pools) and per method its
        // sentence scores ("v"); "sscale" per method is the full bar.
        if a.hierarchical {
            out += ",\"sscale\":[" + a.methods.map { compact(a.sentenceFullScale[$0] ?? 0) }.joined(separator: ",") + "],\"sentences\":{"
            out += a.shown.compactMap { i -> String? in
                let d = a.documents[i]
                guard let sentences = d.sentences, !sentences.isEmpty, !d.tokens.isEmpty else { return nil }
                let v = a.methods.map { m in "[" + printedScores(d.sentenceAttributions[m] ?? []).map(compact).joined(separator: ",") + "]" }
                return "\"d\(d.index + 1)\":{\"n\":[" + sentences.map { "\($0.tokenCount)" }.joined(separator: ",") + "],\"v\":["
                    + v.joined(separator: ",") + "]}"
            }.joined(separator: ",\n")
            out += "}"
        }
        out += "}"
        return scriptSafeJSON(out)
    }

    // MARK: Provenance

    /// The model card's lines on what the model learnt from beyond its labelled file.
    static func provenanceFields(_ p: TrainingProvenance) -> [KeyValue] {
        var rows: [KeyValue] = []
        func file(_ f: SourceFile) -> String {
            f.sha256.isEmpty ? "\(f.path) (standard input)" : "\(f.path) (SHA-256 \(f.sha256), \(f.bytes) bytes)"
        }
        if let pre = p.pretraining {
            rows.append(KeyValue(key: "encoder pretrained on", value: pre.files.isEmpty ? "text given in code" : pre.files.map(file).joined(separator: "; ")))
            rows.append(
                KeyValue(
                    key: "pretraining text",
                    value: "\(pre.trainLines) lines (\(pre.trainTokens) tokens) trained on, \(pre.heldOutLines) held out"
                        + (pre.excluded.isEmpty
                            ? "" : "; \(count(pre.droppedLines, "line")) equal to a document of \(pre.excluded.map(\.path).joined(separator: ", ")) dropped")))
            rows.append(
                KeyValue(
                    key: "held-out perplexity",
                    value:
                        "\(fixed(pre.heldOutPerplexity, 2)) at epoch \(pre.epoch) of \(pre.curve.count) (full softmax; an add-one unigram model: \(fixed(pre.unigramPerplexity, 2)))"
                ))
        }
        if let u = p.unlabelled {
            var dropped: [String] = []
            if u.droppedAsLabelled > 0 { dropped.append("\(count(u.droppedAsLabelled, "line")) equal to a labelled document") }
            if !u.excluded.isEmpty {
                dropped.append("\(count(u.droppedAsExcluded, "line")) equal to a document of \(u.excluded.map(\.path).joined(separator: ", "))")
            }
            rows.append(
                KeyValue(
                    key: "unlabelled text",
                    value: u.files.map(file).joined(separator: "; ") + "; \(count(u.lines, "line")) used"
                        + (dropped.isEmpty ? "" : "; dropped: " + dropped.joined(separator: ", "))))
        }
        if let v = p.vat {
            let text = v.onTrainingTexts ? "the training split's own texts (labels ignored; never the dev split)" : "the unlabelled text"
            rows.append(
                KeyValue(
                    key: "virtual adversarial training",
                    value: "on \(text), \(count(v.documents, "document")); radius ε \(v.epsilon), weight \(v.weight)"))
        }
        if let st = p.selfTraining {
            let kept = st.rounds.first(where: \.kept)?.round ?? 0
            let taken = st.rounds.dropFirst().map { r in
                "round \(r.round): \(r.pseudoLabelled) texts, dev \(percent(r.devAccuracy))"
                    + (r.confidentDevAccuracy.map { " (labeller \(percent($0)) right on the dev documents it was that sure of)" } ?? "")
            }
            rows.append(
                KeyValue(
                    key: "self-training",
                    value: "threshold \(st.threshold); round 0 (labelled only): dev \(percent(st.rounds.first?.devAccuracy ?? 0)); "
                        + taken.joined(separator: "; ") + "; kept round \(kept)"))
        }
        return rows
    }

    /// The encoder's held-out perplexity per pretraining epoch, drawn as the training curves are.
    static func pretrainingChart(_ p: PretrainingProvenance) -> ChartView {
        // The chart reads epoch records; the perplexity rides in the loss field, named by its series.
        let points = p.curve.map {
            EpochRecord(
                epoch: $0.epoch, trainLoss: $0.heldOutPerplexity, devLoss: .nan, devAccuracy: .nan, devMacroF1: .nan, tokensPerSecond: 0, seconds: 0,
                best: $0.epoch == p.epoch)
        }
        return chart(title: "Pretraining: held-out perplexity per epoch", log: points, series: [("held-out perplexity", "s2", \.trainLoss)], percentAxis: false)
    }

    // MARK: Charts

    static func chart(title: String, log: [EpochRecord], series: [(String, String, KeyPath<EpochRecord, Double>)], percentAxis: Bool) -> ChartView {
        let width = 440.0, height = 240.0, left = 52.0, right = 16.0, top = 44.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let values = series.flatMap { s in log.map { $0[keyPath: s.2] } }.filter(\.isFinite)
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if hi - lo < 1e-9 { lo -= 0.01; hi += 0.01 }
        // A round tick step (1, 2 or 5 × 10^k) giving at most 6 intervals; the axis ends on ticks.
        let rough = (hi - lo) / 5
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { (hi - lo) / $0 <= 6 } ?? 10 * magnitude
        lo = (lo / step).rounded(.down) * step
        hi = (hi / step).rounded(.up) * step
        if percentAxis { lo = max(0, lo); hi = min(1, hi) }
        let tickCount = max(1, Int(((hi - lo) / step).rounded()))
        let digits = max(0, Int((-log10(step * (percentAxis ? 100 : 1))).rounded(.up)))
        let epochs = log.map(\.epoch)
        let e0 = Double(epochs.min() ?? 1), e1 = Double(epochs.max() ?? 1)
        func x(_ e: Int) -> Double { e1 == e0 ? left + plotW / 2 : left + (Double(e) - e0) / (e1 - e0) * plotW }
        func y(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * plotH }
        func f(_ v: Double) -> String { fixed(v, 1) }
        let format: (Double) -> String = percentAxis ? { percent($0, digits) } : { fixed($0, digits) }
        let yTicks = (0...tickCount).map { i -> ChartTick in
            let v = lo + step * Double(i)
            return ChartTick(x: f(left - 6), y: f(y(v)), tickLabel: format(v))
        }
        let xStep = max(1, Int((Double(epochs.count) / 10).rounded(.up)))
        let xTicks = epochs.enumerated().filter { $0.offset % xStep == 0 || $0.offset == epochs.count - 1 }
            .map { ChartTick(x: f(x($0.element)), y: f(top + plotH + 16), tickLabel: "\($0.element)") }
        let lines = series.map { name, css, path in
            let pts = log.filter { $0[keyPath: path].isFinite }
            return ChartSeries(
                seriesName: name, points: pts.map { "\(f(x($0.epoch))),\(f(y($0[keyPath: path])))" }.joined(separator: " "), css: css,
                dots: pts.map {
                    ChartDot(
                        cx: f(x($0.epoch)), cy: f(y($0[keyPath: path])),
                        dotTitle: "\(name), epoch \($0.epoch): \(percentAxis ? percent($0[keyPath: path]) : fixed($0[keyPath: path], 4))")
                })
        }
        let legend = series.enumerated().map { i, s in
            ChartLegend(
                legendName: s.0, css: s.1, lx: f(left + Double(i) * 150), lx2: f(left + Double(i) * 150 + 24), tx: f(left + Double(i) * 150 + 30), ly: "29")
        }
        let best = log.last(where: \.best)
        return ChartView(
            chartTitle: title, width: f(width), height: f(height), plotLeft: f(left), plotRight: f(left + plotW), plotTop: f(top),
            plotBottom: f(top + plotH), xTicks: xTicks, yTicks: yTicks, series: lines, legend: legend,
            hasBest: best != nil, bestX: best.map { f(x($0.epoch)) } ?? "",
            xAxisLabel: "epoch", xLabelX: f(left + plotW / 2), xLabelY: f(height - 4))
    }
}
