#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams a file (or standard input) line by line with one reusable buffer, so a corpus larger
/// than memory can be read. Strips a leading UTF-8 BOM and a trailing CR before LF.
package final class LineReader {
    let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: UnsafeMutableBufferPointer<UInt8>
    private var start = 0, end = 0
    private var atEOF = false
    private let maxLineBytes: Int
    package private(set) var lineNumber = 0
    /// Total bytes consumed so far, for progress reports.
    private(set) var bytesRead = 0

    /// `path` "-" reads standard input.
    package init(path: String, maxLineBytes: Int = Int.max) throws(HeedTextError) {
        self.path = path
        self.maxLineBytes = maxLineBytes
        if path == "-" {
            fd = 0
            ownsDescriptor = false
        } else {
            var info = stat()
            guard stat(path, &info) == 0 else { throw .fileNotFound(path) }
            guard (info.st_mode & S_IFMT) != S_IFDIR else { throw .unreadable(path, reason: "is a directory") }
            fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw .unreadable(path, reason: String(cString: strerror(errno))) }
            ownsDescriptor = true
        }
        buffer = .allocate(capacity: 1 << 20)
    }

    deinit {
        buffer.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// Displayed name: "<stdin>" for "-".
    package var displayName: String { path == "-" ? "<stdin>" : path }

    /// Size of the file in bytes, or nil for standard input or pipes.
    var fileSize: Int? {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }

    /// Calls `body` with each line (without its line end); the bytes are valid only during the call.
    /// Lines longer than `maxLineBytes` throw `documentTooLong` without buffering them whole.
    package func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws(HeedTextError) -> Void) throws(HeedTextError) {
        var first = true
        while true {
            // Find the next LF in the buffered bytes, refilling (and growing) as needed.
            var scanFrom = start
            var newline = -1
            while true {
                if let base = buffer.baseAddress, scanFrom < end,
                    let hit = memchr(base + scanFrom, 0x0A, end - scanFrom)
                {
                    newline = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    break
                }
                if atEOF { break }
                if end - start - 2 > maxLineBytes {  // (+2: a CR LF may still follow)
                    throw .documentTooLong(file: displayName, line: lineNumber + 1, bytes: end - start, limit: maxLineBytes)
                }
                let scanned = end - start  // fill() moves the pending bytes to the front
                try fill()
                scanFrom = start + scanned
            }
            if newline < 0 && start == end { return }
            lineNumber += 1
            var lineStart = start, lineEnd = newline >= 0 ? newline : end
            start = newline >= 0 ? newline + 1 : end
            bytesRead += (newline >= 0 ? newline + 1 : end) - lineStart
            if first {
                first = false
                if lineEnd - lineStart >= 3, buffer[lineStart] == 0xEF, buffer[lineStart + 1] == 0xBB, buffer[lineStart + 2] == 0xBF {
                    lineStart += 3
                }
            }
            if lineEnd > lineStart && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            if lineEnd - lineStart > maxLineBytes {
                throw .documentTooLong(file: displayName, line: lineNumber, bytes: lineEnd - lineStart, limit: maxLineBytes)
            }
            try body(UnsafeBufferPointer(rebasing: buffer[lineStart..<lineEnd]))
        }
    }

    /// Moves unread bytes to the front, grows the buffer if it is full, and reads more.
    private func fill() throws(HeedTextError) {
        if start > 0 {
            let pending = end - start
            if pending > 0 { buffer.baseAddress!.update(from: buffer.baseAddress! + start, count: pending) }
            start = 0
            end = pending
        }
        if end == buffer.count {
            let bigger = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: buffer.count * 2)
            bigger.baseAddress!.update(from: buffer.baseAddress!, count: end)
            buffer.deallocate()
            buffer = bigger
        }
        let n = read(fd, buffer.baseAddress! + end, buffer.count - end)
        if n < 0 {
            if errno == EINTR { return }
            throw .unreadable(displayName, reason: String(cString: strerror(errno)))
        }
        if n == 0 { atEOF = true }
        end += n
    }
}
