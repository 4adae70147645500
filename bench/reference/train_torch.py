"""PyTorch reference training of Heed's classifier on Heed's own token ids.

  python train_torch.py TRAIN.ids TEST.ids --vocab VOCAB --kind attention \
      --embed 100 --hidden 128 --batch 64 --epochs 3 --threads 2 --seed 1 \
      [--variant packed|padded] [--dropout 0 --word-dropout 0 --embed-init-std S] \
      [--log LOG.jsonl] [--latency-n 1000 --latency-threads 1,2]

Kinds lstm, attention, bilstm-attention, bilstm: HeedClassifier (below). Kinds orthogonal,
diversity and han (issue 26's faithful encoders and HAN): faithful_torch.py, whose docstring says
which function each computes and how; their variants: orthogonal loop|script (the per-step loop
eager or TorchScript-compiled), diversity packed|padded (HeedClassifier's two LSTM paths plus the
batched conicity penalty times --diversity-weight, default 0.5 as Heed's), han packed|padded
(han_torch.HeedHAN's PackedSequence at both levels, or faithful_torch.PaddedHAN). For han,
TRAIN/TEST.ids hold one document per line as label<TAB>sentence<TAB>sentence..., each sentence
space-separated ids (the harness writes Heed's own sentences); --max-sentences/--max-words cut them
(Heed's defaults 40 and 50) and batches are bucketed by sentence count, as Heed buckets them.

TRAIN/TEST.ids are `heed tokenize --format ids --vocab VOCAB` output (label<TAB>id id ...).
The model is `HeedClassifier` from heed_torch.py (bench/reference/, or the directory in
$HEED_TORCH_DIR); construction is isolated in make_model(), which builds both variants — "packed"
(pack_padded_sequence: exact masking, PyTorch's slow CPU LSTM path) and "padded" (the padded batch
straight into nn.LSTM(batch_first=True), oneDNN's fused LSTM: what many users write, the fastest;
see heed_torch.py for how its last-state pooling differs) — with the same weight names and init.
Training: length-bucketed batches
(shuffle, pools of 20 batches sorted by length, batch order shuffled), Adam lr 1e-3, gradient
L2 norm clipped at 5, cross-entropy, dropout 0 (--dropout, --word-dropout and --embed-init-std
mirror heed train's flags for runs that compare against Heed's defaults). tokens/s counts real
(non-pad) tokens over the wall time of forward+backward+step for the epoch (batching untimed);
`elapsed` is wall seconds since just before the first epoch (batching and test evaluation
included), at the end of that epoch. Empty documents: skipped in
training, fed as one <unk> (id 1) at test time. Each epoch prints/logs one JSON object; the
last stdout line is the summary.
"""
import argparse
import json
import os
import random
import statistics
import sys
import time

import torch
import torch.nn.functional as F

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("HEED_TORCH_DIR") or _here)
import heed_torch  # noqa: E402
import faithful_torch  # noqa: E402
import han_torch  # noqa: E402

FLAT = ["lstm", "attention", "bilstm-attention", "bilstm"]
KINDS = FLAT + ["orthogonal", "diversity", "han"]
VARIANTS = {"orthogonal": ("loop", "script"), "diversity": ("packed", "padded"), "han": ("packed", "padded")}


