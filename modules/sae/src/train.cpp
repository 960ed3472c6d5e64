// The SAE training loop: input transform, threshold initialisation, Adam, the L0 controller,
// decoder normalisation, dead-latent resampling, streamed metrics.
#include "atomscope/sae/train.h"

#include <chrono>
#include <cmath>
#include <random>
#include <tuple>

namespace atomscope::sae {

namespace {

using Clock = std::chrono::steady_clock;

// Adam over a fixed list of tensors, with per-row moment resets for resampled latents.
class Adam {
 public:
  Adam(std::vector<torch::Tensor> params, std::vector<double> lrScale) : params_(std::move(params)), scale_(std::move(lrScale)) {
    for (const auto& p : params_) {
      m_.push_back(torch::zeros_like(p));
      v_.push_back(torch::zeros_like(p));
    }
  }
  void step(double lr) {
    ++t_;
    const double bc1 = 1.0 - std::pow(b1_, static_cast<double>(t_));
    const double bc2 = 1.0 - std::pow(b2_, static_cast<double>(t_));
    torch::NoGradGuard g;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& grad = params_[i].grad();
      if (!grad.defined()) continue;
      m_[i].mul_(b1_).add_(grad, 1.0 - b1_);
      v_[i].mul_(b2_).addcmul_(grad, grad, 1.0 - b2_);
      params_[i].addcdiv_(m_[i], (v_[i] / bc2).sqrt_().add_(eps_), -lr * scale_[i] / bc1);
    }
  }
  void zeroGrad() {
    for (auto& p : params_)
      if (p.grad().defined()) p.mutable_grad().zero_();
  }
  void setScale(std::size_t i, double scale) { scale_[i] = scale; }
  // Zeroes the moments of parameter i at `index` along `dim`.
  void resetMoments(std::size_t i, std::int64_t dim, const torch::Tensor& index) {
    m_[i].index_fill_(dim, index, 0.0);
    v_[i].index_fill_(dim, index, 0.0);
  }

