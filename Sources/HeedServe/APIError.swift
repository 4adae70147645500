import Foundation
import Heed
import Hummingbird

/// An error a client gets back as JSON: `{"error": message, "status": code}`, plus `field` when
/// one field of the request is at fault, so a client can point at it.
struct APIError: Error, HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let message: String
    var field: String?
    var headers: HTTPFields = [:]

    static func badRequest(_ message: String, field: String? = nil) -> APIError { APIError(status: .badRequest, message: message, field: field) }
    static func tooLarge(_ message: String, field: String? = nil) -> APIError { APIError(status: .contentTooLarge, message: message, field: field) }
    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, message: message) }
    /// 503 with `Retry-After`: the server is overloaded or stopping, and a retry (here or on
    /// another instance) will do.
    static func unavailable(_ message: String, retryAfter seconds: Int = 1) -> APIError {
        var headers = HTTPFields()
        headers[.retryAfter] = String(seconds)
        return APIError(status: .serviceUnavailable, message: message, headers: headers)
    }
    static func methodNotAllowed(_ method: HTTPRequest.Method, path: String, allowed: [String]) -> APIError {
        var headers = HTTPFields()
        headers[.allow] = allowed.joined(separator: ", ")
        return APIError(
            status: .methodNotAllowed, message: "\(method.rawValue) is not allowed on \(path); use \(allowed.joined(separator: " or "))", headers: headers)
    }

    private struct Body: Encodable {
        var error: String, status: Int, field: String?
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let json = (try? resultEncoder().encode(Body(error: message, status: status.code, field: field))) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }
}
