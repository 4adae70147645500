/// Errors from reading, tokenizing and vocabulary handling. Each message names the file and,
/// where there is one, the line, so the user can go and fix it.
public enum HeedTextError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or folder does not exist (or cannot be opened).
    case fileNotFound(String)
    /// The path exists but cannot be read: a folder where a file is expected, no permission, an
    /// I/O error.
    case unreadable(String, reason: String)
    /// The line is not UTF-8; `byteOffset` is the first bad byte within the line.
    case invalidUTF8(file: String, line: Int, byteOffset: Int)
    /// A TSV line has no tab between label and text (unlabelled text is the plain-text format).
    case missingTab(file: String, line: Int)
    /// A document's label is the empty string.
    case emptyLabel(file: String, line: Int)
    /// A JSON Lines line is not an object with a string text field and a string or number label.
    case badJSON(file: String, line: Int, reason: String)
    /// A CSV file cannot be used: no header, no text column, a row with the wrong field count.
    case badCSV(file: String, reason: String)
    /// A document is larger than the source's `maxDocumentBytes`.
    case documentTooLong(file: String, line: Int, bytes: Int, limit: Int)
    /// The input holds no document (an empty file, only blank lines, an empty list).
    case noDocuments(String)
    /// A tokenizer-settings header cannot be parsed, or a label cannot be written into one.
    case malformedHeader(String)
    /// A line of a vocabulary or count file is malformed.
    case malformedVocabulary(file: String, line: Int, reason: String)
    /// A vocabulary or count file was made with other tokenizer settings than required;
    /// `differences` lists each one.
    case settingsMismatch(file: String, differences: [String])
    /// ICU has no word breaker for the locale.
    case unknownLocale(String, reason: String)
    /// A file could not be written (no space, no permission). Writes are atomic, so a file that
    /// was there before is left as it was.
    case writeFailed(String, reason: String)

    /// The message for the user: what went wrong, where, and often how to fix it.
    public var description: String {
        switch self {
        case .fileNotFound(let f): return "\(f): no such file"
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .invalidUTF8(let f, let l, let o): return "\(f):\(l): invalid UTF-8 at byte \(o) of the line (convert the file to UTF-8, e.g. with iconv)"
        case .missingTab(let f, let l): return "\(f):\(l): expected label<TAB>text but the line has no tab (read unlabelled text with the plain-text format)"
        case .emptyLabel(let f, let l): return "\(f):\(l): the label is empty"
        case .badJSON(let f, let l, let r): return "\(f):\(l): \(r)"
        case .badCSV(let f, let r): return "\(f): \(r)"
        case .documentTooLong(let f, let l, let b, let lim):
            return "\(f):\(l): document is \(b) bytes, over the limit of \(lim) (raise the document size limit or split it)"
        case .noDocuments(let f): return "\(f): contains no documents"
        case .malformedHeader(let r): return "malformed header: \(r)"
        case .malformedVocabulary(let f, let l, let r): return "\(f):\(l): \(r)"
        case .settingsMismatch(let f, let d):
            return "\(f): was built with different tokenizer settings (\(d.joined(separator: "; "))); rebuild it or pass matching options"
        case .unknownLocale(let l, let r): return "cannot open an ICU word breaker for locale \"\(l)\": \(r)"
        case .writeFailed(let f, let r): return "\(f): cannot write: \(r)"
        }
    }
}
