#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be written, and why (the system's words, or a preflight's).
public struct WriteError: Error, Equatable, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): cannot write: \(reason)" }
}

/// Preflight checks before long work whose result must be written: fail in the first second,
/// not after hours of training.
public enum FileChecks {
    /// Fails unless `path`'s folder exists and is writable and `path` is not a folder.
    public static func checkWritable(_ path: String) throws(WriteError) {
        let folder = AtomicWriter.folder(of: path)
        var info = stat()
        guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw WriteError(path: path, reason: "folder \(folder) does not exist")
        }
        guard access(folder, W_OK) == 0 else { throw WriteError(path: path, reason: "folder \(folder) is not writable") }
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { throw WriteError(path: path, reason: "is a directory") }
    }

    /// Fails when the file system holding `path` has less than `needed` bytes free for
    /// unprivileged writers; `what` names the files in the message.
    public static func checkSpace(_ path: String, needed: Int, for what: String) throws(WriteError) {
        var fs = statvfs()
        guard statvfs(AtomicWriter.folder(of: path), &fs) == 0 else { return }  // unknown: the writes will tell
        let free = Int(fs.f_bavail) &* Int(fs.f_frsize)
        if free < needed {
            func mb(_ n: Int) -> String { "\((Double(n) / 1_048_576 * 10).rounded(.up) / 10) MB" }
            throw WriteError(path: path, reason: "not enough disk space: \(what) need about \(mb(needed)), \(mb(free)) free")
        }
    }
}

extension AtomicWriter {
    /// Writes `bytes` atomically (see `write(to:error:_:)`).
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(WriteError) {
        try write(to: path, error: { WriteError(path: $0, reason: $1) }) { sink throws(WriteError) in try sink.write(bytes) }
    }

    /// Writes `text` as UTF-8 atomically.
    public static func write(_ text: String, to path: String) throws(WriteError) {
        try write(text.utf8, to: path)
    }
}
