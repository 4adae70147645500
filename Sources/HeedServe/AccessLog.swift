import Foundation
import Hummingbird

/// One stderr line per request: method, path, status, duration. Written with one `write` so lines
/// from concurrent requests never interleave.
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let line = "\(request.method.rawValue) \(request.uri.path) \(response.status.code) \(String(format: "%.2f", ms)) ms\n"
        FileHandle.standardError.write(Data(line.utf8))
        return response
    }
}
