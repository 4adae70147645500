import Foundation
import HeedNN
import HeedServe
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Heed

/// A classifier with random weights over distinct words (the routes' tests need shapes, not skill).
func servedModel(_ name: String, kind: ModelKind, seed: UInt64 = 3) -> ServedModel {
    let words = (0..<30).map { "w\($0)" }
    var options = TrainingOptions()
    options.model = kind
    options.embeddingSize = 6
    options.hiddenSize = 5
    options.dropout = 0
    let vocabulary = Vocabulary(settings: .default, tokens: words, labels: ["neg", "neu", "pos"])
    let model = Classifier(config: options.classifierConfig(vocabularySize: vocabulary.count, classes: 3), seed: seed, embeddingStd: 0.5)
    return ServedModel(name: name, classifier: TextClassifier(model: model, vocabulary: vocabulary, options: options))
}

/// A han model with random weights over the same words (sentences of words, two levels of attention).
func servedHANModel(_ name: String, seed: UInt64 = 3) -> ServedModel {
    let words = (0..<30).map { "w\($0)" }
    var options = TrainingOptions()
    options.model = .han
    options.embeddingSize = 6
    options.hiddenSize = 5
    options.dropout = 0
    options.maxSentences = 4
    options.maxWords = 6
    let vocabulary = Vocabulary(settings: .default, tokens: words, labels: ["neg", "neu", "pos"])
    let model = HierarchicalClassifier(config: options.hierarchicalConfig(vocabularySize: vocabulary.count, classes: 3), seed: seed)
    return ServedModel(name: name, classifier: TextClassifier(hierarchical: model, vocabulary: vocabulary, options: options))
}

/// A server over an attention model "att" and a plain LSTM "plain", with small limits.
func testServer(workers: Int = 2, configure: (inout ServeConfiguration) -> Void = { _ in }) throws -> HeedServer {
    var config = ServeConfiguration()
    config.port = 0
    config.workers = workers
    config.quiet = true
    config.maxBodyBytes = 4096
    config.maxTexts = 8
    config.maxTextBytes = 256
    configure(&config)
    return try HeedServer(models: [servedModel("att", kind: .bilstmAttention), servedModel("plain", kind: .lstm)], configuration: config)
}

/// Runs `body` against `server`'s application in `setup`, then stops the workers.
func withServer<T>(_ server: HeedServer, _ setup: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
    defer { server.shutdown() }
    return try await server.application().test(setup, body)
}

extension TestClientProtocol {
    /// POSTs `body` to `path`; returns the status and the parsed JSON object.
    func post(_ path: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await execute(uri: path, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
            (response.status, try jsonObject(response.body))
        }
    }

    func get(_ path: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await execute(uri: path, method: .get) { response in (response.status, try jsonObject(response.body)) }
    }
}

func jsonObject(_ buffer: ByteBuffer) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
    return try #require(object as? [String: Any], "not a JSON object: \(String(buffer: buffer))")
}

/// Re-encodes a JSON object with sorted keys, to compare two documents as values.
func canonical(_ object: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}
