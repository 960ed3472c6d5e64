#include "atomscope/forcefield/ponita.h"

#include <cmath>
#include <numbers>

#include "atomscope/forcefield/error.h"
#include "split_tf32.h"
#include "tf32_scope.h"

#ifdef ATOMSCOPE_FORCEFIELD_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif
#include "ponita_edge_kernels.h"

namespace atomscope::forcefield {

namespace fs = std::filesystem;

Json PonitaConfig::toJson() const {
  return Json{{"variant", variant},   {"grid", grid},       {"orientations", orientations},
              {"hidden", hidden},     {"basis", basis},     {"layers", layers},
              {"degree", degree},     {"widening", widening}, {"cutoff", cutoff}, {"invariant_length", invariantLength}, {"a2_root", a2Root},
              {"layer_scale", layerScale}, {"avg_neighbors", avgNeighbors},
              {"multiple_readouts", multipleReadouts}, {"self_interaction", selfInteraction}, {"species", species}, {"e0", e0}, {"scale", scale}, {"shift", shift}};
}

PonitaConfig PonitaConfig::fromJson(const Json& j) {
  PonitaConfig c;
  try {
    c.variant = j.value("variant", c.variant);
    c.grid = j.value("grid", c.grid);
    c.orientations = j.value("orientations", c.orientations);
    c.hidden = j.value("hidden", c.hidden);
    c.basis = j.value("basis", c.basis);
    c.layers = j.value("layers", c.layers);
    c.degree = j.value("degree", c.degree);
    c.widening = j.value("widening", c.widening);
    c.cutoff = j.value("cutoff", c.cutoff);
    c.invariantLength = j.value("invariant_length", c.invariantLength);
    c.a2Root = j.value("a2_root", false);  // absent: a model from before the option
    c.layerScale = j.value("layer_scale", c.layerScale);
    c.avgNeighbors = j.value("avg_neighbors", c.avgNeighbors);
    c.multipleReadouts = j.value("multiple_readouts", c.multipleReadouts);
    c.selfInteraction = j.value("self_interaction", false);  // absent: a model from before the option
    if (j.contains("species")) c.species = j.at("species").get<std::vector<int>>();
    if (j.contains("e0")) c.e0 = j.at("e0").get<std::vector<double>>();
    c.scale = j.value("scale", c.scale);
    c.shift = j.value("shift", c.shift);
  } catch (const std::exception& e) {
    throw ForceFieldError(std::string("PONITA config: ") + e.what());
  }
  if (c.variant != "po" && c.variant != "pointcloud") throw ForceFieldError("PONITA config: variant must be po or pointcloud, not '" + c.variant + "'");
  if (c.grid != "fibonacci" && c.grid != "icosahedron") throw ForceFieldError("PONITA config: grid must be fibonacci or icosahedron, not '" + c.grid + "'");
  if (c.orientations < 1 || c.hidden < 1 || c.basis < 1 || c.layers < 1 || c.degree < 1 || c.widening < 1)
    throw ForceFieldError("PONITA config: orientations, hidden, basis, layers, degree and widening must be positive");
  if (!(c.cutoff > 0) || !std::isfinite(c.cutoff)) throw ForceFieldError("PONITA config: cutoff must be positive");
  if (!(c.invariantLength >= 0) || !std::isfinite(c.invariantLength))
    throw ForceFieldError("PONITA config: invariant_length must be 0 (the cutoff) or positive");
  if (!(c.avgNeighbors > 0)) throw ForceFieldError("PONITA config: avg_neighbors must be positive");
  if (c.species.empty()) throw ForceFieldError("PONITA config: species is empty");
  for (int z : c.species)
    if (z < 1 || z > 118) throw ForceFieldError("PONITA config: atomic number " + std::to_string(z) + " out of range");
  if (!c.e0.empty() && c.e0.size() != c.species.size()) throw ForceFieldError("PONITA config: e0 needs one value per species");
  if (!std::isfinite(c.scale)) throw ForceFieldError("PONITA config: scale is not finite");
  return c;
}

torch::Tensor fibonacciSphere(int n) {
  // Golden-angle spiral with the poles pushed in by half a step (near-uniform area per point).
  auto out = torch::empty({n, 3}, torch::kFloat64);
  const double golden = std::numbers::pi * (3.0 - std::sqrt(5.0));
  for (int i = 0; i < n; ++i) {
    const double z = 1.0 - 2.0 * (i + 0.5) / n;
    const double rho = std::sqrt(std::max(0.0, 1.0 - z * z));
    const double t = golden * i;
    out[i][0] = rho * std::cos(t);
    out[i][1] = rho * std::sin(t);
    out[i][2] = z;
  }
  return out;
}

torch::Tensor icosahedronVertices() {
  const double p = (1.0 + std::sqrt(5.0)) / 2.0;
  std::vector<double> v;
  for (double a : {-1.0, 1.0})
    for (double b : {-p, p}) {
      v.insert(v.end(), {0.0, a, b});
      v.insert(v.end(), {a, b, 0.0});
      v.insert(v.end(), {b, 0.0, a});
    }
  auto t = torch::tensor(v, torch::kFloat64).view({12, 3});
  return t / t.norm(2, 1, true);
}

PonitaLayerImpl::PonitaLayerImpl(int c, int basis, int widening, double layerScale) {
  kernel = register_module("kernel", torch::nn::Linear(torch::nn::LinearOptions(basis, c).bias(false)));
  fiberKernel = register_module("fiber_kernel", torch::nn::Linear(torch::nn::LinearOptions(basis, c).bias(false)));
  bias = register_parameter("bias", torch::zeros({c}));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c})));
  linear1 = register_module("linear1", torch::nn::Linear(c, widening * c));
  linear2 = register_module("linear2", torch::nn::Linear(widening * c, c));
  if (layerScale > 0) scale = register_parameter("layer_scale", torch::full({c}, layerScale));
}

namespace {
int polynomialSize(int inputs, int degree) {
  int n = inputs, last = inputs;
  for (int d = 1; d <= degree; ++d) {
    last *= inputs;
    n += last;
  }
  return n;
}
// Zero columns that round n up to a multiple of 4 (16 bytes of float32: what cuBLAS's aligned kernels need).
std::int64_t alignedPadding(std::int64_t n) { return (4 - n % 4) % 4; }
// A basis MLP's first weight [out, in] with zero columns to polynomial()'s padded width.
torch::Tensor paddedFirstWeight(const torch::Tensor& w) {
  const auto pad = alignedPadding(w.size(1));
  return pad > 0 ? torch::constant_pad_nd(w, {0, pad}) : w;
}
torch::nn::Sequential basisMlp(int inputs, const PonitaConfig& c) {
  return torch::nn::Sequential(torch::nn::Linear(polynomialSize(inputs, c.degree), c.hidden), torch::nn::GELU(),
                               torch::nn::Linear(c.hidden, c.basis), torch::nn::GELU());
}
}  // namespace

