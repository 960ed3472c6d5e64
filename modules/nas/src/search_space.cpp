#include "atomscope/nas/search_space.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace atomscope::nas {

const char* dimName(Dim d) {
  switch (d) {
    case Dim::Layers: return "layers";
    case Dim::Heads: return "heads";
    case Dim::Embed: return "embed";
    case Dim::MlpRatio: return "mlp_ratio";
  }
  return "?";
}

std::int64_t Architecture::value(Dim d) const {
  switch (d) {
    case Dim::Layers: return layers;
    case Dim::Heads: return heads;
    case Dim::Embed: return embed;
    case Dim::MlpRatio: return mlpRatio;
  }
  return 0;
}

std::string Architecture::toString() const {
  return "layers=" + std::to_string(layers) + " heads=" + std::to_string(heads) + " embed=" + std::to_string(embed) +
         " mlp_ratio=" + std::to_string(mlpRatio) + (atoms > 0 ? " atoms=" + std::to_string(atoms) : std::string());
}

Json Architecture::toJson() const {
  Json j{{"layers", layers}, {"heads", heads}, {"embed", embed}, {"mlp_ratio", mlpRatio}};
  if (atoms > 0) j["atoms"] = atoms;
  return j;
}

Architecture Architecture::fromJson(const Json& j) {
  try {
    Architecture a{j.at("layers").get<std::int64_t>(), j.at("heads").get<std::int64_t>(),
                   j.at("embed").get<std::int64_t>(), j.at("mlp_ratio").get<std::int64_t>()};
    a.atoms = j.value("atoms", std::int64_t{0});
    if (a.atoms < 0) throw NasError("architecture JSON: atoms " + std::to_string(a.atoms) + " is negative");
    return a;
  } catch (const Json::exception& e) {
    throw NasError(std::string("architecture JSON needs integer layers, heads, embed and mlp_ratio: ") + e.what());
  }
}

Architecture SearchSpace::largest() const {
  Architecture a{maxOf(Dim::Layers), maxOf(Dim::Heads), maxOf(Dim::Embed), maxOf(Dim::MlpRatio)};
  a.atoms = hasAtoms() ? atoms.back() : 0;
  return a;
}

int SearchSpace::atomsIndexOf(std::int64_t s) const {
  const auto it = std::find(atoms.begin(), atoms.end(), s);
  if (it == atoms.end())
    throw NasError("atoms=" + std::to_string(s) + " is not one of the space's choices" +
                   (hasAtoms() ? std::string() : std::string(" (the space has dense attention)")));
  return static_cast<int>(it - atoms.begin());
}

std::int64_t SearchSpace::numArchitectures() const {
  std::int64_t n = 1;
  for (const auto& c : choices) n *= static_cast<std::int64_t>(c.size());
  if (hasAtoms()) n *= static_cast<std::int64_t>(atoms.size());
  return n;
}

Architecture SearchSpace::at(std::int64_t index) const {
  if (index < 0 || index >= numArchitectures())
    throw NasError("architecture index " + std::to_string(index) + " is outside the space of " +
                   std::to_string(numArchitectures()));
  std::int64_t s = 0;
  if (hasAtoms()) {
    const auto k = static_cast<std::int64_t>(atoms.size());
    s = atoms[static_cast<std::size_t>(index % k)];
    index /= k;
  }
  std::int64_t v[kNumDims];
  for (int d = kNumDims - 1; d >= 0; --d) {
    const auto k = static_cast<std::int64_t>(choices[d].size());
    v[d] = choices[d][static_cast<std::size_t>(index % k)];
    index /= k;
  }
  Architecture a{v[0], v[1], v[2], v[3]};
  a.atoms = s;
  return a;
}

int SearchSpace::indexOf(Dim d, std::int64_t value) const {
  const auto& c = of(d);
  const auto it = std::find(c.begin(), c.end(), value);
  if (it == c.end())
    throw NasError(std::string(dimName(d)) + "=" + std::to_string(value) + " is not one of the space's choices");
  return static_cast<int>(it - c.begin());
}

bool SearchSpace::contains(const Architecture& a) const {
  for (int d = 0; d < kNumDims; ++d) {
    const auto& c = choices[d];
    if (std::find(c.begin(), c.end(), a.value(static_cast<Dim>(d))) == c.end()) return false;
  }
  if (!hasAtoms()) return a.atoms == 0;
  return std::find(atoms.begin(), atoms.end(), a.atoms) != atoms.end();
}

