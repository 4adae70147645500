// The README's library example as a program: it uses nothing but `import Heed`, as a client
// package would. `make example` builds and runs it on a shipped corpus.
import Foundation
import Heed

/// A client's own `Encodable` type with a hand-written `encode(to:)`: `Encoder` here must still
/// mean `Swift.Encoder` after `import Heed` (a public `Heed.Encoder` once shadowed it).
struct TopTokens: Encodable {
    var label: String
    var tokens: [AttendedToken]

    enum CodingKeys: String, CodingKey { case label, tokens }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(label, forKey: .label)
        try container.encode(tokens, forKey: .tokens)
    }
}

let corpus = CommandLine.arguments.dropFirst().first ?? "corpora/sentiment-en-rt"
let documents = try CorpusReader(CorpusSource(URL(fileURLWithPath: corpus + "/train.tsv"))).readAll()
var parameters = TrainingOptions()
parameters.epochs = 1
let classifier = try TextClassifier(trainingData: documents, parameters: parameters)

let text = "A gripping, beautifully shot film that never lets go."
print("label:", try classifier.prediction(from: text))
print("hypotheses:", try classifier.predictedLabelHypotheses(for: text, maximumCount: 2))

// Tokens carry UTF-8 byte ranges into the text: slicing by them gives each token as written.
let prediction = try classifier.predict(text)
let bytes = Array(text.utf8)
let top = prediction.tokens.sorted { ($0.weight ?? 0) > ($1.weight ?? 0) }.prefix(3)
for token in top {
    let written = String(decoding: bytes[token.start..<token.end], as: UTF8.self)
    print("attention \(token.weight ?? 0) on \"\(written)\" at bytes \(token.start)..<\(token.end)")
}
let json = JSONEncoder()
json.outputFormatting = [.sortedKeys]
print(String(decoding: try json.encode(TopTokens(label: prediction.label, tokens: Array(top))), as: UTF8.self))
