"""One fastText supervised run (fasttext-wheel): train, then accuracy on the test file.

  python fasttext_ref.py TRAIN.ft TEST.ft --threads T [--seed S]

Files are fastText format (`__label__X tok tok ...`), produced by the harness from
`heed tokenize --format text` so fastText sees exactly Heed's tokens. Hyper-parameters:
wordNgrams 2, lr 0.5, epoch 25 (others fastText defaults). --threads 0 = fastText's default.
Accuracy counts every test line (empty documents included) as one prediction.
Prints one JSON line.
"""
import argparse
import json
import sys
import time

import fasttext


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch", type=int, default=25)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--word-ngrams", type=int, default=2)
    args = ap.parse_args()

    kw = dict(input=args.train, wordNgrams=args.word_ngrams, lr=args.lr, epoch=args.epoch, verbose=0)
    if args.threads > 0:
        kw["thread"] = args.threads
    if args.seed:
        kw["seed"] = args.seed
    t0 = time.perf_counter()
    model = fasttext.train_supervised(**kw)
    train_s = time.perf_counter() - t0

    labels, texts = [], []
    with open(args.test, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            lab, _, text = line.partition(" ")
            labels.append(lab)
            texts.append(text)
    t0 = time.perf_counter()
    pred, _ = model.predict(texts, k=1)
    pred_s = time.perf_counter() - t0
    correct = sum(1 for p, y in zip(pred, labels) if p and p[0] == y)
    print(json.dumps({
        "threads": model.f.getArgs().thread,
        "seed": args.seed,
        "train_seconds": train_s,
        "predict_seconds": pred_s,
        "test_docs": len(labels),
        "accuracy": correct / max(1, len(labels)),
    }))


if __name__ == "__main__":
    sys.exit(main())
