/// How a quantised matrix stores its values: symmetric per-row levels −L…L (one Float scale per
/// row), in int8 or as 4-bit values packed two to a byte. The raw value is the name recorded in
/// model files (`heed.quantization`), so a reader that does not know a scheme refuses the file.
public enum QuantizationScheme: String, Sendable, CaseIterable, Codable {
    /// One int8 per value, −127…127 (safetensors `I8`, shape `[R, K]`).
    case int8 = "int8-symmetric-per-row"
    /// One 4-bit two's-complement value per nibble, −7…7 (safetensors `U8`, shape `[R, ⌈K/2⌉]`):
    /// element 2j in the low nibble of byte j, 2j+1 in its high nibble (`Int4Packing`).
    case int4 = "int4-symmetric-per-row"

    /// Bits per value.
    public var bits: Int {
        switch self {
        case .int8: 8
        case .int4: 4
        }
    }

    /// The largest level: values lie in −level…level, so the scheme is symmetric about 0 (int8's
    /// −128 and int4's −8 are never written and are refused on reading).
    public var level: Int {
        switch self {
        case .int8: 127
        case .int4: 7
        }
    }

    /// Bytes one row of `dim` values occupies.
    public func rowBytes(dim: Int) -> Int {
        switch self {
        case .int8: dim
        case .int4: (dim + 1) / 2
        }
    }

    /// The safetensors dtype of the stored values.
    public var dtype: String {
        switch self {
        case .int8: "I8"
        case .int4: "U8"
        }
    }

    /// The scheme storing `bits` bits per value, nil for any other width.
    public init?(bits: Int) {
        guard let s = Self.allCases.first(where: { $0.bits == bits }) else { return nil }
        self = s
    }
}
