#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import HeedIO

/// Writes a file so that readers only ever see the old complete file or the new complete one
/// (`HeedIO.AtomicWriter`: temp file beside it, fsync, rename, folder fsync).
public enum AtomicFile {
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(HeedTextError) {
        try AtomicWriter.write(to: path, error: { HeedTextError.writeFailed($0, reason: $1) }) { sink throws(HeedTextError) in
            try sink.write(bytes)
        }
    }

    public static func write(_ text: String, to path: String) throws(HeedTextError) {
        try write(text.utf8, to: path)
    }

    /// Fails early when the file system holding `path` has less than `needed` bytes free for
    /// unprivileged writers.
    public static func checkSpace(_ path: String, needed: Int, for what: String) throws(HeedTextError) {
        var fs = statvfs()
        guard statvfs(folder(of: path), &fs) == 0 else { return }  // unknown: the writes will tell
        let free = Int(fs.f_bavail) &* Int(fs.f_frsize)
        if free < needed {
            func mb(_ n: Int) -> String { "\((Double(n) / 1_048_576 * 10).rounded(.up) / 10) MB" }
            throw .writeFailed(path, reason: "not enough disk space: \(what) need about \(mb(needed)), \(mb(free)) free")
        }
    }

    static func folder(of path: String) -> String { AtomicWriter.folder(of: path) }

    /// Fails early, before hours of work, when `path` cannot be written.
    public static func checkWritable(_ path: String) throws(HeedTextError) {
        let folder = folder(of: path)
        var info = stat()
        guard stat(folder, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .writeFailed(path, reason: "folder \(folder) does not exist")
        }
        guard access(folder, W_OK) == 0 else { throw .writeFailed(path, reason: "folder \(folder) is not writable") }
        if stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR { throw .writeFailed(path, reason: "is a directory") }
    }
}
