"""One fastText supervised run (fasttext-wheel): train, then accuracy on the test file.

  python fasttext_ref.py TRAIN.ft TEST.ft --threads T [--seed S]
  python fasttext_ref.py TRAIN.ft TEST.ft --threads T [--seed S] \
      --autotune-validation DEV.ft --autotune-duration SECONDS

Files are fastText format (`__label__X tok tok ...`), produced by the harness from
`heed tokenize --format text` so fastText sees exactly Heed's tokens. Hyper-parameters:
wordNgrams 2, lr 0.5, epoch 25 (others fastText defaults). --threads 0 = fastText's default.
Accuracy counts every test line (empty documents included) as one prediction.

With --autotune-validation, fastText's own hyper-parameter search (autotune) picks every setting
on DEV.ft within --autotune-duration seconds (its default metric, f1, which for one label per
document is precision@1 = accuracy) and trains the final model on TRAIN.ft; --epoch, --lr and
--word-ngrams are then not passed (fastText would hold manually set arguments fixed during the
search). The JSON line adds the chosen settings ("args") and the final model's dev accuracy.
Prints one JSON line.
"""
import argparse
import json
import sys
import time

import fasttext


def read_ft(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            lab, _, text = line.partition(" ")
            labels.append(lab)
            texts.append(text)
    return labels, texts


def accuracy(model, path):
    """(accuracy, documents, predict seconds): every line is one prediction."""
    labels, texts = read_ft(path)
    t0 = time.perf_counter()
    pred, _ = model.predict(texts, k=1)
    seconds = time.perf_counter() - t0
    correct = sum(1 for p, y in zip(pred, labels) if p and p[0] == y)
    return correct / max(1, len(labels)), len(labels), seconds


def chosen_args(model):
    a = model.f.getArgs()
    out = {k: getattr(a, k) for k in ("lr", "epoch", "dim", "wordNgrams", "minCount", "minn", "maxn", "bucket", "dsub", "ws")}
    out["loss"] = getattr(a.loss, "name", str(a.loss))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch", type=int, default=25)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--word-ngrams", type=int, default=2)
    ap.add_argument("--autotune-validation", metavar="DEV.ft", help="run fastText's autotune on this validation file")
    ap.add_argument("--autotune-duration", type=int, metavar="SECONDS", help="autotune's time budget (fastText's default: 300)")
    ap.add_argument("--memory-cap-gb", type=float, default=12, help="address-space limit for autotune (GiB)")
    args = ap.parse_args()
    if args.autotune_duration is not None and not args.autotune_validation:
        ap.error("--autotune-duration needs --autotune-validation")

    if args.autotune_validation:
        # Autotune draws bucket counts up to 10M and dimensions up to 1000: on RT it once grew to
        # 23.8 GB and the kernel's OOM killer ended it (and could have ended anything else). Capped,
        # such a draw fails here alone, with an error.
        import resource
        cap = args.memory_cap_gb * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        kw = dict(input=args.train, autotuneValidationFile=args.autotune_validation, verbose=0)
        if args.autotune_duration is not None:
            kw["autotuneDuration"] = args.autotune_duration
    else:
        kw = dict(input=args.train, wordNgrams=args.word_ngrams, lr=args.lr, epoch=args.epoch, verbose=0)
    if args.threads > 0:
        kw["thread"] = args.threads
    if args.seed:
        kw["seed"] = args.seed
    t0 = time.perf_counter()
    model = fasttext.train_supervised(**kw)
    train_s = time.perf_counter() - t0

    acc, docs, pred_s = accuracy(model, args.test)
    out = {
        "threads": model.f.getArgs().thread,
        "seed": args.seed,
        "train_seconds": train_s,
        "predict_seconds": pred_s,
        "test_docs": docs,
        "accuracy": acc,
    }
    if args.autotune_validation:
        out["autotune_duration"] = kw.get("autotuneDuration", 300)
        out["args"] = chosen_args(model)
        out["dev_accuracy"], out["dev_docs"], _ = accuracy(model, args.autotune_validation)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