def make_model(kind, vocab_size, num_classes, embed, hidden, variant="packed", dropout=0.0, embed_init_std=None,
               diversity_weight=0.5, word_group=32):
    """The one place that knows the models' constructors; a kind's variants get the same parameters
    (names, shapes) and, for a given seed, the same initial values."""
    if kind in VARIANTS and variant not in VARIANTS[kind]:
        raise ValueError("--kind %s runs the variants %s, not %s" % (kind, "/".join(VARIANTS[kind]), variant))
    if kind == "orthogonal":
        model = faithful_torch.OrthogonalBiLSTMAttention(vocab_size, embed, hidden, num_classes, variant=variant,
                                                         dropout=dropout)
    elif kind == "han":
        config = {"vocabSize": vocab_size, "embedDim": embed, "wordHiddenDim": hidden, "sentenceHiddenDim": hidden,
                  "bidirectional": True, "scorer": "additive", "classes": num_classes, "dropout": dropout}
        model = faithful_torch.PaddedHAN(config, word_group=word_group) if variant == "padded" else han_torch.HeedHAN(config)
        model.variant = variant
    else:
        bidirectional = kind.startswith("bilstm") or kind == "diversity"
        pooling = "attention" if kind.endswith("attention") or kind == "diversity" else "last"
        config = {
            "vocabSize": vocab_size, "embedDim": embed, "hiddenDim": hidden,
            "bidirectional": bidirectional, "pooling": pooling, "scorer": "additive",
            "attentionDim": None, "classes": num_classes, "dropout": dropout,
        }
        model = heed_torch.HeedClassifier(config, variant=variant)
    model.kind = kind
    model.diversity_weight = diversity_weight if kind == "diversity" else 0.0
    if embed_init_std is not None:
        with torch.no_grad():
            model.embedding.weight.normal_(0.0, embed_init_std)
            model.embedding.weight[0].zero_()  # <pad>
    return model


def read_vocab_size(path):
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# heed vocabulary") or line.startswith("# label\t"):
                continue
            n += 1
    return n


def read_ids(path):
    labels, docs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            lab, _, ids = line.partition("\t")
            labels.append(lab)
            docs.append([int(x) for x in ids.split()])
    return labels, docs


def pad(docs):
    T = max(len(d) for d in docs)
    ids = torch.zeros(len(docs), T, dtype=torch.long)
    for i, d in enumerate(docs):
        ids[i, :len(d)] = torch.tensor(d, dtype=torch.long)
    return ids, torch.tensor([len(d) for d in docs], dtype=torch.long)


def read_han(path, max_sentences, max_words):
    """label<TAB>sentence<TAB>sentence... (each sentence space-separated ids): labels and documents as
    lists of sentences, each cut to max_words ids, the document to max_sentences sentences."""
    labels, docs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            labels.append(parts[0])
            sents = [[int(x) for x in p.split()][:max_words] for p in parts[1:]]
            docs.append([x for x in sents if x][:max_sentences])
    return labels, docs


def n_tokens(doc):
    """Real tokens of a flat document (ids) or a HAN document (sentences of ids)."""
    return sum(len(x) for x in doc) if doc and isinstance(doc[0], list) else len(doc)


def make_batch(model, docs):
    """The model's input for `docs` (built outside the timed step): flat kinds (ids [B, T] 0-padded,
    lengths [B]); han packed (flat ids, tokens per sentence, sentences per document); han padded
    (PaddedHAN.prepare's layout)."""
    if getattr(model, "kind", None) == "han":
        sents = [x for d in docs for x in d]
        counts = [len(d) for d in docs]
        if model.variant == "padded":
            return ("han-padded", model.prepare(sents, counts))
        return ("han-packed", torch.tensor([i for x in sents for i in x], dtype=torch.long),
                torch.tensor([len(x) for x in sents], dtype=torch.long), torch.tensor(counts, dtype=torch.long))
    ids, lengths = pad(docs)
    return ("flat", ids, lengths)


def logits_of(model, batch):
    if batch[0] == "han-padded":
        return model.forward_padded(batch[1])
    if batch[0] == "han-packed":
        return model(batch[1], batch[2], batch[3])[0]
    return model(batch[1], batch[2])[0]


def word_dropout(batch, p):
    """Replaces each real training token by <unk> (1) with probability p."""
    def drop(ids):
        return torch.where((torch.rand(ids.shape) < p) & (ids > 0), torch.ones_like(ids), ids)
    if batch[0] == "flat":
        return ("flat", drop(batch[1]), batch[2])
    if batch[0] == "han-packed":
        return (batch[0], drop(batch[1]), batch[2], batch[3])
    prep = dict(batch[1])
    prep["groups"] = [(drop(ids), lens) for ids, lens in prep["groups"]]
    return ("han-padded", prep)


