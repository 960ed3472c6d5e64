#pragma once
// PONITA (Bekkers et al., ICLR 2024, "Fast, Expressive SE(n) Equivariant Networks through
// Weight-Sharing in Position-Orientation Space") as an interatomic potential, written from the
// paper's equations. Every atom carries features on a grid of O orientations o on the sphere. For an
// edge i <- j with r = x_j - x_i + S.cell the invariants are a1 = r.o and a2 = |r - a1 o| (used as
// a2^2, smooth everywhere), between orientations o.o'. Kernels are MLPs of polynomial features of the invariants (times a smooth
// cosine cutoff in |r|); each layer is a separable convolution (spatial per orientation, then a
// depthwise mix over the sphere), then a ConvNeXt block (LayerNorm, Linear to 4C, GELU, Linear to
// C, layer scale, residual). Readout: Linear to one number per orientation, mean over the sphere,
// summed over layers, scaled, plus the isolated-atom energy E0(Z); energy = sum over atoms;
// forces = -dE/dx and stress = (1/V) dE/d(strain) by autograd.
//
// The point-cloud variant has one "orientation" and only the distance |r| as invariant (the
// paper's position-only baseline): exactly E(3) invariant, cheaper, less expressive.
//
// Invariance of the position-orientation variant on a finite grid: a rotation R of the input is
// the same as rotating the grid by R^T, so the energy is exactly invariant only for rotations that
// map the grid onto itself (e.g. the icosahedral rotations for grid "icosahedron"); for other
// rotations the error is a quadrature error of the sphere mean that shrinks as O grows.
// Translations and permutations are exact for every grid.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "atomscope/core/json.h"
#include "atomscope/forcefield/graph.h"

namespace atomscope::forcefield {

struct PonitaConfig {
  std::string variant = "po";     // "po" (position-orientation) or "pointcloud"
  std::string grid = "fibonacci"; // "fibonacci" (any O) or "icosahedron" (O = 12, symmetric)
  int orientations = 20;
  int hidden = 128;
  int basis = 256;
  int layers = 5;
  int degree = 2;                 // polynomial features up to this degree (+1 products)
  int widening = 4;
  double cutoff = 5.0;            // Angstrom
  // Length that divides the invariants before their polynomial features (0: the cutoff). 1 A feeds
  // Angstrom values as the reference PONITA does. Measured on 3BPA (CPU, hidden 24, 2 layers, one
  // frame, 150 steps, lr 5e-3): force RMSE 0.89 -> 0.031 eV/A with 1 A, -> 0.55 with the 4 A cutoff;
  // 0.5 A and 2 A fit worse (0.19, 0.17). Models saved with 0 keep meaning the cutoff.
  double invariantLength = 1.0;
  // Feed a2 itself (smoothed: sqrt(a2^2 + e^2) - e, e = 0.01 invariant lengths), as the reference does,
  // instead of a2^2. At degree 3 a2^2's polynomial features reach a2^8 (4e5 at a 5 A cutoff, in A), which
  // the basis MLP sees at a bad scale; the smoothing keeps second derivatives bounded where r is parallel to o.
  // Configs saved before this option feed a2^2.
  bool a2Root = false;
  double layerScale = 0.0;        // 0: no layer scale
  double avgNeighbors = 10.0;     // sums over neighbours are divided by this
  bool multipleReadouts = true;
  // Each atom is its own neighbour (the reference's dense graph has self-loops): the convolution then
  // mixes an atom's own features, through the kernel at r = 0, with its neighbours'. Without it the
  // update of atom i never sees x_i, so species and environment meet only additively. Configs saved
  // before this option existed have no self-interaction.
  bool selfInteraction = true;
  std::vector<int> species{1, 6, 7, 8};  // atomic numbers, one-hot order
  // Energy = scale * network + shift * N + sum of e0 (isolated-atom energies per species, eV). Kept in the
  // config in double precision: a float32 model still sums E0s of -10^4 eV exactly.
  std::vector<double> e0;  // empty: zeros
  double scale = 1.0;
  double shift = 0.0;      // eV per atom added to every atom (mean interaction energy per atom)

  Json toJson() const;
  static PonitaConfig fromJson(const Json& j);  // throws ForceFieldError on bad values
  int numOrientations() const { return variant == "pointcloud" ? 1 : (grid == "icosahedron" ? 12 : orientations); }
};

// Orientation grids on the unit sphere: Fibonacci lattice of n points; the 12 icosahedron vertices.
torch::Tensor fibonacciSphere(int n);
torch::Tensor icosahedronVertices();

struct PonitaLayerImpl : torch::nn::Module {
  PonitaLayerImpl(int channels, int basis, int widening, double layerScale);
  torch::nn::Linear kernel{nullptr}, fiberKernel{nullptr}, linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor bias, scale;  // scale undefined without layer scale
};
TORCH_MODULE(PonitaLayer);

struct EnergyOutput {
  torch::Tensor energy;  // [B], float64 (E0 sums added in double precision)
  torch::Tensor forces;  // [N, 3] when asked
  torch::Tensor stress;  // [B, 3, 3] when asked (eV / A^3, ASE sign: positive = tensile)
};

class PonitaImpl : public torch::nn::Module {
 public:
  explicit PonitaImpl(PonitaConfig config);

