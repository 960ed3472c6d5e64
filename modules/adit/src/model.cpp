#include "atomscope/adit/model.h"

#include <cmath>
#include <limits>

#include <torch/version.h>

#include "atomscope/core/torch_rotations.h"

namespace atomscope::adit {

namespace nn = torch::nn;

namespace {

c10::optional<at::Generator> opt(torch::Generator* g) {
  if (!g) return c10::nullopt;
  return *g;
}

// Random tensors are drawn on the device d with the caller's generator (which must live there: the
// training loop gives each step a generator of its device seeded from the run seed and the step).
torch::Tensor randn(torch::IntArrayRef shape, torch::Generator* g, const torch::Device& d) {
  return at::randn(shape, opt(g), torch::TensorOptions().dtype(torch::kFloat32).device(d));
}
torch::Tensor rand(torch::IntArrayRef shape, torch::Generator* g, const torch::Device& d) {
  return at::rand(shape, opt(g), torch::TensorOptions().dtype(torch::kFloat32).device(d));
}

torch::Tensor indexEmbedding(std::int64_t N, int width, const torch::Device& d) {
  return sinusoidal(torch::arange(N, torch::TensorOptions().dtype(torch::kFloat32).device(d)), width);
}

nn::Sequential mlp(int in, int width) {
  return nn::Sequential(nn::Linear(in, width), nn::SiLU(), nn::Linear(width, width));
}

}  // namespace

torch::Tensor sinusoidal(const torch::Tensor& x, int dim) {
  const int half = dim / 2;
  auto freqs = torch::exp(-std::log(10000.0) *
                          torch::arange(half, torch::TensorOptions().dtype(torch::kFloat32).device(x.device())) /
                          static_cast<double>(half));
  auto args = x.to(torch::kFloat32).unsqueeze(-1) * freqs;
  auto out = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2) out = torch::cat({out, torch::zeros_like(out.narrow(-1, 0, 1))}, -1);
  return out;
}

// ---- configs -------------------------------------------------------------------------------------

Json VaeConfig::toJson() const {
  return {{"width", width}, {"heads", heads}, {"encoder_layers", encoderLayers},
          {"decoder_layers", decoderLayers}, {"latent", latent}, {"max_atoms", maxAtoms}};
}
VaeConfig VaeConfig::fromJson(const Json& j) {
  VaeConfig c;
  c.width = j.value("width", c.width);
  c.heads = j.value("heads", c.heads);
  c.encoderLayers = j.value("encoder_layers", c.encoderLayers);
  c.decoderLayers = j.value("decoder_layers", c.decoderLayers);
  c.latent = j.value("latent", c.latent);
  c.maxAtoms = j.value("max_atoms", c.maxAtoms);
  if (c.width <= 0 || c.heads <= 0 || c.width % c.heads || c.latent <= 0)
    throw AditError("VAE config: width must be a positive multiple of heads, latent positive");
  return c;
}
VaeConfig VaeConfig::preset(const std::string& name) {
  VaeConfig c;
  if (name == "tiny") c.width = 64, c.heads = 4, c.encoderLayers = 2, c.decoderLayers = 2;
  else if (name == "small") c.width = 128, c.heads = 4, c.encoderLayers = 4, c.decoderLayers = 4;  // sample models
  else if (name == "S") c.width = 256, c.heads = 8, c.encoderLayers = 6, c.decoderLayers = 6;
  else if (name == "B") c.width = 512, c.heads = 8, c.encoderLayers = 8, c.decoderLayers = 8;
  else if (name == "L") c.width = 768, c.heads = 12, c.encoderLayers = 12, c.decoderLayers = 12;
  else throw AditError("unknown VAE size '" + name + "' (tiny, small, S, B, L)");
  return c;
}

