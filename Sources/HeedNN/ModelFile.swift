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

    public var description: String {
        switch self {
        case let .io(path, reason): return "cannot access \(path): \(reason)"
        case let .truncated(size): return "file is truncated: \(size) bytes is too short for a safetensors header"
        case let .headerOverrun(n, size): return "header length \(n) overruns the file (\(size) bytes)"
        case let .invalidHeader(why): return "invalid safetensors header: \(why)"
        case let .unsupportedDType(t, d): return "tensor \(t) has dtype \(d); only F32 is supported"
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
        }
    }
}

/// A named F32 tensor.
public struct NamedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
}

/// Minimal safetensors codec (F32 only): 8-byte little-endian header length N, N bytes of JSON
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

    /// Parses a whole file image. Never reads out of bounds; every failure is a `ModelFileError`.
    public static func parse(_ data: Data) throws(ModelFileError) -> (tensors: [String: NamedTensor], metadata: [String: String]) {
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
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
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
            guard dtype == "F32" else { throw .unsupportedDType(tensor: name, dtype: dtype) }
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
            guard end - begin == count * 4 else { throw .sizeMismatch(tensor: name, bytes: end - begin, expected: count * 4) }
            entries.append((name, shape, begin, end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for i in entries.indices.dropFirst() {
            let a = entries[i - 1], b = entries[i]
            if b.begin < a.end && b.end > b.begin && a.end > a.begin { throw .overlappingTensors(a.name, b.name) }
        }
        var tensors: [String: NamedTensor] = [:]
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + headerEnd
            for e in entries {
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
        return (tensors, metadata)
    }

    /// A tensor to be written straight from memory the caller keeps alive during the write.
    public struct Source {
        public var name: String
        public var shape: [Int]
        public var values: UnsafePointer<Float>
        public init(name: String, shape: [Int], values: UnsafePointer<Float>) {
            self.name = name; self.shape = shape; self.values = values
        }
        var count: Int { shape.reduce(1, *) }
    }

    /// The 8-byte length and the padded JSON header for tensors laid out in the given order.
    static func header(_ tensors: [(name: String, shape: [Int])], metadata: [String: String]) -> [UInt8] {
        var header = "{"
        var offset = 0
        var first = true
        for (name, shape) in tensors {
            let bytes = shape.reduce(1, *) * 4
            header +=
                (first ? "" : ",") + jsonString(name)
                + ":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
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
        let head = header(tensors.map { ($0.name, $0.shape) }, metadata: metadata)
        try AtomicWriter.write(to: url.path, error: { ModelFileError.io(path: $0, reason: $1) }) { sink throws(ModelFileError) in
            try sink.write(head)
            for t in tensors {
                #if _endian(big)
                let le = (0..<t.count).map { t.values[$0].bitPattern.littleEndian }
                try sink.write(le.withUnsafeBytes { Array($0) })
                #else
                try sink.write(UnsafeRawBufferPointer(start: t.values, count: t.count * 4))
                #endif
            }
        }
    }

    /// Serializes tensors (written in the given order) and string metadata into one image.
    public static func serialize(_ tensors: [(name: String, tensor: NamedTensor)], metadata: [String: String]) -> Data {
        for (name, t) in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "\(name): shape/value count mismatch")
        }
        var out = Data(header(tensors.map { ($0.name, $0.tensor.shape) }, metadata: metadata))
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
    static let reservedKeys: Set<String> = ["format", "version", "config", "model"]

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
        return meta
    }

    /// Serialized file image of `model` with extra metadata entries (keys other than
    /// format/version/model/config).
    public static func encode<N: ClassifierNetwork>(_ model: N, metadata extra: [String: String] = [:]) throws -> Data {
        let tensors = model.parameters.map { (name: $0.name, tensor: NamedTensor(shape: $0.shape, values: $0.values)) }
        return SafeTensors.serialize(tensors, metadata: try fileMetadata(model, extra: extra))
    }

    /// Writes atomically (temp file in the same folder, fsync, rename over `url`), streaming the
    /// weights from the model's own buffers.
    public static func save<N: ClassifierNetwork>(_ model: N, to url: URL, metadata extra: [String: String] = [:]) throws {
        let meta = try fileMetadata(model, extra: extra)
        try SafeTensors.write(model.parameters.map { .init(name: $0.name, shape: $0.shape, values: $0.value) }, metadata: meta, to: url)
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
        let (tensors, meta) = try SafeTensors.parse(data)
        guard meta["format"] == formatName else { throw .notHeedFile(format: meta["format"]) }
        guard meta["version"] == version else { throw .unsupportedVersion(meta["version"]) }
        switch meta["model"] {
        case nil: return (.flat(try network(Classifier.self, tensors, meta)), meta)
        case HierarchicalClassifier.modelFileKind: return (.hierarchical(try network(HierarchicalClassifier.self, tensors, meta)), meta)
        case let other?: throw .invalidConfig("unknown model kind \"\(other)\" (this build reads the flat classifier and han)")
        }
    }

    private static func network<N: ClassifierNetwork>(_: N.Type, _ tensors: [String: NamedTensor], _ meta: [String: String]) throws(ModelFileError) -> N {
        guard let cfgText = meta["config"] else { throw .invalidConfig("metadata has no config") }
        let config: N.Config
        do { config = try JSONDecoder().decode(N.Config.self, from: Data(cfgText.utf8)) } catch {
            throw .invalidConfig("config is not valid \(N.Config.self) JSON (\(error))")
        }
        if let p = config.problem { throw .invalidConfig(p) }
        try SafeTensors.requireExactly(config.tensorShapes, in: tensors)
        // Every tensor's bytes are present in the file, so the model's allocation is justified.
        let model = N(config: config, seed: 0, embeddingStd: 1)
        for p in model.parameters { p.values = tensors[p.name]!.values }
        return model
    }
}
