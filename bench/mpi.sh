#!/usr/bin/env bash
# Data-parallel training throughput: one epoch of the default model (BiLSTM + additive attention,
# E=100 H=128, batch 32 per rank, 1 BLAS thread per rank) on sentiment-en-rt, as a single process,
# and under mpirun with 1 and 2 ranks. Records tokens/s, seconds, optimizer steps, the allreduce
# time of rank 0 (which includes waiting for the slower rank) and the bytes each rank sends per step.
#
#   HEED=.build-mpi/release/heed bench/mpi.sh [REPS=3]      (make bench-mpi builds and runs it)
#
# Results: bench/results/mpi.json; BENCHMARKS.md is re-rendered by bench/report.py.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
heed=${HEED:-.build-mpi/release/heed}
reps=${1:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
corpus=corpora/sentiment-en-rt/train.tsv
args=(train "$corpus" --epochs 1 --threads 1 --quiet)

: > "$tmp/runs.jsonl"
for rep in $(seq "$reps"); do
    for mode in single 1 2; do
        out="$tmp/$mode-$rep.heed"
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [[ $mode == single ]]; then
            "$heed" "${args[@]}" -o "$out"
        else
            mpirun --oversubscribe --bind-to none -np "$mode" "$heed" "${args[@]}" --distributed -o "$out"
        fi
        python3 - "$mode" "$rep" "$load" "$out" >> "$tmp/runs.jsonl" <<'PY'
import json, struct, sys
mode, rep, load, model = sys.argv[1:5]
record = json.loads(open(model + ".log.jsonl").read().splitlines()[-1])
data = open(model, "rb").read()
header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
params = 0
for k, v in header.items():
    if k != "__metadata__":
        n = 1
        for d in v["shape"]: n *= d
        params += n
print(json.dumps({"mode": mode, "rep": int(rep), "load_before": float(load), "parameters": params, **record}))
PY
        echo "[bench-mpi] rep $rep $mode: $(tail -n 1 "$tmp/runs.jsonl")" >&2
    done
done

# The allreduce alone (no training around it, ranks started together): transfer cost without waiting.
params=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["parameters"])' "$tmp/runs.jsonl")
mpicc -O2 bench/allreduce.c -o "$tmp/allreduce"
mpirun --oversubscribe --bind-to none -np 2 "$tmp/allreduce" $((params + 6)) 200 > "$tmp/allreduce.json"

python3 - "$tmp/runs.jsonl" "$heed" "$reps" "$tmp/allreduce.json" <<'PY'
import json, os, statistics, subprocess, sys, datetime
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(mode, key):
    xs = [r[key] for r in runs if r["mode"] == mode and r.get(key) is not None]
    return statistics.median(xs) if xs else None
summary = {}
for mode in ("single", "1", "2"):
    s = {k: med(mode, k) for k in ("tokens_per_s", "seconds", "allreduce_seconds", "steps", "parameters")}
    if s["allreduce_seconds"] is not None:
        s["allreduce_share"] = statistics.median([r["allreduce_seconds"] / r["seconds"] for r in runs if r["mode"] == mode])
        s["bytes_per_step"] = 4 * (s["parameters"] + 6)
        s["ms_per_step"] = 1000 * s["seconds"] / s["steps"]
        s["allreduce_ms_per_step"] = 1000 * s["allreduce_seconds"] / s["steps"]
    summary[mode] = s
git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
mpi = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
out = {"date": datetime.date.today().isoformat(), "git": git, "mpi": mpi, "cpus": os.cpu_count(), "reps": int(sys.argv[3]),
       "command": "heed train corpora/sentiment-en-rt/train.tsv --epochs 1 --threads 1 [--distributed under mpirun --oversubscribe --bind-to none -np N]",
       "summary": summary, "allreduce_only": json.load(open(sys.argv[4])), "runs": runs}
with open("bench/results/mpi.json", "w") as fh:
    json.dump(out, fh, indent=1)
    fh.write("\n")
print(json.dumps(summary, indent=1))
PY
python3 bench/report.py
