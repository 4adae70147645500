#!/usr/bin/env python3
"""The LSTM step's products under OpenBLAS, BLIS, oneDNN and Heed's packed kernel (issue 27, part 4): builds
bench/step_gemm.c, runs it on one pinned core with one thread per library, and appends the run to
bench/results/step-gemm.json with the commit, the CPU, its ISA extensions and each library's kernel.

    bench/step_gemm.py [--rounds 7] [--core 0] [--out bench/results/step-gemm.json]

BLIS and oneDNN are bench-only: `apt-get install libblis-dev libdnnl-dev` (the script runs
scripts/ensure-deps.sh for them as root). Heed links only OpenBLAS. The shapes are those of the
default model (E = 100, H = 128): the per-step products at 8–64 active rows, and the once-per-batch
products. Each library is timed in the same rounds, interleaved; medians are compared.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import provenance  # noqa: E402

ROOT = provenance.ROOT
# oneDNN's dnnl_cpu_isa_t values (oneapi/dnnl/dnnl_types.h, oneDNN 2.x).
DNNL_ISA = {0x0: "default", 0x1: "sse41", 0x3: "avx", 0x7: "avx2", 0x407: "avx2_vnni", 0x27: "avx512_core",
            0x67: "avx512_core_vnni", 0xe7: "avx512_core_bf16", 0x3e7: "avx512_core_amx"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--core", default="0")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/step-gemm.json"))
    args = ap.parse_args()
    where = provenance.stamp()
    subprocess.run([os.path.join(ROOT, "scripts/ensure-deps.sh"), "libblis-dev", "libdnnl-dev"], check=False)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    exe = os.path.join(ROOT, "build/step_gemm")
    subprocess.run(["cc", "-O2", os.path.join(ROOT, "bench/step_gemm.c"), os.path.join(ROOT, "Sources/CHeedBLAS/heed_packed_gemm.c"),
                    "-I", os.path.join(ROOT, "Sources/CHeedBLAS/include"), "-ldl", "-lm", "-lpthread", "-o", exe], check=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", BLIS_NUM_THREADS="1")
    cmd = ["taskset", "-c", args.core, exe, "--rounds", str(args.rounds)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    run = json.loads(out)
    dnnl = run["libraries"].get("onednn")
    if dnnl and "effective ISA 0x" in dnnl:
        code = int(dnnl.rsplit("0x", 1)[1], 16)
        run["libraries"]["onednn"] = dnnl.rsplit("0x", 1)[0] + DNNL_ISA.get(code, hex(code))
    flags = common.cpu_model_and_flags()[1]
    run["isa"] = [x for x in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                              "amx_tile") if x in flags]
    run["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
    with open("/proc/loadavg") as f:
        run["loadavg_1min"] = float(f.read().split()[0])
    record = {**where, "command": "bench/step_gemm.py " + " ".join(sys.argv[1:]), **run}
    common.append_run(args.out, record)
    libs = [name for name in ("openblas", "blis", "onednn", "heed_packed") if run["libraries"].get(name)]
    print("%-40s %s" % ("shape", "  ".join("%11s" % l for l in libs)) + "   (GFLOP/s, median)")
    for s in run["shapes"]:
        print("%-40s %s" % (s["what"], "  ".join("%11s" % ("%.1f" % s["results"][l]["gflops"] if l in s["results"] else "–")
                                                   for l in libs)))
    bad = [(s["what"], l) for s in run["shapes"] for l in libs
           if l in s["results"] and not s["results"][l]["agrees_with_openblas"]]
    if bad:
        sys.exit("step_gemm: results disagree with OpenBLAS beyond the derived bound: %s" % bad)


if __name__ == "__main__":
    main()
