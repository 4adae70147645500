import ArgumentParser
import Foundation
import Heed

extension TemperatureCalibration {
    /// One line for the terminal: the temperature and what it did on the data it was fitted to.
    var summary: String {
        if let note { return "calibration: \(note)" }
        return "calibration: temperature \(Format.decimals(temperature, 3)) fitted on \(documents) held-out documents "
            + "(negative log-likelihood \(Format.decimals(nllBefore, 4)) → \(Format.decimals(nllAfter, 4)))"
    }
}

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a model's temperature on held-out labelled data and write the calibrated model.",
        discussion: """
            Probabilities become softmax(logits / T), with T chosen to minimise the negative \
            log-likelihood of DEV (Guo et al. 2017); the predicted labels never change. heed train does \
            this on its dev set unless --calibration none. Use data the model was not trained on, and \
            never the test set you will report.
            """)
    @Argument(help: "Model file.") var model: String
    @Argument(help: "Held-out labelled corpus to fit the temperature on.") var dev: String
    @Option(name: .shortAndLong, help: "Calibrated model file to write (may be MODEL itself).") var output: String
    @Flag(
        help: ArgumentHelp(
            "DEV is the file the model was trained on without --dev: fit on the dev documents training held out from it.",
            discussion: "The same seeded draw as heed train (the model's --seed and --dev-fraction), so nothing the weights were fitted to is used."))
    var trainingFile = false
    @OptionGroup var input: InputOptions

    func run() throws {
        let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        var docs = try CorpusReader(input.source(dev)).readAll()
        if trainingFile { docs = classifier.heldOutDevSet(of: docs) }
        let calibrated = try classifier.calibrated(on: docs, file: dev)
        try calibrated.write(to: URL(fileURLWithPath: output))
        print(calibrated.calibration!.summary)
        print("\(output): written")
    }
}
