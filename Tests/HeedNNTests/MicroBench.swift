import Foundation
import HeedNN
import Testing

/// Micro benchmark, off by default. Run in release:
///   HEED_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-nn-rel --filter MicroBench
/// Prints training tokens/s (forward+loss+backward+clip+Adam) for E=100, H=128, B=64 and
/// batch-1 inference latency. Variant via HEED_BENCH_VARIANT = last|linear|additive|biadditive.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEED_BENCH"] != nil))
struct MicroBench {
    @Test func trainingAndInference() {
        let env = ProcessInfo.processInfo.environment
        BLAS.setThreads(Int(env["HEED_BENCH_THREADS"] ?? "2") ?? 2)
        let variant = env["HEED_BENCH_VARIANT"] ?? "additive"
        let cfg = ClassifierConfig(
            vocabSize: 20000, embedDim: 100, hiddenDim: 128, bidirectional: variant == "biadditive",
            pooling: variant == "last" ? .last : .attention,
            scorer: variant == "linear" ? .linear : .additive, classes: 2)
        let model = Classifier(config: cfg, seed: 1)
        let adam = Adam(parameters: model.parameters)
        var rng = Rng(seed: 2)
        let B = 64, T = 50
        let batches = (0..<8).map { _ -> ([Int32], [Int], [Int]) in
            let lengths = (0..<B).map { _ in 5 + rng.int(below: T - 4) }
            var ids = [Int32](repeating: 0, count: B * T)
            for b in 0..<B { for t in 0..<lengths[b] { ids[b * T + t] = Int32(1 + rng.int(below: 19999)) } }
            return (ids, lengths, (0..<B).map { _ in rng.int(below: 2) })
        }
        func step(_ i: Int) {
            let (ids, lengths, labels) = batches[i % batches.count]
            model.zeroGrad()
            _ = model.forward(ids: ids, lengths: lengths, batch: B, steps: T, training: true)
            _ = model.loss(labels: labels)
            model.backward()
            model.clipGradNorm(5)
            adam.step()
        }
        let n = env["HEED_BENCH_INFER_ONLY"] == nil ? 30 : 0
        for i in 0..<min(n, 3) { step(i) }
        let start = Date(), cpu0 = clock()
        for i in 0..<n { step(i) }
        let secs = Date().timeIntervalSince(start)
        let cpu = Double(clock() - cpu0) / Double(CLOCKS_PER_SEC)
        let tokens = (0..<n).map { batches[$0 % batches.count].1.reduce(0, +) }.reduce(0, +)
        if n > 0 {
            print(
                "bench \(variant) train: \(Int(Double(tokens) / secs)) tokens/s, \(secs / Double(n) * 1000) ms/batch, CPU \(cpu / Double(max(n, 1)) * 1000) ms/batch"
            )
        }
        let ids: [Int32] = (0..<20).map { Int32($0 + 1) }
        for _ in 0..<20 { _ = model.forward(ids: ids, lengths: [20], batch: 1, steps: 20, training: false) }
        let s2 = Date()
        let reps = n == 0 ? 5000 : 500
        let c2 = clock()
        for _ in 0..<reps { _ = model.forward(ids: ids, lengths: [20], batch: 1, steps: 20, training: false) }
        print(
            "bench \(variant) batch-1 inference (20 tokens): \(Date().timeIntervalSince(s2) / Double(reps) * 1e6) µs, CPU \(Double(clock() - c2) / Double(CLOCKS_PER_SEC) / Double(reps) * 1e6) µs"
        )
    }
}
