/// What `heed serve` binds to and how much one request may ask for. Every limit bounds memory or
/// compute that a single client could otherwise claim.
public struct ServeConfiguration: Sendable {
    /// Interface to bind; loopback unless the user asks otherwise.
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one (announced on stderr).
    public var port = 8080
    /// Inference threads, each with its own replica of every model.
    public var workers = 1
    /// No access log line per request.
    public var quiet = false
    /// Largest request body read (bigger: 413).
    public var maxBodyBytes = 1 << 20
    /// Most texts in one request (more: 413).
    public var maxTexts = 64
    /// Largest single text, in UTF-8 bytes (bigger: 413).
    public var maxTextBytes = 64 << 10
    /// Most texts waiting for a worker (more: 503 with `Retry-After`); nil: `maxQueuePerWorker` per worker.
    public var maxQueue: Int?
    /// The default queue per worker: at about 2 ms a text, a wait of well under a second.
    public static let maxQueuePerWorker = 64
    /// Most integrated-gradients steps a request may ask for (each is a forward and backward pass).
    public var maxSteps = 256
    /// How long SIGTERM/SIGINT waits for in-flight requests before cancelling them.
    public var shutdownGrace: Duration = .seconds(10)

    /// The defaults: loopback, port 8080, one worker.
    public init() {}

    /// The queue limit in effect.
    public var queueLimit: Int { maxQueue ?? Self.maxQueuePerWorker * max(1, workers) }

    /// Whether `host` only accepts connections from this machine.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
