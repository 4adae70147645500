#!/usr/bin/env python3
"""PyTorch parity fixtures for HeedNN's LanguageModel (Tests/HeedNNTests/Fixtures/lm_*.{json,safetensors}).

Needs torch (Debian's python3-torch or pip's; not a Heed dependency). For each variant it writes
<variant>.json (config, ids, lengths) and <variant>.safetensors with
  w.<name>  weights                g.<name>  gradients of the full-softmax loss
  loss [1]  (Σ forward NLL + Σ backward NLL) / targets      nll [2]  the two sums      tokens [2]

The model is Heed's: the forward direction's state at t predicts token t+1, the backward one's
token t-1, over ids 1..V-1 (<pad> is never scored, nor a target), one nn.Linear(H, V) per direction.

`--check FILE` loads a Heed language model file with safetensors.torch.load_file into HeedLM
(strict) and a classifier's encoder part into HeedClassifier (strict=False), and prints the
perplexity of a small batch. Make such a file with
  HEED_LM_OUT=/tmp/lm.safetensors .build/debug/HeedPackageTests.xctest --testing-library swift-testing --filter fileRoundTripIsBitEqual
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import OUT, write_safetensors  # noqa: E402


class HeedLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        V, E, H = config["vocabSize"], config["embedDim"], config["hiddenDim"]
        self.hidden = H
        self.bidirectional = bool(config["bidirectional"])
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=self.bidirectional)
        self.lm_forward = nn.Linear(H, V)
        if self.bidirectional:
            self.lm_backward = nn.Linear(H, V)

    def forward(self, ids, lengths):
        """Summed NLLs and target counts per direction."""
        B, T = ids.shape
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        pos = torch.arange(T)
        H = self.hidden
        # Forward: state at t (< len-1) predicts ids[t+1]; <pad> targets are skipped.
        valid = (pos[None, : T - 1] + 1 < lengths[:, None]) & (ids[:, 1:] != 0)
        logits = self.lm_forward(out[:, :-1, :H][valid])[:, 1:]
        nll_f = F.cross_entropy(logits, ids[:, 1:][valid] - 1, reduction="sum")
        result = [nll_f, int(valid.sum())]
        if self.bidirectional:
            # Backward: state at t (>= 1) predicts ids[t-1].
            valid = (pos[None, 1:] < lengths[:, None]) & (ids[:, :-1] != 0)
            logits = self.lm_backward(out[:, 1:, H:][valid])[:, 1:]
            result += [F.cross_entropy(logits, ids[:, :-1][valid] - 1, reduction="sum"), int(valid.sum())]
        else:
            result += [torch.zeros(()), 0]
        return result


VARIANTS = {
    # H = 10, E = 9, V = 23: the LSTM's 8-wide SIMD paths plus tails, and the softmax's.
    "lm_bilstm": dict(vocabSize=23, embedDim=9, hiddenDim=10, bidirectional=True, dropout=0.0),
    "lm_lstm": dict(vocabSize=23, embedDim=6, hiddenDim=5, bidirectional=False, dropout=0.0),
}


def make(name, config, seed):
    torch.manual_seed(seed)
    model = HeedLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        model.embedding.weight[0].zero_()
    B, T = 5, 7
    lengths = torch.tensor([4, 7, 1, 3, 7])
    ids = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        ids[b, : lengths[b]] = torch.randint(1, config["vocabSize"], (int(lengths[b]),))
    ids[0, 1] = 0  # a <pad> inside a sequence: no target there, a zero input vector
    ids[1, 6] = ids[1, 2]  # a repeated token
    tensors = {"w." + k: v.clone() for k, v in model.state_dict().items()}
    nll_f, n_f, nll_b, n_b = model(ids, lengths)
    loss = (nll_f + nll_b) / (n_f + n_b)
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    tensors["nll"] = torch.stack([nll_f.detach(), nll_b.detach()])
    tensors["tokens"] = torch.tensor([float(n_f), float(n_b)])
    for k, p in model.named_parameters():
        tensors["g." + k] = p.grad.clone()
    write_safetensors(os.path.join(OUT, name + ".safetensors"), tensors)
    meta = dict(config=config, batch=B, steps=T, ids=ids.flatten().tolist(), lengths=lengths.tolist())
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"{name}: loss {float(loss):.6f} over {n_f} + {n_b} targets")


def check(path):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "heed-lm", meta
    config = json.loads(meta["config"])
    tensors = load_file(path)
    model = HeedLM(config)
    model.load_state_dict(tensors, strict=True)
    V = config["vocabSize"]
    ids = torch.tensor([[3 % V, 1, 2 % V, 1], [2 % V, 1, 0, 0]])
    with torch.no_grad():
        nll_f, n_f, nll_b, n_b = model(ids, torch.tensor([4, 2]))
    print("loaded", path, "config", config)
    print(f"perplexity {float(torch.exp((nll_f + nll_b) / (n_f + n_b))):.4f} over {n_f} + {n_b} targets")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench", "reference"))
    from heed_torch import HeedClassifier

    cls = HeedClassifier(dict(vocabSize=V, embedDim=config["embedDim"], hiddenDim=config["hiddenDim"],
                              bidirectional=config["bidirectional"], pooling="attention", scorer="additive", classes=2))
    missing, unexpected = cls.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("lm_")}, strict=False)
    assert not unexpected and all(k.startswith(("attention.", "classifier.")) for k in missing), (missing, unexpected)
    print("HeedClassifier took the encoder; left to train:", missing)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", help="a Heed language model file to load with safetensors.torch")
    args = ap.parse_args()
    if args.check:
        check(args.check)
    else:
        for i, (name, config) in enumerate(VARIANTS.items()):
            make(name, config, seed=4321 + i)
