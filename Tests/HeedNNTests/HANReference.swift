import Foundation

@testable import HeedNN

/// `HierarchicalClassifier.forward` (and its loss) rebuilt on a `Tape` (Reference.swift), one
/// sentence and one document at a time: no packing, no batching, no BLAS. The tape gives exact
/// values and first-order rounding bounds of any Float32 evaluation, so parity tests need no
/// hand-picked tolerance.
struct HANReference {
    let tape = Tape()
    let config: HierarchicalConfig
    /// Leaf nodes per parameter, by state_dict name.
    var params: [String: [Int]] = [:]
    /// Per document: logits [C]; per sentence: word attention [length]; per document: sentence
    /// attention [sentences]; per token: its input vector [E] as the word LSTM reads it.
    var logits: [[Int]] = [], wordAttention: [[Int]] = [], sentenceAttention: [[Int]] = [], inputs: [[Int]] = []
    var loss: Int?
    private let longestSentence: Int, mostSentences: Int

    init(_ model: HierarchicalClassifier, batch: HierarchicalBatch, labels: [Int]? = nil, classWeights: [Float]? = nil, inputScales: [Float]? = nil) {
        config = model.config
        longestSentence = batch.sentenceLengths.max()!
        mostSentences = batch.sentenceCounts.max()!
        for p in model.parameters { params[p.name] = p.values.map { tape.leaf(Double($0)) } }
        let E = config.embedDim
        var token = 0, sentence = 0
        for (b, count) in batch.sentenceCounts.enumerated() {
            let scale = inputScales.map { tape.leaf(Double($0[b])) }
            var vectors: [[Int]] = []
            for _ in 0..<count {
                var xs: [[Int]] = []
                for _ in 0..<batch.sentenceLengths[sentence] {
                    let row = self.row("embedding.weight", Int(batch.ids[token]), E)
                    // One node per token (tokens with the same id share the embedding leaves).
                    let x = row.map { e in scale.map { s in tape.mul(s, e) } ?? tape.sum([], [(e, 1)]) }
                    inputs.append(x)
                    xs.append(x)
                    token += 1
                }
                let h = encode("word_lstm", xs)
                let (v, a) = attend("word_attention", h, width: config.resolvedWordAttentionDim)
                wordAttention.append(a)
                vectors.append(v)
                sentence += 1
            }
            let h = encode("sentence_lstm", vectors)
            let (d, a) = attend("sentence_attention", h, width: config.resolvedSentenceAttentionDim)
            sentenceAttention.append(a)
            let Ds = config.sentenceOutputDim
            logits.append(
                (0..<config.classes).map { c in
                    tape.sum(Array(zip(self.row("classifier.weight", c, Ds), d)), [(params["classifier.bias"]![c], 1)])
                })
        }
        if let labels { loss = lossNode(labels: labels, classWeights: classWeights) }
    }

    private func row(_ name: String, _ r: Int, _ width: Int) -> ArraySlice<Int> { params[name]![(r * width)..<((r + 1) * width)] }

    /// One LSTM direction over `xs` (PyTorch gate order i, f, g, o).
    private func direction(_ prefix: String, _ suffix: String, _ xs: [[Int]]) -> [[Int]] {
        let H = prefix == "word_lstm" ? config.wordHiddenDim : config.sentenceHiddenDim
        var h: [Int] = [], c: [Int] = [], out: [[Int]] = []
        for x in xs {
            let pre = (0..<(4 * H)).map { r -> Int in
                var products = Array(zip(row(prefix + ".weight_ih_l0" + suffix, r, x.count), x))
                if !h.isEmpty { products += zip(row(prefix + ".weight_hh_l0" + suffix, r, H), h) }
                return tape.sum(products, [(params[prefix + ".bias_ih_l0" + suffix]![r], 1), (params[prefix + ".bias_hh_l0" + suffix]![r], 1)])
            }
            let i = pre[0..<H].map(tape.sigmoid), f = pre[H..<(2 * H)].map(tape.sigmoid)
            let g = pre[(2 * H)..<(3 * H)].map { tape.tanh($0) }, o = pre[(3 * H)..<(4 * H)].map(tape.sigmoid)
            c = (0..<H).map { k in tape.sum(h.isEmpty ? [(i[k], g[k])] : [(f[k], c[k]), (i[k], g[k])]) }
            h = (0..<H).map { k in tape.mul(o[k], tape.tanh(c[k])) }
            out.append(h)
        }
        return out
    }

