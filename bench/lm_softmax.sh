#!/usr/bin/env bash
# Tokens/s of one language-model training step (forward, loss, backward, clip, Adam) at Heed's
# shapes: BiLSTM, E=100, H=128 per direction, batch 32 of 20-60 Zipf-distributed tokens,
# V=30000, for the sampled softmax with K = 256, 512, 1024 candidates and the full softmax; and a
# full-softmax evaluation. Builds HeedNN (with HeedIO and the BLAS shim) and bench/lm_softmax.swift
# with -O into build/lm-softmax/ in about two minutes: no package release build is needed.
# docs/pretraining.md has the results and the choice they support.
#
#   bench/lm_softmax.sh                        # one BLAS thread
#   HEED_BENCH_THREADS=2 HEED_BENCH_VOCAB=20000 HEED_BENCH_ONLY=sampled bench/lm_softmax.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/lm-softmax
mkdir -p "$out/CHeedBLAS"
cp Sources/CHeedBLAS/include/heed_blas.h "$out/CHeedBLAS/"
printf 'module CHeedBLAS {\n  header "heed_blas.h"\n  export *\n}\n' > "$out/CHeedBLAS/module.modulemap"
clang -O2 -fPIC -c Sources/CHeedBLAS/heed_blas.c -I Sources/CHeedBLAS/include -o "$out/heed_blas.o"
swiftc -O -wmo -parse-as-library -package-name heed -module-name HeedIO -emit-module -emit-module-path "$out/HeedIO.swiftmodule" \
    -c Sources/HeedIO/*.swift -o "$out/HeedIO.o"
swiftc -O -wmo -parse-as-library -package-name heed -module-name HeedNN -I "$out" -I "$out/CHeedBLAS" -emit-module \
    -emit-module-path "$out/HeedNN.swiftmodule" -c Sources/HeedNN/*.swift -o "$out/HeedNN.o"
swiftc -O -module-name lm_softmax -I "$out" -I "$out/CHeedBLAS" bench/lm_softmax.swift \
    "$out/HeedNN.o" "$out/HeedIO.o" "$out/heed_blas.o" -lopenblas -o "$out/lm-softmax"
"$out/lm-softmax"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources bench/lm_softmax.swift || echo ' + uncommitted changes'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
