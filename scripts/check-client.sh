#!/usr/bin/env bash
# Builds a separate client package that depends on Heed by path and compiles the README's
# "Swift API" example plus a client type with its own `encode(to encoder: Encoder)`: the README
# must match the API, and `import Heed` must not shadow standard names (a public `Encoder` once did).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Sources/Client"
cat > "$work/Package.swift" <<SWIFT
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "Client",
    dependencies: [.package(path: "$root")],
    targets: [.executableTarget(name: "Client", dependencies: [.product(name: "Heed", package: "$(basename "$root")")])]
)
SWIFT
python3 - "$root/README.md" "$work/Sources/Client/main.swift" <<'PY'
import sys
readme = open(sys.argv[1], encoding="utf-8").read()
section = readme.index("### Swift API")
start = readme.index("```swift\n", section) + len("```swift\n")
code = readme[start:readme.index("```", start)]
code += """
/// A client's own Encodable type, written as any Swift user would.
struct Row: Encodable {
    var label: String
    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(label)
    }
}
_ = (label, top2, again, Row(label: label))
"""
open(sys.argv[2], "w", encoding="utf-8").write(code)
PY
swift build --package-path "$work" --scratch-path "$work/.build" 2>&1 | grep -E "error|warning: var|Compiling Client|Build complete" || true
test -x "$work/.build/debug/Client" || { echo "check-client: the README's Swift API example does not compile in a client package" >&2; exit 1; }
echo "check-client: the README's Swift API example compiles in a client package that imports Heed"
