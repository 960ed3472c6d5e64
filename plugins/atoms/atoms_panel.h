#pragma once
// The Atoms panel: browse the atoms of a sparse autoencoder through its atom index (sae.index's
// atoms.db): a sortable, filterable list, a page per atom (highlighted top contexts, activation
// histogram, promoted tokens, nearest atoms under the AIP and plain cosine), "Try text" (which atoms
// fire on each token of a typed text), the R^2-q* chart of a sae.analyze run, and export/import of
// the SAELens layout. Everything that computes runs as a job (sae.neighbors, sae.encode_text,
// sae.analyze, sae.export, sae.import) on the workbench's JobManager.
// Scriptable through Q_INVOKABLE methods (tests drive it through the meta-object).
#include <QHash>
#include <QPointer>
#include <QVariantList>
#include <QWidget>
#include <functional>
#include <memory>

#include "atomscope/core/json.h"

class QChartView;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTabWidget;
class QTableWidget;
class QTextBrowser;

namespace atomscope::sae {
class AtomIndex;
}

namespace atomscope::gui {
class Workbench;
}

namespace atomscope::gui::atoms {

class AtomsPanel : public QWidget {
  Q_OBJECT
 public:
  enum Column { ColAtom = 0, ColFrequency, ColMean, ColMax, ColPromoted, ColStatus, ColCount };

  explicit AtomsPanel(Workbench& workbench, QWidget* parent = nullptr);
  ~AtomsPanel() override;

  // Opening. openIndex also opens the SAE the index names (meta "sae") when it exists.
  Q_INVOKABLE bool openIndex(const QString& atomsDb);
  Q_INVOKABLE bool openSae(const QString& folder);
  Q_INVOKABLE QString saeFolder() const { return sae_; }
  Q_INVOKABLE QString indexFile() const { return indexFile_; }
  Q_INVOKABLE QString lastError() const { return lastError_; }
  Q_INVOKABLE bool isBusy() const { return !pending_.isEmpty(); }
  Q_INVOKABLE void setDevice(const QString& device) { device_ = device; }

  // The list.
  Q_INVOKABLE int atomRowCount() const;
  Q_INVOKABLE QVariantList visibleAtoms() const;  // atom ids of the shown rows, in display order
  Q_INVOKABLE void setFilterText(const QString& ftsQuery);
  Q_INVOKABLE void setFrequencyRange(double lo, double hi);
  Q_INVOKABLE void sortBy(int column, bool ascending);

  // The atom page.
  Q_INVOKABLE void showAtom(int atom);
  Q_INVOKABLE int shownAtom() const { return shownAtom_; }
  // Per context token of the shown atom: {"context", "token", "t", "a", "alpha"} (alpha: the
  // highlight's opacity, a / the atom's largest a in its contexts).
  Q_INVOKABLE QVariantList highlightedTokens() const { return highlighted_; }
  Q_INVOKABLE QVariantList neighbours(const QString& geometry) const;  // "aip" | "cosine": [{"atom","cos"}]
  Q_INVOKABLE QStringList promotedTokens() const { return promoted_; }

  // Try text: starts sae.encode_text; tokenAtoms(i) = [{"atom", "a"}] of token i once done.
  Q_INVOKABLE bool tryText(const QString& text);
  Q_INVOKABLE int tryTokenCount() const;
  Q_INVOKABLE QString tryTokenText(int i) const;
  Q_INVOKABLE QVariantList tokenAtoms(int i) const;
  Q_INVOKABLE void selectToken(int i);

  // R^2-q*: a sae.analyze run folder, or run sae.analyze on the index's activations.
  Q_INVOKABLE bool showAnalysis(const QString& runDir);
  Q_INVOKABLE QStringList analysisSites() const;
  Q_INVOKABLE void setAnalysisSite(const QString& site);
  Q_INVOKABLE void runAnalyze();

  // Export / import (SAELens layout).
  Q_INVOKABLE bool exportSae(const QString& outFolder);
  Q_INVOKABLE bool importSae(const QString& folder);
  Q_INVOKABLE QString lastImported() const { return lastImported_; }

  void exportDialog();
  void importDialog();
  void openIndexDialog();
  void openSaeDialog();
  void openAnalysisDialog();

 private:
  void build();
  QWidget* buildAtomsTab();
  QWidget* buildTryTab();
  QWidget* buildChartTab();
  void fillTable();
  void applyFilter();
  void drawHistogram(const Json& histogram);
  void drawAnalysis();
  void renderTryText();
  int startJob(const QString& job, const Json& params, std::function<void(const QString&)> onDone);
  void onFinished(int id, int status, const QString& runDir, const QString& error);
  void fail(const QString& message);
  void onLink(const QUrl& url);

  Workbench& workbench_;
  QPointer<QObject> jobManager_;  // the JobManager may be destroyed before the panel (window teardown)
  QString device_ = QStringLiteral("cpu");
  QString sae_, indexFile_, lastError_, lastImported_, activations_;
  std::unique_ptr<sae::AtomIndex> index_;
  Json neighbours_;   // sae.neighbors' neighbors.json
  Json tryResult_;    // sae.encode_text's tokens.json
  Json analysis_;     // sae.analyze's results.json
  QHash<int, std::function<void(const QString&)>> pending_;
  int shownAtom_ = -1;
  int selectedToken_ = -1;
  QVariantList highlighted_;
  QStringList promoted_;
  QString filterText_;
  double freqLo_ = 0, freqHi_ = 1;

  QLabel* status_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QDoubleSpinBox* freqMin_ = nullptr;
  QDoubleSpinBox* freqMax_ = nullptr;
  QTableWidget* table_ = nullptr;
  QTextBrowser* page_ = nullptr;
  QChartView* histogram_ = nullptr;
  QLineEdit* tryEdit_ = nullptr;
  QTextBrowser* tryView_ = nullptr;
  QTextBrowser* tryDetail_ = nullptr;
  QComboBox* siteBox_ = nullptr;
  QChartView* analysisChart_ = nullptr;
};

}  // namespace atomscope::gui::atoms
