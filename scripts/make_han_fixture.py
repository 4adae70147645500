#!/usr/bin/env python3
"""Generates PyTorch parity fixtures for HeedNN's hierarchical attention network
(Tests/HeedNNTests/HANTests.swift) from bench/reference/han_torch.py (`HeedHAN`).

Needs `torch` (not a Heed dependency; Debian's python3-torch will do). For each variant it writes
Tests/HeedNNTests/Fixtures/han_<variant>.json (config, the flat batch, labels, input scales) and
han_<variant>.safetensors with
  w.<name>   initial weights              g.<name>  gradients of the (weighted) mean loss
  logits [B, C], word_attention [N], sentence_attention [S], loss [1]
  input_grad [N, E]     d loss / d each token's input vector (as the word LSTM reads it)
  scaled_logits [B, C]  logits with each document's embedded tokens scaled by inputScales
The batch mixes documents of 1 to 4 sentences and sentences of 1 to 6 tokens, unsorted, with a
padding id inside a sentence and a repeated token.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "bench", "reference"))
sys.path.insert(0, HERE)
from han_torch import HeedHAN  # noqa: E402
from make_fixtures import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "HeedNNTests", "Fixtures")

BASE = dict(vocabSize=23, embedDim=6, wordHiddenDim=5, sentenceHiddenDim=4, classes=3, dropout=0.0)
VARIANTS = {
    "bilstm_additive": dict(bidirectional=True, scorer="additive", wordAttentionDim=7, sentenceAttentionDim=None),
    # H = 9 and 10: the LSTMs' 8-wide SIMD loops plus scalar tails.
    "lstm_linear_h9": dict(bidirectional=False, scorer="linear", wordAttentionDim=None, sentenceAttentionDim=None,
                           wordHiddenDim=9, sentenceHiddenDim=10, embedDim=9),
}

SENTENCE_COUNTS = [3, 1, 2, 4]
SENTENCE_LENGTHS = [4, 1, 3, 6, 2, 5, 1, 3, 2, 4]
LABELS = [0, 2, 1, 2]
INPUT_SCALES = [0.5, 1.0, 0.25, 0.75]


def make(name, extra, seed):
    torch.manual_seed(seed)
    config = dict(BASE, **extra)
    model = HeedHAN(config)
    with torch.no_grad():  # non-trivial values everywhere; the padding row stays zero
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
        model.embedding.weight[0].zero_()
    lengths = torch.tensor(SENTENCE_LENGTHS)
    counts = torch.tensor(SENTENCE_COUNTS)
    N = int(lengths.sum())
    ids = torch.randint(1, config["vocabSize"], (N,))
    ids[1] = 0  # a padding id inside a sentence: zero vector, no gradient for row 0
    ids[5] = ids[20]  # a repeated token: gradient rows accumulate
    labels = torch.tensor(LABELS)
    class_weights = [0.5, 2.0, 1.25] if name == "bilstm_additive" else None

    tensors = {"w." + k: v.clone() for k, v in model.state_dict().items()}
    crit = torch.nn.CrossEntropyLoss(weight=None if class_weights is None else torch.tensor(class_weights))
    model.train()
    logits, word_attention, sentence_attention, x = model(ids, lengths, counts)
    x.retain_grad()
    loss = crit(logits, labels)
    loss.backward()
    tensors.update(logits=logits.detach(), word_attention=word_attention.detach(),
                   sentence_attention=sentence_attention.detach(), loss=loss.detach().reshape(1),
                   input_grad=x.grad.clone())
    for k, p in model.named_parameters():
        tensors["g." + k] = p.grad.clone()
    assert torch.all(model.embedding.weight.grad[0] == 0)
    with torch.no_grad():
        tensors["scaled_logits"] = model(ids, lengths, counts, input_scales=torch.tensor(INPUT_SCALES))[0]

    write_safetensors(os.path.join(OUT, "han_" + name + ".safetensors"), tensors)
    meta = dict(config=config, ids=ids.tolist(), sentenceLengths=SENTENCE_LENGTHS, sentenceCounts=SENTENCE_COUNTS,
                labels=LABELS, classWeights=class_weights, inputScales=INPUT_SCALES)
    with open(os.path.join(OUT, "han_" + name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"han_{name}: loss {float(loss):.6f}")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for i, (name, extra) in enumerate(VARIANTS.items()):
        make(name, extra, seed=4321 + i)
