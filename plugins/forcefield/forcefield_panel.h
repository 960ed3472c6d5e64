#pragma once
// The Force Field panel (a dock) over modules/forcefield's jobs, run by the workbench's JobManager
// on the structure shown in the Structures view (the current document tab's 3D view):
//   Model     xtb (GFN2) or a model file (PONITA archive or TorchScript/MACE; recent files kept),
//             device. A TorchScript file is code: it runs only after the user confirms it.
//   Predict   ff.predict: energy and largest force shown; the result opens in the Structures view
//             with the forces as arrows.
//   Optimise  ff.optimize (FIRE / L-BFGS, fmax, steps) and MD ff.md (NVE Verlet / NVT Langevin,
//             time step, temperature, steps, friction): a live chart of energy (and temperature)
//             per step from the job's metrics; the trajectory opens in the Structures view and
//             plays (play/pause/slider there). Cancel (Esc) keeps the trajectory so far.
//   Evaluate  ff.evaluate against labelled extended XYZ: MAE/RMSE and parity plots of energies and
//             force components from the job's CSV artifacts.
#include <QPointer>
#include <QString>
#include <QTemporaryDir>
#include <QWidget>
#include <optional>
#include <vector>

#include "atomscope/chem/structure.h"
#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"
#include "atomscope/gui/structure_view.h"  // QPointer<StructureView> needs the complete type

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;

namespace atomscope::gui {
class MetricChart;
class StructureView;
class Workbench;
}  // namespace atomscope::gui

namespace atomscope::gui::forcefield {

class ParityChart;

class ForceFieldPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ForceFieldPanel(Workbench& workbench, QWidget* parent = nullptr);
  ~ForceFieldPanel() override;

  // Form (also what tests set through the meta-object: the panel lives in the plugin).
  Q_INVOKABLE void setModel(const QString& spec);  // "xtb" or a model file
  Q_INVOKABLE QString model() const;
  Q_INVOKABLE void setDevice(const QString& device);
  Q_INVOKABLE void setTf32(bool on);  // TF32 matrix products on CUDA (the jobs' tf32)
  Q_INVOKABLE void setOptimizer(const QString& method);  // "fire" or "lbfgs"
  Q_INVOKABLE void setFmax(double fmax);
  Q_INVOKABLE void setOptimizeSteps(int steps);
  Q_INVOKABLE void setIntegrator(const QString& ensemble);  // "nve" or "nvt"
  Q_INVOKABLE void setTimestep(double fs);
  Q_INVOKABLE void setTemperature(double kelvin);
  Q_INVOKABLE void setMdSteps(int steps);
  Q_INVOKABLE void setFriction(double perFs);
  Q_INVOKABLE void setSampleEvery(int steps);
  Q_INVOKABLE void setReferenceData(const QString& path);
  Q_INVOKABLE void setEvaluateLimit(int frames);
  Q_INVOKABLE void setEnergyUnit(const QString& unit);  // of the reference data: eV, kcal/mol, kJ/mol, Hartree

  // Actions; false with lastError() when nothing started.
  Q_INVOKABLE bool predict();
  Q_INVOKABLE bool optimize();
  Q_INVOKABLE bool runMd();
  Q_INVOKABLE bool evaluate();
  Q_INVOKABLE void cancel();
  Q_INVOKABLE bool isBusy() const { return job_ >= 0; }
  Q_INVOKABLE QString lastError() const { return lastError_; }
  Q_INVOKABLE QString statusText() const;
  Q_INVOKABLE QString lastRun() const { return lastRun_; }
  // The last prediction: energy (eV) and largest force norm (eV/A); NaN before one.
  Q_INVOKABLE double energy() const;
  Q_INVOKABLE double maxForce() const;
  Q_INVOKABLE QString energyText() const;
  Q_INVOKABLE int parityPointCount(const QString& which) const;  // "energy" or "forces"
  Q_INVOKABLE void showTab(const QString& which);  // "run" or "parity"
  // While an optimisation or MD runs, a document tab ("ffLiveView") shows the newest frame the
  // job has written; the frames read so far:
  Q_INVOKABLE int liveFrames() const { return liveFrames_; }

  // The structure the actions run on: the frame shown in the current document tab's 3D view.
  const chem::Structure* currentStructure(QString* why = nullptr) const;
  void browseModel();

 private:
  enum class Kind { None, Predict, Optimize, Md, Evaluate };
  QWidget* buildRunTab();
  QWidget* buildParityTab();
  bool start(Kind kind);
  std::optional<QString> modelSpec();  // validated model spec, or nullopt with lastError_
  QString writeInput(const chem::Structure& s);
  void onMetrics(int id, const std::vector<core::MetricPoint>& points);
  void onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error);
  void showPrediction(const QString& runDir);
  void showTrajectory(const QString& runDir, core::RunStatus status);
  void showEvaluation(const QString& runDir);
  void updateLive();  // reads the frames the job has written since the last call
  void closeLive();
  void addRecentModel(const QString& path);
  void fail(const QString& message);
  void updateButtons();

  Workbench& workbench_;
  QTabWidget* tabs_ = nullptr;
  QComboBox* model_ = nullptr;
  QComboBox* device_ = nullptr;
  QCheckBox* tf32_ = nullptr;
  QComboBox* optimizer_ = nullptr;
  QDoubleSpinBox* fmax_ = nullptr;
  QSpinBox* optSteps_ = nullptr;
  QComboBox* integrator_ = nullptr;
  QDoubleSpinBox* timestep_ = nullptr;
  QDoubleSpinBox* temperature_ = nullptr;
  QSpinBox* mdSteps_ = nullptr;
  QDoubleSpinBox* friction_ = nullptr;
  QSpinBox* sampleEvery_ = nullptr;
  QLineEdit* refData_ = nullptr;
  QSpinBox* evalLimit_ = nullptr;
  QComboBox* energyUnit_ = nullptr;
  QPushButton* predictButton_ = nullptr;
  QPushButton* optimizeButton_ = nullptr;
  QPushButton* mdButton_ = nullptr;
  QPushButton* evaluateButton_ = nullptr;
  QPushButton* cancelButton_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* result_ = nullptr;
  MetricChart* chart_ = nullptr;
  QLabel* evalSummary_ = nullptr;
  ParityChart* parityEnergy_ = nullptr;
  ParityChart* parityForces_ = nullptr;

  int job_ = -1;
  Kind kind_ = Kind::None;
  double energy_, maxForce_;
  double energy0_;  // the first energy of the running optimisation or MD (the chart's zero)
  QString lastError_, lastRun_;
  QTemporaryDir inputs_;  // the structures handed to the jobs
  int inputCount_ = 0;
  QPointer<StructureView> live_;  // the live tab
  QString liveFile_;               // the running job's trajectory.xyz
  qint64 liveOffset_ = 0;          // bytes of it already shown
  int liveFrames_ = 0;
};

}  // namespace atomscope::gui::forcefield