 private:
  std::vector<torch::Tensor> params_, m_, v_;
  std::vector<double> scale_;
  double b1_ = 0.9, b2_ = 0.999, eps_ = 1e-8;
  std::int64_t t_ = 0;
};

using BatchFn = std::function<torch::Tensor(std::uint64_t step)>;  // [B, d] float32 CPU

// The learning rate is constant until kDecayStart of the steps, then decays linearly to 0 over the
// remaining kDecayLength (= 1 - kDecayStart).
constexpr double kDecayStart = 0.8, kDecayLength = 0.2;

// Mean number of latents of `pre` [rows, n] at or above the thresholds exp(logTheta + shift).
double meanL0(const torch::Tensor& pre, const torch::Tensor& logTheta, double shift = 0) {
  return (pre >= (logTheta + shift).exp()).sum(-1).to(torch::kFloat64).mean().item<double>();
}

// The log of the common threshold factor that brings the mean L0 of `pre` [rows, n] to `target`:
// L0 falls monotonically as every threshold grows by the same factor, so bisection finds it.
double l0CalibrationShift(const torch::Tensor& pre, const torch::Tensor& logTheta, double target) {
  auto l0At = [&](double shift) { return meanL0(pre, logTheta, shift); };
  double lo = -8, hi = 8;  // factors e^-8 .. e^8
  if (l0At(lo) <= target) return lo;
  if (l0At(hi) >= target) return hi;
  for (int i = 0; i < 50; ++i) {
    const double mid = 0.5 * (lo + hi);
    (l0At(mid) > target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Refit draws come after the training (steps) and calibration draws.
constexpr std::uint64_t kRefitDrawOffset = 1000000;

// Least squares for the decoder with the codes fixed: [M; c] = argmin sum ||x - z M - c||² over
// `batches` batches (raw space, float64 normal equations), then W_dec = M A and b_dec = c A. Latents
// that never fire on those batches keep their rows. b_enc absorbs the change of b_dec so that
// pre = (x A - b_dec) W_enc + b_enc, and with it every code, is unchanged; the rows are then
// renormalised (normaliseDecoder rescales the encoder to match).
void refitDecoder(SaeImpl& sae, const BatchFn& nextBatch, std::uint64_t firstDraw, std::int64_t batches,
                  torch::Device device) {
  torch::NoGradGuard g;
  const auto n = sae.dSae(), d = sae.dIn();
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  auto gram = torch::zeros({n + 1, n + 1}, f64), cross = torch::zeros({n + 1, d}, f64);
  for (std::int64_t b = 0; b < batches; ++b) {
    const auto x = nextBatch(firstDraw + static_cast<std::uint64_t>(b)).to(device);
    const auto z = sae.encode(x).to(torch::kFloat64);
    const auto z1 = torch::cat({z, torch::ones({z.size(0), 1}, f64)}, 1);
    gram += torch::matmul(z1.t(), z1);
    cross += torch::matmul(z1.t(), x.to(torch::kFloat64));
  }
  const auto fired = torch::cat({gram.diagonal().slice(0, 0, n) > 0, torch::ones({1}, torch::TensorOptions().dtype(torch::kBool).device(device))});
  const auto keep = fired.nonzero().squeeze(1);
  const auto gk = gram.index_select(0, keep).index_select(1, keep);
  // A ridge of 1e-9 of the mean diagonal only guards against exactly collinear codes.
  const auto ridge = 1e-9 * gk.diagonal().mean() * torch::eye(gk.size(0), f64);
  const auto solution = torch::linalg_solve(gk + ridge, cross.index_select(0, keep));  // [k, d] raw space
  const auto A = sae.A.to(torch::kFloat64), rows = solution.slice(0, 0, solution.size(0) - 1);
  const auto latentIds = keep.slice(0, 0, keep.size(0) - 1);
  const auto oldBias = sae.b_dec.to(torch::kFloat64);
  const auto newBias = torch::matmul(solution.slice(0, solution.size(0) - 1), A).squeeze(0);
  sae.W_dec.index_copy_(0, latentIds, torch::matmul(rows, A).to(sae.W_dec.dtype()));
  sae.b_enc.add_(torch::matmul(newBias - oldBias, sae.W_enc.to(torch::kFloat64)).to(sae.b_enc.dtype()));
  sae.b_dec.copy_(newBias);
  sae.normaliseDecoder();
}

}  // namespace

bool calibrateThresholdsAtEnd(bool thresholdsFrozen, double l0, double target, double tolerance) {
  if (thresholdsFrozen) return true;
  return l0 - target > tolerance * target;
}

bool calibrationMovedFar(double l0Before, double l0After) {
  if (!(l0Before > 0) || !(l0After > 0)) return l0Before != l0After;
  return std::abs(std::log(l0After / l0Before)) > std::log(1.25);
}

namespace {

Sae trainImpl(const BatchFn& nextBatch, const Moments& moments, std::int64_t d, const TrainOptions& o,
              torch::Device device, core::Feedback& fb, TrainReport* report) {
  if (o.steps <= 0 || o.batch <= 0) throw SaeError("steps and batch must be positive");
  if (o.targetL0 < 0) throw SaeError("target L0 must be >= 0");
  if (o.bandwidth <= 0) throw SaeError("bandwidth must be positive");
  const auto n = o.latents > 0 ? o.latents : o.expansion * d;
  if (n <= 0) throw SaeError("the SAE needs at least one latent");
  torch::manual_seed(o.seed);
  auto sae = Sae(o.kind, d, n);
  sae->initialise();
  // Input transform.
  torch::Tensor A, Ainv;
  if (o.whiten) {
    const auto w = whiteningFromSecondMoment(moments.secondMoment);
    A = w.W;
    Ainv = w.Winv;
  } else {
    const double ms = moments.secondMoment.trace().item<double>();  // E||x||^2
    if (!(ms > 0)) throw SaeError("the activations are all zero");
    const double c = std::sqrt(static_cast<double>(d) / ms);
    A = torch::eye(d, torch::kFloat64) * c;
    Ainv = torch::eye(d, torch::kFloat64) / c;
  }
  sae->setInputTransform(A, Ainv);
  sae->setWhitened(o.whiten);
  sae->to(device);
  const auto meanRaw = moments.mean.to(torch::kFloat32).to(device);
  {
    torch::NoGradGuard g;
    sae->b_dec.copy_(torch::matmul(meanRaw, sae->A));  // b_dec at the data mean (transformed)
  }
  // Start at the target sparsity: each latent fires on about target/n of the inputs, through its
  // threshold (JumpReLU) or its encoder bias (ReLU).
  auto first = nextBatch(0).to(device);
  {
    torch::NoGradGuard g;
    auto pre = sae->preActivations(sae->toTransformed(first));
    const double p = o.targetL0 > 0 ? std::min(0.5, o.targetL0 / static_cast<double>(n)) : 0.1;
    auto q = std::get<0>(pre.sort(0)).select(0, std::min<std::int64_t>(pre.size(0) - 1,
                                                                          static_cast<std::int64_t>((1.0 - p) * static_cast<double>(pre.size(0)))));
    if (o.kind == SaeKind::JumpRelu) sae->logThreshold.copy_(q.clamp_min(1e-3).log());
    else sae->b_enc.copy_(-q);
  }
  std::vector<torch::Tensor> params{sae->W_enc, sae->b_enc, sae->W_dec, sae->b_dec};
  std::vector<double> scales(params.size(), 1.0);
  const std::size_t thresholdParam = params.size();  // logThreshold's index in Adam (JumpReLU)
  if (o.kind == SaeKind::JumpRelu) {
    params.push_back(sae->logThreshold);
    scales.push_back(o.thresholdLrScale);
  }
  Adam adam(params, scales);
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  // lambda = scale * sinh(u): multiplicative steps while |lambda| >> scale, and free to cross zero when
  // the data's own L0 (no penalty) lies below the target and firing must be rewarded instead.
  const double lambdaScale = 1e-4, lambdaUBound = 30.0;
  auto lambdaU = torch::full({}, std::asinh(o.sparsityInit / lambdaScale), fopts);
  auto lambda = lambdaScale * torch::sinh(lambdaU);
  auto lastFired = torch::zeros({n}, torch::TensorOptions().dtype(torch::kLong).device(device));
  const std::int64_t deadSteps = std::max<std::int64_t>(1, o.deadWindow / o.batch);
  const double totalVar = std::max(1e-30, moments.totalVariance);
  TrainReport rep;
  const auto t0 = Clock::now();
  // Running sums for the metrics between two log points (on the device until logged).
  auto accMse = torch::zeros({}, fopts), accSse = torch::zeros({}, fopts), accL0 = torch::zeros({}, fopts);
  std::int64_t accN = 0;
  // JumpReLU calibration: the thresholds scaled by one factor so that fresh batches (never drawn by the
  // loop) reach the target L0 exactly. calibrationPre: their pre-activations; scaleTo returns the mean
  // L0 before and after.
  const bool calibrate = o.kind == SaeKind::JumpRelu && o.targetL0 > 0 && o.calibrateL0 && o.calibrationBatches > 0;
  std::uint64_t calibrationDraw = static_cast<std::uint64_t>(o.steps);
  auto calibrationPre = [&] {
    torch::NoGradGuard g;
    std::vector<torch::Tensor> pres;
    for (std::int64_t b = 0; b < o.calibrationBatches; ++b)
      pres.push_back(sae->preActivations(sae->toTransformed(nextBatch(calibrationDraw++).to(device))));
    return torch::cat(pres);
  };
  auto scaleTo = [&](const torch::Tensor& pre) -> std::pair<double, double> {
    torch::NoGradGuard g;
    const double before = meanL0(pre, sae->logThreshold);
    const double shift = l0CalibrationShift(pre, sae->logThreshold, o.targetL0);
    sae->logThreshold.add_(shift);
    rep.thresholdFactor *= std::exp(shift);
    return {before, meanL0(pre, sae->logThreshold)};
  };
  const auto offTarget = [&](double l0) { return std::abs(l0 - o.targetL0) > o.calibrationTolerance * o.targetL0; };
  // What the warnings below advise when a calibration had to move the L0 far (calibrationMovedFar).
  const std::string controllerAdvice = "A faster controller (controller_rate, now " + std::to_string(o.controllerRate) +
                                       "; 0.1 followed the target on the 512-wide model) or more steps keep the L0 "
                                       "near the target while training";
  // At the start of the learning-rate decay, if the L0 is off target, the thresholds are calibrated
  // and then frozen, so the encoder and decoder spend the decay adapting to the gating they will be used
  // with; on target, the controller carries on. Frozen thresholds leave the L0 to the encoder alone (on
  // 512 rows with 16x latents the one calibration at the end then cut R^2 from 0.978 to 0.655), so they
  // are calibrated again kRecalibrations times through the decay, the encoder and decoder following each.
  const std::int64_t freezeAt = calibrate ? static_cast<std::int64_t>(kDecayStart * static_cast<double>(o.steps)) : -1;
  constexpr std::int64_t kRecalibrations = 10;
  const std::int64_t recalibrateEvery = std::max<std::int64_t>(1, (o.steps - freezeAt) / (kRecalibrations + 1));
  bool thresholdsFrozen = false;
  for (std::int64_t step = 0; step < o.steps; ++step) {
    fb.throwIfCancelled();
    if (thresholdsFrozen && step > freezeAt && (step - freezeAt) % recalibrateEvery == 0 &&
        o.steps - step >= recalibrateEvery) {
      scaleTo(calibrationPre());
    }
    if (step == freezeAt && step > 0) {
      const auto pre = calibrationPre();
      const double now = meanL0(pre, sae->logThreshold);
      if (offTarget(now)) {
        const auto [before, after] = scaleTo(pre);
        adam.setScale(thresholdParam, 0.0);
        thresholdsFrozen = true;
        fb.info("step " + std::to_string(step) + ": thresholds calibrated (L0 " + std::to_string(before) + " -> " +
                std::to_string(after) + ") and frozen for the learning-rate decay");
        if (calibrationMovedFar(before, after))
          fb.warn("step " + std::to_string(step) + ": the L0 controller had not reached the target by the decay (L0 " +
                  std::to_string(before) + " against " + std::to_string(o.targetL0) + "); the SAE was trained at "
                  "another sparsity, and R^2 may suffer. " + controllerAdvice);
      } else {
        fb.info("step " + std::to_string(step) + ": L0 " + std::to_string(now) + " is on target; the controller carries on");
      }
    }
    auto x = step == 0 ? first : nextBatch(static_cast<std::uint64_t>(step)).to(device);
    auto xt = sae->toTransformed(x);
    auto pre = sae->preActivations(xt);
    torch::Tensor z, sparsity, l0;
    if (o.kind == SaeKind::JumpRelu) {
      auto theta = sae->logThreshold.exp();
      z = jumpRelu(pre, theta, o.bandwidth);
      auto steps = heavisideStep(pre, theta, o.bandwidth).sum(-1);
      sparsity = steps.mean();
      l0 = steps.detach().mean();
    } else {
      z = torch::relu(pre);
      sparsity = z.sum(-1).mean();
      l0 = (z.detach() > 0).sum(-1).to(torch::kFloat32).mean();
    }
    auto xhat = sae->decodeTransformed(z);
    auto err = (xhat - xt).pow(2).sum(-1);
    auto mse = err.mean();
    auto loss = mse + lambda * sparsity;
    adam.zeroGrad();
    loss.backward();
    {
      torch::NoGradGuard g;
      // Tangent step: drop the gradient's component along each (unit) decoder row.
      auto& gd = sae->W_dec.mutable_grad();
      gd.sub_((gd * sae->W_dec).sum(1, true) * sae->W_dec);
    }
    const double frac = static_cast<double>(step) / static_cast<double>(o.steps);
    const double lr = frac < kDecayStart ? o.lr : o.lr * (1.0 - frac) / kDecayLength;
    adam.step(lr);
    torch::NoGradGuard g;
    sae->W_dec.div_(sae->W_dec.norm(2, 1, true).clamp_min(1e-12));
    if (o.targetL0 > 0 && !thresholdsFrozen) {  // at most a factor exp(rate) per step, so Adam can follow
      lambdaU.add_(((l0 + 1e-3) / o.targetL0).log().clamp(-1.0, 1.0) * o.controllerRate).clamp_(-lambdaUBound, lambdaUBound);
      lambda = lambdaScale * torch::sinh(lambdaU);
      if (o.kind == SaeKind::JumpRelu && o.thresholdTracking > 0)
        sae->logThreshold.add_(((l0 + 1e-3) / o.targetL0).log().clamp(-1.0, 1.0) * o.thresholdTracking);
    }
    auto fired = (z.detach() > 0).any(0);
    lastFired.masked_fill_(fired, step);
    accMse += mse.detach();
    accL0 += l0;
    accSse += (sae->fromTransformed(xhat.detach()) - x).pow(2).sum(-1).mean();
    ++accN;
    // Dead-latent resampling.
    if (o.resampleEvery > 0 && step > 0 && step % o.resampleEvery == 0 && step >= deadSteps && frac < kDecayStart) {
      auto dead = ((step - lastFired) >= deadSteps).nonzero().squeeze(1);
      const auto nd = dead.numel();
      if (nd > 0) {
        auto resid = (xt - xhat.detach());
        auto w = resid.pow(2).sum(-1);
        auto pick = torch::multinomial(w + 1e-12, nd, true);
        auto r = resid.index_select(0, pick);
        r = r / r.norm(2, 1, true).clamp_min(1e-12);
        sae->W_dec.index_copy_(0, dead, r);
        sae->W_enc.index_copy_(1, dead, r.t().contiguous());
        // Each new latent fires on the batch at about the average rate (L0 / latents): with a plain zero bias
        // (ReLU) or threshold it would fire on about half the batch, so many resampled at once raise the L0 far
        // above the target, the sparsity controller answers by silencing everything, and more latents die.
        const auto preBatch = torch::matmul(xt - sae->b_dec, r.t());  // [batch, dead]
        const double rate = std::clamp((o.targetL0 > 0 ? o.targetL0 : l0.item<double>()) /
                                           static_cast<double>(sae->W_dec.size(0)), 1e-6, 1.0);
        const auto atRate = std::get<0>(preBatch.kthvalue(
            std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil((1.0 - rate) * preBatch.size(0)))), 0));
        if (o.kind == SaeKind::JumpRelu) {
          // The threshold: also at least half its source row's pre-activation.
          sae->b_enc.index_fill_(0, dead, 0.0);
          const auto preNew = preBatch.gather(0, pick.unsqueeze(0)).squeeze(0);  // each latent's source row
          sae->logThreshold.index_copy_(0, dead, torch::maximum(0.5 * preNew, atRate).clamp_min(1e-3).log());
          adam.resetMoments(thresholdParam, 0, dead);
        } else {
          sae->b_enc.index_copy_(0, dead, -atRate.clamp_min(0.0));
        }
        adam.resetMoments(0, 1, dead);
        adam.resetMoments(1, 0, dead);
        adam.resetMoments(2, 0, dead);
        lastFired.index_fill_(0, dead, step);
        rep.resampled += nd;
      }
    }
    if ((step + 1) % o.logEvery == 0 || step + 1 == o.steps) {
      const double m = accMse.item<double>() / static_cast<double>(accN);
      const double l = accL0.item<double>() / static_cast<double>(accN);
      const double r2 = 1.0 - accSse.item<double>() / static_cast<double>(accN) / totalVar;
      const double dead = ((step - lastFired) >= std::min(deadSteps, step + 1)).to(torch::kFloat32).mean().item<double>();
      const double lam = lambda.item<double>();
      fb.reportMetrics(step + 1, {{"mse", m}, {"r2", r2}, {"l0", l}, {"dead_fraction", dead}, {"lambda", lam}, {"lr", lr}});
      rep.mse = m;
      rep.l0 = l;
      rep.r2 = r2;
      rep.deadFraction = dead;
      rep.lambda = lam;
      // The controller at its upper bound: the thresholds lose the race against the encoder, and R^2 swings (a
      // 512-wide model at target L0 2, RESULTS.md session 21). Said once. Calibrating there and restarting the
      // controller was tried and made it worse (R^2 0.92 -> 0.34 within 100 steps).
      if (o.kind == SaeKind::JumpRelu && o.targetL0 > 0 && !thresholdsFrozen && frac < kDecayStart &&
          lambdaU.item<double>() >= lambdaUBound - 1e-3) {
        if (rep.controllerSaturatedAt == 0)
          fb.warn("step " + std::to_string(step + 1) + ": L0 " + std::to_string(l) + " stays above the target " +
                  std::to_string(o.targetL0) + " at the largest sparsity coefficient: the thresholds (at " +
                  std::to_string(o.thresholdLrScale) + "x lr) cannot keep up with the encoder, and R^2 may swing");
        rep.controllerSaturatedAt = step + 1;
      }
      accMse.zero_();
      accSse.zero_();
      accL0.zero_();
      accN = 0;
      fb.setProgress(static_cast<double>(step + 1) / static_cast<double>(o.steps),
                     "step " + std::to_string(step + 1) + " of " + std::to_string(o.steps) + ": R2 " + std::to_string(r2) +
                         ", L0 " + std::to_string(l));
    }
  }
  if (calibrate) {  // once more if frozen (the encoder moved meanwhile) or off target
    fb.setProgress(1.0, "calibrating the thresholds to L0 " + std::to_string(o.targetL0));
    const auto pre = calibrationPre();
    const double now = meanL0(pre, sae->logThreshold);
    if (calibrateThresholdsAtEnd(thresholdsFrozen, now, o.targetL0, o.calibrationTolerance)) {
      std::tie(rep.calibrationL0Before, rep.calibrationL0After) = scaleTo(pre);
      fb.info("thresholds scaled by " + std::to_string(rep.thresholdFactor) + " in all: calibration L0 " +
              std::to_string(rep.calibrationL0Before) + " -> " + std::to_string(rep.calibrationL0After));
      if (calibrationMovedFar(rep.calibrationL0Before, rep.calibrationL0After))
        fb.warn("the last calibration moved the L0 from " + std::to_string(rep.calibrationL0Before) + " to " +
                std::to_string(rep.calibrationL0After) + ": the encoder and decoder were trained at another sparsity, "
                "and R^2 is measured after the move. " + controllerAdvice);
    } else {
      rep.calibrationL0Before = rep.calibrationL0After = now;
      if (offTarget(now))
        fb.info("L0 " + std::to_string(now) + " ended below the target " + std::to_string(o.targetL0) +
                ": the thresholds are left as trained (lowering them would admit activations the decoder never used)");
    }
  }
  if (o.refitBatches > 0) {
    fb.setProgress(1.0, "refitting the decoder on " + std::to_string(o.refitBatches) + " batches");
    refitDecoder(*sae, nextBatch, static_cast<std::uint64_t>(o.steps) + kRefitDrawOffset, o.refitBatches, device);
    fb.info("decoder refitted by least squares on " + std::to_string(o.refitBatches * o.batch) + " rows");
  }
  rep.steps = o.steps;
  rep.thresholdLrScale = o.kind == SaeKind::JumpRelu ? o.thresholdLrScale : 0;
  rep.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  rep.samplesPerSecond = static_cast<double>(o.steps * o.batch) / std::max(1e-9, rep.seconds);
  if (report) *report = rep;
  sae->info["training"] = Json{{"kind", toString(o.kind)}, {"whiten", o.whiten}, {"target_l0", o.targetL0},
                               {"steps", o.steps}, {"batch", o.batch}, {"lr", o.lr}, {"bandwidth", o.bandwidth},
                               {"lambda", rep.lambda}, {"resampled", rep.resampled}, {"seed", o.seed},
                               {"threshold_factor", rep.thresholdFactor}, {"calibration_l0_before", rep.calibrationL0Before},
                               {"controller_saturated_at", rep.controllerSaturatedAt},
                               {"threshold_lr_scale", rep.thresholdLrScale},
                               {"threshold_tracking", o.kind == SaeKind::JumpRelu ? o.thresholdTracking : 0.0},
                               {"refit_batches", o.refitBatches}};
  return sae;
}

}  // namespace

Sae trainSae(const ActivationReader& reader, const std::string& site, const TrainOptions& o, torch::Device device,
             core::Feedback& fb, TrainReport* report) {
  reader.requireSite(site);
  const auto end = o.trainEnd > 0 ? o.trainEnd : reader.rows();
  if (o.trainBegin < 0 || end > reader.rows() || end <= o.trainBegin)
    throw SaeError("training rows [" + std::to_string(o.trainBegin) + ", " + std::to_string(end) + ") are empty or outside the " +
                   std::to_string(reader.rows()) + " rows in '" + reader.folder().string() + "'");
  fb.setProgress(0, "estimating activation moments");
  const auto moments = estimateMoments(reader, site, o.trainBegin, end, o.momentRows, &fb);
  BatchFn next = [&](std::uint64_t step) { return reader.randomBatch(site, o.batch, o.trainBegin, end, o.seed, step); };
  auto sae = trainImpl(next, moments, reader.d(), o, device, fb, report);
  sae->info["site"] = site;
  sae->info["activations"] = reader.folder().string();
  if (reader.manifest().contains("source")) {
    const auto& src = reader.manifest()["source"];
    if (src.contains("model")) sae->info["model"] = src["model"];
    if (src.contains("context")) sae->info["context"] = src["context"];
  }
  return sae;
}

Sae trainSaeOnTensor(const torch::Tensor& xIn, const TrainOptions& o, torch::Device device, core::Feedback& fb,
                     TrainReport* report) {
  if (xIn.dim() != 2 || xIn.size(0) < 2) throw SaeError("training activations must be [N >= 2, d]");
  auto x = xIn.to(torch::kCPU).to(torch::kFloat32).contiguous();
  const auto N = x.size(0);
  const auto moments = momentsOf(x);
  BatchFn next = [&](std::uint64_t step) {
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + step);
    std::uniform_int_distribution<std::int64_t> pick(0, N - 1);
    auto idx = torch::empty({o.batch}, torch::kLong);
    auto* p = idx.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < o.batch; ++i) p[i] = pick(rng);
    return x.index_select(0, idx);
  };
  return trainImpl(next, moments, x.size(1), o, device, fb, report);
}

