import Foundation

@testable import HeedNN

// An independent Double-precision model of `Classifier` that also bounds how far any Float32
// evaluation of it can land from the exact result, so tests get tolerances from the computation
// itself rather than from a relative error against values that may be ~0.
//
// Forward: running error analysis (Higham, "Accuracy and Stability of Numerical Algorithms",
// §3.1 and §3.3). A sum of n products evaluated in Float32 in any order, with or without FMA (any
// BLAS kernel), is within γ_n·Σ|terms| of the exact sum; an input error propagates through the
// local derivative. Each node's `err` bounds |Float32 result − exact| to first order, so two
// Float32 evaluations (two kernels, GEMV vs GEMM, Heed vs PyTorch) differ by at most 2·err.
//
// Backward: the exact gradient, and its "magnitude" Σ over all paths of |product of local
// derivatives| (the same backward pass with every factor replaced by its absolute value): the sum
// of the absolute values of all terms that make up each gradient entry.

/// Unit roundoff of Float32.
let floatU = Double(Float.ulpOfOne) / 2

/// γ_n = n·u / (1 − n·u): relative bound for a Float32 sum of n products (Higham, Lemma 3.1).
func gamma(_ n: Int) -> Double { Double(n) * floatU / (1 - Double(n) * floatU) }

/// Relative error bounds of HeedNN's fast elementwise functions, as MathTests asserts them.
let fastExpRelError = 4e-7, fastTanhRelError = 1e-6, fastSigmoidRelError = 1e-6

final class Tape {
    private(set) var value: [Double] = []
    private(set) var err: [Double] = []
    private var parents: [[(Int, Double)]] = []

    private func add(_ v: Double, _ e: Double, _ p: [(Int, Double)]) -> Int {
        value.append(v)
        err.append(e)
        parents.append(p)
        return value.count - 1
    }

    /// An exactly known input (a Float32 weight, a constant).
    func leaf(_ v: Double) -> Int { add(v, 0, []) }

    /// Σ a·b + Σ c·x, evaluated in Float32 in unknown order: rounding ≤ γ_n·Σ|terms|.
    func sum(_ products: [(Int, Int)], _ linear: [(Int, Double)] = []) -> Int {
        var v = 0.0, mag = 0.0, e = 0.0
        var p: [(Int, Double)] = []
        p.reserveCapacity(2 * products.count + linear.count)
        for (a, b) in products {
            let x = value[a], y = value[b]
            v += x * y
            mag += abs(x * y)
            e += abs(x) * err[b] + abs(y) * err[a]
            p.append((a, y))
            p.append((b, x))
        }
        for (a, c) in linear {
            v += c * value[a]
            mag += abs(c * value[a])
            e += abs(c) * err[a]
            p.append((a, c))
        }
        return add(v, e + gamma(products.count + linear.count) * mag, p)
    }

    func mul(_ a: Int, _ b: Int) -> Int { sum([(a, b)]) }

    /// f(a) with derivative df, evaluated with relative error ≤ rel.
    func unary(_ a: Int, _ f: Double, _ df: Double, rel: Double) -> Int {
        add(f, abs(df) * err[a] + rel * abs(f), [(a, df)])
    }

    func sigmoid(_ a: Int) -> Int {
        let s = 1 / (1 + Foundation.exp(-value[a]))
        return unary(a, s, s * (1 - s), rel: fastSigmoidRelError)
    }

    func tanh(_ a: Int, rel: Double = fastTanhRelError) -> Int {
        let t = Foundation.tanh(value[a])
        return unary(a, t, 1 - t * t, rel: rel)
    }

    func exp(_ a: Int, rel: Double = fastExpRelError) -> Int {
        let e = Foundation.exp(value[a])
        return unary(a, e, e, rel: rel)
    }

    func log(_ a: Int) -> Int { unary(a, Foundation.log(value[a]), 1 / value[a], rel: floatU) }

    /// |a|, exact.
    func absolute(_ a: Int) -> Int {
        let v = value[a]
        return unary(a, Swift.abs(v), v > 0 ? 1 : v < 0 ? -1 : 0, rel: 0)
    }

