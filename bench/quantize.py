#!/usr/bin/env python3
"""What `heed quantize` buys and costs, per shipped corpus: file size, test accuracy, batch-1
latency and `heed serve`'s peak RSS, float model against its int8 and 4-bit versions.

    bench/quantize.py [--heed PATH] [--corpora NAME ...] [--epochs 3] [--seed 1] [--n 1000] [--cutoff 2000] [--work DIR]

For each corpus two float models are trained (`heed train TRAIN --epochs E --seed S`, and the same
with `--subwords 3-6`, `1-2` on Chinese corpora), then each is quantised four times: `heed quantize`
(int8 embedding tables), `heed quantize --weights` (every matrix), and both again with `--bits 4`
(4-bit embedding tables; the `--weights` matrices stay int8); the word-only model also with
`--weights --cutoff N` (only the N words with the largest rows kept). Each file is
measured with `heed evaluate MODEL TEST --json` (accuracy), `heed benchmark latency MODEL TEST
--n N --threads 1` (p50/p99 ms) and, unless --no-serve, the peak RSS (VmHWM) of `heed serve MODEL
--workers 2` after it answered 200 predictions of test texts. Trained models are kept in --work and
reused on a rerun. Results go to bench/results/quantize.json with the commit they were measured at.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from common import SHIPPED, ROOT, available, heed_version, run, write_results

RESULTS = os.path.join(ROOT, "bench", "results", "quantize.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_peak_rss_mb(args, model, texts):
    """VmHWM of `heed serve MODEL` after it has loaded, made its worker replicas and answered texts."""
    port = free_port()
    name = os.path.splitext(os.path.basename(model))[0]
    cmd = [args.heed, "serve", model, "--port", str(port), "--workers", "2", "--quiet"]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        for i in range(0, len(texts), 10):
            body = json.dumps({"texts": texts[i:i + 10]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/{name}/predict", data=body,
                                         headers={"content-type": "application/json"})
            urllib.request.urlopen(req, timeout=30).read()
        with open(f"/proc/{proc.pid}/status") as f:
            return round(next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024, 1)
    finally:
        proc.terminate()
        proc.wait()


def measure(args, model, test, texts):
    evaluation = json.loads(run([args.heed, "evaluate", model, test, "--json"])[0])
    latency = json.loads(run([args.heed, "benchmark", "latency", model, test, "--n", str(args.n), "--threads", "1"])[0])
    with open(model, "rb") as f:
        header = int.from_bytes(f.read(8), "little")  # JSON header: metadata (vocabulary, …) and tensor index
    out = {"bytes": os.path.getsize(model), "header_bytes": 8 + header, "accuracy": evaluation["accuracy"],
           "p50_ms": round(latency["p50_ms"], 4), "p99_ms": round(latency["p99_ms"], 4)}
    if args.serve:
        out["serve_peak_rss_mb"] = serve_peak_rss_mb(args, model, texts)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"))
    ap.add_argument("--corpora", nargs="*", default=SHIPPED)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--work", default="/tmp/heed-quantize-bench")
    ap.add_argument("--no-serve", dest="serve", action="store_false")
    ap.add_argument("--cutoff", type=int, default=2000,
                    help="also measure `heed quantize --weights --cutoff N` of the word-only models (0: skip)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], stdout=subprocess.PIPE,
                           text=True).stdout.strip() != ""
    results = {"heed": heed_version(args.heed), "commit": commit, "dirty": dirty,
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "epochs": args.epochs,
               "seed": args.seed, "latency_runs": args.n, "corpora": {}}
    for name, folder in available(args.corpora):
        train, test = os.path.join(folder, "train.tsv"), os.path.join(folder, "test.tsv")
        texts = [line.rstrip("\n").split("\t", 1)[1] for line in open(test, encoding="utf-8")][:200]
        entry = {}
        for variant, extra in [("words", []), ("subwords", ["--subwords", "1-2" if "-zh-" in name else "3-6"])]:
            base = os.path.join(args.work, f"{name}-{variant}")
            model = base + ".heed"
            if not os.path.exists(model):
                run([args.heed, "train", train, "--epochs", str(args.epochs), "--seed", str(args.seed), "--quiet", "-o", model,
                     *extra])
            rows = {"float": measure(args, model, test, texts)}
            kinds = [("int8-tables", []), ("int8-all", ["--weights"]), ("int4-tables", ["--bits", "4"]),
                     ("int4-all", ["--bits", "4", "--weights"])]
            if args.cutoff and variant == "words":
                kinds.append((f"int8-all-cutoff-{args.cutoff}", ["--weights", "--cutoff", str(args.cutoff)]))
            for kind, flags in kinds:
                small = f"{base}-{kind}.heed"
                run([args.heed, "quantize", model, "-o", small, *flags])
                rows[kind] = measure(args, small, test, texts)
                f = rows["float"]
                rows[kind]["size_ratio"] = round(f["bytes"] / rows[kind]["bytes"], 2)
                rows[kind]["accuracy_change_points"] = round(100 * (rows[kind]["accuracy"] - f["accuracy"]), 2)
                print(f"{name} {variant} {kind}: {f['bytes']} → {rows[kind]['bytes']} bytes (×{rows[kind]['size_ratio']}), "
                      f"accuracy {f['accuracy']:.4f} → {rows[kind]['accuracy']:.4f}, "
                      f"p50 {f['p50_ms']} → {rows[kind]['p50_ms']} ms", file=sys.stderr)
            entry[variant] = {"train_flags": extra, "models": rows}
        results["corpora"][name] = entry
    write_results(RESULTS, results)


if __name__ == "__main__":
    main()
