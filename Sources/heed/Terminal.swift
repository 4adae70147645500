import Heed

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes to standard output (print() per token would dominate tokenizer time).
final class OutputBuffer {
    private var bytes: [UInt8] = []
    init() { bytes.reserveCapacity(1 << 16) }
    deinit { flush() }

    @inline(__always) func write(_ s: String) { bytes.append(contentsOf: s.utf8) }
    @inline(__always) func write(_ b: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: b) }
    @inline(__always) func write(byte: UInt8) { bytes.append(byte) }
    func maybeFlush() { if bytes.count > 1 << 16 { flush() } }
    var contents: [UInt8] { bytes }

    func flush() {
        guard !bytes.isEmpty else { return }
        writeAll(fd: 1, bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    /// A JSON string literal (quotes included) of UTF-8 bytes.
    func writeJSONString(_ s: UnsafeBufferPointer<UInt8>) {
        bytes.append(0x22)
        for b in s {
            switch b {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }

    func writeJSONString(_ s: String) {
        var s = s
        s.withUTF8 { writeJSONString($0) }
    }
}

/// Progress on stderr, only when stderr is a terminal.
struct Progress {
    let label: String
    let enabled: Bool
    init(_ label: String, quiet: Bool = false) {
        self.label = label
        enabled = !quiet && isatty(2) == 1
    }

    func update(_ done: Int, _ total: Int?) {
        guard enabled else { return }
        if let total, total > 4 << 20 {
            let percent = Int(100 * Double(done) / Double(max(total, 1)))
            writeStderr("\r\(label): \(percent)% (\(Format.megabytes(Double(done))) of \(Format.megabytes(Double(total))) MB)   ")
        } else if total == nil && done > 4 << 20 {
            writeStderr("\r\(label): \(Format.megabytes(Double(done))) MB   ")
        }
    }

    func finish() { if enabled { writeStderr("\r\u{1B}[K") } }
}

func note(_ message: String) { writeStderr(message + "\n") }

func writeStderr(_ s: String) { writeAll(fd: 2, Array(s.utf8)) }

/// write(2) until done; output errors (a closed pipe) end the write quietly.
func writeAll(fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            #if canImport(Glibc)
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            #else
            let n = Darwin.write(fd, raw.baseAddress! + offset, raw.count - offset)
            #endif
            if n <= 0 { if errno == EINTR { continue }; return }
            offset += n
        }
    }
}