def batches(model, docs, ys, batch, rng, pool=20):
    """Length-bucketed batches: shuffle, pools of `pool` batches sorted by length (a HAN document's
    length is its sentence count, as Heed buckets them), batch order shuffled."""
    order = list(range(len(docs)))
    rng.shuffle(order)
    out = []
    step = batch * pool
    for p in range(0, len(order), step):
        chunk = sorted(order[p:p + step], key=lambda i: len(docs[i]))
        for b in range(0, len(chunk), batch):
            idx = chunk[b:b + batch]
            sub = [docs[i] for i in idx]
            out.append((make_batch(model, sub), sum(n_tokens(d) for d in sub),
                        torch.tensor([ys[i] for i in idx], dtype=torch.long)))
    rng.shuffle(out)
    return out


def empty_doc(model):
    return [[1]] if getattr(model, "kind", None) == "han" else [1]


def evaluate(model, docs, ys, batch=256):
    if getattr(model, "kind", None) == "han":
        # A HAN batch holds up to 40 sentences per document: 256 of Debian's longest put han_torch's packed
        # path at ~6 GB peak RSS, so evaluate in training-sized batches.
        batch = 64
    model.eval()
    correct = 0
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    with torch.inference_mode():
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            logits = logits_of(model, make_batch(model, [docs[i] or empty_doc(model) for i in idx]))
            pred = logits.argmax(1).tolist()
            correct += sum(1 for p, i in zip(pred, idx) if p == ys[i])
    model.train()
    return correct / max(1, len(docs))


