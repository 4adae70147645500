import Foundation
import HeedNN

/// How the learning rate moves over a run.
public enum LearningRateSchedule: String, Codable, Sendable, CaseIterable {
    /// `learningRate` at every step (the default).
    case constant
    /// Slanted triangular learning rates (Howard & Ruder 2018, ULMFiT): a short linear rise from
    /// lr/32 to lr over the first 10% of the planned steps, then a long linear fall back to lr/32,
    /// so a pretrained encoder is first steered towards the task and then refined.
    case stlr
}

/// ULMFiT's fine-tuning rules, set on Adam before every step: discriminative rates per layer
/// group, gradual unfreezing and the learning-rate schedule. Everything is a pure function of the
/// options and the step count, so a resumed run, every worker and every rank set the same values.
struct FineTuning {
    /// Share of the planned steps spent rising to the peak (ULMFiT's cut_frac).
    static let cutFraction = 0.1
    /// How much smaller than the peak the lowest rate is (ULMFiT's ratio).
    static let ratio = 32.0

    let options: TrainingOptions
    /// Each parameter's layer group, 0 (embedding) to `top` (head).
    let groups: [Int]
    let top: Int

    init(options: TrainingOptions, groups: [Int]) {
        self.options = options
        self.groups = groups
        top = groups.max() ?? 0
    }

    /// The slanted triangular rate for step `t` (0-based) of `total` planned steps, peaking at
    /// `peak`: lr·(1 + p·(ratio − 1))/ratio with p rising from 0 to 1 over the first
    /// ⌊total·cutFraction⌋ steps and falling back to 0 at `total` (and staying there past it).
    static func slantedTriangular(step t: Int, total: Int, peak: Float) -> Float {
        let cut = max(1, Int((Double(total) * cutFraction).rounded(.down)))
        let p =
            t < cut
            ? Double(t) / Double(cut)
            : max(0, 1 - Double(t - cut) / (Double(cut) * (1 / cutFraction - 1)))
        return Float(Double(peak) * (1 + p * (ratio - 1)) / ratio)
    }

    /// The rate of the step about to be taken (`step` already taken) in a run of `plannedSteps`.
    func learningRate(step: Int, plannedSteps: Int) -> Float {
        switch options.schedule {
        case .constant: return options.learningRate
        case .stlr: return Self.slantedTriangular(step: step, total: plannedSteps, peak: options.learningRate)
        }
    }

    /// The lowest group that trains at `step`: the head from the start, one more group down every
    /// `unfreezeEvery` steps (nil or 0: every group from the start).
    func lowestTrainingGroup(step: Int) -> Int {
        guard let every = options.unfreezeEvery, every > 0 else { return 0 }
        return max(0, top - step / every)
    }

    /// Sets `adam`'s rate, per-parameter scales and frozen flags for its next step.
    func prepare(_ adam: Adam, plannedSteps: Int) {
        let step = adam.steps
        adam.lr = learningRate(step: step, plannedSteps: plannedSteps)
        let lowest = lowestTrainingGroup(step: step)
        let decay = Double(options.lrDecay)
        adam.lrScale = groups.map { Float(1 / pow(decay, Double(top - $0))) }
        adam.frozen = groups.map { $0 < lowest }
    }
}
