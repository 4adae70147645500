import Foundation
import Testing

@testable import HeedNN

private func rawFile(_ header: String, data: Int) -> Data {
    var h = Array(header.utf8)
    var out = Data()
    var n = UInt64(h.count).littleEndian
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    h.removeAll()
    out.append(Data(count: data))
    return out
}

private func expectError(_ data: Data, _ check: (ModelFileError) -> Bool, _ what: String) {
    do {
        _ = try ModelFile.decode(data)
        Issue.record("\(what): loaded without error")
    } catch {
        #expect(check(error), "\(what): got \(error)")
        #expect(!error.description.isEmpty)
    }
}

@Suite struct ModelFileTests {
    static let config = ClassifierConfig(
        vocabSize: 9, embedDim: 3, hiddenDim: 2, bidirectional: true,
        pooling: .attention, scorer: .additive, attentionDim: 4, classes: 3)

    func image(
        config: ClassifierConfig = config, meta: [String: String]? = nil,
        drop: String? = nil, add: Bool = false, reshape: String? = nil
    ) -> Data {
        let model = Classifier(config: config, seed: 3)
        var tensors = model.parameters.map { (name: $0.name, tensor: NamedTensor(shape: $0.shape, values: $0.values)) }
        tensors.removeAll { $0.name == drop }
        if add { tensors.append((name: "extra.weight", tensor: NamedTensor(shape: [1], values: [1]))) }
        if let r = reshape, let i = tensors.firstIndex(where: { $0.name == r }) {
            tensors[i].tensor.shape = [tensors[i].tensor.values.count]
        }
        let cfg = String(decoding: try! JSONEncoder().encode(config), as: UTF8.self)
        return SafeTensors.serialize(tensors, metadata: meta ?? ["format": "heed", "version": "1", "config": cfg])
    }

