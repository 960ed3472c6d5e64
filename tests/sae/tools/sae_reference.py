#!/usr/bin/python3
"""Independent numpy references for the sae tests (Debian's /usr/bin/python3 + numpy, no torch).

  sae_reference.py geometry DIR   reads D.npy [n, d], X.npy [N, d], active.npy [N, n] (bool) and writes
      ref.json: C = E[x x^T], S = C^-1, W = C^-1/2 (symmetric), the cosine Gram matrices of D's rows under
      S (the atomic inner product <u,v>_S = u^T S v / (|u|_S |v|_S)) and Euclidean, their coherences
      mu = max_{i != j} |G_ij|, and per row of `active`: K, mu_A (max |G_ij| over pairs of active atoms,
      0 when K <= 1), RIP ((K-1) mu_A < 1) and uniqueness (mu_A < 1/(2K-1)); q* = mean uniqueness.
  sae_reference.py neurons DIR K  reads X.npy and writes neurons.json: R^2 of the top-K |x - mean|
      reconstruction and its q* under the AIP of the identity basis (S from X).
  sae_reference.py index DIR      reads the activation folder DIR/acts (manifest.json + raw shards), the SAE
      folder DIR/sae (sae_weights.safetensors parsed by hand) and DIR/W_U.npy, DIR/g.npy; writes
      index_ref.json: per atom frequency, mean activation over active rows, top-k rows, promoted token ids.
Definitions follow "Towards Atoms of Large Language Models" (2025) as quoted in issue 5.
"""
import json
import struct
import sys

import numpy as np


def gram(D, S=None):
    G = D @ (S if S is not None else np.eye(D.shape[1])) @ D.T
    n = np.sqrt(np.diag(G))
    return G / n[:, None] / n[None, :]


def coherence(G):
    A = np.abs(G).copy()
    np.fill_diagonal(A, 0)
    return float(A.max()) if A.shape[0] > 1 else 0.0


def active_stats(active, G):
    A = np.abs(G)
    Ks, mus = [], []
    for row in active:
        idx = np.flatnonzero(row)
        K = len(idx)
        mu = 0.0
        for a in range(K):
            for b in range(K):
                if a != b:
                    mu = max(mu, A[idx[a], idx[b]])
        Ks.append(K)
        mus.append(mu)
    Ks = np.array(Ks)
    mus = np.array(mus)
    rip = (Ks - 1) * mus < 1
    uniq = np.array([k <= 1 or m < 1.0 / (2 * k - 1) for k, m in zip(Ks, mus)])
    return Ks, mus, rip, uniq


def whitening(C):
    w, V = np.linalg.eigh(C)
    w = np.maximum(w, 1e-9 * w.max())
    return V @ np.diag(1 / w) @ V.T, V @ np.diag(w ** -0.5) @ V.T


def geometry(d):
    D = np.load(d + "/D.npy").astype(np.float64)
    X = np.load(d + "/X.npy").astype(np.float64)
    active = np.load(d + "/active.npy").astype(bool)
    C = X.T @ X / X.shape[0]
    S, W = whitening(C)
    out = {"C": C.tolist(), "S": S.tolist(), "W": W.tolist()}
    for name, G in (("aip", gram(D, S)), ("euclidean", gram(D))):
        K, mu, rip, uniq = active_stats(active, G)
        out[name] = {"gram": G.tolist(), "coherence": coherence(G), "K": K.tolist(), "mu_active": mu.tolist(),
                     "rip_fraction": float(rip.mean()), "q_star": float(uniq.mean())}
    json.dump(out, open(d + "/ref.json", "w"))


def neurons(d, K):
    X = np.load(d + "/X.npy").astype(np.float64)
    mean = X.mean(0)
    Xc = X - mean
    order = np.argsort(-np.abs(Xc), axis=1, kind="stable")[:, :K]
    active = np.zeros_like(X, dtype=bool)
    np.put_along_axis(active, order, True, axis=1)
    Xhat = mean + Xc * active
    r2 = 1 - ((X - Xhat) ** 2).sum() / (Xc ** 2).sum()
    S, _ = whitening(X.T @ X / X.shape[0])
    _, _, rip, uniq = active_stats(active, gram(np.eye(X.shape[1]), S))
    json.dump({"r2": float(r2), "q_star_aip": float(uniq.mean()), "rip_aip": float(rip.mean())},
              open(d + "/neurons.json", "w"))


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        b, e = v["data_offsets"]
        out[k] = np.frombuffer(raw[base + b:base + e], dtype="<f4").reshape(v["shape"])
    return out


def index(d):
    m = json.load(open(d + "/acts/manifest.json"))
    site = m["sites"][0]
    X = np.concatenate([np.fromfile(d + "/acts/" + s["acts"][site], dtype="<f4").reshape(-1, m["d"])
                        for s in m["shards"]]).astype(np.float64)
    w = {k: v.astype(np.float64) for k, v in read_safetensors(d + "/sae/sae_weights.safetensors").items()}
    pre = (X - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    z = pre * (pre > w["threshold"]) if "threshold" in w else np.maximum(pre, 0)
    act = z > 0
    cnt = act.sum(0)
    top = int(json.load(open(d + "/top_k.json")))
    topk = [np.argsort(-z[:, j], kind="stable")[:top].tolist() for j in range(z.shape[1])]
    W_U = np.load(d + "/W_U.npy").astype(np.float64)
    g = np.load(d + "/g.npy").astype(np.float64)
    promoted = (w["W_dec"] * g) @ W_U.T
    json.dump({"frequency": (cnt / X.shape[0]).tolist(),
               "mean_activation": [float(z[act[:, j], j].mean()) if cnt[j] else 0.0 for j in range(z.shape[1])],
               "max_activation": z.max(0).tolist(),
               "top_rows": topk, "top_values": [z[t, j].tolist() for j, t in enumerate(topk)],
               "promoted": np.argsort(-promoted, axis=1, kind="stable")[:, :5].tolist()},
              open(d + "/index_ref.json", "w"))


if __name__ == "__main__":
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "geometry":
        geometry(d)
    elif mode == "neurons":
        neurons(d, int(sys.argv[3]))
    elif mode == "index":
        index(d)
    else:
        sys.exit("unknown mode " + mode)
