#!/usr/bin/python3
"""Reference numbers for tests/masa from numpy (Debian's /usr/bin/python3), independent of LibTorch.

usage: numpy_reference.py stacked_svd IN.npy OUT.npy
         IN [L, out, in]: singular values squared of the L x (out*in) stacked matrix, descending
         (the eigenvalues matrix PCA's Gram matrix must have).
       numpy_reference.py truncated IN.npy RANK OUT.npy
         IN [out, in]: the rank-RANK truncated SVD W_r (Eckart-Young), numpy.linalg.svd.
       numpy_reference.py whitened W.npy XTX.npy RANK OUT.npy
         SVD-LLM: R = cholesky(XTX), W' = trunc_r(W R) R^-1 (numpy.linalg), the output-error minimiser.
"""
import sys
import numpy as np


def main():
    mode = sys.argv[1]
    if mode == "stacked_svd":
        a = np.load(sys.argv[2]).astype(np.float64)
        s = np.linalg.svd(a.reshape(a.shape[0], -1), compute_uv=False)
        np.save(sys.argv[3], s ** 2)
    elif mode == "truncated":
        w = np.load(sys.argv[2]).astype(np.float64)
        r = int(sys.argv[3])
        u, s, vt = np.linalg.svd(w, full_matrices=False)
        np.save(sys.argv[4], (u[:, :r] * s[:r]) @ vt[:r])
    elif mode == "whitened":
        w = np.load(sys.argv[2]).astype(np.float64)
        xtx = np.load(sys.argv[3]).astype(np.float64)
        r = int(sys.argv[4])
        R = np.linalg.cholesky(xtx)
        u, s, vt = np.linalg.svd(w @ R, full_matrices=False)
        np.save(sys.argv[5], ((u[:, :r] * s[:r]) @ vt[:r]) @ np.linalg.inv(R))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
