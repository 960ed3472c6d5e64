#pragma once
// Fused per-edge CUDA kernels of PONITA's inference (PonitaImpl::computeInference on a GPU). ATen does each
// layer's edge sum as a gather, a product and an atomic scatter, three passes over [edges, O, C] tensors; these
// do it in one, as a sum over each atom's run of edges, with no atomics. Plain pointers and no LibTorch, so nvcc
// compiles only this file. Built where LibTorch has CUDA and a CUDA compiler is found (ATOMSCOPE_FORCEFIELD_CUDA).
#include <cstdint>
#include <cstring>

namespace atomscope::forcefield::edgecuda {

// Some kernels' per-element arithmetic is here as host and device functions, so that the CPU tests run the very code
// the GPU runs (CI has no GPU): Ponita.SphereKernelArithmeticEqualsAtenOnCpu and
// Ponita.PolynomialKernelArithmeticEqualsTheOuterProductsOnCpu.
#if defined(__CUDACC__)
#define ATOMSCOPE_EDGE_HD __host__ __device__
#define ATOMSCOPE_EDGE_UNROLL _Pragma("unroll")
#else
#define ATOMSCOPE_EDGE_HD
#define ATOMSCOPE_EDGE_UNROLL
#endif

// out[r, o, c] = sum over k in [start[r], start[r + 1]) of feat[other[e], o, c] * kern[e * kernEdge + o * kernO + c],
// with e = order ? order[k] : k. feat and out are [rows, O, C] contiguous. Every row of out is written.
template <class T>
void segmentSum(const T* feat, const T* kern, std::int64_t kernEdge, std::int64_t kernO, const std::int64_t* start,
                const std::int64_t* order, const std::int64_t* other, T* out, std::int64_t rows, int O, int C, void* stream);

// For edges e = first .. first + count - 1 and layers l < layers:
// G[e - first, o, l * C + c] = gy[l][iIdx[e], o, c] * x[l][jIdx[e], o, c] (gy[l], x[l]: [N, O, C] contiguous).
// split (float only): G is [count * O, 2 * L * C], each row that value's TF32 parts [hi | lo] (tf32Split, below).
constexpr int kMaxLayers = 16;
template <class T>
void edgeProducts(const T* const* gy, const T* const* x, int layers, const std::int64_t* iIdx, const std::int64_t* jIdx,
                  std::int64_t first, std::int64_t count, int O, int C, T* G, void* stream, bool split = false);

// The sphere convolution's product per channel: out[r, q, c] = sum over s < S of kern[q * kq + s * ks + c] * in[r, s, c]
// (+ bias[c] when bias is given). in: [rows, S, C], out: [rows, Q, C], contiguous. Forward on [N, O, C] with the
// kernel [P, O, C]: kq = O * C, ks = C; its transpose (the backward): kq = C, ks = O * C. On [N, O, C] as it lies:
// cuBLAS's batched product needs [C, N, O] and back, two copies each way, for a few FMAs per value.
constexpr int kMaxSphere = 32;  // S at most this (the orientations of the sphere grid)
template <class T>
void sphereMix(const T* in, const T* kern, std::int64_t kq, std::int64_t ks, const T* bias, T* out, std::int64_t rows,
               int S, int Q, int C, void* stream);

// One (row r, channel c) of sphereMix, a thread's work: the row's S inputs of channel c in registers (MaxS >= S a
// compile-time bound), then out[r, q, c] for every q.
template <class T, int MaxS>
ATOMSCOPE_EDGE_HD inline void sphereMixColumn(const T* __restrict__ in, const T* __restrict__ kern, std::int64_t kq,
                                              std::int64_t ks, const T* __restrict__ bias, T* __restrict__ out,
                                              std::int64_t r, int c, int S, int Q, int C) {
  T v[MaxS];
  const T* row = in + r * S * C + c;
  ATOMSCOPE_EDGE_UNROLL
  for (int s = 0; s < MaxS; ++s) v[s] = s < S ? row[s * C] : T(0);
  const T b = bias ? bias[c] : T(0);
  T* dst = out + r * Q * C + c;
  for (int q = 0; q < Q; ++q) {
    const T* k = kern + q * kq + c;
    T acc = b;
    ATOMSCOPE_EDGE_UNROLL
    for (int s = 0; s < MaxS; ++s)
      if (s < S) acc += k[s * ks] * v[s];
    dst[q * C] = acc;
  }
}

// The kernel basis MLP's polynomial features of the invariants x [rows, k]: out [rows, width] holds the terms x,
// x (x) x, ... up to degree + 1 factors, flattened side by side (PonitaImpl::polynomialTerms' order), then zeros to
// width. One pass, where ATen takes an outer product per term, a zero tensor and a concatenation. The same bounds as
// polynomialBackward (below).
template <class T>
void polynomial(const T* x, std::int64_t rows, int k, int degree, int width, T* out, void* stream);

// The gradient of those features: gX [rows, k] from gPoly [rows, width] (d energy / d each column; padding columns
// ignored), for k <= kMaxInvariants and degree <= kMaxPolynomialDegree (else it throws: use ATen's ops).
constexpr int kMaxInvariants = 4, kMaxPolynomialDegree = 7;
template <class T>
void polynomialBackward(const T* x, const T* gPoly, std::int64_t rows, int k, int degree, int width, T* gX, void* stream);

// The per-element arithmetic of those two kernels (below), host and device, as sphereMixColumn's.

// Column `col` of the polynomial features of k invariants up to degree + 1 factors: its term d (d + 1 factors) and
// the factors' invariant indices digit[0 .. d], the base-k digits of its place in the term, leading first (the order
// of PonitaImpl::polynomialTerms' outer products). False for a padding column past the terms.
ATOMSCOPE_EDGE_HD inline bool polynomialColumn(int col, int k, int degree, int& d, int* digit) {
  int size = k;  // term d's columns: k^(d + 1)
  for (d = 0; d <= degree; ++d, size *= k) {
    if (col < size) {
      for (int f = d, rest = col; f >= 0; --f, rest /= k) digit[f] = rest % k;
      return true;
    }
    col -= size;
  }
  return false;
}

// Feature `col` of one row's invariants xr [k]: its factors multiplied left to right, as the term-by-term outer
// products compute them; a padding column is zero.
template <class T>
ATOMSCOPE_EDGE_HD inline T polynomialValue(const T* xr, int col, int k, int degree) {
  int d = 0, digit[kMaxPolynomialDegree + 1];
  if (!polynomialColumn(col, k, degree, d, digit)) return T(0);
  T value = xr[digit[0]];
  for (int f = 1; f <= d; ++f) value *= xr[digit[f]];
  return value;
}

// One row's gradient gX [k] from gr [width] (d energy / d each feature): a column's derivative along factor f is
// the product of its other d factors; d out / d x[q] sums them over the factors that are x[q].
template <class T>
ATOMSCOPE_EDGE_HD inline void polynomialRowGradient(const T* xr, const T* gr, int k, int degree, int width, T* gX) {
  T g[kMaxInvariants] = {};
  int d = 0, digit[kMaxPolynomialDegree + 1];
  for (int col = 0; col < width && polynomialColumn(col, k, degree, d, digit); ++col)
    for (int f = 0; f <= d; ++f) {
      T others = gr[col];
      for (int f2 = 0; f2 <= d; ++f2)
        if (f2 != f) others *= xr[digit[f2]];
      g[digit[f]] += others;
    }
  for (int q = 0; q < k; ++q) gX[q] = g[q];
}

// basis = gelu(h2) * fc[e], the kernel basis MLP's last step (inference's set-up), in one pass: for edges e < edges and
// i < perEdge (= O * basis), basis[e, i] = gelu(h2[e, i]) * fc[e]. h2, basis: [edges, perEdge] contiguous.
// splitWidth > 0 (float only): basis is [edges * perEdge / splitWidth, 3 * splitWidth], each row of splitWidth values as
// its TF32 parts [hi | lo | hi] (tf32Split, below), the left factor of a 3xTF32 product.
template <class T>
void basisForward(const T* h2, const T* fc, std::int64_t edges, std::int64_t perEdge, T* basis, void* stream,
                  int splitWidth = 0);

// The backward of basis = gelu(h2) * fc[e] (the kernel basis MLP's last step, inference's pass 2) in one pass: for
// edges e < edges and i < perEdge (= O * basis), gH2[e, i] = gBasis[e, i] * fc[e] * gelu'(h2[e, i]) and
// gFc[e] = sum over i of gBasis[e, i] * gelu(h2[e, i]). gBasis, h2, gH2: [edges, perEdge] contiguous.
template <class T>
void basisBackward(const T* gBasis, const T* h2, const T* fc, std::int64_t edges, std::int64_t perEdge, T* gH2, T* gFc,
                   void* stream);

// Float32 products on tensor cores to float32 accuracy ("3xTF32", the FP32 emulation CUTLASS offers): a = hi + lo with
// hi and lo each exact in TF32 (10 mantissa bits), so a b = hi_a hi_b + lo_a hi_b + hi_a lo_b + lo_a lo_b, and the
// first three are products TF32 tensor cores do exactly, summed in float32. Left out: lo_a lo_b and lo's own rounding,
// each ~2^-22 of |a b|, beside float32's 2^-24 per product and its sums' error. On an H200 TF32 runs at several times
// SGEMM's rate (session 22: 110-375 against ~45 TFLOP/s on PONITA's shapes), so three TF32 products beat one SGEMM.

// x rounded to the nearest TF32 value (the 13 low mantissa bits cleared, ties away from zero), kept as a float.
ATOMSCOPE_EDGE_HD inline float tf32Round(float x) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float((__float_as_uint(x) + 0x1000u) & 0xFFFFE000u);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  u = (u + 0x1000u) & 0xFFFFE000u;
  float r;
  std::memcpy(&r, &u, sizeof r);
  return r;
#endif
}

// The TF32 parts of one float: hi = tf32Round(x), lo = tf32Round(x - hi) (x - hi is exact in float32).
ATOMSCOPE_EDGE_HD inline void tf32Split(float x, float& hi, float& lo) {
  hi = tf32Round(x);
  lo = tf32Round(x - hi);
}

// a [rows, K] (row stride lda) into out [rows, 3K] contiguous: [hi | lo | hi] per row, the left factor of the 3xTF32
// product against the right factor [hi; hi; lo] (three row blocks of K).
void splitTf32Rows(const float* a, std::int64_t rows, std::int64_t K, std::int64_t lda, float* out, void* stream);

}  // namespace atomscope::forcefield::edgecuda
