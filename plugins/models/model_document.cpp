#include "model_document.h"

#include <QChart>
#include <QChartView>
#include <QCoreApplication>
#include <QDir>
#include <QDirIterator>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QLocale>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTextCursor>
#include <QToolButton>
#include <QTreeWidget>
#include <QValueAxis>
#include <QVBoxLayout>
#include <cmath>
#include <map>

#include "atomscope/gui/job_manager.h"
#include "atomscope/gui/samples.h"
#include "atomscope/gui/workbench.h"
#include "attention_heatmap.h"
#include "run_results.h"

namespace atomscope::gui::models {

namespace {

QString grouped(long long n) { return QLocale(QLocale::English).toString(n); }

long long intOf(const Json& j, const char* key, long long fallback = 0) {
  if (!j.is_object() || !j.contains(key)) return fallback;
  const auto& v = j[key];
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<long long>();
  if (v.is_number_float()) return static_cast<long long>(v.get<double>());
  return fallback;
}

QString strOf(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return {};
  return QString::fromStdString(j[key].get<std::string>());
}

double numOf(const Json& j, const char* key, double fallback = std::nan("")) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return fallback;
  return j[key].get<double>();
}

QString dims(std::initializer_list<long long> d) {
  QStringList parts;
  for (long long x : d) parts << QString::number(x);
  return QStringLiteral("[%1]").arg(parts.join(QStringLiteral(" \u00d7 ")));
}

// The shape of a leaf module's weight from the model config (names as model.h documents them).
QString shapeOf(const QString& leaf, const QString& parent, const Json& c) {
  const long long V = intOf(c, "vocab_size"), D = intOf(c, "dim"), H = intOf(c, "n_heads", 1);
  const long long Hkv = intOf(c, "n_kv_heads", H), F = intOf(c, "hidden_dim"), S = intOf(c, "max_seq_len");
  long long hd = intOf(c, "head_dim");
  if (hd <= 0 && H > 0) hd = D / H;
  const bool attnBias = c.is_object() && c.value("attention_bias", false);
  const bool mlpBias = c.is_object() && c.value("mlp_bias", false);
  const bool gpt2 = strOf(c, "family") == QLatin1String("gpt2");
  auto withBias = [](QString s, bool b) { return b ? s + QStringLiteral(" + bias") : s; };
  if (leaf == QLatin1String("embed_tokens") || leaf == QLatin1String("wte") || leaf == QLatin1String("lm_head"))
    return dims({V, D});
  if (leaf == QLatin1String("wpe")) return dims({S, D});
  if (leaf.endsWith(QLatin1String("norm")) || leaf.startsWith(QLatin1String("ln_")))
    return gpt2 ? dims({D}) + QStringLiteral(" + bias") : dims({D});
  if (leaf == QLatin1String("q_proj")) return withBias(dims({H * hd, D}), attnBias);
  if (leaf == QLatin1String("k_proj") || leaf == QLatin1String("v_proj")) return withBias(dims({Hkv * hd, D}), attnBias);
  if (leaf == QLatin1String("o_proj")) return withBias(dims({D, H * hd}), attnBias);
  if (leaf == QLatin1String("gate_proj") || leaf == QLatin1String("up_proj") || leaf == QLatin1String("c_fc"))
    return withBias(dims({F, D}), mlpBias || gpt2);
  if (leaf == QLatin1String("down_proj") || (leaf == QLatin1String("c_proj") && parent == QLatin1String("mlp")))
    return withBias(dims({D, F}), mlpBias || gpt2);
  return {};
}

// "layers.3.self_attn.q_proj" / "h.3.attn.q_proj" -> block 3, rest "self_attn.q_proj"; -1 otherwise.
int blockOf(const QString& name, QString* rest) {
  const QStringList parts = name.split(QLatin1Char('.'));
  if (parts.size() >= 3 && (parts[0] == QLatin1String("layers") || parts[0] == QLatin1String("h"))) {
    bool ok = false;
    const int b = parts[1].toInt(&ok);
    if (ok) {
      *rest = parts.mid(2).join(QLatin1Char('.'));
      return b;
    }
  }
  return -1;
}

// A text file in the samples folder to evaluate on by default (TinyStories if there is one).
QString defaultTextFile() {
  for (const QString& root : sampleRoots()) {
    if (!QFileInfo(root).isDir()) continue;
    QDirIterator it(root, {QStringLiteral("*tinystories*.txt"), QStringLiteral("*TinyStories*.txt")}, QDir::Files,
                    QDirIterator::Subdirectories);
    if (it.hasNext()) return QFileInfo(it.next()).absoluteFilePath();
  }
  return {};
}

QPushButton* primaryButton(const QString& text, QWidget* parent) {
  auto* b = new QPushButton(text, parent);
  b->setDefault(false);
  b->setMinimumWidth(96);
  return b;
}

}  // namespace