Json DitConfig::toJson() const {
  return {{"width", width}, {"heads", heads}, {"layers", layers}, {"latent", latent}, {"max_atoms", maxAtoms},
          {"class_dropout", classDropout}, {"space_group_condition", spaceGroupCondition},
          {"composition_condition", compositionCondition}, {"composition_input", compositionInput}};
}
DitConfig DitConfig::fromJson(const Json& j) {
  DitConfig c;
  c.width = j.value("width", c.width);
  c.heads = j.value("heads", c.heads);
  c.layers = j.value("layers", c.layers);
  c.latent = j.value("latent", c.latent);
  c.maxAtoms = j.value("max_atoms", c.maxAtoms);
  c.classDropout = j.value("class_dropout", c.classDropout);
  c.spaceGroupCondition = j.value("space_group_condition", c.spaceGroupCondition);
  c.compositionCondition = j.value("composition_condition", false);
  c.compositionInput = j.value("composition_input", std::string("fractions"));
  if (c.compositionInput != "counts" && c.compositionInput != "fractions")
    throw AditError("DiT config: composition_input must be 'counts' or 'fractions', not '" + c.compositionInput + "'");
  if (c.width <= 0 || c.heads <= 0 || c.width % c.heads || c.latent <= 0)
    throw AditError("DiT config: width must be a positive multiple of heads, latent positive");
  return c;
}
DitConfig DitConfig::preset(const std::string& name) {
  DitConfig c;
  if (name == "tiny") c.width = 64, c.heads = 4, c.layers = 2;
  else if (name == "small") c.width = 256, c.heads = 4, c.layers = 8;  // sample models: ~10M weights, 19 MB in float16
  else if (name == "S") c.width = 384, c.heads = 6, c.layers = 12;  // the paper's sizes (issue 7)
  else if (name == "B") c.width = 768, c.heads = 12, c.layers = 12;
  else if (name == "L") c.width = 1024, c.heads = 16, c.layers = 24;
  else throw AditError("unknown DiT size '" + name + "' (tiny, small, S, B, L)");
  return c;
}

// ---- Transformer block ----------------------------------------------------------------------------

BlockImpl::BlockImpl(int width, int h, bool affine) : heads(h) {
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({width}).elementwise_affine(affine)));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({width}).elementwise_affine(affine)));
  qkv = register_module("qkv", nn::Linear(width, 3 * width));
  proj = register_module("proj", nn::Linear(width, width));
  fc1 = register_module("fc1", nn::Linear(width, 4 * width));
  fc2 = register_module("fc2", nn::Linear(4 * width, width));
}

torch::Tensor BlockImpl::attention(const torch::Tensor& x, const torch::Tensor& mask) {
  const auto B = x.size(0), N = x.size(1), W = x.size(2);
  auto q = qkv->forward(x).view({B, N, 3, heads, W / heads}).permute({2, 0, 3, 1, 4});
  auto attnMask = mask.view({B, 1, 1, N});
#if TORCH_VERSION_MAJOR >= 2
  auto y = at::scaled_dot_product_attention(q[0], q[1], q[2], attnMask, 0.0, false);
#else
  auto scores = torch::matmul(q[0], q[1].transpose(-2, -1)) / std::sqrt(static_cast<double>(W / heads));
  scores = scores.masked_fill(attnMask.logical_not(), -std::numeric_limits<float>::infinity());
  auto y = torch::matmul(torch::softmax(scores, -1), q[2]);
#endif
  return proj->forward(y.transpose(1, 2).reshape({B, N, W}));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto h = x + attention(norm1->forward(x), mask);
  return h + fc2->forward(torch::gelu(fc1->forward(norm2->forward(h))));
}

// ---- token embedding and VAE ----------------------------------------------------------------------

TokenEmbeddingImpl::TokenEmbeddingImpl(int w) : width(w) {
  atom = register_module("atom", nn::Embedding(kMaxZ + 1, w));
  posMlp = register_module("pos_mlp", mlp(3, w));
  fracMlp = register_module("frac_mlp", mlp(3, w));
}

