import Foundation
import HeedIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a safetensors / Heed model file was rejected.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case io(path: String, reason: String)
    case truncated(size: Int)
    case headerOverrun(headerLength: UInt64, fileSize: Int)
    case invalidHeader(String)
    case unsupportedDType(tensor: String, dtype: String)
    case invalidShape(tensor: String, reason: String)
    case offsetsOutOfRange(tensor: String, begin: Int, end: Int, dataSize: Int)
    case sizeMismatch(tensor: String, bytes: Int, expected: Int)
    case overlappingTensors(String, String)
    case notHeedFile(format: String?)
    case unsupportedVersion(String?)
    case invalidConfig(String)
    case missingTensor(String)
    case unexpectedTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    /// A quantised (int8 or 4-bit) tensor or its scales cannot be used; the message says how.
    case badQuantization(tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "cannot access \(path): \(reason)"
        case let .truncated(size): return "file is truncated: \(size) bytes is too short for a safetensors header"
        case let .headerOverrun(n, size): return "header length \(n) overruns the file (\(size) bytes)"
        case let .invalidHeader(why): return "invalid safetensors header: \(why)"
        case let .unsupportedDType(t, d):
            if d == "I8" || d == "U8" {
                let kind = d == "I8" ? "int8" : "4-bit (packed U8)"
                return "tensor \(t) is \(kind): the file was written by heed quantize, and only float files can be read here "
                    + "(train, resume or fine-tune from the float model it was quantised from)"
            }
            return "tensor \(t) has dtype \(d); only F32 (and I8 or U8 in quantised model files) is supported"
        case let .invalidShape(t, why): return "tensor \(t) has an invalid shape: \(why)"
        case let .offsetsOutOfRange(t, b, e, size):
            return "tensor \(t) data offsets [\(b), \(e)) fall outside the data section (\(size) bytes)"
        case let .sizeMismatch(t, bytes, expected):
            return "tensor \(t) spans \(bytes) bytes but its shape needs \(expected)"
        case let .overlappingTensors(a, b): return "tensors \(a) and \(b) overlap in the data section"
        case let .notHeedFile(f): return "not a Heed model file (format \(f.map { "\"\($0)\"" } ?? "missing"), expected \"heed\")"
        case let .unsupportedVersion(v): return "unsupported Heed model file version \(v ?? "missing") (this build reads \(ModelFile.version))"
        case let .invalidConfig(why): return "invalid model config: \(why)"
        case let .missingTensor(t): return "model file lacks tensor \(t)"
        case let .unexpectedTensor(t): return "model file has unexpected tensor \(t)"
        case let .shapeMismatch(t, e, f): return "tensor \(t) has shape \(f) but the config needs \(e)"
        case let .badQuantization(t, why): return "quantised tensor \(t): \(why)"
        }
    }
}

/// A named F32 tensor.
public struct NamedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
}

/// A named I8 tensor (a quantised matrix's values; its scales are a separate F32 tensor).
public struct Int8Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Int8]
    public init(shape: [Int], values: [Int8]) { self.shape = shape; self.values = values }
}

/// A named U8 tensor (a 4-bit quantised matrix's packed values, `Int4Packing`).
public struct UInt8Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [UInt8]
    public init(shape: [Int], values: [UInt8]) { self.shape = shape; self.values = values }
}

/// Minimal safetensors codec (F32, and I8 and U8 for quantised model files): 8-byte little-endian header length N, N bytes of JSON
/// header, then raw little-endian data. Parsing validates every length before allocating.
public enum SafeTensors {
    /// Throws unless `tensors` holds every expected tensor with its shape and nothing else: a file
    /// is read whole or refused.
    static func requireExactly(_ expected: [(name: String, shape: [Int])], in tensors: [String: NamedTensor]) throws(ModelFileError) {
        for (name, shape) in expected {
            guard let t = tensors[name] else { throw .missingTensor(name) }
            guard t.shape == shape else { throw .shapeMismatch(tensor: name, expected: shape, found: t.shape) }
        }
        let names = Set(expected.map(\.name))
        if let extra = tensors.keys.sorted().first(where: { !names.contains($0) }) { throw .unexpectedTensor(extra) }
    }

