import Foundation
import Heed

/// A model as the server offers it: loaded once at start, named by its file name without the
/// extension. Requests name models only by these names, so no request can make the server open a file.
public struct ServedModel: Sendable {
    /// The name in `/v1/models/{name}/predict`.
    public let name: String
    /// The loaded classifier (workers run replicas of it).
    public let classifier: TextClassifier

    /// A model under an explicit name.
    public init(name: String, classifier: TextClassifier) {
        self.name = name
        self.classifier = classifier
    }

    /// Loads each file; two files with the same name (a/rt.heed, b/rt.heed) are refused, since one
    /// would hide the other.
    public static func load(_ paths: [String]) throws -> [ServedModel] {
        var seen: [String: String] = [:]
        return try paths.map { path in
            let url = URL(fileURLWithPath: path)
            let name = url.deletingPathExtension().lastPathComponent
            if let other = seen[name] { throw ServeSetupError.duplicateName(name, first: other, second: path) }
            seen[name] = path
            return ServedModel(name: name, classifier: try TextClassifier(contentsOf: url))
        }
    }
}

/// Why the server cannot start.
public enum ServeSetupError: Error, CustomStringConvertible, Equatable {
    /// Two model files share a name.
    case duplicateName(String, first: String, second: String)
    /// No model was given.
    case noModels

    /// The message for the user.
    public var description: String {
        switch self {
        case .duplicateName(let name, let first, let second):
            return "\(first) and \(second) would both be served as \"\(name)\"; rename one of the files"
        case .noModels: return "give at least one model file"
        }
    }
}
