/// The server's paths and the methods each accepts, so a request with the wrong method gets 405
/// and an `Allow` header instead of the router's plain 404.
enum Routes {
    static let page = "/", health = "/health", models = "/v1/models", openAPI = "/openapi.json"
    static let predict = "/v1/models/:name/predict"

    /// The methods `path` accepts, or nil for a path the server does not have.
    static func methods(forPath path: String) -> [String]? {
        if [page, health, models, openAPI].contains(path) { return ["GET", "HEAD"] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 5 && parts[1] == "v1" && parts[2] == "models" && !parts[3].isEmpty && parts[4] == "predict" { return ["POST"] }
        return nil
    }
}
