/// A grow-only Float32 scratch buffer owned by a layer. `reserve` never shrinks and does not
/// preserve contents when it grows, so activations are reused across batches without
/// per-batch allocation once the largest batch has been seen.
final class Buffer {
    private(set) var ptr: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init(_ count: Int = 0) {
        capacity = max(count, 1)
        ptr = .allocate(capacity: capacity)
        ptr.initialize(repeating: 0, count: capacity)
    }

    deinit { ptr.deallocate() }

    /// Makes room for `count` floats and returns the base pointer.
    @discardableResult
    func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            ptr.deallocate()
            // Exact growth: bucketing makes batch sizes jump, so headroom would mostly be waste.
            capacity = count
            ptr = .allocate(capacity: capacity)
            ptr.initialize(repeating: 0, count: capacity)
        }
        return ptr
    }

    /// Reserves `count` floats and sets them to zero.
    @discardableResult
    func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }
}
