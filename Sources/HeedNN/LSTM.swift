import CHeedKernels
import Foundation

/// The variant of CHeedKernels' cell loops this CPU runs ("avx512", "avx2" or "baseline"), for
/// `heed --version` and benchmark records; results are the same bits whichever it is.
public enum LSTMCellKernels {
    public static var variant: String { String(cString: heed_kernels_variant()) }
}

/// One LSTM direction over a packed batch (see `Packing`), PyTorch gate order i, f, g, o.
/// Forward: one GEMM projects all steps' inputs, then per step only the recurrent GEMM over the
/// active rows and a fused gate loop. Backward: per step the fused gate-gradient loop and one
/// recurrent GEMM; the weight gradients are GEMMs over many steps at once.
///
/// A batch of scaled copies of one or more sequences (integrated gradients): sorted sequence j
/// is a copy of document `document[j]` and reads `scales[j]`·e_t at position t, where e_t is row
/// `starts[d]` + t of `tokens` [Σ lengths × E]. The input projection is linear, so
/// (s·e_t)·W_ihᵀ = s·(e_t·W_ihᵀ): one [length × E]·[E × 4H] product per document serves all its
/// copies, instead of one over every packed row. The product is formed per document, so each
/// document's projection is the same call, bit for bit, whichever documents share the batch.
struct ScaledCopies {
    let tokens: UnsafePointer<Float>
    /// Per document: its first row in `tokens`, and its length.
    let starts: [Int], lengths: [Int]
    /// Per sorted sequence: its document and its scale.
    let document: [Int], scales: [Float]

    /// Copies of one sequence of `length` rows.
    init(tokens: UnsafePointer<Float>, length: Int, scales: [Float]) {
        self.init(tokens: tokens, starts: [0], lengths: [length], document: scales.map { _ in 0 }, scales: scales)
    }

    init(tokens: UnsafePointer<Float>, starts: [Int], lengths: [Int], document: [Int], scales: [Float]) {
        (self.tokens, self.starts, self.lengths, self.document, self.scales) = (tokens, starts, lengths, document, scales)
    }
}

/// The orthogonal LSTM's ε (`LSTMDirection.orthogonalEpsilon`), for the ONNX exporter, which
/// spells the step out.
package let orthogonalLSTMEpsilon = LSTMDirection.orthogonalEpsilon

/// Orthogonal LSTM (Mohankumar et al., ACL 2020), with `orthogonal` set: at step t each
/// sequence's new state h_t is replaced by its part orthogonal to the running sum of the
/// sequence's earlier (already orthogonalised) states,
///
///     s_0 = 0,  s_t = Σ_{i<t} h̃_i,  h̃_t = h_t − (⟨h_t, s_t⟩ / (⟨s_t, s_t⟩ + ε)) s_t,
///
/// and h̃_t is both the output and the next step's recurrent input; the cell state is unchanged.
/// The reference projects on the mean Σ/(t+1) with ε 1e-6, the same direction; Heed projects on
/// the sum with a fixed ε = `orthogonalEpsilon` = 1e-4 in squared-norm units: states lie in
/// (−1, 1)^H and sums of them are of norm ~1 after a step or two, so the projection leaves
/// ε/(|s|²+ε) of the component (≤ 1e-4 once |s| ≥ 1), while ε bounds the backward's 1/|s|
/// factors by 1/(2√ε) = 50 when a running sum is still near zero. At t = 0,
/// s = 0 and h̃ = h exactly. Each direction (and each sequence, over its real tokens only)
/// keeps its own running sum: rows j of step t are sorted sequences 0..<n, so a [B × H] buffer
/// indexed by j holds them. Saved per row for backward: s_t, and a = ⟨h_t, s_t⟩, q = ⟨s_t, s_t⟩ + ε;
/// h_t itself is o·tanh(c) from the saved gates. The backward, with g = dL/dh̃_t (the output's
/// gradient plus the carried dL/ds_{t+1}, since s_{t+1} = s_t + h̃_t):
///
///     dL/dh_t = g − (⟨g,s⟩/q) s
///     dL/ds_t = dL/ds_{t+1} − (a/q) g − (⟨g,s⟩/q) h + (2a⟨g,s⟩/q²) s
///
/// Saved per packed row: the four activated gates, c_t, tanh(c_t) and h_t (7H floats). The
/// previous states are not copied: sequences are sorted by length, so the rows active at step t
/// are the first rows of step t-1 and h_{t-1}, c_{t-1} are read from there. tanh(c_t) is kept
/// rather than recomputed in backward: it was 3% of an integrated-gradients explanation.
final class LSTMDirection {
    let input: Int
    let hidden: Int
    let wih: Param, whh: Param, bih: Param, bhh: Param