PonitaImpl::PonitaImpl(PonitaConfig c) : config(std::move(c)) {
  const int O = config.numOrientations();
  const bool po = config.variant == "po";
  // Not a buffer: the grid is rebuilt from the config in double precision, so a float32 round trip
  // never breaks its symmetry.
  grid_ = po ? (config.grid == "icosahedron" ? icosahedronVertices() : fibonacciSphere(O))
             : torch::tensor({0.0, 0.0, 1.0}, torch::kFloat64).view({1, 3});
  basisFn = register_module("basis_fn", basisMlp(po ? 2 : 1, config));
  if (po) fiberBasisFn = register_module("fiber_basis_fn", basisMlp(1, config));
  embed = register_module("embed", torch::nn::Linear(torch::nn::LinearOptions(static_cast<int>(config.species.size()), config.hidden).bias(false)));
  layers = register_module("layers", torch::nn::ModuleList());
  readouts = register_module("readouts", torch::nn::ModuleList());
  for (int l = 0; l < config.layers; ++l) {
    layers->push_back(PonitaLayer(config.hidden, config.basis, config.widening, config.layerScale));
    if (config.multipleReadouts || l == config.layers - 1) readouts->push_back(torch::nn::Linear(config.hidden, 1));
  }

  lookup_ = torch::full({119}, -1, torch::kInt64);
  for (std::size_t k = 0; k < config.species.size(); ++k) lookup_[config.species[k]] = static_cast<std::int64_t>(k);
  if (config.e0.empty()) config.e0.assign(config.species.size(), 0.0);
  if (config.e0.size() != config.species.size())
    throw ForceFieldError("PONITA config: e0 has " + std::to_string(config.e0.size()) + " values for " +
                          std::to_string(config.species.size()) + " species");
}

void PonitaImpl::zeroReadouts() {
  torch::NoGradGuard noGrad;
  for (auto& m : *readouts) {
    auto* linear = m->as<torch::nn::LinearImpl>();
    linear->weight.zero_();
    linear->bias.zero_();
  }
}

const torch::Tensor& PonitaImpl::gridOn(const torch::Device& device, torch::Dtype dtype) const {
  if (!gridCache_.defined() || gridCache_.device() != device || gridCache_.scalar_type() != dtype)
    gridCache_ = grid_.to(device, dtype);
  return gridCache_;
}

torch::Tensor PonitaImpl::e0Sum(const GraphBatch& g) const {
  const auto idx = g.speciesIndex.defined() ? g.speciesIndex : speciesIndex(g.numbers);
  if (!e0Cache_.defined() || e0Cache_.device() != idx.device() || e0CachedFrom_ != config.e0) {
    e0Cache_ = torch::tensor(config.e0, torch::kFloat64).to(idx.device());
    e0CachedFrom_ = config.e0;  // config is public: a changed E0 list is copied again
  }
  return torch::zeros({g.numGraphs}, e0Cache_.options()).index_add(0, g.batch, e0Cache_.index_select(0, idx) + config.shift);
}

torch::Tensor PonitaImpl::speciesIndex(const torch::Tensor& numbers) const {
  if (numbers.numel() == 0) return numbers;
  if (numbers.min().item<std::int64_t>() < 1 || numbers.max().item<std::int64_t>() > 118)
    throw ForceFieldError("PONITA: atomic number out of range 1..118");
  auto idx = lookup_.to(numbers.device()).index_select(0, numbers);
  if (idx.min().item<std::int64_t>() < 0) {
    const auto bad = numbers.masked_select(idx < 0)[0].item<std::int64_t>();
    std::string known;
    for (int z : config.species) known += (known.empty() ? "" : ", ") + std::to_string(z);
    throw ForceFieldError("PONITA: the model does not know element Z=" + std::to_string(bad) + " (it knows Z = " + known + ")");
  }
  return idx;
}

std::vector<torch::Tensor> PonitaImpl::polynomialTerms(const torch::Tensor& x) const {
  // [..., k] -> x, x (x) x, x (x) x (x) x, ... flattened: all products up to degree + 1 factors.
  std::vector<torch::Tensor> terms{x};
  for (int d = 1; d <= config.degree; ++d) terms.push_back((terms.back().unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2, -1));
  return terms;
}

torch::Tensor PonitaImpl::polynomial(const torch::Tensor& x) const {
  // The terms side by side, then zeros to a multiple of 4 columns (see basisOf).
  auto terms = polynomialTerms(x);
  const auto pad = alignedPadding(polynomialSize(static_cast<int>(x.size(-1)), config.degree));
  if (pad > 0) {
    auto shape = x.sizes().vec();
    shape.back() = pad;
    terms.push_back(torch::zeros(shape, x.options()));
  }
  return torch::cat(terms, -1);
}

torch::Tensor PonitaImpl::basisOf(torch::nn::Sequential& mlp, const torch::Tensor& invariants) const {
  // The first layer's inputs padded with zero columns (and its weight with zero columns) to a multiple of 4, so
  // cuBLAS may pick its aligned kernels. Same numbers; on the H200 FP32 products ran equally fast either way
  // (RESULTS.md, session 21).
  auto* first = mlp->ptr(0)->as<torch::nn::LinearImpl>();
  auto h = torch::nn::functional::linear(polynomial(invariants), paddedFirstWeight(first->weight), first->bias);
  for (auto layer = mlp->begin() + 1; layer != mlp->end(); ++layer) h = layer->forward(h);
  return h;
}

torch::Tensor PonitaImpl::kernelBasisOf(const torch::Tensor& r, const torch::Tensor& edgeWeight) {
  const auto in = basisInputsOf(r, edgeWeight);
  return basisOf(basisFn, in.inv) * in.fc.view({-1, 1, 1});  // [E, O, basis]
}

