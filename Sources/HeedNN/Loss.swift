import Foundation

/// Softmax cross-entropy, mean over the batch, with optional per-class weights using
/// `nn.CrossEntropyLoss(weight: w)` semantics: loss = Σ_b w[y_b]·ℓ_b / Σ_b w[y_b].
final class SoftmaxCrossEntropy {
    let classes: Int
    /// Probabilities [B × C] after `forward`.
    let probs = Buffer()
    /// Gradient w.r.t. the logits [B × C] after `backward`.
    let dLogits = Buffer()
    private var labels: [Int] = []
    private var rowWeights: [Float] = []
    private var totalWeight: Double = 0
    /// The last loss in Double (as accumulated), for gradient checks.
    private(set) var value: Double = 0

    init(classes: Int) { self.classes = classes }

    /// Computes softmax of `logits` [B × C] into `probs` (always; used for inference too).
    func softmax(_ logits: UnsafePointer<Float>, batch B: Int) {
        let C = classes
        let p = probs.reserve(B * C)
        for b in 0..<B {
            let z = logits + b * C, q = p + b * C
            var m = -Float.infinity
            for c in 0..<C { m = max(m, z[c]) }
            var s: Float = 0
            for c in 0..<C { q[c] = fastExp(z[c] - m); s += q[c] }
            for c in 0..<C { q[c] = q[c] / s }
        }
    }

    /// Loss for the logits whose softmax was last computed; accumulated in Double.
    func forward(_ logits: UnsafePointer<Float>, batch B: Int, labels newLabels: [Int], classWeights: [Float]?) -> Float {
        let C = classes
        precondition(newLabels.count == B, "need one label per sequence")
        if let w = classWeights { precondition(w.count == C, "need one class weight per class") }
        labels.removeAll(keepingCapacity: true)
        rowWeights.removeAll(keepingCapacity: true)
        var total = 0.0, wsum = 0.0
        for b in 0..<B {
            let y = newLabels[b]
            precondition(y >= 0 && y < C, "label \(y) out of 0..<\(C)")
            let z = logits + b * C
            var m = -Float.infinity
            for c in 0..<C { m = max(m, z[c]) }
            var s = 0.0
            for c in 0..<C { s += Double(expf(z[c] - m)) }
            let nll = Double(m) + log(s) - Double(z[y])
            let w = classWeights?[y] ?? 1
            labels.append(y)
            rowWeights.append(w)
            total += Double(w) * nll
            wsum += Double(w)
        }
        totalWeight = wsum
        value = total / wsum
        return Float(value)
    }

    /// d loss / d logits = w_y (p − onehot(y)) / Σ w, with `totalWeight` in place of Σ w when given.
    func backward(batch B: Int, totalWeight divisor: Double? = nil) {
        let C = classes
        let d = dLogits.reserve(B * C), p = probs.ptr
        let total = divisor ?? totalWeight
        for b in 0..<B {
            let scale = Float(Double(rowWeights[b]) / total)
            for c in 0..<C { d[b * C + c] = scale * (p[b * C + c] - (c == labels[b] ? 1 : 0)) }
        }
    }
}
