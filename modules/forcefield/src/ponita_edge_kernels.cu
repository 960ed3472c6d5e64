#include "ponita_edge_kernels.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace atomscope::forcefield::edgecuda {

namespace {

void check(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("PONITA edge kernel ") + what + ": " + cudaGetErrorString(e));
}

// One block per row; its threads stride over the row's O * C features (coalesced along C), each summing over
// the row's edges. The edge and neighbour indices are the same for every thread of the block.
template <class T>
__global__ void segmentSumKernel(const T* __restrict__ feat, const T* __restrict__ kern, std::int64_t kernEdge,
                                 std::int64_t kernO, const std::int64_t* __restrict__ start,
                                 const std::int64_t* __restrict__ order, const std::int64_t* __restrict__ other,
                                 T* __restrict__ out, int O, int C) {
  const std::int64_t row = blockIdx.x;
  const std::int64_t k0 = start[row], k1 = start[row + 1];
  const int width = O * C;
  for (int t = threadIdx.x; t < width; t += blockDim.x) {
    const int o = t / C, c = t - o * C;
    const std::int64_t kOffset = o * kernO + c;
    T acc = 0;
    for (std::int64_t k = k0; k < k1; ++k) {
      const std::int64_t e = order ? order[k] : k;
      acc += feat[other[e] * width + t] * kern[e * kernEdge + kOffset];
    }
    out[row * width + t] = acc;
  }
}

template <class T>
struct LayerPointers {
  const T* gy[kMaxLayers];
  const T* x[kMaxLayers];
};

// One block per edge; its threads stride over the channels of each (orientation, layer), so that no index is
// divided in the loop (a flat loop over O * layers * C took two integer divisions a value).
// Split (float only): each (edge, orientation) row as [hi | lo] of 2 * LC values (tf32Split), for the 3xTF32 product.
template <class T, bool Split>
__global__ void edgeProductsKernel(LayerPointers<T> p, int layers, const std::int64_t* __restrict__ iIdx,
                                   const std::int64_t* __restrict__ jIdx, std::int64_t first, int O, int C,
                                   T* __restrict__ G) {
  const std::int64_t e = first + blockIdx.x;
  const std::int64_t i = iIdx[e], j = jIdx[e];
  const std::int64_t nodeWidth = static_cast<std::int64_t>(O) * C;
  const int LC = layers * C, rowWidth = Split ? 2 * LC : LC;
  T* row = G + static_cast<std::int64_t>(blockIdx.x) * O * rowWidth;
  for (int o = 0; o < O; ++o)
    for (int l = 0; l < layers; ++l) {
      const T* __restrict__ gy = p.gy[l] + i * nodeWidth + o * C;
      const T* __restrict__ x = p.x[l] + j * nodeWidth + o * C;
      T* __restrict__ dst = row + o * rowWidth + l * C;
      if constexpr (Split) {
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
          float hi, lo;
          tf32Split(gy[c] * x[c], hi, lo);
          dst[c] = hi;
          dst[LC + c] = lo;
        }
      } else {
        for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] = gy[c] * x[c];
      }
    }
}

// One thread per (row, channel), channels fastest so that every load is coalesced (sphereMixColumn). Two and four
// rows a thread (fewer kernel loads a row, more registers) measured the same in ff.md on the H200 (RESULTS.md,
// session 22).
template <class T, int MaxS>
__global__ void sphereMixKernel(const T* __restrict__ in, const T* __restrict__ kern, std::int64_t kq, std::int64_t ks,
                                const T* __restrict__ bias, T* __restrict__ out, std::int64_t rows, int S, int Q, int C) {
  const std::int64_t total = rows * C;
  for (std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = t / C;
    sphereMixColumn<T, MaxS>(in, kern, kq, ks, bias, out, r, static_cast<int>(t - r * C), S, Q, C);
  }
}

int threadsFor(int width) { return width >= 256 ? 256 : ((width + 31) / 32) * 32; }

