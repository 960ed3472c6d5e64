#!/usr/bin/env python3
"""PyTorch reference of Atomscope's ADiT networks for the training-throughput benchmark.

The same architecture as modules/adit (model.cpp) written in plain PyTorch (torch only): one token per
atom (embedding(Z) + MLP(position) + MLP(fractional) + sinusoidal index), a VAE of pre-LN Transformer
blocks with an 8-number Gaussian latent per atom and atom-type / position / fractional / lattice heads,
and a latent DiT with adaLN-Zero blocks, self-conditioning on half of the steps, classifier-free label
dropout and atom-count conditioning, trained by flow matching (x_t = (1 - t) x0 + t x1, loss weighted by
1 / (1 - min(t, 0.9))^2). The training step matches Atomscope's: bf16 autocast on CUDA, AdamW (fused on
CUDA), gradient 2-norm clipping at 1, EMA of the weights, and the loss read back every --log-every steps.

Data: the shards of an adit.prepare folder (safetensors) when --data is given and the safetensors package
is present, padded to the largest record and kept on the device as Atomscope does; otherwise random QM9-
like records. The DiT trains on random latents with the data's masks (values do not change the cost).

  adit_reference.py --model vae|dit --size S --steps 300 --batch 256 [--data DIR] [--device cuda]
Prints one JSON line: model, size, steps, batch, atoms, steps_per_s, final_loss, device.
"""
import argparse
import glob
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MAX_Z = 118
VAE_SIZES = {"tiny": (64, 4, 2, 2), "small": (128, 4, 4, 4), "S": (256, 8, 6, 6), "B": (512, 8, 8, 8), "L": (768, 12, 12, 12)}
DIT_SIZES = {"tiny": (64, 4, 2), "small": (256, 4, 8), "S": (384, 6, 12), "B": (768, 12, 12), "L": (1024, 16, 24)}


def sinusoidal(x, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float().unsqueeze(-1) * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


def mlp(i, w):
    return nn.Sequential(nn.Linear(i, w), nn.SiLU(), nn.Linear(w, w))


class Block(nn.Module):
    def __init__(self, w, heads, affine=True):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(w, elementwise_affine=affine)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=affine)
        self.qkv = nn.Linear(w, 3 * w)
        self.proj = nn.Linear(w, w)
        self.fc1 = nn.Linear(w, 4 * w)
        self.fc2 = nn.Linear(4 * w, w)

    def attention(self, x, mask):
        B, N, W = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.view(B, 1, 1, N))
        return self.proj(y.transpose(1, 2).reshape(B, N, W))

    def forward(self, x, mask):
        h = x + self.attention(self.norm1(x), mask)
        return h + self.fc2(F.gelu(self.fc1(self.norm2(h))))


class Vae(nn.Module):
    def __init__(self, w, heads, enc, dec, latent=8):
        super().__init__()
        self.w, self.latent = w, latent
        self.atom = nn.Embedding(MAX_Z + 1, w)
        self.pos_mlp, self.frac_mlp = mlp(3, w), mlp(3, w)
        self.encoder = nn.ModuleList([Block(w, heads) for _ in range(enc)])
        self.decoder = nn.ModuleList([Block(w, heads) for _ in range(dec)])
        self.enc_norm, self.dec_norm = nn.LayerNorm(w), nn.LayerNorm(w)
        self.to_latent = nn.Linear(w, 2 * latent)
        self.from_latent = nn.Linear(latent, w)
        self.atom_head = nn.Linear(w, MAX_Z + 1)
        self.pos_head, self.frac_head, self.lattice_head = nn.Linear(w, 3), nn.Linear(w, 3), nn.Linear(w, 6)

    def index(self, N, device):
        return sinusoidal(torch.arange(N, device=device), self.w).unsqueeze(0)

    def forward(self, b):
        numbers, pos, frac, mask = b["numbers"], b["positions"], b["fractional"], b["mask"]
        x = self.atom(numbers) + self.pos_mlp(pos) + self.frac_mlp(frac) + self.index(numbers.shape[1], numbers.device)
        for blk in self.encoder:
            x = blk(x, mask)
        stats = self.to_latent(self.enc_norm(x))
        m = mask.unsqueeze(-1).to(stats.dtype)
        mean = stats[..., : self.latent] * m
        logvar = stats[..., self.latent:].clamp(-30, 20) * m
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) * m
        x = self.from_latent(z) + self.index(numbers.shape[1], numbers.device)
        for blk in self.decoder:
            x = blk(x, mask)
        x = self.dec_norm(x)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp_min(1)
        return self.atom_head(x), self.pos_head(x) * m, self.frac_head(x) * m, self.lattice_head(pooled), mean, logvar


