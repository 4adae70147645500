"""`bench/quality.py --tune BUDGET`: test accuracy of Heed's defaults, Heed with subwords and `heed tune`
against fastText with its defaults and with its autotune, every system on the same split, per seed.

For each corpus and seed S:

- split: SST-2 (a folder with dev.tsv) uses TRAIN and its official dev file; every other corpus gets a
  stratified 10% dev share carved from train.tsv with seed S, written to
  bench/out/quality-tune/<corpus>/seed<S>/{train-part,dev-part}.tsv. Every system trains on the train
  part; the dev part only stops training early (Heed) or ranks settings (heed tune, fastText
  autotune). test.tsv is read once per system, for the final evaluation.
- default:  heed train TRAINPART --dev DEVPART --seed S --quiet -o M; heed evaluate M TEST --json
- subwords: the same with --subwords 1-2 (corpora named *-zh-*) or 3-6 (the others)
- tune:     heed tune TRAINPART --dev DEVPART --budget BUDGET --seed S --quiet -o M; heed evaluate M TEST --json
            (winner and trial count from M.trials.jsonl)
- fasttext: bench/reference/fasttext_ref.py on Heed's tokens (heed tokenize --format text): bigrams,
            lr 0.5, 25 epochs, 2 threads, seed S, trained on the train part
- fasttext-autotune: the same script with --autotune-validation DEVPART.ft --autotune-duration BUDGET,
            2 threads (Heed's tune runs two one-core trials at once), seed S

Results merge into bench/results/quality-tune.json per corpus, system and seed (a run of some systems or
seeds keeps the others' earlier results, unless that system's settings — the budget, the subword range —
or the Heed/fastText version changed, which drops its older runs) and are rendered as §0b of
BENCHMARKS.md by bench/report.py. The issue's targets are reported on stderr, never asserted.
"""
import datetime
import json
import os
import random
import statistics
import sys

import common
import provenance
import harness as h

SYSTEMS = ["default", "subwords", "tune", "fasttext", "fasttext-autotune"]
# plain fastText's seconds first (a broken setup shows early); the two budgeted searches back to back
RUN_ORDER = ["fasttext", "default", "subwords", "fasttext-autotune", "tune"]
LABELS = {"default": "Heed default", "subwords": "Heed + subwords", "tune": "heed tune",
          "fasttext": "fastText", "fasttext-autotune": "fastText autotune"}
OUT = os.path.join(common.ROOT, "bench", "out", "quality-tune")
RESULTS = os.path.join(common.ROOT, "bench", "results", "quality-tune.json")
FASTTEXT_REF = os.path.join(common.ROOT, "bench", "reference", "fasttext_ref.py")
VENV_PY = os.path.join(common.ROOT, "bench", ".venv", "bin", "python")
PY = VENV_PY if os.path.exists(VENV_PY) else sys.executable  # fastText lives in bench/.venv (bench/run creates it)
THREADS = 2  # fastText's threads: heed train's default workers and heed tune's parallel trials on this 2-core machine
DEV_FRACTION = 0.1
PATIENCE, MAX_EPOCHS = 3, 15  # heed train's defaults, which heed tune's trials keep (quality.py passes neither)


def budget_seconds(text):
    """`90s`, `10m`, `1h30m` or plain seconds, as `heed tune --budget` reads them."""
    try:
        value = float(text)
        if value > 0:
            return value
    except ValueError:
        pass
    total, number = 0.0, ""
    for c in text:
        if c.isdigit() or c == ".":
            number += c
            continue
        if c not in "smh" or not number:
            raise ValueError("budget %r: use e.g. 90s, 10m, 1h30m or plain seconds" % text)
        total += float(number) * {"s": 1, "m": 60, "h": 3600}[c]
        number = ""
    if number or total <= 0:
        raise ValueError("budget %r: use e.g. 90s, 10m, 1h30m or plain seconds" % text)
    return total


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def show(cmd):
    """A command as recorded: heed as `heed`, the venv's python as `python`, paths relative to the repository."""
    out = []
    for i, a in enumerate(cmd):
        if i == 0 and os.path.basename(a).startswith("heed"):
            out.append("heed")
        elif i == 0 and a == PY:
            out.append("python")
        elif os.path.isabs(a):
            out.append(common.rel(a))
        else:
            out.append(a)
    return " ".join(out)