ModelDocument::ModelDocument(Workbench& workbench, const QString& model, const Json& inspection, QWidget* parent)
    : QWidget(parent), workbench_(workbench), model_(model) {
  setObjectName(QStringLiteral("modelDocument"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);

  const Json& c = inspection.contains("config") ? inspection["config"] : Json::object();
  total_ = intOf(inspection, "total");
  header_ = new QLabel(this);
  header_->setObjectName(QStringLiteral("modelHeader"));
  header_->setTextFormat(Qt::RichText);
  header_->setWordWrap(true);
  header_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  const long long H = intOf(c, "n_heads");
  header_->setText(
      QStringLiteral("<b>%1</b> &nbsp; %2 &middot; %3 layers &middot; width %4 &middot; %5 heads &middot; %6 kv heads "
                     "&middot; vocabulary %7 &middot; context %8 &middot; <b>%9 parameters</b> <span style='color:gray'>(%10)</span>")
          .arg(QFileInfo(model).fileName().toHtmlEscaped(), strOf(c, "family"))
          .arg(intOf(c, "n_layers"))
          .arg(intOf(c, "dim"))
          .arg(H)
          .arg(intOf(c, "n_kv_heads", H))
          .arg(grouped(intOf(c, "vocab_size")))
          .arg(intOf(c, "max_seq_len"))
          .arg(grouped(total_), strOf(inspection, "format")));
  header_->setToolTip(QDir::toNativeSeparators(model));
  layout->addWidget(header_);

  auto* split = new QSplitter(Qt::Horizontal, this);
  split->setObjectName(QStringLiteral("modelSplitter"));
  tree_ = new QTreeWidget(split);
  tree_->setObjectName(QStringLiteral("modelTree"));
  tree_->setHeaderLabels({tr("Module"), tr("Parameters"), tr("Shape")});
  tree_->setAlternatingRowColors(true);
  tree_->setUniformRowHeights(true);
  fillTree(inspection);
  tree_->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  tree_->header()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
  tree_->header()->setStretchLastSection(true);
  // Wide enough for name, count and shape of a projection without scrolling.
  int treeWidth = 24;
  {
    QFont bold = tree_->font();
    bold.setBold(true);
    const QFontMetrics fm(bold);
    int cols[3] = {fm.horizontalAdvance(tr("Module")), fm.horizontalAdvance(tr("Parameters")), 0};
    for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
      QTreeWidgetItem* top = tree_->topLevelItem(i);
      for (int c = 0; c < 2; ++c) cols[c] = std::max(cols[c], fm.horizontalAdvance(top->text(c)) + (c == 0 ? tree_->indentation() : 0));
      for (int j = 0; j < top->childCount(); ++j)
        for (int c = 0; c < 3; ++c)
          cols[c] = std::max(cols[c], fm.horizontalAdvance(top->child(j)->text(c)) + (c == 0 ? 2 * tree_->indentation() : 0));
    }
    for (int w : cols) treeWidth += w + 14;
  }
  tree_->setMinimumWidth(std::min(400, treeWidth));

  tools_ = new QTabWidget(split);
  tools_->setObjectName(QStringLiteral("modelTools"));
  tools_->addTab(buildGeneratePage(), tr("Generate"));
  tools_->addTab(buildPerplexityPage(), tr("Perplexity"));
  tools_->addTab(buildAttentionPage(), tr("Attention"));
  split->addWidget(tree_);
  split->addWidget(tools_);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  split->setCollapsible(0, false);
  split->setCollapsible(1, false);
  layout->addWidget(split, 1);

  JobManager& jobs = workbench_.jobs();
  jobManager_ = &jobs;
  connect(&jobs, &JobManager::logMessage, this, &ModelDocument::onLog);
  connect(&jobs, &JobManager::progressChanged, this,
          [this](int id, double f, const QString& stage, double) { onProgress(id, f, stage); });
  connect(&jobs, &JobManager::jobFinished, this, &ModelDocument::onFinished);
}