    // Saved activations, all packed rows.
    let gates = Buffer()  // [P × 4H] activated i, f, g, o; gate gradients after backward
    let cell = Buffer()  // [P × H] c_t
    let cellTanh = Buffer()  // [P × H] tanh(c_t)
    let out = Buffer()  // [P × H] h_t
    let dCarry = Buffer()  // [B × H]
    let biasSum = Buffer()  // [4H]
    let zeroState: Buffer  // [H] h_{-1} = c_{-1} = 0, never written
    let shifted = Buffer()  // [≤ chunkRows × H] h_{t-1} rows gathered for the W_hh gradient
    let whhTransposed = Buffer()  // [H × 4H] W_hhᵀ, for the blocked step product (BLAS.recurrentBlockRows)
    let whhPackedForward = Buffer()  // W_hhᵀ packed for BLAS.gemmPacked (forward's step product)
    let whhPackedBackward = Buffer()  // W_hh packed for BLAS.gemmPacked (backward's step product)
    let projection = Buffer()  // [length × 4H] e_t·W_ihᵀ of a `ScaledCopies` batch
    let runningSum = Buffer()  // [B × H] orthogonal: s per sorted sequence; backward: carried dL/ds
    let savedSum = Buffer()  // [P × H] orthogonal: s_t of each row
    let savedDots = Buffer()  // [P × 2] orthogonal: a = ⟨h_t, s_t⟩ and q = ⟨s_t, s_t⟩ + ε of each row
    private var x: UnsafePointer<Float>?

    /// Orthogonal LSTM (see the type's comment); off: the plain LSTM, bit for bit.
    let orthogonal: Bool
    /// ε of the orthogonal projection's denominator ⟨s, s⟩ + ε (see the type's comment).
    static let orthogonalEpsilon: Float = 1e-4

    /// Rows per W_hh-gradient GEMM: large enough for GEMM efficiency, small next to P × H.
    var chunkRows = 2048

    /// Set while the caller promises W_hh does not change (`LSTM.withFixedWeights`): the forward
    /// and backward then build their copies of W_hh (transposed or packed) once instead of every
    /// pass (2% of an integrated-gradients explanation, which runs a pass per few documents).
    var weightsFixed = false {
        didSet { (forwardCopyCurrent, backwardCopyCurrent) = (false, false) }
    }
    private var forwardCopyCurrent = false
    private var backwardCopyCurrent = false

    /// The step products run on `BLAS.gemmPacked` (the process's choice, `BLAS.packedRecurrent`);
    /// tests set it to run both paths on one CPU. Off where the CPU cannot run the packed kernel.
    var packedRecurrent = BLAS.packedRecurrent {
        didSet { (forwardCopyCurrent, backwardCopyCurrent) = (false, false) }
    }

    /// Parameters are named `<prefix>.weight_ih_l0<suffix>` and so on (PyTorch's `nn.LSTM` names).
    init(input: Int, hidden: Int, suffix: String, prefix: String = "lstm", orthogonal: Bool = false, rng: inout Rng) {
        self.input = input
        self.hidden = hidden
        self.orthogonal = orthogonal
        zeroState = Buffer(hidden)
        wih = Param(prefix + ".weight_ih_l0" + suffix, [4 * hidden, input])
        whh = Param(prefix + ".weight_hh_l0" + suffix, [4 * hidden, hidden])
        bih = Param(prefix + ".bias_ih_l0" + suffix, [4 * hidden])
        bhh = Param(prefix + ".bias_hh_l0" + suffix, [4 * hidden])
        let k = 1 / Float(hidden).squareRoot()
        for p in [wih, whh, bih, bhh] {
            for i in 0..<p.count { p.value[i] = rng.uniform(-k, k) }
        }
    }

    var parameters: [Param] { [wih, whh, bih, bhh] }

