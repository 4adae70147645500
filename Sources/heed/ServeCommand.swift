import ArgumentParser
import Dispatch
import Foundation
import Heed
import HeedNN
import HeedServe
import Synchronization

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over HTTP: a JSON API and a live page that paints the text as you type.",
        discussion: """
            Each model is served under its file name without the extension (rt.heed: /v1/models/rt/predict). \
            GET / is the live page, GET /openapi.json documents the API, GET /health answers when the \
            server is up. SIGTERM or SIGINT stops accepting, lets in-flight requests finish and exits 0. \
            See docs/serve.md.
            """)
    @Argument(help: "Model files.") var models: [String]
    @Option(help: "Interface to bind (anything but loopback exposes the models to the network).") var host = "127.0.0.1"
    @Option(help: "TCP port (0: any free port, announced on standard error).") var port = 8080
    @Option(help: "Inference threads, each with its own replica of every model (default: the number of cores, at most 8).")
    var workers = defaultWorkers
    @Flag(help: "No access log line per request on standard error.") var quiet = false
    @Option(help: "Largest request body in bytes (bigger: 413).") var maxBodyBytes = 1 << 20
    @Option(help: "Most texts in one request (more: 413).") var maxTexts = 64
    @Option(help: "Largest text in bytes (bigger: 413).") var maxTextBytes = 64 << 10
    @Option(
        help: """
            Most texts waiting for a worker; past it a request gets 503 with Retry-After at once instead of \
            waiting (default: \(ServeConfiguration.maxQueuePerWorker) per worker).
            """)
    var maxQueue: Int?
    @Flag(help: "Print the OpenAPI document these models and options are served with (GET /openapi.json) and exit.")
    var openapi = false

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one model file") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535 (got \(port))") }
        guard (1...256).contains(workers) else { throw ValidationError("--workers must be in 1...256 (got \(workers))") }
        guard maxBodyBytes >= 1 else { throw ValidationError("--max-body-bytes must be at least 1") }
        guard maxTexts >= 1 else { throw ValidationError("--max-texts must be at least 1") }
        guard maxTextBytes >= 1 else { throw ValidationError("--max-text-bytes must be at least 1") }
        if let maxQueue, maxQueue < 1 { throw ValidationError("--max-queue must be at least 1 (got \(maxQueue))") }
    }

    func run() throws {
        var config = ServeConfiguration()
        config.host = host
        config.port = port
        config.workers = workers
        config.quiet = quiet
        config.maxBodyBytes = maxBodyBytes
        config.maxTexts = maxTexts
        config.maxTextBytes = maxTextBytes
        config.maxQueue = maxQueue
        let served = try ServedModel.load(models)
        if openapi {
            FileHandle.standardOutput.write(try HeedServer.openAPIDocument(models: served, configuration: config))
            FileHandle.standardOutput.write(Data("\n".utf8))
            return
        }
        if !config.isLoopback {
            writeStderr("heed serve: warning: listening on \(host), not loopback: anyone who can reach this machine can use the models (no authentication)\n")
        }
        // Each worker runs one document at a time; BLAS threads inside it would only contend.
        BLAS.setThreads(1)
        let server = try HeedServer(models: served, configuration: config)
        let names = served.map(\.name).joined(separator: ", ")
        let outcome = Mutex<Result<Void, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        // ParsableCommand's run is synchronous; the server runs on Swift concurrency and this
        // thread (not one of the pool's) waits for it.
        Task { [host, workers] in
            let result: Result<Void, any Error>
            do {
                try await server.run { port in
                    writeStderr("heed serve: \(names) on http://\(host.contains(":") ? "[\(host)]" : host):\(port)/ with \(workers) workers\n")
                }
                result = .success(())
            } catch { result = .failure(error) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        try outcome.withLock { $0 }?.get()
        writeStderr("heed serve: stopped\n")
    }
}