  // Network part of the per-atom energies [N] (scale applied, without E0) for the given (possibly
  // strained) geometry, in the positions' dtype, under autograd as it stands (training differentiates it twice).
  torch::Tensor atomEnergies(const GraphBatch& g, const torch::Tensor& positions, const torch::Tensor& cell);
  // Energy per structure, forces and (for periodic structures) stress. createGraph keeps the graph
  // of the derivatives (training on forces); without it, computeInference.
  EnergyOutput compute(const GraphBatch& g, bool forces, bool stress, bool createGraph = false);
  // The same numbers in two passes, for inference: the network on the atoms' features under autograd with each
  // layer's edge sum as one step, whose backward keeps d energy / d edge sum; then the edges' gradient a chunk
  // at a time (d energy / d kernel = gy_i * x_j, one product with every layer's kernel weights, then back
  // through the basis MLP). Per-edge tensors: the layers' kernels [E, O, L * C] are kept when they fit in
  // keepEdgeElements, else the kernel basis [E, O, basis], else both are remade a chunk at a time; nothing of
  // autograd's per-edge bookkeeping is kept. Forces and stress come from d energy / d edge vector.
  EnergyOutput computeInference(const GraphBatch& g, bool forces, bool stress);

  // Index of each atomic number in config.species; throws ForceFieldError for one it does not know.
  torch::Tensor speciesIndex(const torch::Tensor& numbers) const;
  // Sum of E0 per structure, float64 [B].
  torch::Tensor e0Sum(const GraphBatch& g) const;
  // Data-dependent initialisation, as the reference PONITA does at its first training step: on the
  // batch g, each layer's spatial kernel is scaled so that the convolution's output has the standard
  // deviation of the layer's input, and its fiber kernel so that the sphere convolution keeps that of
  // the spatial one. Layer by layer, so each sees its inputs as calibrated. Changes the weights.
  void calibrateKernels(const GraphBatch& g);
  // Readout weights to zero, so a new model starts at E0 + shift with zero forces: its first steps
  // then learn forces instead of cancelling a random energy offset of several eV (3BPA, 300 CPU
  // steps: valid force RMSE 0.77 instead of 0.82 eV/A).
  void zeroReadouts();

  PonitaConfig config;
  // computeInference's memory: the most elements of per-edge tensors it keeps for a call, and the elements of
  // one chunk's per-edge tensors. Tests lower them; PonitaCalculator lowers keepEdgeElements on out-of-memory.
  std::int64_t keepEdgeElements = std::int64_t{1} << 30;
  std::int64_t chunkElements = std::int64_t{1} << 27;
  // Lowers keepEdgeElements (then chunkElements) one level for a graph of `edges` edges, after an out-of-memory;
  // false when nothing is left to lower.
  bool lowerEdgeMemory(std::int64_t edges);
  // On CUDA with the kernels kept, computeInference sums over edges with fused CUDA kernels (one pass, no
  // atomics) when this build has them (LibTorch with CUDA and a CUDA compiler), and kernelBasisGradient's
  // elementwise backward is one fused kernel; false: ATen's ops. Same numbers.
  bool fusedKernels = true;
  // Inference's per-edge float32 products (the basis MLP's second layer, the layers' kernels, pass 2's products and
  // their transposes) on a GPU with TF32 tensor cores as three TF32 products of split factors ("3xTF32",
  // split_tf32.h): float32's accuracy at a higher rate than SGEMM. Only with the kernels kept (the fused kernels
  // write the split factors); off when the calculator's tf32 option is on (then plain TF32) and on the host.
  // false: one SGEMM each.
  bool splitTf32 = true;
  static bool hasFusedKernels();
  bool lastInferenceFused() const { return lastFused_; }  // whether computeInference's last call used them
  bool lastInferenceSplit() const { return lastSplit_; }  // whether its last call ran 3xTF32 products