namespace {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
// The polynomial features of inv [E, O, k] as [E * O, width] in one pass (edgecuda::polynomial).
torch::Tensor polynomialCuda(const torch::Tensor& inv, int degree, std::int64_t width) {
  const auto rows = inv.size(0) * inv.size(1);
  const auto k = static_cast<int>(inv.size(2));
  auto out = torch::empty({rows, width}, inv.options());
  const auto stream = at::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(inv.scalar_type(), "polynomialCuda", [&] {
    edgecuda::polynomial<scalar_t>(inv.data_ptr<scalar_t>(), rows, k, degree, static_cast<int>(width),
                                   out.data_ptr<scalar_t>(), stream);
  });
  return out;
}

// d energy / d invariants [E, O, k] from d energy / d polynomial features [E, O, width] (edgecuda::polynomialBackward).
torch::Tensor polynomialBackwardCuda(const torch::Tensor& inv, const torch::Tensor& gPoly, int degree) {
  auto gInv = torch::empty_like(inv);
  const auto rows = inv.size(0) * inv.size(1);
  const auto k = static_cast<int>(inv.size(2)), width = static_cast<int>(gPoly.size(2));
  const auto stream = at::cuda::getCurrentCUDAStream().stream();
  AT_DISPATCH_FLOATING_TYPES(inv.scalar_type(), "polynomialBackwardCuda", [&] {
    edgecuda::polynomialBackward<scalar_t>(inv.data_ptr<scalar_t>(), gPoly.data_ptr<scalar_t>(), rows, k, degree, width,
                                           gInv.data_ptr<scalar_t>(), stream);
  });
  return gInv;
}

// basis = gelu(h2) * fc[e] in one pass (edgecuda::basisForward): [E * O, basis] -> the same shape; split (float32):
// [E * O, 3 * basis], each row's TF32 parts [hi | lo | hi] for a 3xTF32 product.
torch::Tensor basisForwardCuda(const torch::Tensor& h2, const torch::Tensor& fc, bool split = false) {
  const auto E = fc.size(0), perEdge = h2.numel() / std::max<std::int64_t>(1, E);
  const auto stream = at::cuda::getCurrentCUDAStream().stream();
  if (split) {
    auto basis = torch::empty({h2.size(0), 3 * h2.size(1)}, h2.options());
    edgecuda::basisForward<float>(h2.data_ptr<float>(), fc.data_ptr<float>(), E, perEdge, basis.data_ptr<float>(), stream,
                                  static_cast<int>(h2.size(1)));
    return basis;
  }
  auto basis = torch::empty_like(h2);
  AT_DISPATCH_FLOATING_TYPES(h2.scalar_type(), "basisForwardCuda", [&] {
    edgecuda::basisForward<scalar_t>(h2.data_ptr<scalar_t>(), fc.data_ptr<scalar_t>(), E, perEdge,
                                     basis.data_ptr<scalar_t>(), stream);
  });
  return basis;
}

// gH2 = gBasis * fc[e] * gelu'(h2) and gFc[e] = sum over (o, k) of gBasis * gelu(h2), in one pass (edgecuda::basisBackward).
void basisBackwardCuda(const torch::Tensor& gBasis, const torch::Tensor& h2, const torch::Tensor& fc, torch::Tensor& gH2,
                       torch::Tensor& gFc) {
  const auto E = fc.size(0), perEdge = h2.numel() / std::max<std::int64_t>(1, E);
  const auto stream = at::cuda::getCurrentCUDAStream().stream();
  if (h2.scalar_type() == torch::kFloat64)
    edgecuda::basisBackward<double>(gBasis.data_ptr<double>(), h2.data_ptr<double>(), fc.data_ptr<double>(), E, perEdge,
                                    gH2.data_ptr<double>(), gFc.data_ptr<double>(), stream);
  else
    edgecuda::basisBackward<float>(gBasis.data_ptr<float>(), h2.data_ptr<float>(), fc.data_ptr<float>(), E, perEdge,
                                   gH2.data_ptr<float>(), gFc.data_ptr<float>(), stream);
}
#endif
}  // namespace

PonitaImpl::BasisInputs PonitaImpl::basisInputsOf(const torch::Tensor& r, const torch::Tensor& edgeWeight) const {
  BasisInputs in;
  const auto dtype = r.scalar_type();
  const double rc = config.cutoff, L = invariantLength();
  in.d2 = (r * r).sum(-1);
  in.d = torch::sqrt(in.d2);
  // Smooth cosine cutoff: 1 at 0, 0 with zero slope at rc (edges come from a list with d < rc).
  in.inside = (in.d < rc).to(dtype);
  in.phase = in.d * (std::numbers::pi / rc);
  in.fc = 0.5 * (torch::cos(in.phase) + 1.0) * in.inside;
  if (edgeWeight.defined()) in.fc = in.fc * edgeWeight;
  if (config.variant == "po") {
    // a1 and a2^2 = |r|^2 - a1^2 (not a2: sqrt has unbounded second derivatives where r || o, which force training
    // differentiates through; a2Root softens it by kA2Offset, in invariant lengths: |d2 a2 / d r^2| <= 1 / offset).
    // Polynomial features of a2^2 span even polynomials of a2, the same invariant information.
    in.a1 = torch::matmul(r, gridOn(r.device(), dtype).t()) / L;  // [E, O]
    in.a2sqRaw = in.d2.unsqueeze(1) / (L * L) - in.a1 * in.a1;
    in.a2sq = in.a2sqRaw.clamp_min(0.0);                           // [E, O]
    in.inv = config.a2Root ? torch::stack({in.a1, torch::sqrt(in.a2sq + kA2Offset * kA2Offset) - kA2Offset}, -1)
                           : torch::stack({in.a1, in.a2sq}, -1);  // [E, O, 2]
  } else {
    in.inv = (in.d / L).view({-1, 1, 1});  // [E, 1, 1]
  }
  return in;
}

bool PonitaImpl::fusedPolynomial(const torch::Tensor& inv) const {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  return fusedKernels && inv.is_cuda() && inv.size(-1) <= edgecuda::kMaxInvariants &&
         config.degree <= edgecuda::kMaxPolynomialDegree;
#else
  (void)inv;
  return false;
#endif
}

std::pair<torch::Tensor, torch::Tensor> PonitaImpl::basisPreActivations(const BasisInputs& in, torch::Tensor h1Out,
                                                                         torch::Tensor h2Out) const {
  auto* first = basisFn->ptr(0)->as<torch::nn::LinearImpl>();
  auto* second = basisFn->ptr(2)->as<torch::nn::LinearImpl>();
  const auto w1 = paddedFirstWeight(first->weight);
  torch::Tensor poly;
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (fusedPolynomial(in.inv)) poly = polynomialCuda(in.inv.contiguous(), config.degree, w1.size(1));
#endif
  if (!poly.defined()) poly = polynomial(in.inv).view({in.inv.size(0) * in.inv.size(1), w1.size(1)});
  // Into the kept tensors when given: no copy of [E * O, hidden + basis] afterwards.
  auto h1 = h1Out.defined() ? torch::addmm_out(h1Out, first->bias, poly, w1.t()) : torch::addmm(first->bias, poly, w1.t());
  const auto a1 = torch::gelu(h1);
  auto h2 = edgeProduct(a1, second->weight.t(), second->bias, h2Out);
  return {h1, h2};  // [E * O, hidden], [E * O, basis]
}

torch::Tensor PonitaImpl::inferenceBasis(const torch::Tensor& r, const torch::Tensor& edgeWeight, torch::Tensor h1Out,
                                         torch::Tensor h2Out, bool split) const {
  torch::NoGradGuard ng;
  const auto in = basisInputsOf(r, edgeWeight);
  const auto [h1, h2] = basisPreActivations(in, h1Out, h2Out);
  const auto E = in.inv.size(0), O = in.inv.size(1);
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (split && fusedKernels && h2.is_cuda() && h2.scalar_type() == torch::kFloat32)
    return basisForwardCuda(h2.contiguous(), in.fc.contiguous(), true);
  if (fusedKernels && h2.is_cuda()) return basisForwardCuda(h2.contiguous(), in.fc.contiguous()).view({E, O, -1});
#endif
  if (split) throw ForceFieldError("PONITA: the split kernel basis needs this build's CUDA kernels and float32");
  return torch::gelu(h2).view({E, O, -1}) * in.fc.view({-1, 1, 1});
}

