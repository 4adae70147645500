#!/usr/bin/env python3
"""Which per-row scale for 4-bit tables: `heed quantize --bits 4`'s s = max|row| / 7 (nothing clipped,
every element within s/2) against the scale that minimises the row's squared error (a grid of
s = a * max|row| / 7, a in 0.50 ... 1.00, clipping the largest elements to +-7).

    bench/int4_scale.py MODEL.heed TEST.tsv [MODEL.heed TEST.tsv ...] [--heed PATH] [--work DIR]

For each float model (a `heed train` file) this writes both 4-bit versions of its embedding and subword
tables itself, in the layout docs/model-format.md describes (an independent writer: PyTorch, not Heed's
code), and reports the tables' relative RMS reconstruction error and `heed evaluate MODEL TEST --json`'s
accuracy for each, beside the float model's. Needs torch and safetensors (bench/.venv).
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = ("embedding.weight", "subwords.weight")


def quantize(x, scale):
    """q = round(x / s) clamped to -7..7 per row (s = 0 rows stay 0), as int8 [R, K]."""
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))[:, None]
    q = torch.clamp(torch.round(x / safe), -7, 7)
    return torch.where(scale[:, None] > 0, q, torch.zeros_like(q)).to(torch.int8)


def max_scale(x):
    return x.abs().amax(dim=1) / 7


def mse_scale(x, grid=26, chunk=8192):
    """Per row, the scale on the grid with the least squared error."""
    base = max_scale(x)
    best = base.clone()
    for start in range(0, x.shape[0], chunk):
        rows, s0 = x[start:start + chunk], base[start:start + chunk]
        best_err = torch.full_like(s0, float("inf"))
        for i in range(grid):
            s = s0 * (0.5 + 0.5 * i / (grid - 1))
            err = ((quantize(rows, s).to(torch.float32) * s[:, None] - rows) ** 2).sum(dim=1)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best[start:start + chunk] = torch.where(better, s, best[start:start + chunk])
    return best


def pack(q):
    """[R, K] int8 in -7..7 -> [R, ceil(K/2)] uint8: element 2j in byte j's low nibble, 2j+1 in its high."""
    if q.shape[1] % 2:
        q = torch.cat([q, torch.zeros(q.shape[0], 1, dtype=q.dtype)], dim=1)
    n = q.to(torch.int16) & 0x0F
    return (n[:, 0::2] | (n[:, 1::2] << 4)).to(torch.uint8)


def write_int4(model, out, choose):
    with safe_open(model, "pt") as f:
        meta = f.metadata()
    tensors = load_file(model)
    errors = {}
    for name in TABLES:
        if name not in tensors:
            continue
        x = tensors.pop(name)
        s = choose(x)
        q = quantize(x, s)
        errors[name] = float(((q.to(torch.float32) * s[:, None] - x).norm() / x.norm()))
        tensors[name], tensors[name + ".scale"] = pack(q), s.contiguous()
    meta["heed.quantization"] = json.dumps({"scheme": "int4-symmetric-per-row", "tensors": [n for n in TABLES if n in errors]})
    save_file(tensors, out, metadata=meta)
    return errors


def accuracy(heed, model, test):
    out = subprocess.run([heed, "evaluate", model, test, "--json"], check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)["accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", nargs="+", help="MODEL TEST pairs")
    ap.add_argument("--heed", default=os.path.join(ROOT, ".build", "release", "heed"))
    ap.add_argument("--work", default="/tmp/heed-int4-scale")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("give MODEL TEST pairs")
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for model, test in zip(args.pairs[0::2], args.pairs[1::2]):
        base = os.path.join(args.work, os.path.splitext(os.path.basename(model))[0])
        row = {"model": model, "float": accuracy(args.heed, model, test)}
        for kind, choose in (("max", max_scale), ("mse", mse_scale)):
            path = f"{base}-int4-{kind}.heed"
            errors = write_int4(model, path, choose)
            row[kind] = {"accuracy": accuracy(args.heed, path, test), "relative_rms_error": errors}
        rows.append(row)
        print(json.dumps(row), flush=True)
    json.dump(rows, sys.stderr, indent=1)


if __name__ == "__main__":
    main()
