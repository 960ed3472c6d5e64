#!/usr/bin/env python3
"""Inference speed of the reference PONITA (ebekkers/ponita, PyTorch + PyTorch Geometric) on the same
boxes of 3BPA molecules that ponita_3bpa_gpu.sh times with atomscope-cli ff.md.

The reference is not part of this repository: fetch ebekkers/ponita yourself and point PONITA_SRC (or
--ponita-src) at its checkout. This script is ours: it builds the reference's rMD17 model (20
orientations, hidden 128, basis 256, degree 3, 5 layers, widening 4, one-hot elements), untrained
(speed does not depend on the weights), and times energy + forces by autograd, rebuilding the radius
graph every step as molecular dynamics must.

Three gaps of the GPU machine are bridged here rather than in the reference: torch_scatter (only its
scatter_mean is imported) is replaced by torch.Tensor.scatter_reduce when it is missing, and the radius
graph is built by chunked torch.cdist instead of torch_cluster, then handed to the reference with
radius=None so that the model adds the self-loops itself, as its MD17 pipeline does; and the reference's
graph transforms get the forward method that newer PyTorch Geometric requires (adapt_transforms_to_new_pyg).

Prints one JSON line per size: {"atoms": N, "atom_steps_per_s": ..., "ms_per_step": ..., "peak_gib": ...}
or {"atoms": N, "error": "..."} (for example out of memory).
"""
import argparse
import json
import os
import sys
import time
import types


def install_scatter_shim(torch):
    try:
        import torch_scatter  # noqa: F401
        return False
    except ImportError:
        pass
    mod = types.ModuleType("torch_scatter")

    def scatter_mean(src, index, dim=0, dim_size=None):
        if dim < 0:
            dim += src.dim()
        size = list(src.shape)
        size[dim] = int(index.max()) + 1 if dim_size is None else dim_size
        idx = index.view([-1 if d == dim else 1 for d in range(src.dim())]).expand_as(src)
        out = torch.zeros(size, dtype=src.dtype, device=src.device)
        return out.scatter_reduce(dim, idx, src, reduce="mean", include_self=False)

    mod.scatter_mean = scatter_mean
    sys.modules["torch_scatter"] = mod
    return True


def adapt_transforms_to_new_pyg():
    """PyTorch Geometric 2.3+ makes BaseTransform.forward abstract; the reference's transforms define
    __call__ only. Give them a forward that calls it, so they can be built (no change in what they do)."""
    import importlib
    for name in ("position_orientation_graph", "invariants", "random_rotate"):
        try:
            mod = importlib.import_module("ponita.transforms." + name)
        except ImportError:
            continue
        for cls in vars(mod).values():
            if isinstance(cls, type) and "forward" in getattr(cls, "__abstractmethods__", ()):
                cls.forward = lambda self, data: type(self).__call__(self, data)
                cls.__abstractmethods__ = frozenset(m for m in cls.__abstractmethods__ if m != "forward")


def read_xyz(path):
    lines = open(path).read().splitlines()
    n = int(lines[0])
    symbols, xyz = [], []
    for line in lines[2:2 + n]:
        parts = line.split()
        symbols.append(parts[0])
        xyz.append([float(v) for v in parts[1:4]])
    return symbols, xyz


def radius_edges(torch, pos, cutoff, chunk=4096):
    """All pairs i != j within cutoff, as edge_index [2, E] (source, target)."""
    rows, cols = [], []
    for start in range(0, pos.shape[0], chunk):
        d = torch.cdist(pos[start:start + chunk], pos)
        i, j = torch.nonzero(d < cutoff, as_tuple=True)
        i = i + start
        keep = i != j
        rows.append(j[keep])
        cols.append(i[keep])
    return torch.stack([torch.cat(rows), torch.cat(cols)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ponita-src", default=os.environ.get("PONITA_SRC", ""))
    ap.add_argument("--boxes", nargs="+", required=True, help="xyz files (boxes of molecules)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cutoff", type=float, default=5.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tf32", action="store_true", help="matrix products in TF32 (PyTorch's default is FP32)")
    ap.add_argument("--profile", action="store_true",
                    help="also run 3 steps under torch.profiler and print its CUDA-time table to stderr")
    args = ap.parse_args()
    if not args.ponita_src:
        sys.exit("set PONITA_SRC or --ponita-src to a checkout of ebekkers/ponita")
    sys.path.insert(0, args.ponita_src)
    import torch
    shim = install_scatter_shim(torch)
    from torch_geometric.data import Data
    adapt_transforms_to_new_pyg()
    from ponita.models.ponita import Ponita

    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    elements = ["H", "C", "N", "O"]  # 3BPA
    torch.manual_seed(0)
    model = Ponita(len(elements), 128, 1, 5, output_dim_vec=0, radius=None, num_ori=20, basis_dim=256, degree=3,
                   widening_factor=4, layer_scale=0, task_level="graph", multiple_readouts=True,
                   lift_graph=True).to(dev)
    for box in args.boxes:
        symbols, xyz = read_xyz(box)
        n = len(symbols)
        x = torch.nn.functional.one_hot(torch.tensor([elements.index(s) for s in symbols]), len(elements)).float().to(dev)
        pos0 = torch.tensor(xyz, dtype=torch.float32, device=dev)
        batch = torch.zeros(n, dtype=torch.long, device=dev)
        try:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats()

            def step():
                pos = pos0.clone().requires_grad_(True)
                edge_index = radius_edges(torch, pos.detach(), args.cutoff)
                graph = Data(x=x, pos=pos, edge_index=edge_index, batch=batch)
                energy, _ = model(graph)
                forces = -torch.autograd.grad(energy.sum(), pos)[0]
                return forces

            model(Data(x=x, pos=pos0, edge_index=radius_edges(torch, pos0, args.cutoff), batch=batch))  # lazy layers
            for _ in range(2):
                step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                f = step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
            if args.profile:
                from torch.profiler import profile, ProfilerActivity
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    for _ in range(3):
                        step()
                    torch.cuda.synchronize()
                print(f"profile of 3 steps at {n} atoms", file=sys.stderr)
                print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=30), file=sys.stderr)
            print(json.dumps({"atoms": n, "atom_steps_per_s": n * args.steps / dt, "ms_per_step": 1000 * dt / args.steps,
                              "peak_gib": peak, "finite": bool(torch.isfinite(f).all()), "scatter_shim": shim, "tf32": args.tf32}),
                  flush=True)
        except RuntimeError as e:  # out of memory, mostly
            print(json.dumps({"atoms": n, "error": str(e).splitlines()[0][:200]}), flush=True)
            if dev.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
