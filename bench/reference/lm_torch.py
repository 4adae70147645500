"""PyTorch reference of `heed pretrain`'s bidirectional LSTM language model (docs/pretraining.md).

  python lm_torch.py DATA.json [--epochs 1] [--threads 1] [--variant padded|packed]
      [--adam lazy|dense] [--samples 512] [--batch 32] [--lr 0.002] [--dropout 0.1]
      [--embed E --hidden H (default: DATA's)] [--seed 1] [--no-eval] [--log LOG.jsonl]

DATA.json is written by bench/pretrain_speed.py (`prepare`): Heed's own token ids of the training
and held-out chunks (`heed tokenize` tokens, Heed's held-out draw and vocabulary rebuilt and checked
against an encoder file `heed pretrain` wrote), so this model sees exactly the chunks Heed trains on:
  {"vocab_size": V, "embed": E, "hidden": H, "max_len": 100, "train": [[id, ...], ...],
   "held_out": [[id, ...], ...], ...}

The model and step are Heed's (Sources/HeedNN/LanguageModel.swift, SampledSoftmax.swift,
Sources/Heed/Pretrainer.swift):
- nn.Embedding(V, E) (N(0, 0.3²), row 0 zero, as `heed pretrain`'s embedding init) -> dropout ->
  nn.LSTM(E, H, bidirectional) -> per direction: dropout on the states -> output layer
  `lm_forward` / `lm_backward` (weight [V, H], bias [V], U(-1/sqrt H, 1/sqrt H));
- the forward state at t predicts token t+1, the backward state at t predicts token t-1; padding
  is never scored and never a target (a target id 0 is skipped), no start/end tokens;
- sampled softmax (TensorFlow's sampled_softmax_loss, as Heed's): K unique candidates drawn with
  replacement from the log-uniform (Zipf) distribution over ids 1..V-1, P(id) =
  log((id+1)/id) / log(V), once per batch and shared by every row and both directions; every logit
  (candidates' and the row's own target's) minus log(1 - (1 - P)^tries); a candidate equal to the
  row's target is left out of that row; loss = (sum forward NLL + sum backward NLL) / predictions;
- gradient L2 norm clipped to 5, Adam (lr 0.002, betas 0.9/0.999, eps 1e-8).

--variant padded (default): the padded batch straight into nn.LSTM(batch_first=True), oneDNN's
fused CPU LSTM: the backward direction then reads the batch's trailing pad positions before a
chunk's last token (Heed's length buckets keep them few: batches are consecutive runs of the chunks
sorted by length). --variant packed: pack_padded_sequence (exact, PyTorch's slower packed path).
--adam lazy (default): the output weights get sparse row gradients (F.embedding(sparse=True)) and
torch.optim.SparseAdam, which updates only the rows used, as Heed's row-sparse Adam does; the rest
torch.optim.Adam(fused=True). --adam dense: Adam(fused=True) over every parameter, the output
layers' weights included (dense gradients, every row's moments decay each step). On RT, 1 core,
padded + lazy was the fastest of the four combinations (bench/READING.md, §0f).

Batches: Heed's Bucketing (shuffle, stable sort by length, consecutive runs of --batch chunks,
batch order shuffled) each epoch. Timing: tokens/s = the epoch's chunk tokens (sum of chunk lengths,
pad excluded) / wall seconds from the epoch's start (batching and padding included) to the end of
its last optimiser step — what `heed pretrain` logs as tokensPerSecond; the held-out evaluation
(full softmax over ids 1..V-1, both directions, no dropout) is timed apart. One JSON line per epoch
on stdout, then a summary line.
"""
import argparse
import json
import math
import os
import random
import sys
import time


def fail(msg):
    print("lm_torch.py: error: " + msg, file=sys.stderr)
    sys.exit(2)


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
except ImportError as ex:  # pragma: no cover
    fail("PyTorch is not importable (%s); run through bench/.venv/bin/python (bench/run creates it)" % ex)


