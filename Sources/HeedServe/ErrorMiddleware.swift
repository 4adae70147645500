import Hummingbird

/// Turns every error into a JSON response: the router's 404 becomes 405 (with `Allow`) where the
/// path exists under another method, a body over the limit 413, anything unexpected a 500 that
/// names no internals. Clients only ever see the JSON error shape.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            if let allowed = Routes.methods(forPath: path), !allowed.contains(request.method.rawValue) {
                return try APIError.methodNotAllowed(request.method, path: path, allowed: allowed).response(from: request, context: context)
            }
            return try APIError.notFound("no route \(path); see /openapi.json").response(from: request, context: context)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            // collect(upTo:) throws NIO's too-many-bytes error, which Hummingbird gives this status.
            return try APIError.tooLarge("the request body is over the limit of \(maxBodyBytes) bytes").response(from: request, context: context)
        } catch let error as HTTPResponseError {
            return try APIError(status: error.status, message: error.status.reasonPhrase).response(from: request, context: context)
        } catch {
            return try APIError(status: .internalServerError, message: "internal error").response(from: request, context: context)
        }
    }
}