    /// `x` [P × E] packed; must stay valid until `backward`. Result in `out` [P × H].
    ///
    /// With `copies` (every sequence is a scaled copy of a document, so `x`, if given, holds
    /// exactly those rows), the input projection is formed from the documents' shared projections
    /// instead of from `x`; `x` is kept only for the W_ih gradient, and may be nil when none will
    /// be asked for. `reversed`: this direction reads the sequence backwards, step t is position
    /// length−1−t.
    func forward(_ x: UnsafePointer<Float>?, _ pk: Packing, copies: ScaledCopies? = nil, reversed: Bool = false) {
        precondition(x != nil || copies != nil, "LSTM.forward needs input rows or scaled copies")
        self.x = x
        let P = pk.total, H = hidden, H4 = 4 * hidden, E = input
        let G = gates.reserve(P * H4)
        let C = cell.reserve(P * H)
        let TC = cellTanh.reserve(P * H)
        let O = out.reserve(P * H)
        let bs = biasSum.reserve(H4)
        let zero = UnsafePointer(zeroState.ptr)
        for k in 0..<H4 { bs[k] = bih.value[k] + bhh.value[k] }
        let sum = orthogonal ? runningSum.zeroed(pk.batch * H) : zeroState.ptr
        if orthogonal {
            _ = savedSum.reserve(P * H)
            _ = savedDots.reserve(2 * P)
        }
        if let copies {
            projectCopies(copies, pk, reversed: reversed, into: G)
        } else {
            BLAS.gemm(false, true, P, H4, E, 1, x!, E, wih.value, E, 0, G, H4)
        }
        // Batch-1 inference never blocks or packs (rows ≤ 2 go to GEMV), so it skips the transpose.
        let packed = packedRecurrent && pk.batch > 2
        let blockRows = pk.batch > 2 && !packed ? BLAS.recurrentBlockRows(n: H4, k: H) : nil
        if packed && !forwardCopyCurrent {
            forwardCopyCurrent = weightsFixed
            BLAS.packB(k: H, n: H4, whh.value, H, transposed: true, into: whhPackedForward.reserve(BLAS.packedCount(k: H, n: H4)))
        } else if blockRows != nil && !forwardCopyCurrent {
            forwardCopyCurrent = weightsFixed
            // In 16 × 16 tiles: a plain loop strides through one side a whole row at a time.
            let wt = whhTransposed.reserve(H * H4), w = whh.value
            for i0 in stride(from: 0, to: H4, by: 16) {
                for k0 in stride(from: 0, to: H, by: 16) {
                    for i in i0..<min(i0 + 16, H4) {
                        for k in k0..<min(k0 + 16, H) { wt[k * H4 + i] = w[i * H + k] }
                    }
                }
            }
        }
        let whhT = UnsafePointer(whhTransposed.ptr), whhP = UnsafePointer(whhPackedForward.ptr)
        pk.batchSizes.withUnsafeBufferPointer { bsz in
            pk.offsets.withUnsafeBufferPointer { off in
                let T = pk.steps
                for t in 0..<T {
                    let n = bsz[t], r0 = off[t]
                    if n == 0 { break }
                    if t > 0 {
                        if packed && n > 2 {
                            BLAS.gemmPacked(n, H4, H, O + off[t - 1] * H, H, whhP, G + r0 * H4, H4)
                        } else if let blockRows, n > 2 {
                            BLAS.gemmRowBlocks(n, H4, H, O + off[t - 1] * H, H, whhT, H4, G + r0 * H4, H4, blockRows: blockRows)
                        } else {
                            BLAS.gemm(false, true, n, H4, H, 1, O + off[t - 1] * H, H, whh.value, H, 1, G + r0 * H4, H4)
                        }
                    }
                    // Gate nonlinearities and the cell update (CHeedKernels: 256-bit where the CPU has it).
                    let prev = t > 0 ? UnsafePointer(C + off[t - 1] * H) : zero
                    heed_lstm_cell_forward(
                        Int32(n), Int32(H), G + r0 * H4, bs, prev, t > 0 ? Int32(H) : 0, C + r0 * H, TC + r0 * H, O + r0 * H)
                    if orthogonal { orthogonalise(rows: n, offset: r0, sum: sum, out: O) }
                }
            }
        }
    }

