#!/usr/bin/env python3
"""Jain & Wallace style agreement and ERASER faithfulness of Heed's explanations.

    bench/faithfulness.py [--heed PATH] [--corpora NAME ...] [--workers N] [--limit N] [--reuse NAME=MODEL ...]

For each corpus: train Heed's default model (BiLSTM + additive attention, default settings, seed 1;
SST-2 passes its official dev file as --dev) unless --reuse names an existing model trained that way,
then `heed explain MODEL TEST --metrics --json` over the test set: Kendall τ-b between every pair of
methods (mean, sd, share significant at p < 0.05, mean by predicted class), ERASER comprehensiveness
and sufficiency at 1, 5, 10, 20, 50% with AOPC for every method and a seeded random ranking, and the
attention-permutation test. Results are merged into bench/results/faithfulness.json and rendered
into BENCHMARKS.md by bench/report.py, beside Jain & Wallace's published SST figures.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

import provenance
from common import ROOT, SHIPPED, available, heed_version, load_results, rel, run, write_results

RESULTS = os.path.join(ROOT, "bench", "results", "faithfulness.json")

# Jain & Wallace (NAACL 2019), SST, BiLSTM encoder with additive attention: mean Kendall τ
# between attention and gradient importance, and between attention and leave-one-out, by class.
PUBLISHED_SST = {"attention~gradient": [0.37, 0.31], "attention~occlusion": [0.27, 0.32]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"))
    ap.add_argument("--corpora", nargs="*", default=["sentiment-en-sst2"] + SHIPPED)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, help="first N test documents only (for a quick look; not for the published table)")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--reuse", nargs="*", default=[], metavar="NAME=MODEL",
                    help="use an existing default model for a corpus instead of training one")
    ap.add_argument("--results", default=RESULTS)
    args = ap.parse_args()
    reuse = dict(r.split("=", 1) for r in args.reuse)
    results = load_results(args.results)
    version = heed_version(args.heed)
    for name, d in available(args.corpora):
        train, test = os.path.join(d, "train.tsv"), os.path.join(d, "test.tsv")
        if name in reuse:
            model, train_cmd, train_seconds = reuse[name], None, None
        else:
            out = os.path.join(ROOT, "bench", "out", "faithfulness", name)
            os.makedirs(out, exist_ok=True)
            model = os.path.join(out, "default.heed")
            dev = ["--dev", rel(os.path.join(d, "dev.tsv"))] if os.path.exists(os.path.join(d, "dev.tsv")) else []
            train_cmd = [args.heed, "train", rel(train), *dev, "--seed", "1", "--quiet", "-o", rel(model)]
            _, train_seconds = run(train_cmd)
        accuracy = json.loads(run([args.heed, "evaluate", rel(model), rel(test), "--json"])[0])["accuracy"]
        explain_cmd = [args.heed, "explain", rel(model), rel(test), "--metrics", "--json", "--steps", str(args.steps),
                       "--workers", str(args.workers)]
        if args.limit:
            explain_cmd += ["--limit", str(args.limit)]
        out, seconds = run(explain_cmd)
        summary = json.loads(out)
        results[name] = {
            "corpus": name, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "heed": version, **{k: v for k, v in provenance.stamp().items() if k != "date"}, "test_accuracy": accuracy, "explain_seconds": seconds, "workers": args.workers,
            "train_seconds": train_seconds,
            "commands": [" ".join(c[1:]) for c in (train_cmd, explain_cmd) if c],
            "model": rel(model), "summary": summary,
        }
        if name == "sentiment-en-sst2":
            results[name]["published"] = {"source": "Jain & Wallace 2019 (SST, BiLSTM + additive attention), by class, as quoted in issue 14",
                                          "mean_tau": PUBLISHED_SST}
        write_results(args.results, results)
        print(f"{name}: {summary['documents']} documents in {seconds:.0f} s", file=sys.stderr)
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "report.py")], check=False)


if __name__ == "__main__":
    main()