ModelDocument::~ModelDocument() {
  // A closed tab stops its jobs (the Jobs panel keeps their records).
  auto* jobs = qobject_cast<JobManager*>(jobManager_.data());
  if (!jobs) return;
  for (int id : {genJob_, pplJob_, attnJob_})
    if (id >= 0 && jobs->contains(id) && !jobs->state(id).finished) jobs->cancel(id);
}

void ModelDocument::fillTree(const Json& inspection) {
  const Json& c = inspection.contains("config") ? inspection["config"] : Json::object();
  const Json& blocks = inspection.contains("blocks") && inspection["blocks"].is_array() ? inspection["blocks"] : Json::array();
  std::map<int, QTreeWidgetItem*> blockItems;
  auto countItem = [](QTreeWidgetItem* item, long long n) {
    item->setText(1, grouped(n));
    item->setData(1, Qt::UserRole, n);
    item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
  };
  const Json& modules = inspection.contains("modules") && inspection["modules"].is_array() ? inspection["modules"] : Json::array();
  for (const auto& m : modules) {
    const QString name = strOf(m, "name");
    const long long n = intOf(m, "count");
    QString rest;
    const int b = blockOf(name, &rest);
    QTreeWidgetItem* item = nullptr;
    if (b >= 0) {
      auto it = blockItems.find(b);
      if (it == blockItems.end()) {
        auto* bi = new QTreeWidgetItem(tree_, {tr("Block %1").arg(b)});
        bi->setData(0, Qt::UserRole, QStringLiteral("block"));
        bi->setData(0, Qt::UserRole + 1, b);
        QFont f = bi->font(0);
        f.setBold(true);
        bi->setFont(0, f);
        long long bt = 0, attn = 0, mlp = 0;
        for (const auto& bj : blocks)
          if (intOf(bj, "layer", -1) == b) {
            bt = intOf(bj, "total");
            attn = intOf(bj, "attention");
            mlp = intOf(bj, "mlp");
          }
        countItem(bi, bt);
        bi->setText(2, tr("attention %1 \u00b7 MLP %2").arg(grouped(attn), grouped(mlp)));
        bi->setToolTip(2, bi->text(2));
        it = blockItems.emplace(b, bi).first;
      }
      item = new QTreeWidgetItem(it->second, {rest});
      const QStringList parts = rest.split(QLatin1Char('.'));
      item->setText(2, shapeOf(parts.last(), parts.size() > 1 ? parts[parts.size() - 2] : QString(), c));
      item->setData(0, Qt::UserRole, QStringLiteral("module"));
    } else {
      item = new QTreeWidgetItem(tree_, {name});
      item->setText(2, shapeOf(name, {}, c));
      item->setData(0, Qt::UserRole, QStringLiteral("module"));
    }
    item->setToolTip(0, name);
    countItem(item, n);
  }
  if (inspection.value("lm_head_tied", false) && intOf(inspection, "lm_head") == 0) {
    auto* tied = new QTreeWidgetItem(tree_, {QStringLiteral("lm_head")});
    countItem(tied, 0);
    tied->setText(2, tr("tied to the token embedding"));
    tied->setToolTip(2, tied->text(2));
    tied->setData(0, Qt::UserRole, QStringLiteral("module"));
  }
  auto* total = new QTreeWidgetItem(tree_, {tr("Total")});
  total->setData(0, Qt::UserRole, QStringLiteral("total"));
  countItem(total, total_);
  QFont f = total->font(0);
  f.setBold(true);
  total->setFont(0, f);
  total->setFont(1, f);
  total->setText(2, strOf(c, "family") + QStringLiteral(", ") + tr("%1 blocks").arg(blockItems.size()));
  tree_->setProperty("totalParameters", total_);
  tree_->setProperty("blockCount", static_cast<int>(blockItems.size()));
  if (!blockItems.empty()) blockItems.begin()->second->setExpanded(true);
}

