#!/usr/bin/env python3
"""Where the default model's training time goes (issue 27, part 4): `perf record` on one `heed train`
run of the default model (BiLSTM + additive attention) on one core, its samples grouped by what the
code does.

    bench/profile_step.py [--heed .build/release/heed] [--corpus corpora/topic-en-debian] [--epochs 1]
                          [--out bench/results/profile-step.json]

One worker and one BLAS thread, pinned to one core, so every sample is the step's own work and
not a thread waiting for another. The samples are user and kernel CPU time of the process (`perf
record -F 1999`), so a shared machine changes how long the run takes, not the shares. Each
symbol goes to one group by its library and its demangled Swift name (`swift demangle`):

- OpenBLAS's SGEMM compute kernel (`sgemm_kernel_*`, `sgemm_small_kernel_*`);
- OpenBLAS's packing copies (`sgemm_*copy_*`): each call copies its operands into panels first,
  so a small per-step product repacks the whole 4H × H recurrent matrix every time;
- Heed's packed kernel (CHeedBLAS), where it runs the step products or all of them, with its packing;
- the rest of OpenBLAS (interface, level-1/2 routines);
- the LSTM cell in Heed (gate nonlinearities, cell update, their backward), attention, the rest of
  the network (embedding, dropout, classifier, loss), Adam and gradient clipping, the tokenizer
  and vocabulary, libc's memmove/memset, the kernel (page faults, scheduling), and the rest.

Records the commit (bench/provenance.py), the CPU, its ISA extensions and the OpenBLAS kernel
(`heed --version`), and appends the run to --out.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import provenance  # noqa: E402

ROOT = provenance.ROOT
GROUPS = [
    ("OpenBLAS SGEMM compute kernel", lambda dso, s: "openblas" in dso and re.match(r"sgemm_(small_)?kernel", s)),
    ("OpenBLAS packing copies", lambda dso, s: "openblas" in dso and re.match(r"sgemm_\w*copy", s)),
    ("OpenBLAS, other routines", lambda dso, s: "openblas" in dso),
    ("Heed's packed kernel (products, packing)", lambda dso, s: re.search(
        r"\b(avx2|avx512)_packed_gemm\b|\bheed_packed_sgemm\b|\bheed_pack_b\b", s)),
    ("LSTM cell (gates, cell update, their backward)", lambda dso, s: re.search(
        r"LSTMDirection|\bLSTM\.|fastTanh|fastSigmoid|sigmoidBias|tanh8|sigmoid8|Orthogonal"
        r"|\b(baseline|avx2|avx512)_(forward|backward)\b", s)),
    ("attention", lambda dso, s: re.search(r"\bAttention\.|tanh_in_place", s)),
    ("embedding, dropout, classifier, loss", lambda dso, s: re.search(
        r"Embedding\.|Dropout\.|Classifier\.|Linear\.|Loss|softmax|crossEntropy", s, re.I)),
    ("Adam, gradient clipping", lambda dso, s: re.search(r"Adam|_adam\b|sumOfSquares|clipGrad|clip", s)),
    ("tokenizer, vocabulary, corpus reading", lambda dso, s: re.search(r"HeedText|ByteTable|Tokenizer|Vocabulary|icu", s + dso, re.I)),
    ("libc memmove / memset", lambda dso, s: "libc" in dso and re.search(r"mem(move|set|cpy)", s)),
    ("kernel (page faults, scheduling)", lambda dso, s: "kernel" in dso),
    ("other", lambda dso, s: True),
]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("profile_step: %s failed: %s" % (" ".join(cmd), r.stderr.strip()[-800:]))
    return r.stdout


def machine(heed):
    cpu, flags = common.cpu_model_and_flags()
    isa = [x for x in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile")
           if x in flags]
    version = run([heed, "--version"]).strip()
    return {"cpu": cpu, "isa": isa, "heed_version": version, "blas_kernel": common.heed_version_field(version, "BLAS"),
            "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build/release/heed"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "corpora/topic-en-debian"))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--core", default="0", help="the core to pin the run to (taskset -c)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/profile-step.json"))
    args = ap.parse_args()
    where = provenance.stamp()
    heed = os.path.abspath(args.heed)
    train = os.path.join(args.corpus, "train.tsv")
    with tempfile.TemporaryDirectory(prefix="heed-profile-") as d:
        data = os.path.join(d, "perf.data")
        cmd = ["taskset", "-c", args.core, heed, "train", train, "--epochs", str(args.epochs), "--workers", "1",
               "--threads", "1", "--seed", "1", "--quiet", "-o", os.path.join(d, "model.heed")]
        print("[profile] perf record -F 1999 -- " + " ".join(cmd), file=sys.stderr, flush=True)
        run(["perf", "record", "-F", "1999", "-o", data, "--"] + cmd)
        report = run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
                      "--percent-limit", "0", "-F", "sample,dso,symbol"])
    rows = []
    for line in report.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+\[([.k])\]\s+(.*?)(?:\s+-)*\s*$", line)  # some perfs add "-" columns
        if m:
            rows.append((int(m.group(1)), m.group(2), m.group(4).strip()))
    if not rows:
        sys.exit("profile_step: perf report printed no samples")
    mangled = sorted({s for _, _, s in rows if s.startswith("$s")})
    names = {}
    if mangled:
        out = run(["swift", "demangle", "--simplified"], input="\n".join(mangled) + "\n").splitlines()
        names = dict(zip(mangled, out))
    total = sum(n for n, _, _ in rows)
    groups = {g: 0 for g, _ in GROUPS}
    top = []
    for n, dso, sym in rows:
        name = names.get(sym, sym)
        g = next(g for g, test in GROUPS if test(dso, name))
        groups[g] += n
        top.append((n, dso, name, g))
    top.sort(reverse=True)
    shown = ["heed" if c == heed else os.path.relpath(c, ROOT) if c.startswith(ROOT) else
             "MODEL.heed" if c.endswith("model.heed") else c for c in cmd]
    record = {**where, "command": "bench/profile_step.py " + " ".join(sys.argv[1:]), "train_command": " ".join(shown),
              "machine": machine(heed), "samples": total,
              "groups": [{"group": g, "share": groups[g] / total} for g, _ in GROUPS],
              "top_symbols": [{"share": n / total, "dso": dso, "symbol": name[:160], "group": g}
                              for n, dso, name, g in top[:20]]}
    common.append_run(args.out, record)
    for x in record["groups"]:
        print("%5.1f%%  %s" % (100 * x["share"], x["group"]))
    print("[profile] %d samples; appended to %s" % (total, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