    @Test func roundTripIsExactAndAtomic() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("heed-mf-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.heed")
        let model = Classifier(config: Self.config, seed: 11)
        let extra = ["labels": "[\"neg\",\"pos\",\"ünï \\\"q\\\"\"]", "vocab": "a\nb\tc\u{1}\u{7F}日本"]
        try ModelFile.save(model, to: url, metadata: extra)
        try ModelFile.save(model, to: url, metadata: extra)  // overwrite in place
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model.heed"])
        let (loaded, meta) = try ModelFile.load(from: url)
        #expect(loaded.config == Self.config)
        #expect(meta["labels"] == extra["labels"] && meta["vocab"] == extra["vocab"])
        #expect(meta["format"] == "heed" && meta["version"] == ModelFile.version)
        for (a, b) in zip(model.parameters, loaded.parameters) {
            #expect(a.name == b.name && a.values == b.values)
        }
        let ids: [Int32] = [1, 2, 3, 4, 0, 0]
        let a = model.forward(ids: ids, lengths: [3, 2], batch: 2, steps: 3, training: false)
        let b = loaded.forward(ids: ids, lengths: [3, 2], batch: 2, steps: 3, training: false)
        #expect(a.logits == b.logits)
        if let out = ProcessInfo.processInfo.environment["HEED_MODEL_OUT"] {
            // For `scripts/make_fixtures.py --check-model`: PyTorch must reproduce these logits.
            let probe = model.forward(ids: [3, 1, 0, 2, 0, 0], lengths: [2, 1], batch: 2, steps: 3, training: false)
            var m = extra
            m["check.logits"] = "[" + probe.logits.map { "\($0)" }.joined(separator: ",") + "]"
            try ModelFile.save(model, to: URL(fileURLWithPath: out), metadata: m)
        }
        #expect(throws: ModelFileError.self) { try ModelFile.save(model, to: url, metadata: ["config": "x"]) }
    }

    @Test func missingFile() {
        #expect(throws: ModelFileError.self) { try ModelFile.load(from: URL(fileURLWithPath: "/nonexistent/heed/model")) }
    }

    @Test func truncatedFiles() {
        let full = image()
        expectError(Data(full.prefix(5)), { if case .truncated = $0 { true } else { false } }, "5 bytes")
        expectError(Data(full.prefix(40)), { if case .headerOverrun = $0 { true } else { false } }, "cut in header")
        expectError(Data(full.prefix(full.count - 3)), { if case .offsetsOutOfRange = $0 { true } else { false } }, "cut in data")
    }

    @Test func headerLengthOverrun() {
        var d = image()
        for i in 0..<8 { d[i] = 0xFF }  // 2^64-1: must not allocate or read
        expectError(d, { if case .headerOverrun = $0 { true } else { false } }, "huge header length")
    }

    @Test func formatAndVersion() {
        let cfg = String(decoding: try! JSONEncoder().encode(Self.config), as: UTF8.self)
        expectError(
            image(meta: ["format": "pt", "version": "1", "config": cfg]),
            { $0 == .notHeedFile(format: "pt") }, "wrong format")
        expectError(image(meta: ["version": "1", "config": cfg]), { $0 == .notHeedFile(format: nil) }, "no format")
        expectError(
            image(meta: ["format": "heed", "version": "99", "config": cfg]),
            { $0 == .unsupportedVersion("99") }, "wrong version")
        expectError(
            image(meta: ["format": "heed", "version": "1", "config": "{"]),
            { if case .invalidConfig = $0 { true } else { false } }, "bad config")
    }

    @Test func malformedHeaders() {
        expectError(rawFile("not json", data: 0), { if case .invalidHeader = $0 { true } else { false } }, "not JSON")
        expectError(rawFile("[1]", data: 0), { if case .invalidHeader = $0 { true } else { false } }, "array")
        expectError(
            rawFile(#"{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#, data: 2),
            { $0 == .unsupportedDType(tensor: "a", dtype: "F16") }, "dtype")
        expectError(
            rawFile(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4),
            { if case .invalidShape = $0 { true } else { false } }, "negative dim")
        expectError(
            rawFile(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: 4),
            { if case .invalidShape = $0 { true } else { false } }, "overflowing shape")
        expectError(
            rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#, data: 8),
            { if case .offsetsOutOfRange = $0 { true } else { false } }, "end past data")
        expectError(
            rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: 8),
            { if case .offsetsOutOfRange = $0 { true } else { false } }, "begin after end")
        expectError(
            rawFile(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8),
            { if case .sizeMismatch = $0 { true } else { false } }, "size vs shape")
        expectError(
            rawFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12),
            { $0 == .overlappingTensors("a", "b") }, "overlap")
        expectError(
            rawFile(#"{"__metadata__":{"format":1}}"#, data: 0),
            { if case .invalidHeader = $0 { true } else { false } }, "metadata value")
    }

    @Test func tensorsMustMatchConfig() {
        expectError(image(drop: "lstm.weight_hh_l0_reverse"), { $0 == .missingTensor("lstm.weight_hh_l0_reverse") }, "missing")
        expectError(image(add: true), { $0 == .unexpectedTensor("extra.weight") }, "unexpected")
        expectError(
            image(reshape: "attention.proj.weight"),
            { $0 == .shapeMismatch(tensor: "attention.proj.weight", expected: [4, 4], found: [16]) }, "shape")
        // A config whose shapes the stored tensors do not have.
        var other = Self.config
        other.hiddenDim = 3
        let cfg = String(decoding: try! JSONEncoder().encode(other), as: UTF8.self)
        expectError(
            image(meta: ["format": "heed", "version": "1", "config": cfg]),
            { if case .shapeMismatch = $0 { true } else { false } }, "config disagrees")
    }

    /// The encoder fields round-trip; a plain model writes neither (older readers and older
    /// files agree), and a file without them loads as `.lstm`.
    @Test func encoderFieldsRoundTripAndOldFilesLoad() throws {
        var orthogonal = Self.config
        orthogonal.encoder = .orthogonal
        var diversity = Self.config
        diversity.encoder = .diversity
        diversity.diversityWeight = 0.5
        for cfg in [orthogonal, diversity] {
            let (loaded, _) = try ModelFile.decode(image(config: cfg))
            #expect(loaded.config == cfg)
            #expect(loaded.lstm.forwardDir.orthogonal == (cfg.encoder == .orthogonal))
            #expect(loaded.lstm.reverseDir?.orthogonal == (cfg.encoder == .orthogonal))
        }
        let plain = String(decoding: try JSONEncoder().encode(Self.config), as: UTF8.self)
        #expect(!plain.contains("encoder") && !plain.contains("diversityWeight"))
        let (old, _) = try ModelFile.decode(image())
        #expect(old.config.encoder == nil && old.config.resolvedEncoder == .lstm && !old.lstm.forwardDir.orthogonal)
        // λ without the diversity encoder, or a negative λ, is an invalid config.
        var stray = Self.config
        stray.diversityWeight = 0.5
        var negative = diversity
        negative.diversityWeight = -1
        for bad in [stray, negative] {
            let cfg = String(decoding: try JSONEncoder().encode(bad), as: UTF8.self)
            expectError(
                image(meta: ["format": "heed", "version": "1", "config": cfg]),
                { if case .invalidConfig = $0 { true } else { false } }, "bad diversityWeight")
        }
    }
}
