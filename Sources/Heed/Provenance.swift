import Foundation
import HeedIO
import HeedText

/// What a model learnt from besides its labelled training file: the text its encoder was
/// pretrained on, and the rounds of self-training. Stored in the model file (`heed.provenance`),
/// so the report and the model card can name it and anyone can check the files by their hashes.
public struct TrainingProvenance: Codable, Sendable, Equatable {
    /// The pretraining of the encoder the model started from (`heed train --init`).
    public var pretraining: PretrainingProvenance?
    /// Self-training's rounds (`heed train --semi self-training`).
    public var selfTraining: SelfTrainingProvenance?
    /// Virtual adversarial training, when the run had its term (`heed train --semi vat`).
    public var vat: VATProvenance?
    /// The unlabelled files that self-training or VAT read (`--unlabelled`).
    public var unlabelled: UnlabelledTextProvenance?

    /// Nothing beyond the labelled file.
    public init() {}

    /// True when there is nothing to record.
    public var isEmpty: Bool { pretraining == nil && selfTraining == nil && vat == nil && unlabelled == nil }
}

/// Virtual adversarial training as it ran. The options alone cannot say so: they hold a radius
/// and a weight whether or not the run had VAT, and not which text it perturbed.
public struct VATProvenance: Codable, Sendable, Equatable {
    /// The perturbation's radius, relative to each text's RMS embedding-row norm.
    public var epsilon: Float
    /// The VAT term's weight beside the labelled loss.
    public var weight: Float
    /// True when the training split's own texts were among the batches' documents (`heed train
    /// --semi vat` without `--unlabelled`); the dev split is never among them.
    public var onTrainingTexts: Bool
    /// How many documents the batches were drawn from (all ranks together).
    public var documents: Int

    /// The record of a run with these settings and text.
    public init(epsilon: Float, weight: Float, onTrainingTexts: Bool, documents: Int) {
        (self.epsilon, self.weight, self.onTrainingTexts, self.documents) = (epsilon, weight, onTrainingTexts, documents)
    }
}

/// The unlabelled text a semi-supervised run read, and what was kept out of it.
public struct UnlabelledTextProvenance: Codable, Sendable, Equatable {
    /// The files read, as given.
    public var files: [SourceFile]
    /// Lines used: those left after the drops below.
    public var lines: Int
    /// Lines dropped because they equal a labelled document (they have a label already).
    public var droppedAsLabelled: Int
    /// Files whose documents may not be trained on (`--test`, `--exclude`).
    public var excluded: [SourceFile]
    /// Lines dropped because they equal a document of an `excluded` file.
    public var droppedAsExcluded: Int

    /// The record of unlabelled text read from `files`, with what was dropped from it.
    public init(files: [SourceFile], lines: Int, droppedAsLabelled: Int, excluded: [SourceFile], droppedAsExcluded: Int) {
        (self.files, self.lines, self.droppedAsLabelled) = (files, lines, droppedAsLabelled)
        (self.excluded, self.droppedAsExcluded) = (excluded, droppedAsExcluded)
    }
}

/// A file by name and content.
public struct SourceFile: Codable, Sendable, Equatable {
    /// The path as it was given.
    public var path: String
    /// SHA-256 of its bytes, lower-case hex (as `sha256sum` prints it); empty for standard input.
    public var sha256: String
    /// Its size in bytes.
    public var bytes: Int

    /// Reads and hashes `path`; a folder is hashed as the sorted concatenation of its files'
    /// names and hashes, so the same tree gives the same hash.
    public init(path: String) throws {
        self.path = path
        guard path != "-" else {
            // Read once, as it streamed in: nothing is left to hash.
            (sha256, bytes) = ("", 0)
            return
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw HeedTextError.fileNotFound(path) }
        if isFolder.boolValue {
            let names = (try? FileManager.default.subpathsOfDirectory(atPath: path))?.sorted() ?? []
            var listing: [UInt8] = []
            var total = 0
            for name in names {
                let full = (path as NSString).appendingPathComponent(name)
                var isSubfolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: full, isDirectory: &isSubfolder), !isSubfolder.boolValue else { continue }
                let file = try SourceFile(path: full)
                listing += Array("\(file.sha256)  \(name)\n".utf8)
                total += file.bytes
            }
            (sha256, bytes) = (SHA256.hex(listing), total)
        } else {
            guard let data = FileManager.default.contents(atPath: path) else { throw HeedTextError.fileNotFound(path) }
            (sha256, bytes) = (SHA256.hex(Array(data)), data.count)
        }
    }
}

/// The text an encoder was pretrained on and how well it learnt to predict it.
public struct PretrainingProvenance: Codable, Sendable, Equatable {
    /// The files read (test files excluded from them are in `excluded`).
    public var files: [SourceFile]
    /// Files whose documents were dropped from the text (`--exclude`, or `heed train`'s `--test`).
    public var excluded: [SourceFile]
    /// Lines dropped because they equal an excluded document.
    public var droppedLines: Int
    /// Lines trained on and held out for perplexity.
    public var trainLines: Int, heldOutLines: Int
    /// Tokens in the training lines (what the LM read per epoch).
    public var trainTokens: Int
    /// Held-out perplexity (full softmax) of the kept epoch, and of an add-one unigram model.
    public var heldOutPerplexity: Double, unigramPerplexity: Double
    /// The kept epoch.
    public var epoch: Int
    /// Every pretraining epoch's losses (the curve the report draws); no timings, so the same
    /// seed gives the same file.
    public var curve: [PretrainingPoint]
    /// The pretraining options.
    public var options: PretrainingOptions
}

/// One pretraining epoch's place on the curve.
public struct PretrainingPoint: Codable, Sendable, Equatable {
    /// The epoch number, from 1.
    public var epoch: Int
    /// Optimiser steps since the run began.
    public var optimizerSteps: Int
    /// Mean sampled-softmax training loss.
    public var trainLoss: Double
    /// Held-out perplexity, full softmax.
    public var heldOutPerplexity: Double

    init(_ r: PretrainingRecord) {
        (epoch, optimizerSteps, trainLoss, heldOutPerplexity) = (r.epoch, r.optimizerSteps, r.trainLoss, r.heldOutPerplexity)
    }
}

/// Self-training as it ran: the threshold and every round.
public struct SelfTrainingProvenance: Codable, Sendable, Equatable {
    /// The calibrated probability a pseudo-label needed.
    public var threshold: Double
    /// Every round run (round 0 is the supervised one; `kept` marks the model's).
    public var rounds: [SelfTrainingRound]
}

extension TextClassifier {
    static let provenanceKey = "heed.provenance"
}

/// JSON with sorted keys: the same value always gives the same bytes (model files are compared
/// bit for bit across runs).
func sortedJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

extension Checkpoint.Loaded {
    /// The interrupted run's provenance (a resumed run does not read its encoder again).
    var provenance: TrainingProvenance {
        metadata[TextClassifier.provenanceKey].flatMap { try? JSONDecoder().decode(TrainingProvenance.self, from: Data($0.utf8)) }
            ?? TrainingProvenance()
    }
}
