#!/usr/bin/env python3
"""Appends the runs of {"runs": [...]} results files to another, whole file or nothing.

    bench/merge_runs.py /tmp/rt-2000.json /tmp/zh-500.json --into bench/results/unlabelled.json

For runs written to scratch files side by side (two jobs must not rewrite one results file at once), then
kept. Runs are appended in the order given, after the file's own; a run already in it (same fields) is not
added twice. The report shows the newest run of each cell, so an appended run replaces an older one of the
same cell.
"""
import argparse, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import load_results, write_results  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", help="results files whose runs to append")
    ap.add_argument("--into", required=True, help="results file to append to (created if missing)")
    args = ap.parse_args()
    results = load_results(args.into) or {"runs": []}
    seen = {json.dumps(r, sort_keys=True) for r in results["runs"]}
    added = 0
    for path in args.sources:
        try:
            runs = json.load(open(path))["runs"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            sys.exit("%s: not a results file with a \"runs\" list (%s)" % (path, e))
        for r in runs:
            key = json.dumps(r, sort_keys=True)
            if key not in seen:
                seen.add(key)
                results["runs"].append(r)
                added += 1
    write_results(os.path.abspath(args.into), results, sort_keys=False)
    print("%d runs added to %s (%d in all)" % (added, args.into, len(results["runs"])))


if __name__ == "__main__":
    main()
