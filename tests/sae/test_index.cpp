// The atom index against numpy (frequency, mean and max activation, top rows, promoted tokens
// computed from the raw shard files and the SAELens weight file), and full-text search.
#include <gtest/gtest.h>

#include <set>

#include "atomscope/core/tensor_io.h"
#include "atomscope/sae/atom_index.h"
#include "atomscope/sae/atom_index_builder.h"
#include "atomscope/sae/train.h"
#include "sae_test_util.h"

namespace atomscope::sae_test {

TEST(SaeIndex, MatchesNumpyAndSearches) {
  if (!haveAtomIndex()) GTEST_SKIP() << "this build has no SQLite";
  test::ScopedTempDir dir("sae_index");
  // A small SAE on stories260K's last residual stream.
  auto collect = runJob("sae.collect",
                        Json{{"model", storiesModel().string()}, {"tokenizer", storiesTokenizer().string()},
                             {"data", valText().string()}, {"layers", "4"}, {"max_activations", 6000}},
                        dir.path());
  ASSERT_EQ(collect.status, core::RunStatus::Completed) << collect.error;
  const auto acts = collect.runDir / "artifacts" / "activations";
  auto train = runJob("sae.train", Json{{"activations", acts.string()}, {"steps", 300}, {"batch", 256}, {"expansion", 2},
                                        {"target_l0", 6}},
                      dir.path());
  ASSERT_EQ(train.status, core::RunStatus::Completed) << train.error;
  const auto saeDir = train.runDir / "artifacts" / "sae";
  auto index = runJob("sae.index", Json{{"sae", saeDir.string()}, {"activations", acts.string()}, {"top_k", 5}}, dir.path());
  ASSERT_EQ(index.status, core::RunStatus::Completed) << index.error;
  const auto db = AtomIndex::open(index.runDir / "artifacts" / "atoms.db");
  EXPECT_EQ(db.atomCount(), 128);
  EXPECT_EQ(db.meta()["site"], "resid_post.4");

  // numpy reads the same files: raw float32 shards, the SAELens weights, the tied unembedding and final norm scale.
  ATOMSCOPE_REQUIRE_PYTHON_MODULE("numpy");
  const auto ref = dir.path() / "ref";
  fs::create_directories(ref);
  fs::create_directory_symlink(acts, ref / "acts");
  fs::create_directory_symlink(saeDir, ref / "sae");
  auto model = lm::loadModel(storiesModel());
  const auto u = unembeddingOf(*model.model);
  core::saveNpy(ref / "W_U.npy", u.W_U);
  core::saveNpy(ref / "g.npy", u.normScale);
  core::writeFileAtomically(ref / "top_k.json", "5");
  ASSERT_TRUE(numpyReference("index " + ref.string()));
  const auto r = readJson(ref / "index_ref.json");
  std::int64_t alive = 0;
  const auto byAtom = db.promotedByAtom(5);
  for (const auto& a : db.atoms()) {
    SCOPED_TRACE("atom " + std::to_string(a.id));
    const auto j = static_cast<std::size_t>(a.id);
    EXPECT_NEAR(a.frequency, r["frequency"][j].get<double>(), 2.0 / 6000);  // float32 vs float64: a row may flip
    // A flipped row (at most two, as above) moves the mean of the rows that fire by up to max / count.
    const double flips = 2.0 * a.maxActivation / std::max(1.0, a.frequency * 6000 - 2.0);
    EXPECT_NEAR(a.meanActivation, r["mean_activation"][j].get<double>(), 1e-3 * (1 + a.meanActivation) + flips);
    EXPECT_NEAR(a.maxActivation, r["max_activation"][j].get<double>(), 1e-3 * (1 + a.maxActivation));
    // Histogram: counts of nonzero activations = frequency * rows.
    std::int64_t hc = 0;
    for (const auto& c : a.histogram["counts"]) hc += c.get<std::int64_t>();
    EXPECT_EQ(hc, std::llround(a.frequency * 6000));
    const auto ctx = db.contexts(a.id);
    if (a.frequency == 0) {
      EXPECT_TRUE(ctx.empty());
      continue;
    }
    ++alive;
    ASSERT_FALSE(ctx.empty());
    // The best context is numpy's top row, and its focus token carries that activation.
    EXPECT_EQ(ctx[0].row, r["top_rows"][j][0].get<std::int64_t>());
    EXPECT_NEAR(ctx[0].activation, r["top_values"][j][0].get<double>(), 1e-3 * (1 + ctx[0].activation));
    EXPECT_NEAR(ctx[0].tokens[ctx[0].focus]["a"].get<double>(), ctx[0].activation, 1e-4 * (1 + ctx[0].activation));
    for (std::size_t k = 1; k < ctx.size(); ++k) EXPECT_LE(ctx[k].activation, ctx[k - 1].activation);
    // Promoted tokens: numpy's top 5 of W_U (g * d_j).
    const auto prom = db.promoted(a.id);
    ASSERT_EQ(prom.size(), 10u);
    for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(prom[k].tokenId, r["promoted"][j][k].get<std::int64_t>());
    // The bulk query the atom list uses gives the same first tokens.
    const auto& first = byAtom.at(a.id);
    ASSERT_EQ(first.size(), 5u);
    for (std::size_t k = 0; k < first.size(); ++k) EXPECT_EQ(first[k].tokenId, prom[k].tokenId);
  }
  EXPECT_GT(alive, 64);

  // Search: a word from a context finds that context; ordering keeps every hit containing the word.
  const auto ctx = db.contexts(db.atoms("frequency", 1)[0].id);
  ASSERT_FALSE(ctx.empty());
  std::string word;
  // A whole word: a token that starts with a space and is followed by a space or punctuation.
  const auto& toks = ctx[0].tokens;
  for (std::size_t i = 0; i < toks.size(); ++i) {
    const auto t = toks[i]["t"].get<std::string>();
    const auto next = i + 1 < toks.size() ? toks[i + 1]["t"].get<std::string>() : std::string(" ");
    auto s = t.substr(t.find_first_not_of(' ') == std::string::npos ? t.size() : t.find_first_not_of(' '));
    if (!t.empty() && t[0] == ' ' && s.size() >= 3 && !next.empty() && !std::isalpha(static_cast<unsigned char>(next[0])) &&
        std::all_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); })) {
      word = s;
      break;
    }
  }
  ASSERT_FALSE(word.empty()) << ctx[0].text;
  const auto hits = db.search(word, 1000);
  ASSERT_FALSE(hits.empty());
  bool found = false;
  for (const auto& h : hits) {
    std::string lower = h.text, w = word;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    std::transform(w.begin(), w.end(), w.begin(), ::tolower);
    EXPECT_NE(lower.find(w), std::string::npos) << h.text;
    found = found || (h.atom == ctx[0].atom && h.row == ctx[0].row);
  }
  EXPECT_TRUE(found);
  EXPECT_THROW(db.search("\"unbalanced", 10), SaeError);
  EXPECT_THROW(AtomIndex::open(dir / "nothing.db"), SaeError);
}

}  // namespace atomscope::sae_test
