"""The fastest PyTorch we could reasonably write of Heed's faithful encoders and of its HAN, for the
training-speed comparison of `bench/run model --kinds orthogonal diversity han` (issue 26). Each
computes the same function as Heed's model of that name (same sizes, same parameter names and
shapes as bench/reference/heed_torch.py and han_torch.py, so the slow exact references there check
them); only how the batch is laid out and how the work is scheduled differ.

- "orthogonal" (`OrthogonalBiLSTMAttention`) = `heed train --model bilstm-attention --encoder
  orthogonal`: a BiLSTM (hidden H per direction) whose every state is made orthogonal to the running
  sum of the sequence's earlier orthogonalised states, h~ = h - (<h,s>/(<s,s> + 1e-4)) s, h~ being
  the output and the next step's recurrent input (Mohankumar et al., ACL 2020, as Heed's
  LSTM.swift writes it: sum rather than mean, eps 1e-4, same direction), then additive attention
  v.tanh(W h + b) masked to the real tokens, then a linear classifier. Each step depends on the
  running sum, so no fused cuDNN/oneDNN LSTM can run it: the recurrence is a loop over time steps.
  Written for speed: the input projection of every step and both directions is one GEMM
  before the loop; both directions advance in the same loop iteration (one batched matmul
  [2, B, H] x [2, H, 4H] per step); the backward direction reads each document reversed in place
  (a gather with index length-1-t), so both directions run on right-padded, length-bucketed
  batches and a mask (t < length) freezes h, c and s past a document's end: exact, padding never
  leaks in. Variants: "loop" runs the step loop eagerly; "script" runs the same function compiled
  by `torch.jit.script` (TorchScript's profiling executor fuses the elementwise step; train_torch.py
  runs 3 untimed forward+backward passes first so its compilation is not timed). The harness runs
  both and compares Heed with the faster.
- "diversity" = `heed train --model bilstm-attention --encoder diversity` (lambda 0.5): the plain
  BiLSTM-attention (heed_torch.HeedClassifier, "packed" or "padded" into oneDNN's fused nn.LSTM) with
  lambda times the batch's mean conicity of the LSTM outputs added to the cross-entropy: per
  document C = mean_t |cos(h_t, m)|, m the mean of its real states, norms sqrt(<v,v> + 1e-6)
  (Heed's ConicityPenalty). `conicity_penalty` computes it for the whole padded batch at once
  with masks (heed_torch.conicity_penalty is the per-document loop it is checked against).
- "han" (`PaddedHAN`) = `heed train --model han`: Yang et al.'s hierarchical attention network with
  Heed's widths (word and sentence BiLSTMs of hidden H per direction, additive attention at both
  levels of width 2H, linear classifier), on each document's first 40 sentences of at most 50
  tokens (Heed's --max-sentences / --max-words defaults; the harness hands over Heed's own
  sentences). Padded at both levels: documents bucketed by sentence count; a batch's sentences
  sorted by length and cut into groups of about `word_group` sentences (default 32), each group
  padded only to its own longest sentence and run through the fused nn.LSTM (Debian's sentences run
  1-50 tokens: in a probe on 800 Debian documents at E=100, H=128, one thread, one padded call for
  the whole batch ran at ~8.7k tokens/s, groups of 128 at ~15k, 64 at ~20.5k, 32 at ~22.7k, on a
  shared machine); the sentence vectors are laid out
  [documents, sentences, 2H] and run through the fused sentence nn.LSTM. Attention at both levels
  is masked to real words and sentences. As with heed_torch's "padded" variant, the backward
  direction of a padded bidirectional nn.LSTM reads the few pad positions of its bucket before a
  sequence's last real element, so its states differ slightly from Heed's exact masking (the
  forward direction and everything at real positions otherwise are the same function). "packed"
  (han_torch.HeedHAN, PackedSequence at both levels) is the exact one.

Nothing here is copied from the Interpretable-Attention code; it follows Heed's own description of
the math (Sources/HeedNN/LSTM.swift, Conicity.swift, HAN.swift).
"""
from typing import List

