#pragma once
// Reading the nas.* jobs' run folders (torch-free): a search's metrics and arch.json, and the
// evaluated architectures of nas.evaluate (result.json) and nas.random_search (random_search.json)
// as points of the parameters-versus-perplexity plot.
#include <QList>
#include <QString>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"

namespace atomscope::gui::nas {

// A nas.search run folder: what the charts and the export need.
struct SearchRun {
  QString runDir;
  QString status;                         // run.json's status
  Json params;                            // run.json's params
  std::vector<core::MetricPoint> metrics; // metrics.jsonl, in order
  QString archFile;                       // artifacts/arch.json; empty when the run wrote none
  Json arch;                              // its content (an object) or null
};

// Throws core::Error naming the file and what is wrong (no run.json, not a nas.search run, bad JSON).
SearchRun readSearchRun(const QString& runDir);
// metrics.jsonl of any run; a torn last line (a run still writing) is skipped.
std::vector<core::MetricPoint> readMetrics(const QString& file);

// One evaluated architecture.
struct ParetoPoint {
  // Searched: nas.evaluate of the search's choice; Other: nas.evaluate of another architecture of
  // the space (e.g. the largest); Random: a nas.random_search sample.
  enum class Kind { Searched, Other, Random };
  Kind kind = Kind::Searched;
  QString label;  // "L3 H4 E96 R2"
  long long params = 0;
  double ppl = 0;
  QString runDir;
};

// nas.evaluate: one point from result.json; nas.random_search: one per sampled architecture.
// Throws core::Error naming the file.
QList<ParetoPoint> readEvaluatedPoints(const QString& runDir);

// Indices of the points no other point beats in both parameters and perplexity (fewer or equal
// parameters and lower perplexity, or fewer parameters and equal perplexity), by parameters.
QList<int> paretoFront(const QList<ParetoPoint>& points);

// "L3 H4 E96 R2" from {"layers","heads","embed","mlp_ratio"}; empty when one is missing.
QString archLabel(const Json& architecture);

// The run's artifact `name` (artifacts/<name>) when run.json lists it, else empty.
QString runArtifact(const QString& runDir, const Json& record, const QString& name);
Json readJsonFile(const QString& path);  // throws core::Error naming the file

}  // namespace atomscope::gui::nas
