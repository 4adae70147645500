import Foundation
import HeedNN

/// `heed quantize`: int8 tables for a smaller file and a smaller resident model.
extension TextClassifier {
    /// Whether the model was read from (or made by) `quantized(weights:)`: its embedding tables are
    /// int8 and it serves inference only.
    public var isQuantized: Bool {
        guard case .flat(let box) = network else { return false }
        return box.isQuantized
    }

    /// A copy whose embedding table (and subword table) is int8 with one scale per row; with
    /// `weights`, the LSTM, attention and output matrices too (dequantised once into floats when
    /// the model is built, since they are small). Biases stay float. Labels, vocabulary, options
    /// and calibration are kept. Refuses han models and models already quantised.
    public func quantized(weights: Bool = false) throws -> TextClassifier {
        if isHierarchical {
            throw HeedError.notForHierarchical("quantisation", instead: "ship the float han model, or quantise a flat --model (e.g. bilstm-attention)")
        }
        if isQuantized { throw HeedError.modelMismatch("the model is already quantised; quantise the float model it came from") }
        let model: Classifier = box.withModel { float in
            var tables: [String: QuantizedTable] = [:]
            for (name, shape) in float.config.tensorShapes where shape.count == 2 {
                let isTable = name == "embedding.weight" || name == "subwords.weight"
                guard isTable || weights, let p = float.parameter(named: name) else { continue }
                tables[name] = QuantizedTable.quantize(UnsafePointer(p.value), rows: shape[0], dim: shape[1])
            }
            let q = Classifier(config: float.config, quantized: tables)
            for p in q.parameters {
                if let t = tables[p.name] {
                    p.values = t.dequantized()
                } else {
                    p.value.update(from: float.parameter(named: p.name)!.value, count: p.count)
                }
            }
            return q
        }
        var copy = TextClassifier(network: .flat(ModelBox(model)), vocabulary: vocabulary, options: options, calibration: calibration)
        copy.provenance = provenance
        copy.workers = workers
        return copy
    }
}
