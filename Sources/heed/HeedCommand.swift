import ArgumentParser
import Heed
import HeedNN

@main
struct HeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heed",
        abstract: "Text classification with attention-LSTMs that shows what the model looks at.",
        discussion: """
            Typical use:
              heed vocab build corpora/sentiment-en-rt/train.tsv -o vocab/rt.vocab
              heed tokenize --format jsonl corpora/sentiment-en-rt/test.tsv | head
            """,
        version:
            "0.1.0 (ICU \(ICU.version), BLAS \(BLAS.kernelDescription), cell kernels \(LSTMCellKernels.variant), "
            + "step products \(BLAS.packedRecurrent ? "packed \(BLAS.packedKernelVariant)" : "BLAS"), "
            + "batch products \(BLAS.ownBatchProducts ? "packed \(BLAS.packedKernelVariant)" : "BLAS"), default BLAS threads \(BLAS.libraryThreads))",
        subcommands: [
            Tokenize.self, Vocab.self, Pretrain.self, Train.self, Tune.self, Evaluate.self, Calibrate.self, Predict.self, Explain.self, Compare.self,
            Export.self, Quantize.self,
            Report.self,
            Demo.self, Serve.self, Benchmark.self,
        ]
    )

    /// ArgumentParser's entry point, with library errors put in the command line's words.
    static func main() {
        KernelChoice.restartIfDetectionFellBack()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: commandLineMessage(error))
        }
    }
}
