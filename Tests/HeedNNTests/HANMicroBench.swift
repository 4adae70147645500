import Foundation
import HeedNN
import Testing

/// HAN vs flat BiLSTM-attention on the same random documents, forward + loss + backward, off by
/// default. Run in release:
///   HEED_BENCH_HAN=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-nn-rel --filter HANMicroBench
/// Documents: HEED_BENCH_DOCS (64) × HEED_BENCH_SENTENCES (10) sentences × HEED_BENCH_WORDS (20)
/// tokens; E = 100, H = 128 for the flat model's LSTM and HEED_BENCH_HAN_HIDDEN (128) for each of
/// HAN's; 2 classes; one BLAS thread unless HEED_BENCH_THREADS says otherwise. Prints tokens/s of
/// each and their ratio.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEED_BENCH_HAN"] != nil))
struct HANMicroBench {
    @Test func hanVersusFlat() {
        let env = ProcessInfo.processInfo.environment
        BLAS.setThreads(Int(env["HEED_BENCH_THREADS"] ?? "1") ?? 1)
        let B = Int(env["HEED_BENCH_DOCS"] ?? "64") ?? 64, S = Int(env["HEED_BENCH_SENTENCES"] ?? "10") ?? 10
        let W = Int(env["HEED_BENCH_WORDS"] ?? "20") ?? 20, V = 20000
        let hanHidden = Int(env["HEED_BENCH_HAN_HIDDEN"] ?? "128") ?? 128
        let flat = Classifier(
            config: ClassifierConfig(vocabSize: V, embedDim: 100, hiddenDim: 128, bidirectional: true, classes: 2), seed: 1)
        let han = HierarchicalClassifier(
            config: HierarchicalConfig(vocabSize: V, embedDim: 100, wordHiddenDim: hanHidden, sentenceHiddenDim: hanHidden, classes: 2), seed: 1)
        var rng = Rng(seed: 2)
        let batches = (0..<4).map { _ -> (ids: [Int32], labels: [Int]) in
            ((0..<(B * S * W)).map { _ in Int32(1 + rng.int(below: V - 1)) }, (0..<B).map { _ in rng.int(below: 2) })
        }
        let tokens = B * S * W
        func time(_ step: (Int) -> Void) -> Double {
            for i in 0..<2 { step(i) }
            let n = 12, start = Date()
            for i in 0..<n { step(i) }
            return Double(n * tokens) / Date().timeIntervalSince(start)
        }
        let flatRate = time { i in
            let (ids, labels) = batches[i % batches.count]
            flat.zeroGrad()
            _ = flat.forward(ids: ids, lengths: [Int](repeating: S * W, count: B), batch: B, steps: S * W, training: true)
            _ = flat.loss(labels: labels)
            flat.backward()
        }
        let hanRate = time { i in
            let (ids, labels) = batches[i % batches.count]
            han.zeroGrad()
            let batch = HierarchicalBatch(ids: ids, sentenceLengths: [Int](repeating: W, count: B * S), sentenceCounts: [Int](repeating: S, count: B))
            _ = han.forward(batch, training: true)
            _ = han.loss(labels: labels)
            han.backward()
        }
        print("bench han: \(B) docs × \(S) sentences × \(W) words, forward+backward, HAN hidden \(hanHidden) per level")
        print("bench han: flat bilstm-attention \(Int(flatRate)) tokens/s, HAN \(Int(hanRate)) tokens/s, HAN / flat \(hanRate / flatRate)")
    }
}
