import Foundation
import Heed
import Hummingbird
import Logging
import ServiceLifecycle

/// `heed serve`: the JSON API and the live page over the given models. The server holds no state
/// between requests, so instances can be put side by side behind a load balancer.
public struct HeedServer: Sendable {
    let models: [String: ServedModel]
    let order: [String]
    let configuration: ServeConfiguration
    let pool: InferencePool
    /// The OpenAPI document for these models and limits, encoded once.
    let openAPI: Data

    /// Starts the inference threads; `shutdown()` (or the end of `run`) stops them.
    public init(models: [ServedModel], configuration: ServeConfiguration) throws {
        guard !models.isEmpty else { throw ServeSetupError.noModels }
        self.models = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        order = models.map(\.name)
        self.configuration = configuration
        openAPI = try OpenAPIDocument.json(models: models, configuration: configuration)
        pool = InferencePool(models: models, workers: configuration.workers, maxQueue: configuration.queueLimit)
    }

    /// Every route, behind the access log and the JSON error middleware.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        if !configuration.quiet { router.add(middleware: AccessLogMiddleware()) }
        router.add(middleware: JSONErrorMiddleware(maxBodyBytes: configuration.maxBodyBytes))
        router.get(RouterPath(Routes.health)) { _, _ in
            try json(Health(models: models.count, workers: pool.workers))
        }
        router.get(RouterPath(Routes.models)) { _, _ in
            try json(ModelList(models: order.compactMap { models[$0] }.map(ModelInfo.init)))
        }
        router.get(RouterPath(Routes.openAPI)) { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: openAPI)))
        }
        router.get(RouterPath(Routes.page)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: LivePage.contentSecurityPolicy],
                body: .init(byteBuffer: ByteBuffer(string: LivePage.html)))
        }
        router.post(RouterPath(Routes.predict)) { request, context in
            // The router hands the path segment over as sent: "my%20model" names "my model".
            let segment = context.parameters.get("name") ?? ""
            return try await predict(request, name: segment.removingPercentEncoding ?? segment)
        }
        return router
    }

    /// The application on the configured address; `onRunning` gets the bound port (useful with port 0).
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        var logger = Logger(label: "heed-serve", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        return Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "heed"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish (at most
    /// `shutdownGrace`) and returns.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        defer { shutdown() }
        var logger = Logger(label: "heed-serve", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .warning
        var group = ServiceGroupConfiguration(services: [application(onRunning: onRunning)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownGrace
        try await ServiceGroup(configuration: group).run()
    }

    /// The OpenAPI document `GET /openapi.json` serves, for `heed serve --openapi`.
    public static func openAPIDocument(models: [ServedModel], configuration: ServeConfiguration) throws -> Data {
        try OpenAPIDocument.json(models: models, configuration: configuration)
    }

    /// Stops the inference threads once their queued work is done.
    public func shutdown() { pool.shutdown() }

    private func predict(_ request: Request, name: String) async throws -> Response {
        guard let model = models[name] else { throw APIError.notFound("no model named \"\(name)\"; GET /v1/models lists them") }
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError.tooLarge("the request body is \(length) bytes, over the limit of \(limit)")
        }
        let body = try await request.body.collect(upTo: limit)
        let parsed = try PredictRequest.parse(Data(body.readableBytesView), limits: configuration)
        let classifier = model.classifier
        let methods = parsed.explain.methods(for: classifier)
        if methods.contains(.attention) && !classifier.hasAttention {
            throw APIError.badRequest("a \(classifier.modelKind.rawValue) model has no attention; ask for another method", field: "explain")
        }
        let results = try await pool.map(parsed.texts) { state, texts -> [PredictResult] in
            let (replica, tokenizer) = try state.model(name)
            if methods.isEmpty {
                return zip(texts, replica.predict(Array(texts), tokenizer: tokenizer)).map { text, p in
                    .prediction(PredictionJSON(text: text, prediction: p, topK: parsed.topK, threshold: parsed.threshold))
                }
            }
            return try texts.map { text in
                let e = try replica.explain(text, methods: methods, target: parsed.target, steps: parsed.steps, tokenizer: tokenizer)
                let labels = e.rankedLabels(maximumCount: parsed.topK, threshold: parsed.threshold)
                return .explanation(ExplanationJSON(text: text, explanation: e, target: parsed.target, labels: labels))
            }
        }
        return try json(PredictResponse(model: name, explain: methods.map(\.rawValue), results: results))
    }
}

/// A 200 response with `value` as sorted-key JSON.
func json(_ value: some Encodable) throws -> Response {
    let data = try resultEncoder().encode(value)
    return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
