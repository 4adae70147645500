import Dispatch
import Foundation
import HeedNN
import HeedText

/// `body(worker, i)` for every i in 0..<count on up to `threads` threads (`worker` in 0..<threads
/// names the thread, for per-thread state such as a model replica); results in input order. Items
/// are handed out one at a time, so a result must depend only on its item, not on the thread or on
/// what ran before, for the output to be the same for any thread count. The first error stops the
/// work and is rethrown.
///
/// With more than one thread, BLAS runs one thread per caller while this runs (OpenBLAS's own
/// pool, shared by concurrent callers, spins: 2 workers on 2 cores spent twice their compute time
/// in the kernel before this); both BLAS settings are put back afterwards.
func concurrentMap<T, E: Error>(
    count: Int, threads requested: Int, progress: (@Sendable (Int) -> Void)? = nil, _ body: (_ worker: Int, _ item: Int) throws(E) -> T
) throws(E) -> [T] {
    let threads = max(1, min(requested, count))
    if threads == 1 {
        var results: [T] = []
        results.reserveCapacity(count)
        for i in 0..<count {
            results.append(try body(0, i))
            progress?(i + 1)
        }
        return results
    }
    let queue = WorkQueue<T, E>(count: count)
    withoutActuallyEscaping(body) { body in
        let shared = Unchecked((body: body, progress: progress))
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            // Each worker has a core: one BLAS thread and one loop thread, set for its thread only.
            let scope = BLAS.ThreadScope(1)
            defer { scope.end() }
            while let i = queue.take() {
                do throws(E) {
                    let done = queue.finish(i, try shared.value.body(worker, i))
                    shared.value.progress?(done)
                } catch { queue.fail(error) }
            }
        }
    }
    if let error = queue.error { throw error }
    return queue.results.map { $0! }
}

extension TextClassifier {
    /// A copy with its own network buffers, so another thread can run it without waiting for the lock
    /// (`heed serve` keeps one per worker thread).
    package func replica() -> TextClassifier {
        cloned(calibration: calibration)
    }

    /// `body(classifier, tokenizer, i)` for every i in 0..<count on up to `workers` threads, each with
    /// its own replica and tokenizer; results in input order, the same for any worker count (see
    /// `concurrentMap`).
    func parallelMap<T>(
        count: Int, workers: Int, progress: (@Sendable (Int) -> Void)? = nil, _ body: (TextClassifier, Tokenizer, Int) throws -> T
    ) throws -> [T] {
        let threads = max(1, min(workers, count))
        let replicas = [self] + (1..<threads).map { _ in replica() }
        let tokenizers = try (0..<threads).map { _ in try Tokenizer(settings: vocabulary.settings) }
        return try concurrentMap(count: count, threads: threads, progress: progress) { worker, i in
            try body(replicas[worker], tokenizers[worker], i)
        }
    }
}

/// Hands out item indices and collects results under a lock.
private final class WorkQueue<T, E: Error>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0, done = 0
    private let count: Int
    private(set) var results: [T?]
    private(set) var error: E?

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

    func fail(_ e: E) {
        lock.lock()
        defer { lock.unlock() }
        if error == nil { error = e }
    }
}

/// Carries non-Sendable values into `concurrentPerform`; the work only reads them, and each
/// thread writes only state it owns.
struct Unchecked<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
