#!/usr/bin/env python3
"""What OpenBLAS's fallback kernels cost Heed, and what the CLI's own kernel choice wins back (issue 27).

Debian 12's OpenBLAS (0.3.21) does not know some newer CPUs: on a Sapphire Rapids Xeon it runs its
SSE3 `Prescott` kernels, and since 6825712 `heed` restarts itself with `OPENBLAS_CORETYPE` set to
SkylakeX (AVX-512) or Haswell (AVX2) when that happens. This machine's OpenBLAS may well know its
CPU, so the fallback is reproduced by naming it: one epoch of `heed train` on one pinned core with
`OPENBLAS_CORETYPE=Prescott` (what a fallback CPU ran before), then with the kernel heed would choose
(`HEED_TEST_BLAS_DETECTED=Prescott`, `OPENBLAS_CORETYPE` unset: the CLI's restart itself), then as
OpenBLAS autodetects here, in interleaved repetitions. tokens/s is heed's own per-epoch figure.

    bench/kernel_fallback.py --heed .build/release/heed --corpus corpora/sentiment-en-rt --reps 3 \
        --out bench/results/kernel-fallback.json

Each run records the commit and date (bench/provenance.py), the heed binary's sha256, the CPU, and
`heed --version` under each setting (which names the kernel that ran). Read the ratios, on an idle
machine; a new run is added beside earlier ones in --out.
"""
import argparse, hashlib, json, os, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # noqa: E402
from common import cpu_model_and_flags  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--heed", default=".build/release/heed")
ap.add_argument("--corpus", default="corpora/sentiment-en-rt", help="folder with train.tsv")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--core", type=int, default=0, help="the core every run is pinned to")
ap.add_argument("--out", help="JSON file to add the run to")
args = ap.parse_args()

where = provenance.stamp()
base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "HEED_BLAS_REPLACED", "HEED_TEST_BLAS_DETECTED")}
settings = {
    "fallback (OPENBLAS_CORETYPE=Prescott)": {"OPENBLAS_CORETYPE": "Prescott"},
    "heed's choice over a Prescott fallback": {"HEED_TEST_BLAS_DETECTED": "Prescott"},
    "autodetect": {},
}


def environment(extra):
    return {**base, **extra}


def version(extra):
    return subprocess.run([args.heed, "--version"], env=environment(extra), stdout=subprocess.PIPE, text=True,
                          check=True).stdout.strip()


with open(args.heed, "rb") as fh:
    heed_sha256 = hashlib.sha256(fh.read()).hexdigest()
cpu = cpu_model_and_flags()[0]
work = tempfile.mkdtemp(prefix="heed-kernel-fallback-")
train = os.path.join(args.corpus, "train.tsv")
runs = {name: {"version": version(extra), "tokens_per_s": []} for name, extra in settings.items()}
for rep in range(args.reps):
    for name, extra in settings.items():
        model = os.path.join(work, "m.heed")
        cmd = ["taskset", "-c", str(args.core), args.heed, "train", train, "-o", model, "--epochs", "1", "--workers", "1",
               "--seed", "1", "--quiet"]
        subprocess.run(cmd, env=environment(extra), check=True)
        with open(model + ".log.jsonl") as f:
            epochs = [json.loads(l) for l in f if l.strip()]
        value = next(e["tokens_per_s"] for e in epochs if "tokens_per_s" in e)
        runs[name]["tokens_per_s"].append(value)
        runs[name]["command"] = " ".join(cmd[3:]).replace(work + "/", "")
        print(f"rep {rep + 1} {name}: {value:.0f} tokens/s", file=sys.stderr, flush=True)
for r in runs.values():
    r["median"] = statistics.median(r["tokens_per_s"])
fallback, chosen, auto = (runs[n]["median"] for n in settings)
result = {"what": "one heed train epoch on one pinned core under OpenBLAS's Prescott fallback, heed's choice over it, and autodetect",
          "corpus": os.path.basename(args.corpus.rstrip("/")), "reps": args.reps, "heed_sha256": heed_sha256, "cpu": cpu,
          "runs": runs, "chosen_over_fallback": chosen / fallback, "autodetect_over_fallback": auto / fallback,
          "loadavg_end": os.getloadavg(), **where}
print(json.dumps(result, indent=1))
if args.out:
    results = json.load(open(args.out)) if os.path.exists(args.out) else {"runs": []}
    results["runs"].append(result)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, args.out)
