#pragma once
// One finished masa.compress run as the MASA panel shows it, read from the run folder only
// (run.json, artifacts/report.json, artifacts/coefficients_*.npy through core/npy.h): no torch.
#include <QList>
#include <QString>
#include <QStringList>
#include <vector>

#include "atomscope/core/json.h"

namespace atomscope::gui::masa {

// The atoms of one dictionary: coefficients [layers, atoms] (row-major) and the model layers.
struct Coefficients {
  QString role;   // "q", "k", "v", "o"
  int group = 0;  // dictionary index within the role
  QList<int> layers;
  int rows = 0, cols = 0;
  std::vector<float> values;
  QString label() const;  // "q" or "q, group 1 (layers 3-4)"
};

struct TypeResult {
  QString role;
  long long paramsBefore = 0, budget = 0, paramsAfter = 0, atoms = 0;
  QList<QList<int>> groups;                 // model layers per dictionary
  QList<std::vector<double>> energy;        // per dictionary: energy share of each direction
  std::vector<long long> ranks;             // per layer (low-rank or residual rank)
  std::vector<double> relativeError;        // per layer
  QList<int> kept;                          // per dictionary: atoms kept (its coefficients' columns)
  // Atoms kept in dictionary g (the first keptIn(g) directions of energy[g]).
  int keptIn(int g) const { return g >= 0 && g < kept.size() ? kept[g] : 0; }
  double keptEnergy(int g) const;  // sum of the kept directions' shares
};

struct CompressionRun {
  QString runDir;
  QString status;  // run.json "status"
  Json params;     // run.json "params"
  Json report;     // artifacts/report.json
  QString model, method;
  double ratio = 0;
  long long atomsParam = 0;  // the "atoms" parameter (S per type; 0: ratio)
  double compression = 0;    // achieved: 1 - attention_params_after / attention_params_before
  long long attentionBefore = 0, attentionAfter = 0, paramsBefore = 0, paramsAfter = 0;
  double perplexityBefore = -1, perplexityAfter = -1;  // < 0: not evaluated
  long long evalTokens = 0;
  QList<TypeResult> types;
  QList<Coefficients> coefficients;
  QString masaFolder;  // artifacts/masa_model when written
  QString hfFolder;    // artifacts/hf_model when written

  bool hasPerplexityAfter() const { return perplexityAfter >= 0; }
  int layerCount() const;
  const TypeResult* type(const QString& role) const;
};

// Reads a completed masa.compress run; throws core::Error (naming the file and what is wrong).
CompressionRun readCompressionRun(const QString& runDir);

// run.json of any run (empty object with *error set when unreadable).
Json readRunRecord(const QString& runDir, QString* error);
// The absolute path of the artifact whose file name is `name` in run.json's list, or empty.
QString runArtifact(const QString& runDir, const Json& record, const QString& name);

// Copies a folder tree to `destination` (which must not exist or be empty) through a temporary
// sibling folder renamed at the end, so a failure leaves no half-written destination.
bool copyFolder(const QString& source, const QString& destination, QString* error);

}  // namespace atomscope::gui::masa
