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
