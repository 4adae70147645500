/// How two parameter sets after one Adam step from the same start agree. Adam's first update is
/// lr·g/(|g|+ε) per weight: ±lr·(1 − ε/|g|) for any gradient well above ε = 1e-8, whatever its
/// scale, so two correct computations of the same gradient land a few units in the last place
/// (plus 1e-4·lr for gradients down to 1e4·ε) apart. Only
/// where a gradient is within rounding of ε or of zero can they differ more, by at most 2·lr
/// (a flipped sign). Such weights must be rare, and nothing may differ by more than 2·lr.
public func oneAdamStepAgreement(_ a: [Float], _ b: [Float], learningRate lr: Float) -> (count: Int, sensitive: Int, impossible: Int) {
    var sensitive = 0, impossible = 0
    for (x, y) in zip(a, b) {
        let diff = abs(x - y), slack = 4 * max(abs(x), abs(y)).ulp + 1e-4 * lr
        if diff <= slack { continue }
        if diff <= 2 * lr + slack { sensitive += 1 } else { impossible += 1 }
    }
    return (a.count, sensitive, impossible)
}
