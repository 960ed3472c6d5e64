#pragma once
// The MASA panel's Qt Charts, built from a finished run's numbers (masa_run.h). Each function
// returns a new QChart the caller owns (a QChartView takes it over).
#include <QList>
#include <QString>

#include "masa_run.h"

class QChart;

namespace atomscope::gui::masa {

// Energy share of every principal direction per projection type (one line per type and
// dictionary); the legend says how many atoms were kept and how much energy they hold.
QChart* makeEnergyChart(const CompressionRun& run);
// Relative weight error ||W - W^||_F / ||W||_F per layer, one bar set per projection type.
QChart* makeErrorChart(const CompressionRun& run);

// One point of the perplexity-versus-compression comparison.
struct ComparePoint {
  QString method;
  double ratio = 0;        // requested fraction removed
  double compression = 0;  // achieved fraction of attention parameters removed
  long long attentionAfter = 0;
  double perplexity = 0;
  QString runDir;
};
// Perplexity after compression against the fraction of attention parameters removed, one line per
// method (points sorted by compression); `reference` > 0 draws the uncompressed perplexity.
QChart* makeCompareChart(const QList<ComparePoint>& points, double reference);

}  // namespace atomscope::gui::masa