    /// The (Bi)LSTM's outputs over `xs`: forward ⊕ reverse per position.
    private func encode(_ prefix: String, _ xs: [[Int]]) -> [[Int]] {
        let hf = direction(prefix, "", xs)
        guard config.bidirectional else { return hf }
        let hr = direction(prefix, "_reverse", xs.reversed()), L = xs.count
        return (0..<L).map { hf[$0] + hr[L - 1 - $0] }
    }

    /// Attention pooling: (context vector, weights).
    private func attend(_ prefix: String, _ outputs: [[Int]], width A: Int) -> ([Int], [Int]) {
        let D = outputs[0].count
        let scores: [Int]
        if config.scorer == .linear {
            let w = params[prefix + ".score.weight"]!, bias = params[prefix + ".score.bias"]![0]
            scores = outputs.map { tape.sum(Array(zip(w, $0)), [(bias, 1)]) }
        } else {
            let v = params[prefix + ".context.weight"]!
            scores = outputs.map { o in
                let u = (0..<A).map { a in
                    tape.tanh(tape.sum(Array(zip(row(prefix + ".proj.weight", a, D), o)), [(params[prefix + ".proj.bias"]![a], 1)]))
                }
                return tape.sum(Array(zip(v, u)))
            }
        }
        let a = softmax(scores)
        return ((0..<D).map { k in tape.sum((0..<outputs.count).map { (a[$0], outputs[$0][k]) }) }, a)
    }

    private func softmax(_ s: [Int]) -> [Int] {
        let m = tape.leaf(s.map { tape.value[$0] }.max()!)
        let e = s.map { tape.exp(tape.sum([], [($0, 1), (m, -1)])) }
        let total = tape.sum([], e.map { ($0, 1) })
        return e.map { tape.div($0, total) }
    }

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

    /// Exact gradient of the loss and its magnitude (Σ|terms|), per parameter name, and per token
    /// input vector under the key "input" ([tokens × E]).
    func gradients() -> (exact: [String: [Double]], magnitude: [String: [Double]]) {
        guard let loss else { preconditionFailure("HANReference built without labels") }
        let g = tape.gradient(of: loss, magnitude: false), m = tape.gradient(of: loss, magnitude: true)
        var exact = params.mapValues { $0.map { g[$0] } }, magnitude = params.mapValues { $0.map { m[$0] } }
        for k in 0..<config.embedDim {  // the padding row never receives gradient
            exact["embedding.weight"]![k] = 0
            magnitude["embedding.weight"]![k] = 0
        }
        exact["input"] = inputs.flatMap { $0.map { g[$0] } }
        magnitude["input"] = inputs.flatMap { $0.map { m[$0] } }
        return (exact, magnitude)
    }

    /// Longest chain of operations from an input to the loss times the widest sum along it (see
    /// `Reference.gradientDepth`): both LSTMs' steps, both poolings, the classifier and the loss.
    var gradientDepth: Int {
        let E = config.embedDim, Hw = config.wordHiddenDim, Hs = config.sentenceHiddenDim
        let Dw = config.wordOutputDim, Ds = config.sentenceOutputDim
        let fanIn = max(
            E + Hw + 2, Dw + Hs + 2, Dw + 1, Ds + 1, config.resolvedWordAttentionDim, config.resolvedSentenceAttentionDim,
            longestSentence, mostSentences, config.classes + 1)
        return (6 * (longestSentence + mostSentences) + 24) * fanIn
    }
}