def carve_split(train, folder, seed):
    """Stratified DEV_FRACTION of each label's lines as dev, seeded; both parts keep train.tsv's order."""
    with open(train, encoding="utf-8", newline="") as fh:
        lines = [l for l in fh if l.strip()]
    by_label = {}
    for i, line in enumerate(lines):
        by_label.setdefault(line.split("\t", 1)[0], []).append(i)
    rng = random.Random(seed)
    dev = set()
    for label in sorted(by_label):
        idx = by_label[label][:]
        rng.shuffle(idx)
        k = round(DEV_FRACTION * len(idx))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)  # every label in both parts
        dev.update(idx[:k])
    os.makedirs(folder, exist_ok=True)
    paths = os.path.join(folder, "train-part.tsv"), os.path.join(folder, "dev-part.tsv")
    for path, keep in zip(paths, (lambda i: i not in dev, lambda i: i in dev)):
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as fh:
            fh.writelines(l if l.endswith("\n") else l + "\n" for i, l in enumerate(lines) if keep(i))
        os.replace(path + ".tmp", path)
    return paths


def count_lines(path):
    with open(path, encoding="utf-8") as fh:
        return sum(1 for l in fh if l.strip())


def to_fasttext(heed, tsv, dst):
    """Heed's tokens in fastText format, through the harness's converter (the one bench/run fasttext uses);
    made afresh each time (seconds), so a rebuilt heed's tokenizer is never stale."""
    print("$ heed tokenize --format text --quiet %s  (-> %s)" % (common.rel(tsv), common.rel(dst)), file=sys.stderr, flush=True)
    h.to_fasttext(lambda *a: [heed, *a], tsv, dst)
    return dst


_SHA = {}


def binary_sha(path):
    """The first 12 hex digits of the binary's sha256: `heed --version` does not change between builds."""
    if path not in _SHA:
        _SHA[path] = h.sha256(path)[:12]
    return _SHA[path]


def heed_evaluate(args, model, test):
    cmd = [args.heed, "evaluate", model, test, "--json"]
    evaluation = json.loads(common.run(cmd)[0])
    return evaluation, cmd


def heed_train(args, name, split, seed, system):
    model = os.path.join(split["folder"], system + ".heed")
    cmd = [args.heed, "train", split["train"], "--dev", split["dev"]]
    if system == "subwords":
        cmd += ["--subwords", subword_range(name)]
    cmd += ["--seed", str(seed), "--quiet", "-o", model]
    _, seconds = common.run(cmd)
    evaluation, eval_cmd = heed_evaluate(args, model, split["test"])
    log = [json.loads(l) for l in open(model + ".log.jsonl")]
    best = max(log, key=lambda r: r["dev_accuracy"])
    return {"seed": seed, "accuracy": evaluation["accuracy"], "macro_f1": evaluation["macro_f1"], "seconds": seconds,
            "heed_sha256": binary_sha(args.heed), "epochs_run": len(log), "best_epoch": best["epoch"], "dev_accuracy": best["dev_accuracy"],
            "commands": [show(cmd), show(eval_cmd)]}


def heed_tune(args, name, split, seed):
    model = os.path.join(split["folder"], "tune.heed")
    trials_log = model + ".trials.jsonl"
    if os.path.exists(trials_log):
        os.remove(trials_log)
    cmd = [args.heed, "tune", split["train"], "--dev", split["dev"], "--budget", args.tune, "--seed", str(seed), "--quiet", "-o", model]
    _, seconds = common.run(cmd)
    evaluation, eval_cmd = heed_evaluate(args, model, split["test"])
    rows = [json.loads(l) for l in open(trials_log) if l.strip()]
    winner = next((r for r in rows if r.get("status") == "best"), None) or max(rows, key=lambda r: r["score"])
    # Early stopping ends a trial PATIENCE epochs after its best one, or at MAX_EPOCHS; a winner that ended
    # sooner was cut by the budget (or its rung was the last the budget reached) while still improving.
    ended_by_budget = winner["epochs"] < MAX_EPOCHS and winner["epochs"] - winner["best_epoch"] < PATIENCE
    return {"seed": seed, "accuracy": evaluation["accuracy"], "macro_f1": evaluation["macro_f1"], "seconds": seconds,
            "heed_sha256": binary_sha(args.heed), "winner_ended_by_budget": ended_by_budget, "trials": len({r["trial"] for r in rows}), "trial_rows": len(rows),
            "final_rung_trials": len({r["trial"] for r in rows if r["rung"] == max(x["rung"] for x in rows)}),
            "winner": {k: winner.get(k) for k in ("trial", "rung", "settings", "epochs", "best_epoch", "dev_accuracy",
                                                   "dev_macro_f1", "score", "seconds", "stopped", "status")},
            "commands": [show(cmd), show(eval_cmd)]}


