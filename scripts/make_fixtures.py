#!/usr/bin/env python3
"""Generates PyTorch parity fixtures for HeedNN's tests (Tests/HeedNNTests/Fixtures/).

Needs `pip install torch` (not a Heed dependency). For each variant it writes
<variant>.json (config + inputs + settings) and <variant>.safetensors with
  w.<name>   initial weights          g.<name>  gradients of the loss
  a3.<name>  weights after 3 Adam steps (same batch, clip_grad_norm_ each step)
  logits [B, C], attention [B, T] (attention variants), loss [1], norms [3]
The loss is the training objective: the cross-entropy, plus diversityWeight x mean conicity for
the "diversity" encoder variants.

`--attributions` writes Tests/HeedTests/Fixtures/attributions/<variant>.json from each variant's
initial weights (w.* in its existing safetensors, which it does not rewrite): for a few documents
of ids, PyTorch autograd's gradient norm, gradient × input and integrated gradients of the
predicted class's logit and probability with respect to the embedding rows fed to the LSTM, and
leave-one-out occlusion, for `Tests/HeedTests/AttributionParityTests.swift`.

`--check-model FILE` loads a Heed model file with safetensors.torch.load_file into
HeedClassifier (strict load_state_dict; a `heed quantize` file, int8 or 4-bit, is dequantised first
with heed_torch.dequantized_state_dict) and, if the file carries `check.logits` metadata, checks
PyTorch's logits against Heed's. Make such a file with
  HEED_MODEL_OUT=/tmp/m.safetensors swift test --filter roundTripIsExactAndAtomic
and one with subwords (its piece lists are hashed here from the vocabulary, independently of Heed) with
  HEED_MODEL_OUT=/tmp/s.heed swift test --filter subwordModelFileForPyTorch
"""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench", "reference"))
from heed_torch import HeedClassifier, dequantized_state_dict, pieces_tensors, subword_buckets  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "HeedNNTests", "Fixtures")

BASE = dict(vocabSize=23, embedDim=6, hiddenDim=5, classes=3, dropout=0.0)
VARIANTS = {
    "lstm_last": dict(bidirectional=False, pooling="last", scorer="linear", attentionDim=None),
    "lstm_linear": dict(bidirectional=False, pooling="attention", scorer="linear", attentionDim=None),
    "lstm_additive": dict(bidirectional=False, pooling="attention", scorer="additive", attentionDim=7),
    "bilstm_additive": dict(bidirectional=True, pooling="attention", scorer="additive", attentionDim=None),
    "bilstm_last": dict(bidirectional=True, pooling="last", scorer="linear", attentionDim=None),
    # H = 10, E = 9: exercises the 8-wide SIMD paths plus scalar tails.
    "bilstm_linear_h10": dict(bidirectional=True, pooling="attention", scorer="linear", attentionDim=None,
                              hiddenDim=10, embedDim=9),
    # Word rows plus nn.EmbeddingBag(mode="mean") over random bucket lists (some empty, some with
    # a repeated bucket). The same batch every Adam step touches the same bucket rows, so PyTorch's
    # dense Adam and Heed's lazy one take the same steps (without weight decay).
    "bilstm_additive_subwords": dict(bidirectional=True, pooling="attention", scorer="additive", attentionDim=None,
                                     subwordBuckets=11),
    # Encoders (docs/explanations.md, "Attention that is faithful by design"). The orthogonal ones
    # read shorter documents ("lengths"): the running sums tie every step to all earlier ones, and
    # ParityTests' rounding bound (Σ|terms| over all paths) grows ~2.5x per step, so at 7 steps it
    # would bound nothing for Adam (a BiLSTM's two directions at 4 steps: 6% of the entries' signs
    # are uncertain, over the test's 5%); GradCheckTests covers longer ones.
    "lstm_additive_orthogonal": dict(bidirectional=False, pooling="attention", scorer="additive", attentionDim=7,
                                     encoder="orthogonal", lengths=[4, 3, 1, 2, 4]),
    "bilstm_additive_orthogonal": dict(bidirectional=True, pooling="attention", scorer="additive", attentionDim=None,
                                       encoder="orthogonal", lengths=[3, 2, 1, 3, 2]),
    "bilstm_last_orthogonal": dict(bidirectional=True, pooling="last", scorer="linear", attentionDim=None,
                                   encoder="orthogonal", lengths=[4, 3, 1, 2, 4]),
    "bilstm_additive_diversity": dict(bidirectional=True, pooling="attention", scorer="additive", attentionDim=None,
                                      encoder="diversity", diversityWeight=0.5),
}