    /// √a, correctly rounded (IEEE): relative error ≤ u.
    func sqrt(_ a: Int) -> Int {
        let r = value[a].squareRoot()
        return unary(a, r, 1 / (2 * r), rel: floatU)
    }

    func div(_ a: Int, _ b: Int) -> Int {
        let x = value[a], y = value[b], q = x / y
        return add(q, err[a] / abs(y) + abs(q) * err[b] / abs(y) + floatU * abs(q), [(a, 1 / y), (b, -q / y)])
    }

    /// d out / d node for every node (reverse mode); with `magnitude`, Σ over paths of
    /// |product of local derivatives| instead.
    func gradient(of out: Int, magnitude: Bool) -> [Double] {
        var adj = [Double](repeating: 0, count: value.count)
        adj[out] = 1
        for n in stride(from: out, through: 0, by: -1) where adj[n] != 0 {
            for (p, d) in parents[n] { adj[p] += magnitude ? abs(d) * adj[n] : d * adj[n] }
        }
        return adj
    }
}

/// `Classifier.forward` (and `loss`) rebuilt on a `Tape`, one document at a time: no packing, no
/// batching, no BLAS.
struct Reference {
    let tape = Tape()
    let config: ClassifierConfig
    /// Leaf nodes per parameter, by state_dict name.
    var params: [String: [Int]] = [:]
    /// Per document (caller's order): logits [C], probabilities [C], attention [length] node ids.
    var logits: [[Int]] = [], probabilities: [[Int]] = [], attention: [[Int]] = []
    var loss: Int?
    /// Per document: its conicity node (diversity encoder only).
    var conicity: [Int] = []

    /// `inputScales` multiply each document's embedded tokens (`Classifier.forward`'s
    /// `inputScales`). `sharedProjection` evaluates the LSTM's input term as the Classifier does for
    /// scaled copies of one document, s·(Σ_k W_ih,gk·e_k), instead of Σ_k W_ih,gk·(s·e_k): the
    /// exact values are the same, the rounding bounds are those of the chosen order.
    init(
        _ model: Classifier, ids: [Int32], lengths: [Int], steps T: Int, labels: [Int]? = nil, classWeights: [Float]? = nil,
        inputScales: [Float]? = nil, sharedProjection: Bool = false, pieces: PieceLists? = nil
    ) {
        config = model.config
        for p in model.parameters { params[p.name] = p.values.map { tape.leaf(Double($0)) } }
        for (b, len) in lengths.enumerated() {
            let doc = (0..<len).map { Int(ids[b * T + $0]) }
            let lists = pieces.map { p in (0..<len).map { t in p.buckets[p.range(b * T + t)].map(Int.init) } }
            document(doc, pieces: lists, scale: inputScales.map { tape.leaf(Double($0[b])) }, shared: sharedProjection)
        }
        if let labels {
            loss = lossNode(labels: labels, classWeights: classWeights)
            if config.resolvedEncoder == .diversity, let lambda = config.diversityWeight, let ce = loss {
                // λ·Σ_j C_j in Float, then (as `diversityPenalty`) divided by the batch in Double.
                let total = tape.sum([], conicity.map { ($0, 1) })
                loss = tape.sum([], [(ce, 1), (total, Double(lambda) / Double(lengths.count))])
            }
        }
    }

    private func row(_ name: String, _ r: Int, _ width: Int) -> ArraySlice<Int> { params[name]![(r * width)..<((r + 1) * width)] }

