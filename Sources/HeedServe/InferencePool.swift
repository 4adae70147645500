import Foundation
import Heed

/// Threads of its own for inference. A prediction is milliseconds of CPU; run on an event loop or
/// on Swift's cooperative pool (one thread per core) it would stall every other connection, so each
/// job is handed to one of `workers` plain threads and the request awaits it. Each thread keeps a
/// replica and a tokenizer per model, so workers never wait on each other. At most `maxQueue`
/// texts wait for a worker: past that a request is refused at once (503) instead of waiting longer
/// than a client would, so overload costs clients a retry, not a timeout.
final class InferencePool: Sendable {
    private let queue: JobQueue
    let workers: Int

    init(models: [ServedModel], workers: Int, maxQueue: Int) {
        self.workers = max(1, workers)
        queue = JobQueue(limit: max(1, maxQueue))
        let byName = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0.classifier) })
        for w in 0..<self.workers {
            let thread = Thread { [queue] in
                let state = WorkerState(models: byName)
                while let job = queue.take() { job(state) }
            }
            thread.name = "heed-infer-\(w)"
            thread.start()
        }
    }

    /// Texts queued and not yet taken by a worker.
    var waiting: Int { queue.waiting }

    /// `body` over `items` split into contiguous chunks, one per worker at most; results in order.
    /// Throws a 503 `APIError` when the queue has no room for `items` or the pool is shut down.
    func map<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (WorkerState, ArraySlice<T>) throws -> [R]) async throws -> [R] {
        switch queue.reserve(items.count) {
        case .reserved: break
        case .full:
            throw APIError.unavailable(
                "the server is busy: at most \(queue.limit) texts may wait for a worker and this request's would go past it; retry in a second")
        case .closed: throw APIError.unavailable("the server is shutting down")
        }
        let chunks = min(workers, items.count)
        guard chunks > 1 else { return try await run(items.count) { try body($0, items[...]) } }
        let size = (items.count + chunks - 1) / chunks
        return try await withThrowingTaskGroup(of: (Int, [R]).self) { group in
            for (c, start) in stride(from: 0, to: items.count, by: size).enumerated() {
                let slice = items[start..<min(start + size, items.count)]
                group.addTask { (c, try await self.run(slice.count) { try body($0, slice) }) }
            }
            var parts = [[R]](repeating: [], count: chunks)
            for try await (c, part) in group { parts[c] = part }
            return parts.flatMap { $0 }
        }
    }

    /// Runs `body` on a worker thread as `texts` of the reserved texts.
    private func run<T: Sendable>(_ texts: Int, _ body: @escaping @Sendable (WorkerState) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = queue.put(texts: texts) { state in continuation.resume(with: Result { try body(state) }) }
            if !accepted { continuation.resume(throwing: APIError.unavailable("the server is shutting down")) }
        }
    }

    /// Lets the threads finish the queued jobs and exit; later jobs are refused.
    func shutdown() { queue.close() }
}

/// What one worker thread owns: a replica and a tokenizer per model, made on first use.
final class WorkerState {
    private let models: [String: TextClassifier]
    private var ready: [String: (TextClassifier, Tokenizer)] = [:]

    init(models: [String: TextClassifier]) { self.models = models }

    /// The thread's replica of model `name` and its tokenizer.
    func model(_ name: String) throws -> (classifier: TextClassifier, tokenizer: Tokenizer) {
        if let r = ready[name] { return r }
        guard let shared = models[name] else { throw APIError.notFound("no model named \(name)") }
        let r = (shared.replica(), try Tokenizer(settings: shared.vocabulary.settings))
        ready[name] = r
        return r
    }
}

/// A FIFO of jobs that blocks takers while empty; closing it wakes them to exit. Room is counted
/// in texts and reserved for a whole request before its jobs are put, so a batch is refused whole
/// or queued whole; a request larger than the limit still runs when nothing else waits.
private final class JobQueue: @unchecked Sendable {
    typealias Job = @Sendable (WorkerState) -> Void
    enum Reservation { case reserved, full, closed }
    let limit: Int
    private let condition = NSCondition()
    private var jobs: [(job: Job, texts: Int)] = []
    private var head = 0
    private var closed = false
    private var reserved = 0

    init(limit: Int) { self.limit = limit }

    /// Texts reserved and not yet taken by a worker.
    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return reserved
    }

    func reserve(_ texts: Int) -> Reservation {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return .closed }
        guard reserved == 0 || reserved + texts <= limit else { return .full }
        reserved += texts
        return .reserved
    }

    /// Queues a job for `texts` already reserved; false once the queue is closed.
    func put(texts: Int, _ job: @escaping Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append((job, texts))
        condition.signal()
        return true
    }

    /// The next job, or nil once the queue is closed and drained.
    func take() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count && !closed { condition.wait() }
        guard head < jobs.count else { return nil }
        let (job, texts) = jobs[head]
        head += 1
        reserved -= texts
        if head > 64 && head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
