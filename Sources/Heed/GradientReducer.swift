import HeedNN

/// Averages gradients over ranks with one allreduce of one flattened buffer per step. Each rank
/// contributes its mean-loss gradient times its batch weight (example count, or class-weight sum)
/// and the weight itself, so the result is the gradient of the global batch's mean loss; a rank
/// without a batch this step contributes zeros.
final class GradientReducer {
    /// Sums that travel in the same buffer after the gradients.
    struct Totals {
        var weight = 0.0, weightedLoss = 0.0, examples = 0.0, exampleLoss = 0.0, tokens = 0.0
        /// Ranks asked to stop (Ctrl-C), and ranks past the deadline: the loop ends the run, or the epoch.
        var stop = 0.0, cut = 0.0
        /// The global batch's mean loss (as the optimiser sees it).
        var loss: Double { weight > 0 ? weightedLoss / weight : 0 }
    }

    private let parameters: [Param]
    private let collective: any Collective
    private var buffer: UnsafeMutableBufferPointer<Float>
    private let gradientCount: Int
    static let tailCount = 7
    /// Wall time spent in the allreduce since the last `takeSeconds`.
    private var seconds = 0.0
    private let clock = ContinuousClock()

    init(parameters: [Param], collective: any Collective) {
        self.parameters = parameters
        self.collective = collective
        gradientCount = parameters.reduce(0) { $0 + $1.count }
        buffer = .allocate(capacity: gradientCount + Self.tailCount)
    }

    deinit { buffer.deallocate() }

    /// Sums every rank's `local` and weighted gradients; on return every `Param.grad` holds the
    /// global mean gradient (identical on all ranks).
    func reduce(_ local: Totals, hasGradient: Bool) -> Totals {
        // One rank: its mean gradient is already the global one (and a rank always has a batch).
        if collective.size == 1 { return local }
        let b = buffer.baseAddress!
        var offset = 0
        let w = Float(local.weight)
        for p in parameters {
            let g = p.grad, out = b + offset
            if hasGradient {
                for k in 0..<p.count { out[k] = g[k] * w }
            } else {
                out.update(repeating: 0, count: p.count)
            }
            offset += p.count
        }
        let tail = [local.weight, local.weightedLoss, local.examples, local.exampleLoss, local.tokens, local.stop, local.cut]
        for (k, v) in tail.enumerated() { b[gradientCount + k] = Float(v) }
        let start = clock.now
        collective.sum(buffer)
        seconds += Trainer.seconds(start.duration(to: clock.now))
        let t = (0..<Self.tailCount).map { Double(b[gradientCount + $0]) }
        let totals = Totals(weight: t[0], weightedLoss: t[1], examples: t[2], exampleLoss: t[3], tokens: t[4], stop: t[5], cut: t[6])
        let scale = totals.weight > 0 ? Float(1 / totals.weight) : 0
        offset = 0
        for p in parameters {
            let g = p.grad, src = b + offset
            for k in 0..<p.count { g[k] = src[k] * scale }
            // A row another rank touched now holds a gradient here too: every rank's lazy
            // optimizer must update the same rows.
            p.touchedRows?.markNonzero(g)
            offset += p.count
        }
        return totals
    }

    func takeSeconds() -> Double {
        defer { seconds = 0 }
        return seconds
    }
}
