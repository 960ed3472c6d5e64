#!/usr/bin/env python3
"""PyTorch reference for sae.train's threshold SAE (issue 5, experiment 6c): the same model and step,
written the way a PyTorch user would, timed on the same activation folder in the same GPU visit.

Mirrors modules/sae/src/train.cpp: whitening by (E[x x^T])^-1/2, W_enc [d, n], W_dec [n, d] with unit
rows, b_enc, b_dec, log-thresholds; JumpReLU and its step function with the rectangle-kernel
straight-through estimator; loss = mean ||x_t - x_hat_t||^2 + lambda * mean L0; lambda = 1e-4 sinh(u)
with u driven towards the target L0 on the device; Adam (betas 0.9/0.999, eps 1e-8; thresholds at 10x
the learning rate); tangent projection of the decoder gradient and row renormalisation after each step.
Batches are random rows gathered on the host from the folder's shards and copied to the GPU each step,
as sae.train does. Resampling of dead latents is left out (it runs every 250 steps in sae.train).

  python3 sae_reference.py ACTIVATIONS_FOLDER SITE [--steps 2000] [--batch 4096] [--expansion 4]
Prints one JSON line: {"samples_per_s", "steps", "batch", "latents", "d", "l0", "r2"}.
"""
import argparse
import json
import os
import time

import numpy as np
import torch


def load_site(folder, site):
    m = json.load(open(os.path.join(folder, "manifest.json")))
    d = m["d"]
    dtype = {"float32": np.float32, "bfloat16": np.uint16}[m["dtype"]]
    parts = []
    for shard in m["shards"]:
        raw = np.fromfile(os.path.join(folder, shard["acts"][site]), dtype=dtype).reshape(-1, d)
        if m["dtype"] == "bfloat16":  # widen bf16 bit patterns to float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        parts.append(raw)
    return np.concatenate(parts, 0), d


class JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        rect = ((pre - theta).abs() < 0.5 * ctx.eps).to(g.dtype)
        return g * (pre > theta).to(g.dtype), (-(theta / ctx.eps) * rect * g).sum(0), None


class Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta, eps):
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):
        pre, theta = ctx.saved_tensors
        rect = ((pre - theta).abs() < 0.5 * ctx.eps).to(g.dtype)
        return torch.zeros_like(pre), (-(1.0 / ctx.eps) * rect * g).sum(0), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("site")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--expansion", type=int, default=4)
    ap.add_argument("--target-l0", type=float, default=8.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--bandwidth", type=float, default=0.05)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    x_all, d = load_site(a.folder, a.site)
    rows = x_all.shape[0]
    n = a.expansion * d
    torch.manual_seed(1)
    rng = np.random.default_rng(1)

    sample = torch.from_numpy(x_all[: min(rows, 262144)]).double()
    mean = sample.mean(0)
    second = sample.T @ sample / sample.shape[0]
    evals, evecs = torch.linalg.eigh(second)
    evals = evals.clamp_min(evals.max() * 1e-10)
    A = (evecs @ torch.diag(evals.rsqrt()) @ evecs.T).float().to(dev)
    total_var = float(((sample - mean) ** 2).sum(1).mean())

    W_dec = torch.randn(n, d, device=dev)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    W_enc = W_dec.T.clone()
    b_enc = torch.zeros(n, device=dev)
    b_dec = (mean.float().to(dev) @ A).clone()
    first = torch.from_numpy(x_all[rng.integers(0, rows, a.batch)]).to(dev)
    with torch.no_grad():
        pre = (first @ A - b_dec) @ W_enc + b_enc
        p = min(0.5, a.target_l0 / n)
        q = pre.sort(0).values[min(pre.shape[0] - 1, int((1 - p) * pre.shape[0]))]
        log_theta = q.clamp_min(1e-3).log()
    params = [W_enc, b_enc, W_dec, b_dec, log_theta]
    for t in params:
        t.requires_grad_(True)
    opt = torch.optim.Adam([{"params": params[:4]}, {"params": [log_theta], "lr": 10 * a.lr}], lr=a.lr)
    lam_u = torch.full((), float(np.arcsinh(0.1 / 1e-4)), device=dev)

    def step(x, lr):
        for gr, scale in zip(opt.param_groups, (1.0, 10.0)):
            gr["lr"] = lr * scale
        xt = x @ A
        pre = (xt - b_dec) @ W_enc + b_enc
        theta = log_theta.exp()
        z = JumpReLU.apply(pre, theta, a.bandwidth)
        fired = Step.apply(pre, theta, a.bandwidth).sum(-1)
        xhat = z @ W_dec + b_dec
        mse = (xhat - xt).pow(2).sum(-1).mean()
        lam = 1e-4 * torch.sinh(lam_u)
        loss = mse + lam * fired.mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        with torch.no_grad():
            g = W_dec.grad
            g.sub_((g * W_dec).sum(1, keepdim=True) * W_dec)
        opt.step()
        with torch.no_grad():
            W_dec.div_(W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
            l0 = fired.detach().mean()
            lam_u.add_(((l0 + 1e-3) / a.target_l0).log().clamp(-1, 1) * 0.02).clamp_(-30, 30)
        return l0

    def batch(i):
        idx = np.random.default_rng((1, i)).integers(0, rows, a.batch)
        return torch.from_numpy(x_all[idx]).to(dev)

    for i in range(20):  # warm-up (allocator, kernels)
        step(batch(i), a.lr)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(a.steps):
        frac = i / a.steps
        l0 = step(batch(100 + i), a.lr if frac < 0.8 else a.lr * (1 - frac) / 0.2)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    with torch.no_grad():
        x = batch(10**6)
        z = JumpReLU.apply((x @ A - b_dec) @ W_enc + b_enc, log_theta.exp(), a.bandwidth)
        xhat = ((z @ W_dec + b_dec) @ torch.linalg.inv(A))
        r2 = 1 - float((xhat - x).pow(2).sum(-1).mean()) / total_var
    print(json.dumps({"samples_per_s": a.steps * a.batch / secs, "steps": a.steps, "batch": a.batch, "latents": n,
                      "d": d, "l0": float(l0), "r2": r2}))


if __name__ == "__main__":
    main()
