import Foundation

/// Virtual adversarial training (Miyato, Dai & Goodfellow 2017, "Adversarial training methods for
/// semi-supervised text classification"): the model is pushed to predict the same distribution
/// for a document and for the document moved, within a small ball, in the direction that changes
/// its prediction most. No label is needed, so unlabelled text can regularise the classifier.
///
/// For a batch of documents x with embedded tokens e:
/// - p̂ = p(·|e; θ̂), the current prediction, is a constant (no gradient flows into it);
/// - d is a random direction per document, unit length over the document's tokens, scaled to ξ;
/// - g = ∇_d KL(p̂ ‖ p(·|e + d)) (one power-iteration step: the dominant eigenvector of the
///   KL's Hessian, which is what a direction that moves the prediction most is near r = 0);
/// - r_vadv = ε · g / ‖g‖ per document;
/// - the loss λ · Σ_docs KL(p̂ ‖ p(·|e + r_vadv; θ)) / divisor is backpropagated to θ.
///
/// Heed's embeddings are not normalised as the paper's were (zero mean, unit variance per
/// dimension, so a document's norm was about √(tokens · E)), so ε and ξ are relative: they are
/// multiplied by the document's root-mean-square input-vector norm √(Σ_t ‖e_t‖² / L), which
/// follows the embeddings as they grow during training. The paper's ε = 5 on 256-wide
/// normalised rows (row norm ≈ 16) is a relative ε of about 0.3.
///
/// Every pass runs without dropout or word dropout (the paper's code kept dropout in its
/// classifier): the KL then measures the perturbation's effect alone, p̂ is the model's actual
/// prediction, and the model's generator is not drawn from, so a run's labelled steps keep
/// their dropout masks whether or not the VAT term is on.
public struct VirtualAdversarial: Sendable {
    /// Perturbation radius relative to each document's RMS input-vector norm.
    public var epsilon: Float
    /// Radius of the random probe of the power iteration, relative like `epsilon`: large enough
    /// that q − p̂ is well above Float rounding, small enough to stay in the KL's quadratic region
    /// (the paper's ξ / ε was 0.1 / 5 = 0.02).
    public var xi: Float

    /// VAT with radius `epsilon` and probe `xi`, both relative to the document's RMS row norm.
    public init(epsilon: Float, xi: Float = 1e-2) {
        self.epsilon = epsilon
        self.xi = xi
    }

    /// Σ_b KL(target_b ‖ softmax(logits_b)) and its gradient with respect to the logits, both
    /// times `scale`. `target` rows are probability distributions [batch × classes]. The gradient
    /// is q_c · Σ_k p̂_k − p̂_c, exact for the value even when a Float row of p̂ does not sum to 1.
    public static func divergence(target: [Float], logits: [Float], classes C: Int, scale: Float = 1) -> (value: Double, dLogits: [Float]) {
        precondition(target.count == logits.count && logits.count % C == 0, "target and logits must both be batch × classes")
        let B = logits.count / C
        var value = 0.0
        var d = [Float](repeating: 0, count: B * C)
        for b in 0..<B {
            var m = -Double.infinity
            for c in 0..<C { m = max(m, Double(logits[b * C + c])) }
            var s = 0.0
            for c in 0..<C { s += exp(Double(logits[b * C + c]) - m) }
            let lse = m + log(s)
            var mass: Float = 0
            for c in 0..<C { mass += target[b * C + c] }
            for c in 0..<C {
                let p = Double(target[b * C + c]), logq = Double(logits[b * C + c]) - lse
                if p > 0 { value += p * (log(p) - logq) }
                d[b * C + c] = (Float(exp(logq)) * mass - target[b * C + c]) * scale
            }
        }
        return (value * Double(scale), d)
    }