torch::Tensor TokenEmbeddingImpl::forward(const Batch& b) {
  const auto N = b.numbers.size(1);
  return atom->forward(b.numbers) + posMlp->forward(b.positions) + fracMlp->forward(b.fractional) +
         indexEmbedding(N, width, b.numbers.device()).unsqueeze(0);
}

VaeImpl::VaeImpl(const VaeConfig& c) : config(c) {
  embed = register_module("embed", TokenEmbedding(c.width));
  encoder = register_module("encoder", nn::ModuleList());
  decoder = register_module("decoder", nn::ModuleList());
  for (int i = 0; i < c.encoderLayers; ++i) encoder->push_back(Block(c.width, c.heads));
  for (int i = 0; i < c.decoderLayers; ++i) decoder->push_back(Block(c.width, c.heads));
  encNorm = register_module("enc_norm", nn::LayerNorm(nn::LayerNormOptions({c.width})));
  decNorm = register_module("dec_norm", nn::LayerNorm(nn::LayerNormOptions({c.width})));
  toLatent = register_module("to_latent", nn::Linear(c.width, 2 * c.latent));
  fromLatent = register_module("from_latent", nn::Linear(c.latent, c.width));
  atomHead = register_module("atom_head", nn::Linear(c.width, kMaxZ + 1));
  posHead = register_module("pos_head", nn::Linear(c.width, 3));
  fracHead = register_module("frac_head", nn::Linear(c.width, 3));
  latticeHead = register_module("lattice_head", nn::Linear(c.width, 6));
}

std::pair<torch::Tensor, torch::Tensor> VaeImpl::encode(const Batch& b) {
  if (b.numbers.size(1) > config.maxAtoms)
    throw AditError("structure with " + std::to_string(b.numbers.size(1)) + " atoms; the VAE supports " +
                    std::to_string(config.maxAtoms));
  auto x = embed->forward(b);
  for (const auto& m : *encoder) x = m->as<Block>()->forward(x, b.mask);
  auto stats = toLatent->forward(encNorm->forward(x));
  auto m = b.mask.unsqueeze(-1).to(stats.dtype());
  auto mean = stats.narrow(-1, 0, config.latent) * m;
  auto logvar = stats.narrow(-1, config.latent, config.latent).clamp(-30.0, 20.0) * m;
  return {mean, logvar};
}

VaeOutput VaeImpl::decode(const torch::Tensor& z, const torch::Tensor& mask) {
  const auto N = z.size(1);
  auto x = fromLatent->forward(z) + indexEmbedding(N, config.width, z.device()).unsqueeze(0);
  for (const auto& m : *decoder) x = m->as<Block>()->forward(x, mask);
  x = decNorm->forward(x);
  VaeOutput o;
  o.atomLogits = atomHead->forward(x);
  auto m = mask.unsqueeze(-1).to(x.dtype());
  o.positions = posHead->forward(x) * m;
  o.fractional = fracHead->forward(x) * m;
  auto pooled = (x * m).sum(1) / m.sum(1).clamp_min(1.0);
  o.lattice = latticeHead->forward(pooled);
  o.z = z;
  return o;
}

VaeOutput VaeImpl::forward(const Batch& b, bool sample, torch::Generator* gen, double latentNoise) {
  auto [mean, logvar] = encode(b);
  auto z = mean;
  const auto m = b.mask.unsqueeze(-1).to(mean.dtype());
  if (sample) z = mean + torch::exp(0.5 * logvar) * randn(mean.sizes(), gen, mean.device()) * m;
  if (latentNoise > 0) {
    // Relative to the batch's latent RMS (detached), so the setting does not depend on the latent scale.
    auto rms = torch::sqrt((mean.detach().to(torch::kFloat32).pow(2) * m).sum() / (m.sum() * config.latent).clamp_min(1.0));
    z = z + latentNoise * rms * randn(mean.sizes(), gen, mean.device()) * m;
  }
  auto o = decode(z, b.mask);
  o.mean = mean;
  o.logvar = logvar;
  return o;
}

