"""Integrated gradients with Captum on the PyTorch HeedClassifier, for `bench/run explain`.

Loads a Heed model file (safetensors: the weights under HeedClassifier's names, the
ClassifierConfig JSON in the `config` metadata entry), reads documents as Heed token ids
(`label<TAB>id id ...`, as `heed tokenize --format ids` writes them) and attributes the predicted
class's logit to every token with `LayerIntegratedGradients` on the embedding layer: baseline ids
all `<pad>` (0), whose embedding row is zero, so the path starts at the zero vectors as Heed's
does; `method="riemann_right"` with `--steps` points is Heed's right Riemann rule. Per-token
scores are the attributions summed over the embedding dimension.

Only the attribution loop is timed (not importing torch, loading the model or reading ids).
Prints one JSON line {"seconds", "cpu_seconds" (all threads), "documents", "docs_per_s", ...}; writes the scores, one JSON
list per document, to --out.
"""
import argparse
import json
import os
import sys
import time

import torch
from captum.attr import LayerIntegratedGradients
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.environ.get("HEED_TORCH_DIR") or os.path.dirname(os.path.abspath(__file__)))
from heed_torch import HeedClassifier  # noqa: E402


def load_heed(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    model = HeedClassifier(json.loads(meta["config"]))
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("ids", help="label<TAB>id id ... per document")
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--internal-batch-size", type=int, default=0, help="0: all steps in one pass")
    ap.add_argument("--docs-per-call", type=int, default=1, help="documents attributed per Captum call (padded)")
    ap.add_argument("--max-len", type=int, default=400)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_heed(args.model)
    docs = []
    with open(args.ids) as f:
        for line in f:
            _, _, ids = line.rstrip("\n").partition("\t")
            docs.append([int(x) for x in ids.split()][: args.max_len])

    def forward(ids, lengths):
        return model(ids, lengths)[0]

    lig = LayerIntegratedGradients(forward, model.embedding)
    scores = []
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(docs), args.docs_per_call):
        chunk = docs[start:start + args.docs_per_call]
        T = max(len(d) for d in chunk)
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        for i, d in enumerate(chunk):
            ids[i, : len(d)] = torch.tensor(d)
        lengths = torch.tensor([len(d) for d in chunk])
        with torch.no_grad():
            target = forward(ids, lengths).argmax(dim=1)
        attr = lig.attribute(
            ids, baselines=torch.zeros_like(ids), target=target, additional_forward_args=(lengths,),
            n_steps=args.steps, method="riemann_right",
            internal_batch_size=args.internal_batch_size or None)
        per_token = attr.sum(dim=-1).detach()
        for i, d in enumerate(chunk):
            scores.append(per_token[i, : len(d)].tolist())
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    with open(args.out, "w") as f:
        for s in scores:
            f.write(json.dumps(s) + "\n")
    print(json.dumps({"seconds": secs, "cpu_seconds": cpu, "documents": len(docs), "docs_per_s": len(docs) / secs,
                      "threads": args.threads, "internal_batch_size": args.internal_batch_size or None,
                      "docs_per_call": args.docs_per_call, "steps": args.steps,
                      "torch": torch.__version__, "captum": __import__("captum").__version__}))


if __name__ == "__main__":
    main()