def latency(model, docs, n, threads):
    model.eval()
    torch.set_num_threads(threads)
    sample = [d or empty_doc(model) for d in docs[:n]]
    times = []
    with torch.inference_mode():
        for d in sample[:20]:  # warm-up
            logits_of(model, make_batch(model, [d]))
        for d in sample:
            t0 = time.perf_counter()
            logits_of(model, make_batch(model, [d]))
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
    return {"threads": threads, "n": len(times), "p50_ms": q(0.50), "p99_ms": q(0.99),
            "mean_ms": statistics.fmean(times)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--kind", choices=KINDS, default="attention")
    ap.add_argument("--embed", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", choices=["packed", "padded", "loop", "script"], default=None,
                    help="packed: pack_padded_sequence (exact masking); padded: padded batch into nn.LSTM (fused); "
                    "orthogonal: loop (eager step loop) or script (TorchScript); default packed, orthogonal loop")
    ap.add_argument("--diversity-weight", type=float, default=0.5, help="diversity: lambda of the conicity penalty")
    ap.add_argument("--max-sentences", type=int, default=40, help="han: keep the first N sentences (Heed's default)")
    ap.add_argument("--max-words", type=int, default=50, help="han: keep the first N tokens of a sentence (Heed's default)")
    ap.add_argument("--word-group", type=int, default=32,
                    help="han padded: sentences per word-level nn.LSTM call (a batch's sentences sorted by length; 0 = all)")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout after the embedding and before the classifier")
    ap.add_argument("--word-dropout", type=float, default=0.0, help="probability of replacing a training token by <unk>")
    ap.add_argument("--embed-init-std", type=float, default=None, help="std of the embedding init (default: PyTorch's, 1)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--max-len", type=int, default=0, help="truncate documents to this many tokens (0 = no)")
    ap.add_argument("--log", help="write per-epoch JSON lines here")
    ap.add_argument("--latency-n", type=int, default=0)
    ap.add_argument("--latency-threads", default="1,2")
    args = ap.parse_args()
    if args.variant is None:
        args.variant = "loop" if args.kind == "orthogonal" else "packed"
    if args.kind in VARIANTS and args.variant not in VARIANTS[args.kind]:
        ap.error("--kind %s runs --variant %s" % (args.kind, " or ".join(VARIANTS[args.kind])))
    if args.kind not in VARIANTS and args.variant not in ("packed", "padded"):
        ap.error("--kind %s runs --variant packed or padded" % args.kind)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    if args.kind == "han":
        tr_labels, tr_docs = read_han(args.train, args.max_sentences, args.max_words)
        te_labels, te_docs = read_han(args.test, args.max_sentences, args.max_words)
    else:
        tr_labels, tr_docs = read_ids(args.train)
        te_labels, te_docs = read_ids(args.test)
    if args.max_len and args.kind != "han":
        tr_docs = [d[:args.max_len] for d in tr_docs]
        te_docs = [d[:args.max_len] for d in te_docs]
    classes = sorted(set(tr_labels))
    cix = {c: i for i, c in enumerate(classes)}
    keep = [i for i, d in enumerate(tr_docs) if d]
    tr_docs = [tr_docs[i] for i in keep]
    tr_y = [cix[tr_labels[i]] for i in keep]
    te_y = [cix.get(l, -1) for l in te_labels]
    V = read_vocab_size(args.vocab)

    model = make_model(args.kind, V, len(classes), args.embed, args.hidden, variant=args.variant,
                       dropout=args.dropout, embed_init_std=args.embed_init_std,
                       diversity_weight=args.diversity_weight, word_group=args.word_group)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    model.train()
    log = open(args.log, "w") if args.log else None
    if args.kind == "orthogonal" and args.variant == "script" and tr_docs:
        # TorchScript's profiling executor specialises and fuses the step loop over its first few calls;
        # that one-off compilation stays out of the timed epochs (forward + backward on a few batches,
        # gradients discarded, no optimiser step: training itself is unchanged).
        warm = random.Random(args.seed + 1)
        for batch, _, y in batches(model, tr_docs[:3 * args.batch], tr_y[:3 * args.batch], args.batch, warm)[:3]:
            F.cross_entropy(logits_of(model, batch), y).backward()
        opt.zero_grad(set_to_none=True)
    epochs = []
    start = time.perf_counter()
    for ep in range(1, args.epochs + 1):
        bs = batches(model, tr_docs, tr_y, args.batch, rng)
        ntok = 0
        loss_sum = 0.0
        penalty_sum = 0.0
        nseen = 0
        t0 = time.perf_counter()
        for batch, btok, y in bs:
            if args.word_dropout > 0:
                batch = word_dropout(batch, args.word_dropout)
            logits = logits_of(model, batch)
            loss = F.cross_entropy(logits, y)
            if model.diversity_weight:
                penalty = model.diversity_weight * faithful_torch.conicity_penalty(model.states, batch[2])
                penalty_sum += float(penalty.detach()) * len(y)
                loss = loss + penalty
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            ntok += btok
            loss_sum += float(loss.detach()) * len(y)
            nseen += len(y)
        secs = time.perf_counter() - t0
        acc = evaluate(model, te_docs, te_y)
        rec = {"epoch": ep, "train_loss": loss_sum / nseen, "tokens": ntok,
               **({"diversity_penalty": penalty_sum / nseen} if model.diversity_weight else {}), "seconds": secs,
               "tokens_per_s": ntok / secs, "test_accuracy": acc, "elapsed": time.perf_counter() - start}
        epochs.append(rec)
        print(json.dumps(rec), flush=True)
        if log:
            log.write(json.dumps(rec) + "\n")
            log.flush()

    summary = {
        "kind": args.kind, "variant": args.variant, "vocab_size": V, "classes": len(classes), "train_docs": len(tr_docs),
        "test_docs": len(te_docs), "epochs": args.epochs, "threads": args.threads, "seed": args.seed,
        "tokens_per_s": statistics.median(e["tokens_per_s"] for e in epochs),
        "tokens_per_s_note": "median over epochs",
        "test_accuracy": epochs[-1]["test_accuracy"],
        "train_seconds": sum(e["seconds"] for e in epochs),
        "torch": torch.__version__,
        "heed_torch": os.path.abspath(heed_torch.__file__),
    }
    if args.kind in VARIANTS:
        summary["faithful_torch"] = os.path.abspath(faithful_torch.__file__)
    if args.kind == "orthogonal" and args.variant == "script":
        summary["warmup"] = "3 untimed forward+backward passes before training (TorchScript compilation)"
    if args.kind == "diversity":
        summary["diversity_weight"] = args.diversity_weight
    if args.kind == "han":
        summary.update({"max_sentences": args.max_sentences, "max_words": args.max_words,
                        "word_group": args.word_group if args.variant == "padded" else None,
                        "train_sentences": sum(len(d) for d in tr_docs),
                        "train_tokens": sum(n_tokens(d) for d in tr_docs)})
    if args.latency_n:
        summary["latency"] = [latency(model, te_docs, args.latency_n, int(t))
                              for t in args.latency_threads.split(",")]
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