QWidget* ModelDocument::buildGeneratePage() {
  auto* page = new QWidget(this);
  page->setObjectName(QStringLiteral("generatePage"));
  auto* v = new QVBoxLayout(page);
  prompt_ = new QPlainTextEdit(page);
  prompt_->setObjectName(QStringLiteral("generatePrompt"));
  prompt_->setPlaceholderText(tr("Prompt (empty: start from the beginning-of-text token)"));
  prompt_->setMaximumHeight(70);
  v->addWidget(prompt_);

  auto* row = new QGridLayout;
  int slot = 0;
  auto addSpin = [&](const QString& label, QWidget* w) {
    auto* l = new QLabel(label, page);
    l->setBuddy(w);
    const int r = slot / 3, c = (slot % 3) * 2;
    row->addWidget(l, r, c);
    row->addWidget(w, r, c + 1);
    ++slot;
  };
  maxNew_ = new QSpinBox(page);
  maxNew_->setObjectName(QStringLiteral("maxNewTokens"));
  maxNew_->setRange(1, 4096);
  maxNew_->setValue(128);
  addSpin(tr("Tokens"), maxNew_);
  temperature_ = new QDoubleSpinBox(page);
  temperature_->setObjectName(QStringLiteral("temperature"));
  temperature_->setRange(0, 5);
  temperature_->setSingleStep(0.1);
  temperature_->setValue(0.8);
  temperature_->setToolTip(tr("0: greedy (always the most likely token)"));
  addSpin(tr("Temperature"), temperature_);
  topK_ = new QSpinBox(page);
  topK_->setObjectName(QStringLiteral("topK"));
  topK_->setRange(0, 100000);
  topK_->setSpecialValueText(tr("off"));
  addSpin(tr("Top-k"), topK_);
  topP_ = new QDoubleSpinBox(page);
  topP_->setObjectName(QStringLiteral("topP"));
  topP_->setRange(0, 1);
  topP_->setSingleStep(0.05);
  topP_->setValue(0.95);
  addSpin(tr("Top-p"), topP_);
  seed_ = new QSpinBox(page);
  seed_->setObjectName(QStringLiteral("seed"));
  seed_->setRange(0, 2147483647);
  seed_->setValue(1);
  addSpin(tr("Seed"), seed_);
  row->setColumnStretch(6, 1);
  v->addLayout(row);

  auto* buttons = new QHBoxLayout;
  generate_ = primaryButton(tr("Generate"), page);
  generate_->setObjectName(QStringLiteral("generateButton"));
  generate_->setToolTip(tr("Generate (Ctrl+Return)"));
  stop_ = new QPushButton(tr("Stop"), page);
  stop_->setObjectName(QStringLiteral("stopButton"));
  stop_->setEnabled(false);
  genStatus_ = new QLabel(page);
  genStatus_->setObjectName(QStringLiteral("generateStatus"));
  genStatus_->setWordWrap(true);
  buttons->addWidget(generate_);
  buttons->addWidget(stop_);
  buttons->addWidget(genStatus_, 1);
  v->addLayout(buttons);

  output_ = new QPlainTextEdit(page);
  output_->setObjectName(QStringLiteral("generateOutput"));
  output_->setReadOnly(true);
  output_->setPlaceholderText(tr("Generated text appears here, token by token."));
  v->addWidget(output_, 1);

  connect(generate_, &QPushButton::clicked, this, &ModelDocument::startGeneration);
  connect(stop_, &QPushButton::clicked, this, &ModelDocument::stopGeneration);
  auto* shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), page);
  shortcut->setContext(Qt::WidgetWithChildrenShortcut);
  connect(shortcut, &QShortcut::activated, this, &ModelDocument::startGeneration);
  return page;
}

