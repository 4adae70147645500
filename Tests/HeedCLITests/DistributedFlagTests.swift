import Testing

// With the MPI trait this binary can train distributed; HeedMPITests covers that build.
#if !MPI
@Suite struct DistributedFlagTests {
    @Test func distributedWithoutMPIBuildSaysHowToGetIt() throws {
        let s = Scratch()
        let train = s.file("train.tsv", "pos\tgood film\nneg\tbad film\n")
        let r = try heed(["train", train, "--distributed", "-o", s.path + "/m.heed"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("make build-mpi"), "\(r.stderr)")
        #expect(s.contents == ["train.tsv"])
    }

    /// Unlabelled text is no longer a usage error with --distributed: the run gets as far as
    /// needing the MPI build, like a plain distributed run.
    @Test func unlabelledTextPassesValidationWithDistributed() throws {
        let s = Scratch()
        let train = s.file("train.tsv", "pos\tgood film\nneg\tbad film\n")
        let text = s.file("more.txt", "a fine film\n")
        for semi in [["--semi", "vat"], ["--semi", "self-training"], ["--pretrain-epochs", "1"]] {
            let r = try heed(["train", train, "--unlabelled", text] + semi + ["--distributed", "-o", s.path + "/m.heed"])
            #expect(r.status != 0 && r.status != 64, "\(semi): \(r.stderr)")
            #expect(r.stderr.contains("make build-mpi"), "\(semi): \(r.stderr)")
        }
        #expect(s.contents == ["more.txt", "train.tsv"])
    }
}
#endif