VaeLoss vaeLoss(const VaeOutput& o, const Batch& b, double klWeight) {
  VaeLoss l;
  const auto m = b.mask.to(torch::kFloat32);
  const auto atoms = m.sum().clamp_min(1.0);
  auto logits = o.atomLogits.to(torch::kFloat32);
  auto ce = torch::nn::functional::cross_entropy(logits.reshape({-1, kMaxZ + 1}), b.numbers.reshape({-1}),
                                                 torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  l.atoms = (ce * m.reshape({-1})).sum() / atoms;
  l.positions = ((o.positions.to(torch::kFloat32) - b.positions).pow(2).sum(-1) * m).sum() / (3.0 * atoms);
  const auto crystal = (b.kind == static_cast<int>(Kind::Crystal)).to(torch::kFloat32);  // [B]
  const auto cm = m * crystal.unsqueeze(1);
  l.fractional = ((o.fractional.to(torch::kFloat32) - b.fractional).pow(2).sum(-1) * cm).sum() /
                 (3.0 * cm.sum().clamp_min(1.0));
  l.lattice = ((o.lattice.to(torch::kFloat32) - b.lattice).pow(2).sum(-1) * crystal).sum() /
              (6.0 * crystal.sum().clamp_min(1.0));
  auto mean = o.mean.to(torch::kFloat32), logvar = o.logvar.to(torch::kFloat32);
  auto kl = -0.5 * (1.0 + logvar - mean.pow(2) - logvar.exp()).sum(-1);
  l.kl = (kl * m).sum() / atoms;
  l.total = l.atoms + l.positions + l.fractional + l.lattice + klWeight * l.kl;
  return l;
}

// ---- DiT ------------------------------------------------------------------------------------------

AdaLnBlockImpl::AdaLnBlockImpl(int width, int heads) {
  inner = register_module("inner", Block(width, heads, false));
  modulation = register_module("modulation", nn::Linear(width, 6 * width));
  nn::init::zeros_(modulation->weight);  // adaLN-Zero: every block starts as the identity
  nn::init::zeros_(modulation->bias);
}

torch::Tensor AdaLnBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c, const torch::Tensor& mask) {
  auto mod = modulation->forward(torch::silu(c)).unsqueeze(1).chunk(6, -1);
  auto h = inner->norm1->forward(x) * (1 + mod[1]) + mod[0];
  auto y = x + mod[2] * inner->attention(h, mask);
  auto h2 = inner->norm2->forward(y) * (1 + mod[4]) + mod[3];
  return y + mod[5] * inner->fc2->forward(torch::gelu(inner->fc1->forward(h2)));
}

DitImpl::DitImpl(const DitConfig& c) : config(c) {
  in = register_module("input_proj", nn::Linear(2 * c.latent, c.width));  // x_t and the self-conditioning estimate
  timeMlp = register_module("time_mlp", mlp(c.width, c.width));
  kindEmbed = register_module("kind_embed", nn::Embedding(kNumKinds + 1, c.width));      // 0: none
  groupEmbed = register_module("group_embed", nn::Embedding(kNumSpaceGroups + 1, c.width));  // 0: none
  natomsProj = register_module("natoms_proj", nn::Linear(c.width, c.width));
  if (c.compositionCondition) {  // zero at the start: the model begins as the unconditioned one
    compositionProj = register_module("composition_proj", nn::Linear(kCompositionElements, c.width));
    nn::init::zeros_(compositionProj->weight);
    nn::init::zeros_(compositionProj->bias);
  }
  blocks = register_module("blocks", nn::ModuleList());
  for (int i = 0; i < c.layers; ++i) blocks->push_back(AdaLnBlock(c.width, c.heads));
  finalNorm = register_module("final_norm", nn::LayerNorm(nn::LayerNormOptions({c.width}).elementwise_affine(false)));
  finalModulation = register_module("final_modulation", nn::Linear(c.width, 2 * c.width));
  out = register_module("out", nn::Linear(c.width, c.latent));
  nn::init::zeros_(finalModulation->weight);
  nn::init::zeros_(finalModulation->bias);
  nn::init::zeros_(out->weight);
  nn::init::zeros_(out->bias);
}

