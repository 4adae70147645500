import Foundation
import Heed

/// A predict request, checked field by field so that a 400 can name the field at fault. Unknown
/// fields are refused too: a misspelt `top-k` silently ignored would return the wrong labels.
struct PredictRequest: Sendable {
    var texts: [String]
    var topK: Int?
    var threshold: Float?
    var explain: ExplainChoice = .modelDefault
    var target: AttributionTarget = .logit
    var steps = 32

    static let fields = ["text", "texts", "top_k", "threshold", "explain", "target", "steps"]

    /// Parses and checks a request body against the limits.
    static func parse(_ body: Data, limits: ServeConfiguration) throws(APIError) -> PredictRequest {
        let object: JSONValue
        do { object = try JSONDecoder().decode(JSONValue.self, from: body) } catch {
            throw .badRequest("the body is not valid JSON")
        }
        guard case .object(let fields) = object else { throw .badRequest("the body must be a JSON object such as {\"text\": \"...\"}") }
        if let unknown = fields.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw .badRequest("unknown field \"\(unknown)\"; the fields are \(Self.fields.joined(separator: ", "))", field: unknown)
        }
        var request = PredictRequest(texts: [])
        switch (fields["text"], fields["texts"]) {
        case (nil, nil): throw .badRequest("give \"text\" (a string) or \"texts\" (an array of strings)", field: "text")
        case (.some, .some): throw .badRequest("give either \"text\" or \"texts\", not both", field: "texts")
        case (let text?, nil):
            guard let s = text.string else { throw .badRequest("\"text\" must be a string", field: "text") }
            request.texts = [s]
        case (nil, let texts?):
            guard case .array(let array) = texts else { throw .badRequest("\"texts\" must be an array of strings", field: "texts") }
            guard !array.isEmpty else { throw .badRequest("\"texts\" is empty", field: "texts") }
            guard array.count <= limits.maxTexts else {
                throw .tooLarge("\"texts\" has \(array.count) texts, over the limit of \(limits.maxTexts) per request", field: "texts")
            }
            request.texts = try array.enumerated().map { i, v throws(APIError) in
                guard let s = v.string else { throw .badRequest("texts[\(i)] must be a string", field: "texts[\(i)]") }
                return s
            }
        }
        for (i, text) in request.texts.enumerated() where text.utf8.count > limits.maxTextBytes {
            let field = fields["text"] != nil ? "text" : "texts[\(i)]"
            throw .tooLarge("\(field) is \(text.utf8.count) bytes, over the limit of \(limits.maxTextBytes)", field: field)
        }
        if let v = fields["top_k"] {
            guard let k = v.integer, k >= 1 else { throw .badRequest("\"top_k\" must be an integer of at least 1", field: "top_k") }
            request.topK = k
        }
        if let v = fields["threshold"] {
            guard let p = v.number, (0...1).contains(p) else { throw .badRequest("\"threshold\" must be a number in 0...1", field: "threshold") }
            request.threshold = Float(p)
        }
        if let v = fields["explain"] { request.explain = try methods(v) }
        if let v = fields["target"] {
            guard let s = v.string, let t = AttributionTarget(rawValue: s) else {
                throw .badRequest("\"target\" must be one of \(AttributionTarget.allCases.map(\.rawValue).joined(separator: ", "))", field: "target")
            }
            request.target = t
        }
        if let v = fields["steps"] {
            guard let n = v.integer, (1...limits.maxSteps).contains(n) else {
                throw .badRequest("\"steps\" must be an integer in 1...\(limits.maxSteps)", field: "steps")
            }
            request.steps = n
        }
        return request
    }

    /// `explain`: a method, "all", "none", a comma-separated list or an array of methods.
    private static func methods(_ value: JSONValue) throws(APIError) -> ExplainChoice {
        let names: [String]
        if let s = value.string {
            if s == "all" { return .all }
            if s == "none" { return .methods([]) }
            names = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        } else if case .array(let array) = value, array.allSatisfy({ $0.string != nil }) {
            names = array.compactMap(\.string)
        } else {
            throw .badRequest("\"explain\" must be a method name, a comma-separated list, an array of names, \"all\" or \"none\"", field: "explain")
        }
        return .methods(
            try names.map { name throws(APIError) in
                guard let m = AttributionMethod(rawValue: name) else {
                    let known = AttributionMethod.allCases.map(\.rawValue).joined(separator: ", ")
                    throw .badRequest("unknown explain method \"\(name)\"; choose from \(known), all or none", field: "explain")
                }
                return m
            })
    }
}

/// Which explanation methods a request asked for.
enum ExplainChoice: Sendable, Equatable {
    /// Attention where the model has it, else none (a plain prediction).
    case modelDefault
    /// Every method the model supports.
    case all
    /// These methods; none: a plain prediction.
    case methods([AttributionMethod])

    func methods(for classifier: TextClassifier) -> [AttributionMethod] {
        switch self {
        case .modelDefault: return classifier.hasAttention ? [.attention] : []
        case .all: return classifier.attributionMethods
        case .methods(let m): return m
        }
    }
}
