import Foundation
import Heed

/// Threads of its own for inference. A prediction is milliseconds of CPU; run on an event loop or
/// on Swift's cooperative pool (one thread per core) it would stall every other connection, so each
/// job is handed to one of `workers` plain threads and the request awaits it. Each thread keeps a
/// replica and a tokenizer per model, so workers never wait on each other.
final class InferencePool: Sendable {
    private let queue = JobQueue()
    let workers: Int

    init(models: [ServedModel], workers: Int) {
        self.workers = max(1, workers)
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

    /// Runs `body` on a worker thread; throws `ServeError.shuttingDown` once `shutdown` was called.
    func run<T: Sendable>(_ body: @escaping @Sendable (WorkerState) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = queue.put { state in continuation.resume(with: Result { try body(state) }) }
            if !accepted { continuation.resume(throwing: APIError.unavailable("the server is shutting down")) }
        }
    }

    /// `body` over `items` split into contiguous chunks, one per worker at most; results in order.
    func map<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (WorkerState, ArraySlice<T>) throws -> [R]) async throws -> [R] {
        let chunks = min(workers, items.count)
        guard chunks > 1 else { return try await run { try body($0, items[...]) } }
        let size = (items.count + chunks - 1) / chunks
        return try await withThrowingTaskGroup(of: (Int, [R]).self) { group in
            for (c, start) in stride(from: 0, to: items.count, by: size).enumerated() {
                let slice = items[start..<min(start + size, items.count)]
                group.addTask { (c, try await self.run { try body($0, slice) }) }
            }
            var parts = [[R]](repeating: [], count: chunks)
            for try await (c, part) in group { parts[c] = part }
            return parts.flatMap { $0 }
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

/// A FIFO of jobs that blocks takers while empty; closing it wakes them to exit.
private final class JobQueue: @unchecked Sendable {
    typealias Job = @Sendable (WorkerState) -> Void
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var closed = false

    func put(_ job: @escaping Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// The next job, or nil once the queue is closed and drained.
    func take() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count && !closed { condition.wait() }
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
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
