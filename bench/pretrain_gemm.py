"""Single-thread SGEMM GFLOP/s at the shapes of a `heed pretrain` step (bench/pretrain_speed.py, §0f):
the system OpenBLAS that heed links (libopenblas.so.0, its kernel as it autodetects it; OPENBLAS_CORETYPE
is left as found) against torch.mm (PyTorch's MKL), C = A·Bᵀ as Heed calls it, best of 3.

  taskset -c 0 bench/.venv/bin/python bench/pretrain_gemm.py

Prints one JSON object: the OpenBLAS kernel and GFLOP/s per shape for both.
"""
import argparse
import ctypes
import json
import time

argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
try:
    import torch
except ImportError:
    raise SystemExit("pretrain_gemm.py: error: PyTorch is not importable; run through bench/.venv/bin/python")

torch.set_num_threads(1)
try:
    lib = ctypes.CDLL("libopenblas.so.0")
except OSError as ex:
    raise SystemExit("pretrain_gemm.py: error: cannot load the system OpenBLAS (libopenblas.so.0): %s" % ex)
lib.openblas_set_num_threads(1)
lib.openblas_get_corename.restype = ctypes.c_char_p
RowMajor, NoTrans, Trans = 101, 111, 112
P = ctypes.POINTER(ctypes.c_float)


def blas(m, n, k, reps):
    a, b, c = torch.randn(m, k), torch.randn(n, k), torch.zeros(m, n)
    pa, pb, pc = (ctypes.cast(t.data_ptr(), P) for t in (a, b, c))
    f = lib.cblas_sgemm
    f(RowMajor, NoTrans, Trans, m, n, k, ctypes.c_float(1), pa, k, pb, k, ctypes.c_float(0), pc, n)
    t0 = time.perf_counter()
    for _ in range(reps):
        f(RowMajor, NoTrans, Trans, m, n, k, ctypes.c_float(1), pa, k, pb, k, ctypes.c_float(0), pc, n)
    return 2 * m * n * k * reps / (time.perf_counter() - t0) / 1e9


def mm(m, n, k, reps):
    a, b = torch.randn(m, k), torch.randn(n, k)
    out = torch.empty(m, n)
    torch.mm(a, b.t(), out=out)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b.t(), out=out)
    return 2 * m * n * k * reps / (time.perf_counter() - t0) / 1e9


shapes = {  # (m, n, k): rows x outputs x inputs
    "LSTM recurrent step, batch 32 (h·W_hhᵀ)": (32, 512, 128),
    "LSTM input projection, ~600 tokens (x·W_ihᵀ)": (600, 512, 100),
    "sampled softmax, ~570 rows x K 512 (x·W_cᵀ)": (570, 512, 128),
    "square 1024": (1024, 1024, 1024),
}
out = {"openblas_kernel": lib.openblas_get_corename().decode(), "torch": torch.__version__, "gflops": {}}
for name, (m, n, k) in shapes.items():
    reps = max(3, int(2e9 / (2 * m * n * k)))
    best_b = max(blas(m, n, k, reps) for _ in range(3))
    best_t = max(mm(m, n, k, reps) for _ in range(3))
    out["gflops"][name] = {"openblas": round(best_b, 1), "torch_mm": round(best_t, 1), "torch/openblas": round(best_t / best_b, 2)}
print(json.dumps(out, indent=1, ensure_ascii=False))