  // Kernel basis of edge vectors r [E, 3] (polynomial features of the invariants through the basis MLP,
  // times the smooth cutoff and the optional edge weights [E]): [E, O, basis].
  torch::Tensor kernelBasisOf(const torch::Tensor& r, const torch::Tensor& edgeWeight = {});
  double invariantLength() const { return config.invariantLength > 0 ? config.invariantLength : config.cutoff; }
  // d energy / d r [E, 3] from d energy / d kernel basis gBasis [E, O, basis]: what autograd gives through
  // kernelBasisOf(r, edgeWeight), by hand and without a graph (inference's pass 2). The MLP's biases go into its
  // products, and on CUDA one fused kernel does the backward's elementwise work over [E, O, basis].
  // keptH1, keptH2: the basis MLP's two pre-activations [E * O, hidden] and [E * O, basis] for these edges, as
  // inferenceBasis left them; undefined: made again here.
  torch::Tensor kernelBasisGradient(const torch::Tensor& r, const torch::Tensor& edgeWeight, const torch::Tensor& gBasis,
                                    const torch::Tensor& keptH1 = {}, const torch::Tensor& keptH2 = {});
  // kernelBasisOf's numbers without autograd (inference), the MLP's biases in its products; its pre-activations are
  // written into h1Out and h2Out when those are given (contiguous views of kept tensors, for kernelBasisGradient).
  // split (float32 on CUDA with the fused kernels): the basis as [E * O, 3 * basis], each row's TF32 parts
  // [hi | lo | hi], the left factor of a 3xTF32 product.
  torch::Tensor inferenceBasis(const torch::Tensor& r, const torch::Tensor& edgeWeight, torch::Tensor h1Out = {},
                               torch::Tensor h2Out = {}, bool split = false) const;
  // a [R, K] b [K, N] (+ bias [N] when defined), into out when it is given (contiguous [R, N]): inference's per-edge
  // products, as 3xTF32 inside a computeInference call that chose it (splitTf32, kernels kept, it pays), else one
  // plain product.
  torch::Tensor edgeProduct(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias = {},
                            torch::Tensor out = {}) const;

 private:
  // The network on the atoms' features: edgeSum(l, x) gives layer l's sum over edges of x_j * K_l(e). leaf: the
  // embedded features made a leaf that requires grad (set to it); layerInputs: each layer's input, detached.
  // fusedSphere: the sphere convolution as this build's CUDA kernel (inference only: it has no double backward
  // and gives no gradient to the sphere kernel's weights).
  using EdgeSumFn = std::function<torch::Tensor(int, const torch::Tensor&)>;
  torch::Tensor network(const GraphBatch& g, const torch::TensorOptions& options, const EdgeSumFn& edgeSum,
                        torch::Tensor* leaf = nullptr, std::vector<torch::Tensor>* layerInputs = nullptr,
                        bool fusedSphere = false);
  // Polynomial features of x [..., k]: its terms of degree 1 .. degree + 1, and them side by side, zero-padded.
  std::vector<torch::Tensor> polynomialTerms(const torch::Tensor& x) const;
  torch::Tensor polynomial(const torch::Tensor& x) const;
  // What kernelBasisOf computes before its MLP (under autograd or not), and what the hand-written backward needs.
  struct BasisInputs {
    torch::Tensor d2, d, inside, phase, fc;  // [E]: |r|^2, |r|, d < cutoff, pi d / cutoff, cutoff (x edge weight)
    torch::Tensor a1, a2sqRaw, a2sq;         // [E, O] (position-orientation only); a2sqRaw before clamping at 0
    torch::Tensor inv;                       // [E, O, k] invariants
  };
  static constexpr double kA2Offset = 0.01;  // a2Root: a2 = sqrt(a2^2 + e^2) - e
  BasisInputs basisInputsOf(const torch::Tensor& r, const torch::Tensor& edgeWeight) const;
  // The basis MLP's pre-activations h1 = poly W1^T + b1, h2 = gelu(h1) W2^T + b2 ([E * O, hidden], [E * O, basis]),
  // written into h1Out and h2Out when those are given (contiguous).
  std::pair<torch::Tensor, torch::Tensor> basisPreActivations(const BasisInputs& in, torch::Tensor h1Out = {},
                                                              torch::Tensor h2Out = {}) const;
  // Whether the polynomial features of invariants inv [E, O, k] and their gradient run as CUDA kernels here.
  bool fusedPolynomial(const torch::Tensor& inv) const;
  // A basis MLP (basisFn, fiberBasisFn) on the polynomial features of invariants [..., k].
  torch::Tensor basisOf(torch::nn::Sequential& mlp, const torch::Tensor& invariants) const;
  torch::nn::Sequential basisFn{nullptr}, fiberBasisFn{nullptr};
  torch::nn::Linear embed{nullptr};
  torch::nn::ModuleList layers{nullptr}, readouts{nullptr};
  torch::Tensor grid_, lookup_;  // float64 grid; Z -> species index (-1 unknown); not buffers
  // The grid and E0s on the device and dtype of the last call: copied once, not at every call (a copy
  // from the host cannot be captured in a CUDA graph, and costs a synchronisation each time).
  const torch::Tensor& gridOn(const torch::Device& device, torch::Dtype dtype) const;
  mutable torch::Tensor gridCache_, e0Cache_;
  mutable std::vector<double> e0CachedFrom_;
  bool lastFused_ = false;
  bool lastSplit_ = false;
  mutable bool splitThisCall_ = false;  // computeInference chose 3xTF32 for this call: edgeProduct splits
  bool calibrating_ = false;     // atomEnergies rescales the kernels as it goes (calibrateKernels)
};
TORCH_MODULE(Ponita);

// Model files: a torch archive with the config as JSON ("ponita_config") and the weights.
void savePonita(const std::filesystem::path& file, Ponita& model);
Ponita loadPonita(const std::filesystem::path& file, const torch::Device& device = torch::kCPU,
                  torch::Dtype dtype = torch::kFloat32);

}  // namespace atomscope::forcefield
