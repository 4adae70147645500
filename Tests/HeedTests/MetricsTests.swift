import Testing

@testable import Heed

@Suite struct MetricsTests {
    /// Hand-computed: 3 classes, 10 documents.
    ///            pred a  pred b  pred c
    ///   true a      3       1       0
    ///   true b      1       2       0
    ///   true c      0       1       2
    @Test func handComputedConfusion() {
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
        let predicted = [0, 0, 0, 1, 0, 1, 1, 1, 2, 2]
        let e = Evaluation(labels: ["a", "b", "c"], truth: truth, predicted: predicted)
        #expect(e.confusion == [[3, 1, 0], [1, 2, 0], [0, 1, 2]])
        #expect(e.accuracy == 0.7)
        let s = e.perClass
        #expect(s[0].precision == 0.75 && s[0].recall == 0.75 && s[0].f1 == 0.75 && s[0].support == 4)
        #expect(s[1].precision == 0.5 && abs(s[1].recall - 2.0 / 3) < 1e-12)
        #expect(abs(s[1].f1 - 4.0 / 7) < 1e-12)  // 2·(1/2)(2/3)/(1/2+2/3)
        #expect(s[2].precision == 1 && abs(s[2].recall - 2.0 / 3) < 1e-12 && abs(s[2].f1 - 0.8) < 1e-12)
        #expect(abs(e.macroF1 - (0.75 + 4.0 / 7 + 0.8) / 3) < 1e-12)
    }

    @Test func neverPredictedClassScoresZero() {
        let e = Evaluation(labels: ["a", "b"], truth: [0, 1, 1], predicted: [0, 0, 0])
        #expect(e.perClass[1].precision == 0 && e.perClass[1].f1 == 0)
        #expect(abs(e.perClass[0].f1 - 0.5) < 1e-12)  // p 1/3, r 1
        #expect(abs(e.macroF1 - 0.25) < 1e-12)
    }
}