def write_safetensors(path, tensors, metadata=None):
    """Hand-written safetensors writer (F32 only), sorted names, 8-byte aligned header."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make(name, extra, seed):
    torch.manual_seed(seed)
    config = dict(BASE, **extra)
    short = config.pop("lengths", None)
    model = HeedClassifier(config)
    # Non-trivial values everywhere (PyTorch inits some things small); keep padding row zero.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        model.embedding.weight[0].zero_()
    B, T = 5, 7
    lengths = torch.tensor([4, 7, 1, 3, 7])
    if short:
        lengths = torch.tensor(short)
        T = max(short)
    ids = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        ids[b, : lengths[b]] = torch.randint(1, config["vocabSize"], (int(lengths[b]),))
    ids[0, 1] = 0  # a padding id inside a sequence: zero vector, no gradient for row 0
    ids[3, 0] = 5
    ids[1, int(lengths[1]) - 1] = 5  # repeated token: gradient rows accumulate
    labels = torch.tensor([0, 2, 1, 2, 0])
    piece_lists = None
    if config.get("subwordBuckets"):
        g = torch.Generator().manual_seed(seed)
        piece_lists = []
        for b in range(B):
            for t in range(T):
                n = int(torch.randint(0, 5, (1,), generator=g)) if t < lengths[b] else 0
                piece_lists.append(torch.randint(0, config["subwordBuckets"], (n,), generator=g).tolist())
        piece_lists[1 * T + 2] = [3, 3, 8]  # a repeated bucket: its row receives two shares
        piece_lists[2 * T + 0] = []  # a token without n-grams reads its word row alone
    pieces = pieces_tensors(piece_lists) if piece_lists else None
    class_weights = [0.5, 2.0, 1.25] if name in ("lstm_additive", "bilstm_additive", "bilstm_additive_subwords") else None
    weight_decay = 0.01 if name in ("lstm_linear", "bilstm_additive") else 0.0
    max_norm, lr = 0.05, 0.01

    tensors = {"w." + k: v.clone() for k, v in model.state_dict().items()}
    crit = torch.nn.CrossEntropyLoss(weight=None if class_weights is None else torch.tensor(class_weights))
    model.train()
    logits, attn = model(ids, lengths, pieces)
    loss = crit(logits, labels) + model.diversity_loss(lengths)  # the cross-entropy alone unless "diversity"
    loss.backward()
    tensors["logits"] = logits.detach()
    if attn is not None:
        tensors["attention"] = attn.detach()
        assert torch.all(attn[torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)] == 0.0)
    tensors["loss"] = loss.detach().reshape(1)
    for k, p in model.named_parameters():
        tensors["g." + k] = p.grad.clone()
    assert torch.all(model.embedding.weight.grad[0] == 0)

    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    norms = []
    for _ in range(3):
        opt.zero_grad()
        logits, _ = model(ids, lengths, pieces)
        (crit(logits, labels) + model.diversity_loss(lengths)).backward()
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        assert total > max_norm, "clipping must actually happen"
        norms.append(float(total))
        opt.step()
    tensors["norms"] = torch.tensor(norms)
    for k, v in model.state_dict().items():
        tensors["a3." + k] = v.clone()

    write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors)
    meta = dict(config=config, batch=B, steps=T, ids=ids.flatten().tolist(), lengths=lengths.tolist(),
                labels=labels.tolist(), classWeights=class_weights, maxNorm=max_norm, lr=lr,
                weightDecay=weight_decay, adamSteps=3)
    if piece_lists:
        meta["pieceEnds"] = torch.tensor([len(p) for p in piece_lists]).cumsum(0).tolist()
        meta["pieceBuckets"] = [b for p in piece_lists for b in p]
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"{name}: loss {float(loss):.6f}, norms {norms}")


ATTRIBUTIONS = os.path.join(os.path.dirname(__file__), "..", "Tests", "HeedTests", "Fixtures", "attributions")
IG_STEPS = 8


def read_safetensors(path):
    """F32 tensors of a safetensors file, by name (the format's header is JSON after a u64 length)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[start:end]), dtype=torch.float32).reshape(info["shape"]).clone()
    return out


def attributions(name):
    """Reference attributions of one document at a time (eval mode), as heed explain defines them."""
    meta = json.load(open(os.path.join(OUT, name + ".json")))
    config = meta["config"]
    model = HeedClassifier(config)
    tensors = read_safetensors(os.path.join(OUT, name + ".safetensors"))
    model.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("w.")})
    model.eval()
    generator = torch.Generator().manual_seed(7)
    documents = []
    for n in (5, 7, 3, 1):
        ids = torch.randint(2, config["vocabSize"], (1, n), generator=generator)
        documents.append(ids)

    def run(ids, inputs=None):
        """Logits of one document; `inputs` replaces the embedding rows fed to the LSTM."""
        hook = model.embedding.register_forward_hook(lambda m, i, o: inputs) if inputs is not None else None
        logits, attention = model(ids, torch.tensor([ids.shape[1]]))
        if hook is not None:
            hook.remove()
        return logits[0], attention

    out = {"config": config, "igSteps": IG_STEPS, "documents": []}
    for ids in documents:
        n = ids.shape[1]
        with torch.no_grad():
            logits, attention = run(ids)
            e = model.embedding(ids)
        p = torch.softmax(logits, 0)
        c = int(torch.argmax(p))
        doc = {"ids": ids[0].tolist(), "predicted": c, "probabilities": p.tolist()}
        if attention is not None:
            doc["attention"] = attention[0].tolist()
        for target in ("logit", "probability"):
            def value(x):
                z, _ = run(ids, x)
                return z[c] if target == "logit" else torch.softmax(z, 0)[c]
            x = e.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(value(x), x)
            doc[target] = {"gradient": g[0].norm(dim=1).tolist(), "grad-input": (g[0] * e[0]).sum(1).tolist()}
            total = torch.zeros_like(e)
            for m in range(1, IG_STEPS + 1):
                x = (e * (m / IG_STEPS)).requires_grad_(True)
                (g,) = torch.autograd.grad(value(x), x)
                total += g
            doc[target]["integrated-gradients"] = (e[0] * total[0] / IG_STEPS).sum(1).tolist()
        occlusion = []
        with torch.no_grad():
            for t in range(n):
                rest = torch.cat([ids[:, :t], ids[:, t + 1:]], 1)
                if rest.shape[1] == 0:
                    rest = torch.tensor([[1]])  # a text without tokens is scored on a lone <unk>
                z, _ = run(rest)
                occlusion.append(float(p[c] - torch.softmax(z, 0)[c]))
        doc["occlusion"] = occlusion
        out["documents"].append(doc)
    os.makedirs(ATTRIBUTIONS, exist_ok=True)
    with open(os.path.join(ATTRIBUTIONS, name + ".json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{name}: attributions of {len(documents)} documents")


def check_model(path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "heed", meta
    config = json.loads(meta["config"])
    model = HeedClassifier(config)
    # A quantised file (heed quantize, int8 or 4-bit) is dequantised to the float model it stands for.
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    model.load_state_dict(dequantized_state_dict(load_file(path), meta, shapes), strict=True)
    model.eval()
    ids = torch.tensor([[3, 1, 0], [2, 0, 0]])
    pieces = None
    if config.get("subwordBuckets"):
        sub = json.loads(meta["heed.subwords"])
        assert sub["hash"] == "fnv1a-32" and sub["mode"] == "mean" and sub["buckets"] == config["subwordBuckets"], sub
        vocabulary = json.loads(meta["heed.vocabulary"])  # ids 2, 3, ...; <unk> (1) keeps no pieces

        def lists(i):
            return subword_buckets(vocabulary[i - 2], sub["minn"], sub["maxn"], sub["buckets"]) if i >= 2 else []

        pieces = pieces_tensors([lists(int(i)) for i in ids.flatten()])
        print("subwords", sub, "pieces per position", [len(lists(int(i))) for i in ids.flatten()])
    logits, attn = model(ids, torch.tensor([2, 1]), pieces)
    print("loaded", path, "format version", meta["version"], "config", config)
    print("extra metadata keys:", sorted(k for k in meta if k not in ("format", "version", "config")))
    print("logits", logits.tolist())
    if "check.logits" in meta:
        want = torch.tensor(json.loads(meta["check.logits"])).reshape(logits.shape)
        err = ((logits.detach() - want).abs() / (want.abs() + 1e-5)).max().item()
        print(f"max relative difference to Heed's logits: {err:.3g}")
        assert err < 1e-4, "PyTorch disagrees with Heed on this model file"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-model", help="a Heed model file to load into HeedClassifier")
    ap.add_argument("--attributions", action="store_true", help="only the reference attributions (from the existing weights)")
    ap.add_argument("--only", action="append", help="write only this variant's fixture (repeatable)")
    args = ap.parse_args()
    if args.check_model:
        check_model(args.check_model)
    elif args.attributions:
        for name, extra in VARIANTS.items():
            if not extra.get("subwordBuckets") and not extra.get("encoder"):
                attributions(name)
    else:
        os.makedirs(OUT, exist_ok=True)
        for i, (name, extra) in enumerate(VARIANTS.items()):
            if not args.only or name in args.only:
                make(name, extra, seed=1234 + i)
