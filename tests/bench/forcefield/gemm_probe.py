#!/usr/bin/env python3
"""FP32 matrix-product rates on this GPU for the shapes PONITA's inference runs (issue 8).

The rate these products can reach, the hardware side of PONITA's inference time: session 22 found them at 41-46
TFLOP/s here, on the H200 whose FP32 datasheet rate is ~67, and the same kernels at the same speed inside
atomscope-cli (session 21's "12 TFLOP/s" had divided a chunk of 838,860 rows by the FLOPs of 209,700). Each
figure: the median of 20 event-timed products after 5 warm-ups, in TFLOP/s; 'lt' the same product with cuBLASLt
preferred, 'tf32' with TF32 allowed.
Usage: python3 gemm_probe.py [rows]   (rows of the products, 209700 by default; a GPU chunk holds up to 838,860)
"""
import sys

import torch


def rate(m, k, n, lt=False, tf32=False, transposed=False):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    if lt:
        torch.backends.cuda.preferred_blas_library("cublaslt")
    try:
        a = torch.randn(m, k, device="cuda")
        b = torch.randn(n, k, device="cuda").t() if transposed else torch.randn(k, n, device="cuda")
        for _ in range(5):
            torch.mm(a, b)
        times = []
        for _ in range(20):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            torch.mm(a, b)
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
        times.sort()
        return 2.0 * m * k * n / (times[len(times) // 2] * 1e-3) / 1e12
    finally:
        torch.backends.cuda.preferred_blas_library("cublas")
        torch.backends.cuda.matmul.allow_tf32 = False


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 209700
    shapes = [
        ("square 8192^3", 8192, 8192, 8192),
        ("pass 2: G . stacked", rows, 640, 256),
        ("set-up: basis . stacked^T", rows, 256, 640),
        ("basis MLP 2nd layer", rows, 256, 256),
        ("reference: basis -> one layer's kernel", rows, 256, 128),
    ]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    print("| product [m x k] x [k x n] | FP32 | FP32, weight transposed | FP32 cuBLASLt | TF32 |")
    print("|---|---|---|---|---|")
    for name, m, k, n in shapes:
        cells = []
        for kw in ({}, {"transposed": True}, {"lt": True}, {"tf32": True}):
            try:
                cells.append(f"{rate(m, k, n, **kw):.1f}")
            except Exception as exc:  # a refused option is a cell, not the end of the probe
                cells.append(f"error: {str(exc)[:40]}")
        print(f"| {name} [{m} x {k}] x [{k} x {n}] | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