QWidget* ModelDocument::buildPerplexityPage() {
  auto* page = new QWidget(this);
  page->setObjectName(QStringLiteral("perplexityPage"));
  auto* v = new QVBoxLayout(page);
  auto* form = new QFormLayout;
  auto* fileRow = new QHBoxLayout;
  textFile_ = new QLineEdit(defaultTextFile(), page);
  textFile_->setObjectName(QStringLiteral("perplexityFile"));
  textFile_->setPlaceholderText(tr("A UTF-8 text file to evaluate on"));
  auto* browse = new QToolButton(page);
  browse->setText(QStringLiteral("\u2026"));
  browse->setToolTip(tr("Choose a text file"));
  fileRow->addWidget(textFile_, 1);
  fileRow->addWidget(browse);
  form->addRow(tr("Text file"), fileRow);
  context_ = new QSpinBox(page);
  context_->setObjectName(QStringLiteral("perplexityContext"));
  context_->setRange(0, 1 << 20);
  context_->setSpecialValueText(tr("model's context"));
  form->addRow(tr("Context"), context_);
  stride_ = new QSpinBox(page);
  stride_->setObjectName(QStringLiteral("perplexityStride"));
  stride_->setRange(0, 1 << 20);
  stride_->setSpecialValueText(tr("half the context"));
  form->addRow(tr("Stride"), stride_);
  maxTokens_ = new QSpinBox(page);
  maxTokens_->setObjectName(QStringLiteral("perplexityMaxTokens"));
  maxTokens_->setRange(0, 2147483647);
  maxTokens_->setSpecialValueText(tr("all"));
  form->addRow(tr("Max tokens"), maxTokens_);
  for (QSpinBox* sb : {context_, stride_, maxTokens_}) sb->setMaximumWidth(200);
  v->addLayout(form);
  auto* row = new QHBoxLayout;
  evaluate_ = primaryButton(tr("Evaluate"), page);
  evaluate_->setObjectName(QStringLiteral("evaluateButton"));
  progress_ = new QProgressBar(page);
  progress_->setObjectName(QStringLiteral("perplexityProgress"));
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setFormat(QStringLiteral("%p%"));
  row->addWidget(evaluate_);
  row->addWidget(progress_, 1);
  v->addLayout(row);
  pplResult_ = new QLabel(page);
  pplResult_->setObjectName(QStringLiteral("perplexityResult"));
  pplResult_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  pplResult_->setWordWrap(true);
  v->addWidget(pplResult_);
  pplStatus_ = new QLabel(page);
  pplStatus_->setObjectName(QStringLiteral("perplexityStatus"));
  pplStatus_->setWordWrap(true);
  v->addWidget(pplStatus_);

  auto* chart = new QChart;
  chart->setTitle(tr("Per-token loss (moving average)"));
  chart->legend()->hide();
  chart->setMargins(QMargins(4, 4, 4, 4));
  lossSeries_ = new QLineSeries(chart);
  lossSeries_->setObjectName(QStringLiteral("lossSeries"));
  chart->addSeries(lossSeries_);
  auto* ax = new QValueAxis(chart);
  ax->setTitleText(tr("token"));
  ax->setLabelFormat(QStringLiteral("%d"));
  auto* ay = new QValueAxis(chart);
  ay->setTitleText(tr("loss (nats)"));
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  lossSeries_->attachAxis(ax);
  lossSeries_->attachAxis(ay);
  chartView_ = new QChartView(chart, page);
  chartView_->setObjectName(QStringLiteral("lossChart"));
  chartView_->setRenderHint(QPainter::Antialiasing);
  chartView_->setMinimumHeight(180);
  v->addWidget(chartView_, 1);

  connect(browse, &QToolButton::clicked, this, [this] {
    const QString f = QFileDialog::getOpenFileName(this, tr("Text to evaluate on"), textFile_->text(),
                                                   tr("Text files (*.txt);;All files (*)"));
    if (!f.isEmpty()) textFile_->setText(f);
  });
  connect(evaluate_, &QPushButton::clicked, this, &ModelDocument::startPerplexity);
  return page;
}

QWidget* ModelDocument::buildAttentionPage() {
  auto* page = new QWidget(this);
  page->setObjectName(QStringLiteral("attentionPage"));
  auto* v = new QVBoxLayout(page);
  auto* row = new QHBoxLayout;
  attnPrompt_ = new QLineEdit(QStringLiteral("Once upon a time, there was a little girl named Lily."), page);
  attnPrompt_->setObjectName(QStringLiteral("attentionPrompt"));
  compute_ = primaryButton(tr("Compute"), page);
  compute_->setObjectName(QStringLiteral("computeAttention"));
  row->addWidget(attnPrompt_, 1);
  row->addWidget(compute_);
  v->addLayout(row);
  auto* sel = new QHBoxLayout;
  layer_ = new QSpinBox(page);
  layer_->setObjectName(QStringLiteral("attentionLayer"));
  layer_->setRange(0, 0);
  layer_->setEnabled(false);
  head_ = new QSpinBox(page);
  head_->setObjectName(QStringLiteral("attentionHead"));
  head_->setRange(0, 0);
  head_->setEnabled(false);
  sel->addWidget(new QLabel(tr("Layer"), page));
  sel->addWidget(layer_);
  sel->addWidget(new QLabel(tr("Head"), page));
  sel->addWidget(head_);
  attnStatus_ = new QLabel(page);
  attnStatus_->setObjectName(QStringLiteral("attentionStatus"));
  attnStatus_->setWordWrap(true);
  sel->addWidget(attnStatus_, 1);
  v->addLayout(sel);
  heatmap_ = new AttentionHeatmap(page);
  heatmap_->setObjectName(QStringLiteral("attentionHeatmap"));
  v->addWidget(heatmap_, 1);
  connect(compute_, &QPushButton::clicked, this, &ModelDocument::startAttention);
  connect(attnPrompt_, &QLineEdit::returnPressed, this, &ModelDocument::startAttention);
  connect(layer_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { showAttention(); });
  connect(head_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { showAttention(); });
  return page;
}

