import ArgumentParser
import Foundation
import Heed
import HeedIO
import HeedReport

extension ReportSort: ExpressibleByArgument {}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML page showing what the model looked at in each document.",
        discussion: """
            Paints each document's original text with the attention each token received (for a \
            baseline LSTM without attention: leave-one-out occlusion, labelled as such), with true and \
            predicted labels and class probabilities; a switcher repaints them by gradient, gradient × \
            input, integrated gradients or occlusion (computed for the shown documents only). The header holds the model configuration, \
            accuracy, macro-F1, the confusion matrix, the tokens with the highest mean attention and \
            integrated-gradients score per class, training curves from MODEL.log.jsonl, an erasure test of attention faithfulness, \
            calibration (ECE, reliability diagrams before and after the model's temperature, risk–coverage), a method comparison \
            (Kendall tau per method pair, ERASER comprehensiveness and sufficiency, the attention permutation test) and, with --compare, \
            the baseline-vs-attention table from `heed compare`. A han model's cards list the sentences \
            read, each with a bar in the margin (sentence attention, or the sentence's integrated \
            gradients or occlusion) and its words shaded (attention: word attention within the \
            sentence); gradient, gradient × input and the permutation test are left out for it. No \
            network requests; readable without JavaScript.
            """)

    @Argument(help: "Model file.") var model: String
    @Argument(help: "Corpus to show (labelled for accuracy and the confusion matrix).") var corpus: String
    @Option(name: .shortAndLong, help: "HTML file to write.") var output: String
    @Option(help: "Documents to show (metrics and the faithfulness test use all of them).") var limit = 200
    @Option(
        help:
            "Which documents come first: misclassified (confidently wrong first), confidence (least sure first), length (longest first), corpus, disagreement (attention and integrated gradients disagree most: lowest Kendall tau first, among the --attribution-limit documents scored by every method)."
    )
    var sort: ReportSort = .misclassified
    @Option(help: "Comparison JSON written by heed compare.") var compare: String?
    @Option(help: "Training log (default: MODEL.log.jsonl when it exists).") var log: String?
    @Option(help: "Trials log of heed tune (default: MODEL.trials.jsonl when it exists).") var trials: String?
    @Option(help: "Seed for the random tokens erased in the faithfulness test.") var seed: UInt64 = 1
    @Option(help: "Integrated-gradients steps per shown document (each costs one forward and backward row).") var steps = 32
    @Option(help: "Score only the first N shown documents by every method (the rest by attention, or occlusion for baselines).")
    var attributionLimit = 500
    @Option(help: "Threads for the method comparison, each with its own copy of the model (default: the number of cores, at most 8).")
    var workers = defaultWorkers
    @OptionGroup var input: InputOptions

    func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must be 0 or more") }
        guard steps >= 1 else { throw ValidationError("--steps must be 1 or more") }
        guard attributionLimit >= 0 else { throw ValidationError("--attribution-limit must be 0 or more") }
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1...256 (got \(workers))") }
    }

    func run() throws {
        try FileChecks.checkWritable(output)
        let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        let docs = try CorpusReader(input.source(corpus)).readAll()
        var report = HTMLReport()
        report.modelName = (model as NSString).lastPathComponent
        report.corpusName = corpus
        report.generator = "heed report \(HeedCommand.configuration.version)"
        report.sort = sort
        report.limit = limit
        report.seed = seed
        report.steps = steps
        report.attributionLimit = attributionLimit
        report.workers = workers
        let logPath = log ?? model + ".log.jsonl"
        if log != nil || FileManager.default.fileExists(atPath: logPath) {
            report.trainingLog = try HTMLReport.readTrainingLog(logPath)
        }
        let trialsPath = trials ?? model + ".trials.jsonl"
        if trials != nil || FileManager.default.fileExists(atPath: trialsPath) { report.trials = try HTMLReport.readTrials(trialsPath) }
        if let compare { report.comparison = try HTMLReport.readComparison(compare) }
        let html = try report.render(classifier: classifier, documents: docs)
        try AtomicWriter.write(html, to: output)
        let shown = min(limit, docs.count)
        print("wrote \(output): \(shown) of \(docs.count) documents, \(html.utf8.count / 1024) KiB")
    }
}
