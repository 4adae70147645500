import Foundation

/// Just enough of ONNX's protobuf messages (onnx/onnx.proto) to write an inference graph, encoded
/// by hand: protobuf's wire format is a few lines of varints and length prefixes, which is less
/// than a generated-code dependency would be. Writes IR version 8 with the default-domain opset
/// `ONNXModel.opset` (17); every field number below is onnx.proto's.
package enum ONNX {
    /// Element types (`TensorProto.DataType`).
    package enum DataType: Int {
        case float = 1
        case uint8 = 2
        case int8 = 3
        case int32 = 6
        case int64 = 7
        case bool = 9
    }

    /// A dimension of a graph input or output: fixed, or named (symbolic: batch, time, ...).
    package enum Dimension: Sendable {
        case fixed(Int)
        case named(String)
    }

    /// A node attribute (`AttributeProto`); only the kinds the exporter uses.
    package enum AttributeValue {
        case int(Int)
        case float(Float)
        case string(String)
        case ints([Int])
        case floats([Float])
        case strings([String])
        /// A subgraph (the body of `Scan`).
        case graph(Graph)
    }

    /// A `GraphProto` used as an attribute (a `Scan` body): its nodes may read the outer graph's
    /// values by name.
    package struct Graph {
        package var name: String
        package var nodes: [Node] = []
        package var inputs: [ValueInfo] = []
        package var outputs: [ValueInfo] = []

        package init(name: String) { self.name = name }
    }

    /// `NodeProto`: one operator application in the default domain.
    package struct Node {
        package var op: String
        package var inputs: [String]
        package var outputs: [String]
        package var name: String
        package var attributes: [(String, AttributeValue)]

        package init(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "", attributes: [(String, AttributeValue)] = []) {
            self.op = op
            self.inputs = inputs
            self.outputs = outputs
            self.name = name
            self.attributes = attributes
        }
    }

    /// `TensorProto` with its values as little-endian `raw_data`.
    package struct Tensor {
        package var name: String
        package var type: DataType
        package var dims: [Int]
        package var raw: [UInt8]

        /// A float tensor; `values.count` must be the product of `dims`.
        package init(name: String, dims: [Int], floats values: [Float]) {
            precondition(values.count == dims.reduce(1, *), "\(name): \(values.count) values for shape \(dims)")
            self.name = name
            type = .float
            self.dims = dims
            raw = []
            raw.reserveCapacity(values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        }

        /// A one-byte tensor (int8 or uint8) from its bytes: quantised tables keep their file image.
        package init(name: String, type: DataType, dims: [Int], bytes: [UInt8]) {
            precondition(type == .int8 || type == .uint8, "\(name): \(type) is not a one-byte type")
            precondition(bytes.count == dims.reduce(1, *), "\(name): \(bytes.count) bytes for shape \(dims)")
            self.name = name
            self.type = type
            self.dims = dims
            raw = bytes
        }

        /// An int32 tensor (row maps of quantised tables: half the bytes of int64 indices).
        package init(name: String, dims: [Int], int32s values: [Int32]) {
            precondition(values.count == dims.reduce(1, *), "\(name): \(values.count) values for shape \(dims)")
            self.name = name
            type = .int32
            self.dims = dims
            raw = []
            raw.reserveCapacity(values.count * 4)
            for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
        }

        /// An int64 tensor (shapes, axes, indices).
        package init(name: String, dims: [Int], int64s values: [Int]) {
            precondition(values.count == dims.reduce(1, *), "\(name): \(values.count) values for shape \(dims)")
            self.name = name
            type = .int64
            self.dims = dims
            raw = []
            raw.reserveCapacity(values.count * 8)
            for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { raw.append(contentsOf: $0) } }
        }
    }

    /// `ValueInfoProto` of a tensor-typed graph input or output.
    package struct ValueInfo {
        package var name: String
        package var type: DataType
        package var shape: [Dimension]
        package var doc: String

        package init(_ name: String, _ type: DataType, _ shape: [Dimension], doc: String = "") {
            self.name = name
            self.type = type
            self.shape = shape
            self.doc = doc
        }
    }

    /// `GraphProto` and the `ModelProto` around it.
    package struct Model {
        package var graphName: String
        package var nodes: [Node] = []
        package var initializers: [Tensor] = []
        package var inputs: [ValueInfo] = []
        package var outputs: [ValueInfo] = []
        package var doc = ""
        /// `metadata_props`, written in this order.
        package var metadata: [(String, String)] = []
        package var producerVersion = ""

        /// ONNX IR version written (8: ONNX 1.12 and later, the first with opset 17).
        package static let irVersion = 8
        /// Version of the default-domain operator set the graph uses.
        package static let opset = 17

        package init(graphName: String) { self.graphName = graphName }

        /// The serialised `ModelProto`.
        package func serialized() -> [UInt8] {
            var graph = ProtoWriter()
            for n in nodes { graph.message(1, Self.encode(n)) }
            graph.string(2, graphName)
            for t in initializers { graph.message(5, Self.encode(t)) }
            if !doc.isEmpty { graph.string(10, doc) }
            for v in inputs { graph.message(11, Self.encode(v)) }
            for v in outputs { graph.message(12, Self.encode(v)) }

            var model = ProtoWriter()
            model.varint(1, UInt64(Self.irVersion))
            model.string(2, "heed")
            if !producerVersion.isEmpty { model.string(3, producerVersion) }
            model.message(7, graph.bytes)
            var opsetID = ProtoWriter()
            opsetID.string(1, "")
            opsetID.varint(2, UInt64(Self.opset))
            model.message(8, opsetID.bytes)
            for (key, value) in metadata {
                var entry = ProtoWriter()
                entry.string(1, key)
                entry.string(2, value)
                model.message(14, entry.bytes)
            }
            return model.bytes
        }

        private static func encode(_ n: Node) -> [UInt8] {
            var w = ProtoWriter()
            for i in n.inputs { w.string(1, i) }
            for o in n.outputs { w.string(2, o) }
            if !n.name.isEmpty { w.string(3, n.name) }
            w.string(4, n.op)
            for (name, value) in n.attributes {
                var a = ProtoWriter()
                a.string(1, name)
                // AttributeProto.type: FLOAT 1, INT 2, STRING 3, GRAPH 5, FLOATS 6, INTS 7, STRINGS 8.
                switch value {
                case .float(let f):
                    a.fixed32(2, f.bitPattern)
                    a.varint(20, 1)
                case .int(let i):
                    a.varint(3, UInt64(bitPattern: Int64(i)))
                    a.varint(20, 2)
                case .string(let s):
                    a.string(4, s)
                    a.varint(20, 3)
                case .floats(let fs):
                    for f in fs { a.fixed32(7, f.bitPattern) }
                    a.varint(20, 6)
                case .ints(let xs):
                    for x in xs { a.varint(8, UInt64(bitPattern: Int64(x))) }
                    a.varint(20, 7)
                case .strings(let ss):
                    for s in ss { a.string(9, s) }
                    a.varint(20, 8)
                case .graph(let g):
                    a.message(6, encode(g))
                    a.varint(20, 5)
                }
                w.message(5, a.bytes)
            }
            return w.bytes
        }

        private static func encode(_ g: Graph) -> [UInt8] {
            var w = ProtoWriter()
            for n in g.nodes { w.message(1, encode(n)) }
            w.string(2, g.name)
            for v in g.inputs { w.message(11, encode(v)) }
            for v in g.outputs { w.message(12, encode(v)) }
            return w.bytes
        }

        private static func encode(_ t: Tensor) -> [UInt8] {
            var w = ProtoWriter()
            for d in t.dims { w.varint(1, UInt64(d)) }
            w.varint(2, UInt64(t.type.rawValue))
            w.string(8, t.name)
            w.bytes(9, t.raw)
            return w.bytes
        }

        private static func encode(_ v: ValueInfo) -> [UInt8] {
            var shape = ProtoWriter()
            for d in v.shape {
                var dim = ProtoWriter()
                switch d {
                case .fixed(let n): dim.varint(1, UInt64(n))
                case .named(let s): dim.string(2, s)
                }
                shape.message(1, dim.bytes)
            }
            var tensorType = ProtoWriter()
            tensorType.varint(1, UInt64(v.type.rawValue))
            tensorType.message(2, shape.bytes)
            var type = ProtoWriter()
            type.message(1, tensorType.bytes)
            var w = ProtoWriter()
            w.string(1, v.name)
            w.message(2, type.bytes)
            if !v.doc.isEmpty { w.string(3, v.doc) }
            return w.bytes
        }
    }
}

/// Protobuf wire format: each field is a varint key (number << 3 | wire type) then a varint
/// (type 0), a little-endian 32-bit value (type 5) or a varint length and that many bytes (type 2).
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }

    mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, 0)
        rawVarint(value)
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        key(field, 5)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ value: [UInt8]) { bytes(field, value) }
}
