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
}
#endif