def vae_loss(out, b, kl_weight=1e-5):
    logits, pos, frac, lat, mean, logvar = out
    m = b["mask"].float()
    atoms = m.sum().clamp_min(1)
    ce = F.cross_entropy(logits.float().reshape(-1, MAX_Z + 1), b["numbers"].reshape(-1), reduction="none")
    l_atoms = (ce * m.reshape(-1)).sum() / atoms
    l_pos = ((pos.float() - b["positions"]).pow(2).sum(-1) * m).sum() / (3 * atoms)
    crystal = (b["kind"] == 1).float()
    cm = m * crystal.unsqueeze(1)
    l_frac = ((frac.float() - b["fractional"]).pow(2).sum(-1) * cm).sum() / (3 * cm.sum().clamp_min(1))
    l_lat = ((lat.float() - b["lattice"]).pow(2).sum(-1) * crystal).sum() / (6 * crystal.sum().clamp_min(1))
    mean, logvar = mean.float(), logvar.float()
    kl = (-0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1) * m).sum() / atoms
    return l_atoms + l_pos + l_frac + l_lat + kl_weight * kl


class AdaLnBlock(nn.Module):
    def __init__(self, w, heads):
        super().__init__()
        self.inner = Block(w, heads, affine=False)
        self.modulation = nn.Linear(w, 6 * w)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x, c, mask):
        mod = self.modulation(F.silu(c)).unsqueeze(1).chunk(6, -1)
        h = self.inner.norm1(x) * (1 + mod[1]) + mod[0]
        y = x + mod[2] * self.inner.attention(h, mask)
        h2 = self.inner.norm2(y) * (1 + mod[4]) + mod[3]
        return y + mod[5] * self.inner.fc2(F.gelu(self.inner.fc1(h2)))