// One block per edge: its threads stride over the edge's perEdge values, then reduce their partial sums of
// gBasis * gelu(h2) in shared memory. GELU and its derivative as ATen's exact (erf) GELU computes them.
template <class T>
__global__ void basisBackwardKernel(const T* __restrict__ gBasis, const T* __restrict__ h2, const T* __restrict__ fc,
                                   std::int64_t perEdge, T* __restrict__ gH2, T* __restrict__ gFc) {
  __shared__ T partial[256];
  const std::int64_t e = blockIdx.x, base = e * perEdge;
  const T f = fc[e];
  const T sqrtHalf = static_cast<T>(0.70710678118654752440), pdfScale = static_cast<T>(0.39894228040143267794);
  T acc = 0;
  for (std::int64_t i = threadIdx.x; i < perEdge; i += blockDim.x) {
    const T x = h2[base + i], g = gBasis[base + i];
    const T cdf = static_cast<T>(0.5) * (static_cast<T>(1) + erf(x * sqrtHalf));
    const T pdf = exp(static_cast<T>(-0.5) * x * x) * pdfScale;
    acc += g * (x * cdf);
    gH2[base + i] = g * f * (cdf + x * pdf);
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) gFc[e] = partial[0];
}

// One thread per (row, column) of the polynomial features, columns fastest (coalesced writes).
template <class T>
__global__ void polynomialKernel(const T* __restrict__ x, std::int64_t rows, int k, int degree, int width,
                                 T* __restrict__ out) {
  const std::int64_t total = rows * width;
  for (std::int64_t t = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = t / width;
    out[t] = polynomialValue(x + row * k, static_cast<int>(t - row * width), k, degree);
  }
}

// One thread per row: the gradient of the polynomial features with respect to the row's k invariants.
template <class T>
__global__ void polynomialBackwardKernel(const T* __restrict__ x, const T* __restrict__ gPoly, std::int64_t rows, int k,
                                         int degree, int width, T* __restrict__ gX) {
  for (std::int64_t row = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; row < rows;
       row += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    polynomialRowGradient(x + row * k, gPoly + row * width, k, degree, width, gX + row * k);
}

// One block per edge: basis = gelu(h2) * fc[e] over the edge's perEdge values, GELU as ATen's exact (erf) one
// computes it. ATen takes two passes over [E * O, basis] (GELU, then the broadcast product, which it runs unvectorised).
// Split (float only): each row of `width` values as [hi | lo | hi] (tf32Split), for the 3xTF32 product.
template <class T, bool Split>
__global__ void basisForwardKernel(const T* __restrict__ h2, const T* __restrict__ fc, std::int64_t perEdge, int width,
                                   T* __restrict__ basis) {
  const std::int64_t base = blockIdx.x * perEdge;
  const T f = fc[blockIdx.x];
  const T sqrtHalf = static_cast<T>(0.70710678118654752440);
  for (std::int64_t i = threadIdx.x; i < perEdge; i += blockDim.x) {
    const T x = h2[base + i];
    const T gelu = x * static_cast<T>(0.5) * (static_cast<T>(1) + erf(x * sqrtHalf));
    if constexpr (Split) {
      const std::int64_t q = i / width, c = i - q * width;
      float hi, lo;
      tf32Split(gelu * f, hi, lo);
      T* row = basis + (base + q * width) * 3;  // this edge's row q of 3 * width values
      row[c] = hi;
      row[width + c] = lo;
      row[2 * width + c] = hi;
    } else {
      basis[base + i] = gelu * f;
    }
  }
}

// One thread per element of a: its hi and lo into the row's three blocks.
__global__ void splitTf32RowsKernel(const float* __restrict__ a, std::int64_t rows, std::int64_t K, std::int64_t lda,
                                    float* __restrict__ out) {
  const std::int64_t n = rows * K;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / K, c = i - r * K;
    float hi, lo;
    tf32Split(a[r * lda + c], hi, lo);
    float* row = out + r * 3 * K;
    row[c] = hi;
    row[K + c] = lo;
    row[2 * K + c] = hi;
  }
}

}  // namespace

