"""PyTorch reference of Heed's classifier (HeedClassifier).

Tensor names equal Heed's safetensors names, so a Heed model file loads with
`safetensors.torch.load_file` + `load_state_dict`. Config keys are Heed's ClassifierConfig
JSON keys (vocabSize, embedDim, hiddenDim, bidirectional, pooling, scorer, attentionDim,
classes, dropout).

The encoder (config key "encoder", absent = "lstm"; Mohankumar et al., ACL 2020):
- "orthogonal": every hidden state is made orthogonal to the running sum s_t of the document's
  earlier (orthogonalised) states, h~ = h - (<h,s> / (<s,s> + eps)) s with eps = 1e-4, and h~ is
  both the output and the next step's recurrent input (`orthogonal_direction`, a Python loop over
  time steps with masks; each direction of a BiLSTM keeps its own sum, over real tokens only).
  Only the "packed" semantics exist for it.
- "diversity": the plain LSTM; `conicity_penalty` is the term training adds to the loss
  (diversityWeight times the batch's mean conicity of the LSTM outputs, absolute cosines).

Two ways to run the LSTM over a batch of 0-padded documents (`variant`, same weights, names and
init either way):

- "packed" (default): `pack_padded_sequence`, so every document's recurrence stops at its own
  length — the math of Heed's masking exactly, but PyTorch's slow CPU path for packed input.
- "padded": the padded tensor straight into `nn.LSTM(batch_first=True)` (oneDNN's fused LSTM on
  CPU), no packing — what many users write and PyTorch's fastest CPU LSTM. Last-state pooling
  takes the forward direction's output at position length-1 and, when bidirectional, the backward
  direction's output at position 0; attention pooling masks padding as in "packed". The backward
  direction of a bidirectional LSTM then reads the batch's pad positions (zero embeddings) before
  the document's last real token, so its states — and with them both "bilstm" and
  "bilstm-attention" — differ slightly from Heed's exact masking (unidirectional kinds are exact).
  Length-bucketed batches keep those pad positions few. That difference is the point: this is the
  model users actually write.
"""
import json

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Attention(nn.Module):
    def __init__(self, dim, scorer, attention_dim):
        super().__init__()
        self.scorer = scorer
        if scorer == "linear":
            self.score = nn.Linear(dim, 1)
        elif scorer == "additive":
            self.proj = nn.Linear(dim, attention_dim)
            self.context = nn.Linear(attention_dim, 1, bias=False)
        else:
            raise ValueError(f"unknown scorer {scorer}")

    def forward(self, h, mask):
        # h: [B, T, D]; mask: [B, T] bool (True = real token). Softmax over time.
        if self.scorer == "linear":
            s = self.score(h).squeeze(-1)
        else:
            s = self.context(torch.tanh(self.proj(h))).squeeze(-1)
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, dim=1)  # masked positions are exactly 0
        ctx = torch.bmm(a.unsqueeze(1), h).squeeze(1)
        return ctx, a


ORTHOGONAL_EPS = 1e-4  # LSTMDirection.orthogonalEpsilon
CONICITY_EPS = 1e-6  # ConicityPenalty.epsilon


def orthogonal_direction(x, lengths, w_ih, w_hh, b_ih, b_hh):
    """One orthogonal LSTM direction over x [B, T, E] read forwards (each document up to its
    length). Returns the orthogonalised states [B, T, H], zero at padding."""
    B, T, _ = x.shape
    H = w_hh.shape[1]
    h = x.new_zeros(B, H)
    c = x.new_zeros(B, H)
    s = x.new_zeros(B, H)
    outs = []
    for t in range(T):
        active = (t < lengths).unsqueeze(1)
        gates = x[:, t] @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh
        i, f, g, o = gates.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        a = (h_new * s).sum(1, keepdim=True)
        q = (s * s).sum(1, keepdim=True) + ORTHOGONAL_EPS
        h_orth = h_new - (a / q) * s
        h = torch.where(active, h_orth, h)
        c = torch.where(active, c_new, c)
        s = torch.where(active, s + h_orth, s)
        outs.append(torch.where(active, h_orth, torch.zeros_like(h_orth)))
    return torch.stack(outs, 1)