    /// Each document's RMS input-vector norm √(Σ_t ‖e_t‖² / L) at the current weights.
    static func rowScales(_ model: Classifier, ids: [Int32], lengths: [Int], steps T: Int, pieces: PieceLists?) -> [Float] {
        lengths.enumerated().map { b, L in
            let range = (b * T)..<(b * T + L)
            let v = model.inputVectors(ids: Array(ids[range]), pieces: pieces?.selecting(range))
            var s = 0.0
            for x in v { s += Double(x) * Double(x) }
            return Float((s / Double(max(L, 1))).squareRoot())
        }
    }

    /// Scales each document's block of `v` [batch × steps × E] to norm `radius[b]` (a zero block
    /// stays zero: the KL's gradient vanished, so no direction is adversarial).
    static func scaled(_ v: [Float], lengths: [Int], steps T: Int, width E: Int, radius: [Float]) -> [Float] {
        var out = v
        for (b, L) in lengths.enumerated() {
            let base = b * T * E
            var s = 0.0
            for i in base..<(base + L * E) { s += Double(v[i]) * Double(v[i]) }
            let norm = s.squareRoot()
            let f = norm > 0 ? Float(Double(radius[b]) / norm) : 0
            for i in base..<(base + L * E) { out[i] = v[i] * f }
            for i in (base + L * E)..<(base + T * E) { out[i] = 0 }
        }
        return out
    }

    /// The clean prediction p̂ [batch × classes] (no dropout).
    public static func target(_ model: Classifier, ids: [Int32], lengths: [Int], batch B: Int, steps T: Int, pieces: PieceLists? = nil) -> [Float] {
        model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, pieces: pieces).probabilities
    }

    /// r_vadv [batch × steps × embedDim] (caller's order, zero at padding) from one power-iteration
    /// step; `seeds` (one per document) draw the random directions, so a document's direction does
    /// not depend on which batch or worker it is in. Leaves parameter gradients untouched.
    public func perturbation(
        _ model: Classifier, ids: [Int32], lengths: [Int], batch B: Int, steps T: Int, pieces: PieceLists? = nil, target: [Float], seeds: [UInt64]
    ) -> [Float] {
        precondition(seeds.count == B, "need one seed per document")
        let E = model.config.embedDim
        let scales = Self.rowScales(model, ids: ids, lengths: lengths, steps: T, pieces: pieces)
        var d = [Float](repeating: 0, count: B * T * E)
        for b in 0..<B {
            var rng = Rng(seed: seeds[b])
            for i in (b * T * E)..<(b * T * E + lengths[b] * E) { d[i] = rng.normal() }
        }
        d = Self.scaled(d, lengths: lengths, steps: T, width: E, radius: scales.map { $0 * xi })
        let probe = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, pieces: pieces, inputPerturbation: d)
        let kl = Self.divergence(target: target, logits: probe.logits, classes: model.config.classes)
        model.backward(dLogits: kl.dLogits, parameterGradients: false)
        return Self.scaled(model.inputGradient(), lengths: lengths, steps: T, width: E, radius: scales.map { $0 * epsilon })
    }

    /// Adds the gradient of weight · Σ_docs KL(p̂ ‖ p(·|e + r_vadv)) / divisor to the model's
    /// parameter gradients (a worker holding part of a batch passes the whole batch's size as
    /// `divisor`, so the parts add up) and returns Σ_docs KL, unweighted.
    @discardableResult
    public func accumulateGradient(
        _ model: Classifier, ids: [Int32], lengths: [Int], batch B: Int, steps T: Int, pieces: PieceLists? = nil, seeds: [UInt64], weight: Float,
        divisor: Double
    ) -> Double {
        let p = Self.target(model, ids: ids, lengths: lengths, batch: B, steps: T, pieces: pieces)
        let r = perturbation(model, ids: ids, lengths: lengths, batch: B, steps: T, pieces: pieces, target: p, seeds: seeds)
        let out = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: false, pieces: pieces, inputPerturbation: r)
        let f = Float(Double(weight) / divisor)
        let kl = Self.divergence(target: p, logits: out.logits, classes: model.config.classes)
        model.backward(dLogits: kl.dLogits.map { $0 * f })
        return kl.value
    }
}