    /// Orthogonal forward of one step's `n` rows from `offset`: saves s_t, a and q, replaces each
    /// h_t in `O` by h̃_t and adds it to its sequence's running sum.
    private func orthogonalise(rows n: Int, offset r0: Int, sum: UnsafeMutablePointer<Float>, out O: UnsafeMutablePointer<Float>) {
        let H = hidden
        let S = savedSum.ptr, dots = savedDots.ptr
        for j in 0..<n {
            let r = r0 + j
            let h = O + r * H, s = sum + j * H, sr = S + r * H
            sr.update(from: s, count: H)
            var a: Float = 0, ss: Float = 0
            for k in 0..<H {
                a = h[k] * s[k] + a
                ss = s[k] * s[k] + ss
            }
            let q = ss + Self.orthogonalEpsilon
            dots[2 * r] = a
            dots[2 * r + 1] = q
            let c = a / q
            for k in 0..<H {
                let v = h[k] - c * s[k]
                h[k] = v
                s[k] = s[k] + v
            }
        }
    }

    /// Writes row (t, j)'s input projection scales[j]·(e_pos·W_ihᵀ) into `G` [P × 4H], e_pos read
    /// from sorted sequence j's document.
    private func projectCopies(_ copies: ScaledCopies, _ pk: Packing, reversed: Bool, into G: UnsafeMutablePointer<Float>) {
        let H4 = 4 * hidden, E = input
        precondition(
            copies.scales.count == pk.batch && (0..<pk.batch).allSatisfy { pk.lengths[$0] == copies.lengths[copies.document[$0]] },
            "ScaledCopies must match the batch")
        let rows = copies.lengths.reduce(0, +)
        let proj = projection.reserve(rows * H4)
        for (start, length) in zip(copies.starts, copies.lengths) {
            BLAS.gemm(false, true, length, H4, E, 1, copies.tokens + start * E, E, wih.value, E, 0, proj + start * H4, H4)
        }
        copies.scales.withUnsafeBufferPointer { scales in
            for t in 0..<pk.steps {
                for j in 0..<pk.batchSizes[t] {
                    let d = copies.document[j], L = copies.lengths[d]
                    let src = UnsafePointer(proj + (copies.starts[d] + (reversed ? L - 1 - t : t)) * H4)
                    let dst = G + pk.row(j, t) * H4, s = scales[j]
                    var k = 0
                    while k + 8 <= H4 {
                        store8(load8(src + k) * s, dst + k)
                        k += 8
                    }
                    while k < H4 {
                        dst[k] = src[k] * s
                        k += 1
                    }
                }
            }
        }
    }

    /// Orthogonal backward of one step's `n` rows from `offset` (before the gate loop reads them):
    /// turns each row of `dh` from dL/dh̃_t into dL/dh_t and the carried dL/ds_{t+1} in `carry`
    /// into dL/ds_t (formulas in the type's comment). h_t = o·tanh(c) is recomputed from the saved
    /// gates exactly as forward formed it.
    private func orthogonalBackward(rows n: Int, offset r0: Int, dh: UnsafeMutablePointer<Float>, carry: UnsafeMutablePointer<Float>) {
        let H = hidden, H4 = 4 * hidden
        let S = savedSum.ptr, dots = savedDots.ptr, G = gates.ptr, TC = cellTanh.ptr
        for j in 0..<n {
            let r = r0 + j
            let g = dh + r * H, s = UnsafePointer(S + r * H), dsj = carry + j * H
            let o = UnsafePointer(G + r * H4 + 3 * H), tc = UnsafePointer(TC + r * H)
            let a = dots[2 * r], q = dots[2 * r + 1]
            var gs: Float = 0
            for k in 0..<H {
                g[k] = g[k] + dsj[k]
                gs = g[k] * s[k] + gs
            }
            let c = a / q, e = gs / q, f = 2 * c * e
            for k in 0..<H {
                let gk = g[k], sk = s[k]
                dsj[k] = dsj[k] - c * gk - e * (o[k] * tc[k]) + f * sk
                g[k] = gk - e * sk
            }
        }
    }

