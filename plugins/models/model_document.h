#pragma once
// One opened language model: a header line (family, layers, width, heads, vocabulary, parameters),
// the architecture as a tree with parameter counts and shapes (from lm.inspect's parameters.json),
// and three tool pages, each running a job of modules/lm through the workbench's JobManager:
//   Generate    lm.generate, tokens appended as they stream in (the job's "token: " debug lines)
//   Perplexity  lm.eval on a text file, progress bar, result and per-token loss chart
//   Attention   lm.attention, heatmap per layer and head
#include <QPointer>
#include <QString>
#include <QWidget>

#include "atomscope/core/feedback.h"
#include "atomscope/core/json.h"
#include "atomscope/core/run_dir.h"

class QChartView;
class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QLineSeries;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTreeWidget;

namespace atomscope::gui {
class Workbench;
}

namespace atomscope::gui::models {

class AttentionHeatmap;

class ModelDocument : public QWidget {
  Q_OBJECT
 public:
  // `model`: a llama2.c .bin or a Hugging Face folder; `inspection`: lm.inspect's parameters.json.
  ModelDocument(Workbench& workbench, const QString& model, const Json& inspection, QWidget* parent = nullptr);
  ~ModelDocument() override;

  QString modelPath() const { return model_; }
  long long totalParameters() const { return total_; }

 public Q_SLOTS:
  void startGeneration();
  void stopGeneration();
  void startPerplexity();
  void startAttention();
  void showTools(int page);  // 0 generate, 1 perplexity, 2 attention

 private:
  QWidget* buildGeneratePage();
  QWidget* buildPerplexityPage();
  QWidget* buildAttentionPage();
  void fillTree(const Json& inspection);
  void onLog(int id, core::LogLevel level, const QString& message);
  void onProgress(int id, double fraction, const QString& stage);
  void onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error);
  void finishGeneration(core::RunStatus status, const QString& runDir, const QString& error);
  void finishPerplexity(core::RunStatus status, const QString& runDir, const QString& error);
  void finishAttention(core::RunStatus status, const QString& runDir, const QString& error);
  void showAttention();
  void setStatus(QLabel* label, const QString& text, bool error);
  int startJob(const QString& job, const Json& params, QLabel* status, unsigned long long seed = 0, bool seeded = false);

  Workbench& workbench_;
  QPointer<QObject> jobManager_;  // the workbench's JobManager; null once the window has destroyed it
  QString model_;
  long long total_ = 0;
  QLabel* header_ = nullptr;
  QTreeWidget* tree_ = nullptr;
  QTabWidget* tools_ = nullptr;

  // Generate
  QPlainTextEdit* prompt_ = nullptr;
  QSpinBox* maxNew_ = nullptr;
  QDoubleSpinBox* temperature_ = nullptr;
  QSpinBox* topK_ = nullptr;
  QDoubleSpinBox* topP_ = nullptr;
  QSpinBox* seed_ = nullptr;
  QPushButton* generate_ = nullptr;
  QPushButton* stop_ = nullptr;
  QPlainTextEdit* output_ = nullptr;
  QLabel* genStatus_ = nullptr;
  int genJob_ = -1;
  int streamed_ = 0;

  // Perplexity
  QLineEdit* textFile_ = nullptr;
  QSpinBox* context_ = nullptr;
  QSpinBox* stride_ = nullptr;
  QSpinBox* maxTokens_ = nullptr;
  QPushButton* evaluate_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* pplResult_ = nullptr;
  QLabel* pplStatus_ = nullptr;
  QChartView* chartView_ = nullptr;
  QLineSeries* lossSeries_ = nullptr;
  int pplJob_ = -1;

  // Attention
  QLineEdit* attnPrompt_ = nullptr;
  QPushButton* compute_ = nullptr;
  QSpinBox* layer_ = nullptr;
  QSpinBox* head_ = nullptr;
  AttentionHeatmap* heatmap_ = nullptr;
  QLabel* attnStatus_ = nullptr;
  int attnJob_ = -1;
  std::vector<float> attention_;  // [L, H, T, T]
  int layers_ = 0, heads_ = 0, tokens_ = 0;
  QStringList tokenTexts_;
};

}  // namespace atomscope::gui::models
