#pragma once
// The NAS panel (a dock) over modules/nas's jobs, run by the workbench's JobManager:
//   Space    the search space as a form: choice lists of layers / heads / embedding / MLP ratio / MASA atoms
//            (checked as nas.search checks them: every head count splits every embedding size into
//            an even head dim), method (darts / gdas / drnas), steps, data (text + tokenizer or a
//            token-shard folder), context, batch, device, seed; evaluation and random-search settings
//   Search   live charts while nas.search runs: one chart per searchable dimension with one line
//            per choice (its architecture weight over the steps) and the losses (train,
//            architecture step, validation); the chosen architecture; Export and Train this
//   Pareto   parameters vs validation perplexity of the architectures nas.evaluate and
//            nas.random_search evaluated: searched and random ones as two series, the Pareto front
//            drawn over them; a table of the points
// Opening a finished search run fills the Search tab from its metrics.jsonl and arch.json.
#include <QList>
#include <QPointer>
#include <QString>
#include <QWidget>
#include <optional>
#include <vector>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/nas/search_space.h"
#include "nas_run.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableWidget;
class QChartView;

namespace atomscope::gui {
class Workbench;
}

namespace atomscope::gui::nas {

class SeriesChart;

class NasPanel : public QWidget {
  Q_OBJECT
 public:
  explicit NasPanel(Workbench& workbench, QWidget* parent = nullptr);
  ~NasPanel() override;

  // The parameters Search / Random search would give the jobs; nullopt with lastError() when the
  // form is not valid (nothing is started then).
  std::optional<Json> searchParams();
  std::optional<Json> randomSearchParams();

  // Actions (also what the tests call through the meta-object: the panel lives in the plugin);
  // false with lastError() when nothing started.
  Q_INVOKABLE bool search();
  Q_INVOKABLE bool evaluate();  // the shown search's choice, inherited weights fine-tuned
  Q_INVOKABLE bool randomSearch();
  Q_INVOKABLE void cancel();
  Q_INVOKABLE bool isBusy() const { return job_ >= 0; }
  Q_INVOKABLE int currentJob() const { return job_; }
  // Whether this panel started job `id` (the plugin shows only the others' runs).
  bool ownsJob(int id) const { return ownJobs_.contains(id); }
  Q_INVOKABLE QString lastError() const { return lastError_; }
  Q_INVOKABLE QString statusText() const;
  // The nas.search run shown in the Search tab (empty: none, or a search still running).
  Q_INVOKABLE QString shownRun() const { return search_ ? search_->runDir : QString(); }
  // The chosen architecture of the shown search, "L2 H2 E32 R3"; empty when none.
  Q_INVOKABLE QString chosenArchitecture() const;
  // Fills the Search tab from a finished (or cancelled) nas.search run folder.
  Q_INVOKABLE bool showRun(const QString& runDir);
  // Adds a finished nas.evaluate or nas.random_search run's architectures to the Pareto plot.
  Q_INVOKABLE bool addEvaluatedRun(const QString& runDir);
  Q_INVOKABLE void clearPareto();
  Q_INVOKABLE int paretoPointCount() const { return static_cast<int>(points_.size()); }
  // Writes the shown search's arch.json (lm.train's parameters and the lm model config) to `path`.
  Q_INVOKABLE bool exportArchitecture(const QString& path);
  // Opens lm.train's form (Jobs > Run job) pre-filled with the chosen architecture and the data.
  Q_INVOKABLE bool trainArchitecture();
  Q_INVOKABLE void showTab(const QString& which);  // "space", "search" or "pareto"

  const QList<ParetoPoint>& paretoPoints() const { return points_; }
  SeriesChart* weightChart(const QString& dim) const;  // "layers", "heads", "embed", "mlp_ratio", "atoms"
  SeriesChart* lossChart() const { return lossChart_; }

 public Q_SLOTS:
  void exportDialog();
  void openRunDialog();

 Q_SIGNALS:
  void runShown(const QString& runDir);

 private:
  enum class Kind { None, Search, Evaluate, Random };
  QWidget* buildSpaceTab();
  QWidget* buildSearchTab();
  QWidget* buildParetoTab();
  std::optional<Json> commonParams(bool withSpace);
  bool start(Kind kind, const Json& params);
  void onMetrics(int id, const std::vector<core::MetricPoint>& points);
  void onProgress(int id, double fraction, const QString& stage);
  void onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error);
  void addMetrics(const std::vector<core::MetricPoint>& points);
  void clearCharts();
  void refreshChoice();
  void refreshPareto();
  void fail(const QString& message);
  void setStatus(const QString& text);
  void updateButtons();
  void saveSettings() const;
  void restoreSettings();

  Workbench& workbench_;
  QPointer<QObject> jobManager_;
  QTabWidget* tabs_ = nullptr;
  // Space
  QLineEdit* layers_ = nullptr;
  QLineEdit* heads_ = nullptr;
  QLineEdit* embed_ = nullptr;
  QLineEdit* mlpRatio_ = nullptr;
  QLineEdit* atoms_ = nullptr;  // MASA's S choices; empty: dense attention
  atomscope::nas::SearchSpace spaceFromForm() const;  // the form's space, checked (throws NasError)
  QLabel* spaceInfo_ = nullptr;
  QComboBox* family_ = nullptr;  // lm model family of the space (llama, gpt2)
  QComboBox* method_ = nullptr;
  QSpinBox* steps_ = nullptr;
  QDoubleSpinBox* timeBudget_ = nullptr;
  QDoubleSpinBox* archLr_ = nullptr;
  QDoubleSpinBox* sizePenalty_ = nullptr;  // nas.search's param_penalty
  QDoubleSpinBox* timePenalty_ = nullptr;  // nas.search's time_penalty
  QLineEdit* data_ = nullptr;
  QLineEdit* tokenizer_ = nullptr;
  QSpinBox* context_ = nullptr;
  QSpinBox* batch_ = nullptr;
  QSpinBox* logEvery_ = nullptr;
  QComboBox* device_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QComboBox* evalMode_ = nullptr;
  QSpinBox* evalSteps_ = nullptr;
  QSpinBox* valEvery_ = nullptr;  // nas.evaluate's and nas.random_search's val_every
  QSpinBox* samples_ = nullptr;
  // Buttons and status
  QPushButton* searchButton_ = nullptr;
  QPushButton* evaluateButton_ = nullptr;
  QPushButton* randomButton_ = nullptr;
  QPushButton* cancelButton_ = nullptr;
  QPushButton* exportButton_ = nullptr;
  QPushButton* trainButton_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  // Search
  QList<SeriesChart*> weightCharts_;  // in the module's dimension order, then the MASA atoms
  SeriesChart* lossChart_ = nullptr;
  QLabel* choice_ = nullptr;
  // Pareto
  QChartView* paretoView_ = nullptr;
  QTableWidget* paretoTable_ = nullptr;

  int job_ = -1;
  QList<int> ownJobs_;
  Kind kind_ = Kind::None;
  std::optional<SearchRun> search_;
  QList<ParetoPoint> points_;
  QString lastError_;
};

}  // namespace atomscope::gui::nas
