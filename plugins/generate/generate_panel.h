#pragma once
// The Generate panel (a document tab) over modules/adit's jobs, run by the workbench's JobManager:
//   Generate  model (a DiT file and a VAE file; the sample model in samples/models when there is
//             one), kind (molecule / crystal, optional space group), count, steps, guidance, seed,
//             device; Generate runs adit.sample with live progress, then adit.evaluate on its
//             structures. The gallery (the Structures plugin's StructureGallery) shows them in 3D,
//             each marked valid (green) or not (red); a filter (valid only, kind, atom count);
//             double-click opens one in the Structures view; export of the selection or of all
//             shown to XYZ, CIF (crystals) or SDF (molecules) with modules/chem's writers.
//   Training  data (a folder from adit.prepare, or a structure file prepared first), size, steps,
//             batch, learning rate; Train VAE (adit.train_vae) and Train DiT (adit.train_dit) with a
//             live loss chart each; a finished pair becomes the Generate tab's model.
// Esc cancels the running job while the panel has focus.
#include <QPointer>
#include <QString>
#include <QTemporaryDir>
#include <QWidget>
#include <vector>

#include "atomscope/chem/structure.h"
#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "generation_set.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QVBoxLayout;

namespace atomscope::gui {
class MetricChart;
class StructureGallery;
class Workbench;
}  // namespace atomscope::gui

namespace atomscope::gui::generate {

class GeneratePanel : public QWidget {
  Q_OBJECT
 public:
  explicit GeneratePanel(Workbench& workbench, QWidget* parent = nullptr);
  ~GeneratePanel() override;

  // Form (also what tests set through the meta-object: the panel lives in the plugin).
  Q_INVOKABLE void setVae(const QString& path);
  Q_INVOKABLE void setDit(const QString& path);
  Q_INVOKABLE QString vae() const;
  Q_INVOKABLE QString dit() const;
  Q_INVOKABLE void setKind(const QString& kind);  // "molecule" or "crystal"
  Q_INVOKABLE void setSpaceGroup(int spaceGroup);  // 0: none
  // A formula every sample takes (a DiT conditioned on composition); "": compositions from the training set.
  Q_INVOKABLE void setComposition(const QString& formula);
  Q_INVOKABLE void setCount(int count);
  Q_INVOKABLE void setSteps(int steps);
  Q_INVOKABLE void setGuidance(double guidance);
  Q_INVOKABLE void setSeed(int seed);
  Q_INVOKABLE void setBatchSize(int batch);
  Q_INVOKABLE void setDevice(const QString& device);
  // Force field that relaxes every sample (adit.sample's relax_model): "", "xtb" or a PONITA / MACE file.
  Q_INVOKABLE void setRelaxModel(const QString& model);
  // The parameters Generate gives adit.sample.
  Json sampleParams() const;

  // Starts adit.sample (then adit.evaluate); false with lastError() when it cannot start.
  Q_INVOKABLE bool generate();
  Q_INVOKABLE void cancel();
  Q_INVOKABLE bool isBusy() const { return genJob_ >= 0; }
  Q_INVOKABLE int currentJob() const { return genJob_; }
  Q_INVOKABLE QString lastError() const { return lastError_; }
  Q_INVOKABLE QString statusText() const;
  Q_INVOKABLE QString sampleRun() const { return sampleRun_; }
  Q_INVOKABLE QString evaluateRun() const { return evaluateRun_; }

  // Shows a file of structures in the gallery with validity marks (also the end of Generate).
  Q_INVOKABLE bool loadStructures(const QString& path);
  Q_INVOKABLE int itemCount() const { return static_cast<int>(structures_.size()); }
  Q_INVOKABLE int shownCount() const;
  Q_INVOKABLE int validCount() const;
  // Samples of a composition-conditioned DiT carry the formula asked for: how many did, and how many have it.
  Q_INVOKABLE int formulaAskedCount() const { return formulaAsked_; }
  Q_INVOKABLE int formulaMatchedCount() const { return formulaMatched_; }
  Q_INVOKABLE QString itemToolTip(int index) const;
  Q_INVOKABLE bool itemValid(int index) const;
  Q_INVOKABLE bool itemShown(int index) const;
  Q_INVOKABLE QString itemCaption(int index) const;  // the gallery text, validity mark included
  const chem::Trajectory& structures() const { return structures_; }

  Q_INVOKABLE void setFilterValidOnly(bool on);
  Q_INVOKABLE void setFilterKind(const QString& kind);  // "all", "molecule", "crystal"
  Q_INVOKABLE void setFilterAtoms(int minAtoms, int maxAtoms);

