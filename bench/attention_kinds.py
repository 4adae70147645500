#!/usr/bin/env python3
"""Which attention, for what (issue 26): `heed compare` on each corpus with the same seeds, so accuracy,
faithfulness (τ against integrated gradients and occlusion, comprehensiveness AOPC, permutation TVD),
conicity and cost of each model sit in one table.

    bench/attention_kinds.py --corpus corpora/sentiment-en-rt [more folders] \
        --models bilstm-attention,orthogonal,diversity --seeds 3 --out bench/results/attention-kinds.json

Each folder holds train.tsv and test.tsv; the bench-only corpora live in ../shared/corpora/bench and are
never committed (only their figures are). Everything else is `heed compare`'s defaults (its own dev
split from TRAIN, early stopping, --faithfulness-limit 500 test documents), plus --workers (default 2:
a worker per core of the 2-core bench machine; another worker count draws other dropout masks).
The test set is read for reporting only, never to choose anything.

Every run records the commit and UTC date it was measured at (bench/provenance.py, stamped once when
the script starts), the heed binary's sha256, the CPU model and the OpenBLAS kernel (`heed --version`),
and the load average over the run: tokens/s and latency are only comparable within one run on an idle
machine. A new run is added beside earlier ones in --out, never replacing them.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # noqa: E402
from common import cpu_model_and_flags  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--heed", default=".build/release/heed")
ap.add_argument("--corpus", required=True, nargs="+", help="folder(s) with train.tsv and test.tsv")
ap.add_argument("--models", default="lstm,attention,bilstm-attention,orthogonal,diversity")
ap.add_argument("--seeds", type=int, default=3)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--extra", default="", help="further heed compare flags, space-separated (e.g. \"--max-len 400\")")
ap.add_argument("--out", help="JSON file to add results to")
args = ap.parse_args()

where = provenance.stamp()
with open(args.heed, "rb") as fh:
    heed_sha256 = hashlib.sha256(fh.read()).hexdigest()
version = subprocess.run([args.heed, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
cpu, cpu_flags = cpu_model_and_flags()
isa = sorted(f for f in cpu_flags if f.startswith(("avx", "fma", "sse4")))
results = json.load(open(args.out)) if args.out and os.path.exists(args.out) else {"runs": []}
work = tempfile.mkdtemp(prefix="heed-kinds-")
for corpus in args.corpus:
    name = os.path.basename(corpus.rstrip("/"))
    out = os.path.join(work, f"{name}.json")
    cmd = [args.heed, "compare", os.path.join(corpus, "train.tsv"), os.path.join(corpus, "test.tsv"), "--models", args.models,
           "--seeds", str(args.seeds), "--workers", str(args.workers), "-o", out] + args.extra.split()
    print("[bench]", " ".join(cmd), file=sys.stderr, flush=True)
    load0, t0 = os.getloadavg(), time.time()
    subprocess.run(cmd, check=True)
    seconds = time.time() - t0
    comparison = json.load(open(out))
    run = {"corpus": name, "command": " ".join(cmd[1:]).replace(work + "/", ""), "seconds": round(seconds, 1),
           "heed_sha256": heed_sha256, "heed_version": version, "cpu": cpu, "isa": isa,
           "loadavg_start": load0, "loadavg_end": os.getloadavg(), "comparison": comparison, **where}
    results["runs"].append(run)
    for m in comparison.get("models", []):
        print(json.dumps({"corpus": name, **m}), flush=True)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, args.out)