torch::Tensor PonitaImpl::edgeProduct(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias,
                                      torch::Tensor out) const {
  if (!out.defined()) out = torch::empty({a.size(0), b.size(1)}, a.options());
  if (splitThisCall_ && splitTf32Pays(a)) {
    mmSplitTf32Out(out, a, splitTf32Weights(b), bias);
    return out;
  }
  if (bias.defined()) return torch::addmm_out(out, bias, a, b);
  return torch::mm_out(out, a, b);
}

torch::Tensor PonitaImpl::kernelBasisGradient(const torch::Tensor& r, const torch::Tensor& edgeWeight,
                                              const torch::Tensor& gBasis, const torch::Tensor& keptH1,
                                              const torch::Tensor& keptH2) {
  torch::NoGradGuard ng;
  const auto dtype = r.scalar_type();
  const double rc = config.cutoff, L = invariantLength();
  const auto in = basisInputsOf(r, edgeWeight);
  const auto E = r.size(0), O = in.inv.size(1), k = in.inv.size(2);
  torch::Tensor h1 = keptH1, h2 = keptH2;
  if (!h1.defined() || !h2.defined()) std::tie(h1, h2) = basisPreActivations(in);
  auto* first = basisFn->ptr(0)->as<torch::nn::LinearImpl>();
  auto* second = basisFn->ptr(2)->as<torch::nn::LinearImpl>();
  const auto w1 = paddedFirstWeight(first->weight);
  const auto B = h2.size(1);
  // basis = gelu(h2) * fc[e]: d / d h2 and d / d fc.
  const auto gB = gBasis.reshape({E * O, B}).contiguous();
  torch::Tensor gH2, gFc;
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (fusedKernels && h2.is_cuda()) {  // fusedKernels false: ATen's ops below (the CUDA test compares the two)
    gH2 = torch::empty_like(h2);
    gFc = torch::empty({E}, h2.options());
    basisBackwardCuda(gB, h2.contiguous(), in.fc.contiguous(), gH2, gFc);
  }
#endif
  if (!gH2.defined()) {
    gFc = torch::bmm(gB.view({E, 1, O * B}), torch::gelu(h2).view({E, O * B, 1})).view({E});
    gH2 = torch::gelu_backward(gB * in.fc.repeat_interleave(O).unsqueeze(1), h2);
  }
  const auto gH1 = torch::gelu_backward(edgeProduct(gH2, second->weight), h1);  // [E * O, hidden]
  const auto gPoly = torch::mm(gH1, w1).view({E, O, w1.size(1)});              // padding columns unused
  // Through the polynomial features to the invariants: term m = term m-1 (x) x.
  torch::Tensor gInv;
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (fusedPolynomial(in.inv)) gInv = polynomialBackwardCuda(in.inv.contiguous(), gPoly, config.degree);
#endif
  if (!gInv.defined()) {
    const auto terms = polynomialTerms(in.inv);
    std::vector<torch::Tensor> gTerms;
    std::int64_t at = 0;
    for (const auto& t : terms) {
      gTerms.push_back(gPoly.narrow(2, at, t.size(2)));
      at += t.size(2);
    }
    gInv = torch::zeros_like(in.inv);
    for (int m = config.degree; m >= 1; --m) {
      const auto g = gTerms[m].view({E, O, terms[m - 1].size(2), k});
      gTerms[m - 1] = gTerms[m - 1] + (g * in.inv.unsqueeze(-2)).sum(-1);
      gInv += (g * terms[m - 1].unsqueeze(-1)).sum(-2);
    }
    gInv += gTerms[0];
  }
  // Through the invariants and the cutoff to r.
  auto gD = (edgeWeight.defined() ? gFc * edgeWeight : gFc) * in.inside * (-0.5 * std::numbers::pi / rc) *
            torch::sin(in.phase);
  auto gD2 = torch::zeros_like(in.d2);
  auto gr = torch::zeros_like(r);
  if (config.variant == "po") {
    auto gA1 = gInv.select(2, 0);
    auto gA2sq = config.a2Root ? gInv.select(2, 1) * 0.5 / torch::sqrt(in.a2sq + kA2Offset * kA2Offset) : gInv.select(2, 1);
    gA2sq = gA2sq * (in.a2sqRaw >= 0.0).to(dtype);  // clamp_min's gradient, as autograd has it
    gD2 = gD2 + gA2sq.sum(1) / (L * L);
    gA1 = gA1 - 2.0 * in.a1 * gA2sq;
    gr = gr + torch::matmul(gA1, gridOn(r.device(), dtype)) / L;
  } else {
    gD = gD + gInv.view({E}) / L;
  }
  gD2 = gD2 + gD / (2.0 * in.d);
  return gr + 2.0 * r * gD2.unsqueeze(1);
}

namespace {
// Scales `weight` (in place) by std(want) / std(got) and returns that factor.
double calibrateWeight(torch::Tensor& weight, const torch::Tensor& want, const torch::Tensor& got) {
  torch::NoGradGuard g;
  const double sw = want.std().item<double>(), sg = got.std().item<double>();
  const double f = sg > 0 && sw > 0 ? sw / sg : 1.0;
  weight.mul_(f);
  return f;
}
}  // namespace

torch::Tensor PonitaImpl::atomEnergies(const GraphBatch& g, const torch::Tensor& positions, const torch::Tensor& cell) {
  const auto r = edgeVectors(g, positions, cell);           // [E, 3]
  const auto kernelBasis = kernelBasisOf(r, g.edgeWeight);  // [E, O, basis]
  const auto iIdx = g.edgeIndex[0], jIdx = g.edgeIndex[1];
  return network(g, positions.options(), [&](int l, const torch::Tensor& x) {
    const auto msg = x.index_select(0, jIdx) * layers[l]->as<PonitaLayerImpl>()->kernel->forward(kernelBasis);  // [E, O, C]
    return torch::zeros_like(x).index_add(0, iIdx, msg);                                                     // [N, O, C]
  });
}

