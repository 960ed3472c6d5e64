#pragma once
// The atom index: a SQLite file describing every atom (latent) of an SAE on a body of activations,
// for browsing and search. No torch here (GUI code reads it); atom_index_builder.h writes it.
//
// Schema (atomscope.atom_index/1):
//   meta(key PRIMARY KEY, value)     format, sae, activations, site, rows, top_k, window
//   atoms(id PRIMARY KEY, frequency, mean_activation, max_activation, threshold, histogram)
//       frequency: fraction of rows where the atom is active (z > 0); mean_activation: mean of z
//       over those rows; histogram: JSON {"edges": [b+1], "counts": [b]} of its nonzero z
//   contexts(id PRIMARY KEY, atom, top_rank, activation, row, focus, text, tokens)
//       its top-k activating rows: the token window (tokens JSON [{"t": text, "a": z}], `focus` the
//       index of the row's own token), text = the window's tokens joined
//   promoted_tokens(atom, rank, token_id, token, logit)  the tokens its decoder direction raises
//       most through the final norm's scale and the unembedding
//   contexts_fts  FTS5 over contexts.text (external content)
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atomscope/core/error.h"
#include "atomscope/core/json.h"

namespace atomscope::sae {

// True when this build can write and read atom indexes (it links SQLite).
bool haveAtomIndex();

struct AtomRow {
  std::int64_t id = 0;
  double frequency = 0, meanActivation = 0, maxActivation = 0, threshold = 0;
  Json histogram;
};

struct ContextRow {
  std::int64_t atom = 0, rank = 0, row = 0, focus = 0;
  double activation = 0;
  std::string text;
  Json tokens;  // [{"t", "a"}]
};

struct PromotedToken {
  std::int64_t tokenId = 0;
  std::string token;
  double logit = 0;
};

class AtomIndex {
 public:
  // Throws SaeError naming the file when it is missing or not an atom index.
  static AtomIndex open(const std::filesystem::path& file);
  AtomIndex(AtomIndex&&) noexcept;
  AtomIndex& operator=(AtomIndex&&) noexcept;
  ~AtomIndex();

  Json meta() const;
  std::int64_t atomCount() const;
  // Atoms ordered by `orderBy` ("id", "frequency", "mean_activation", "max_activation"), descending
  // except for id; limit 0: all.
  std::vector<AtomRow> atoms(const std::string& orderBy = "id", std::int64_t limit = 0) const;
  std::optional<AtomRow> atom(std::int64_t id) const;
  std::vector<ContextRow> contexts(std::int64_t atom) const;  // by rank
  std::vector<PromotedToken> promoted(std::int64_t atom) const;
  // Every atom's first `perAtom` promoted tokens in one query (a list of 16k atoms asks one by one
  // 16k times): atom id -> tokens by rank. Atoms without promoted tokens are absent.
  std::map<std::int64_t, std::vector<PromotedToken>> promotedByAtom(std::int64_t perAtom) const;
  // FTS5 query over the context texts (SQLite's FTS5 syntax: words, "phrases", prefix*, AND/OR/NOT),
  // best matches first. Throws SaeError on a malformed query.
  std::vector<ContextRow> search(const std::string& query, std::int64_t limit = 50) const;

 private:
  struct Impl;
  explicit AtomIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace atomscope::sae
