#!/usr/bin/env python3
"""Which epoch to keep when the dev set is small: record whole training trajectories, then replay
early-stopping rules on them.

    bench/kept_epoch.py record --corpus corpora/sentiment-en-rt --labels 200 500 2000 --seeds 1 2 3 4 5 \
        --out bench/results/kept-epoch-trajectories.json
    bench/kept_epoch.py replay bench/results/kept-epoch-trajectories.json

record: the same N-document draws and 2,000-document pools as bench/label_scarce.py --score pool.
Each run trains with the default schedule and early stopping switched off (--min-steps beyond the
schedule), and names the pool as --test, so the log holds, per epoch, the dev accuracy and loss the
stopping rule sees and the pool accuracy that rule's kept epoch would score. The pool is scored by
the same weights the rule would keep (the monitor does not change training), so replaying a rule on
the log gives exactly what a run under that rule would score, as long as the rule only looks at past
evaluations.

replay: for each rule, the mean pool accuracy of the epoch it keeps, per corpus and label count.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # noqa: E402
from common import write_results  # noqa: E402
from label_scarce import draws, pool, sha256_of, write_tsv  # noqa: E402


def record(args):
    where = provenance.stamp()
    heed_sha256 = sha256_of(args.heed)
    results = json.load(open(args.out)) if os.path.exists(args.out) else {"runs": []}
    done = {(r["corpus"], r["labels"], r["seed"], r["workers"]) for r in results["runs"]}
    work = tempfile.mkdtemp(prefix="heed-kept-")
    for _, name, rows, n, seed, chosen in draws(args.corpus, args.labels, args.seeds):
        if (name, n, seed, args.workers) in done:
            continue
        train_path = os.path.join(work, f"{name}-{n}-{seed}.tsv")
        pool_path = os.path.join(work, f"{name}-{n}-{seed}-pool.tsv")
        write_tsv(train_path, [rows[i] for i in chosen])
        write_tsv(pool_path, [rows[i] for i in pool(rows, set(chosen), seed)])
        model = os.path.join(work, "m.heed")
        t0 = time.time()
        subprocess.run([args.heed, "train", train_path, "--seed", str(seed), "--workers", str(args.workers),
                        "--min-steps", "1000000", "--test", pool_path, "--quiet", "-o", model], check=True)
        log = [json.loads(line) for line in open(model + ".log.jsonl")]
        row = {"corpus": name, "labels": n, "seed": seed, "workers": args.workers,
               "steps_per_epoch": log[0]["optimizer_steps"],
               "dev_accuracy": [r["dev_accuracy"] for r in log], "dev_loss": [r["dev_loss"] for r in log],
               "pool_accuracy": [r["test_accuracy"] for r in log],
               "seconds": round(time.time() - t0, 1), "commit": where["commit"], "dirty": where["dirty"],
               "code_commit": where["code_commit"], "date": provenance.now(), "heed_sha256": heed_sha256}
        results["runs"].append(row)
        print(f"{name} {n} seed {seed}: {len(log)} epochs, {row['seconds']} s", flush=True)
        write_results(os.path.abspath(args.out), results, sort_keys=False)


def stopping_rule(min_steps=600, patience=3, patience_steps=600, loss_alpha=0.5, score_alpha=1.0, tie="loss"):
    """Heed's EarlyStopping (Sources/Heed/EarlyStopping.swift) for a small dev set, with the kept
    epoch chosen on the running average of dev accuracy (score_alpha: weight of the newest; 1 = the
    single-score rule Heed had before ec4c51b)."""
    def keep(run):
        spe = run["steps_per_epoch"]
        best_score, best_epoch, best_loss = -1.0, 0, None
        progress_epoch = progress_step = 0
        smoothed_loss = lowest = None
        smoothed_score = None
        for k, (acc, loss) in enumerate(zip(run["dev_accuracy"], run["dev_loss"])):
            epoch, step = k + 1, spe * (k + 1)
            smoothed_score = acc if smoothed_score is None else score_alpha * acc + (1 - score_alpha) * smoothed_score
            score = smoothed_score
            improved = score > best_score
            if score == best_score and loss is not None:
                improved = improved or (tie == "loss" and loss < (best_loss if best_loss is not None else float("inf")))
                improved = improved or tie == "later"
            progress = improved
            if improved:
                best_score, best_epoch, best_loss = score, epoch, loss
            if loss is not None:
                smoothed_loss = loss if smoothed_loss is None else loss_alpha * loss + (1 - loss_alpha) * smoothed_loss
                if lowest is None or smoothed_loss < lowest:
                    lowest, progress = smoothed_loss, True
            if progress:
                progress_epoch, progress_step = epoch, step
            if step >= min_steps and epoch - progress_epoch >= patience and step - progress_step >= patience_steps:
                break
        return best_epoch, epoch
    return keep


RULES = {
    "best single dev accuracy, lower loss breaks ties (before ec4c51b)": stopping_rule(),
    "best single dev accuracy, ties to the later epoch": stopping_rule(tie="later"),
    "running average of dev accuracy, weight 0.7 (default from ff13e28)": stopping_rule(score_alpha=0.7),
    "running average of dev accuracy, weight 0.5 (default of ec4c51b)": stopping_rule(score_alpha=0.5),
    "running average of dev accuracy, weight 0.3": stopping_rule(score_alpha=0.3),
    "running average of dev accuracy, weight 0.2": stopping_rule(score_alpha=0.2),
    "running average 0.5, patience 6 evaluations": stopping_rule(score_alpha=0.5, patience=6),
}
ORACLE = "oracle: the epoch best on the pool (not a rule)"
LAST = "last epoch of the schedule, no early stopping"


def table(runs):
    """Per rule and (corpus, labels): the kept epochs' pool accuracies and the epochs each run took."""
    groups = sorted({(r["corpus"], r["labels"]) for r in runs})
    rows = {}
    for name in list(RULES) + [ORACLE, LAST]:
        for g in groups:
            accs, ends = [], []
            for r in (r for r in runs if (r["corpus"], r["labels"]) == g):
                if name == ORACLE:
                    accs.append(max(r["pool_accuracy"]))
                elif name == LAST:
                    accs.append(r["pool_accuracy"][-1])
                else:
                    kept, end = RULES[name](r)
                    accs.append(r["pool_accuracy"][kept - 1])
                    ends.append(end)
            rows[name, g] = (accs, ends)
    return groups, rows


def replay(args):
    runs = [r for path in args.results for r in json.load(open(path))["runs"]]
    groups, rows = table(runs)
    print(f"{'rule':66s}" + "".join(f"{c[:12] + ' ' + str(n):>22s}" for c, n in groups))
    for name in list(RULES) + [ORACLE, LAST]:
        cells = []
        for g in groups:
            accs, ends = rows[name, g]
            sd = 100 * statistics.stdev(accs) if len(accs) > 1 else 0
            cells.append(f"{100 * statistics.mean(accs):5.1f}±{sd:3.1f} n{len(accs)}" + (f" e{statistics.mean(ends):3.0f}" if ends else "     "))
        print(f"{name:66s}" + "".join(f"{c:>22s}" for c in cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--heed", default=".build/release/heed")
    rec.add_argument("--corpus", required=True, nargs="+")
    rec.add_argument("--labels", type=int, nargs="+", default=[500])
    rec.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    rec.add_argument("--workers", type=int, default=1)
    rec.add_argument("--out", required=True)
    rep = sub.add_parser("replay")
    rep.add_argument("results", nargs="+")
    args = ap.parse_args()
    record(args) if args.command == "record" else replay(args)


if __name__ == "__main__":
    main()