torch::Tensor DitImpl::forward(const torch::Tensor& xt, const torch::Tensor& t, const DitCondition& cond,
                               const torch::Tensor& mask, const torch::Tensor& selfCond) {
  const auto N = xt.size(1);
  if (N > config.maxAtoms) throw AditError("the DiT supports at most " + std::to_string(config.maxAtoms) + " atoms");
  auto x = in->forward(torch::cat({xt, selfCond}, -1)) + indexEmbedding(N, config.width, xt.device()).unsqueeze(0);
  auto c = timeMlp->forward(sinusoidal(t * 1000.0, config.width)) + kindEmbed->forward(cond.kind + 1) +
           natomsProj->forward(sinusoidal(cond.natoms, config.width));
  if (config.spaceGroupCondition) c = c + groupEmbed->forward(cond.spaceGroup.clamp(0, kNumSpaceGroups));
  if (config.compositionCondition && cond.composition.defined())
    c = c + compositionProj->forward(cond.composition.to(c.scalar_type()));
  for (const auto& b : *blocks) x = b->as<AdaLnBlock>()->forward(x, c, mask);
  auto mod = finalModulation->forward(torch::silu(c)).unsqueeze(1).chunk(2, -1);
  x = finalNorm->forward(x) * (1 + mod[1]) + mod[0];
  return out->forward(x) * mask.unsqueeze(-1).to(x.dtype());
}

torch::Tensor compositionCounts(const torch::Tensor& numbers, const torch::Tensor& mask) {
  const auto real = mask.to(torch::kFloat32);
  const auto z = torch::where(mask, numbers, torch::zeros_like(numbers)).clamp(0, kCompositionElements + 1);
  // Column 0 takes padding, column kCompositionElements + 1 the elements past the vector's range: both dropped.
  const auto counts = torch::zeros({numbers.size(0), kCompositionElements + 2}, real.options()).scatter_add_(1, z, real);
  return counts.narrow(1, 1, kCompositionElements);
}

torch::Tensor compositionVector(const DitConfig& config, const torch::Tensor& counts, const torch::Tensor& natoms) {
  if (config.compositionInput == "counts") return counts;
  return counts / natoms.to(counts.scalar_type()).unsqueeze(1).clamp_min(1.0);
}

torch::Tensor randomRotations(std::int64_t B, torch::Generator* gen, const torch::Device& d) {
  return core::rotationsFromQuaternions(randn({B, 4}, gen, d));
}

torch::Tensor centredNoise(const torch::IntArrayRef shape, const torch::Tensor& mask, torch::Generator* gen) {
  auto m = mask.unsqueeze(-1).to(torch::kFloat32);
  auto n = randn(shape, gen, mask.device()) * m;
  auto mean = n.sum(1, true) / m.sum(1, true).clamp_min(1.0);
  return (n - mean) * m;
}

torch::Tensor flowMatchingLoss(const torch::Tensor& predicted, const torch::Tensor& x1, const torch::Tensor& t,
                               const torch::Tensor& mask) {
  auto m = mask.unsqueeze(-1).to(torch::kFloat32);
  const auto D = static_cast<double>(x1.size(-1));
  auto err = ((predicted.to(torch::kFloat32) - x1).pow(2) * m).sum({1, 2}) / (m.sum({1, 2}).clamp_min(1.0) * D);
  auto w = 1.0 / (1.0 - t.clamp_max(0.9)).pow(2);
  return (err * w).mean();
}