template <class T>
void polynomial(const T* x, std::int64_t rows, int k, int degree, int width, T* out, void* stream) {
  if (rows <= 0 || width <= 0) return;
  if (k < 1 || k > kMaxInvariants || degree < 0 || degree > kMaxPolynomialDegree)
    throw std::runtime_error("PONITA polynomial kernel: unsupported invariants or degree");
  const std::int64_t total = rows * width;
  const unsigned threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((total + threads - 1) / threads, 1 << 20));
  polynomialKernel<T><<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(x, rows, k, degree, width, out);
  check("polynomial");
}

template <class T>
void polynomialBackward(const T* x, const T* gPoly, std::int64_t rows, int k, int degree, int width, T* gX, void* stream) {
  if (rows <= 0) return;
  if (k < 1 || k > kMaxInvariants || degree < 0 || degree > kMaxPolynomialDegree)
    throw std::runtime_error("PONITA polynomial kernel: unsupported invariants or degree");
  const unsigned threads = 256;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((rows + threads - 1) / threads, 1 << 20));
  polynomialBackwardKernel<T><<<blocks, threads, 0, static_cast<cudaStream_t>(stream)>>>(x, gPoly, rows, k, degree, width, gX);
  check("polynomialBackward");
}

template <class T>
void basisForward(const T* h2, const T* fc, std::int64_t edges, std::int64_t perEdge, T* basis, void* stream,
                  int splitWidth) {
  if (edges <= 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  if (splitWidth > 0) {
    if constexpr (std::is_same_v<T, float>) {
      if (perEdge % splitWidth != 0) throw std::runtime_error("PONITA edge kernel: basis rows do not divide the edge");
      basisForwardKernel<T, true><<<static_cast<unsigned>(edges), 256, 0, s>>>(h2, fc, perEdge, splitWidth, basis);
    } else {
      throw std::runtime_error("PONITA edge kernel: the TF32 split is for float32 only");
    }
  } else {
    basisForwardKernel<T, false><<<static_cast<unsigned>(edges), 256, 0, s>>>(h2, fc, perEdge, 0, basis);
  }
  check("basisForward");
}

template <class T>
void basisBackward(const T* gBasis, const T* h2, const T* fc, std::int64_t edges, std::int64_t perEdge, T* gH2, T* gFc,
                   void* stream) {
  if (edges <= 0) return;
  basisBackwardKernel<T><<<static_cast<unsigned>(edges), 256, 0, static_cast<cudaStream_t>(stream)>>>(gBasis, h2, fc, perEdge,
                                                                                                     gH2, gFc);
  check("basisBackward");
}

template <class T>
void segmentSum(const T* feat, const T* kern, std::int64_t kernEdge, std::int64_t kernO, const std::int64_t* start,
                const std::int64_t* order, const std::int64_t* other, T* out, std::int64_t rows, int O, int C,
                void* stream) {
  if (rows <= 0) return;
  segmentSumKernel<T><<<static_cast<unsigned>(rows), threadsFor(O * C), 0, static_cast<cudaStream_t>(stream)>>>(
      feat, kern, kernEdge, kernO, start, order, other, out, O, C);
  check("segmentSum");
}

template <class T>
void edgeProducts(const T* const* gy, const T* const* x, int layers, const std::int64_t* iIdx, const std::int64_t* jIdx,
                  std::int64_t first, std::int64_t count, int O, int C, T* G, void* stream, bool split) {
  if (count <= 0) return;
  if (layers < 1 || layers > kMaxLayers) throw std::runtime_error("PONITA edge kernel: unsupported number of layers");
  LayerPointers<T> p{};
  for (int l = 0; l < layers; ++l) {
    p.gy[l] = gy[l];
    p.x[l] = x[l];
  }
  const auto s = static_cast<cudaStream_t>(stream);
  if (split) {
    if constexpr (std::is_same_v<T, float>)
      edgeProductsKernel<T, true><<<static_cast<unsigned>(count), threadsFor(C), 0, s>>>(p, layers, iIdx, jIdx, first, O, C, G);
    else
      throw std::runtime_error("PONITA edge kernel: the TF32 split is for float32 only");
  } else {
    edgeProductsKernel<T, false><<<static_cast<unsigned>(count), threadsFor(C), 0, s>>>(p, layers, iIdx, jIdx, first, O, C, G);
  }
  check("edgeProducts");
}

template <class T>
void sphereMix(const T* in, const T* kern, std::int64_t kq, std::int64_t ks, const T* bias, T* out, std::int64_t rows,
               int S, int Q, int C, void* stream) {
  if (rows <= 0 || Q <= 0 || C <= 0) return;
  if (S < 1 || S > kMaxSphere) throw std::runtime_error("PONITA sphere kernel: unsupported number of orientations");
  const std::int64_t total = rows * C;
  const unsigned threads = 128;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((total + threads - 1) / threads, 1 << 20));
  const auto s = static_cast<cudaStream_t>(stream);
  if (S <= 8) sphereMixKernel<T, 8><<<blocks, threads, 0, s>>>(in, kern, kq, ks, bias, out, rows, S, Q, C);
  else if (S <= 16) sphereMixKernel<T, 16><<<blocks, threads, 0, s>>>(in, kern, kq, ks, bias, out, rows, S, Q, C);
  else if (S <= 24) sphereMixKernel<T, 24><<<blocks, threads, 0, s>>>(in, kern, kq, ks, bias, out, rows, S, Q, C);
  else sphereMixKernel<T, 32><<<blocks, threads, 0, s>>>(in, kern, kq, ks, bias, out, rows, S, Q, C);
  check("sphereMix");
}

