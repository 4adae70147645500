/// Errors from reading, tokenizing and vocabulary handling. Each message names the file and,
/// where there is one, the line, so the user can go and fix it.
public enum HeedTextError: Error, CustomStringConvertible, Equatable, Sendable {
    case fileNotFound(String)
    case unreadable(String, reason: String)
    case invalidUTF8(file: String, line: Int, byteOffset: Int)
    case missingTab(file: String, line: Int)
    case emptyLabel(file: String, line: Int)
    case badJSON(file: String, line: Int, reason: String)
    case badCSV(file: String, reason: String)
    case documentTooLong(file: String, line: Int, bytes: Int, limit: Int)
    case noDocuments(String)
    case malformedHeader(String)
    case malformedVocabulary(file: String, line: Int, reason: String)
    case settingsMismatch(file: String, differences: [String])
    case unknownLocale(String, reason: String)
    case writeFailed(String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let f): return "\(f): no such file"
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .invalidUTF8(let f, let l, let o): return "\(f):\(l): invalid UTF-8 at byte \(o) of the line (convert the file to UTF-8, e.g. with iconv)"
        case .missingTab(let f, let l): return "\(f):\(l): expected label<TAB>text but the line has no tab (read unlabelled text with the plain-text format)"
        case .emptyLabel(let f, let l): return "\(f):\(l): the label is empty"
        case .badJSON(let f, let l, let r): return "\(f):\(l): \(r)"
        case .badCSV(let f, let r): return "\(f): \(r)"
        case .documentTooLong(let f, let l, let b, let lim): return "\(f):\(l): document is \(b) bytes, over the limit of \(lim) (raise the document size limit or split it)"
        case .noDocuments(let f): return "\(f): contains no documents"
        case .malformedHeader(let r): return "malformed header: \(r)"
        case .malformedVocabulary(let f, let l, let r): return "\(f):\(l): \(r)"
        case .settingsMismatch(let f, let d): return "\(f): was built with different tokenizer settings (\(d.joined(separator: "; "))); rebuild it or pass matching options"
        case .unknownLocale(let l, let r): return "cannot open an ICU word breaker for locale \"\(l)\": \(r)"
        case .writeFailed(let f, let r): return "\(f): cannot write: \(r)"
        }
    }
}
