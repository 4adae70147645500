import Foundation
import HeedNN
import HeedTestSupport
import Testing

@testable import Heed

/// `TrainingOptions.workers`: threads sharing every batch in one process.
@Suite(.serialized) struct WorkerTrainingTests {
    /// A small encoded corpus and a model without dropout, so a batch's gradient is a function of
    /// the weights and the documents alone.
    func encodedCorpus(
        classWeights: Bool = false, subwords: Bool = false, encoder: ClassifierConfig.Encoder? = nil
    ) throws -> (docs: [EncodedDocument], model: Classifier, classWeights: [Float]?) {
        let (train, _) = try smallTopicCorpus()
        let tokenizer = try Tokenizer(settings: .default)
        let vocabulary = Vocabulary(counts: try Trainer.countTokens(train, tokenizer: tokenizer, file: "train"), minCount: 1, maxSize: 5000)
        var options = smallOptions(.bilstmAttention)
        options.dropout = 0
        if subwords { (options.subwords, options.buckets) = (3...5, 997) }
        options.encoder = encoder
        if encoder == .diversity { options.diversityWeight = 2 }  // large enough to matter in the gradient
        let documentEncoder = try DocumentEncoder(vocabulary: vocabulary, maxLength: 60, subwords: options.subwordSettings)
        let (docs, _) = try documentEncoder.encode(train, file: "train")
        let model = Classifier(config: options.classifierConfig(vocabularySize: vocabulary.count, classes: vocabulary.labels.count), seed: 3)
        return (docs, model, classWeights ? [0.5, 1.5, 2.0] : nil)
    }

    func gradients(_ model: Classifier) -> [[Float]] { model.parameters.map(\.grads) }

    @Test func sharesAreDealtNonEmptyAndCoverTheBatch() {
        for (count, workers) in [(16, 2), (17, 3), (2, 8), (1, 4), (64, 8)] {
            let indices = Array(100..<(100 + count))
            let shares = DataParallelStep<Classifier>.shares(indices, workers: workers)
            #expect(shares.count == min(count, workers))
            #expect(shares.allSatisfy { !$0.isEmpty })
            #expect(shares.joined().sorted() == indices)
            #expect(shares.map(\.count).max()! - shares.map(\.count).min()! <= 1)
            #expect(shares.allSatisfy { s in zip(s, s.dropFirst()).allSatisfy { $1 - $0 == shares.count } })
        }
    }

    /// One worker runs exactly the step training ran before workers existed.
    @Test(arguments: [false, true])
    func oneWorkerIsTheSingleThreadedStep(subwords: Bool) throws {
        let (docs, model, _) = try encodedCorpus(subwords: subwords)
        let indices = Array(0..<24)
        let plain = model.clone()
        let batch = Batch(docs, indices: indices)
        plain.zeroGrad()
        #expect((batch.pieces != nil) == subwords)
        _ = plain.forward(
            ids: batch.ids, lengths: batch.lengths.map(Int.init), batch: batch.count, steps: batch.steps, training: true, pieces: batch.pieces)
        let loss = plain.loss(labels: batch.labels.map(Int.init))
        plain.backward()
        let step = DataParallelStep(model: model, workers: 1)
        let totals = step.gradient(docs, indices: indices, classWeights: nil)
        #expect(Float(totals.loss) == loss)
        #expect(gradients(model).map { $0.map(\.bitPattern) } == gradients(plain).map { $0.map(\.bitPattern) })
    }

    /// Split over 2 and 3 workers, the summed gradient is the whole batch's: per tensor, the
    /// difference is within Float rounding of the magnitudes summed (the documents' own weighted
    /// gradient norms, standing in for their tokens' terms), and the totals agree.
    /// The diversity encoder's penalty is a mean over the whole batch's documents, so its shares
    /// add up too; the orthogonal encoder's states are per document like the plain LSTM's.
    @Test(
        arguments: [
            (false, false, nil), (true, false, nil), (false, true, nil), (false, false, .orthogonal), (false, false, .diversity),
            (true, false, .diversity),
        ] as [(Bool, Bool, ClassifierConfig.Encoder?)])
    func workersAddUpToTheWholeBatchGradient(classWeights useWeights: Bool, subwords: Bool, encoder: ClassifierConfig.Encoder?) throws {
        let (docs, model, classWeights) = try encodedCorpus(classWeights: useWeights, subwords: subwords, encoder: encoder)
        let indices = Array(0..<30)
        let whole = DataParallelStep(model: model.clone(), workers: 1)
        let wholeTotals = whole.gradient(docs, indices: indices, classWeights: classWeights)
        let reference = gradients(whole.model)
        // Σ over documents of each one's share of the batch gradient, in norm: what the sum adds up.
        var magnitude = [Double](repeating: 0, count: reference.count)
        let single = DataParallelStep(model: model.clone(), workers: 1)
        let weightTotal = wholeTotals.weight
        for i in indices {
            let t = single.gradient(docs, indices: [i], classWeights: classWeights)
            for (k, g) in gradients(single.model).enumerated() {
                magnitude[k] += (t.weight / weightTotal) * g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            }
        }
        // Summation-order rounding, at most n·2⁻²⁴ of the summed magnitudes for n terms; each token
        // row adds a term to the weight gradients' sums.
        let tolerance = wholeTotals.tokens * 0x1p-24
        for workers in [2, 3] {
            let split = DataParallelStep(model: model.clone(), workers: workers)
            let totals = split.gradient(docs, indices: indices, classWeights: classWeights)
            #expect(totals.weight == wholeTotals.weight && totals.examples == 30 && totals.tokens == wholeTotals.tokens)
            #expect(abs(totals.loss - wholeTotals.loss) <= 1e-6 * wholeTotals.loss)
            for (k, (a, b)) in zip(gradients(split.model), reference).enumerated() {
                let difference = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
                #expect(difference <= tolerance * magnitude[k] + 1e-30, "\(model.parameters[k].name): \(difference) vs magnitude \(magnitude[k])")
            }
        }
    }