Json evaluateSae(SaeImpl& sae, const ActivationReader& reader, const std::string& site, std::int64_t begin,
                 std::int64_t end, std::int64_t maxRows, core::Feedback* fb) {
  torch::NoGradGuard g;
  if (reader.d() != sae.dIn())
    throw SaeError("the SAE reads width " + std::to_string(sae.dIn()) + " but the activations in '" + reader.folder().string() +
                   "' have width " + std::to_string(reader.d()));
  const auto device = sae.W_enc.device();
  const auto total = end - begin;
  const auto take = maxRows > 0 ? std::min(maxRows, total) : total;
  const auto stride = std::max<std::int64_t>(1, total / take);
  const auto moments = estimateMoments(reader, site, begin, end, maxRows, fb);
  auto fired = torch::zeros({sae.dSae()}, torch::TensorOptions().dtype(torch::kBool).device(device));
  double sse = 0, l0 = 0;
  for (std::int64_t i = 0; i < take; i += 16384) {
    if (fb) fb->throwIfCancelled();
    const auto c = std::min<std::int64_t>(16384, take - i);
    auto x = reader.gather(site, torch::arange(i, i + c, torch::kLong) * stride + begin).to(device);
    auto z = sae.encode(x);
    auto xhat = sae.decode(z);
    sse += (xhat - x).pow(2).sum().item<double>();
    auto act = z > 0;
    l0 += act.sum().item<double>();
    fired |= act.any(0);
  }
  const double N = static_cast<double>(take);
  return Json{{"rows", take},
              {"r2", 1.0 - sse / N / std::max(1e-30, moments.totalVariance)},
              {"mse", sse / N},
              {"l0", l0 / N},
              {"dead_fraction", 1.0 - fired.to(torch::kFloat32).mean().item<double>()}};
}

}  // namespace atomscope::sae