    /// `dh` [P × H]: gradient w.r.t. `out`; used as scratch (the recurrent gradient is added
    /// into it). Accumulates parameter gradients unless `parameterGradients` is false (an
    /// attribution needs only dx); writes dx [P × E] (overwrites) if given.
    func backward(_ dh: UnsafeMutablePointer<Float>, _ pk: Packing, dx: UnsafeMutablePointer<Float>?, parameterGradients: Bool = true) {
        let x = self.x
        precondition(!parameterGradients || x != nil, "LSTM.backward with parameter gradients needs the forward's input rows")
        let P = pk.total, H = hidden, H4 = 4 * hidden, E = input
        let G = gates.ptr, C = cell.ptr, TC = cellTanh.ptr, O = out.ptr
        let zero = UnsafePointer(zeroState.ptr)
        // Gate gradients overwrite the saved gate activations in place: each element is read
        // once, just before it is overwritten, and nothing needs the activations afterwards.
        let dG = G
        let dc = dCarry.zeroed(pk.batch * H)
        let packed = packedRecurrent && pk.batch > 2
        let blockRows = packed ? nil : BLAS.recurrentBlockRows(n: H, k: H4)
        if packed && !backwardCopyCurrent {
            backwardCopyCurrent = weightsFixed
            BLAS.packB(k: H4, n: H, whh.value, H, transposed: false, into: whhPackedBackward.reserve(BLAS.packedCount(k: H4, n: H)))
        }
        let whhP = UnsafePointer(whhPackedBackward.ptr)
        let ds = orthogonal ? runningSum.zeroed(pk.batch * H) : dc
        pk.batchSizes.withUnsafeBufferPointer { bsz in
            pk.offsets.withUnsafeBufferPointer { off in
                let T = pk.steps
                for t in stride(from: T - 1, through: 0, by: -1) {
                    let n = bsz[t], r0 = off[t]
                    if n == 0 { continue }
                    if t + 1 < T && bsz[t + 1] > 0 {
                        // Recurrent gradient from step t+1 into h_t of the rows still active there.
                        if packed && bsz[t + 1] > 2 {
                            BLAS.gemmPacked(bsz[t + 1], H, H4, dG + off[t + 1] * H4, H4, whhP, dh + r0 * H, H)
                        } else if let blockRows, bsz[t + 1] > 2 {
                            BLAS.gemmRowBlocks(
                                bsz[t + 1], H, H4, dG + off[t + 1] * H4, H4, whh.value, H, dh + r0 * H, H, blockRows: blockRows)
                        } else {
                            BLAS.gemm(
                                false, false, bsz[t + 1], H, H4, 1, dG + off[t + 1] * H4, H4,
                                whh.value, H, 1, dh + r0 * H, H)
                        }
                    }
                    if orthogonal { orthogonalBackward(rows: n, offset: r0, dh: dh, carry: ds) }
                    // Gate gradients overwrite the activations in place (CHeedKernels).
                    let prev = t > 0 ? UnsafePointer(C + off[t - 1] * H) : zero
                    heed_lstm_cell_backward(Int32(n), Int32(H), dG + r0 * H4, TC + r0 * H, dh + r0 * H, dc, prev, t > 0 ? Int32(H) : 0)
                }
                // dW_hh = Σ_{t ≥ 1} dG_tᵀ · h_{t-1}: the dG rows of consecutive steps are contiguous;
                // their h_{t-1} rows are gathered chunk by chunk (h_{-1} = 0, so step 0 adds nothing).
                var t = 1
                while parameterGradients && t < T && bsz[t] > 0 {
                    let first = t
                    var rows = 0
                    while t < T && bsz[t] > 0 && (rows == 0 || rows + bsz[t] <= chunkRows) {
                        rows += bsz[t]
                        t += 1
                    }
                    let hs = shifted.reserve(rows * H)
                    var dst = hs
                    for u in first..<t {
                        dst.update(from: O + off[u - 1] * H, count: bsz[u] * H)
                        dst += bsz[u] * H
                    }
                    BLAS.gemm(true, false, H4, H, rows, 1, dG + off[first] * H4, H4, hs, H, 1, whh.grad, H)
                }
            }
        }
        if parameterGradients {
            BLAS.gemm(true, false, H4, E, P, 1, dG, H4, x!, E, 1, wih.grad, E)
            let db = biasSum.zeroed(H4)  // scratch: forward recomputes it
            for r in 0..<P {
                let d = dG + r * H4
                for k in 0..<H4 { db[k] += d[k] }
            }
            for k in 0..<H4 {
                bih.grad[k] += db[k]
                bhh.grad[k] += db[k]
            }
        }
        if let dx {
            BLAS.gemm(false, false, P, E, H4, 1, dG, H4, wih.value, E, 0, dx, E)
        }
    }
}

