/// After each dev evaluation: whether these weights become the kept ones, and whether to stop.
///
/// A large dev set stops on its score alone, as it always has: `patience` evaluations without a
/// better score (and `patienceSteps` steps, `minSteps` in all). A small one (fewer than
/// `TrainingOptions.smallDevSet` documents) is a coarse judge: 50 documents move accuracy in steps
/// of 2 points, and one lucky early epoch used to end the run after a few dozen steps. It also counts
/// a new low of its smoothed dev loss as progress, and breaks ties of the score by the lower dev loss.
/// It keeps the epoch where the running average of its score peaks, not its single best score: one
/// lucky evaluation among noisy ones used to keep an epoch from before the model had learnt
/// (bench/kept_epoch.py replays the rules on whole training runs).
/// Saved in checkpoints, so a resumed run decides exactly as the uninterrupted one.
struct EarlyStopping: Codable, Sendable, Equatable {
    var patience: Int
    var patienceSteps: Int
    var minSteps: Int
    /// Weight of the newest dev loss in the running average; nil: the loss is not watched.
    var smoothing: Double?
    /// Weight of the newest score in the running average the kept epoch is chosen by; nil: the
    /// score itself (large dev sets, and checkpoints written before it existed).
    var scoreSmoothing: Double? = nil

    /// The kept evaluation's own score (not its running average).
    var bestScore = -1.0
    /// The running average of the score, and its value at the kept evaluation (with `scoreSmoothing`).
    var smoothedScore: Double? = nil
    var bestSmoothedScore: Double? = nil
    var bestEpoch = 0
    /// The kept evaluation's dev loss (breaks score ties on small dev sets). Optionals rather than
    /// infinities: the state is saved as JSON, which has none.
    var bestLoss: Double? = nil
    /// The last evaluation that made progress (a better score, or a new low of the smoothed loss).
    var progressEpoch = 0
    var progressStep = 0
    var smoothedLoss: Double? = nil
    var lowestSmoothedLoss: Double? = nil
    var stopped = false

    init(options: TrainingOptions, devDocuments: Int) {
        patience = options.patience
        patienceSteps = options.patienceSteps
        minSteps = options.minSteps
        let small = devDocuments < options.smallDevSet
        smoothing = small ? options.devLossSmoothing : nil
        scoreSmoothing = small && options.devScoreSmoothing < 1 ? options.devScoreSmoothing : nil
    }

    /// Records one evaluation; true when its weights are now the kept ones.
    mutating func record(epoch: Int, step: Int, score: Double, devLoss: Double?) -> Bool {
        let loss = devLoss.flatMap { $0.isFinite ? $0 : nil }
        var judged = score
        var bestJudged = bestScore
        if let beta = scoreSmoothing {
            judged = smoothedScore.map { beta * score + (1 - beta) * $0 } ?? score
            smoothedScore = judged
            bestJudged = bestSmoothedScore ?? -1
        }
        var improved = judged > bestJudged
        if smoothing != nil, judged == bestJudged, let loss, loss < (bestLoss ?? .infinity) { improved = true }
        var progress = improved
        if improved {
            bestScore = score
            if scoreSmoothing != nil { bestSmoothedScore = judged }
            bestEpoch = epoch
            bestLoss = loss
        }
        if let alpha = smoothing, let loss {
            let smoothed = smoothedLoss.map { alpha * loss + (1 - alpha) * $0 } ?? loss
            smoothedLoss = smoothed
            if smoothed < (lowestSmoothedLoss ?? .infinity) {
                lowestSmoothedLoss = smoothed
                progress = true
            }
        }
        if progress { (progressEpoch, progressStep) = (epoch, step) }
        stopped = step >= minSteps && epoch - progressEpoch >= patience && step - progressStep >= patienceSteps
        return improved
    }
}
