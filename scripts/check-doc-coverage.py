#!/usr/bin/env python3
"""Fails when a public declaration of the documented modules has no doc comment.

DocC does not warn about undocumented symbols, so `make docs` runs this on the symbol graphs that
scripts/make-docs.sh extracted (GRAPHS/<module>/*.symbols.json).

Usage: scripts/check-doc-coverage.py GRAPHS MODULE...

A public or open symbol counts as documented when it has a doc comment of its own or one it
inherits from the protocol requirement it implements (as DocC shows it: "Inherited from ...").
Symbols the compiler synthesizes (Equatable's !=, Hashable's hash(into:), Codable's members and
the like, marked ::SYNTHESIZED:: in the graph) have no source to comment and are not checked.
"""
import glob
import json
import os
import sys


def graph_dir(graphs, module):
    """GRAPHS/<module>, where make-docs.sh extracts the module's symbol graphs."""
    folder = os.path.join(graphs, module)
    if not glob.glob(os.path.join(folder, "*.symbols.json")):
        sys.exit(f"check-doc-coverage: no symbol graphs for {module} under {graphs} (run scripts/make-docs.sh first)")
    return folder


def has_text(doc):
    return doc is not None and any(line.get("text", "").strip() for line in doc.get("lines", []))


def undocumented(path):
    graph = json.load(open(path))
    module = graph["module"]["name"]
    missing = []
    for symbol in graph["symbols"]:
        if symbol["accessLevel"] not in ("public", "open"):
            continue
        if "::SYNTHESIZED::" in symbol["identifier"]["precise"]:
            continue
        if has_text(symbol.get("docComment")):
            continue
        location = symbol.get("location", {})
        uri = location.get("uri", "").removeprefix("file://")
        line = location.get("position", {}).get("line", -1) + 1
        where = f"{os.path.relpath(uri)}:{line}" if uri else module
        name = ".".join(symbol["pathComponents"])
        missing.append((where, f"{module}.{name}", symbol["kind"]["displayName"]))
    return missing


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: scripts/check-doc-coverage.py GRAPHS MODULE...")
    scratch, modules = sys.argv[1], sys.argv[2:]
    missing, checked = [], 0
    for module in modules:
        for path in sorted(glob.glob(os.path.join(graph_dir(scratch, module), "*.symbols.json"))):
            graph = json.load(open(path))
            checked += sum(1 for s in graph["symbols"] if s["accessLevel"] in ("public", "open"))
            missing += undocumented(path)
    for where, name, kind in sorted(set(missing)):
        print(f"{where}: warning: undocumented public {kind.lower()} {name}")
    if missing:
        count = len(set(missing))
        print(f"check-doc-coverage: {count} undocumented public symbol{'s' if count != 1 else ''} in {', '.join(modules)}")
        return 1
    print(f"check-doc-coverage: all {checked} public symbols of {', '.join(modules)} are documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