void ModelDocument::showTools(int page) { tools_->setCurrentIndex(page); }

void ModelDocument::setStatus(QLabel* label, const QString& text, bool error) {
  label->setText(text);
  label->setStyleSheet(error ? QStringLiteral("color: #c0392b;") : QString());
}

int ModelDocument::startJob(const QString& job, const Json& params, QLabel* status, unsigned long long seed, bool seeded) {
  try {
    return workbench_.jobs().start(job, params, QStringLiteral("auto"),
                                   seeded ? std::optional<unsigned long long>(seed) : std::nullopt);
  } catch (const std::exception& e) {
    const QString msg = tr("%1 could not start: %2").arg(job, QString::fromUtf8(e.what()));
    workbench_.log(msg, true);
    setStatus(status, msg, true);
    return -1;
  }
}

void ModelDocument::startGeneration() {
  if (genJob_ >= 0) return;  // one at a time per document
  Json params{{"model", model_.toStdString()},
              {"prompt", prompt_->toPlainText().toStdString()},
              {"max_new_tokens", maxNew_->value()},
              {"temperature", temperature_->value()},
              {"top_k", topK_->value()},
              {"top_p", topP_->value()},
              {"stream_tokens", true}};
  output_->setPlainText(prompt_->toPlainText());
  streamed_ = 0;
  genJob_ = startJob(QStringLiteral("lm.generate"), params, genStatus_, static_cast<unsigned long long>(seed_->value()), true);
  if (genJob_ < 0) return;
  setStatus(genStatus_, tr("generating\u2026"), false);
  generate_->setEnabled(false);
  stop_->setEnabled(true);
}

void ModelDocument::stopGeneration() {
  if (genJob_ >= 0) workbench_.jobs().cancel(genJob_);
}

void ModelDocument::startPerplexity() {
  if (pplJob_ >= 0) return;
  const QString file = textFile_->text().trimmed();
  if (file.isEmpty() || !QFileInfo(file).isFile()) {
    setStatus(pplStatus_, file.isEmpty() ? tr("Choose a text file to evaluate on.") : tr("%1 does not exist.").arg(file), true);
    return;
  }
  Json params{{"model", model_.toStdString()},
              {"data", file.toStdString()},
              {"context", context_->value()},
              {"stride", stride_->value()},
              {"max_tokens", maxTokens_->value()}};
  pplJob_ = startJob(QStringLiteral("lm.eval"), params, pplStatus_);
  if (pplJob_ < 0) return;
  progress_->setValue(0);
  pplResult_->clear();
  lossSeries_->clear();
  setStatus(pplStatus_, tr("evaluating\u2026"), false);
  evaluate_->setEnabled(false);
}

void ModelDocument::startAttention() {
  if (attnJob_ >= 0) return;
  Json params{{"model", model_.toStdString()}, {"prompt", attnPrompt_->text().toStdString()}};
  attnJob_ = startJob(QStringLiteral("lm.attention"), params, attnStatus_);
  if (attnJob_ < 0) return;
  setStatus(attnStatus_, tr("computing\u2026"), false);
  compute_->setEnabled(false);
}

void ModelDocument::onLog(int id, core::LogLevel level, const QString& message) {
  if (id != genJob_ || level != core::LogLevel::Debug || !message.startsWith(QLatin1String("token: "))) return;
  const QByteArray raw = message.mid(7).toUtf8();
  QString piece;
  try {
    const Json j = Json::parse(raw.constData(), raw.constData() + raw.size());
    if (!j.is_string()) return;
    piece = QString::fromStdString(j.get<std::string>());
  } catch (const std::exception&) {
    return;
  }
  QTextCursor cursor(output_->document());
  cursor.movePosition(QTextCursor::End);
  cursor.insertText(piece);
  ++streamed_;
  output_->verticalScrollBar()->setValue(output_->verticalScrollBar()->maximum());
  setStatus(genStatus_, tr("%n token(s)", nullptr, streamed_), false);
}

