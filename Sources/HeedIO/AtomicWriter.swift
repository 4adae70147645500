#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams a file into a temp file beside `path`, fsyncs it, renames it over `path` and fsyncs the
/// folder, so readers only ever see a complete old or a complete new file, also after a crash.
/// The one writer behind vocabularies, logs, reports, models and checkpoints; each caller maps
/// failures into its own error type with `error(path, reason)`.
public enum AtomicWriter {
    public struct Sink<Failure: Error> {
        let fd: Int32
        let path: String
        let error: (String, String) -> Failure

        public func write(_ raw: UnsafeRawBufferPointer) throws(Failure) {
            var done = 0
            while done < raw.count {
                let w = systemWrite(fd, raw.baseAddress! + done, raw.count - done)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw error(path, String(cString: strerror(errno)))
                }
                done += w
            }
        }

        public func write(_ bytes: some Collection<UInt8>) throws(Failure) {
            var failure: Failure? = nil
            let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
                do throws(Failure) { try write(UnsafeRawBufferPointer(buffer)) } catch { failure = error }
            }
            if done == nil {
                Array(bytes).withUnsafeBytes { raw in
                    do throws(Failure) { try write(raw) } catch { failure = error }
                }
            }
            if let failure { throw failure }
        }
    }

    public static func write<Failure: Error>(
        to path: String, error: @escaping (_ path: String, _ reason: String) -> Failure,
        _ body: (Sink<Failure>) throws(Failure) -> Void
    ) throws(Failure) {
        let folder = folder(of: path)
        // A hidden name beside the target: same file system, so the rename is atomic.
        let suffix = ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let temp: String
        if let slash = path.lastIndex(of: "/") {
            temp = String(path[...slash]) + "." + String(path[path.index(after: slash)...]) + suffix
        } else {
            temp = "." + path + suffix
        }
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw error(path, String(cString: strerror(errno))) }
        do throws(Failure) {
            try body(Sink(fd: fd, path: path, error: error))
            guard fsync(fd) == 0 else { throw error(path, String(cString: strerror(errno))) }
        } catch let failure {
            close(fd)
            unlink(temp)
            throw failure
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw error(path, reason)
        }
        let dfd = open(folder, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// The folder part of a path ("." for a bare file name).
    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