def fasttext_run(args, split, seed, autotune):
    cmd = [PY, FASTTEXT_REF, split["train_ft"], split["test_ft"], "--threads", str(THREADS), "--seed", str(seed)]
    if autotune:
        cmd += ["--autotune-validation", split["dev_ft"], "--autotune-duration", str(int(round(budget_seconds(args.tune))))]
    print("$ " + show(cmd), file=sys.stderr, flush=True)
    out, _, _, seconds = h.run(cmd)  # autotune's progress line on stderr is kept out of the log
    j = h.last_json(out)
    run = {"seed": seed, "accuracy": j["accuracy"], "seconds": seconds, "train_seconds": j["train_seconds"],
           "threads": j["threads"], "commands": [show(cmd)]}
    if autotune:
        run.update({"args": j["args"], "dev_accuracy": j["dev_accuracy"], "autotune_duration": j["autotune_duration"]})
    return run


def subword_range(name):
    return "1-2" if "-zh-" in name else "3-6"


def fasttext_version():
    out, _, rc, _ = h.run([PY, "-c", "import importlib.metadata as m; print(m.version('fasttext-wheel'))"], check=False)
    return "fasttext-wheel " + (out.strip() if rc == 0 else "not installed in " + common.rel(PY))


def config_of(args, name, system, versions):
    """What a system's runs must share to be averaged together."""
    c = {"version": versions["fasttext" if system.startswith("fasttext") else "heed"]}
    if system == "subwords":
        c["subwords"] = subword_range(name)
    if system in ("tune", "fasttext-autotune"):
        c["budget"] = args.tune
        c["budget_seconds"] = budget_seconds(args.tune)
    if system.startswith("fasttext"):
        c["threads"] = THREADS
    return c


def summarize(entry):
    accs = [r["accuracy"] for r in entry["runs"]]
    entry["seeds"] = [r["seed"] for r in entry["runs"]]
    entry["mean_accuracy"] = statistics.mean(accs)
    entry["sd_accuracy"] = statistics.stdev(accs) if len(accs) > 1 else None
    entry["mean_seconds"] = statistics.mean(r["seconds"] for r in entry["runs"])
    if "macro_f1" in entry["runs"][0]:
        entry["mean_macro_f1"] = statistics.mean(r["macro_f1"] for r in entry["runs"])
    if entry["runs"] and "trials" in entry["runs"][0]:
        entry["mean_trials"] = statistics.mean(r["trials"] for r in entry["runs"])


def merge(corpus_entry, system, config, run):
    """Adds one seed's run to a system's entry; runs made with other settings or versions are dropped."""
    systems = corpus_entry.setdefault("systems", {})
    old = systems.get(system)
    if old and old.get("config") != config:
        print("%s: %s settings or version changed (%s -> %s): its earlier runs are dropped" % (
            corpus_entry["corpus"], system, old.get("config"), config), file=sys.stderr)
        old = None
    runs = [r for r in (old or {}).get("runs", []) if r["seed"] != run["seed"]] + [run]
    run.setdefault("date", now())
    run.update({k: v for k, v in provenance.stamp().items() if k != "date"})  # commit measured at (bench/provenance.py)
    entry = {"config": config, "runs": sorted(runs, key=lambda r: r["seed"]), "date": now()}
    summarize(entry)
    systems[system] = entry


def prepare_split(args, name, d, seed):
    folder = os.path.join(OUT, name, "seed%d" % seed)
    os.makedirs(folder, exist_ok=True)
    test = os.path.join(d, "test.tsv")
    official = os.path.join(d, "dev.tsv")
    if os.path.exists(official):
        train, dev = os.path.join(d, "train.tsv"), official
        kind = "official dev.tsv"
        ft_dir = os.path.join(OUT, name)  # the same files for every seed
    else:
        train, dev = carve_split(os.path.join(d, "train.tsv"), folder, seed)
        kind = "stratified %d%% of train.tsv, seed %d" % (round(100 * DEV_FRACTION), seed)
        ft_dir = folder
    split = {"folder": folder, "train": train, "dev": dev, "test": test, "kind": kind,
             "train_docs": count_lines(train), "dev_docs": count_lines(dev), "test_docs": count_lines(test)}
    if any(s.startswith("fasttext") for s in args.systems_list):
        split["train_ft"] = to_fasttext(args.heed, train, os.path.join(ft_dir, "train.ft" if ft_dir != folder else "train-part.ft"))
        split["dev_ft"] = to_fasttext(args.heed, dev, os.path.join(ft_dir, "dev.ft" if ft_dir != folder else "dev-part.ft"))
        split["test_ft"] = to_fasttext(args.heed, test, os.path.join(OUT, name, "test.ft"))
    return split


