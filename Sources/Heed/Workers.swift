import Dispatch
import Foundation
import HeedNN
import HeedText

extension TextClassifier {
    /// A copy with its own network buffers, so another thread can run it without waiting for the lock.
    func replica() -> TextClassifier {
        TextClassifier(model: box.withModel { $0.clone() }, vocabulary: vocabulary, options: options, calibration: calibration)
    }

    /// `body(classifier, tokenizer, i)` for every i in 0..<count on up to `workers` threads, each with
    /// its own replica and tokenizer; results in input order. Items are handed out one at a time, so
    /// a result must depend only on its item (not on the thread or on what ran before) for the
    /// output to be the same for any worker count. The first error stops the work and is rethrown.
    func parallelMap<T>(
        count: Int, workers: Int, progress: (@Sendable (Int) -> Void)? = nil, _ body: (TextClassifier, Tokenizer, Int) throws -> T
    ) throws -> [T] {
        let threads = max(1, min(workers, count))
        if threads == 1 {
            let tokenizer = try Tokenizer(settings: vocabulary.settings)
            var results: [T] = []
            results.reserveCapacity(count)
            for i in 0..<count {
                results.append(try body(self, tokenizer, i))
                progress?(i + 1)
            }
            return results
        }
        // One BLAS thread per worker: OpenBLAS's own pool, shared by concurrent callers, spins
        // (2 workers on 2 cores spent twice their compute time in the kernel before this).
        let blasThreads = BLAS.threads
        BLAS.setThreads(1)
        defer { BLAS.setThreads(blasThreads) }
        let replicas = [self] + (1..<threads).map { _ in replica() }
        let queue = WorkQueue<T>(count: count)
        try withoutActuallyEscaping(body) { body in
            let shared = Unchecked((body: body, replicas: replicas, settings: vocabulary.settings, progress: progress))
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                let s = shared.value
                let tokenizer: Tokenizer
                do { tokenizer = try Tokenizer(settings: s.settings) } catch {
                    queue.fail(error)
                    return
                }
                while let i = queue.take() {
                    do {
                        let done = queue.finish(i, try s.body(s.replicas[worker], tokenizer, i))
                        s.progress?(done)
                    } catch { queue.fail(error) }
                }
            }
            if let error = queue.error { throw error }
        }
        return queue.results.map { $0! }
    }
}

/// Hands out item indices and collects results under a lock.
private final class WorkQueue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0, done = 0
    private let count: Int
    private(set) var results: [T?]
    private(set) var error: (any Error)?

    init(count: Int) {
        self.count = count
        results = Array(repeating: nil, count: count)
    }

    /// The next item, or nil when all are taken or one has failed.
    func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard error == nil && next < count else { return nil }
        next += 1
        return next - 1
    }

    /// Stores a result; returns how many are done.
    func finish(_ i: Int, _ result: T) -> Int {
        lock.lock()
        defer { lock.unlock() }
        results[i] = result
        done += 1
        return done
    }

    func fail(_ e: any Error) {
        lock.lock()
        defer { lock.unlock() }
        if error == nil { error = e }
    }
}

/// Carries non-Sendable values into `concurrentPerform`; the work above only reads them.
private struct Unchecked<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