import torch
import torch.nn as nn

from heed_torch import Attention, ORTHOGONAL_EPS, CONICITY_EPS
from han_torch import HeedHAN


def reversed_index(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """[B, T] index that reads each row's first lengths[b] positions backwards (padding stays)."""
    t = torch.arange(T).unsqueeze(0)
    n = lengths.unsqueeze(1)
    return torch.where(t < n, n - 1 - t, t)


def orthogonal_loop(xp: torch.Tensor, w_hh: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Both directions' orthogonal LSTM over precomputed input projections.

    xp [2, B, T, 4H]: x_t W_ih^T + b_ih + b_hh per direction (the backward direction's rows already
    reversed per document); w_hh [2, 4H, H]; active [B, T, 1] float (1 = real token).
    Returns the orthogonalised states [2, B, T, H], zero at padding."""
    D, B, T, H4 = xp.shape
    H = H4 // 4
    h = xp.new_zeros(D, B, H)
    c = xp.new_zeros(D, B, H)
    s = xp.new_zeros(D, B, H)
    whh_t = w_hh.transpose(1, 2)
    outs: List[torch.Tensor] = []
    for t in range(T):
        gates = torch.baddbmm(xp[:, :, t], h, whh_t)
        i, f, g, o = gates.chunk(4, dim=2)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        a = (h_new * s).sum(2, keepdim=True)
        q = (s * s).sum(2, keepdim=True) + 1e-4
        h_orth = h_new - (a / q) * s
        m = active[:, t].unsqueeze(0)  # [1, B, 1]
        out = h_orth * m
        keep = 1.0 - m
        h = out + h * keep
        c = c_new * m + c * keep
        s = s + out
        outs.append(out)
    return torch.stack(outs, 2)


assert ORTHOGONAL_EPS == 1e-4  # orthogonal_loop spells it out for TorchScript
_scripted_loop = None


def scripted_orthogonal_loop():
    global _scripted_loop
    if _scripted_loop is None:
        _scripted_loop = torch.jit.script(orthogonal_loop)
    return _scripted_loop


class OrthogonalBiLSTMAttention(nn.Module):
    """Heed's bilstm-attention with the orthogonal encoder (see the module docstring). Parameter
    names and shapes equal heed_torch.HeedClassifier's (lstm.*, attention.proj/context, classifier)."""

    VARIANTS = ("loop", "script")

    def __init__(self, vocab_size, embed, hidden, classes, variant="loop", dropout=0.0):
        super().__init__()
        if variant not in self.VARIANTS:
            raise ValueError("unknown variant %s" % variant)
        self.variant = variant
        D = 2 * hidden
        self.embedding = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)  # holds the weights only
        self.attention = Attention(D, "additive", D)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(D, classes)
        self.loop = scripted_orthogonal_loop() if variant == "script" else orthogonal_loop

    def forward(self, ids, lengths):
        B, T = ids.shape
        lstm = self.lstm
        x = self.dropout(self.embedding(ids))
        rev = reversed_index(lengths, T)
        w_ih = torch.stack([lstm.weight_ih_l0, lstm.weight_ih_l0_reverse])  # [2, 4H, E]
        bias = torch.stack([lstm.bias_ih_l0 + lstm.bias_hh_l0, lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse])
        # One GEMM for every position's input projection in both directions; the backward
        # direction's rows are then gathered into per-document reversed order.
        proj = torch.matmul(x, w_ih.transpose(1, 2).unsqueeze(1)) + bias.view(2, 1, 1, -1)  # [2, B, T, 4H]
        proj_b = proj[1].gather(1, rev.unsqueeze(2).expand(B, T, proj.shape[-1]))
        xp = torch.stack([proj[0], proj_b])
        mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
        w_hh = torch.stack([lstm.weight_hh_l0, lstm.weight_hh_l0_reverse])
        out = self.loop(xp, w_hh, mask.unsqueeze(2).to(x.dtype))
        H = out.shape[-1]
        back = out[1].gather(1, rev.unsqueeze(2).expand(B, T, H))  # back to reading order
        states = torch.cat([out[0], back], dim=2)
        self.states = states
        pooled, attn = self.attention(states, mask)
        return self.classifier(self.dropout(pooled)), attn


def conicity_penalty(states, lengths):
    """Mean over the batch of each document's conicity with absolute cosines (Heed's
    ConicityPenalty), from padded states [B, T, D] (anything at padding is masked out)."""
    B, T, _ = states.shape
    mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(states.dtype).unsqueeze(2)
    h = states * mask
    n = lengths.to(states.dtype)
    m = h.sum(1) / n.unsqueeze(1)  # [B, D]
    mu = torch.sqrt((m * m).sum(1) + CONICITY_EPS)  # [B]
    nu = torch.sqrt((h * h).sum(2) + CONICITY_EPS)  # [B, T]
    cos = torch.bmm(h, m.unsqueeze(2)).squeeze(2) / (nu * mu.unsqueeze(1))
    per_doc = (cos.abs() * mask.squeeze(2)).sum(1) / n
    return per_doc.mean()


class PaddedHAN(HeedHAN):
    """han_torch.HeedHAN's modules and parameters, run padded at both levels (module docstring)."""

    def __init__(self, config, word_group=32):
        super().__init__(config)
        self.word_group = word_group

    def prepare(self, sentences: List[List[int]], counts: List[int]):
        """The padded layout of one batch (built outside the timed step, like the flat kinds' padded
        id matrices): sentences (document order) as id lists, counts = sentences per document."""
        S = len(sentences)
        lengths = torch.tensor([len(x) for x in sentences], dtype=torch.long)
        order = torch.argsort(lengths, stable=True)
        g = self.word_group if self.word_group > 0 else S
        ngroups = max(1, round(S / g))
        bounds = [round(k * S / ngroups) for k in range(ngroups + 1)]
        groups = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            idx = order[a:b].tolist()
            W = max(len(sentences[i]) for i in idx)
            ids = torch.zeros(len(idx), W, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(sentences[i])] = torch.tensor(sentences[i], dtype=torch.long)
            groups.append((ids, lengths[idx]))
        unsort = torch.empty_like(order)
        unsort[order] = torch.arange(S)
        counts = torch.tensor(counts, dtype=torch.long)
        B = len(counts)
        doc = torch.repeat_interleave(torch.arange(B), counts)
        first = torch.cumsum(counts, 0) - counts
        pos = torch.arange(S) - first[doc]
        return {"groups": groups, "unsort": unsort, "doc": doc, "pos": pos, "counts": counts}

    def forward_padded(self, prep):
        """Logits [B, C] of a batch laid out by `prepare`."""
        pieces = []
        for ids, lens in prep["groups"]:
            W = ids.shape[1]
            out, _ = self.word_lstm(self.dropout(self.embedding(ids)))
            mask = torch.arange(W).unsqueeze(0) < lens.unsqueeze(1)
            v, _ = self.word_attention(out, mask)
            pieces.append(v)
        vectors = torch.cat(pieces, 0)[prep["unsort"]]  # [S, Dw], document order
        counts = prep["counts"]
        B, Smax = len(counts), int(counts.max())
        grid = vectors.new_zeros(B, Smax, vectors.shape[1]).index_put((prep["doc"], prep["pos"]), vectors)
        out, _ = self.sentence_lstm(self.dropout(grid))
        smask = torch.arange(Smax).unsqueeze(0) < counts.unsqueeze(1)
        document, _ = self.sentence_attention(out, smask)
        return self.classifier(self.dropout(document))
