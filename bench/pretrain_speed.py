#!/usr/bin/env python3
"""What `heed pretrain` costs against an equivalent PyTorch language model (issue 25, "Measure 3").

  bench/.venv/bin/python bench/pretrain_speed.py [--heed .build/release/heed] [--corpus sentiment-en-rt]
      [--reps 3] [--epochs 1] [--configs heed-1,torch-1,heed-2w,heed-2t,torch-2]
      [--torch-variant padded|packed] [--torch-adam lazy|dense] [--t2c-epochs 3 | --no-t2c]
      [--out bench/results/pretrain_speed.json]

Run it through bench/.venv (bench/run creates it: PyTorch CPU from PyPI). For each corpus:

1. prepare (untimed): `heed tokenize --format jsonl` gives Heed's tokens of TRAIN; Heed's held-out
   draw (its xoshiro256** generator and Fisher-Yates shuffle, seed 1), vocabulary (training lines,
   min count 2, at most 30,000 ids) and chunks (at most 100 tokens, at least 2) are rebuilt here and
   written as the PyTorch LM's input (DATA.json). After the first `heed pretrain` run the rebuilt
   vocabulary must equal the encoder file's word for word and the training token and line counts
   its provenance's, or the script stops: both systems train on exactly the same chunks.
2. interleaved repetitions: every repetition runs every configuration once (odd repetitions in the
   order given, even ones reversed), each a fresh process pinned with taskset to its cores:
     heed-1   heed pretrain --threads 1 --workers 1            (core 0)
     heed-2w  heed pretrain --threads 1 --workers 2            (cores 0,1)
     heed-2t  heed pretrain --threads 2 --workers 1            (cores 0,1)
     torch-1  lm_torch.py --threads 1 (torch.set_num_threads)  (core 0)
     torch-2  lm_torch.py --threads 2                          (cores 0,1)
   Both train the same model (BiLSTM, E 100, H 128, sampled softmax K 512, dropout 0.1, batch 32,
   Adam 2e-3, clip 5; see bench/reference/lm_torch.py) for --epochs epochs and then score the held-out
   chunks with the full softmax.
   Before them (--probe, on --t2c-corpus): one 1-core run of each lm_torch.py --variant x --adam,
   recorded as torch_variant_probe: the measured configuration should be the fastest.
3. text to classifier (unless --no-t2c; on --t2c-corpus only): `heed pretrain TRAIN --epochs N`
   then `heed train TRAIN --init ENCODER`, on 2 cores (Heed's default workers), wall seconds of each.

tokens/s = training tokens (sum of the epoch's chunk lengths: every token of every chunk, pad
excluded) / training seconds (from each epoch's start, batching included, to the end of its last
optimiser step; held-out evaluation, reading, tokenizing, vocabulary and process start excluded):
Heed's from ENCODER.log.jsonl (tokensPerSecond x seconds per epoch), PyTorch's from lm_torch.py's
own lines, counted the same way. Peak RSS is the child's ru_maxrss (os.wait4), whole process.
Ratios are Heed ÷ PyTorch within one repetition at the same cores; median and min-max over repetitions.
Results: --out (JSON; bench/report.py renders it as BENCHMARKS.md §0f).
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, corpus_dir, cpu_model_and_flags, heed_version_field, rel, write_results  # noqa: E402
from harness import sha256  # noqa: E402

REFERENCE = os.path.join(ROOT, "bench", "reference", "lm_torch.py")
MASK64 = (1 << 64) - 1
CONFIGS = {
    "heed-1": {"system": "heed", "cores": 1, "threads": 1, "workers": 1},
    "heed-2w": {"system": "heed", "cores": 2, "threads": 1, "workers": 2},
    "heed-2t": {"system": "heed", "cores": 2, "threads": 2, "workers": 1},
    "torch-1": {"system": "torch", "cores": 1, "threads": 1},
    "torch-2": {"system": "torch", "cores": 2, "threads": 2},
}


def fail(msg):
    print("pretrain_speed.py: error: " + msg, file=sys.stderr)
    sys.exit(2)


def log(msg):
    print("[pretrain-speed] " + msg, file=sys.stderr, flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), (v[7] if len(v) > 7 else 0)


def git(*args):
    return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True, check=True).stdout.strip()


def cores_for(n):
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < n:
        fail("a %d-core configuration needs %d usable cores; this process may use %s" % (n, n, usable))
    return ",".join(str(c) for c in usable[:n])


def run_measured(cmd, cwd=None, timeout=None):
    """A fresh child: (stdout, stderr, exit code, info: wall seconds, peak RSS MiB, load and steal around
    it, timed_out). A child still running after `timeout` seconds is ended (SIGTERM) and timed_out set."""
    out_p, err_p = "/tmp/pretrain_speed.%d.out" % os.getpid(), "/tmp/pretrain_speed.%d.err" % os.getpid()
    load0, c0 = loadavg(), cpu_ticks()
    t0 = time.perf_counter()
    timed_out = False
    with open(out_p, "w") as fo, open(err_p, "w") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, cwd=cwd)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if timeout and not timed_out and time.perf_counter() - t0 > timeout:
                timed_out = True
                p.terminate()
            time.sleep(0.2)
    secs = time.perf_counter() - t0
    c1 = cpu_ticks()
    with open(out_p) as f:
        out = f.read()
    with open(err_p) as f:
        err = f.read()
    os.unlink(out_p)
    os.unlink(err_p)
    info = {"wall_seconds": round(secs, 3), "peak_rss_mib": round(ru.ru_maxrss / 1024.0, 1),
            "user_seconds": round(ru.ru_utime, 2), "system_seconds": round(ru.ru_stime, 2),
            "loadavg_before": load0, "loadavg_after": loadavg(),
            "steal_pct": round(100.0 * (c1[1] - c0[1]) / max(1, c1[0] - c0[0]), 2)}
    if timed_out:
        info["timed_out"] = True
    return out, err, os.waitstatus_to_exitcode(status), info


# ------------------------------------------------------------------------------- Heed's data, rebuilt
class Rng:
    """Heed's Rng (Sources/HeedNN/Random.swift): xoshiro256** seeded through SplitMix64."""

    def __init__(self, seed):
        x = seed & MASK64
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            s.append(z ^ (z >> 31))
        self.s = s

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK64

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (self.rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self.rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result


def deterministic_shuffle(items, rng):
    """Heed's Bucketing.deterministicShuffle (Fisher-Yates with next() % (i + 1))."""
    items = list(items)
    for i in range(len(items) - 1, 0, -1):
        j = rng.next() % (i + 1)
        items[i], items[j] = items[j], items[i]
    return items


def prepare(heed, train_path, work, seed=1, held_out=0.02, max_held_out=2000, min_count=2, max_vocab=30000,
            max_len=100, embed=100, hidden=128):
    """Heed's pretraining chunks of train_path (Pretrainer.prepare, rebuilt); writes DATA.json."""
    r = subprocess.run([heed, "tokenize", "--format", "jsonl", "--quiet", train_path], capture_output=True, text=True)
    if r.returncode != 0:
        fail("heed tokenize failed on %s: %s" % (train_path, r.stderr.strip()[-500:]))
    docs = [json.loads(line)["tokens"] for line in r.stdout.splitlines() if line.strip()]
    n = len(docs)
    if n < 2:
        fail("%s: %d documents; pretraining needs at least two" % (train_path, n))
    count = min(max_held_out, max(1, int(math.floor(n * held_out + 0.5))))
    held = set(deterministic_shuffle(range(n), Rng((seed + 0x9E3779B97F4A7C15) & MASK64))[:count])
    counts = {}
    for i, toks in enumerate(docs):
        if i not in held:
            for t in toks:
                counts[t] = counts.get(t, 0) + 1
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t.encode("utf-8")))
    words = kept[:max(2, max_vocab) - 2]
    ids = {t: i + 2 for i, t in enumerate(words)}
    train, held_chunks, train_lines, held_lines = [], [], 0, 0
    for i, toks in enumerate(docs):
        if len(toks) < 2:
            continue
        seq = [ids.get(t, 1) for t in toks]
        if i in held:
            held_lines += 1
        else:
            train_lines += 1
        for s in range(0, len(seq), max_len):
            c = seq[s:s + max_len]
            if len(c) >= 2:
                (held_chunks if i in held else train).append(c)
    data = {"source": rel(train_path), "documents": n, "vocab_size": len(words) + 2, "embed": embed, "hidden": hidden,
            "max_len": max_len, "train_lines": train_lines, "held_out_lines": held_lines,
            "train_tokens": sum(len(c) for c in train), "train": train, "held_out": held_chunks}
    path = os.path.join(work, "DATA.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path, data, words


def encoder_metadata(path):
    """The __metadata__ of a safetensors file (an encoder `heed pretrain` wrote)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def check_same_data(encoder, data, words):
    meta = encoder_metadata(encoder)
    theirs = json.loads(meta["heed.vocabulary"])
    prov = json.loads(meta["heed.provenance.pretraining"])
    problems = []
    if theirs != words:
        diff = next((i for i, (a, b) in enumerate(zip(theirs, words)) if a != b), min(len(theirs), len(words)))
        problems.append("vocabulary differs from id %d (heed %d words, rebuilt %d)" % (diff + 2, len(theirs), len(words)))
    for key in ("trainTokens", "trainLines", "heldOutLines"):
        mine = {"trainTokens": "train_tokens", "trainLines": "train_lines", "heldOutLines": "held_out_lines"}[key]
        if prov.get(key) != data[mine]:
            problems.append("%s: heed %s, rebuilt %s" % (key, prov.get(key), data[mine]))
    if problems:
        fail("the PyTorch LM's input is not Heed's: " + "; ".join(problems) +
             " (bench/pretrain_speed.py prepare() no longer matches Sources/Heed/Pretrainer.swift)")
    return {"vocabulary_words": len(words), "train_tokens": prov["trainTokens"], "train_lines": prov["trainLines"],
            "held_out_lines": prov["heldOutLines"], "checked_against": "the first heed run's encoder file"}


# ------------------------------------------------------------------------------------------ runs
def heed_cmd(heed, train, out, cfg, epochs):
    return ["taskset", "-c", cores_for(cfg["cores"]), heed, "pretrain", train, "-o", out, "--epochs", str(epochs),
            "--threads", str(cfg["threads"]), "--workers", str(cfg["workers"]), "--seed", "1", "--quiet"]


def torch_cmd(data_path, cfg, epochs, variant, adam):
    return ["taskset", "-c", cores_for(cfg["cores"]), sys.executable, REFERENCE, data_path, "--epochs", str(epochs),
            "--threads", str(cfg["threads"]), "--variant", variant, "--adam", adam, "--seed", "1"]


def show(cmd):
    return " ".join(cmd).replace(sys.executable, "bench/.venv/bin/python").replace(ROOT + "/", "")


def one_run(name, cfg, args, heed, train_path, data_path, work, rep):
    if cfg["system"] == "heed":
        d = os.path.join(work, "%s-rep%d" % (name, rep))
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        enc = os.path.join(d, "enc.heed")
        cmd = heed_cmd(heed, train_path, enc, cfg, args.epochs)
    else:
        cmd = torch_cmd(data_path, cfg, args.epochs, args.torch_variant, args.torch_adam)
    out, err, rc, info = run_measured(cmd, timeout=args.run_timeout)
    rec = {"config": name, "rep": rep, "date": now(), "command": show(cmd), **{k: v for k, v in cfg.items()}, **info}
    if info.get("timed_out"):
        # Not finished within --run-timeout: its rate is below (the run's tokens) / (the seconds it had).
        tokens = args.data_tokens * args.epochs
        rec.update({"train_tokens": tokens, "train_seconds": None, "tokens_per_s": tokens / info["wall_seconds"],
                    "tokens_per_s_is_upper_bound": True, "held_out_perplexity": None, "per_epoch_tokens_per_s": None})
        log("%-8s rep %d: ended after %.0f s (--run-timeout): below %.0f tokens/s" % (name, rep, info["wall_seconds"], rec["tokens_per_s"]))
        return rec
    if rc != 0:
        fail("%s failed (exit %d): %s\n%s" % (name, rc, show(cmd), err.strip()[-2000:]))
    if cfg["system"] == "heed":
        with open(enc + ".log.jsonl") as f:
            epochs = [json.loads(l) for l in f if l.strip()]
        tokens = sum(e["tokensPerSecond"] * e["seconds"] for e in epochs)
        secs = sum(e["seconds"] for e in epochs)
        rec.update({"train_tokens": round(tokens), "train_seconds": round(secs, 3), "tokens_per_s": tokens / secs,
                    "per_epoch_tokens_per_s": [round(e["tokensPerSecond"], 1) for e in epochs],
                    "evaluation_seconds": round(sum(e["evaluationSeconds"] for e in epochs), 3),
                    "held_out_perplexity": epochs[-1]["heldOutPerplexity"], "optimizer_steps": epochs[-1]["optimizerSteps"]})
        rec["_encoder"] = enc
    else:
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        epochs = [l for l in lines if "epoch" in l]
        s = lines[-1]
        rec.update({"train_tokens": s["tokens"], "train_seconds": round(s["seconds"], 3), "tokens_per_s": s["tokens_per_s"],
                    "per_epoch_tokens_per_s": [round(e["tokens_per_s"], 1) for e in epochs],
                    "evaluation_seconds": round(sum(e.get("evaluation_seconds", 0) for e in epochs), 3),
                    "held_out_perplexity": epochs[-1].get("held_out_perplexity"), "optimizer_steps": sum(e["steps"] for e in epochs),
                    "torch_variant": s["variant"], "torch_adam": s["adam"]})
    log("%-8s rep %d: %8.0f tokens/s, %6.1f s training, %6.1f s wall, %5.0f MiB, load %.2f" % (
        name, rep, rec["tokens_per_s"], rec["train_seconds"], rec["wall_seconds"], rec["peak_rss_mib"], info["loadavg_before"][0]))
    return rec


def spread(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def summarise(runs, configs):
    by = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)
    out = {"per_config": {}, "ratios": []}
    for name in configs:
        rs = by.get(name, [])
        if rs:
            out["per_config"][name] = {"tokens_per_s": spread([r["tokens_per_s"] for r in rs]),
                                       "peak_rss_mib": spread([r["peak_rss_mib"] for r in rs]),
                                       "wall_seconds": spread([r["wall_seconds"] for r in rs]),
                                       "held_out_perplexity": spread([r["held_out_perplexity"] for r in rs
                                                                      if r["held_out_perplexity"] is not None])
                                       if any(r["held_out_perplexity"] is not None for r in rs) else None,
                                       "timed_out": sum(1 for r in rs if r.get("timed_out"))}
    heeds = [n for n in configs if CONFIGS[n]["system"] == "heed"]
    torches = [n for n in configs if CONFIGS[n]["system"] == "torch"]
    for h in heeds:
        for t in torches:
            if CONFIGS[h]["cores"] != CONFIGS[t]["cores"]:
                continue
            pairs = [(a, b) for a in by.get(h, []) for b in by.get(t, []) if a["rep"] == b["rep"]]
            if pairs:
                out["ratios"].append({"heed": h, "torch": t, "cores": CONFIGS[h]["cores"],
                                      "tokens_per_s": spread([a["tokens_per_s"] / b["tokens_per_s"] for a, b in pairs]),
                                      "peak_rss": spread([a["peak_rss_mib"] / b["peak_rss_mib"] for a, b in pairs]),
                                      "torch_timed_out": sum(1 for _, b in pairs if b.get("timed_out")),
                                      "heed_timed_out": sum(1 for a, _ in pairs if a.get("timed_out"))})
    for cores in (1, 2):
        hs = [h for h in heeds if CONFIGS[h]["cores"] == cores and h in out["per_config"]]
        if hs:
            out.setdefault("best_heed", {})[str(cores)] = max(hs, key=lambda h: out["per_config"][h]["tokens_per_s"]["median"])
    return out


def probe_variants(data_path, epochs):
    """One 1-core run of each lm_torch.py variant x Adam (no held-out evaluation): which PyTorch is fastest."""
    out = []
    for variant in ("padded", "packed"):
        for adam in ("lazy", "dense"):
            cmd = torch_cmd(data_path, CONFIGS["torch-1"], epochs, variant, adam) + ["--no-eval"]
            o, err, rc, info = run_measured(cmd)
            if rc != 0:
                fail("probe %s/%s failed (exit %d): %s" % (variant, adam, rc, err.strip()[-1000:]))
            s = [json.loads(l) for l in o.splitlines() if l.startswith("{")][-1]
            out.append({"variant": variant, "adam": adam, "tokens_per_s": s["tokens_per_s"], "command": show(cmd), **info})
            log("probe torch-1 %s/%s: %.0f tokens/s" % (variant, adam, s["tokens_per_s"]))
    return out


def text_to_classifier(heed, train_path, work, epochs):
    d = os.path.join(work, "t2c")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    enc, model = os.path.join(d, "enc.heed"), os.path.join(d, "model.heed")
    cores = cores_for(2)
    steps = []
    for what, cmd in (("pretrain", ["taskset", "-c", cores, heed, "pretrain", train_path, "-o", enc, "--epochs", str(epochs),
                                    "--seed", "1", "--quiet"]),
                      ("train --init", ["taskset", "-c", cores, heed, "train", train_path, "--init", enc, "-o", model,
                                        "--seed", "1", "--quiet"])):
        out, err, rc, info = run_measured(cmd)
        if rc != 0:
            fail("text to classifier, %s failed (exit %d): %s\n%s" % (what, rc, show(cmd), err.strip()[-2000:]))
        steps.append({"step": what, "command": show(cmd), **info})
        log("text to classifier: %s %.1f s" % (what, info["wall_seconds"]))
    with open(enc + ".log.jsonl") as f:
        pre = [json.loads(l) for l in f if l.strip()]
    with open(model + ".log.jsonl") as f:
        tr = [json.loads(l) for l in f if l.strip()]
    return {"cores": 2, "pretrain_epochs": epochs, "steps": steps,
            "total_wall_seconds": round(sum(s["wall_seconds"] for s in steps), 2),
            "pretrain_held_out_perplexity": [round(e["heldOutPerplexity"], 2) for e in pre],
            "train_log_last": tr[-1] if tr else None, "train_log_records": len(tr)}


def environment(heed):
    cpu, flags = cpu_model_and_flags()
    code = ("import json, torch; print(json.dumps({'torch': torch.__version__, 'mkldnn_available': "
            "torch.backends.mkldnn.is_available(), 'cpu_capability': torch.backends.cpu.get_cpu_capability(), "
            "'parallel_info': torch.__config__.parallel_info(), 'config': torch.__config__.show()}))")
    t = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    cfg = t.pop("config")
    t["build"] = {k: v for k, v in (kv.strip().split("=", 1) for kv in cfg.split("Build settings:", 1)[-1].split(",") if "=" in kv)
                  if k in ("BLAS_INFO", "LAPACK_INFO", "USE_MKLDNN", "USE_OPENMP", "TORCH_VERSION")}
    t["parallel_info"] = [l.strip() for l in t["parallel_info"].splitlines() if l.strip() and not l.startswith("--")]
    version = subprocess.run([heed, "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "isa": {k: k in flags for k in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")},
            "os": platform.platform(), "python": platform.python_version(),
            "heed_version": version, "openblas_kernel": heed_version_field(version, "BLAS"),
            "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"), **t}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"),
                    help="release heed binary (swift build -c release --product heed)")
    ap.add_argument("--corpus", action="append", help="shipped corpus name (repeatable; default sentiment-en-rt)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    ap.add_argument("--epochs", type=int, default=1, help="pretraining epochs per measured run")
    ap.add_argument("--configs", default="heed-1,torch-1,heed-2w,heed-2t,torch-2",
                    help="comma-separated, from: " + ", ".join(CONFIGS))
    ap.add_argument("--torch-variant", choices=["padded", "packed"], default="padded",
                    help="lm_torch.py --variant (padded: the fused nn.LSTM path)")
    ap.add_argument("--torch-adam", choices=["lazy", "dense"], default="lazy",
                    help="lm_torch.py --adam (lazy: SparseAdam on the output weights' used rows, as Heed's Adam)")
    ap.add_argument("--t2c-epochs", type=int, default=3, help="pretraining epochs for the text-to-classifier timing")
    ap.add_argument("--no-t2c", action="store_true", help="skip the text-to-classifier timing")
    ap.add_argument("--t2c-corpus", default="sentiment-en-rt", help="the corpus the text-to-classifier timing runs on")
    ap.add_argument("--probe", action=argparse.BooleanOptionalAction, default=True,
                    help="on --t2c-corpus, first time one 1-core run of each lm_torch.py --variant x --adam")
    ap.add_argument("--run-timeout", type=float, default=900,
                    help="end a measured run after this many seconds and record its rate as an upper bound")
    ap.add_argument("--work", default="/tmp/pretrain_speed", help="scratch folder (encoders, DATA.json)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "pretrain_speed.json"))
    args = ap.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        fail("unknown configuration %s; choose from %s" % (", ".join(bad), ", ".join(CONFIGS)))
    if not os.access(args.heed, os.X_OK):
        fail("no heed binary at %s: build it with `swift build -c release --product heed` or pass --heed" % args.heed)
    if not shutil.which("taskset"):
        fail("taskset (util-linux) is needed to pin runs to their cores")
    if args.reps < 1 or args.epochs < 1:
        fail("--reps and --epochs must be at least 1")
    try:
        import torch  # noqa: F401
    except ImportError:
        fail("PyTorch is not importable; run through bench/.venv/bin/python (bench/run creates the venv)")

    code_dirty = bool(git("status", "--porcelain", "--", "Sources", "Package.swift"))
    result = {"what": "heed pretrain against an equivalent PyTorch LM: training tokens/s and peak RSS at equal cores",
              "commit": git("rev-parse", "--short", "HEAD"), "dirty": code_dirty,
              "code_commit": git("log", "-1", "--format=%h", "--", "Sources", "Package.swift"),
              "bench_dirty": bool(git("status", "--porcelain", "--", "bench")),
              "date": now(), "invocation": show([sys.executable] + sys.argv),
              "heed_binary": rel(os.path.abspath(args.heed)), "heed_sha256": sha256(args.heed),
              "environment": environment(args.heed), "loadavg_start": loadavg(),
              "settings": {"epochs": args.epochs, "reps": args.reps, "configs": configs, "torch_variant": args.torch_variant,
                           "torch_adam": args.torch_adam, "model": "BiLSTM, embed 100, hidden 128 per direction, sampled "
                           "softmax K 512 (log-uniform, log-Q corrected, accidental hits removed), dropout 0.1, batch 32 "
                           "chunks, chunks of at most 100 tokens, Adam lr 0.002, clip 5; heed pretrain's defaults",
                           "tokens_per_s": "sum of the epoch's chunk lengths (every token of every training chunk, no "
                           "pad) / seconds from each epoch's start (batching included) to its last optimiser step; "
                           "held-out evaluation, reading, tokenizing and vocabulary excluded",
                           "peak_rss": "ru_maxrss of the whole child process (os.wait4)",
                           "pinning": "taskset: 1-core runs on core %s, 2-core runs on cores %s" % (cores_for(1), cores_for(2))},
              "corpora": []}
    if not code_dirty:
        log("measuring at %s (Sources/ as at %s)" % (result["commit"], result["code_commit"]))
    else:
        log("warning: Sources/ or Package.swift has uncommitted changes; the results are marked dirty")
    for name in args.corpus or ["sentiment-en-rt"]:
        train_path = os.path.join(corpus_dir(name), "train.tsv")
        if not os.path.exists(train_path):
            fail("no %s" % train_path)
        work = os.path.join(args.work, name)
        os.makedirs(work, exist_ok=True)
        data_path, data, words = prepare(args.heed, train_path, work)
        log("%s: %d training chunks, %d tokens, vocabulary %d" % (name, len(data["train"]), data["train_tokens"], data["vocab_size"]))
        probe = probe_variants(data_path, args.epochs) if args.probe and name == args.t2c_corpus else None
        runs, checked = [], None
        args.data_tokens = data["train_tokens"]
        entry = {"corpus": name, "train": rel(train_path), "documents": data["documents"], "train_chunks": len(data["train"]),
                 "train_tokens_per_epoch": data["train_tokens"], "vocabulary": data["vocab_size"], "same_data": checked,
                 "torch_variant_probe": probe, "runs": runs, "summary": summarise(runs, configs)}
        result["corpora"].append(entry)
        for rep in range(1, args.reps + 1):
            order = configs if rep % 2 == 1 else list(reversed(configs))
            for c in order:
                rec = one_run(c, CONFIGS[c], args, args.heed, train_path, data_path, work, rep)
                enc = rec.pop("_encoder", None)
                if enc and checked is None:
                    checked = check_same_data(enc, data, words)
                    log("same data: %s" % json.dumps(checked))
                runs.append(rec)
                entry["same_data"], entry["summary"] = checked, summarise(runs, configs)
                result["complete"] = False
                write_results(args.out, result)  # a run cut short keeps what was measured
        if not args.no_t2c and name == args.t2c_corpus:
            entry["text_to_classifier"] = text_to_classifier(args.heed, train_path, work, args.t2c_epochs)
    result["complete"] = True
    result["loadavg_end"] = loadavg()
    result["finished"] = now()
    write_results(args.out, result)
    log("wrote %s" % rel(args.out))
    for c in result["corpora"]:
        for r in c["summary"]["ratios"]:
            t = r["tokens_per_s"]
            log("%s %s / %s: %.2fx (%.2f-%.2f)" % (c["corpus"], r["heed"], r["torch"], t["median"], t["min"], t["max"]))


if __name__ == "__main__":
    main()