void ModelDocument::onProgress(int id, double fraction, const QString& stage) {
  if (id == pplJob_) {
    progress_->setValue(static_cast<int>(std::lround(fraction * 1000)));
    if (!stage.isEmpty()) setStatus(pplStatus_, stage, false);
  } else if (id == attnJob_ && !stage.isEmpty()) {
    setStatus(attnStatus_, stage, false);
  }
}

void ModelDocument::onFinished(int id, core::RunStatus status, const QString& runDir, const QString& error) {
  if (id < 0) return;
  if (id == genJob_) {
    genJob_ = -1;
    finishGeneration(status, runDir, error);
  } else if (id == pplJob_) {
    pplJob_ = -1;
    finishPerplexity(status, runDir, error);
  } else if (id == attnJob_) {
    attnJob_ = -1;
    finishAttention(status, runDir, error);
  }
}

void ModelDocument::finishGeneration(core::RunStatus status, const QString& runDir, const QString& error) {
  generate_->setEnabled(true);
  stop_->setEnabled(false);
  if (status == core::RunStatus::Cancelled) {
    setStatus(genStatus_, tr("stopped after %n token(s)", nullptr, streamed_), false);
    return;
  }
  if (status != core::RunStatus::Completed) {
    const QString msg = tr("Generation failed: %1").arg(error.isEmpty() ? tr("unknown error") : error);
    workbench_.log(msg, true);
    setStatus(genStatus_, msg, true);
    return;
  }
  const RunResult run = readRun(runDir);
  QString why = run.error;
  QString text;
  if (run.ok()) {
    const QString file = run.artifact(QStringLiteral("generation.txt"));
    text = file.isEmpty() ? QString() : readTextFile(file, &why);
    if (file.isEmpty()) why = tr("the run has no generation.txt");
  }
  if (!why.isEmpty()) {
    workbench_.log(tr("Generation: %1").arg(why), true);
    setStatus(genStatus_, why, true);
    return;
  }
  if (text.endsWith(QLatin1Char('\n'))) text.chop(1);
  output_->setPlainText(text);
  const Json& s = run.summary();
  setStatus(genStatus_,
            tr("%1 tokens, %2 tokens/s, stopped by %3")
                .arg(intOf(s, "generated_tokens"))
                .arg(numOf(s, "tokens_per_s", 0), 0, 'f', 1)
                .arg(strOf(s, "stop_reason")),
            false);
}

void ModelDocument::finishPerplexity(core::RunStatus status, const QString& runDir, const QString& error) {
  evaluate_->setEnabled(true);
  if (status == core::RunStatus::Cancelled) {
    setStatus(pplStatus_, tr("cancelled"), false);
    return;
  }
  if (status != core::RunStatus::Completed) {
    const QString msg = tr("Perplexity failed: %1").arg(error.isEmpty() ? tr("unknown error") : error);
    workbench_.log(msg, true);
    setStatus(pplStatus_, msg, true);
    return;
  }
  progress_->setValue(1000);
  const RunResult run = readRun(runDir);
  if (!run.ok()) {
    workbench_.log(run.error, true);
    setStatus(pplStatus_, run.error, true);
    return;
  }
  const Json& s = run.summary();
  const double ppl = numOf(s, "perplexity");
  pplResult_->setText(tr("<b>Perplexity %1</b> &middot; %2 bits per byte &middot; %3 tokens &middot; context %4, stride %5")
                          .arg(ppl, 0, 'f', 3)
                          .arg(numOf(s, "bits_per_byte"), 0, 'f', 4)
                          .arg(grouped(intOf(s, "tokens")))
                          .arg(intOf(s, "context"))
                          .arg(intOf(s, "stride")));
  pplResult_->setProperty("perplexity", ppl);
  setStatus(pplStatus_, QString(), false);
  const QString file = run.artifact(QStringLiteral("token_losses.npy"));
  try {
    if (file.isEmpty()) throw std::runtime_error("the run has no token_losses.npy");
    const FloatArray losses = readFloatNpy(file);
    const auto n = static_cast<long long>(losses.values.size());
    const long long window = std::max<long long>(1, std::min<long long>(32, n / 4));
    const long long step = std::max<long long>(1, n / 1500);  // at most ~1500 points
    QList<QPointF> points;
    double sum = 0, lo = 1e30, hi = -1e30;
    for (long long i = 0; i < n; ++i) {
      sum += losses.values[static_cast<size_t>(i)];
      if (i >= window) sum -= losses.values[static_cast<size_t>(i - window)];
      if (i + 1 < window || ((i + 1 - window) % step != 0 && i != n - 1)) continue;
      const double avg = sum / static_cast<double>(window);
      points.append(QPointF(static_cast<double>(i + 1), avg));  // token index (the first token has no loss)
      lo = std::min(lo, avg);
      hi = std::max(hi, avg);
    }
    lossSeries_->replace(points);
    auto axes = chartView_->chart()->axes();
    for (auto* a : axes) {
      auto* va = qobject_cast<QValueAxis*>(a);
      if (!va) continue;
      if (a->orientation() == Qt::Horizontal) va->setRange(0, static_cast<double>(std::max<long long>(n, 1)));
      else if (!points.isEmpty()) va->setRange(std::max(0.0, lo - 0.1 * (hi - lo + 0.1)), hi + 0.1 * (hi - lo + 0.1));
    }
    for (auto* a : axes)
      if (auto* va = qobject_cast<QValueAxis*>(a)) va->applyNiceNumbers();
    chartView_->chart()->setTitle(tr("Per-token loss, moving average over %1 tokens").arg(window));
  } catch (const std::exception& e) {
    const QString msg = tr("Per-token losses: %1").arg(QString::fromUtf8(e.what()));
    workbench_.log(msg, true);
    setStatus(pplStatus_, msg, true);
  }
}

