import ArgumentParser
import Heed
import HeedIO

/// A library error in the command line's words: the library's messages name concepts, the
/// command line names the flag that changes them.
struct CommandLineMessage: Error, CustomStringConvertible {
    let description: String
}

/// The flag behind a training option that is out of range.
func flagMessage(_ error: any Error) -> String {
    guard let error = error as? TrainingError else { return "\(error)" }
    switch error {
    case .embeddingSize(let v): return "--embed must be positive (got \(v))"
    case .hiddenSize(let v): return "--hidden must be positive (got \(v))"
    case .epochs(let v): return "--epochs must be at least 1 (got \(v))"
    case .patience(let v): return "--patience must be at least 1 (got \(v))"
    case .steps(let v): return "--steps must be at least 1 (got \(v))"
    case .minSteps(let v): return "--min-steps must not be negative (got \(v))"
    case .patienceSteps(let v): return "--patience-steps must not be negative (got \(v))"
    case .smallDevSet(let v): return "--small-dev-set must not be negative (got \(v))"
    case .devLossSmoothing(let v): return "--dev-loss-smoothing must be in (0, 1] (got \(v))"
    case .devScoreSmoothing(let v): return "--dev-score-smoothing must be in (0, 1] (got \(v))"
    case .batchSize(let v): return "--batch must be at least 1 (got \(v))"
    case .learningRate(let v): return "--lr must be a positive number (got \(v))"
    case .dropout(let v): return "--dropout must be in [0, 1) (got \(v))"
    case .wordDropout(let v): return "--word-dropout must be in [0, 1) (got \(v))"
    case .embeddingInitStd(let v): return "--embed-init-std must be a positive number (got \(v))"
    case .maxLength(let v): return "--max-len must be at least 1 (got \(v))"
    case .maxSentences(let v): return "--max-sentences must be at least 1 (got \(v))"
    case .maxWords(let v): return "--max-words must be at least 1 (got \(v))"
    case .encoderWithHierarchical: return "--encoder orthogonal/diversity is not built for --model han yet; drop --encoder or choose a flat --model"
    case .minCount(let v): return "--min-count must be at least 1 (got \(v))"
    case .maxVocabulary(let v): return "--max-vocab must be at least 3 (got \(v))"
    case .subwords(let why): return "--subwords/--buckets: \(why)"
    case .threads(let v): return "--threads must be at least 1 (got \(v))"
    case .workers(let v): return "--workers must be at least 1 (got \(v))"
    case .devFraction(let v): return "--dev-fraction must be between 0 and 1 (got \(v))"
    case .lrDecay(let v): return "--lr-decay must be a positive number (got \(v))"
    case .unfreezeEvery(let v): return "--unfreeze-every must not be negative (got \(v))"
    case .vatEpsilon(let v): return "--vat-epsilon must be a positive number (got \(v))"
    case .vatWeight(let v): return "--vat-weight must be a number ≥ 0 (got \(v))"
    case .diversityWeight(let v): return "--diversity-weight must be a number ≥ 0 (got \(v))"
    case .diversityWeightWithoutDiversity: return "--diversity-weight needs --encoder diversity"
    case .clipNorm, .weightDecay: return error.description  // no flag: only a checkpoint can carry these
    }
}

/// `error` as the user of `heed` should read it.
func commandLineMessage(_ error: any Error) -> any Error {
    switch error {
    case let e as AgreedFailure:
        return commandLineMessage(e.underlying)
    case let e as TrainingError:
        return CommandLineMessage(description: flagMessage(e))
    case let e as HeedError:
        switch e {
        case .emptyDevSet: return CommandLineMessage(description: "the dev set is empty: give --dev FILE or more training data")
        case .embeddingDimension(let file, let line, let found, let expected):
            return CommandLineMessage(
                description: "\(file):\(line): vector has \(found) values, the model's embeddings have \(expected) (use --embed \(found))")
        case .nonFinite(let epoch, let batch, let what):
            return CommandLineMessage(
                description: "training diverged: non-finite \(what) in epoch \(epoch), batch \(batch); the best model so far is kept (try a lower --lr)")
        default: return e
        }
    case let e as HeedTextError:
        switch e {
        case .missingTab(let file, let line):
            return CommandLineMessage(description: "\(file):\(line): expected label<TAB>text but the line has no tab (use --input text for unlabelled text)")
        case .documentTooLong(let file, let line, let bytes, let limit):
            return CommandLineMessage(description: "\(file):\(line): document is \(bytes) bytes, over the limit of \(limit) (raise --max-bytes or split it)")
        default: return e
        }
    default:
        return error
    }
}