class LogUniformSampler:
    """TensorFlow's log_uniform_candidate_sampler over ids 1..V-1 (rank r = id - 1), unique."""

    def __init__(self, vocab_size, generator):
        if vocab_size < 2:
            raise ValueError("a sampler needs at least one id besides <pad>")
        self.V = vocab_size
        self.range = vocab_size - 1
        self.log_v = math.log(vocab_size)
        self.gen = generator

    def sample(self, k):
        """(ascending unique ids [K] long, tries) — tries None when every id is a candidate."""
        if k >= self.range:
            return torch.arange(1, self.V), None
        draws = torch.empty(0, dtype=torch.long)
        chunk = max(2 * k, 1024)
        while True:
            u = torch.rand(chunk, dtype=torch.float64, generator=self.gen)
            r = (torch.exp(u * self.log_v).long() - 1).clamp_(max=self.range - 1)
            draws = torch.cat([draws, r + 1])
            uniq, inv = torch.unique(draws, return_inverse=True)
            if uniq.numel() >= k or draws.numel() >= 1000 * k:
                break
        if uniq.numel() < k:  # the rare tail never came up: every draw counts, as in Heed
            return uniq, draws.numel()
        first = torch.full((uniq.numel(),), draws.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inv, torch.arange(draws.numel()), reduce="amin")
        tries = int(first.sort().values[k - 1]) + 1  # the draw that found the K-th distinct id
        return torch.unique(draws[:tries]), tries

    def log_expected_count(self, ids, tries):
        """log(1 - (1 - P(id))^tries) per id, float32; zeros when tries is None."""
        if tries is None:
            return torch.zeros(ids.shape, dtype=torch.float32)
        p = torch.log1p(1.0 / ids.double()) / self.log_v
        return torch.log(-torch.expm1(tries * torch.log1p(-p))).float()


class HeedLM(nn.Module):
    """Embedding -> BiLSTM -> one output layer per direction, named as Heed's encoder file."""

    def __init__(self, V, E, H, dropout, variant, sparse_heads, embed_std=0.3):
        super().__init__()
        self.V, self.H, self.p, self.variant, self.sparse = V, H, dropout, variant, sparse_heads
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.lm_forward = nn.Linear(H, V)
        self.lm_backward = nn.Linear(H, V)
        k = 1 / math.sqrt(H)
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, embed_std)
            self.embedding.weight[0].zero_()
            for head in (self.lm_forward, self.lm_backward):
                head.weight.uniform_(-k, k)
                head.bias.uniform_(-k, k)

    def states(self, ids, lengths):
        """LSTM outputs [B, T, 2H] of the 0-padded ids [B, T]."""
        x = F.dropout(self.embedding(ids), self.p, self.training)
        if self.variant == "packed":
            T = ids.shape[1]
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
            return out
        out, _ = self.lstm(x)
        return out

    @staticmethod
    def rows(ids, lengths, out, H):
        """(forward states [nf, H], forward targets, backward states [nb, H], backward targets)."""
        T = ids.shape[1]
        pos = torch.arange(T).unsqueeze(0)
        real = pos < lengths.unsqueeze(1)
        # forward at t (t+1 < len) predicts t+1; backward at t (1 <= t < len) predicts t-1.
        mf = real[:, 1:] & (ids[:, 1:] != 0)
        mb = real[:, 1:] & (ids[:, :-1] != 0)
        return out[:, :-1, :H][mf], ids[:, 1:][mf], out[:, 1:, H:][mb], ids[:, :-1][mb]

    def sampled_nll(self, head, x, y, cand, logq_cand, logq_y):
        """Sum over rows of the sampled softmax NLL (TF's sampled_softmax_loss, Heed's SoftmaxHead)."""
        if self.sparse:
            wc = F.embedding(cand, head.weight, sparse=True)
            wy = F.embedding(y, head.weight, sparse=True)
        else:
            wc = head.weight.index_select(0, cand)
            wy = head.weight.index_select(0, y)
        zc = torch.addmm(head.bias.index_select(0, cand) - logq_cand, x, wc.t())  # [n, K]
        zt = (x * wy).sum(1) + head.bias.index_select(0, y) - logq_y  # [n]
        K = cand.numel()
        at = torch.searchsorted(cand, y).clamp_(max=K - 1)
        hit = cand[at] == y  # accidental hit: that candidate leaves the row
        if bool(hit.any()):
            mask = torch.zeros_like(zc, dtype=torch.bool)
            mask[hit.nonzero().squeeze(1), at[hit]] = True
            zc = zc.masked_fill(mask, float("-inf"))
        logits = torch.cat([zt.unsqueeze(1), zc], 1)
        return F.cross_entropy(logits, torch.zeros(y.numel(), dtype=torch.long), reduction="sum")

    def sampled_loss(self, ids, lengths, sampler, k):
        out = self.states(ids, lengths)
        xf, yf, xb, yb = self.rows(ids, lengths, out, self.H)
        n = yf.numel() + yb.numel()
        cand, tries = sampler.sample(k)  # once per batch, both directions
        lq_c = sampler.log_expected_count(cand, tries)
        total = 0.0
        for head, x, y in ((self.lm_forward, xf, yf), (self.lm_backward, xb, yb)):
            if y.numel():
                x = F.dropout(x, self.p, self.training)
                total = total + self.sampled_nll(head, x, y, cand, lq_c, sampler.log_expected_count(y, tries))
        return total / max(n, 1), n

    @torch.inference_mode()
    def full_nll(self, ids, lengths, chunk=256):
        """(sum full-softmax NLL over ids 1..V-1, predictions), both directions, no dropout."""
        out = self.states(ids, lengths)
        xf, yf, xb, yb = self.rows(ids, lengths, out, self.H)
        nll = 0.0
        for head, x, y in ((self.lm_forward, xf, yf), (self.lm_backward, xb, yb)):
            w, b = head.weight[1:], head.bias[1:]
            for s in range(0, y.numel(), chunk):
                z = torch.addmm(b, x[s:s + chunk], w.t())
                nll += float(F.cross_entropy(z, y[s:s + chunk] - 1, reduction="sum"))
        return nll, yf.numel() + yb.numel()


