#!/usr/bin/env python3
"""What subwords cost: one training epoch with and without `--subwords`, per shipped corpus.

    bench/subword_cost.py [--heed PATH] [--corpora NAME ...] [--workers 1]

Each run is `heed train TRAIN --epochs 1 --workers W --calibration none --quiet -o MODEL` (plus
`--subwords 3-6`, or `1-2` on Chinese corpora), timed by /usr/bin/time: user + system CPU seconds,
wall seconds and peak RSS, with the epoch's tokens/s from the training log and the model file's
size. CPU seconds are the figure to compare when the machine is shared (wall time and tokens/s
count the waiting too). Results go to bench/results/subword-cost.json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from common import SHIPPED, ROOT, available, heed_version, write_results

RESULTS = os.path.join(ROOT, "bench", "results", "subword-cost.json")


def measure(args, train, extra):
    with tempfile.TemporaryDirectory(prefix="heed-subword-cost-") as work:
        model = os.path.join(work, "m.heed")
        timing = os.path.join(work, "time.txt")
        cmd = [args.heed, "train", train, "--epochs", "1", "--workers", str(args.workers), "--calibration", "none",
               "--quiet", "-o", model, *extra]
        print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(["/usr/bin/time", "-o", timing, "-f", "%U %S %e %M", *cmd], check=True)
        user, system, wall, rss_kb = open(timing).read().split()[-4:]
        log = [json.loads(line) for line in open(model + ".log.jsonl")]
        return {"cpu_seconds": round(float(user) + float(system), 2), "wall_seconds": float(wall),
                "peak_rss_mb": round(int(rss_kb) / 1024, 1), "tokens_per_second": round(log[-1]["tokens_per_s"]),
                "model_mb": round(os.path.getsize(model) / 2**20, 1), "flags": extra}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"))
    ap.add_argument("--corpora", nargs="*", default=SHIPPED)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    results = {"heed": heed_version(args.heed), "workers": args.workers, "corpora": {}}
    for name, folder in available(args.corpora):
        train = os.path.join(folder, "train.tsv")
        ranges = "1-2" if "-zh-" in name else "3-6"
        without = measure(args, train, [])
        with_subwords = measure(args, train, ["--subwords", ranges])
        results["corpora"][name] = {"without": without, "with": with_subwords,
                                    "cpu_ratio": round(with_subwords["cpu_seconds"] / without["cpu_seconds"], 2),
                                    "rss_ratio": round(with_subwords["peak_rss_mb"] / without["peak_rss_mb"], 2)}
        r = results["corpora"][name]
        print(f"{name}: CPU {without['cpu_seconds']} → {with_subwords['cpu_seconds']} s (×{r['cpu_ratio']}), "
              f"peak RSS {without['peak_rss_mb']} → {with_subwords['peak_rss_mb']} MB, "
              f"model {without['model_mb']} → {with_subwords['model_mb']} MB", file=sys.stderr)
    write_results(RESULTS, results)


if __name__ == "__main__":
    main()
