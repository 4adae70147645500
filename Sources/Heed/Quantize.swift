import Foundation
import HeedNN

/// `heed quantize`: int8 or 4-bit tables for a smaller file and a smaller resident model.
extension TextClassifier {
    /// Whether the model was read from (or made by) `quantized(weights:keepWords:tables:)`: its
    /// embedding tables are int8 or 4-bit and it serves inference only.
    public var isQuantized: Bool {
        switch network {
        case .flat(let box): box.isQuantized
        case .hierarchical(let box): box.isQuantized
        }
    }

    /// A copy whose embedding table (and subword table) is quantised with one scale per row, in
    /// the `tables` scheme (int8, or 4 bits for about half the bytes again); with `weights`, the
    /// LSTM, attention and output matrices too, always int8 (they are small, and are dequantised
    /// once into floats when the model is built). Biases stay float. A table's all-zero rows (a
    /// subword table's buckets no training token hashed to) are left out of the file and memory
    /// when that saves bytes. Labels, options and calibration are kept. Flat and han models alike:
    /// han's word and sentence levels are quantised as the flat model's one level is.
    ///
    /// `keepWords` prunes the vocabulary as fastText's `-cutoff` does: only the words whose rows
    /// have the largest L2 norms stay (ties: lower id), in their old order; every other word then
    /// reads `<unk>`'s row (and, with a subword table, still its own subwords). Refuses models
    /// already quantised and `keepWords` below 1.
    public func quantized(weights: Bool = false, keepWords: Int? = nil, tables scheme: QuantizationScheme = .int8) throws -> TextClassifier {
        if isQuantized { throw HeedError.modelMismatch("the model is already quantised; quantise the float model it came from") }
        if let keepWords, keepWords < 1 { throw HeedError.modelMismatch("the number of words to keep must be at least 1 (got \(keepWords))") }
        let quantizedNetwork: Network, kept: [Int]
        switch network {
        case .flat(let box):
            let (model, k) = box.withModel { float in
                Self.quantize(float, weights: weights, keepWords: keepWords, scheme: scheme, make: Classifier.init(config:quantized:)) { config, rows in
                    var c = config
                    c.vocabSize = rows
                    return c
                }
            }
            (quantizedNetwork, kept) = (.flat(ModelBox(model)), k)
        case .hierarchical(let box):
            let (model, k) = box.withModel { float in
                Self.quantize(float, weights: weights, keepWords: keepWords, scheme: scheme, make: HierarchicalClassifier.init(config:quantized:)) {
                    config, rows in
                    var c = config
                    c.vocabSize = rows
                    return c
                }
            }
            (quantizedNetwork, kept) = (.hierarchical(ModelBox(model)), k)
        }
        let all = vocabulary.allTokens
        let pruned =
            kept.count == all.count
            ? vocabulary : Vocabulary(settings: vocabulary.settings, tokens: kept.dropFirst(2).map { all[$0] }, labels: vocabulary.labels)
        var copy = TextClassifier(network: quantizedNetwork, vocabulary: pruned, options: options, calibration: calibration)
        copy.provenance = provenance
        copy.workers = workers
        return copy
    }

    /// The quantised copy of `float` (built by `make` around its tables, with the config
    /// `withRows` gives for the kept vocabulary) and the word ids kept.
    private static func quantize<N: ClassifierNetwork>(
        _ float: N, weights: Bool, keepWords: Int?, scheme: QuantizationScheme, make: (N.Config, [String: QuantizedTable]) -> N,
        withRows: (N.Config, Int) -> N.Config
    ) -> (N, [Int]) {
        let V = float.config.vocabSize
        let wordTable = float.parameter(named: "embedding.weight")!
        let E = wordTable.count / V
        let words = wordTable.value
        var kept = Array(0..<V)
        if let keepWords, keepWords < V - 2 {
            let norms = (0..<V).map { r in (0..<E).reduce(Float(0)) { s, k in s + words[r * E + k] * words[r * E + k] } }
            let top = (2..<V).sorted { norms[$0] > norms[$1] || (norms[$0] == norms[$1] && $0 < $1) }.prefix(keepWords)
            kept = [0, 1] + top.sorted()
        }
        let config = withRows(float.config, kept.count)
        var rows = [Float](repeating: 0, count: kept.count * E)
        for (i, r) in kept.enumerated() { for k in 0..<E { rows[i * E + k] = words[r * E + k] } }
        var tables = ["embedding.weight": QuantizedTable.quantize(rows, rows: kept.count, dim: E, scheme: scheme).droppingZeroRows()]
        for (name, shape) in config.tensorShapes where shape.count == 2 && name != "embedding.weight" {
            guard name == "subwords.weight" || weights, let p = float.parameter(named: name) else { continue }
            let table = name == "subwords.weight" ? scheme : .int8
            tables[name] = QuantizedTable.quantize(UnsafePointer(p.value), rows: shape[0], dim: shape[1], scheme: table).droppingZeroRows()
        }
        let q = make(config, tables)
        for p in q.parameters {
            if let t = tables[p.name] {
                p.values = t.dequantized()
            } else {
                p.value.update(from: float.parameter(named: p.name)!.value, count: p.count)
            }
        }
        return (q, kept)
    }
}
