import Dispatch

/// Runs `body(range)` over 0..<count in up to `BLAS.loopThreads` contiguous chunks (serially when
/// the work is small). Chunk boundaries are multiples of 8 so SIMD loops stay aligned to lanes.
func parallelChunks(_ count: Int, minPerThread: Int = 1 << 16, _ body: (Range<Int>) -> Void) {
    let t = min(BLAS.loopThreads, max(1, count / minPerThread))
    if t <= 1 { body(0..<count); return }
    let chunk = ((count + t - 1) / t + 7) / 8 * 8
    withoutActuallyEscaping(body) { b in
        // The chunks write disjoint ranges; the box only carries the closure across threads.
        let box = UncheckedBox(b)
        DispatchQueue.concurrentPerform(iterations: t) { i in
            let lo = min(count, i * chunk), hi = min(count, lo + chunk)
            if lo < hi { box.value(lo..<hi) }
        }
    }
}

/// Runs `body(tensor, range)` over every element of tensors of the given sizes, taken as one index
/// space cut into up to `BLAS.loopThreads` contiguous chunks, so small tensors are shared out too
/// (an optimizer step over many mid-sized tensors is not left to one thread). For elementwise
/// work only: the result must not depend on where the cuts fall.
func parallelSegments(_ counts: [Int], minPerThread: Int = 1 << 15, _ body: (_ tensor: Int, _ range: Range<Int>) -> Void) {
    let total = counts.reduce(0, +)
    var offsets: [Int] = []
    var o = 0
    for c in counts { offsets.append(o); o += c }
    parallelChunks(total, minPerThread: minPerThread) { flat in
        for (k, start) in offsets.enumerated() {
            let lo = max(flat.lowerBound, start), hi = min(flat.upperBound, start + counts[k])
            if lo < hi { body(k, (lo - start)..<(hi - start)) }
        }
    }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}

/// Σ x² over n floats: 8-lane Float partial sums folded into Double every 1024 elements.
func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
        let end = min(n, start + sumOfSquaresBlock)
        total += blockSumOfSquares(x + start, end - start)
        start = end
    }
    return total
}

let sumOfSquaresBlock = 1024

/// One block's share of `sumOfSquares`: x[k]² into lane k % 8 in 8-lane Float sums over the
/// block's whole vectors, folded into Double, then the last n % 8 values added in Double.
@inline(__always)
func blockSumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = F8()
    addSquares(x, 0..<(n & ~7), into: &acc)
    var s = Double(acc.sum())
    for k in (n & ~7)..<n { s += Double(x[k]) * Double(x[k]) }
    return s
}

/// Adds x[k]² to lane k % 8 of `acc` for k in `range` (within the block's whole vectors), in
/// order: whole aligned vectors at once, the values before and after them lane by lane.
@inline(__always)
private func addSquares(_ x: UnsafePointer<Float>, _ range: Range<Int>, into acc: inout F8) {
    var k = range.lowerBound
    while k < range.upperBound && k & 7 != 0 {
        acc[k & 7] = acc[k & 7] + x[k] * x[k]
        k += 1
    }
    while k + 8 <= range.upperBound {
        let v = load8(x + k)
        acc = acc + v * v
        k += 8
    }
    while k < range.upperBound {
        acc[k & 7] = acc[k & 7] + x[k] * x[k]
        k += 1
    }
}

/// `blockSumOfSquares` of a block whose only values that may be nonzero lie in `segments`
/// (ascending, disjoint, within 0..<n): each value goes to the lane and in the order the dense
/// loop gives it, and the values skipped are zeros, whose squares add nothing, so the result is
/// the same bits at the cost of the segments alone.
func sparseBlockSumOfSquares(_ x: UnsafePointer<Float>, _ n: Int, segments: [Range<Int>]) -> Double {
    var acc = F8()
    let vectorPart = 0..<(n & ~7)
    for segment in segments { addSquares(x, segment.clamped(to: vectorPart), into: &acc) }
    var s = Double(acc.sum())
    for segment in segments {
        for k in segment.clamped(to: vectorPart.upperBound..<n) { s += Double(x[k]) * Double(x[k]) }
    }
    return s
}

/// A tensor for `sumOfSquares`: its values, and when only some rows (`width` values each) may
/// be nonzero, those rows in ascending order.
struct SquaredTensor {
    let pointer: UnsafePointer<Float>
    let count: Int
    var rows: [Int32]? = nil
    var width = 1
}

/// Σ over tensors of `sumOfSquares`, added tensor by tensor: the blocks are summed on
/// `BLAS.loopThreads` threads, then folded in the serial order, so the result is the same bits.
func sumOfSquares(_ tensors: [(pointer: UnsafePointer<Float>, count: Int)]) -> Double {
    sumOfSquares(tensors.map { SquaredTensor(pointer: $0.pointer, count: $0.count) })
}

