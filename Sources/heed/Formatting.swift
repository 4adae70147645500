/// The command line's one number formatter and one padding helper, so every table and message
/// rounds and aligns alike.
enum Format {
    /// `x` rounded to `digits` decimals ("0.1235" for 0.12345 and 4).
    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return "\((x * scale).rounded() / scale)"
    }

    /// `x` with exactly `digits` decimals ("0.170" for 0.17 and 3), for table columns.
    static func decimals(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        return String(format: "%.\(digits)f", x)
    }

    /// A share as a percentage with one decimal ("79.1%").
    static func percent(_ x: Double) -> String { fixed(100 * x, 1) + "%" }

    /// Bytes as megabytes with one decimal.
    static func megabytes(_ bytes: Double) -> String { fixed(bytes / 1_048_576, 1) }

    /// `s` padded with spaces to `width` characters, on the right (`.left` alignment) or the left.
    static func pad(_ s: String, _ width: Int, alignRight: Bool = false) -> String {
        guard s.count < width else { return s }
        let fill = String(repeating: " ", count: width - s.count)
        return alignRight ? fill + s : s + fill
    }
}

func fixed(_ x: Double, _ digits: Int) -> String { Format.fixed(x, digits) }
func percent(_ x: Double) -> String { Format.percent(x) }
