import ArgumentParser
import Foundation
import Heed

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Label texts; for attention models also show each token's weight and source offsets.",
        discussion: "Texts come from the arguments, or one per line from standard input with - or no argument.")
    @Argument(help: "Model file.") var model: String
    @Argument(help: "Texts to classify (- or none: one per line from standard input).") var texts: [String] = []
    @Flag(help: "Print one JSON object per text.") var json = false
    @Option(help: "Tokens to list per text in the plain output (highest attention first).") var top = 8

    func run() throws {
        let classifier = try TextClassifier(contentsOf: URL(fileURLWithPath: model))
        var inputs = texts
        if inputs.isEmpty || inputs == ["-"] {
            inputs = []
            try CorpusReader(CorpusSource.standardInput(format: .text)).forEachDocument { inputs.append($0.textString) }
        }
        let predictions = try classifier.predict(inputs)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (text, p) in zip(inputs, predictions) {
            if json {
                struct Out: Encodable { var text: String; var label: String; var probabilities: [String: Float]; var tokens: [AttendedToken] }
                let out = Out(text: text, label: p.label, probabilities: Dictionary(uniqueKeysWithValues: zip(p.labels, p.probabilities)), tokens: p.tokens)
                print(String(decoding: try encoder.encode(out), as: UTF8.self))
            } else {
                let probs = zip(p.labels, p.probabilities).map { "\($0) \(fixed(Double($1), 3))" }.joined(separator: ", ")
                print("\(p.label)\t(\(probs))")
                if classifier.hasAttention {
                    let ranked = p.tokens.sorted { ($0.weight ?? 0) > ($1.weight ?? 0) }.prefix(top)
                    print("  attention: " + ranked.map { "\($0.text) \(fixed(Double($0.weight ?? 0), 3))" }.joined(separator: ", "))
                }
            }
        }
    }
}
