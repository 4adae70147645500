#!/usr/bin/env python3
"""Accuracy with few labels: train on N labelled documents drawn from a corpus' training set and
score the model, beside fastText on the same documents.

    bench/label_scarce.py --corpus corpora/sentiment-en-rt --labels 200 500 2000 --seeds 1 2 3 \
        --candidate "" --candidate "--min-steps 600" --score pool --out bench/results/label-scarce-dev.json

The N documents: per label, a seeded shuffle of that label's training documents, then the label's
share of N (the subset seed is the run's seed). `heed train` carves its own dev split from them, as a
user's run would.

--score pool (for choosing settings): the model is scored on up to 2,000 other documents of the
training set, never on the test set. --score test (for reporting only, after settings are chosen):
the shipped test set.

Unlabelled text: the training texts not drawn (and, with --score pool, not scored) are written to a
file that a candidate names as {rest}; the scored file is {scored} (pass it as --exclude, or as
--test to also log its accuracy every epoch, so `heed train` drops any unlabelled line equal to a
scored document and says how many). Example:
    --candidate "--unlabelled {rest} --semi self-training --exclude {scored}"
--fasttext-pretrained adds fastText supervised started from skipgram vectors trained on {rest} (plus
--extra-unlabelled files), fastText's own semi-supervised route. A candidate may start from the same
vectors: {skipgram-vec} is that .vec file and {vocab} a label-less vocabulary over the drawn texts,
{rest} and the extra files, e.g.
    --candidate "--vocab {vocab} --embeddings {skipgram-vec}"
With every label drawn (--labels 1000000) {rest} is empty, and the skipgram vectors learn from the
training texts themselves.

Rows are named in BENCHMARKS by --candidate-label (one per --candidate, in order), --label (every heed
row), --fasttext-label and --skipgram-label; a row without a name is shown as its system and candidate.

Every run records the commit it was measured at (bench/provenance.py) and the heed binary's sha256. A
binary built earlier than the checkout (copied aside so a long run is not disturbed by later builds) is
named by --heed-commit: the rows then carry that commit and keep the checkout's in bench_commit.
Stopping the script (SIGTERM, SIGHUP, Ctrl-C) stops the heed or fastText run it is waiting for too.
"""
import argparse, functools, hashlib, json, os, random, shlex, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provenance  # noqa: E402
from common import write_results  # noqa: E402


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "\t" in line:
                label, text = line.split("\t", 1)
                rows.append((label, text))
    return rows


def subset(rows, n, seed):
    """Indices of the N-document draw: per label, a seeded shuffle, then the label's share of N."""
    by_label = {}
    for i, (label, _) in enumerate(rows):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    chosen = []
    for label in sorted(by_label):
        idx = by_label[label][:]
        rng.shuffle(idx)
        chosen += idx[: max(1, round(n * len(idx) / len(rows)))]
    return sorted(chosen)


def pool(rows, taken, seed):
    """Indices of the 2,000-document pool --score pool scores on: a seeded shuffle of the documents
    not drawn, its first 2,000, in corpus order."""
    rest = [i for i in range(len(rows)) if i not in taken]
    random.Random(1000 + seed).shuffle(rest)
    return sorted(rest[:2000])


def draws(corpora, labels, seeds):
    """Every (corpus folder, its name, its training rows, N, seed, the N drawn indices)."""
    for corpus in corpora:
        name = os.path.basename(corpus.rstrip("/"))
        rows = read_tsv(os.path.join(corpus, "train.tsv"))
        for n in labels:
            for seed in seeds:
                yield corpus, name, rows, n, seed, subset(rows, n, seed)