void splitTf32Rows(const float* a, std::int64_t rows, std::int64_t K, std::int64_t lda, float* out, void* stream) {
  const std::int64_t n = rows * K;
  if (n == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((n + 255) / 256, 65536));
  splitTf32RowsKernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(a, rows, K, lda, out);
  check("splitTf32Rows");
}

template void sphereMix<float>(const float*, const float*, std::int64_t, std::int64_t, const float*, float*,
                               std::int64_t, int, int, int, void*);
template void sphereMix<double>(const double*, const double*, std::int64_t, std::int64_t, const double*, double*,
                                std::int64_t, int, int, int, void*);
template void segmentSum<float>(const float*, const float*, std::int64_t, std::int64_t, const std::int64_t*,
                                const std::int64_t*, const std::int64_t*, float*, std::int64_t, int, int, void*);
template void segmentSum<double>(const double*, const double*, std::int64_t, std::int64_t, const std::int64_t*,
                                 const std::int64_t*, const std::int64_t*, double*, std::int64_t, int, int, void*);
template void edgeProducts<float>(const float* const*, const float* const*, int, const std::int64_t*,
                                  const std::int64_t*, std::int64_t, std::int64_t, int, int, float*, void*, bool);
template void edgeProducts<double>(const double* const*, const double* const*, int, const std::int64_t*,
                                   const std::int64_t*, std::int64_t, std::int64_t, int, int, double*, void*, bool);

template void polynomial<float>(const float*, std::int64_t, int, int, int, float*, void*);
template void polynomial<double>(const double*, std::int64_t, int, int, int, double*, void*);
template void polynomialBackward<float>(const float*, const float*, std::int64_t, int, int, int, float*, void*);
template void polynomialBackward<double>(const double*, const double*, std::int64_t, int, int, int, double*, void*);
template void basisForward<float>(const float*, const float*, std::int64_t, std::int64_t, float*, void*, int);
template void basisForward<double>(const double*, const double*, std::int64_t, std::int64_t, double*, void*, int);
template void basisBackward<float>(const float*, const float*, const float*, std::int64_t, std::int64_t, float*, float*,
                                   void*);
template void basisBackward<double>(const double*, const double*, const double*, std::int64_t, std::int64_t, double*,
                                    double*, void*);
}  // namespace atomscope::forcefield::edgecuda