/// `sumOfSquares` of tensors of which some have known nonzero rows: such a tensor's blocks read
/// only their rows' values (`sparseBlockSumOfSquares`), with the dense sum's bits.
func sumOfSquares(_ tensors: [SquaredTensor]) -> Double {
    let blocks = tensors.map { ($0.count + sumOfSquaresBlock - 1) / sumOfSquaresBlock }
    let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(1, blocks.reduce(0, +)))
    defer { partial.deallocate() }
    var firstBlock: [Int] = []
    var b0 = 0
    for n in blocks { firstBlock.append(b0); b0 += n }
    parallelSegments(blocks, minPerThread: 64) { k, range in
        let x = tensors[k].pointer, n = tensors[k].count
        guard let rows = tensors[k].rows else {
            for b in range {
                let start = b * sumOfSquaresBlock
                partial[firstBlock[k] + b] = blockSumOfSquares(x + start, min(n, start + sumOfSquaresBlock) - start)
            }
            return
        }
        let w = tensors[k].width
        // The first row that ends after the range's first block starts.
        var i = 0, upper = rows.count
        while i < upper {
            let mid = (i + upper) / 2
            if (Int(rows[mid]) + 1) * w > range.lowerBound * sumOfSquaresBlock { upper = mid } else { i = mid + 1 }
        }
        var segments: [Range<Int>] = []
        for b in range {
            let start = b * sumOfSquaresBlock, end = min(n, start + sumOfSquaresBlock)
            segments.removeAll(keepingCapacity: true)
            while i < rows.count && Int(rows[i]) * w < end {
                let lo = max(start, Int(rows[i]) * w), hi = min(end, (Int(rows[i]) + 1) * w)
                segments.append((lo - start)..<(hi - start))
                if hi < (Int(rows[i]) + 1) * w { break }  // the row goes on into the next block
                i += 1
            }
            partial[firstBlock[k] + b] = segments.isEmpty ? 0 : sparseBlockSumOfSquares(x + start, end - start, segments: segments)
        }
    }
    var total = 0.0
    for (k, n) in blocks.enumerated() {
        var t = 0.0
        for b in 0..<n { t += partial[firstBlock[k] + b] }
        total += t
    }
    return total
}

/// Branch-free elementwise math that LLVM can vectorize (no libm calls, no FMA: plain a * b + c).

/// e^x for Float, relative error ≈ 1–2 ulp on [-87, 88]; inputs are clamped to that range.
/// Range reduction x = k·ln2 + r (round-to-nearest via the 1.5·2²³ trick, which needs no
/// SSE4.1 and leaves k in the low mantissa bits), then a degree-6 minimax polynomial for e^r and 2^k built from exponent bits.
@inline(__always)
func fastExp(_ v: Float) -> Float {
    let x = min(max(v, -87.0), 88.0)
    let magic: Float = 12_582_912  // 1.5 · 2^23
    let shifted = x * 1.442_695_04 + magic  // low mantissa bits now hold k
    let k = shifted - magic
    let r = (x - k * 0.693_359_375) + k * 2.121_944_4e-4
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 0.166_666_655
    p = p * r + 0.500_000_01
    let y = p * (r * r) + r + 1
    // 2^k from the integer k sitting in `shifted`'s mantissa; wrapping ops only (no checked
    // Float→Int conversion), so the loop stays branch-free.
    let kBits = shifted.bitPattern &- magic.bitPattern
    let scale = Float(bitPattern: (kBits &+ 127) &<< 23)
    return y * scale
}

@inline(__always)
func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

/// tanh via e^{-2|x|} (no cancellation for large |x|; for |x| < 0.0625 a short odd series
/// keeps the relative error small near 0).
@inline(__always)
func fastTanh(_ x: Float) -> Float {
    let a = min(abs(x), 44)
    let e = fastExp(-2 * a)
    let big = (1 - e) / (1 + e)
    let x2 = x * x
    let small = a * (1 + x2 * (-0.333_333_34 + x2 * (0.133_333_34 + x2 * -0.053_968_25)))
    let t = a < 0.0625 ? small : big
    return x < 0 ? -t : t
}

typealias F8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> F8 { UnsafeRawPointer(p).loadUnaligned(as: F8.self) }

@inline(__always)
func store8(_ v: F8, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: F8.self) }

/// Eight lanes of `fastExp` (same arithmetic, explicit SIMD).
@inline(__always)
func fastExp8(_ v: F8) -> F8 {
    var x = v
    x.replace(with: -87, where: x .< -87)  // mask selects; pointwiseMin/Max do not inline
    x.replace(with: 88, where: x .> 88)
    let magic = F8(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let k = shifted - magic
    let r = (x - k * 0.693_359_375) + k * 2.121_944_4e-4
    var p = F8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 0.166_666_655
    p = p * r + 0.500_000_01
    let y = p * (r * r) + r + 1
    let kBits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- magic[0].bitPattern
    let scale = unsafeBitCast((kBits &+ 127) &<< 23, to: F8.self)
    return y * scale
}

@inline(__always)
func fastSigmoid8(_ x: F8) -> F8 { 1 / (1 + fastExp8(-x)) }

@inline(__always)
func fastTanh8(_ x: F8) -> F8 {
    var a = unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: F8.self)
    a.replace(with: 44, where: a .> 44)
    let e = fastExp8(-2 * a)
    let big = (1 - e) / (1 + e)
    let x2 = x * x
    let small = a * (1 + x2 * (-0.333_333_34 + x2 * (0.133_333_34 + x2 * -0.053_968_25)))
    var t = big
    t.replace(with: small, where: a .< 0.0625)
    t.replace(with: -t, where: x .< 0)
    return t
}
