#!/usr/bin/env bash
# Runs the Swift suite once per OpenBLAS kernel this CPU can execute (OPENBLAS_CORETYPE), and once
# per BLAS perturbation seed (HEED_BLAS_PERTURB, debug builds): what users' machines do to the last
# bits of every product. A developer's check, not CI's: CI runs the kernel its machine picks.
# Usage: scripts/test-kernels.sh [--kernels "Haswell Zen"] [--seeds "1 2 3"] [-- extra test-bundle args, e.g. --filter ReportTests]
set -euo pipefail
cd "$(dirname "$0")/.."
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
kernels=()
has pni && kernels+=(Prescott)  # SSE3 is "pni" in /proc/cpuinfo
has sse4_2 && kernels+=(Nehalem)
has avx && kernels+=(Sandybridge)
has avx2 fma && kernels+=(Haswell Zen)
has avx512f avx512bw avx512vl avx512dq avx512cd && kernels+=(SkylakeX)
has avx512_bf16 && kernels+=(Cooperlake)
seeds=(1 2 3)
while [ $# -gt 0 ]; do
    case "$1" in
        --kernels) read -ra kernels <<< "$2"; shift 2 ;;
        --seeds) read -ra seeds <<< "$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: $0 [--kernels \"K ...\"] [--seeds \"N ...\"] [-- test-bundle args]" >&2; exit 2 ;;
    esac
done
swift build --build-tests
# The runs use a copy of the test bundle and `heed` (the CLI tests run the one beside the bundle),
# so the tree can be rebuilt meanwhile; no SwiftPM lock is held.
bin="$(swift build --show-bin-path)"
snapshot=build/kernels/bin
rm -rf "$snapshot" && mkdir -p "$snapshot"
cp "$bin/HeedPackageTests.xctest" "$bin/heed" "$snapshot/"
status=0
run() {  # name, then environment assignments
    local name="$1"; shift
    local log="build/kernels/$name.log"
    if env "$@" "$snapshot/HeedPackageTests.xctest" --testing-library swift-testing --skip "LoopbackTests|QueueTests" "${extra[@]}" > "$log" 2>&1; then
        echo "$name: $(grep -E 'Test run with' "$log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')"
    else
        echo "$name: FAILED (see $log)"; grep -E '✘' "$log" | sed 's/\x1b\[[0-9;]*m//g' | head -20; status=1
    fi
}
extra=("$@")
kernel() {
    local ran
    ran=$(env OPENBLAS_CORETYPE="$1" "$snapshot/heed" --version)
    [[ "$ran" == *"BLAS $1,"* || "$ran" == *"BLAS $1)"* ]] || { echo "$1: this OpenBLAS does not run it here ($ran); skipped"; return; }
    run "kernel-$1" OPENBLAS_CORETYPE="$1"
}
# Interleaved, so a run cut short has seen both kinds: the widest kernel first, then a seed.
for ((i = ${#kernels[@]} - 1, j = 0; i >= 0 || j < ${#seeds[@]}; i--, j++)); do
    if ((i >= 0)); then kernel "${kernels[i]}"; fi
    if ((j < ${#seeds[@]})); then run "perturb-${seeds[j]}" HEED_BLAS_PERTURB="${seeds[j]}"; fi
done
exit $status