def sha256_of(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for label, text in rows:
            f.write(f"{label}\t{text}\n")


def fasttext_accuracy(heed, train_path, scored_path, seed, **supervised):
    """fastText supervised as bench/reference/fasttext_ref.py runs it: on Heed's tokens
    (`heed tokenize --format text`), wordNgrams 2, lr 0.5, epoch 25, one thread; `supervised`
    adds arguments (e.g. pretrainedVectors)."""
    import fasttext  # pip install fasttext-wheel (benchmarks only)

    def ft_lines(path):
        tokens = subprocess.run([heed, "tokenize", path, "--format", "text"], check=True, stdout=subprocess.PIPE,
                                text=True).stdout.splitlines()
        return [f"__label__{label} {toks.split(chr(9), 1)[1] if chr(9) in toks else ''}" for toks, (label, _) in
                zip(tokens, read_tsv(path))]

    ft_train = train_path + ".ft"
    with open(ft_train, "w", encoding="utf-8") as f:
        f.write("\n".join(ft_lines(train_path)) + "\n")
    model = fasttext.train_supervised(ft_train, seed=seed, thread=1, verbose=0, wordNgrams=2, lr=0.5, epoch=25, **supervised)
    scored = ft_lines(scored_path)
    labels, _ = model.predict([line.split(" ", 1)[1] if " " in line else "" for line in scored])
    return sum(got and got[0] == line.split(" ", 1)[0] for got, line in zip(labels, scored)) / len(scored)


def skipgram_vectors(heed, unlabelled_paths, work):
    """A .vec file of skipgram vectors (dim 100, fastText's defaults otherwise, one thread) trained on
    the unlabelled text as `heed tokenize` splits it: fastText's semi-supervised route and Heed's
    --embeddings share it, so both start from the same vectors."""
    import fasttext  # pip install fasttext-wheel (benchmarks only)

    text_path = os.path.join(work, "skipgram.txt")
    with open(text_path, "w", encoding="utf-8") as out:
        for path in unlabelled_paths:
            toks = subprocess.run([heed, "tokenize", path, "--format", "text", "--input", "text"], check=True,
                                  stdout=subprocess.PIPE, text=True).stdout.splitlines()
            for line in toks:
                out.write((line.split("\t", 1)[1] if "\t" in line else line) + "\n")
    sg = fasttext.train_unsupervised(text_path, model="skipgram", dim=100, thread=1, verbose=0)  # no seed argument in fasttext-wheel
    vec_path = os.path.join(work, "skipgram.vec")
    words = sg.get_words()
    with open(vec_path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} 100\n")
        for w in words:
            f.write(w + " " + " ".join(f"{x:.5f}" for x in sg.get_word_vector(w)) + "\n")
    return vec_path


def fasttext_pretrained_accuracy(heed, train_path, scored_path, vec_path, seed):
    """fastText supervised with -pretrainedVectors from skipgram_vectors; supervised settings as above."""
    return fasttext_accuracy(heed, train_path, scored_path, seed, dim=100, pretrainedVectors=vec_path)


def unlabelled_vocabulary(heed, train_path, unlabelled_paths, work):
    """A label-less vocabulary (heed vocab build --input text) over the labelled texts plus the
    unlabelled ones, for `heed train --vocab {vocab} --embeddings {skipgram-vec}`."""
    text_path = os.path.join(work, "vocab-text.txt")
    with open(text_path, "w", encoding="utf-8") as out:
        out.writelines(text + "\n" for _, text in read_tsv(train_path))
        for path in unlabelled_paths:
            with open(path, encoding="utf-8") as f:
                out.writelines(line if line.endswith("\n") else line + "\n" for line in f)
    vocab_path = os.path.join(work, "unlabelled.vocab")
    subprocess.run([heed, "vocab", "build", text_path, "--input", "text", "-o", vocab_path, "--quiet"], check=True)
    return vocab_path


def model_provenance(path):
    """The model file's heed.provenance entry (safetensors header metadata), {} if none."""
    import struct
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n)).get("__metadata__", {})
    return json.loads(meta.get("heed.provenance", "{}"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heed", default=".build/release/heed")
    ap.add_argument("--heed-commit", metavar="REV",
                    help="the commit whose Sources built --heed, when that is not the checkout's (e.g. a copy made before "
                         "later commits); rows then record it, and the checkout's commit as bench_commit")
    ap.add_argument("--corpus", required=True, nargs="+")
    ap.add_argument("--labels", type=int, nargs="+", default=[500])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--candidate", action="append", default=None, help="extra heed train flags ('' = defaults)")
    ap.add_argument("--score", choices=["pool", "test"], default="pool")
    ap.add_argument("--fasttext", action="store_true", help="also fastText supervised (default settings) on the same draw")
    ap.add_argument("--fasttext-pretrained", action="store_true",
                    help="also fastText supervised from skipgram vectors trained on {rest} (+ --extra-unlabelled)")
    ap.add_argument("--extra-unlabelled", nargs="*", default=[], help="more unlabelled text files for --fasttext-pretrained, {skipgram-vec} and {vocab}")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--label", help="how BENCHMARKS names this binary's heed rows, e.g. 'heed, defaults of ff40a66'")
    ap.add_argument("--candidate-label", action="append", default=None,
                    help="how BENCHMARKS names one candidate's rows; once per --candidate, in the same order (instead of --label)")
    ap.add_argument("--fasttext-label", help="how BENCHMARKS names the --fasttext rows, e.g. 'fastText supervised (same draw)'")
    ap.add_argument("--skipgram-label", help="how BENCHMARKS names the --fasttext-pretrained rows")
    ap.add_argument("--out")
    args = ap.parse_args()
    candidates = args.candidate if args.candidate is not None else [""]
    if args.candidate_label is not None and len(args.candidate_label) != len(candidates):
        ap.error("--candidate-label: give one per --candidate (%d candidates, %d labels)" % (
            len(candidates), len(args.candidate_label)))
    names = {("heed", c): args.label for c in candidates}
    if args.candidate_label is not None:
        names.update({("heed", c): label for c, label in zip(candidates, args.candidate_label)})
    names.update({("fasttext", ""): args.fasttext_label, ("fasttext-skipgram", ""): args.skipgram_label})

    if args.heed_commit:
        where = provenance.stamp_at(args.heed_commit)
        if where is None:
            ap.error("--heed-commit: %s is not a commit of this repository" % args.heed_commit)
    else:
        where = provenance.stamp()
    # subprocess.run kills its child when an exception leaves it; a plain SIGTERM would not, and the heed run
    # would go on training after the script is gone.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    heed_sha256 = sha256_of(args.heed)
    results = json.load(open(args.out)) if args.out and os.path.exists(args.out) else {"runs": []}
    work = tempfile.mkdtemp(prefix="heed-scarce-")
    for corpus, name, rows, n, seed, chosen in draws(args.corpus, args.labels, args.seeds):
        taken = set(chosen)
        if args.score == "pool":
            scored = [rows[i] for i in pool(rows, taken, seed)]
        else:
            scored = read_tsv(os.path.join(corpus, "test.tsv"))
        train_path = os.path.join(work, f"{name}-{n}-{seed}.tsv")
        score_path = os.path.join(work, f"{name}-{n}-{seed}-scored.tsv")
        write_tsv(train_path, [rows[i] for i in chosen])
        write_tsv(score_path, scored)
        scored_texts = {text for _, text in scored}
        rest_path = os.path.join(work, f"{name}-{n}-{seed}-rest.txt")
        with open(rest_path, "w", encoding="utf-8") as f:
            for i, (_, text) in enumerate(rows):
                if i not in taken and text not in scored_texts:
                    f.write(text + "\n")
        # With every label drawn there is no {rest}: the skipgram vectors then learn from the training
        # texts themselves (Measure 1's "training texts only as unlabelled text").
        sources = [rest_path] if len(taken) < len(rows) else []
        if not sources:
            sources = [os.path.join(work, f"{name}-{n}-{seed}-texts.txt")]
            with open(sources[0], "w", encoding="utf-8") as f:
                f.writelines(rows[i][1] + "\n" for i in chosen)
        skipgram_text = ["{rest}" if sources == [rest_path] else "{training texts}"] + args.extra_unlabelled
        # Made once per draw, on first use.
        skipgram = functools.cache(lambda: skipgram_vectors(args.heed, sources + args.extra_unlabelled, work))
        vocabulary = functools.cache(lambda: unlabelled_vocabulary(args.heed, train_path, [rest_path] + args.extra_unlabelled, work))

        def expand(cand):
            cand = cand.replace("{rest}", rest_path).replace("{scored}", score_path)
            if "{skipgram-vec}" in cand:
                cand = cand.replace("{skipgram-vec}", skipgram())
            if "{vocab}" in cand:
                cand = cand.replace("{vocab}", vocabulary())
            return cand

        runs = [("heed", c) for c in candidates] + ([("fasttext", "")] if args.fasttext else []) + \
            ([("fasttext-skipgram", "")] if args.fasttext_pretrained else [])
        for system, cand in runs:
            t0 = time.time()
            row = {"corpus": name, "labels": n, "seed": seed, "system": system, "candidate": cand,
                   "score": args.score, "scored_documents": len(scored)}
            if names.get((system, cand)):
                row["label"] = names[(system, cand)]
            if system == "fasttext":
                row["accuracy"] = fasttext_accuracy(args.heed, train_path, score_path, seed)
            elif system == "fasttext-skipgram":
                row["accuracy"] = fasttext_pretrained_accuracy(args.heed, train_path, score_path, skipgram(), seed)
                row["unlabelled"] = skipgram_text
            else:
                model = os.path.join(work, "m.heed")
                cmd = [args.heed, "train", train_path, "--seed", str(seed), "--workers", str(args.workers),
                       "--quiet", "-o", model] + shlex.split(expand(cand))
                subprocess.run(cmd, check=True)
                ev = json.loads(subprocess.run([args.heed, "evaluate", model, score_path, "--json"], check=True,
                                               stdout=subprocess.PIPE, text=True).stdout)
                log = [json.loads(l) for l in open(model + ".log.jsonl")]
                recorded = model_provenance(model)
                rounds = (recorded.get("selfTraining") or {}).get("rounds")
                if rounds:
                    row["self_training_rounds"] = rounds
                if recorded.get("vat"):
                    row["vat"] = recorded["vat"]
                row.update(accuracy=ev["accuracy"], macro_f1=ev.get("macro_f1"), epochs_run=len(log),
                           steps=log[-1].get("optimizer_steps"),
                           best_epoch=next((r["epoch"] for r in reversed(log) if r.get("best")), None),
                           final_train_loss=log[-1]["train_loss"])
            row.update(seconds=round(time.time() - t0, 1), commit=where["commit"], dirty=where["dirty"],
                       code_commit=where["code_commit"], date=provenance.now(), heed_sha256=heed_sha256)
            if where.get("bench_commit"):
                row["bench_commit"] = where["bench_commit"]
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                write_results(os.path.abspath(args.out), results, sort_keys=False)

    print("\nmean accuracy (sd) per corpus, labels, system/candidate:")
    keys = sorted({(r["corpus"], r["labels"], r["system"], r["candidate"]) for r in results["runs"] if r["score"] == args.score})
    for k in keys:
        accs = [r["accuracy"] for r in results["runs"] if (r["corpus"], r["labels"], r["system"], r["candidate"]) == k
                and r["score"] == args.score and r["seed"] in args.seeds]
        if accs:
            sd = statistics.stdev(accs) if len(accs) > 1 else 0
            print(f"  {k[0]:22s} {k[1]:6d} {k[2]:8s} {k[3] or '(defaults)':45s} {100 * statistics.mean(accs):6.2f} ± {100 * sd:.2f}  n={len(accs)}")


if __name__ == "__main__":
    main()
