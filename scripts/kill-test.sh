#!/usr/bin/env bash
# Kills `heed train` with SIGKILL at random moments, N times, and checks that every model, checkpoint
# and log left behind is complete: the model loads and predicts (`heed evaluate`), the checkpoint's
# safetensors layout is whole (header and every tensor inside the file), each log line is JSON.
#
# Usage: scripts/kill-test.sh [N=10]      (HEED=path/to/heed to choose the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
heed=${HEED:-.build/release/heed}
n=${1:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n 1500 corpora/sentiment-en-rt/train.tsv > "$tmp/train.tsv"
head -n 200 corpora/sentiment-en-rt/test.tsv > "$tmp/test.tsv"

check_safetensors() {
    python3 - "$1" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
assert 8 + n + end == len(data), f"{path}: {len(data)} bytes, layout needs {8 + n + end}"
PY
}

models=0 checkpoints=0
for i in $(seq "$n"); do
    rm -f "$tmp"/m.heed*
    "$heed" train "$tmp/train.tsv" --model attention --embed 16 --hidden 16 --epochs 50 --patience 50 \
        --quiet -o "$tmp/m.heed" &
    pid=$!
    sleep "$(python3 -c 'import random; print(round(random.uniform(0.2, 5.0), 2))')"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -f "$tmp/m.heed" ]; then
        "$heed" evaluate "$tmp/m.heed" "$tmp/test.tsv" > /dev/null || { echo "kill-test: run $i left a model that does not load" >&2; exit 1; }
        models=$((models + 1))
    fi
    if [ -f "$tmp/m.heed.ckpt" ]; then
        check_safetensors "$tmp/m.heed.ckpt" || { echo "kill-test: run $i left a broken checkpoint" >&2; exit 1; }
        checkpoints=$((checkpoints + 1))
    fi
    if [ -f "$tmp/m.heed.log.jsonl" ]; then
        python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/m.heed.log.jsonl" \
            || { echo "kill-test: run $i left a broken log" >&2; exit 1; }
    fi
done
echo "kill-test: $n runs killed with SIGKILL at random moments; $models models and $checkpoints checkpoints left behind, all complete"
