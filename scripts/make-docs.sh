#!/usr/bin/env bash
# API documentation for Heed and the HeedText module it re-exports, from the modules the debug build
# already made (no second build): symbol graphs of the public API (types the modules only extend
# left out), one DocC archive per module with links between them, merged into one static site in
# build/docs/site. DocC's warnings (broken links) fail it, and so does a public declaration without
# a doc comment (scripts/check-doc-coverage.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
source scripts/heed-modules.sh
out=build/docs
rm -rf "$out/graphs" "$out/archives" "$out/site"
mkdir -p "$out/graphs/Heed" "$out/graphs/HeedText" "$out/archives"
triple="$(swiftc -print-target-info | python3 -c 'import json,sys; print(json.load(sys.stdin)["target"]["triple"])')"
for module in HeedText Heed; do
    swift symbolgraph-extract -module-name "$module" -target "$triple" "${module_flags[@]}" \
        -minimum-access-level public -skip-synthesized-members -output-dir "$out/graphs/$module"
    rm -f "$out/graphs/$module/$module@"*.symbols.json  # extensions of other modules' types
done
convert() {  # module, then extra docc arguments
    local module="$1"; shift
    docc convert "$@" --additional-symbol-graph-dir "$out/graphs/$module" --fallback-display-name "$module" \
        --fallback-bundle-identifier "$module" --output-path "$out/archives/$module.doccarchive" \
        --transform-for-static-hosting --enable-experimental-external-link-support --warnings-as-errors
}
convert HeedText
convert Heed Sources/Heed/Documentation.docc --dependency "$out/archives/HeedText.doccarchive"
docc merge "$out/archives/Heed.doccarchive" "$out/archives/HeedText.doccarchive" --output-path "$out/site"
scripts/check-doc-coverage.py "$out/graphs" Heed HeedText
echo "docs: build/docs/site (serve it, e.g. python3 -m http.server -d build/docs/site, and open /documentation/heed)"
