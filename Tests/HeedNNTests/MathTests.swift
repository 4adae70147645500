import Foundation
import Testing

@testable import HeedNN

@Test func fastMathMatchesLibm() {
    var worstExp: Double = 0, worstTanh: Double = 0, worstSig: Double = 0
    var x: Float = -30
    while x <= 30 {
        let e = Double(fastExp(x)), re = exp(Double(x))
        worstExp = max(worstExp, abs(e - re) / re)
        let t = Double(fastTanh(x)), rt = tanh(Double(x))
        worstTanh = max(worstTanh, abs(t - rt) / max(abs(rt), 1e-30))
        let s = Double(fastSigmoid(x)), rs = 1 / (1 + exp(-Double(x)))
        worstSig = max(worstSig, abs(s - rs) / rs)
        x += 0.000731
    }
    #expect(worstExp < 4e-7, "exp \(worstExp)")
    #expect(worstTanh < 1e-6, "tanh \(worstTanh)")
    #expect(worstSig < 1e-6, "sigmoid \(worstSig)")
    #expect(fastExp(-200) >= 0 && fastExp(-200) < 1e-37 && fastExp(200).isFinite)
    #expect(fastTanh(100) == 1 && fastTanh(-100) == -1 && fastTanh(0) == 0)
    #expect(fastSigmoid(-200) >= 0 && fastSigmoid(200) == 1)
}

@Test func simdMathMatchesScalar() {
    var r = Rng(seed: 9)
    for _ in 0..<2000 {
        var v = F8()
        for i in 0..<8 { v[i] = r.uniform(-40, 40) * (r.uniform() < 0.3 ? 0.001 : 1) }
        let e = fastExp8(v), t = fastTanh8(v), s = fastSigmoid8(v)
        for i in 0..<8 {
            #expect(e[i] == fastExp(v[i]) && t[i] == fastTanh(v[i]) && s[i] == fastSigmoid(v[i]))
        }
    }
}