/// `nn.LSTM(E, H, batch_first: true, bidirectional:)` over a packed batch. The reverse
/// direction reads each sequence's real tokens backwards from its last real token, as a packed
/// bidirectional PyTorch LSTM does. Output per row: forward ⊕ backward (D = 2H) or forward (D = H).
final class LSTM {
    let input: Int
    let hidden: Int
    let bidirectional: Bool
    let forwardDir: LSTMDirection
    let reverseDir: LSTMDirection?
    /// Output [P × D] in forward packed order (the forward direction's own buffer when unidirectional).
    var out: Buffer { reverseDir == nil ? forwardDir.out : concatenated }
    /// Input gradient [P × E].
    let dx = Buffer()
    /// Input gradient summed over the sequences at each position [T × E] (`backwardSummed`).
    let dxSum = Buffer()
    private let concatenated = Buffer(), xRev = Buffer(), dxRev = Buffer(), dhR = Buffer(), gateSum = Buffer()

    var outputDim: Int { bidirectional ? 2 * hidden : hidden }

    /// `prefix` names the parameters (`lstm` in `Classifier`; a hierarchical model has two LSTMs).
    /// `orthogonal`: both directions are orthogonal LSTMs (see `LSTMDirection`), each against its
    /// own running sum.
    init(input: Int, hidden: Int, bidirectional: Bool, prefix: String = "lstm", orthogonal: Bool = false, rng: inout Rng) {
        self.input = input
        self.hidden = hidden
        self.bidirectional = bidirectional
        forwardDir = LSTMDirection(input: input, hidden: hidden, suffix: "", prefix: prefix, orthogonal: orthogonal, rng: &rng)
        reverseDir =
            bidirectional
            ? LSTMDirection(input: input, hidden: hidden, suffix: "_reverse", prefix: prefix, orthogonal: orthogonal, rng: &rng) : nil
    }

    var parameters: [Param] { forwardDir.parameters + (reverseDir?.parameters ?? []) }

    /// Runs `body` with `weightsFixed` set on both directions: nothing in it may change the weights.
    func withFixedWeights<T>(_ body: () throws -> T) rethrows -> T {
        let directions = [forwardDir] + (reverseDir.map { [$0] } ?? [])
        for direction in directions { direction.weightsFixed = true }
        defer { for direction in directions { direction.weightsFixed = false } }
        return try body()
    }

    /// `x` [P × E] packed, must stay valid until `backward`. `copies`: see `ScaledCopies` (`x`
    /// must hold those rows, or be nil when no parameter gradient will be asked for).
    func forward(_ x: UnsafePointer<Float>?, _ pk: Packing, copies: ScaledCopies? = nil) {
        let P = pk.total, H = hidden, E = input, D = outputDim
        forwardDir.forward(x, pk, copies: copies)
        guard let rev = reverseDir else { return }
        let o = concatenated.reserve(P * D)
        var xr: UnsafeMutablePointer<Float>? = nil
        if let x {
            let rows = xRev.reserve(P * E)
            pk.reversed.withUnsafeBufferPointer { perm in
                for r in 0..<P { (rows + perm[r] * E).update(from: x + r * E, count: E) }
            }
            xr = rows
        }
        rev.forward(xr, pk, copies: copies, reversed: true)
        let hf = forwardDir.out.ptr, hr = rev.out.ptr
        pk.reversed.withUnsafeBufferPointer { perm in
            for r in 0..<P {
                (o + r * D).update(from: hf + r * H, count: H)
                (o + r * D + H).update(from: hr + perm[r] * H, count: H)
            }
        }
    }

    /// `dOut` [P × D] is consumed (used as scratch); accumulates parameter gradients (unless
    /// `parameterGradients` is false) and writes `dx` [P × E].
    func backward(_ dOut: UnsafeMutablePointer<Float>, _ pk: Packing, parameterGradients: Bool = true) {
        let P = pk.total, E = input
        let dxp = dx.reserve(P * E)
        guard let rev = reverseDir else {
            forwardDir.backward(dOut, pk, dx: dxp, parameterGradients: parameterGradients)
            return
        }
        let (df, dr) = split(dOut, pk)
        forwardDir.backward(df, pk, dx: dxp, parameterGradients: parameterGradients)
        let dxr = dxRev.reserve(P * E)
        rev.backward(dr, pk, dx: dxr, parameterGradients: parameterGradients)
        pk.reversed.withUnsafeBufferPointer { perm in
            for r in 0..<P {
                let dst = dxp + r * E, src = dxr + perm[r] * E
                for k in 0..<E { dst[k] += src[k] }
            }
        }
    }