torch::Tensor ditTrainingLoss(Dit& model, const torch::Tensor& x1All, DitCondition cond, const torch::Tensor& maskAll,
                              torch::Generator* gen, bool useSelfCond, BatchRows rows) {
  const auto B = x1All.size(0);
  const auto d = x1All.device();
  const auto n = rows.size < 0 ? B : rows.size;
  const auto mine = [&](const torch::Tensor& t) { return t.narrow(0, rows.first, n); };
  const auto x1 = mine(x1All), mask = mine(maskAll);
  auto t = mine(rand({B}, gen, d)) * 0.98 + 0.01;
  auto x0 = mine(centredNoise(x1All.sizes(), maskAll, gen));
  auto tt = t.view({n, 1, 1});
  auto xt = ((1 - tt) * x0 + tt * x1) * mask.unsqueeze(-1).to(x1.dtype());
  const double p = model->config.classDropout;
  auto dropKind = mine(rand({B}, gen, d)) < p;
  auto dropGroup = mine(rand({B}, gen, d)) < p;
  cond.kind = mine(cond.kind);
  cond.spaceGroup = mine(cond.spaceGroup);
  if (cond.natoms.defined()) cond.natoms = mine(cond.natoms);
  cond.kind = torch::where(dropKind, torch::full_like(cond.kind, -1), cond.kind);
  cond.spaceGroup = torch::where(dropGroup, torch::zeros_like(cond.spaceGroup), cond.spaceGroup);
  if (cond.composition.defined()) {  // its own draw, made only here: unconditioned training draws as before
    const auto dropComposition = mine(rand({B}, gen, d)) < p;
    cond.composition = mine(cond.composition) * (~dropComposition).unsqueeze(1).to(cond.composition.scalar_type());
  }
  auto sc = torch::zeros_like(x1);
  if (useSelfCond) {
    torch::NoGradGuard g;
    sc = model->forward(xt, t, cond, mask, sc).detach().to(x1.dtype());
  }
  auto pred = model->forward(xt, t, cond, mask, sc);
  return flowMatchingLoss(pred, x1, t, mask);
}

torch::Tensor sampleFlow(const X1Predictor& predict, torch::Tensor x, const SamplerOptions& o, const torch::Tensor& mask) {
  if (o.steps < 1) throw AditError("sampler: steps must be at least 1");
  auto m = mask.unsqueeze(-1).to(x.dtype());
  auto sc = torch::zeros_like(x);
  const double dt = 1.0 / o.steps;
  for (int i = 0; i < o.steps; ++i) {
    const double t = i * dt;
    auto x1 = predict(x, t, sc);
    auto v = (x1 - x) / (1.0 - t);
    if (o.heun && i + 1 < o.steps) {
      auto xe = x + dt * v;
      auto x1e = predict(xe, t + dt, x1);
      auto ve = (x1e - xe) / (1.0 - t - dt);
      x = x + 0.5 * dt * (v + ve);
    } else {
      x = x + dt * v;
    }
    x = x * m;
    sc = x1;
  }
  return x;
}

X1Predictor ditPredictor(Dit& model, const DitCondition& cond, const torch::Tensor& mask, double guidance) {
  return [&model, cond, mask, guidance](const torch::Tensor& xt, double t, const torch::Tensor& sc) {
    torch::NoGradGuard g;
    const auto B = xt.size(0);
    auto tt = torch::full({B}, t, xt.options().dtype(torch::kFloat32));
    if (guidance == 1.0) return model->forward(xt, tt, cond, mask, sc).to(xt.dtype());
    DitCondition both{torch::cat({cond.kind, torch::full_like(cond.kind, -1)}),
                      torch::cat({cond.spaceGroup, torch::zeros_like(cond.spaceGroup)}),
                      torch::cat({cond.natoms, cond.natoms})};
    if (cond.composition.defined()) both.composition = torch::cat({cond.composition, torch::zeros_like(cond.composition)});
    auto out = model->forward(torch::cat({xt, xt}), torch::cat({tt, tt}), both, torch::cat({mask, mask}),
                              torch::cat({sc, sc})).to(xt.dtype());
    auto c = out.narrow(0, 0, B), u = out.narrow(0, B, B);
    return u + guidance * (c - u);
  };
}

}  // namespace atomscope::adit