namespace {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
// in [N, S, C] -> [N, Q, C] through the sphere kernel (see edgecuda::sphereMix), on the current stream.
torch::Tensor sphereMixCuda(const torch::Tensor& in, const torch::Tensor& kern, std::int64_t kq, std::int64_t ks,
                            std::int64_t Q, const torch::Tensor& bias) {
  auto out = torch::empty({in.size(0), Q, in.size(2)}, in.options());
  const auto S = static_cast<int>(in.size(1)), C = static_cast<int>(in.size(2));
  const auto stream = at::cuda::getCurrentCUDAStream().stream();
  if (in.scalar_type() == torch::kFloat64)
    edgecuda::sphereMix<double>(in.data_ptr<double>(), kern.data_ptr<double>(), kq, ks,
                                bias.defined() ? bias.data_ptr<double>() : nullptr, out.data_ptr<double>(), in.size(0),
                                S, static_cast<int>(Q), C, stream);
  else
    edgecuda::sphereMix<float>(in.data_ptr<float>(), kern.data_ptr<float>(), kq, ks,
                               bias.defined() ? bias.data_ptr<float>() : nullptr, out.data_ptr<float>(), in.size(0), S,
                               static_cast<int>(Q), C, stream);
  return out;
}
#endif

// y2[n, p, c] = sum_o y[n, o, c] K[p, o, c] + bias[c] as one autograd step whose backward gives d / d y only
// (K and bias are constants here: inference).
struct SphereMix : torch::autograd::Function<SphereMix> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y, const torch::Tensor& K,
                               const torch::Tensor& bias) {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
    const auto k = K.detach().contiguous();
    ctx->save_for_backward({k});
    const auto P = k.size(0), O = k.size(1), C = k.size(2);
    return sphereMixCuda(y.contiguous(), k, O * C, C, P, bias.detach().contiguous());
#else
    (void)ctx, (void)y, (void)K, (void)bias;
    throw ForceFieldError("PONITA: this build has no fused CUDA kernels");
#endif
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
    const auto k = ctx->get_saved_variables()[0];
    const auto O = k.size(1), C = k.size(2);
    return {sphereMixCuda(grads[0].contiguous(), k, C, O * C, O, torch::Tensor()), torch::Tensor(), torch::Tensor()};
#else
    (void)ctx, (void)grads;
    throw ForceFieldError("PONITA: this build has no fused CUDA kernels");
#endif
  }
};
}  // namespace

torch::Tensor PonitaImpl::network(const GraphBatch& g, const torch::TensorOptions& options, const EdgeSumFn& edgeSum,
                                  torch::Tensor* leaf, std::vector<torch::Tensor>* layerInputs, bool fusedSphere) {
  const auto dtype = options.dtype().toScalarType();
  const auto N = g.positions.size(0);
  const bool po = config.variant == "po";
  const auto& grid = gridOn(options.device(), dtype);
  const auto O = grid.size(0);
  // The kernel basis at r = 0 (the self-edge): the same for every orientation and every atom.
  torch::Tensor selfBasis;
  if (config.selfInteraction) selfBasis = kernelBasisOf(torch::zeros({1, 3}, options));
  torch::Tensor fiberBasis;
  if (po) fiberBasis = basisOf(fiberBasisFn, torch::matmul(grid, grid.t()).unsqueeze(-1));  // [O, O, basis]

  const auto species = g.speciesIndex.defined() ? g.speciesIndex : speciesIndex(g.numbers);
  const auto onehot = torch::one_hot(species, static_cast<std::int64_t>(config.species.size())).to(dtype);
  auto x = embed->forward(onehot).unsqueeze(1).expand({N, O, config.hidden}).contiguous();  // [N, O, C]
  if (leaf) {
    x = x.detach().requires_grad_(true);
    *leaf = x;
  }
  auto out = torch::zeros({N}, options);
  std::size_t ro = 0;
  for (int l = 0; l < config.layers; ++l) {
    auto& layer = *layers[l]->as<PonitaLayerImpl>();
    const auto input = x;
    if (layerInputs) layerInputs->push_back(x.detach());
    auto y = edgeSum(l, x);
    if (config.selfInteraction) y = torch::addcmul(y, x, layer.kernel->forward(selfBasis));  // [1, O, C]
    // The sum's 1 / avgNeighbors goes into the small sphere kernel below (one [N, O, C] pass fewer) unless
    // there is none, or calibration must see the scaled sum.
    double pending = 1.0 / config.avgNeighbors;
    if (!po || calibrating_) {
      y = y * pending;
      pending = 1.0;
    }
    if (calibrating_) y = y * calibrateWeight(layer.kernel->weight, input, y);  // y is linear in the kernel
    if (po) {
      // The sphere convolution, per channel: y2[n, p, c] = sum_o y[n, o, c] K[p, o, c] / O. In inference on a GPU
      // our kernel on [N, O, C] as it lies, the bias added on the way out (~0.45 ms a pass at 10,000 atoms on the
      // H200 by ncu); otherwise one product batched over channels on copies permuted to [C, N, O] x [C, O, P].
      const auto K = layer.fiberKernel->forward(fiberBasis) * (pending / static_cast<double>(O));  // [P, O, C]
      if (fusedSphere && !calibrating_ && y.is_cuda() && O <= edgecuda::kMaxSphere) {
        y = SphereMix::apply(y, K, layer.bias);  // the bias too
      } else {
        auto y2 = torch::bmm(y.permute({2, 0, 1}).contiguous(), K.permute({2, 1, 0}).contiguous())  // [C, N, P]
                      .permute({1, 2, 0})
                      .contiguous();
        if (calibrating_) y2 = y2 * calibrateWeight(layer.fiberKernel->weight, y, y2);
        y = y2 + layer.bias;
      }
    } else {
      y = y + layer.bias;
    }
    y = layer.linear2->forward(torch::gelu(layer.linear1->forward(layer.norm->forward(y))));
    x = layer.scale.defined() ? torch::addcmul(input, y, layer.scale) : input + y;
    if (config.multipleReadouts || l == config.layers - 1)
      // The sphere mean before the (linear) readout: the same sum, and no [N * O, C] x [C, 1] product, whose
      // backward cuBLAS ran as an unaligned K = 1 GEMM (~4.8 ms a layer at 10,000 atoms on the H200 by ncu).
      out = out + readouts[ro++]->as<torch::nn::LinearImpl>()->forward(x.mean(1)).squeeze(-1);
  }
  return out * config.scale;
}

namespace {
// Stress [B, 3, 3] (eV / A^3, ASE's sign) from d energy / d strain [B, 3, 3]: symmetrised, over the cell volume;
// molecules (no volume) get zeros.
torch::Tensor stressFromStrainGradient(const GraphBatch& g, const torch::Tensor& dE) {
  const auto sym = 0.5 * (dE + dE.transpose(1, 2));
  const auto vol = cellVolumes(g.cell);
  const auto safe = torch::where(g.periodic, vol, torch::ones_like(vol));
  return sym / safe.view({-1, 1, 1}) * g.periodic.to(sym.scalar_type()).view({-1, 1, 1});
}

// What the two passes of computeInference share: each layer's spatial kernels on the edges (kept, or remade
// a chunk of edges at a time) and the gradients that reach the layers' edge sums.
struct EdgePass {
  PonitaImpl* model = nullptr;
  torch::Tensor r, edgeWeight, iIdx, jIdx;  // [E, 3], [E] or undefined, [E], [E]
  std::int64_t chunk = 1;                   // edges per chunk
  std::int64_t C = 0;
  std::vector<torch::Tensor> weights;       // layer l's kernel weight W_l [C, basis]
  torch::Tensor keptKernels;                // [E, O, L * C] when kept
  torch::Tensor keptBasis;                  // [E, O, basis] when kept (and the kernels not)
  // The basis MLP's pre-activations [E * O, hidden], [E * O, basis], kept with the kernels or the basis when memory
  // allows and forces are asked: pass 2 then goes back through the MLP without making them again.
  torch::Tensor keptH1, keptH2;
  std::vector<torch::Tensor> gradients;     // d energy / d (layer l's edge sum), [N, O, C]
  // On CUDA with kept kernels: the fused edge kernels, over edges sorted by their first atom. rowStart[a]: the
  // first edge of atom a (as first atom); bySecond: the edges in order of their second atom, and secondStart[a]
  // the first of atom a there. [N + 1], [E], [N + 1].
  bool fused = false;
  torch::Tensor rowStart, bySecond, secondStart;

