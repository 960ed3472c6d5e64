#pragma once
// The MASA panel (a document tab): compresses a model's attention with masa.compress through the
// workbench's JobManager and shows the finished run:
//   form      model (file or folder), method (the job's choices), target (ratio removed or atoms S
//             per type), groups, calibration and evaluation text, device; Run, Cancel
//   Energy        energy share per atom direction, one line per projection type
//   Coefficients  heatmap of C [layers, atoms] per projection (selector, colour bar)
//   Weight error  relative weight error per layer and projection
//   Compare       perplexity versus compression, one line per method, the uncompressed perplexity
//                 as a reference; "Compare methods" runs methods x ratios, one job each, in sequence
//   Details       the run's numbers as tables
// Export: the compact MASA folder (the run's masa_model, copied) and a dense Hugging Face folder
// (masa.export on it); Report: HTML and PDF through ReportWriter.
#include <QList>
#include <QPointer>
#include <QString>
#include <QWidget>
#include <optional>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "masa_charts.h"
#include "masa_run.h"

class QChartView;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QToolButton;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableWidget;

namespace atomscope::gui {
class Workbench;
}

namespace atomscope::gui::masa {

class CoefficientHeatmap;

class MasaPanel : public QWidget {
  Q_OBJECT
 public:
  explicit MasaPanel(Workbench& workbench, QWidget* parent = nullptr);
  ~MasaPanel() override;

  // Form values (also what the tests set, through the meta-object: the panel lives in the plugin).
  Q_INVOKABLE void setModel(const QString& path);
  Q_INVOKABLE QString model() const;
  Q_INVOKABLE void setMethod(const QString& method);
  Q_INVOKABLE void setRatio(double ratio);  // fraction of attention parameters removed
  Q_INVOKABLE void setAtoms(int atoms);     // > 0: target S per type instead of a ratio
  Q_INVOKABLE void setCalibrationText(const QString& path);
  Q_INVOKABLE void setEvalText(const QString& path);
  Q_INVOKABLE void setEvalMaxTokens(int tokens);  // 0: all
  Q_INVOKABLE void setDevice(const QString& device);
  // The parameters Run would give masa.compress.
  Json compressParams() const;
  // Compare: which methods and ratios ("0.2, 0.4") the next comparison runs.
  Q_INVOKABLE void setCompareMethods(const QStringList& methods);
  Q_INVOKABLE void setCompareRatios(const QString& ratios);

  Q_INVOKABLE bool isBusy() const { return job_ >= 0; }
  Q_INVOKABLE int currentJob() const { return job_; }
  // The folder of the run shown, empty when none.
  Q_INVOKABLE QString shownRun() const { return result_ ? result_->runDir : QString(); }
  Q_INVOKABLE double referencePerplexity() const { return reference_; }
  Q_INVOKABLE int comparePointCount() const { return static_cast<int>(points_.size()); }
  Q_INVOKABLE QString statusText() const;
  Q_INVOKABLE QString lastError() const { return lastError_; }
  const std::optional<CompressionRun>& result() const { return result_; }
  const QList<ComparePoint>& comparePoints() const { return points_; }

  // Shows a finished masa.compress run folder (also runs started elsewhere); false on failure
  // (lastError() says why).
  Q_INVOKABLE bool showRun(const QString& runDir);

  // Exports of the shown run: folders must not exist yet (or be empty). The MASA folder is copied
  // at once; the Hugging Face folder is written when masa.export finishes (exportFinished).
  Q_INVOKABLE bool exportMasaFolder(const QString& destination);
  Q_INVOKABLE bool exportHfFolder(const QString& destination);
  // Writes <base>.html and <base>.pdf (from `htmlPath`'s base name).
  Q_INVOKABLE bool writeReport(const QString& htmlPath);

  QTabWidget* tabs() const { return tabs_; }

 public Q_SLOTS:
  void run();
  void cancel();
  void compareMethods();
  void clearComparison();
  void exportMasaDialog();
  void exportHfDialog();
  void reportDialog();

 Q_SIGNALS:
  void runShown(const QString& runDir);
  void exportFinished(bool ok, const QString& destinationOrError);
  void comparisonFinished(int completed, int failed);

 private:
  struct Pending {
    QString method;
    double ratio = 0;
  };
  enum class Mode { Single, Compare, ExportHf };

  QWidget* buildForm();
  QWidget* buildResults();
  void onProgress(int id, double fraction, const QString& stage);
  void onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error);
  void onForeignFinished(int id, core::RunStatus status, const QString& runDir);
  bool startCompress(const Json& params, Mode mode);
  void startNextComparison();
  void finishComparison(bool cancelled);
  void addComparePoint(const CompressionRun& run);
  void updateReferenceKey(const Json& params);
  void refreshCharts();
  void refreshCoefficients();
  void refreshCompare();
  void refreshDetails();
  void setBusy(bool busy);
  void setStatus(const QString& text, bool error = false);
  void updateTargetWidgets();
  void updateCompareMethodsText();
  void saveSettings() const;
  void restoreSettings();

  Workbench& workbench_;
  QPointer<QObject> jobManager_;

  // Form
  QFormLayout* form_ = nullptr;
  QLineEdit* model_ = nullptr;
  QComboBox* method_ = nullptr;
  QComboBox* target_ = nullptr;
  QDoubleSpinBox* ratio_ = nullptr;
  QSpinBox* atoms_ = nullptr;
  QSpinBox* groups_ = nullptr;
  QLineEdit* calibText_ = nullptr;
  QLineEdit* evalText_ = nullptr;
  QSpinBox* evalTokens_ = nullptr;
  QComboBox* device_ = nullptr;
  QPushButton* run_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QPushButton* compare_ = nullptr;
  QPushButton* exportMasa_ = nullptr;
  QPushButton* exportHf_ = nullptr;
  QPushButton* report_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;

  // Results
  QLabel* summary_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QChartView* energyView_ = nullptr;
  QComboBox* projection_ = nullptr;
  CoefficientHeatmap* heatmap_ = nullptr;
  QChartView* errorView_ = nullptr;
  QChartView* compareView_ = nullptr;
  QToolButton* compareMethods_ = nullptr;  // a menu of checkable methods
  QLineEdit* compareRatios_ = nullptr;
  QTableWidget* compareTable_ = nullptr;
  QTableWidget* typesTable_ = nullptr;
  QTableWidget* layersTable_ = nullptr;

  // State
  int job_ = -1;
  Mode mode_ = Mode::Single;
  QList<int> ownJobs_;  // every job this panel started (others' masa.compress runs are shown too)
  std::optional<CompressionRun> result_;
  QList<ComparePoint> points_;
  QList<Pending> queue_;
  int compareDone_ = 0, compareFailed_ = 0;
  double reference_ = -1;
  QString referenceKey_;  // model + evaluation settings the points and the reference belong to
  QString exportDestination_;
  QString lastError_;
};

}  // namespace atomscope::gui::masa