def reverse_each(x, lengths):
    """x [B, T, ...] with each document's first lengths[b] positions reversed (padding stays)."""
    T = x.shape[1]
    idx = []
    for n in lengths.tolist():
        idx.append(list(range(n - 1, -1, -1)) + list(range(n, T)))
    idx = torch.tensor(idx)
    return x.gather(1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand_as(x))


def conicity_penalty(out, lengths):
    """Mean over the batch's documents of conicity(out[b, :len]) = mean_t |cos(h_t, mean h)|, with
    the norms sqrt(<v,v> + CONICITY_EPS) (Heed's ConicityPenalty; absolute cosines as the paper's
    code takes them)."""
    total = out.new_zeros(())
    for b, n in enumerate(lengths.tolist()):
        h = out[b, :n]
        m = h.sum(0) / n
        mu = torch.sqrt((m * m).sum() + CONICITY_EPS)
        nu = torch.sqrt((h * h).sum(1) + CONICITY_EPS)
        total = total + ((h @ m) / (nu * mu)).abs().sum() / n
    return total / len(lengths)


class HeedClassifier(nn.Module):
    VARIANTS = ("packed", "padded")

    def __init__(self, config, variant="packed"):
        super().__init__()
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown variant {variant}")
        self.variant = variant
        self.config = dict(config)
        V, E, H = config["vocabSize"], config["embedDim"], config["hiddenDim"]
        self.bidirectional = bool(config["bidirectional"])
        D = 2 * H if self.bidirectional else H
        self.pooling = config["pooling"]
        self.encoder = config.get("encoder") or "lstm"
        self.diversity_weight = float(config.get("diversityWeight") or 0.0)
        if self.encoder == "orthogonal" and variant != "packed":
            raise ValueError("the orthogonal encoder has packed semantics only")
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        # Heed's subwords: each token adds the mean row of its hashed character n-grams.
        buckets = config.get("subwordBuckets")
        self.subwords = nn.EmbeddingBag(buckets, E, mode="mean") if buckets else None
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=self.bidirectional)
        if self.pooling == "attention":
            A = config.get("attentionDim") or D
            self.attention = Attention(D, config["scorer"], A)
        self.dropout = nn.Dropout(float(config.get("dropout", 0.0)))
        self.classifier = nn.Linear(D, config["classes"])

    def forward(self, ids, lengths, pieces=None):
        """ids: [B, T] long, 0-padded; lengths: [B] long; pieces (models with subwords): (buckets,
        offsets) of every position's bucket list, row-major, as nn.EmbeddingBag takes them.
        Returns (logits [B, C], attention [B, T] or None)."""
        B, T = ids.shape
        x = self.embedding(ids)
        if self.subwords is not None and pieces is not None:
            x = x + self.subwords(pieces[0], pieces[1]).view(B, T, -1)
        x = self.dropout(x)
        self.states = None
        if self.encoder == "orthogonal":
            lstm = self.lstm
            out = orthogonal_direction(x, lengths, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
            if self.bidirectional:
                rev = orthogonal_direction(
                    reverse_each(x, lengths), lengths, lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse,
                    lstm.bias_ih_l0_reverse, lstm.bias_hh_l0_reverse)
                out = torch.cat([out, reverse_each(rev, lengths)], dim=2)
            h_n = None
        elif self.variant == "packed":
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, (h_n, _) = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        else:
            out, _ = self.lstm(x)  # [B, T, D], pad positions included
        self.states = out
        attn = None
        if self.pooling == "attention":
            mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
            pooled, attn = self.attention(out, mask)
        elif self.variant == "padded" or h_n is None:
            H = self.lstm.hidden_size
            last = (lengths - 1).clamp(min=0).view(B, 1, 1).expand(B, 1, H)
            pooled = out[:, :, :H].gather(1, last).squeeze(1)  # forward direction at length-1
            if self.bidirectional:
                pooled = torch.cat([pooled, out[:, 0, H:]], dim=1)  # backward direction at position 0
        elif self.bidirectional:
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            pooled = h_n[-1]
        return self.classifier(self.dropout(pooled)), attn

    def diversity_loss(self, lengths):
        """diversityWeight x the mean conicity of the last forward's LSTM outputs (0 unless the
        encoder is "diversity"): the term Heed's training adds to the cross-entropy."""
        if self.encoder != "diversity":
            return self.states.new_zeros(())
        return self.diversity_weight * conicity_penalty(self.states, lengths)


def subword_buckets(token, minn, maxn, buckets):
    """Heed's subword recipe (HeedText/Subwords.swift), written again from its description: the
    n-grams of "<token>" in Unicode scalars, minn..maxn long (not a lone marker), each hashed with
    32-bit FNV-1a over its UTF-8 bytes, modulo buckets."""
    wrapped = "<" + token + ">"
    out = []
    for first in range(len(wrapped)):
        for n in range(max(1, minn), maxn + 1):
            if first + n > len(wrapped):
                break
            if n == 1 and (first == 0 or first == len(wrapped) - 1):
                continue
            h = 2166136261
            for byte in wrapped[first:first + n].encode("utf-8"):
                h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
            out.append(h % buckets)
    return out


def pieces_tensors(lists):
    """(buckets, offsets) for nn.EmbeddingBag from one bucket list per position."""
    offsets, flat = [], []
    for lst in lists:
        offsets.append(len(flat))
        flat.extend(lst)
    return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


QUANTIZATION_DTYPES = {"int8-symmetric-per-row": torch.int8, "int4-symmetric-per-row": torch.uint8}


def unpack_int4(packed, k):
    """[R, ceil(K/2)] uint8 -> [R, K] int8, as docs/model-format.md lays the bytes out: element 2j in
    byte j's low nibble, 2j+1 in its high nibble, each a 4-bit two's-complement value (-7..7)."""
    lo, hi = (packed & 0x0F).to(torch.int16), (packed >> 4).to(torch.int16)
    q = torch.stack([lo, hi], dim=-1).reshape(packed.shape[0], -1)[:, :k]
    return torch.where(q > 7, q - 16, q).to(torch.int8)


def dequantized_state_dict(tensors, metadata, shapes):
    """The float state_dict a `heed quantize` file stands for, from `safetensors.torch.load_file`'s
    tensors, the file's metadata and each tensor's float shape (a HeedClassifier's state_dict shapes:
    a 4-bit row of odd length cannot be told from its bytes alone). Each tensor listed in
    heed.quantization becomes float32(q) * scale per row, as Heed computes it, with the rows left out
    (`.present` = 0) put back as zeros; other tensors pass through, so a float file's come back as they
    are."""
    if "heed.quantization" not in metadata:
        return dict(tensors)
    entry = json.loads(metadata["heed.quantization"])
    schemes = {name: entry.get("schemes", {}).get(name, entry["scheme"]) for name in entry["tensors"]}
    out = {n: t for n, t in tensors.items() if n not in {x + s for x in schemes for s in (".scale", ".present")}}
    for name, scheme in schemes.items():
        if scheme not in QUANTIZATION_DTYPES:
            raise ValueError(f"{name}: quantisation scheme {scheme!r} is unknown")
        stored = tensors[name]
        if stored.dtype != QUANTIZATION_DTYPES[scheme]:
            raise ValueError(f"{name}: scheme {scheme} is stored as {QUANTIZATION_DTYPES[scheme]}, found {stored.dtype}")
        rows, k = shapes[name]
        q = unpack_int4(stored, k) if scheme.startswith("int4") else stored
        values = q.to(torch.float32) * tensors[name + ".scale"][:, None]
        present = tensors.get(name + ".present")
        if present is not None:
            full = torch.zeros(rows, k, dtype=torch.float32)
            full[present.to(torch.bool)] = values
            values = full
        out[name] = values
    return out
