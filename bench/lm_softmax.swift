// Driver of bench/lm_softmax.sh, compiled with HeedNN's sources into one optimised binary (no
// package product, no test bundle: the whole package's release build is not needed for this).
import Foundation
import HeedNN

let env = ProcessInfo.processInfo.environment
BLAS.setThreads(Int(env["HEED_BENCH_THREADS"] ?? "1") ?? 1)
let V = Int(env["HEED_BENCH_VOCAB"] ?? "30000") ?? 30000
let model = LanguageModel(config: LanguageModelConfig(vocabSize: V, embedDim: 100, hiddenDim: 128, bidirectional: true, dropout: 0.1), seed: 1)
let adam = Adam(parameters: model.parameters)
var rng = Rng(seed: 2)
let B = 32, T = 60
let sampler = LogUniformSampler(vocabSize: V)
// Zipf-distributed tokens, as in text (and as the sampler assumes).
let batches = (0..<6).map { _ -> ([Int32], [Int]) in
    let lengths = (0..<B).map { _ in 20 + rng.int(below: T - 19) }
    var ids = [Int32](repeating: 0, count: B * T)
    for b in 0..<B {
        let c = sampler.sample(lengths[b], rng: &rng).ids
        for t in 0..<lengths[b] { ids[b * T + t] = c[rng.int(below: c.count)] }
    }
    return (ids, lengths)
}

func measure(_ label: String, _ steps: Int, _ step: (Int) -> Void) {
    step(0)
    let start = Date(), cpu0 = clock()
    for i in 0..<steps { step(i + 1) }
    let secs = Date().timeIntervalSince(start)
    let cpu = Double(clock() - cpu0) / Double(CLOCKS_PER_SEC)
    let tokens = (0..<steps).map { batches[($0 + 1) % batches.count].1.reduce(0, +) }.reduce(0, +)
    print(
        "bench lm \(label) V=\(V): \(Int(Double(tokens) / secs)) tokens/s, \(String(format: "%.1f", secs / Double(steps) * 1000)) ms/batch, "
            + "CPU \(String(format: "%.1f", cpu / Double(steps) * 1000)) ms/batch")
}

let only = env["HEED_BENCH_ONLY"]
for (label, output, steps) in [
    ("sampled K=256", LanguageModelOutput.sampled(256), 12), ("sampled K=512", .sampled(512), 12),
    ("sampled K=1024", .sampled(1024), 12), ("full", .full, 3), ("sampled K=1 (about the encoder alone)", .sampled(1), 12),
] where only == nil || label.contains(only!) {
    measure("train " + label, steps) { i in
        let (ids, lengths) = batches[i % batches.count]
        model.zeroGrad()
        model.loss(ids: ids, lengths: lengths, batch: B, steps: T, training: true, output: output)
        model.clipGradNorm(5)
        adam.step()
    }
}
measure("evaluate full", 3) { i in
    let (ids, lengths) = batches[i % batches.count]
    _ = model.evaluate(ids: ids, lengths: lengths, batch: B, steps: T)
}
