#!/usr/bin/env bash
# Type-checks the README's "Swift API" example, plus a client type with its own
# `encode(to encoder: Encoder)`, as a client outside the package sees Heed: against the modules
# the debug build already made (no second build), without Heed's package name, so `package`
# declarations stay hidden. The README must match the public API, and `import Heed` must not shadow
# standard names (a public `Encoder` once did). Linking against the product is make example's job.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
source "$root/scripts/heed-modules.sh"
python3 - "$root/README.md" "$work/main.swift" <<'PY'
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
if ! swiftc -typecheck "$work/main.swift" "${module_flags[@]}"; then
    echo "check-client: the README's Swift API example does not compile against Heed's public API" >&2
    exit 1
fi
echo "check-client: the README's Swift API example compiles against Heed's public API (as a client sees it)"
