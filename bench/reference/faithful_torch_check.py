"""Checks faithful_torch.py (the fast PyTorch models of `bench/run model --kinds orthogonal diversity
han`) against the exact, slow references in heed_torch.py and han_torch.py, with shared weights, on a
small ragged batch. Exits non-zero on a mismatch.

  bench/.venv/bin/python bench/reference/faithful_torch_check.py

- orthogonal (both variants, eager loop and TorchScript): logits, attention, states and a gradient
  equal heed_torch.HeedClassifier(encoder "orthogonal") to float rounding.
- diversity: the batched conicity_penalty equals heed_torch.conicity_penalty (per-document loop).
- han: PaddedHAN equals han_torch.HeedHAN exactly when no sentence or document is padded; with
  ragged lengths it differs only through the padded backward direction reading pad positions (the
  documented difference of every "padded" variant), printed for information.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faithful_torch  # noqa: E402
import han_torch  # noqa: E402
import heed_torch  # noqa: E402


def main():
    torch.manual_seed(0)
    V, E, H, C = 50, 16, 12, 3
    fails = []
    cfg = {"vocabSize": V, "embedDim": E, "hiddenDim": H, "bidirectional": True, "pooling": "attention",
           "scorer": "additive", "attentionDim": None, "classes": C, "dropout": 0.0, "encoder": "orthogonal"}
    ref = heed_torch.HeedClassifier(cfg)
    lengths = torch.tensor([7, 5, 5, 2, 1])
    ids = torch.zeros(5, 7, dtype=torch.long)
    for b, n in enumerate(lengths.tolist()):
        ids[b, :n] = torch.randint(2, V, (n,))
    for variant in faithful_torch.OrthogonalBiLSTMAttention.VARIANTS:
        m = faithful_torch.OrthogonalBiLSTMAttention(V, E, H, C, variant=variant)
        m.load_state_dict(ref.state_dict())
        l1, a1 = ref(ids, lengths)
        l2, a2 = m(ids, lengths)
        g1 = torch.autograd.grad(l1.sum(), ref.lstm.weight_hh_l0_reverse)[0]
        g2 = torch.autograd.grad(l2.sum(), m.lstm.weight_hh_l0_reverse)[0]
        d = max((l1 - l2).abs().max().item(), (a1 - a2).abs().max().item(),
                (ref.states - m.states).abs().max().item(), (g1 - g2).abs().max().item())
        print("orthogonal %-6s max |difference| against heed_torch: %.2e" % (variant, d))
        if d > 1e-5:
            fails.append("orthogonal " + variant)
    ref2 = heed_torch.HeedClassifier(dict(cfg, encoder="diversity", diversityWeight=1.0))
    ref2(ids, lengths)
    p1 = heed_torch.conicity_penalty(ref2.states, lengths).item()
    p2 = faithful_torch.conicity_penalty(ref2.states, lengths).item()
    print("conicity penalty: heed_torch %.7f, batched %.7f" % (p1, p2))
    if abs(p1 - p2) > 1e-6:
        fails.append("conicity")
    hcfg = {"vocabSize": V, "embedDim": E, "wordHiddenDim": H, "sentenceHiddenDim": H, "bidirectional": True,
            "scorer": "additive", "classes": C, "dropout": 0.0}
    for name, docs, exact in (("han, nothing padded", [[[3, 4, 5], [6, 7, 8]], [[9, 10, 11], [12, 13, 14]]], True),
                              ("han, ragged", [[[3, 4, 5, 6, 7], [6, 7]], [[9], [12, 13, 14], [2, 2, 2, 2]], [[5, 5, 5]]],
                               False)):
        m = faithful_torch.PaddedHAN(hcfg, word_group=2)
        ref3 = han_torch.HeedHAN(hcfg)
        ref3.load_state_dict(m.state_dict())
        sents = [s for d in docs for s in d]
        counts = [len(d) for d in docs]
        flat = torch.tensor([i for s in sents for i in s])
        l1 = ref3(flat, torch.tensor([len(s) for s in sents]), torch.tensor(counts))[0]
        l2 = m.forward_padded(m.prepare(sents, counts))
        d = (l1 - l2).abs().max().item()
        print("%s: max |logit difference| against han_torch (packed) %.2e%s" % (
            name, d, "" if exact else " (padded backward direction reads pad positions)"))
        if exact and d > 1e-5:
            fails.append(name)
    if fails:
        print("MISMATCH: " + ", ".join(fails))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
