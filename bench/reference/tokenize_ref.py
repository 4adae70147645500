"""Reference tokenizers for the throughput comparison (one process per measurement).

  python tokenize_ref.py IMPL INPUT.txt --vocab-from BASE.txt
  IMPL: hf-batch | hf-single | re | re-ids

INPUT is plain text, one document per line. Reading the file and building the vocabulary
are untimed; the timed part is text -> tokens (re) or text -> ids (hf-*, re-ids), in this
process, on one thread. Prints one JSON line: {"bytes", "seconds", "tokens", "mb_per_s", ...}
with MB = 10^6 bytes and bytes = the UTF-8 size of the document texts (line ends excluded).
"""
import argparse
import json
import os
import re
import sys
import time

WORD_RE = r"\w+|[^\w\s]"


def hf_tokenizer(base_path, pre):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from tokenizers.trainers import WordLevelTrainer

    tok = Tokenizer(WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer() if pre == "bert" else pre_tokenizers.Whitespace()
    trainer = WordLevelTrainer(vocab_size=30000, min_frequency=2, special_tokens=["<pad>", "<unk>"],
                               show_progress=False)
    tok.train([base_path], trainer)  # untimed: a WordLevel vocabulary from the base (unrepeated) text
    return tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("impl", choices=["hf-batch", "hf-single", "re", "re-ids"])
    ap.add_argument("input")
    ap.add_argument("--vocab-from", required=True, help="base text file for the (untimed) vocabulary")
    ap.add_argument("--pre-tokenizer", choices=["bert", "whitespace"], default="bert")
    ap.add_argument("--batch-size", type=int, default=10000)
    args = ap.parse_args()

    with open(args.input, "rb") as f:
        raw = f.read()
    lines = raw.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    nbytes = len(raw) - len(lines)  # text bytes without the line ends, as `heed benchmark tokenize` counts
    del raw
    info = {"impl": args.impl}

    if args.impl.startswith("hf"):
        tok = hf_tokenizer(args.vocab_from, args.pre_tokenizer)
        info["pre_tokenizer"] = "BertPreTokenizer" if args.pre_tokenizer == "bert" else "Whitespace"
        info["normalizer"] = "NFKC+Lowercase"
        info["model"] = "WordLevel (vocab %d)" % tok.get_vocab_size()
        info["rayon_threads"] = os.environ.get("RAYON_NUM_THREADS")
        info["tokenizers_parallelism"] = os.environ.get("TOKENIZERS_PARALLELISM")
        n = 0
        if args.impl == "hf-batch":
            bs = args.batch_size
            info["mode"] = "encode_batch, %d lines per call, .ids read" % bs
            t0 = time.perf_counter()
            for i in range(0, len(lines), bs):
                for e in tok.encode_batch(lines[i:i + bs], add_special_tokens=False):
                    n += len(e.ids)
            t1 = time.perf_counter()
        else:
            info["mode"] = "encode per line, .ids read"
            enc = tok.encode
            t0 = time.perf_counter()
            for line in lines:
                n += len(enc(line, add_special_tokens=False).ids)
            t1 = time.perf_counter()
    else:
        pat = re.compile(WORD_RE)
        findall = pat.findall
        n = 0
        if args.impl == "re":
            info["mode"] = "re.findall(%r) per line, no normalisation, tokens only" % WORD_RE
            t0 = time.perf_counter()
            for line in lines:
                n += len(findall(line))
            t1 = time.perf_counter()
        else:
            info["mode"] = "re.findall(%r) on line.lower() per line, dict lookup -> ids" % WORD_RE
            vocab = {}
            with open(args.vocab_from, encoding="utf-8") as f:  # untimed
                counts = {}
                for line in f:
                    for t in findall(line.lower()):
                        counts[t] = counts.get(t, 0) + 1
            for i, (t, c) in enumerate(sorted(((t, c) for t, c in counts.items() if c >= 2),
                                              key=lambda tc: (-tc[1], tc[0]))[:29998]):
                vocab[t] = i + 2
            get = vocab.get
            t0 = time.perf_counter()
            for line in lines:
                ids = [get(t, 1) for t in findall(line.lower())]
                n += len(ids)
            t1 = time.perf_counter()

    secs = t1 - t0
    out = {"bytes": nbytes, "seconds": secs, "tokens": n, "mb_per_s": nbytes / 1e6 / secs, "docs": len(lines)}
    out.update(info)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