void SearchSpace::validate() const {
  if (vocabSize <= 0) throw NasError("search space: vocabulary size is not set");
  if (context < 2) throw NasError("search space: context must be at least 2");
  for (int d = 0; d < kNumDims; ++d) {
    const auto& c = choices[d];
    const std::string name = dimName(static_cast<Dim>(d));
    if (c.empty()) throw NasError("search space: '" + name + "' has no choices");
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (c[i] <= 0) throw NasError("search space: '" + name + "' choice " + std::to_string(c[i]) + " is not positive");
      if (i > 0 && c[i] <= c[i - 1]) throw NasError("search space: '" + name + "' choices must be ascending and distinct");
    }
  }
  for (std::size_t i = 0; i < atoms.size(); ++i) {
    if (family != lm::ModelFamily::Llama)
      throw NasError("search space: MASA atoms are searchable for the Llama family only");
    if (atoms[i] <= 0) throw NasError("search space: 'atoms' choice " + std::to_string(atoms[i]) + " is not positive");
    if (i > 0 && atoms[i] <= atoms[i - 1]) throw NasError("search space: 'atoms' choices must be ascending and distinct");
    // Every architecture must be a valid MASA model, and MASA refuses more atoms than layers.
    if (atoms[i] > of(Dim::Layers).front())
      throw NasError("search space: atoms=" + std::to_string(atoms[i]) + " exceeds the smallest depth choice " +
                     std::to_string(of(Dim::Layers).front()) + " (MASA needs S <= layers)");
  }
  for (auto e : of(Dim::Embed))
    for (auto h : of(Dim::Heads))
      if (family == lm::ModelFamily::Gpt2) {
        if (e % h != 0)  // learned positions: any head dim
          throw NasError("search space: heads=" + std::to_string(h) + " does not split embed=" + std::to_string(e));
      } else if (e % h != 0 || (e / h) % 2 != 0) {
        throw NasError("search space: heads=" + std::to_string(h) + " does not split embed=" + std::to_string(e) +
                       " into an even head dimension (rotary embeddings need one)");
      }
}

lm::ModelConfig SearchSpace::modelConfig(const Architecture& a) const {
  lm::ModelConfig c;
  c.family = family;
  c.vocabSize = vocabSize;
  c.dim = a.embed;
  c.nLayers = a.layers;
  c.nHeads = a.heads;
  c.nKvHeads = a.heads;
  c.hiddenDim = a.hiddenDim();
  c.maxSeqLen = context;
  c.normEps = normEps;
  c.ropeTheta = ropeTheta;
  c.tiedEmbeddings = true;
  return c;
}

Json SearchSpace::toJson() const {
  Json j{{"family", lm::toString(family)}, {"vocab_size", vocabSize}, {"context", context},
         {"norm_eps", normEps}, {"rope_theta", ropeTheta}};
  for (int d = 0; d < kNumDims; ++d) j[dimName(static_cast<Dim>(d))] = choices[d];
  if (hasAtoms()) j["atoms"] = atoms;
  return j;
}

SearchSpace SearchSpace::fromJson(const Json& j) {
  SearchSpace s;
  try {
    s.family = lm::modelFamilyFromString(j.at("family").get<std::string>());
    s.vocabSize = j.at("vocab_size").get<std::int64_t>();
    s.context = j.at("context").get<std::int64_t>();
    s.normEps = j.value("norm_eps", 1e-5);
    s.ropeTheta = j.value("rope_theta", 10000.0);
    for (int d = 0; d < kNumDims; ++d) s.choices[d] = j.at(dimName(static_cast<Dim>(d))).get<std::vector<std::int64_t>>();
    s.atoms = j.value("atoms", std::vector<std::int64_t>{});
  } catch (const Json::exception& e) {
    throw NasError(std::string("search space JSON: ") + e.what());
  }
  s.validate();
  return s;
}

std::vector<std::int64_t> parseChoiceList(const std::string& text, const std::string& what) {
  std::vector<std::int64_t> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), [](unsigned char ch) { return std::isspace(ch); }), item.end());
    if (item.empty()) continue;
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size()) throw NasError("'" + what + "': '" + item + "' is not an integer (give e.g. 2,3,4)");
    if (v <= 0) throw NasError("'" + what + "': choice " + item + " is not positive");
    out.push_back(v);
  }
  if (out.empty()) throw NasError("'" + what + "' lists no choices (give e.g. 2,3,4)");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Architecture parseArchitecture(const std::string& text) {
  Architecture a;
  std::string t = text;
  std::replace(t.begin(), t.end(), ',', ' ');
  std::istringstream in(t);
  std::string item;
  while (in >> item) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw NasError("architecture '" + text + "': '" + item + "' is not key=value");
    const auto key = item.substr(0, eq);
    const auto v = item.substr(eq + 1) == "0" && key == "atoms" ? std::vector<std::int64_t>{0}
                                                                  : parseChoiceList(item.substr(eq + 1), key);
    if (v.size() != 1) throw NasError("architecture '" + text + "': '" + key + "' needs one value");
    if (key == "atoms") a.atoms = v[0];  // 0 (dense) is allowed here, unlike in a choice list
    else if (key == "layers") a.layers = v[0];
    else if (key == "heads") a.heads = v[0];
    else if (key == "embed") a.embed = v[0];
    else if (key == "mlp_ratio") a.mlpRatio = v[0];
    else throw NasError("architecture '" + text + "': unknown key '" + key + "' (layers, heads, embed, mlp_ratio, atoms)");
  }
  if (a.layers == 0 || a.heads == 0 || a.embed == 0 || a.mlpRatio == 0)
    throw NasError("architecture '" + text + "' must set layers, heads, embed and mlp_ratio");
  return a;
}

Json lmTrainParams(const SearchSpace& space, const Architecture& a) {
  Json j{{"family", lm::toString(space.family)}, {"dim", a.embed}, {"n_layers", a.layers},
         {"n_heads", a.heads}, {"n_kv_heads", a.heads}, {"hidden_dim", a.hiddenDim()},
         {"context", space.context}};
  if (a.atoms > 0) {
    j["attention"] = "masa-qkvo";
    j["atoms"] = a.atoms;
  }
  return j;
}

}  // namespace atomscope::nas