    /// Like `backward(_:_:parameterGradients: false)`, but writes only the input gradient summed
    /// over the sequences at each position, [T × E] in `dxSum`. The input gradient is linear in
    /// the gate gradients, so they are summed first and one [T × 4H]·[4H × E] product per
    /// direction replaces the [P × 4H]·[4H × E] one: integrated gradients needs only this sum.
    func backwardSummed(_ dOut: UnsafeMutablePointer<Float>, _ pk: Packing) {
        backwardSummed(dOut, pk, first: [0], copies: pk.batch, starts: [0], lengths: [pk.steps])
    }

    /// `backwardSummed` for a batch of `ScaledCopies`: document d's copies are sorted sequences
    /// `first[d]..<first[d] + copies` (all of length `lengths[d]`), and its input gradient summed
    /// over them goes to rows `starts[d]..<starts[d] + lengths[d]` of `dxSum` [Σ lengths × E]. Each
    /// document's sums and products are the ones a batch of its copies alone forms. (The one-group
    /// case, every sequence over every step, is `backwardSummed(_:_:)`; a sequence adds nothing at
    /// the steps past its end.)
    func backwardSummed(_ dOut: UnsafeMutablePointer<Float>, _ pk: Packing, first: [Int], copies: Int, starts: [Int], lengths: [Int]) {
        let E = input, H4 = 4 * hidden
        let rows = lengths.reduce(0, +), T = lengths.max() ?? 0
        let out = dxSum.reserve(rows * E)
        let sum = gateSum.reserve(T * H4)
        let directions: [(LSTMDirection, reversed: Bool)]
        if let rev = reverseDir {
            let (df, dr) = split(dOut, pk)
            forwardDir.backward(df, pk, dx: nil, parameterGradients: false)
            rev.backward(dr, pk, dx: nil, parameterGradients: false)
            directions = [(forwardDir, false), (rev, true)]
        } else {
            forwardDir.backward(dOut, pk, dx: nil, parameterGradients: false)
            directions = [(forwardDir, false)]
        }
        for d in first.indices {
            let L = lengths[d], dst = out + starts[d] * E
            for (k, (direction, reversed)) in directions.enumerated() {
                sumRows(direction.gates.ptr, pk, reversed: reversed, sequences: first[d]..<(first[d] + copies), steps: L, into: sum)
                BLAS.gemm(false, false, L, E, H4, 1, sum, H4, direction.wih.value, E, k == 0 ? 0 : 1, dst, E)
            }
        }
    }

    /// Σ over the sorted sequences `sequences` of the gate-gradient rows [P × 4H] at each position
    /// t < `steps`, [steps × 4H], each sequence counted while it is active; with `reversed`, rows
    /// are in the reverse direction's order (position t of a sequence is read from its reversed
    /// row).
    private func sumRows(
        _ g: UnsafePointer<Float>, _ pk: Packing, reversed: Bool, sequences: Range<Int>, steps: Int, into sum: UnsafeMutablePointer<Float>
    ) {
        let H4 = 4 * hidden
        pk.reversed.withUnsafeBufferPointer { perm in
            for t in 0..<steps {
                let dst = sum + t * H4
                dst.update(repeating: 0, count: H4)
                // Sorted by length, so the sequences active at step t are a prefix of the batch.
                for j in sequences.lowerBound..<max(sequences.lowerBound, min(sequences.upperBound, pk.batchSizes[t])) {
                    let r = pk.offsets[t] + j
                    let src = g + (reversed ? perm[r] : r) * H4
                    for k in 0..<H4 { dst[k] += src[k] }
                }
            }
        }
    }

    /// Splits `dOut` [P × D] into the directions' output gradients: the reverse halves go to their
    /// own buffer (in reversed row order); the forward halves are compacted in place to [P × H]
    /// (row r's destination ends before row r+1's source).
    private func split(_ dOut: UnsafeMutablePointer<Float>, _ pk: Packing) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let P = pk.total, H = hidden, D = outputDim
        let dr = dhR.reserve(P * H)
        pk.reversed.withUnsafeBufferPointer { perm in
            for r in 0..<P {
                (dr + perm[r] * H).update(from: dOut + r * D + H, count: H)
                if r > 0 { (dOut + r * H).update(from: dOut + r * D, count: H) }
            }
        }
        return (dOut, dr)
    }
}
