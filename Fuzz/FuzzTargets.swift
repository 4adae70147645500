// libFuzzer harnesses (built only by `make fuzz`, with -sanitize=fuzzer,address). One binary; the
// target is chosen with HEED_FUZZ_TARGET: tsv, csv, jsonl, vocab, model, tokenizer.
import Foundation
import HeedNN
import HeedText

#if HEED_FUZZ

private let target = ProcessInfo.processInfo.environment["HEED_FUZZ_TARGET"] ?? "tokenizer"
nonisolated(unsafe) private let tokenizer = try! Tokenizer(settings: .init(keepPunctuation: true, maskNumbers: true))
/// tmpfs when there is one: the readers are file based and fuzzing calls them millions of times.
private let scratch = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()) + "heed-fuzz-\(getpid())"

/// Writes the input to a scratch file for the file-based readers.
private func scratchFile(_ data: UnsafeBufferPointer<UInt8>, _ ext: String) -> String {
    let path = scratch + "." + ext
    FileManager.default.createFile(atPath: path, contents: Data(data))
    return path
}

@_cdecl("LLVMFuzzerTestOneInput")
public func heedFuzz(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = UnsafeBufferPointer(start: bytes, count: size)
    switch target {
    case "tokenizer":
        var end = -1
        tokenizer.forEachToken(in: data) { token, start, stop in
            precondition(start >= end && start < stop && stop <= size && !token.isEmpty, "bad token range")
            end = stop
        }
    case "tsv", "csv", "jsonl":
        let format = CorpusFormat(rawValue: target)!
        _ = try? CorpusReader(CorpusSource(URL(fileURLWithPath: scratchFile(data, target)), format: format, maxDocumentBytes: 1 << 16)).readAll()
    case "vocab":
        _ = try? Vocabulary.load(URL(fileURLWithPath: scratchFile(data, "vocab")))
        _ = try? TokenCounts.load(URL(fileURLWithPath: scratchFile(data, "counts")))
    case "model":
        _ = try? ModelFile.decode(Data(data))
    default:
        fatalError("unknown HEED_FUZZ_TARGET \(target)")
    }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links executables with their own entry symbol; hand control to libFuzzer's driver.
@_cdecl("heed_fuzz_main")
public func heedFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return withUnsafeMutablePointer(to: &arguments) { pointer in
        pointer.withMemoryRebound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self, capacity: 1) {
            runDriver(&count, $0, { heedFuzz($0, $1) })
        }
    }
}
#else
/// Without the fuzzing flags (a plain `swift build`) this is only a pointer to `make fuzz`.
@main
enum FuzzingNotBuilt {
    static func main() {
        FileHandle.standardError.write(Data("heed-fuzz: build and run with `make fuzz` (libFuzzer + AddressSanitizer)\n".utf8))
        exit(2)
    }
}
#endif
