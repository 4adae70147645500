import Foundation
import Testing

@testable import Heed

/// What the workers' consumer is shown, and when, under a lock.
private final class Record: @unchecked Sendable {
    private let lock = NSLock()
    private var passed: [Int] = []
    private(set) var mostAhead = 0

    /// Notes that item `i` starts while `passed.count` items have been passed on.
    func start(_ i: Int) {
        lock.withLock { mostAhead = max(mostAhead, i - passed.count + 1) }
    }

    func pass(_ i: Int) { lock.withLock { passed.append(i) } }
    var items: [Int] { lock.withLock { passed } }
}

private struct Stop: Error, Equatable { let item: Int }

@Suite struct InOrderWorkTests {
    /// Items take uneven times, so they finish out of order (the first takes longest, so other
    /// threads are running before it is done); they are passed on in order, each once, with their
    /// own result, and no item starts while `window` earlier ones are held.
    @Test(arguments: [1, 2, 3], [1, 4, 1000])
    func resultsArePassedOnInOrderWithinTheWindow(threads: Int, window: Int) throws {
        let record = Record()
        var results: [Int] = []
        try concurrentForEach(count: 120, threads: threads, window: window) { (_, i) throws(Stop) -> Int in
            record.start(i)
            usleep(i == 0 ? 20_000 : UInt32((i * 37) % 11) * 40)
            return i * i
        } consume: { (i, square) throws(Stop) in
            record.pass(i)
            results.append(square)
        }
        #expect(record.items == Array(0..<120))
        #expect(results == (0..<120).map { $0 * $0 })
        #expect(record.mostAhead <= window)
        #expect(record.mostAhead >= 1)
    }

    /// An error from the work or from the consumer stops both; only items before it are passed on.
    @Test(arguments: [1, 2, 3], [false, true])
    func theFirstErrorStopsTheWork(threads: Int, inConsumer: Bool) throws {
        let record = Record()
        #expect(throws: Stop(item: 37)) {
            try concurrentForEach(count: 120, threads: threads, window: 8) { (_, i) throws(Stop) -> Int in
                if !inConsumer && i == 37 { throw Stop(item: i) }
                return i
            } consume: { (i, _) throws(Stop) in
                if inConsumer && i == 37 { throw Stop(item: i) }
                record.pass(i)
            }
        }
        let passed = record.items
        #expect(passed == Array(0..<passed.count))
        #expect(passed.count <= 37)
        if inConsumer { #expect(passed.count == 37) }
    }
}
