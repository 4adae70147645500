import Foundation

/// Serializable state of `Rng` (four xoshiro256** words). Restore with `Rng(state:)`.
public struct RandomState: Codable, Sendable, Equatable {
    public var words: [UInt64]
    public init(words: [UInt64]) { self.words = words }
}

/// Heed's own seeded generator: xoshiro256** seeded through SplitMix64, normals by Box–Muller
/// (one pair drawn per normal, no cached spare, so the state is just the four words).
/// Same seed → same sequence on every run and platform with the same libm.
public struct Rng: Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    /// Whether `normal()` computes its value. A model whose values a file will overwrite is
    /// built with `false`: each normal draw then advances the stream as it would and returns 0,
    /// so the stream ends where the drawn initialisation leaves it, without a logarithm and a
    /// cosine per embedding value (about 30 ms of a command's start-up for an RT model).
    public var computesValues = true

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    public init(state: RandomState) {
        precondition(state.words.count == 4, "RandomState needs four words")
        s0 = state.words[0]; s1 = state.words[1]; s2 = state.words[2]; s3 = state.words[3]
    }

    public var state: RandomState { RandomState(words: [s0, s1, s2, s3]) }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Next 64 random bits (xoshiro256**).
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = Rng.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Rng.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [a, b).
    @inline(__always)
    public mutating func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * uniform() }

    /// Standard normal (Box–Muller, computed in Double).
    public mutating func normal() -> Float {
        guard computesValues else {
            _ = next()
            _ = next()
            return 0
        }
        let u1 = (Double(next() >> 11) + 1) * 0x1p-53  // (0, 1]
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }

    /// Uniform integer in 0..<n (n > 0), unbiased by rejection.
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let v = next()
            if v < limit { return Int(v % bound) }
        }
    }
}
