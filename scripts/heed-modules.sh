# Sourced by check-client.sh and make-docs.sh: the flags that let swiftc and swift-symbolgraph-extract
# read Heed's modules from the debug build, as a client outside the package would (C targets through
# their module maps). Sets `bin` and `module_flags`; builds the Heed target first if it is missing.
bin="$(cd "$root" && swift build --show-bin-path)"
[ -f "$bin/Modules/Heed.swiftmodule" ] || (cd "$root" && swift build --target Heed)
module_flags=(-I "$bin/Modules")
for map in "$bin"/CHeed*.build/module.modulemap; do module_flags+=(-Xcc "-fmodule-map-file=$map"); done
