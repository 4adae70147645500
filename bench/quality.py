#!/usr/bin/env python3
"""Test accuracy of Heed's default settings on every corpus, and baseline vs attention.

    bench/quality.py [--heed PATH] [--corpora NAME ...] [--skip-compare] [--threads N]
    bench/quality.py --tune BUDGET [--seeds N ...] [--systems default,subwords,tune,fasttext,fasttext-autotune]
                     [--heed PATH] [--corpora NAME ...] [--results PATH]

For each corpus: `heed train TRAIN -o MODEL` with default settings (no per-corpus flags; SST-2 passes
its official dev file as --dev), `heed evaluate MODEL TEST --json`, and `heed compare TRAIN TEST`
(LSTM baseline vs LSTM+attention, same data, seed and settings). Results are merged into
bench/results/quality.json (one entry per corpus, with the exact commands and timings, and the commit
it was measured at: `commit`, `dirty`, see bench/provenance.py) and rendered
into BENCHMARKS.md by bench/report.py. Test sets are only ever used for the final evaluation.

With --tune BUDGET (e.g. 10m, 90s) it instead compares, per corpus and seed and all on the same split,
Heed's defaults, Heed with subwords and `heed tune` (BUDGET) against fastText's defaults and fastText's
autotune (the same BUDGET): see bench/quality_tune.py. Results: bench/results/quality-tune.json, §0b.
"""
import argparse
import datetime
import json
import os
import sys

import provenance
from common import BENCH_ONLY, ROOT, SHIPPED, available, heed_version, run

RESULTS = os.path.join(ROOT, "bench", "results", "quality.json")


def train_default(args, name, train, test, dev, model, version, rel):
    train_cmd = [args.heed, "train", rel(train), *map(lambda x: rel(x) if x.endswith(".tsv") else x, dev),
                 "--workers", str(args.workers), "--threads", str(args.threads), "--quiet", "-o", rel(model)]
    _, seconds = run(train_cmd)
    eval_cmd = [args.heed, "evaluate", rel(model), rel(test), "--json"]
    evaluation = json.loads(run(eval_cmd)[0])
    log = [json.loads(l) for l in open(model + ".log.jsonl")]
    entry = {
        "corpus": name, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "heed": version, **{k: v for k, v in provenance.stamp().items() if k != "date"}, "default": {
            "accuracy": evaluation["accuracy"], "macro_f1": evaluation["macro_f1"], "train_seconds": seconds,
            "epochs_run": len(log), "best_epoch": max(log, key=lambda r: r["dev_accuracy"])["epoch"],
            "commands": [" ".join(train_cmd[1:]), " ".join(eval_cmd[1:])]},
    }
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"))
    ap.add_argument("--corpora", nargs="*", default=SHIPPED + BENCH_ONLY)
    ap.add_argument("--skip-compare", action="store_true", help="only the default model")
    ap.add_argument("--skip-default", action="store_true", help="only the comparison (keep the default model's earlier result)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="heed train/compare --workers (default 1: one core; "
                    "heed's own default is the core count)")
    ap.add_argument("--results", default=None, help="JSON file to merge results into (default "
                    "bench/results/quality.json, with --tune bench/results/quality-tune.json)")
    ap.add_argument("--tune", metavar="BUDGET", help="compare heed tune with fastText autotune at this wall-clock "
                    "budget each (e.g. 10m, 90s), plus both defaults and Heed with subwords, over --seeds")
    ap.add_argument("--seeds", type=int, nargs="+", help="with --tune: seeds (default 1 2 3); each carves its own dev split")
    ap.add_argument("--systems", help="with --tune: comma-separated subset of "
                    "default,subwords,tune,fasttext,fasttext-autotune (default all)")
    args = ap.parse_args()
    if args.tune:
        import quality_tune
        args.seeds = args.seeds or [1, 2, 3]
        return quality_tune.main(args)
    if args.seeds or args.systems:
        ap.error("--seeds and --systems go with --tune")
    args.results = args.results or RESULTS
    results_path = args.results
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    version = heed_version(args.heed)
    for name, d in available(args.corpora):
        out = os.path.join(ROOT, "bench", "out", "quality", os.path.basename(args.results).replace(".json", ""), name)
        os.makedirs(out, exist_ok=True)
        train, test = os.path.join(d, "train.tsv"), os.path.join(d, "test.tsv")
        dev = ["--dev", os.path.join(d, "dev.tsv")] if os.path.exists(os.path.join(d, "dev.tsv")) else []
        rel = lambda p: os.path.relpath(p, ROOT)
        model = os.path.join(out, "default.heed")
        if args.skip_default:  # the comparison alone (an earlier default result, if any, is kept)
            entry = results.get(name) or {"corpus": name, "heed": version}
        else:
            entry = train_default(args, name, train, test, dev, model, version, rel)
        if not args.skip_compare:
            compare_json = os.path.join(out, "compare.json")
            cmp_cmd = [args.heed, "compare", rel(train), rel(test), *map(lambda x: rel(x) if x.endswith(".tsv") else x, dev),
                       "--workers", str(args.workers), "--threads", str(args.threads), "--quiet", "-o", rel(compare_json),
                       # Accuracy and training time only, as before heed compare measured faithfulness and
                       # latency too (bench/attention_kinds.py records those): `seconds` stays comparable.
                       "--faithfulness-limit", "0", "--latency-runs", "0"]
            _, seconds = run(cmp_cmd)
            c = json.load(open(compare_json))
            entry["compare"] = {"rows": c["rows"], "accuracy_gain": c["accuracy_gain"], "seconds": seconds,
                                "command": " ".join(cmp_cmd[1:]), **provenance.stamp()}
        results[name] = entry
        os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
        tmp = results_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
        os.replace(tmp, results_path)
        if "default" in entry:
            print(f"{name}: default accuracy {100 * entry['default']['accuracy']:.1f}%", file=sys.stderr)


if __name__ == "__main__":
    main()