    /// `sharedScale`: `xs` are unscaled and the input term is sharedScale·(W_ih·x).
    private func direction(_ suffix: String, _ xs: [[Int]], sharedScale: Int? = nil) -> [[Int]] {
        let E = config.embedDim, H = config.hiddenDim
        var h: [Int] = [], c: [Int] = [], out: [[Int]] = [], sum: [Int] = []
        let epsilon = tape.leaf(Double(LSTMDirection.orthogonalEpsilon))
        for x in xs {
            let pre = (0..<(4 * H)).map { r -> Int in
                var products = Array(zip(row("lstm.weight_ih_l0" + suffix, r, E), x))
                if let s = sharedScale { products = [(s, tape.sum(products))] }
                if !h.isEmpty { products += zip(row("lstm.weight_hh_l0" + suffix, r, H), h) }
                return tape.sum(products, [(params["lstm.bias_ih_l0" + suffix]![r], 1), (params["lstm.bias_hh_l0" + suffix]![r], 1)])
            }
            let i = pre[0..<H].map(tape.sigmoid), f = pre[H..<(2 * H)].map(tape.sigmoid)
            let g = pre[(2 * H)..<(3 * H)].map { tape.tanh($0) }, o = pre[(3 * H)..<(4 * H)].map(tape.sigmoid)
            c = (0..<H).map { k in tape.sum(h.isEmpty ? [(i[k], g[k])] : [(f[k], c[k]), (i[k], g[k])]) }
            h = (0..<H).map { k in tape.mul(o[k], tape.tanh(c[k])) }
            if config.resolvedEncoder == .orthogonal {
                if sum.isEmpty {
                    sum = h  // s_0 = 0: h̃_0 = h_0 exactly
                } else {
                    // h̃ = h − (a/q)·s, a = ⟨h, s⟩, q = ⟨s, s⟩ + ε; then s += h̃.
                    let a = tape.sum(Array(zip(h, sum))), q = tape.sum(Array(zip(sum, sum)), [(epsilon, 1)])
                    let ratio = tape.div(a, q)
                    h = (0..<H).map { k in tape.sum([], [(h[k], 1), (tape.mul(ratio, sum[k]), -1)]) }
                    sum = (0..<H).map { k in tape.sum([], [(sum[k], 1), (h[k], 1)]) }
                }
            }
            out.append(h)
        }
        return out
    }

    /// `ConicityPenalty`'s conicity of one document's states: m = (Σ h_t)/L, absolute cosines
    /// |⟨h_t, m⟩|/(ν_t μ) with ν, μ = √(⟨v, v⟩ + ε), their sum divided by L.
    private func conicityNode(_ states: [[Int]]) -> Int {
        let D = config.outputDim, L = states.count
        let n = tape.leaf(Double(L)), eps = tape.leaf(Double(ConicityPenalty.epsilon))
        let m = (0..<D).map { k in tape.div(tape.sum([], states.map { ($0[k], 1) }), n) }
        let mu = tape.sqrt(tape.sum(Array(zip(m, m)), [(eps, 1)]))
        let cosines = states.map { h in
            let nu = tape.sqrt(tape.sum(Array(zip(h, h)), [(eps, 1)]))
            return tape.absolute(tape.div(tape.sum(Array(zip(h, m))), tape.mul(nu, mu)))
        }
        return tape.div(tape.sum([], cosines.map { ($0, 1) }), n)
    }

    private mutating func document(_ doc: [Int], pieces: [[Int]]?, scale: Int?, shared: Bool) {
        let E = config.embedDim, D = config.outputDim, C = config.classes, L = doc.count
        var xs = doc.map { Array(row("embedding.weight", $0, E)) }
        if let pieces {
            // Word row plus the mean of the bucket rows (EmbeddingBag "mean").
            for t in 0..<L where !pieces[t].isEmpty {
                let share = 1 / Double(pieces[t].count)
                xs[t] = (0..<E).map { k in
                    let mean = tape.sum([], pieces[t].map { (row("subwords.weight", $0, E)[row("subwords.weight", $0, E).startIndex + k], share) })
                    return tape.sum([], [(xs[t][xs[t].startIndex + k], 1), (mean, 1)])
                }
            }
        }
        if let scale, !shared { xs = xs.map { $0.map { tape.mul(scale, $0) } } }
        let sharedScale = shared ? scale : nil
        let hf = direction("", xs, sharedScale: sharedScale)
        var outputs = hf
        if config.bidirectional {
            let hr = direction("_reverse", xs.reversed(), sharedScale: sharedScale)
            outputs = (0..<L).map { hf[$0] + hr[L - 1 - $0] }
        }
        if config.resolvedEncoder == .diversity { conicity.append(conicityNode(outputs)) }
        let pooled: [Int]
        if config.pooling == .last {
            // Bidirectional: the reverse direction's last state sits at position 0.
            pooled = config.bidirectional ? hf[L - 1] + outputs[0][config.hiddenDim...] : outputs[L - 1]
            attention.append([])
        } else {
            let scores: [Int]
            if config.scorer == .linear {
                let w = params["attention.score.weight"]!, bias = params["attention.score.bias"]![0]
                scores = outputs.map { tape.sum(Array(zip(w, $0)), [(bias, 1)]) }
            } else {
                let A = config.resolvedAttentionDim, v = params["attention.context.weight"]!
                scores = outputs.map { o in
                    let u = (0..<A).map { a in
                        tape.tanh(tape.sum(Array(zip(row("attention.proj.weight", a, D), o)), [(params["attention.proj.bias"]![a], 1)]))
                    }
                    return tape.sum(Array(zip(v, u)))
                }
            }
            let a = softmax(scores)
            attention.append(a)
            pooled = (0..<D).map { k in tape.sum((0..<L).map { (a[$0], outputs[$0][k]) }) }
        }
        let z = (0..<C).map { c in
            tape.sum(Array(zip(row("classifier.weight", c, D), pooled)), [(params["classifier.bias"]![c], 1)])
        }
        logits.append(z)
        probabilities.append(softmax(z))
    }