void ModelDocument::finishAttention(core::RunStatus status, const QString& runDir, const QString& error) {
  compute_->setEnabled(true);
  if (status == core::RunStatus::Cancelled) {
    setStatus(attnStatus_, tr("cancelled"), false);
    return;
  }
  if (status != core::RunStatus::Completed) {
    const QString msg = tr("Attention failed: %1").arg(error.isEmpty() ? tr("unknown error") : error);
    workbench_.log(msg, true);
    setStatus(attnStatus_, msg, true);
    return;
  }
  const RunResult run = readRun(runDir);
  try {
    if (!run.ok()) throw std::runtime_error(run.error.toStdString());
    const QString npy = run.artifact(QStringLiteral("attention.npy"));
    const QString tokFile = run.artifact(QStringLiteral("tokens.json"));
    if (npy.isEmpty() || tokFile.isEmpty()) throw std::runtime_error("the run has no attention.npy or tokens.json");
    FloatArray a = readFloatNpy(npy);
    if (a.shape.size() != 4 || a.shape[2] != a.shape[3])
      throw std::runtime_error(npy.toStdString() + ": expected [layers, heads, T, T]");
    QString why;
    const Json tj = readJsonFile(tokFile, &why);
    if (!why.isEmpty()) throw std::runtime_error(why.toStdString());
    QStringList texts;
    if (tj.contains("texts") && tj["texts"].is_array())
      for (const auto& t : tj["texts"]) texts << (t.is_string() ? QString::fromStdString(t.get<std::string>()) : QString());
    layers_ = static_cast<int>(a.shape[0]);
    heads_ = static_cast<int>(a.shape[1]);
    tokens_ = static_cast<int>(a.shape[2]);
    attention_ = std::move(a.values);
    tokenTexts_ = texts;
    {
      const QSignalBlocker b1(layer_), b2(head_);
      layer_->setRange(0, layers_ - 1);
      head_->setRange(0, heads_ - 1);
      layer_->setEnabled(true);
      head_->setEnabled(true);
    }
    setStatus(attnStatus_, tr("%1 layers \u00d7 %2 heads, %3 tokens").arg(layers_).arg(heads_).arg(tokens_), false);
    showAttention();
  } catch (const std::exception& e) {
    const QString msg = tr("Attention: %1").arg(QString::fromUtf8(e.what()));
    workbench_.log(msg, true);
    setStatus(attnStatus_, msg, true);
  }
}

void ModelDocument::showAttention() {
  if (attention_.empty()) return;
  const int l = layer_->value(), h = head_->value();
  const auto TT = static_cast<size_t>(tokens_) * static_cast<size_t>(tokens_);
  const size_t offset = (static_cast<size_t>(l) * static_cast<size_t>(heads_) + static_cast<size_t>(h)) * TT;
  std::vector<float> m(attention_.begin() + static_cast<std::ptrdiff_t>(offset),
                       attention_.begin() + static_cast<std::ptrdiff_t>(offset + TT));
  heatmap_->setMatrix(std::move(m), tokens_, tokenTexts_, tr("Layer %1, head %2").arg(l).arg(h));
}

}  // namespace atomscope::gui::models