  std::int64_t edges() const { return r.size(0); }
  torch::Tensor basis(std::int64_t a, std::int64_t b) const {
    if (keptBasis.defined()) return keptBasis.slice(0, a, b);
    return makeBasis(a, b);
  }
  // The basis of edges [a, b), filling the kept pre-activations' rows when they are kept.
  torch::Tensor makeBasis(std::int64_t a, std::int64_t b, bool split = false) const {
    return model->inferenceBasis(r.slice(0, a, b), weightsOf(a, b), keptRows(keptH1, a, b), keptRows(keptH2, a, b),
                                 split);
  }
  torch::Tensor weightsOf(std::int64_t a, std::int64_t b) const {  // edges [a, b)'s weights, or undefined
    return edgeWeight.defined() ? edgeWeight.slice(0, a, b) : torch::Tensor();
  }
  // Edges [a, b)'s rows of a kept [E * O, ...] pre-activation, or undefined when it is not kept.
  torch::Tensor keptRows(const torch::Tensor& kept, std::int64_t a, std::int64_t b) const {
    const auto O = model->config.numOrientations();
    return kept.defined() ? kept.slice(0, a * O, b * O) : torch::Tensor();
  }
  torch::Tensor kernel(int l, std::int64_t a, std::int64_t b) const {  // [b - a, O, C]
    if (keptKernels.defined()) return keptKernels.slice(0, a, b).narrow(2, l * C, C);
    const auto B = basis(a, b);
    return model->edgeProduct(B.reshape({-1, B.size(2)}), weights[l].t()).view({b - a, B.size(1), C});
  }
};

#ifdef ATOMSCOPE_FORCEFIELD_CUDA
template <class T>
void fusedSumOf(const EdgePass& p, const torch::Tensor& in, int layer, bool transposed, torch::Tensor& out) {
  const std::int64_t perEdge = p.keptKernels.size(1) * p.keptKernels.size(2);  // O * L * C
  edgecuda::segmentSum<T>(in.data_ptr<T>(), p.keptKernels.data_ptr<T>() + layer * p.C, perEdge, p.keptKernels.size(2),
                          (transposed ? p.secondStart : p.rowStart).data_ptr<std::int64_t>(),
                          transposed ? p.bySecond.data_ptr<std::int64_t>() : nullptr,
                          (transposed ? p.iIdx : p.jIdx).data_ptr<std::int64_t>(), out.data_ptr<T>(), in.size(0),
                          static_cast<int>(in.size(1)), static_cast<int>(p.C), at::cuda::getCurrentCUDAStream().stream());
}

template <class T>
void fusedProductsOf(const EdgePass& p, const std::vector<torch::Tensor>& gy, const std::vector<torch::Tensor>& x,
                     std::int64_t a, std::int64_t b, torch::Tensor& G, bool split) {
  std::vector<const T*> g, v;
  for (std::size_t l = 0; l < gy.size(); ++l) {
    g.push_back(gy[l].data_ptr<T>());
    v.push_back(x[l].data_ptr<T>());
  }
  edgecuda::edgeProducts<T>(g.data(), v.data(), static_cast<int>(gy.size()), p.iIdx.data_ptr<std::int64_t>(),
                            p.jIdx.data_ptr<std::int64_t>(), a, b - a, static_cast<int>(p.keptKernels.size(1)),
                            static_cast<int>(p.C), G.data_ptr<T>(), at::cuda::getCurrentCUDAStream().stream(), split);
}
#endif

// The edge sum of layer l with the fused CUDA kernel: forward, out_i = sum over i's edges of in_j * K_l(e);
// backward (transposed), out_j = sum over the edges whose second atom is j of in_i * K_l(e).
torch::Tensor fusedSum(const EdgePass& p, const torch::Tensor& in, int layer, bool transposed) {
  auto out = torch::empty_like(in);
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (in.scalar_type() == torch::kFloat64) fusedSumOf<double>(p, in, layer, transposed, out);
  else fusedSumOf<float>(p, in, layer, transposed, out);
#else
  (void)p, (void)layer, (void)transposed;
  throw ForceFieldError("PONITA: this build has no fused CUDA edge kernels");
#endif
  return out;
}

// Pass 2's products for edges [a, b) into G [b - a, O, L * C] with the fused CUDA kernel; split (float32): G is
// [(b - a) * O, 2 * L * C], each row's TF32 parts [hi | lo].
void fusedProducts(const EdgePass& p, const std::vector<torch::Tensor>& gy, const std::vector<torch::Tensor>& x,
                   std::int64_t a, std::int64_t b, torch::Tensor& G, bool split = false) {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  if (G.scalar_type() == torch::kFloat64) fusedProductsOf<double>(p, gy, x, a, b, G, split);
  else fusedProductsOf<float>(p, gy, x, a, b, G, split);
#else
  (void)p, (void)gy, (void)x, (void)a, (void)b, (void)G, (void)split;
  throw ForceFieldError("PONITA: this build has no fused CUDA edge kernels");
#endif
}

// Layer l's edge sum y_i = sum over edges e = (i, j) of x_j * K_l(e) as one autograd step: its backward
// gives gx_j = sum gy_i * K_l(e) and keeps gy for the edge pass. No per-edge tensor outlives a chunk.
struct EdgeSum : torch::autograd::Function<EdgeSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, std::int64_t pass,
                               std::int64_t layer) {
    ctx->saved_data["pass"] = pass;
    ctx->saved_data["layer"] = layer;
    const auto& p = *reinterpret_cast<EdgePass*>(pass);
    if (p.fused) return fusedSum(p, x.contiguous(), static_cast<int>(layer), false);
    auto y = torch::zeros_like(x);
    for (std::int64_t a = 0; a < p.edges(); a += p.chunk) {
      const auto b = std::min(a + p.chunk, p.edges());
      auto m = x.index_select(0, p.jIdx.slice(0, a, b));
      m.mul_(p.kernel(static_cast<int>(layer), a, b));
      y.index_add_(0, p.iIdx.slice(0, a, b), m);
    }
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto& p = *reinterpret_cast<EdgePass*>(ctx->saved_data["pass"].toInt());
    const int layer = static_cast<int>(ctx->saved_data["layer"].toInt());
    const auto gy = grads[0].contiguous();
    p.gradients[layer] = gy;
    if (p.fused) return {fusedSum(p, gy, layer, true), torch::Tensor(), torch::Tensor()};
    auto gx = torch::zeros_like(gy);
    for (std::int64_t a = 0; a < p.edges(); a += p.chunk) {
      const auto b = std::min(a + p.chunk, p.edges());
      auto m = gy.index_select(0, p.iIdx.slice(0, a, b));
      m.mul_(p.kernel(layer, a, b));
      gx.index_add_(0, p.jIdx.slice(0, a, b), m);
    }
    return {gx, torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

EnergyOutput PonitaImpl::computeInference(const GraphBatch& g, bool forces, bool stress) {
  struct SplitReset {  // edgeProduct splits only inside a call that chose to (an exception included)
    bool& flag;
    ~SplitReset() { flag = false; }
  } splitReset{splitThisCall_};
  splitThisCall_ = false;
  const auto options = g.positions.options();
  const auto O = config.numOrientations();
  const std::int64_t L = config.layers, C = config.hidden;
  EdgePass p;
  p.model = this;
  p.C = C;
  p.iIdx = g.edgeIndex[0];
  p.jIdx = g.edgeIndex[1];
  p.gradients.resize(static_cast<std::size_t>(L));
  torch::Tensor stacked;  // [L * C, basis]: every layer's kernel weights, K_all = B stacked^T
  bool split = false;     // the per-edge products as 3xTF32 (split_tf32.h)
  {
    torch::NoGradGuard ng;
    p.r = edgeVectors(g, g.positions, g.cell);
    p.edgeWeight = g.edgeWeight;
    for (int l = 0; l < L; ++l) p.weights.push_back(layers[l]->as<PonitaLayerImpl>()->kernel->weight.detach());
    stacked = torch::cat(p.weights, 0);
    const auto E = p.r.size(0);
    p.chunk = std::max<std::int64_t>(1, chunkElements / (O * std::max<std::int64_t>(config.basis, L * C)));
    const bool keepKernels = E * O * L * C <= keepEdgeElements;
    const std::int64_t keptElements = keepKernels ? E * O * L * C : E * O * config.basis <= keepEdgeElements ? E * O * config.basis : -1;
    if ((forces || stress) && keptElements >= 0 && keptElements + E * O * (config.hidden + config.basis) <= keepEdgeElements) {
      p.keptH1 = torch::empty({E * O, static_cast<std::int64_t>(config.hidden)}, options);
      p.keptH2 = torch::empty({E * O, static_cast<std::int64_t>(config.basis)}, options);
    }
    p.fused = fusedKernels && hasFusedKernels() && keepKernels && p.r.is_cuda() && E > 0 && L <= edgecuda::kMaxLayers &&
              (p.r.scalar_type() == torch::kFloat32 || p.r.scalar_type() == torch::kFloat64);
    lastFused_ = p.fused;
    // Only with the kernels kept (the fused path): remade a chunk and a layer at a time (100,000 atoms), the split's
    // extra passes over the basis cost more than its products save (35,183 against 37,600 atom-steps/s, session 25).
    split = p.fused && splitTf32 && splitTf32Pays(p.r);
    lastSplit_ = split;
    splitThisCall_ = split;
    if (p.fused) {
      // Edges in order of their first atom, so that each atom's edges are one run; and the order by the second.
      const auto byFirst = std::get<1>(torch::sort(p.iIdx, /*stable=*/true, 0, false));
      p.iIdx = p.iIdx.index_select(0, byFirst);
      p.jIdx = p.jIdx.index_select(0, byFirst);
      p.r = p.r.index_select(0, byFirst);
      if (p.edgeWeight.defined()) p.edgeWeight = p.edgeWeight.index_select(0, byFirst);
      const auto atoms = torch::arange(g.positions.size(0) + 1, p.iIdx.options());
      p.rowStart = torch::searchsorted(p.iIdx, atoms);
      p.bySecond = std::get<1>(torch::sort(p.jIdx, /*stable=*/true, 0, false));
      p.secondStart = torch::searchsorted(p.jIdx.index_select(0, p.bySecond), atoms);
    }
    if (keepKernels) {
      p.keptKernels = torch::empty({E, O, L * C}, options);
      // With the fused kernels the basis comes already split for the 3xTF32 product (no pass over it to split it).
      const auto stackedT3 = split ? splitTf32Weights(stacked.t()) : torch::Tensor();
      for (std::int64_t a = 0; a < E; a += p.chunk) {
        const auto b = std::min(a + p.chunk, E);
        auto out = p.keptKernels.slice(0, a, b).view({-1, L * C});
        if (stackedT3.defined()) {
          const auto basis3 = p.makeBasis(a, b, true);  // its MLP's own products outside the TF32 scope: split too
          const Tf32Scope tensorCores(true);
          torch::mm_out(out, basis3, stackedT3);
        } else {
          edgeProduct(p.makeBasis(a, b).reshape({-1, static_cast<std::int64_t>(config.basis)}), stacked.t(), {}, out);
        }
      }
    } else if (E * O * config.basis <= keepEdgeElements) {
      auto kept = torch::empty({E, O, static_cast<std::int64_t>(config.basis)}, options);
      for (std::int64_t a = 0; a < E; a += p.chunk) {
        const auto b = std::min(a + p.chunk, E);
        kept.slice(0, a, b).copy_(p.makeBasis(a, b));
      }
      p.keptBasis = kept;
    }
  }
  // Pass 1: the network on the atoms' features under autograd, each layer's edge sum one EdgeSum step;
  // its backward (to the embedding, a leaf) leaves d energy / d edge sum of every layer in p.gradients.
  const bool derivatives = forces || stress;
  torch::Tensor leaf, netE;
  std::vector<torch::Tensor> inputs;
  {
    torch::AutoGradMode on(derivatives);
    const auto atomE = network(g, options, [&](int l, const torch::Tensor& x) {
      return EdgeSum::apply(x, reinterpret_cast<std::int64_t>(&p), std::int64_t{l});
    }, derivatives ? &leaf : nullptr, &inputs, p.fused);
    netE = torch::zeros({g.numGraphs}, options).index_add(0, g.batch, atomE);
    if (derivatives) torch::autograd::grad({netE.sum()}, {leaf}, {}, false, false, true);
  }
  EnergyOutput o;
  o.energy = netE.detach().to(torch::kFloat64) + e0Sum(g);
  if (!derivatives) return o;
  // Pass 2, a chunk of edges at a time: d energy / d K_l(e) = gy_l[i] * x_l[j], so d energy / d basis =
  // [those of every layer] . stacked, then back through the basis MLP and the invariants to the edge vector.
  torch::NoGradGuard ng;
  const auto E = p.edges();
  auto edgeGrad = torch::zeros_like(p.r);  // d energy / d r_e, [E, 3]
  std::vector<torch::Tensor> gy;
  for (int l = 0; l < L; ++l) {
    gy.push_back(p.gradients[l].defined() ? p.gradients[l].contiguous() : torch::zeros_like(inputs[l]));
    inputs[l] = inputs[l].contiguous();
  }
  // Split (fused only): the edge products come as their TF32 parts [hi | lo]; gBasis = [hi | lo] [S_hi; S_hi] + hi S_lo
  // (two products, not three: hi is not written twice), S = stacked.
  torch::Tensor stackedHiHi, stackedLo;
  if (split) {
    const auto [hi, lo] = tf32Parts(stacked);
    stackedHiHi = torch::cat({hi, hi}, 0);
    stackedLo = lo;
  }
  for (std::int64_t a = 0; a < E; a += p.chunk) {
    const auto b = std::min(a + p.chunk, E);
    torch::Tensor gBasis;  // [b - a, O, basis]
    if (split) {
      auto G2 = torch::empty({(b - a) * O, 2 * L * C}, options);
      fusedProducts(p, gy, inputs, a, b, G2, true);
      gBasis = torch::empty({(b - a) * O, stacked.size(1)}, options);
      const Tf32Scope tensorCores(true);
      torch::mm_out(gBasis, G2, stackedHiHi);
      gBasis.addmm_(G2.narrow(1, 0, L * C), stackedLo);
    } else {
      auto G = torch::empty({b - a, O, L * C}, options);
      if (p.fused) {
        fusedProducts(p, gy, inputs, a, b, G);
      } else {
        const auto ic = p.iIdx.slice(0, a, b), jc = p.jIdx.slice(0, a, b);
        for (int l = 0; l < L; ++l) {
          auto part = G.narrow(2, l * C, C);
          torch::mul_out(part, gy[l].index_select(0, ic), inputs[l].index_select(0, jc));
        }
      }
      gBasis = edgeProduct(G.view({-1, L * C}), stacked);
    }
    edgeGrad.slice(0, a, b).copy_(kernelBasisGradient(p.r.slice(0, a, b), p.weightsOf(a, b), gBasis.view({b - a, O, -1}),
                                                       p.keptRows(p.keptH1, a, b), p.keptRows(p.keptH2, a, b)));
  }
  // r_e = x_j - x_i + image offset: forces = -d energy / d x.
  if (forces)
    o.forces = torch::zeros_like(g.positions).index_add(0, p.iIdx, edgeGrad).index_add(0, p.jIdx, -edgeGrad);
  if (stress) {
    // Strain x -> x (I + eps) takes r_e -> r_e (I + eps): d energy / d eps = sum_e r_e^T (d energy / d r_e).
    const auto perEdge = p.r.unsqueeze(2) * edgeGrad.unsqueeze(1);  // [E, 3, 3]
    o.stress = stressFromStrainGradient(
        g, torch::zeros({g.numGraphs, 3, 3}, options).index_add(0, g.batch.index_select(0, p.iIdx), perEdge));
  }
  return o;
}

bool PonitaImpl::hasFusedKernels() {
#ifdef ATOMSCOPE_FORCEFIELD_CUDA
  return true;
#else
  return false;
#endif
}

bool PonitaImpl::lowerEdgeMemory(std::int64_t edges) {
  const std::int64_t O = config.numOrientations();
  const std::int64_t kernels = edges * O * config.layers * config.hidden, basis = edges * O * config.basis;
  const std::int64_t activations = edges * O * (config.hidden + config.basis);
  if (kernels + activations <= keepEdgeElements) {
    keepEdgeElements = kernels + activations - 1;  // the kernels without the basis MLP's pre-activations
    return true;
  }
  if (kernels <= keepEdgeElements) {
    keepEdgeElements = kernels - 1;  // the kernel basis at most
    return true;
  }
  if (basis <= keepEdgeElements) {
    keepEdgeElements = basis - 1;  // nothing kept
    return true;
  }
  if (chunkElements > (std::int64_t{1} << 20)) {
    chunkElements /= 4;
    return true;
  }
  return false;
}

void PonitaImpl::calibrateKernels(const GraphBatch& g) {
  torch::NoGradGuard ng;
  calibrating_ = true;
  try {
    atomEnergies(g, g.positions, g.cell);
  } catch (...) {
    calibrating_ = false;
    throw;
  }
  calibrating_ = false;
}

EnergyOutput PonitaImpl::compute(const GraphBatch& g, bool forces, bool stress, bool createGraph) {
  if (!createGraph) return computeInference(g, forces, stress);
  auto pos = g.positions;
  torch::Tensor strain;
  if (forces) pos = pos.detach().requires_grad_(true);
  auto cell = g.cell;
  torch::Tensor p = pos;
  if (stress) {
    strain = torch::zeros({g.numGraphs, 3, 3}, pos.options().requires_grad(true));
    auto s = applyStrain(g, pos, strain);
    p = s.positions;
    cell = s.cell;
  }
  const auto atomE = atomEnergies(g, p, cell);
  EnergyOutput o;
  const auto netE = torch::zeros({g.numGraphs}, atomE.options()).index_add(0, g.batch, atomE);
  o.energy = netE.to(torch::kFloat64) + e0Sum(g);
  if (forces || stress) {
    std::vector<torch::Tensor> inputs;
    if (forces) inputs.push_back(pos);
    if (stress) inputs.push_back(strain);
    auto grads = torch::autograd::grad({netE.sum()}, inputs, {}, createGraph, createGraph, true);
    std::size_t k = 0;
    if (forces) o.forces = grads[k].defined() ? -grads[k] : torch::zeros_like(pos);
    ++k;
    if (stress) o.stress = stressFromStrainGradient(g, grads[k].defined() ? grads[k] : torch::zeros_like(strain));
  }
  if (!createGraph) {
    o.energy = o.energy.detach();
    if (o.forces.defined()) o.forces = o.forces.detach();
    if (o.stress.defined()) o.stress = o.stress.detach();
  }
  return o;
}

void savePonita(const fs::path& file, Ponita& model) {
  torch::serialize::OutputArchive out;
  model->save(out);
  out.write("ponita_config", c10::IValue(model->config.toJson().dump()));
  const auto tmp = file.string() + ".tmp";
  out.save_to(tmp);
  fs::rename(tmp, file);
}

Ponita loadPonita(const fs::path& file, const torch::Device& device, torch::Dtype dtype) {
  if (!fs::exists(file)) throw ForceFieldError("PONITA model file '" + file.string() + "' does not exist");
  torch::serialize::InputArchive in;
  try {
    in.load_from(file.string(), torch::kCPU);
  } catch (const std::exception& e) {
    throw ForceFieldError("PONITA model file '" + file.string() + "' is not a readable torch archive: " + e.what());
  }
  c10::IValue v;
  if (!in.try_read("ponita_config", v) || !v.isString())
    throw ForceFieldError("'" + file.string() + "' is not a PONITA model file (no ponita_config)");
  Ponita m(PonitaConfig::fromJson(Json::parse(v.toStringRef())));
  try {
    // Module::load assigns storage without converting: match the file's dtype first.
    torch::serialize::InputArchive embed;
    torch::Tensor w;
    in.read("embed", embed);
    embed.read("weight", w);
    m->to(w.scalar_type());
    m->load(in);
  } catch (const std::exception& e) {
    throw ForceFieldError("PONITA model file '" + file.string() + "': weights do not fit its config: " + e.what());
  }
  m->to(device, dtype);
  m->eval();
  return m;
}

}  // namespace atomscope::forcefield