class Dit(nn.Module):
    def __init__(self, w, heads, layers, latent=8, class_dropout=0.1):
        super().__init__()
        self.w, self.class_dropout = w, class_dropout
        self.input_proj = nn.Linear(2 * latent, w)
        self.time_mlp = mlp(w, w)
        self.kind_embed = nn.Embedding(3, w)
        self.group_embed = nn.Embedding(231, w)
        self.natoms_proj = nn.Linear(w, w)
        self.blocks = nn.ModuleList([AdaLnBlock(w, heads) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(w, elementwise_affine=False)
        self.final_modulation = nn.Linear(w, 2 * w)
        self.out = nn.Linear(w, latent)
        for m in (self.final_modulation, self.out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, xt, t, kind, group, natoms, mask, sc):
        N = xt.shape[1]
        x = self.input_proj(torch.cat([xt, sc], -1)) + sinusoidal(torch.arange(N, device=xt.device), self.w).unsqueeze(0)
        c = self.time_mlp(sinusoidal(t * 1000.0, self.w)) + self.kind_embed(kind + 1) + \
            self.natoms_proj(sinusoidal(natoms, self.w)) + self.group_embed(group.clamp(0, 230))
        for blk in self.blocks:
            x = blk(x, c, mask)
        mod = self.final_modulation(F.silu(c)).unsqueeze(1).chunk(2, -1)
        x = self.final_norm(x) * (1 + mod[1]) + mod[0]
        return self.out(x) * mask.unsqueeze(-1).to(x.dtype)


def dit_loss(model, x1, kind, group, natoms, mask, self_cond):
    B = x1.shape[0]
    m = mask.unsqueeze(-1).float()
    t = torch.rand(B, device=x1.device) * 0.98 + 0.01
    n = torch.randn_like(x1) * m
    x0 = (n - n.sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)) * m
    tt = t.view(B, 1, 1)
    xt = ((1 - tt) * x0 + tt * x1) * m
    kind = torch.where(torch.rand(B, device=x1.device) < model.class_dropout, torch.full_like(kind, -1), kind)
    group = torch.where(torch.rand(B, device=x1.device) < model.class_dropout, torch.zeros_like(group), group)
    sc = torch.zeros_like(x1)
    if self_cond:
        with torch.no_grad():
            sc = model(xt, t, kind, group, natoms, mask, sc).detach().float()
    pred = model(xt, t, kind, group, natoms, mask, sc)
    err = ((pred.float() - x1).pow(2) * m).sum((1, 2)) / (m.sum((1, 2)).clamp_min(1) * x1.shape[-1])
    return (err / (1 - t.clamp_max(0.9)).pow(2)).mean()


def load_records(data, device, fallback_n=4096, seed=0):
    """Padded records on the device: numbers, positions, fractional, mask, lattice (normalised), kind, group, natoms."""
    files = sorted(glob.glob(os.path.join(data, "shard_*.safetensors"))) if data else []
    try:
        from safetensors.torch import load_file
    except ImportError:
        files = []
    if files:
        parts = [load_file(f) for f in files]
        numbers = torch.cat([p["numbers"] for p in parts])
        positions = torch.cat([p["positions"] for p in parts])
        fractional = torch.cat([p["fractional"] for p in parts])
        lattice = torch.cat([p["lattice"] for p in parts])
        kind = torch.cat([p["kind"] for p in parts])
        group = torch.cat([p["space_group"] for p in parts])
        counts = torch.cat([p["offsets"][1:] - p["offsets"][:-1] for p in parts])
    else:  # QM9-like: 9 to 29 atoms, H C N O
        g = torch.Generator().manual_seed(seed)
        counts = torch.randint(9, 30, (fallback_n,), generator=g)
        A = int(counts.sum())
        numbers = torch.tensor([1, 6, 7, 8])[torch.randint(0, 4, (A,), generator=g)]
        positions = torch.randn(A, 3, generator=g) * 2
        fractional = torch.zeros(A, 3)
        lattice = torch.zeros(len(counts), 6)
        kind = torch.zeros(len(counts), dtype=torch.int64)
        group = torch.zeros(len(counts), dtype=torch.int64)
    n, N = len(counts), int(counts.max())
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    record = torch.repeat_interleave(torch.arange(n), counts)
    slot = torch.arange(len(numbers)) - offsets[record]

    def pad(rows):
        out = torch.zeros((n, N) + tuple(rows.shape[1:]), dtype=rows.dtype)
        out[record, slot] = rows
        return out.to(device)

    scale = counts.float().clamp_min(1).pow(1 / 3).unsqueeze(1)
    lat = torch.cat([lattice[:, :3] / scale, lattice[:, 3:] * (math.pi / 180)], 1)
    return {"numbers": pad(numbers.long()), "positions": pad(positions.float()), "fractional": pad(fractional.float()),
            "mask": (torch.arange(N).unsqueeze(0) < counts.unsqueeze(1)).to(device), "lattice": lat.to(device),
            "kind": kind.long().to(device), "group": group.long().to(device), "natoms": counts.long().to(device)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["vae", "dit"], default="dit")
    ap.add_argument("--size", default="S")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--data", default="")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    device = torch.device(a.device)
    torch.manual_seed(a.seed)
    data = load_records(a.data, device)
    n = data["kind"].shape[0]
    if a.model == "vae":
        model = Vae(*VAE_SIZES[a.size]).to(device)
    else:
        model = Dit(*DIT_SIZES[a.size]).to(device)
        latents = torch.randn(data["mask"].shape + (8,), device=device) * data["mask"].unsqueeze(-1)
    cuda = device.type == "cuda"
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0, fused=cuda)
    ema = [p.detach().clone() for p in params]
    decay = 0.999
    loss_sum = torch.zeros((), device=device)
    window, final = 0, float("nan")
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for step in range(1, a.steps + 1):
        opt.zero_grad(set_to_none=True)
        idx = torch.randint(0, n, (a.batch,), device=device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
            if a.model == "vae":
                b = {k: v[idx] for k, v in data.items()}
                loss = vae_loss(model(b), b)
            else:
                loss = dit_loss(model, latents[idx], data["kind"][idx], data["group"][idx], data["natoms"][idx],
                                data["mask"][idx], self_cond=(step % 2 == 0))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, decay)
            torch._foreach_add_(ema, params, alpha=1 - decay)
            loss_sum += loss.detach().float()
        window += 1
        if step % a.log_every == 0 or step == a.steps:
            final = loss_sum.item() / window
            loss_sum.zero_()
            window = 0
    if cuda:
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "model": a.model, "size": a.size, "steps": a.steps, "batch": a.batch,
                      "atoms": int(data["mask"].shape[1]), "steps_per_s": a.steps / secs, "final_loss": final,
                      "device": str(device), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