def pm(entry, seeds=None):
    """'mean ± sd' in %, with the seeds named when they are not all of the corpus's."""
    if not entry:
        return "—"
    m = 100 * entry["mean_accuracy"]
    out = "%.1f ± %.1f" % (m, 100 * entry["sd_accuracy"]) if entry.get("sd_accuracy") is not None else "%.1f" % m
    return out if seeds is None or entry["seeds"] == seeds else out + " (seeds %s)" % ",".join(map(str, entry["seeds"]))


def verdict(a, b):
    """'✓ +d' when system a's mean test accuracy is above b's, '✗ d' otherwise, '—' when one is missing."""
    if not a or not b:
        return "—"
    d = 100 * (a["mean_accuracy"] - b["mean_accuracy"])
    return "%s %+.1f" % ("✓" if d > 0 else "✗", d)


def print_summary(results, names):
    rows = [["corpus", "seeds", "default", "fastText", "default>fastText", "subwords", "tune", "ft autotune", "tune>autotune"]]
    for n in names:
        s = results.get(n, {}).get("systems", {})
        seeds = sorted({seed for e in s.values() for seed in e["seeds"]})
        rows.append([n, ",".join(map(str, seeds)), pm(s.get("default"), seeds), pm(s.get("fasttext"), seeds),
                     verdict(s.get("default"), s.get("fasttext")), pm(s.get("subwords"), seeds), pm(s.get("tune"), seeds),
                     pm(s.get("fasttext-autotune"), seeds), verdict(s.get("tune"), s.get("fasttext-autotune"))])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("\nTest accuracy, mean ± sd over seeds (%) — issue 17 targets: tune > fastText autotune and "
          "default > fastText on every corpus (reported, not asserted):", file=sys.stderr)
    for i, r in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)), file=sys.stderr)
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths), file=sys.stderr)
    for label, a, b in (("default > fastText", "default", "fasttext"), ("tune > fastText autotune", "tune", "fasttext-autotune")):
        got = [verdict(results.get(n, {}).get("systems", {}).get(a), results.get(n, {}).get("systems", {}).get(b)) for n in names]
        done = [g for g in got if g != "—"]
        print("  %s: %d of %d corpora%s" % (label, sum(g.startswith("✓") for g in done), len(done),
                                            "" if len(done) == len(names) else " (%d not measured)" % (len(names) - len(done))),
              file=sys.stderr)


def main(args):
    try:
        budget_seconds(args.tune)
    except ValueError as ex:
        sys.exit("quality.py: --tune: %s" % ex)
    args.systems_list = [s.strip() for s in (args.systems or ",".join(SYSTEMS)).split(",") if s.strip()]
    unknown = [s for s in args.systems_list if s not in SYSTEMS]
    if unknown:
        sys.exit("quality.py: unknown system(s) %s; choose from %s" % (", ".join(unknown), ",".join(SYSTEMS)))
    results_path = args.results or RESULTS
    results = common.load_results(results_path)
    versions = {"heed": common.heed_version(args.heed), "fasttext": fasttext_version()}
    names, failures = [], []
    for name, d in common.available(args.corpora):
        names.append(name)
        for seed in args.seeds:
            split = prepare_split(args, name, d, seed)
            entry = results.setdefault(name, {"corpus": name})
            entry["dev_fraction"] = None if split["kind"].startswith("official") else DEV_FRACTION
            entry.setdefault("splits", {})[str(seed)] = {k: split[k] for k in ("kind", "train_docs", "dev_docs", "test_docs")}
            entry["splits"][str(seed)]["files"] = [common.rel(split[k]) for k in ("train", "dev", "test")]
            for system in sorted(args.systems_list, key=RUN_ORDER.index):
                try:
                    if system in ("default", "subwords"):
                        run = heed_train(args, name, split, seed, system)
                    elif system == "tune":
                        run = heed_tune(args, name, split, seed)
                    else:
                        run = fasttext_run(args, split, seed, system == "fasttext-autotune")
                except Exception as ex:  # one failure should not end a run of hours: the others go on
                    failures.append("%s seed %d %s: %s" % (name, seed, system, ex))
                    print("FAILED " + failures[-1], file=sys.stderr, flush=True)
                    continue
                merge(entry, system, config_of(args, name, system, versions), run)
                entry["date"] = now()
                common.write_results(results_path, results)
                extra = ""
                if system == "tune":
                    extra = ", %d trials, winner trial %d" % (run["trials"], run["winner"]["trial"])
                print("%s seed %d %s: test accuracy %.2f%%, %.0f s%s" % (
                    name, seed, LABELS[system], 100 * run["accuracy"], run["seconds"], extra), file=sys.stderr, flush=True)
    print_summary(results, names)
    if failures:
        print("\n%d run(s) failed (not recorded):\n  %s" % (len(failures), "\n  ".join(failures)), file=sys.stderr)
        sys.exit(1)