    /// The same seed and worker count give the same model file, for 2 and 3 workers; 2 workers'
    /// first step matches one worker's within what one Adam step allows.
    @Test func sameSeedAndWorkersGiveIdenticalModels() throws {
        let (train, _) = try smallTopicCorpus()
        var options = smallOptions(.bilstmAttention)
        options.epochs = 2
        var weights: [Int: [Float]] = [:]
        for workers in [2, 3] {
            options.workers = workers
            let a = try Trainer(options: options).train(train)
            let b = try Trainer(options: options).train(train)
            #expect(a.log.allSatisfy { $0.workers == workers })
            let (x, y) = (try modelBytes(a.classifier), try modelBytes(b.classifier))
            #expect(x == y, "\(workers) workers: two runs differ")
            weights[workers] = a.classifier.box.withModel { m in m.parameters.flatMap(\.values) }
        }
        // Each worker count has its own dropout streams, hence its own model.
        #expect(weights[2] != weights[3])

        // One step (16 documents, one batch): 1 and 2 workers take the same step.
        var one = smallOptions(.bilstmAttention)
        one.epochs = 1; one.dropout = 0; one.calibration = .none
        let docs = Array(train.prefix(16))
        let dev = Array(train.suffix(30))
        let single = try Trainer(options: one).train(docs, dev: dev)
        one.workers = 2
        let split = try Trainer(options: one).train(docs, dev: dev)
        let a = single.classifier.box.withModel { m in m.parameters.flatMap(\.values) }
        let b = split.classifier.box.withModel { m in m.parameters.flatMap(\.values) }
        let agreement = oneAdamStepAgreement(a, b, learningRate: one.learningRate)
        #expect(agreement.impossible == 0 && agreement.sensitive * 200 <= agreement.count, "\(agreement)")
    }

    /// Orthogonal and diversity encoders: the same seed and worker count (1 and 2) give the same
    /// model file, and the file names the encoder.
    @Test(arguments: [ClassifierConfig.Encoder.orthogonal, .diversity])
    func encodersTrainReproducibly(_ encoder: ClassifierConfig.Encoder) throws {
        let train = Array(try smallTopicCorpus().train.prefix(60))
        var options = smallOptions(.bilstmAttention)
        options.epochs = 1
        options.encoder = encoder
        for workers in [1, 2] {
            options.workers = workers
            let a = try Trainer(options: options).train(train)
            let b = try Trainer(options: options).train(train)
            #expect(try modelBytes(a.classifier) == modelBytes(b.classifier), "\(encoder), \(workers) workers: two runs differ")
            let config = a.classifier.box.withModel { $0.config }
            #expect(config.encoder == encoder)
            #expect(config.diversityWeight == (encoder == .diversity ? TrainingOptions.defaultDiversityWeight : nil))
            #expect(a.classifier.options.encoder == encoder)
            #expect(a.log.allSatisfy { $0.trainLoss.isFinite })
        }
    }

    /// Prediction split over workers is the single-threaded prediction, bit for bit, in input order;
    /// the replicas follow the model's weights when they change.
    @Test func predictionOverWorkersIsBitIdentical() throws {
        let (train, test) = try smallTopicCorpus()
        let texts = (train + test).map(\.text)
        var options = smallOptions(.bilstmAttention)
        options.epochs = 1
        var classifier = try Trainer(options: options).train(train).classifier
        func run(_ workers: Int) throws -> [[UInt32]] {
            classifier.workers = workers
            return try classifier.predict(texts).map { $0.probabilities.map(\.bitPattern) + ($0.tokens.compactMap(\.weight)).map(\.bitPattern) }
        }
        let one = try run(1)
        #expect(texts.count > 64 * 2)
        #expect(try run(2) == one)
        #expect(try run(3) == one)
        classifier.workers = 1
        let evaluation = try classifier.evaluate(test)
        classifier.workers = 2
        #expect(try classifier.evaluate(test) == evaluation)
        // Training changes the weights in place: replicas made earlier must see the change.
        classifier.box.withModel { m in m.parameters.last!.value[0] += 1 }
        let changed = try run(1)
        #expect(changed != one)
        #expect(try run(2) == changed)
    }

    func modelBytes(_ classifier: TextClassifier) throws -> Data {
        let url = URL(fileURLWithPath: NSTemporaryDirectory() + "heed-workers-\(UUID().uuidString).heed")
        defer { try? FileManager.default.removeItem(at: url) }
        try classifier.write(to: url)
        return try Data(contentsOf: url)
    }
}