  Q_INVOKABLE void selectItems(const QList<int>& indices);
  Q_INVOKABLE QList<int> selectedItems() const;
  // Writes the selection (or every shown structure); false with lastError() on failure.
  Q_INVOKABLE bool exportStructures(const QString& path, bool selectionOnly);
  void exportDialog(bool selectionOnly);
  // Opens one structure in the Structures view (a document tab of its own).
  Q_INVOKABLE bool openInStructures(int index);

  // Training tab.
  Q_INVOKABLE void showTraining();
  Q_INVOKABLE void setTrainData(const QString& path);
  Q_INVOKABLE void setTrainSize(const QString& size);
  Q_INVOKABLE void setTrainSteps(int steps);
  Q_INVOKABLE void setTrainBatch(int batch);
  Q_INVOKABLE void setTrainLr(double lr);
  // Train DiT continues the Generate tab's DiT (adit.train_dit's init) instead of starting a new one.
  Q_INVOKABLE void setContinueDit(bool on);
  Q_INVOKABLE void setPrepareLimit(int limit);
  Q_INVOKABLE bool trainVae();
  Q_INVOKABLE bool trainDit();
  Q_INVOKABLE bool isTraining() const { return trainJob_ >= 0; }
  Q_INVOKABLE int lossPoints(const QString& which) const;  // "vae" or "dit": points drawn
  Q_INVOKABLE QString trainedVae() const { return trainedVae_; }
  Q_INVOKABLE QString trainedDit() const { return trainedDit_; }

 private:
  enum class Phase { None, Sample, Evaluate, Prepare, TrainVae, TrainDit };
  QWidget* buildGenerateTab();
  QWidget* buildTrainingTab();
  void findSampleModel();
  void onProgress(int id, double fraction, const QString& stage);
  void onMetrics(int id, const std::vector<core::MetricPoint>& points);
  void onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error);
  bool startTraining(Phase phase);
  void startEvaluate();
  void showEvaluation(const QString& runDir);
  void applyFilter();
  void fail(const QString& message);
  void updateButtons();
  chem::Trajectory pick(bool selectionOnly) const;

  Workbench& workbench_;
  QTabWidget* tabs_ = nullptr;
  // Generate tab
  QLineEdit* ditEdit_ = nullptr;
  QLineEdit* relaxEdit_ = nullptr;
  QString relaxModel() const;  // relaxEdit_ without "none"
  QLineEdit* vaeEdit_ = nullptr;
  QLabel* modelHint_ = nullptr;
  QComboBox* kind_ = nullptr;
  QSpinBox* spaceGroup_ = nullptr;
  QLineEdit* composition_ = nullptr;
  QSpinBox* count_ = nullptr;
  QSpinBox* steps_ = nullptr;
  QDoubleSpinBox* guidance_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QSpinBox* batch_ = nullptr;
  QComboBox* device_ = nullptr;
  QPushButton* generateButton_ = nullptr;
  QPushButton* cancelButton_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* evaluation_ = nullptr;
  QCheckBox* validOnly_ = nullptr;
  QComboBox* filterKind_ = nullptr;
  QSpinBox* minAtoms_ = nullptr;
  QSpinBox* maxAtoms_ = nullptr;
  QLabel* shown_ = nullptr;
  QVBoxLayout* galleryBox_ = nullptr;
  QPointer<StructureGallery> gallery_;
  QPushButton* exportSelection_ = nullptr;
  QPushButton* exportShown_ = nullptr;
  // Training tab
  QLineEdit* trainData_ = nullptr;
  QSpinBox* prepareLimit_ = nullptr;
  QComboBox* trainSize_ = nullptr;
  QSpinBox* trainSteps_ = nullptr;
  QSpinBox* trainBatch_ = nullptr;
  QDoubleSpinBox* trainLr_ = nullptr;
  QCheckBox* continueDit_ = nullptr;
  QComboBox* trainDevice_ = nullptr;
  QPushButton* trainVaeButton_ = nullptr;
  QPushButton* trainDitButton_ = nullptr;
  QPushButton* trainCancel_ = nullptr;
  QProgressBar* trainProgress_ = nullptr;
  QLabel* trainStatus_ = nullptr;
  MetricChart* vaeChart_ = nullptr;
  MetricChart* ditChart_ = nullptr;

  int genJob_ = -1;
  Phase genPhase_ = Phase::None;
  int trainJob_ = -1;
  Phase trainPhase_ = Phase::None;
  Phase afterPrepare_ = Phase::None;
  QString samplesFile_, sampleRun_, evaluateRun_, lastError_, trainedVae_, trainedDit_;
  chem::Trajectory structures_;
  std::vector<Verdict> verdicts_;
  int formulaAsked_ = 0, formulaMatched_ = 0;
  Filter filter_;
  QTemporaryDir opened_;  // single structures handed to the Structures view
};

}  // namespace atomscope::gui::generate