    /// exp(s − max) / Σ: the max is a constant (softmax is shift-invariant), the subtraction rounds.
    private func softmax(_ s: [Int]) -> [Int] {
        let m = tape.leaf(s.map { tape.value[$0] }.max()!)
        let e = s.map { tape.exp(tape.sum([], [($0, 1), (m, -1)])) }
        let total = tape.sum([], e.map { ($0, 1) })
        return e.map { tape.div($0, total) }
    }

    /// Weighted mean cross-entropy (`SoftmaxCrossEntropy` semantics).
    private func lossNode(labels: [Int], classWeights: [Float]?) -> Int {
        let w = labels.map { Double(classWeights?[$0] ?? 1) }, W = w.reduce(0, +)
        let nll = zip(logits, labels).map { z, y -> Int in
            let m = tape.leaf(z.map { tape.value[$0] }.max()!)
            let e = z.map { tape.exp(tape.sum([], [($0, 1), (m, -1)]), rel: floatU) }
            let s = tape.log(tape.sum([], e.map { ($0, 1) }))
            return tape.sum([], [(m, 1), (s, 1), (z[y], -1)])
        }
        return tape.sum([], zip(nll, w).map { ($0, $1 / W) })
    }

    func values(_ nodes: [Int]) -> [Double] { nodes.map { tape.value[$0] } }
    func errors(_ nodes: [Int]) -> [Double] { nodes.map { tape.err[$0] } }

    /// Exact gradient of the loss and its magnitude (Σ|terms|), per parameter name.
    func gradients() -> (exact: [String: [Double]], magnitude: [String: [Double]]) {
        guard let loss else { preconditionFailure("Reference built without labels") }
        let g = tape.gradient(of: loss, magnitude: false), m = tape.gradient(of: loss, magnitude: true)
        var exact = params.mapValues { $0.map { g[$0] } }, magnitude = params.mapValues { $0.map { m[$0] } }
        for k in 0..<config.embedDim {  // the padding row never receives gradient
            exact["embedding.weight"]![k] = 0
            magnitude["embedding.weight"]![k] = 0
        }
        return (exact, magnitude)
    }

    /// Longest chain of operations from an input to the loss, times the widest sum along it: a
    /// Float32 backward pass rounds each gradient term at most this many times, so its error is
    /// within γ(gradientDepth)·magnitude (first order; the forward values it reuses included).
    func gradientDepth(steps T: Int) -> Int {
        let E = config.embedDim, H = config.hiddenDim, D = config.outputDim, A = config.resolvedAttentionDim
        let fanIn = max(E + H + 2, D + 1, A, T, config.classes + 1)
        // Per LSTM step ≤ 6 ops on the h/c path (orthogonal: 6 more, and the running sum's chain);
        // pooling, classifier, loss; the conicity penalty ≤ 8 more.
        let chain = (config.resolvedEncoder == .orthogonal ? 14 : 6) * T + (config.resolvedEncoder == .diversity ? 20 : 12)
        return chain * fanIn
    }
}
