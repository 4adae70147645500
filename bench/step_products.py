#!/usr/bin/env python3
"""The LSTM's step products on Heed's packed kernel against OpenBLAS, in whole training runs (issue 27,
part 4): the same `heed train` command as `bench/run model`'s Heed side (BiLSTM + additive attention,
E = 100, H = 128, batch 64, dropout 0, one epoch), once with HEED_RECURRENT_PRODUCTS=blas and once with
=packed, interleaved, pinned to the same cores. Appends the run to bench/results/step-products.json
with the commit and the machine.

    bench/step_products.py [--corpora sentiment-en-rt topic-en-debian] [--reps 3] [--workers 1 2] [--heed PATH]

Only one binary runs, so the two paths differ in the step products alone. Ratios per repetition are
packed ÷ blas tokens/s; the report gives their median and range.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import provenance  # noqa: E402

ROOT = provenance.ROOT


def train(heed, corpus, workers, env_value, out_dir):
    model = os.path.join(out_dir, "m.heed")
    log = model + ".log.jsonl"
    if os.path.exists(log):
        os.remove(log)
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:workers])
    cmd = ["taskset", "-c", cores, heed, "train", os.path.join(common.corpus_dir(corpus), "train.tsv"),
           "--model", "bilstm-attention", "--embed", "100", "--hidden", "128", "--batch", "64", "--epochs", "1",
           "--threads", "1", "--workers", str(workers), "--dropout", "0", "--word-dropout", "0", "--lr", "0.001",
           "--attention", "additive", "--max-len", "400", "--patience", "1", "--seed", "1", "--quiet", "-o", model]
    env = dict(os.environ, HEED_RECURRENT_PRODUCTS=env_value)
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(log) as f:
        epochs = [json.loads(line) for line in f if line.strip()]
    shown = [common.rel(x) if x.startswith(ROOT) else x for x in cmd[4:]]
    return epochs[-1]["tokens_per_s"], " ".join(shown[:-1] + ["MODEL.heed"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", nargs="*", default=["sentiment-en-rt", "topic-en-debian"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build/release/heed"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/step-products.json"))
    args = ap.parse_args()
    where = provenance.stamp()
    version = common.heed_version(args.heed)
    if "step products" not in version:
        sys.exit("step_products: %s does not report its step products (needs HEED_RECURRENT_PRODUCTS)" % args.heed)
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    record = {**where, "command": "bench/step_products.py " + " ".join(sys.argv[1:]), "heed_version": version,
              "loadavg_1min_before": load, "results": []}
    with tempfile.TemporaryDirectory() as d:
        for corpus in args.corpora:
            for workers in args.workers:
                if workers > len(os.sched_getaffinity(0)):
                    continue
                runs = {"blas": [], "packed": []}
                command = None
                for r in range(args.reps):
                    for side in ("blas", "packed") if r % 2 == 0 else ("packed", "blas"):
                        tps, command = train(args.heed, corpus, workers, side, d)
                        runs[side].append(tps)
                        print("[step-products] %s workers %d rep %d %s: %.0f tokens/s" % (corpus, workers, r + 1, side, tps),
                              file=sys.stderr, flush=True)
                ratios = [p / b for p, b in zip(runs["packed"], runs["blas"])]
                record["results"].append({"corpus": corpus, "workers": workers, "tokens_per_s": runs, "ratios": ratios,
                                          "median_ratio": statistics.median(ratios), "command": command})
                print("%s, %d worker(s): packed / BLAS = %.2f× (%.2f–%.2f)" % (
                    corpus, workers, statistics.median(ratios), min(ratios), max(ratios)))
    record["cpu"], flags = common.cpu_model_and_flags()
    record["isa"] = [x for x in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16") if x in flags]
    record["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
    common.append_run(args.out, record)


if __name__ == "__main__":
    main()
