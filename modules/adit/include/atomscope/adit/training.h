#pragma once
// ADiT training, sampling and evaluation as library calls (the adit.* jobs wrap them): a training
// loop with AdamW, EMA weights, bf16 autocast on CUDA, resumable checkpoints in a RunDir and
// per-step reproducible randomness (the batch and noise of step s depend only on seed and s, so a
// resumed run continues exactly as an uninterrupted one); VAE training on the prepared records,
// DiT training on latents encoded once by the VAE (ADiT trains its DiT on a frozen VAE's latents);
// sampling N structures with atom counts drawn from the training histogram; validity, uniqueness
// and novelty with modules/chem's ADiT metrics (validity.h, molecule_perception.h).
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "atomscope/adit/dataset.h"
#include "atomscope/adit/model.h"
#include "atomscope/core/distributed.h"
#include "atomscope/core/job.h"

namespace atomscope::adit {

struct TrainSettings {
  long long steps = 1000;
  long long batchSize = 64;
  double lr = 1e-4, weightDecay = 0.0, gradClip = 1.0;
  long long warmup = 0;
  double emaDecay = 0.999;
  long long checkpointEvery = 100;
  long long logEvery = 20;  // the loss is read back (a device sync) and reported every N steps and at checkpoints
  double maxSeconds = 0;    // > 0: stop cleanly with a checkpoint once training has run this long
  bool autocast = false;    // bf16 on CUDA
  // CUDA, one process: after a few eager steps, capture the whole step (loss, backward, clipping,
  // AdamW, EMA) as CUDA graphs and replay them: one launch per step instead of thousands. Needs a
  // loss without host reads or data-dependent shapes; its random draws then come from the graph's
  // own offsets of the step's seed (reproducible run to run, not equal to the eager draws).
  bool cudaGraph = false;
};

// One step's loss. gen lives on the training device and is seeded from the run seed and the step
// only, so a resumed run draws exactly what an uninterrupted one does.
using StepLoss = std::function<torch::Tensor(long long step, torch::Generator& gen)>;
// The control-flow variant of step s's loss (e.g. whether it uses self-conditioning): with CUDA
// graphs one graph is captured per variant, and step s replays graph variant(s). Empty: one variant.
using StepVariant = std::function<int(long long step)>;

struct TrainResult {
  double lastLoss = 0;  // mean loss of the last reporting window
  long long steps = 0;
  double stepsPerSecond = 0;
  bool stoppedByTime = false;
  bool cudaGraphs = false;  // whether steps were replayed from CUDA graphs
};

// A deterministic 64-bit hash of (seed, step, salt): host-side coin flips (e.g. whether a DiT step
// uses self-conditioning) without touching the device.
std::uint64_t stepHash(unsigned long long seed, long long step, std::uint64_t salt);

// The shared loop. `ema` receives the EMA parameters at the end (same order as module.parameters()).
// comm (data parallel, distributed.h): every rank starts from rank 0's weights, gradients are
// averaged over the ranks in the backward pass, and only rank 0 writes checkpoints. The loss must
// then be this rank's part of the batch loss times the number of ranks (the mean over ranks of the
// losses, and so of their gradients, is the whole batch's); the reported loss is that mean.
TrainResult trainLoop(core::Context& ctx, torch::nn::Module& module, const StepLoss& loss, const TrainSettings& s,
                      std::vector<torch::Tensor>& ema, std::shared_ptr<core::Communicator> comm = nullptr,
                      const StepVariant& variant = {});

// Model files: torch archives holding the config (JSON text), the weights and, for the DiT, the
// atom-count histogram and the latent scale it was trained with.
// dtype: float32, or float16 / bfloat16 to halve the file (loading converts back to float32).
void saveVae(const std::filesystem::path& file, Vae& vae, torch::Dtype dtype = torch::kFloat32);
Vae loadVae(const std::filesystem::path& file, const torch::Device& device = torch::kCPU);

struct DitBundle {
  Dit dit{nullptr};
  std::vector<std::vector<std::int64_t>> atomCounts;  // histogram per kind (what sampling draws from)
  std::vector<std::int64_t> spaceGroups;              // crystal space-group histogram (index = number)
  // Per kind, the training compositions (compositionKey) and how many records had each: what a DiT conditioned on
  // composition samples from. Empty in files written before it.
  std::vector<std::map<std::string, std::int64_t>> compositions;
  double latentScale = 1.0;                           // latents are divided by this for the DiT
};
void saveDit(const std::filesystem::path& file, DitBundle& dit, torch::Dtype dtype = torch::kFloat32);
DitBundle loadDit(const std::filesystem::path& file, const torch::Device& device = torch::kCPU);

// Latent means of every record (VAE in eval mode), concatenated like Records' atoms: [A, latent].
torch::Tensor encodeRecords(Vae& vae, const Records& r, long long batchSize, const torch::Device& device,
                            core::Feedback* fb = nullptr);

// Padded batch of latents [B, N, latent] and mask for records `indices`.
std::pair<torch::Tensor, torch::Tensor> latentBatch(const torch::Tensor& latents, const Records& r,
                                                    const std::vector<std::int64_t>& indices);

struct SampleOptions {
  Kind kind = Kind::Molecule;
  int spaceGroup = 0;  // 0: unconditioned
  std::string composition;  // a formula for every sample (DiTs conditioned on composition); empty: from the training set
  long long count = 10, batchSize = 256;
  int steps = 100;
  double guidance = 1.0;  // 1: no guidance (the paper samples at 2)
  bool heun = false;
  // A DiT conditioned on composition: give each sample's atoms exactly the elements it was asked for, the assignment
  // most likely under the decoder's type probabilities, instead of each atom's likeliest type on its own.
  bool enforceComposition = false;
  unsigned long long seed = 0;
};

// Decoded structures (molecules centred at the origin; crystals on their decoded lattice).
chem::Trajectory sampleStructures(Vae& vae, DitBundle& dit, const SampleOptions& o, const torch::Device& device,
                                  core::Feedback* fb = nullptr);
// Decoded fields to structures: atom types by argmax, positions (molecules) or fractional
// coordinates + lattice (crystals). With `compositions` (one per structure; an empty one, or one whose atom count
// differs from the structure's, is left to argmax), each structure's atoms get exactly those elements: the
// assignment of elements to atoms with the largest summed log-probability (linear assignment); info
// "retyped_atoms" says how many atoms differ from their argmax type.
chem::Trajectory decodeToStructures(const VaeOutput& out, const torch::Tensor& mask, const torch::Tensor& kind,
                                    const std::vector<std::map<int, int>>* compositions = nullptr);

struct EvaluationRow {
  std::string dataset;  // "molecule" or "crystal"
  std::size_t total = 0, valid = 0, validNeutral = 0, unique = 0, novel = 0;
  double validRate = 0, validNeutralRate = 0, uniqueRate = 0, novelRate = -1;
  // Crystals only (-1 for molecules): why the invalid ones fail, as CDVAE reports it. Composition and
  // structure (distances) rates are over all crystals; a lattice rejected first (angles outside
  // (50, 130) degrees, volume below 0.1 A^3) counts as failing both.
  double compositionValidRate = -1, structureValidRate = -1;
  std::size_t latticeRejected = 0;
  // Samples of a composition-conditioned DiT carry the formula they were asked for (info "asked_formula"): how many
  // did, and how many of those have exactly that formula (rate -1 when none did).
  std::size_t formulaAsked = 0, formulaMatched = 0;
  double formulaMatchRate = -1;
};

// Molecules: 'valid' = sanitizes and one fragment (ADiT's protocol); 'validNeutral' = also a neutral
// closed shell with the atoms as given (chem::validAndNeutral: no charge, no radical, no missing H). Crystals: chem::crystalValidity (validNeutral = valid). Reference: training
// structures for novelty (may be empty); referenceSmiles: more training molecules as SMILES (a QM9
// list). Novelty compares canonical SMILES without stereo (SMILES lists such as QM9's carry none).
EvaluationRow evaluateMolecules(const chem::Trajectory& molecules, const chem::Trajectory& reference,
                                core::Feedback* fb = nullptr, const std::vector<std::string>& referenceSmiles = {});

EvaluationRow evaluateCrystals(const chem::Trajectory& crystals, const chem::Trajectory& reference,
                               core::Feedback* fb = nullptr);


}  // namespace atomscope::adit