def heed_batches(chunks, size, rng):
    """Heed's Bucketing.batches: shuffle, stable sort by length, consecutive runs, shuffle runs."""
    order = list(range(len(chunks)))
    if rng is not None:
        rng.shuffle(order)
    order.sort(key=lambda i: len(chunks[i]))  # stable: keeps the shuffled order within a length
    out = [order[s:s + size] for s in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(out)
    return out


def pad(chunks, idx):
    T = max(len(chunks[i]) for i in idx)
    ids = torch.zeros(len(idx), T, dtype=torch.long)
    for r, i in enumerate(idx):
        c = chunks[i]
        ids[r, :len(c)] = torch.tensor(c, dtype=torch.long)
    return ids, torch.tensor([len(chunks[i]) for i in idx], dtype=torch.long)


def clip_(params, max_norm):
    """clip_grad_norm_ that also takes sparse (row) gradients; returns the norm before clipping."""
    sq = []
    for p in params:
        g = p.grad
        if g is None:
            continue
        if g.is_sparse:
            g = g.coalesce()
            p.grad = g
            sq.append(g._values().pow(2).sum())
        else:
            sq.append(g.pow(2).sum())
    norm = torch.stack(sq).sum().sqrt()
    scale = max_norm / (float(norm) + 1e-6)
    if scale < 1:
        for p in params:
            if p.grad is not None:
                p.grad.mul_(scale)
    return float(norm)


def main():
    ap = argparse.ArgumentParser(
        description="PyTorch reference of heed pretrain's BiLSTM language model (sampled softmax); "
                    "see the module docstring for what it computes and how it is timed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("data", help="DATA.json from `bench/pretrain_speed.py prepare` (Heed's token ids)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--variant", choices=["padded", "packed"], default="padded",
                    help="padded: nn.LSTM on the padded batch (fused); packed: pack_padded_sequence")
    ap.add_argument("--adam", choices=["dense", "lazy"], default="lazy",
                    help="dense: Adam(fused) on all; lazy: SparseAdam on the output weights' used rows")
    ap.add_argument("--samples", type=int, default=512, help="sampled-softmax candidates per batch (K)")
    ap.add_argument("--batch", type=int, default=32, help="chunks per optimiser step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--embed", type=int, default=None, help="embedding size (default: DATA's)")
    ap.add_argument("--hidden", type=int, default=None, help="LSTM hidden size per direction (default: DATA's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-eval", action="store_true", help="skip the held-out perplexity after each epoch")
    ap.add_argument("--log", help="also write the per-epoch JSON lines here")
    args = ap.parse_args()
    for flag in ("epochs", "threads", "samples", "batch"):
        if getattr(args, flag) < 1:
            fail("--%s must be at least 1 (got %d)" % (flag, getattr(args, flag)))
    if not 0 <= args.dropout < 1:
        fail("--dropout must be in [0, 1) (got %g)" % args.dropout)

    try:
        with open(args.data, encoding="utf-8") as f:
            data = json.load(f)
        V = int(data["vocab_size"])
        train, held_out = data["train"], data["held_out"]
    except (OSError, ValueError, KeyError) as ex:
        fail("cannot read %s as pretrain_speed.py's DATA.json: %s" % (args.data, ex))
    if not train or any(len(c) < 2 for c in train):
        fail("%s: training chunks must be non-empty with at least two tokens each" % args.data)
    E = args.embed or int(data["embed"])
    H = args.hidden or int(data["hidden"])

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    rng = random.Random(args.seed)

    model = HeedLM(V, E, H, args.dropout, args.variant, sparse_heads=args.adam == "lazy")
    heads = [model.lm_forward.weight, model.lm_backward.weight]
    if args.adam == "lazy":
        dense = [p for p in model.parameters() if all(p is not h for h in heads)]
        opts = [torch.optim.Adam(dense, lr=args.lr, fused=True), torch.optim.SparseAdam(heads, lr=args.lr)]
    else:
        opts = [torch.optim.Adam(model.parameters(), lr=args.lr, fused=True)]
    params = list(model.parameters())
    sampler = LogUniformSampler(V, gen)
    log = open(args.log, "w") if args.log else None
    epochs = []
    for ep in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, predictions, tokens, steps = 0.0, 0, 0, 0
        for idx in heed_batches(train, args.batch, rng):
            ids, lengths = pad(train, idx)
            loss, n = model.sampled_loss(ids, lengths, sampler, args.samples)
            for o in opts:
                o.zero_grad(set_to_none=True)
            loss.backward()
            clip_(params, args.clip)
            for o in opts:
                o.step()
            loss_sum += float(loss.detach()) * n
            predictions += n
            tokens += int(lengths.sum())
            steps += 1
        secs = time.perf_counter() - t0
        rec = {"epoch": ep, "train_loss": loss_sum / max(predictions, 1), "tokens": tokens,
               "predictions": predictions, "steps": steps, "seconds": secs, "tokens_per_s": tokens / secs}
        if not args.no_eval:
            model.eval()
            e0 = time.perf_counter()
            nll, count = 0.0, 0
            for idx in heed_batches(held_out, args.batch, None):
                ids, lengths = pad(held_out, idx)
                a, b = model.full_nll(ids, lengths)
                nll, count = nll + a, count + b
            rec["held_out_perplexity"] = math.exp(nll / max(count, 1))
            rec["evaluation_seconds"] = time.perf_counter() - e0
        epochs.append(rec)
        print(json.dumps(rec), flush=True)
        if log:
            log.write(json.dumps(rec) + "\n")
            log.flush()
    summary = {
        "summary": True, "vocab_size": V, "embed": E, "hidden": H, "samples": args.samples, "batch": args.batch,
        "variant": args.variant, "adam": args.adam, "threads": args.threads, "epochs": args.epochs,
        "train_chunks": len(train), "tokens": sum(e["tokens"] for e in epochs),
        "seconds": sum(e["seconds"] for e in epochs),
        "torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
    }
    summary["tokens_per_s"] = summary["tokens"] / summary["seconds"]
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
