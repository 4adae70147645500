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
    var results: [T] = []
    results.reserveCapacity(count)
    try concurrentForEach(count: count, threads: requested, body) { (i, result) throws(E) in
        results.append(result)
        progress?(i + 1)
    }
    return results
}

/// `concurrentMap` that hands each result to `consume` in input order as soon as it and every
/// earlier one are done, instead of returning them all at the end: long work shows its output as
/// it goes, and no thread waits for a slow item except when `window` results are already held
/// (which bounds memory). `consume` runs on whichever worker completed the run of results, one
/// call at a time; an error it throws stops the work like one from `body`.
func concurrentForEach<T, E: Error>(
    count: Int, threads requested: Int, window: Int = .max, _ body: (_ worker: Int, _ item: Int) throws(E) -> T,
    consume: (_ item: Int, T) throws(E) -> Void
) throws(E) {
    let threads = max(1, min(requested, count))
    if threads == 1 {
        for i in 0..<count { try consume(i, try body(0, i)) }
        return
    }
    let queue = InOrderQueue<T, E>(count: count, window: max(1, window))
    withoutActuallyEscaping(body) { body in
        withoutActuallyEscaping(consume) { consume in
            let shared = Unchecked((body: body, consume: consume))
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                // Each worker has a core: one BLAS thread and one loop thread, set for its thread only.
                let scope = BLAS.ThreadScope(1)
                defer { scope.end() }
                while let i = queue.take() {
                    do throws(E) {
                        queue.finish(i, try shared.value.body(worker, i), consume: shared.value.consume)
                    } catch { queue.fail(error) }
                }
            }
        }
    }
    if let error = queue.error { throw error }
}

/// Hands out item indices, holds finished results until every earlier one is finished, and lets
/// one thread at a time pass them on in order.
private final class InOrderQueue<T, E: Error>: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int, window: Int
    /// The next item to hand out, the next to pass on.
    private var next = 0, passed = 0
    private var waiting: [T?]
    private var passing = false
    private(set) var error: E?

    init(count: Int, window: Int) {
        self.count = count
        self.window = window
        waiting = Array(repeating: nil, count: count)
    }

    /// The next item, or nil when all are taken or one has failed. Waits while `window` items
    /// beyond the next to pass on are already out.
    func take() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while error == nil && next < count && next - passed >= window { condition.wait() }
        guard error == nil && next < count else { return nil }
        next += 1
        return next - 1
    }

    /// Stores a result, then passes on every result that is next in order, unless another thread
    /// already does (it will find this one).
    func finish(_ i: Int, _ result: T, consume: (Int, T) throws(E) -> Void) {
        condition.lock()
        waiting[i] = result
        guard !passing else { return condition.unlock() }
        passing = true
        while error == nil, passed < count, let ready = waiting[passed] {
            let k = passed
            waiting[k] = nil
            condition.unlock()
            do throws(E) { try consume(k, ready) } catch { fail(error) }
            condition.lock()
            passed = k + 1
            condition.broadcast()
        }
        passing = false
        condition.unlock()
    }

    func fail(_ e: E) {
        condition.lock()
        defer { condition.unlock() }
        if error == nil { error = e }
        condition.broadcast()
    }
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
        var results: [T] = []
        results.reserveCapacity(count)
        try parallelForEach(count: count, workers: workers, body) { i, result in
            results.append(result)
            progress?(i + 1)
        }
        return results
    }

    /// `parallelMap` that passes each result on in input order as soon as it can (see
    /// `concurrentForEach`).
    func parallelForEach<T>(
        count: Int, workers: Int, window: Int = .max, _ body: (TextClassifier, Tokenizer, Int) throws -> T,
        consume: (Int, T) throws -> Void
    ) throws {
        let threads = max(1, min(workers, count))
        let replicas = [self] + (1..<threads).map { _ in replica() }
        let tokenizers = try (0..<threads).map { _ in try Tokenizer(settings: vocabulary.settings) }
        try concurrentForEach(
            count: count, threads: threads, window: window, { worker, i in try body(replicas[worker], tokenizers[worker], i) }, consume: consume)
    }
}

/// Carries non-Sendable values into `concurrentPerform`; the work only reads them, and each
/// thread writes only state it owns.
struct Unchecked<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
