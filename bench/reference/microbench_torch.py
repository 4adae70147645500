#!/usr/bin/env python3
"""PyTorch counterpart of Tests/HeedNNTests/MicroBench.swift (same shapes and length distribution).
Usage: T=<threads> python3 bench/reference/microbench_torch.py [last|linear|additive|biadditive]"""
import os, sys, time, torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heed_torch import HeedClassifier
torch.set_num_threads(int(os.environ.get("T", "2")))
variant = sys.argv[1] if len(sys.argv) > 1 else "additive"
cfg = dict(vocabSize=20000, embedDim=100, hiddenDim=128, bidirectional=variant=="biadditive",
           pooling="last" if variant=="last" else "attention", scorer="linear" if variant=="linear" else "additive",
           attentionDim=None, classes=2, dropout=0.0)
torch.manual_seed(0)
m = HeedClassifier(cfg); opt = torch.optim.Adam(m.parameters())
B, T = 64, 50
batches = []
for _ in range(8):
    L = torch.randint(5, T+1, (B,)); ids = torch.zeros(B, T, dtype=torch.long)
    for b in range(B): ids[b,:L[b]] = torch.randint(1, 20000, (int(L[b]),))
    batches.append((ids, L, torch.randint(0, 2, (B,))))
crit = torch.nn.CrossEntropyLoss()
def step(i):
    ids, L, y = batches[i % 8]
    opt.zero_grad(); out, _ = m(ids, L); crit(out, y).backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 5); opt.step()
for i in range(3): step(i)
n = 30; t0 = time.time(); c0 = time.process_time()
for i in range(n): step(i)
dt = time.time() - t0; cpu = time.process_time() - c0; tok = sum(int(batches[i % 8][1].sum()) for i in range(n))
print(f"torch {variant} train: {tok/dt:.0f} tokens/s, {dt/n*1000:.1f} ms/batch, CPU {cpu/n*1000:.1f} ms/batch")
m.eval(); ids = torch.arange(1, 21).unsqueeze(0); L = torch.tensor([20])
with torch.no_grad():
    for _ in range(20): m(ids, L)
    t0 = time.time(); c0 = time.process_time()
    for _ in range(200): m(ids, L)
print(f"torch {variant} batch-1 inference: {(time.time()-t0)/200*1e6:.0f} µs, CPU {(time.process_time()-c0)/200*1e6:.0f} µs")
