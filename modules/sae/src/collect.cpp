// sae.collect's engine: windows, batched forward passes with an ActivationRecorder, shards.
#include "atomscope/sae/collect.h"

#include <algorithm>
#include <numeric>
#include <set>

namespace atomscope::sae {

namespace {
// Thrown by the capture callback once every wanted layer is seen: the rest of the forward pass
// would only cost time.
struct StopForward {};
}  // namespace

CollectPlan planCollection(const std::vector<std::vector<std::int32_t>>& documents, std::int64_t d,
                           const CollectOptions& options, std::optional<std::int32_t> bosId) {
  if (options.context < 2) throw SaeError("context must be at least 2 tokens");
  if (options.sites.empty()) throw SaeError("no activation site chosen");
  CollectPlan plan;
  for (const auto& doc : documents) {
    for (std::size_t b = 0; b < doc.size(); b += static_cast<std::size_t>(options.context)) {
      const auto e = std::min(doc.size(), b + static_cast<std::size_t>(options.context));
      std::vector<std::int32_t> w(doc.begin() + static_cast<std::ptrdiff_t>(b), doc.begin() + static_cast<std::ptrdiff_t>(e));
      const std::int64_t first = options.skipBos && bosId && !w.empty() && w.front() == *bosId ? 1 : 0;
      std::int64_t n = static_cast<std::int64_t>(w.size()) - first;
      if (n <= 0) continue;
      if (options.maxRows > 0 && plan.rows + n > options.maxRows) {
        n = options.maxRows - plan.rows;
        w.resize(static_cast<std::size_t>(first + n));
      }
      plan.windows.push_back(std::move(w));
      plan.firstRow.push_back(first);
      plan.rows += n;
      if (options.maxRows > 0 && plan.rows >= options.maxRows) break;
    }
    if (options.maxRows > 0 && plan.rows >= options.maxRows) break;
  }
  if (plan.rows == 0) throw SaeError("the text gives no tokens to collect activations from");
  const std::int64_t item = options.dtype == "bfloat16" ? 2 : 4;
  plan.bytes = plan.rows * (static_cast<std::int64_t>(options.sites.size()) * d * item + 8);
  return plan;
}

std::map<std::string, torch::Tensor> captureSites(lm::CausalLMImpl& model, const torch::Tensor& ids,
                                                  const std::vector<Site>& sites, torch::Tensor* logits) {
  std::map<std::string, torch::Tensor> out;
  std::set<std::pair<std::int64_t, int>> wanted;
  std::int64_t lastLayer = -1;
  for (const auto& s : sites) {
    if (s.layer >= model.config().nLayers)
      throw SaeError("site '" + s.name() + "': the model has " + std::to_string(model.config().nLayers) + " layers (0 to " +
                     std::to_string(model.config().nLayers - 1) + ")");
    wanted.insert({s.layer, static_cast<int>(s.kind)});
    lastLayer = std::max(lastLayer, s.layer);
  }
  const bool stopEarly = logits == nullptr;
  lm::ActivationRecorder recorder([&](std::int64_t layer, lm::ActivationSite kind, const torch::Tensor& value) {
    if (wanted.count({layer, static_cast<int>(kind)}))
      out[Site{kind, layer}.name()] = value.detach().to(torch::kFloat32);
    // resid_post is the last thing a block reports.
    if (stopEarly && layer == lastLayer && kind == lm::ActivationSite::ResidPost) throw StopForward{};
  });
  torch::NoGradGuard noGrad;
  try {
    auto l = model.forward(ids);
    if (logits) *logits = l;
  } catch (const StopForward&) {
  }
  return out;
}

std::int64_t collectActivations(lm::CausalLMImpl& model, const CollectPlan& plan, const CollectOptions& options,
                                const std::filesystem::path& folder, const Json& source, core::Feedback& fb) {
  const auto d = model.config().dim;
  std::vector<std::string> names;
  for (const auto& s : options.sites) names.push_back(s.name());
  ActivationWriter writer(folder, names, d, options.dtype, plan.rows, source);
  const auto device = model.parameters().front().device();
  // Longest windows first, in batches of equal or similar length (right padding is harmless: the
  // model is causal, so padded positions never influence the stored ones).
  std::vector<std::size_t> order(plan.windows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return plan.windows[a].size() > plan.windows[b].size(); });
  std::int64_t written = 0;
  try {
    for (std::size_t w = 0; w < order.size();) {
      fb.throwIfCancelled();
      const auto e = std::min(order.size(), w + static_cast<std::size_t>(options.batchSize));
      const auto T = static_cast<std::int64_t>(plan.windows[order[w]].size());
      const auto B = static_cast<std::int64_t>(e - w);
      auto ids = torch::zeros({B, T}, torch::kLong);
      auto* idp = ids.data_ptr<std::int64_t>();
      for (std::int64_t r = 0; r < B; ++r) {
        const auto& win = plan.windows[order[w + static_cast<std::size_t>(r)]];
        std::copy(win.begin(), win.end(), idp + r * T);
      }
      auto acts = captureSites(model, ids.to(device), options.sites);
      for (auto& [k, v] : acts) v = v.to(torch::kCPU);
      for (std::int64_t r = 0; r < B; ++r) {
        const auto idx = order[w + static_cast<std::size_t>(r)];
        const auto& win = plan.windows[idx];
        const auto first = plan.firstRow[idx];
        const auto n = static_cast<std::int64_t>(win.size()) - first;
        std::map<std::string, torch::Tensor> rows;
        for (const auto& [k, v] : acts) rows[k] = v[r].narrow(0, first, n);
        std::vector<std::int32_t> toks(win.begin() + first, win.end());
        std::vector<std::int32_t> pos(static_cast<std::size_t>(n));
        std::iota(pos.begin(), pos.end(), static_cast<std::int32_t>(first));
        if (writer.shardRows() > 0 && writer.shardRows() + n > options.shardRows) writer.endShard();
        writer.append(rows, toks, pos);
        written += n;
      }
      w = e;
      fb.setProgress(static_cast<double>(written) / static_cast<double>(plan.rows),
                     std::to_string(written) + " of " + std::to_string(plan.rows) + " activations");
    }
  } catch (const core::Cancelled&) {
    writer.finish(false);
    throw;
  }
  writer.finish(true);
  return written;
}

}  // namespace atomscope::sae