    /// Parses a whole file image of F32 tensors (an I8 or U8 tensor is refused: checkpoints,
    /// encoders and training read float weights only). Never reads out of bounds; every failure
    /// is a `ModelFileError`.
    public static func parse(_ data: Data) throws(ModelFileError) -> (tensors: [String: NamedTensor], metadata: [String: String]) {
        let (tensors, int8, uint8, metadata) = try parseMixed(data)
        if let name = int8.keys.sorted().first { throw .unsupportedDType(tensor: name, dtype: "I8") }
        if let name = uint8.keys.sorted().first { throw .unsupportedDType(tensor: name, dtype: "U8") }
        return (tensors, metadata)
    }

    /// Parses a whole file image of F32, I8 and U8 tensors, bounds-checked like `parse`.
    public static func parseMixed(_ data: Data) throws(ModelFileError) -> (
        tensors: [String: NamedTensor], int8: [String: Int8Tensor], uint8: [String: UInt8Tensor], metadata: [String: String]
    ) {
        let size = data.count
        guard size >= 8 else { throw .truncated(size: size) }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard n <= UInt64(size - 8) else { throw .headerOverrun(headerLength: n, fileSize: size) }
        let headerEnd = 8 + Int(n)
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + headerEnd))
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes),
            let header = json as? [String: Any]
        else { throw .invalidHeader("not a JSON object") }
        let dataSize = size - headerEnd
        var metadata: [String: String] = [:]
        var entries: [(name: String, shape: [Int], begin: Int, end: Int, dtype: String)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw .invalidHeader("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw .invalidHeader("__metadata__ value for \(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw .invalidHeader("entry \(name) is not an object") }
            guard let dtype = info["dtype"] as? String else { throw .invalidHeader("entry \(name) has no dtype") }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "I8", "U8": width = 1
            default: throw .unsupportedDType(tensor: name, dtype: dtype)
            }
            guard let rawShape = info["shape"] as? [Any] else { throw .invalidHeader("entry \(name) has no shape") }
            var shape: [Int] = []
            var count = 1
            for d in rawShape {
                guard let v = exactInt(d), v >= 0 else { throw .invalidShape(tensor: name, reason: "dimension \(d) is not a non-negative integer") }
                let (p, overflow) = count.multipliedReportingOverflow(by: v)
                guard !overflow, p <= Int.max / 4 else { throw .invalidShape(tensor: name, reason: "too many elements") }
                count = p
                shape.append(v)
            }
            guard let offs = info["data_offsets"] as? [Any], offs.count == 2,
                let begin = exactInt(offs[0]), let end = exactInt(offs[1])
            else {
                throw .invalidHeader("entry \(name) has no valid data_offsets")
            }
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw .offsetsOutOfRange(tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            guard end - begin == count * width else { throw .sizeMismatch(tensor: name, bytes: end - begin, expected: count * width) }
            entries.append((name, shape, begin, end, dtype))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for i in entries.indices.dropFirst() {
            let a = entries[i - 1], b = entries[i]
            if b.begin < a.end && b.end > b.begin && a.end > a.begin { throw .overlappingTensors(a.name, b.name) }
        }
        var tensors: [String: NamedTensor] = [:]
        var int8: [String: Int8Tensor] = [:]
        var uint8: [String: UInt8Tensor] = [:]
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + headerEnd
            for e in entries where e.dtype != "F32" {
                let bytes = [UInt8](UnsafeRawBufferPointer(start: base + e.begin, count: e.end - e.begin))
                if e.dtype == "U8" {
                    uint8[e.name] = UInt8Tensor(shape: e.shape, values: bytes)
                } else {
                    int8[e.name] = Int8Tensor(shape: e.shape, values: bytes.map { Int8(bitPattern: $0) })
                }
            }
            for e in entries where e.dtype == "F32" {
                let count = (e.end - e.begin) / 4
                var values = [Float](repeating: 0, count: count)
                values.withUnsafeMutableBytes { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: base + e.begin, count: count * 4))
                }
                #if _endian(big)
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
                #endif
                tensors[e.name] = NamedTensor(shape: e.shape, values: values)
            }
        }
        return (tensors, int8, uint8, metadata)
    }

    /// A tensor to be written straight from memory the caller keeps alive during the write.
    public struct Source {
        public var name: String
        public var shape: [Int]
        /// F32 values, or nil for an I8 or U8 tensor.
        public var values: UnsafePointer<Float>?
        /// I8 or U8 bytes, or nil for an F32 tensor.
        public var bytes: UnsafeRawPointer?
        /// "F32", "I8" or "U8".
        public var dtype: String
        public init(name: String, shape: [Int], values: UnsafePointer<Float>) {
            self.name = name; self.shape = shape; self.values = values; dtype = "F32"
        }
        public init(name: String, shape: [Int], int8: UnsafePointer<Int8>) {
            self.name = name; self.shape = shape; bytes = UnsafeRawPointer(int8); dtype = "I8"
        }
        public init(name: String, shape: [Int], uint8: UnsafePointer<UInt8>) {
            self.name = name; self.shape = shape; bytes = UnsafeRawPointer(uint8); dtype = "U8"
        }
        var count: Int { shape.reduce(1, *) }
    }

    /// The 8-byte length and the padded JSON header for tensors laid out in the given order
    /// (dtype "F32" unless given).
    static func header(_ tensors: [(name: String, shape: [Int], dtype: String)], metadata: [String: String]) -> [UInt8] {
        var header = "{"
        var offset = 0
        var first = true
        for (name, shape, dtype) in tensors {
            let bytes = shape.reduce(1, *) * (dtype == "F32" ? 4 : 1)
            header +=
                (first ? "" : ",") + jsonString(name)
                + ":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
                + "\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
            first = false
        }
        if !metadata.isEmpty {
            header += (first ? "" : ",") + "\"__metadata__\":{"
            header += metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(metadata[$0]!) }.joined(separator: ",")
            header += "}"
        }
        header += "}"
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + h.count)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        return out + h
    }

    /// Writes tensors and metadata atomically, streaming each tensor from its own memory: no
    /// image of the whole file is ever built, so saving a model costs no extra copies of it.
    public static func write(_ tensors: [Source], metadata: [String: String], to url: URL) throws(ModelFileError) {
        let head = header(tensors.map { ($0.name, $0.shape, $0.dtype) }, metadata: metadata)
        try AtomicWriter.write(to: url.path, error: { ModelFileError.io(path: $0, reason: $1) }) { sink throws(ModelFileError) in
            try sink.write(head)
            for t in tensors {
                if let q = t.bytes {
                    try sink.write(UnsafeRawBufferPointer(start: q, count: t.count))
                    continue
                }
                let values = t.values!
                #if _endian(big)
                let le = (0..<t.count).map { values[$0].bitPattern.littleEndian }
                try sink.write(le.withUnsafeBytes { Array($0) })
                #else
                try sink.write(UnsafeRawBufferPointer(start: values, count: t.count * 4))
                #endif
            }
        }
    }

    /// Serializes tensors (written in the given order) and string metadata into one image.
    public static func serialize(_ tensors: [(name: String, tensor: NamedTensor)], metadata: [String: String]) -> Data {
        for (name, t) in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "\(name): shape/value count mismatch")
        }
        var out = Data(header(tensors.map { ($0.name, $0.tensor.shape, "F32") }, metadata: metadata))
        for (_, t) in tensors {
            t.values.withUnsafeBufferPointer { buf in
                #if _endian(big)
                for v in buf { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { out.append(contentsOf: $0) } }
                #else
                out.append(UnsafeBufferPointer(start: buf.baseAddress, count: buf.count))
                #endif
            }
        }
        return out
    }

    /// `serialize` with I8 and U8 tensors too, written after the F32 ones.
    public static func serialize(
        _ tensors: [(name: String, tensor: NamedTensor)], int8: [(name: String, tensor: Int8Tensor)],
        uint8: [(name: String, tensor: UInt8Tensor)] = [], metadata: [String: String]
    ) -> Data {
        let heads =
            tensors.map { ($0.name, $0.tensor.shape, "F32") } + int8.map { ($0.name, $0.tensor.shape, "I8") }
            + uint8.map { ($0.name, $0.tensor.shape, "U8") }
        var out = Data(header(heads, metadata: metadata))
        out.append(serialize(tensors, metadata: [:]).dropFirst(header(tensors.map { ($0.name, $0.tensor.shape, "F32") }, metadata: [:]).count))
        for (name, t) in int8 {
            precondition(t.values.count == t.shape.reduce(1, *), "\(name): shape/value count mismatch")
            t.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        for (name, t) in uint8 {
            precondition(t.values.count == t.shape.reduce(1, *), "\(name): shape/value count mismatch")
            out.append(contentsOf: t.values)
        }
        return out
    }

    private static func exactInt(_ v: Any) -> Int? {
        guard let n = v as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// The Heed model file: one safetensors file with every tensor under its PyTorch state_dict
/// name, and `__metadata__` holding `format` = "heed", `version`, `config` (the network's config
/// JSON), `model` = "han" for a hierarchical network (absent for the flat classifier) plus any
/// caller entries (tokenizer settings, labels, vocabulary, …).
public enum ModelFile {
    public static let formatName = "heed"
    public static let version = "1"
    /// The metadata entry of a quantised file: `{"scheme": "int8-symmetric-per-row", "tensors": [...]}`,
    /// plus `"schemes"` when tensors use different schemes (`QuantizationEntry`).
    public static let quantizationKey = "heed.quantization"
    static let reservedKeys: Set<String> = ["format", "version", "config", "model", quantizationKey]

    /// The network a model file holds.
    public enum Network {
        /// A `Classifier` (no `model` entry).
        case flat(Classifier)
        /// A `HierarchicalClassifier` (`model` = "han").
        case hierarchical(HierarchicalClassifier)
    }

    /// The metadata a file for `model` carries: the caller's entries plus format, version, model and config.
    static func fileMetadata<N: ClassifierNetwork>(_ model: N, extra: [String: String]) throws -> [String: String] {
        for k in extra.keys where reservedKeys.contains(k) {
            throw ModelFileError.invalidConfig("metadata key \(k) is reserved")
        }
        var meta = extra
        meta["format"] = formatName
        meta["version"] = version
        if let kind = N.modelFileKind { meta["model"] = kind }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        meta["config"] = String(decoding: try enc.encode(model.config), as: UTF8.self)
        let quantized = model.quantizedTensors
        if !quantized.isEmpty {
            let order = model.config.tensorShapes.map(\.name).filter { quantized[$0] != nil }
            meta[quantizationKey] = String(decoding: try enc.encode(QuantizationEntry(order.map { (name: $0, scheme: quantized[$0]!.scheme) })), as: UTF8.self)
        }
        return meta
    }

    /// Serialized file image of `model` with extra metadata entries (keys other than
    /// format/version/model/config).
    public static func encode<N: ClassifierNetwork>(_ model: N, metadata extra: [String: String] = [:]) throws -> Data {
        precondition(model.quantizedTensors.isEmpty, "encode writes float models; save a quantised one")
        let tensors = model.parameters.map { (name: $0.name, tensor: NamedTensor(shape: $0.shape, values: $0.values)) }
        return SafeTensors.serialize(tensors, metadata: try fileMetadata(model, extra: extra))
    }

    /// Writes atomically (temp file in the same folder, fsync, rename over `url`), streaming the
    /// weights from the model's own buffers.
    public static func save<N: ClassifierNetwork>(_ model: N, to url: URL, metadata extra: [String: String] = [:]) throws {
        let meta = try fileMetadata(model, extra: extra)
        let quantized = model.quantizedTensors
        guard !quantized.isEmpty else {
            try SafeTensors.write(model.parameters.map { .init(name: $0.name, shape: $0.shape, values: $0.value) }, metadata: meta, to: url)
            return
        }
        // A quantised tensor is written as its stored bytes (int8 values, or packed 4-bit pairs as
        // U8) followed by its row scales; the float parameters that hold a small quantised matrix
        // dequantised are not written.
        var sources: [SafeTensors.Source] = []
        for (name, _) in model.config.tensorShapes {
            if let q = quantized[name] {
                var values = SafeTensors.Source(name: name, shape: [q.storedRows, q.rowBytes], uint8: q.storage)
                values.dtype = q.scheme.dtype  // int8 bit patterns (I8) or packed 4-bit pairs (U8): the stored bytes either way
                sources.append(values)
                sources.append(.init(name: name + scaleSuffix, shape: [q.storedRows], values: q.scaleStorage))
                if let present = q.presentStorage { sources.append(.init(name: name + presentSuffix, shape: [q.rows], int8: present)) }
            } else {
                guard let p = model.parameter(named: name) else { preconditionFailure("\(name): no parameter to save") }
                sources.append(.init(name: name, shape: p.shape, values: p.value))
            }
        }
        try withExtendedLifetime(quantized) { () throws(ModelFileError) in try SafeTensors.write(sources, metadata: meta, to: url) }
    }

    /// Suffix of the F32 tensor holding a quantised tensor's row scales.
    public static let scaleSuffix = ".scale"
    /// Suffix of the I8 tensor of a quantised tensor stored without its zero rows: one flag per
    /// row, 1 when stored.
    public static let presentSuffix = ".present"

    /// The `heed.quantization` entry: `tensors` lists every quantised tensor (state_dict order);
    /// each uses `scheme` unless `schemes` names another for it. A file with 4-bit tables gives
    /// `scheme` = int4 (so a reader that knows only int8 refuses it by name) and lists its int8
    /// matrices in `schemes`; an int8-only file has no `schemes`, as before 4-bit tables existed.
    struct QuantizationEntry: Codable {
        var scheme: String
        var tensors: [String]
        var schemes: [String: String]?

        /// The entry for tensors with their schemes: the headline scheme is int4 when any
        /// tensor is 4-bit, and the others are listed by name.
        init(_ tensors: [(name: String, scheme: QuantizationScheme)]) {
            let headline: QuantizationScheme = tensors.contains { $0.scheme == .int4 } ? .int4 : .int8
            scheme = headline.rawValue
            self.tensors = tensors.map(\.name)
            let others = tensors.filter { $0.scheme != headline }
            schemes = others.isEmpty ? nil : Dictionary(uniqueKeysWithValues: others.map { ($0.name, $0.scheme.rawValue) })
        }

        /// Each listed tensor's scheme, or why the entry cannot be read.
        func resolved() throws(ModelFileError) -> [String: QuantizationScheme] {
            func known(_ name: String) throws(ModelFileError) -> QuantizationScheme {
                guard let s = QuantizationScheme(rawValue: name) else {
                    let all = QuantizationScheme.allCases.map(\.rawValue).joined(separator: ", ")
                    throw .invalidConfig("quantisation scheme \"\(name)\" is unknown (this build reads \(all))")
                }
                return s
            }
            let headline = try known(scheme)
            if let extra = schemes?.keys.sorted().first(where: { !tensors.contains($0) }) {
                throw .invalidConfig("\(ModelFile.quantizationKey) gives a scheme for \(extra), which it does not list among its tensors")
            }
            var out: [String: QuantizationScheme] = [:]
            for name in tensors {
                if let given = schemes?[name] { out[name] = try known(given) } else { out[name] = headline }
            }
            return out
        }
    }

    /// Loads a flat classifier and its metadata (all entries, including format/version/config).
    public static func load(from url: URL) throws(ModelFileError) -> (model: Classifier, metadata: [String: String]) {
        try decode(try read(url))
    }

    /// Loads either network and its metadata.
    public static func loadNetwork(from url: URL) throws(ModelFileError) -> (network: Network, metadata: [String: String]) {
        try decodeNetwork(try read(url))
    }

    private static func read(_ url: URL) throws(ModelFileError) -> Data {
        do { return try Data(contentsOf: url) } catch { throw .io(path: url.path, reason: "\(error.localizedDescription)") }
    }

    /// Validates and decodes a flat classifier's file image.
    public static func decode(_ data: Data) throws(ModelFileError) -> (model: Classifier, metadata: [String: String]) {
        switch try decodeNetwork(data) {
        case let (.flat(model), meta): return (model, meta)
        case (.hierarchical, _): throw .invalidConfig("the file holds a hierarchical (han) model, not a flat classifier")
        }
    }

    /// Validates and decodes a file image of either network (`model` entry absent: flat; "han": hierarchical).
    public static func decodeNetwork(_ data: Data) throws(ModelFileError) -> (network: Network, metadata: [String: String]) {
        let (tensors, int8, uint8, meta) = try SafeTensors.parseMixed(data)
        guard meta["format"] == formatName else { throw .notHeedFile(format: meta["format"]) }
        guard meta["version"] == version else { throw .unsupportedVersion(meta["version"]) }
        if !int8.isEmpty || !uint8.isEmpty || meta[quantizationKey] != nil {
            switch meta["model"] {
            case nil: return (.flat(try quantizedNetwork(tensors, int8, uint8, meta, Classifier.init(config:quantized:))), meta)
            case HierarchicalClassifier.modelFileKind:
                return (.hierarchical(try quantizedNetwork(tensors, int8, uint8, meta, HierarchicalClassifier.init(config:quantized:))), meta)
            case let other?: throw .invalidConfig("unknown model kind \"\(other)\" (this build reads the flat classifier and han)")
            }
        }
        switch meta["model"] {
        case nil: return (.flat(try network(Classifier.self, tensors, meta)), meta)
        case HierarchicalClassifier.modelFileKind: return (.hierarchical(try network(HierarchicalClassifier.self, tensors, meta)), meta)
        case let other?: throw .invalidConfig("unknown model kind \"\(other)\" (this build reads the flat classifier and han)")
        }
    }

    /// A flat or han classifier from a quantised file (`make` builds it around its tables): every
    /// I8 or U8 tensor listed in `heed.quantization` (I8 for an int8 scheme, U8 for int4) with its
    /// F32 `.scale` tensor, every other tensor F32. The embedding tables stay quantised; the LSTM
    /// and linear weights, when quantised, are dequantised into their parameters.
    private static func quantizedNetwork<N: ClassifierNetwork>(
        _ tensors: [String: NamedTensor], _ int8: [String: Int8Tensor], _ uint8: [String: UInt8Tensor], _ meta: [String: String],
        _ make: (N.Config, [String: QuantizedTable]) -> N
    ) throws(ModelFileError) -> N {
        let config: N.Config = try decodeConfig(meta)
        guard let entryText = meta[quantizationKey] else {
            throw .badQuantization(
                tensor: (int8.keys.sorted() + uint8.keys.sorted())[0], reason: "the tensor is quantised but the file has no \(quantizationKey) entry")
        }
        guard let entry = try? JSONDecoder().decode(QuantizationEntry.self, from: Data(entryText.utf8)) else {
            throw .invalidConfig("the \(quantizationKey) entry is not a JSON object with scheme and tensors")
        }
        let schemes = try entry.resolved()
        let shapes = Dictionary(uniqueKeysWithValues: config.tensorShapes.map { ($0.name, $0.shape) })
        guard Set(entry.tensors).count == entry.tensors.count else { throw .invalidConfig("\(quantizationKey) lists a tensor twice") }
        let presentNames = Set(entry.tensors.map { $0 + presentSuffix })
        if let name = int8.keys.sorted().first(where: { !entry.tensors.contains($0) && !presentNames.contains($0) }) {
            throw .badQuantization(tensor: name, reason: "the tensor is int8 but \(quantizationKey) does not list it")
        }
        if let name = uint8.keys.sorted().first(where: { !entry.tensors.contains($0) }) {
            throw .badQuantization(tensor: name, reason: "the tensor is U8 (packed 4-bit) but \(quantizationKey) does not list it")
        }
        var tables: [String: QuantizedTable] = [:]
        for name in entry.tensors {
            guard let shape = shapes[name] else { throw .badQuantization(tensor: name, reason: "the model has no such tensor") }
            guard shape.count == 2 else { throw .badQuantization(tensor: name, reason: "only matrices are quantised, and its shape is \(shape)") }
            let scheme = schemes[name]!
            let stored: (shape: [Int], bytes: [UInt8])
            switch (scheme, int8[name], uint8[name]) {
            case (.int8, let q?, _): stored = (q.shape, q.values.map { UInt8(bitPattern: $0) })
            case (.int4, _, let q?): stored = (q.shape, q.values)
            default:
                let found: String? = tensors[name] != nil ? "F32" : int8[name] != nil ? "I8" : uint8[name] != nil ? "U8" : nil
                guard let found else { throw .missingTensor(name) }
                throw .badQuantization(
                    tensor: name, reason: "\(quantizationKey) gives it scheme \(scheme.rawValue), stored as \(scheme.dtype), but it is \(found)")
            }
            // Without its zero rows, the tensor holds as many rows as its presence flags have ones.
            var rows = shape[0]
            let present = int8[name + presentSuffix]
            if let present {
                guard present.shape == [shape[0]] else { throw .shapeMismatch(tensor: name + presentSuffix, expected: [shape[0]], found: present.shape) }
                if let bad = present.values.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                    throw .badQuantization(tensor: name, reason: "presence flag \(bad) is \(present.values[bad]), not 0 or 1")
                }
                rows = present.values.reduce(0) { $0 + Int($1) }
            }
            let width = scheme.rowBytes(dim: shape[1])
            guard stored.shape == [rows, width] else { throw .shapeMismatch(tensor: name, expected: [rows, width], found: stored.shape) }
            guard let scale = tensors[name + scaleSuffix] else {
                throw .badQuantization(tensor: name, reason: "its row scales (F32 tensor \(name + scaleSuffix), shape [\(rows)]) are missing")
            }
            guard scale.shape == [rows] else { throw .shapeMismatch(tensor: name + scaleSuffix, expected: [rows], found: scale.shape) }
            if let bad = scale.values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
                throw .badQuantization(tensor: name, reason: "row \(bad)'s scale \(scale.values[bad]) is not finite and non-negative")
            }
            switch scheme {
            case .int8:
                if let bad = stored.bytes.firstIndex(of: UInt8(bitPattern: Int8.min)) {
                    throw .badQuantization(tensor: name, reason: "value -128 at element \(bad) is outside the symmetric range -127...127")
                }
            case .int4:
                if let problem = Int4Packing.problem(stored.bytes, rows: rows, dim: shape[1]) { throw .badQuantization(tensor: name, reason: problem) }
            }
            tables[name] = QuantizedTable(
                rows: shape[0], dim: shape[1], scheme: scheme, storedBytes: stored.bytes, storedScales: scale.values, present: present?.values)
        }
        for required in ["embedding.weight"] + (config.subwordBuckets == nil ? [] : ["subwords.weight"]) where tables[required] == nil {
            throw .badQuantization(
                tensor: required, reason: "a quantised model stores its embedding tables quantised, and \(quantizationKey) does not list this one")
        }
        let floats = config.tensorShapes.filter { tables[$0.name] == nil }
        let scaleNames = Set(entry.tensors.map { $0 + scaleSuffix })
        try SafeTensors.requireExactly(floats, in: tensors.filter { !scaleNames.contains($0.key) })
        let model = make(config, tables)
        for p in model.parameters { p.values = tables[p.name]?.dequantized() ?? tensors[p.name]!.values }
        return model
    }

    private static func decodeConfig<C: NetworkConfig>(_ meta: [String: String]) throws(ModelFileError) -> C {
        guard let cfgText = meta["config"] else { throw .invalidConfig("metadata has no config") }
        let config: C
        do { config = try JSONDecoder().decode(C.self, from: Data(cfgText.utf8)) } catch {
            throw .invalidConfig("config is not valid \(C.self) JSON (\(error))")
        }
        if let p = config.problem { throw .invalidConfig(p) }
        return config
    }

    private static func network<N: ClassifierNetwork>(_: N.Type, _ tensors: [String: NamedTensor], _ meta: [String: String]) throws(ModelFileError) -> N {
        let config: N.Config = try decodeConfig(meta)
        try SafeTensors.requireExactly(config.tensorShapes, in: tensors)
        // Every tensor's bytes are present in the file, so the model's allocation is justified.
        let model = N(forLoading: config)
        for p in model.parameters { p.values = tensors[p.name]!.values }
        return model
    }
}
