// The Models plugin, loaded from the build's plugin folder into a real main window, on
// stories260K (llama2.c's tinyllamas model; ../shared/data/README.md): architecture tree,
// streamed greedy generation, perplexity with its loss chart, attention heatmaps.
// Screenshots land in <build>/test_output/models/.
#include <gtest/gtest.h>

#include <QAbstractSeries>
#include <QChart>
#include <QChartView>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextStream>
#include <QTreeWidget>
#include <QXYSeries>
#include <cmath>
#include <set>

#include "atomscope/gui/main_window.h"
#include "atomscope/gui/panels.h"
#include "test_util.h"

namespace atomscope::gui {
namespace {

using test::waitUntil;

template <class T>
T* child(QWidget* parent, const char* name) {
  return parent ? parent->findChild<T*>(QString::fromLatin1(name)) : nullptr;
}

struct Stats {
  double lumaStdDev = 0;
  int distinctColours = 0;
};

Stats statsOf(const QImage& image) {
  const QImage img = image.convertToFormat(QImage::Format_RGB32);
  std::set<QRgb> colours;
  double sum = 0, sum2 = 0;
  const double n = static_cast<double>(img.width()) * img.height();
  for (int y = 0; y < img.height(); ++y) {
    const auto* line = reinterpret_cast<const QRgb*>(img.constScanLine(y));
    for (int x = 0; x < img.width(); ++x) {
      colours.insert(line[x]);
      const double l = 0.299 * qRed(line[x]) + 0.587 * qGreen(line[x]) + 0.114 * qBlue(line[x]);
      sum += l;
      sum2 += l * l;
    }
  }
  Stats s;
  s.distinctColours = static_cast<int>(colours.size());
  s.lumaStdDev = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  return s;
}

TEST(ModelsPlugin, OpensStories260KGeneratesEvaluatesAndShowsAttention) {
  QTemporaryDir runs;
  ASSERT_TRUE(runs.isValid());
  MainWindow window(runs.path());
  window.resize(1280, 800);
  window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
  window.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&window));
  bool menuFound = false;
  for (QAction* a : window.menuBar()->actions()) menuFound |= a->text().remove('&') == QStringLiteral("Models");
  EXPECT_TRUE(menuFound);
  EXPECT_NE(window.action(QStringLiteral("modelsOpenFolder")), nullptr);

  // Open: lm.inspect runs as a job, then the model's tab appears.
  const int before = window.documents()->count();
  QString error;
  const QString model = QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/lm/stories260K.bin");
  ASSERT_TRUE(window.openFile(model, &error)) << error.toStdString();
  ASSERT_TRUE(waitUntil([&] { return window.documents()->count() == before + 1; }, 60000))
      << window.logConsole()->plainText().toStdString();
  QWidget* doc = window.documents()->currentWidget();
  ASSERT_NE(doc, nullptr);
  auto* tree = child<QTreeWidget>(doc, "modelTree");
  ASSERT_NE(tree, nullptr);
  int blocks = 0;
  long long total = -1;
  for (int i = 0; i < tree->topLevelItemCount(); ++i) {
    QTreeWidgetItem* item = tree->topLevelItem(i);
    const QString role = item->data(0, Qt::UserRole).toString();
    if (role == QLatin1String("block")) {
      ++blocks;
      // Each llama block holds 2 norms, 4 attention and 3 MLP projections.
      EXPECT_EQ(item->childCount(), 9) << item->text(0).toStdString();
    }
    if (role == QLatin1String("total")) total = item->data(1, Qt::UserRole).toLongLong();
  }
  // 260032 parameters and 5 layers: llama2.c's stories260K (karpathy/tinyllamas model card).
  EXPECT_EQ(total, 260032);
  EXPECT_EQ(blocks, 5);
  auto* header = child<QLabel>(doc, "modelHeader");
  ASSERT_NE(header, nullptr);
  EXPECT_TRUE(header->text().contains(QStringLiteral("260,032"))) << header->text().toStdString();
  EXPECT_TRUE(header->text().contains(QStringLiteral("4 kv heads"))) << header->text().toStdString();
  // Shapes come from the config: q_proj of dim 64 with 8 heads of 8 is [64 x 64], k_proj [32 x 64].
  QTreeWidgetItem* block0 = nullptr;
  for (int i = 0; i < tree->topLevelItemCount(); ++i)
    if (tree->topLevelItem(i)->text(0) == QStringLiteral("Block 0")) block0 = tree->topLevelItem(i);
  ASSERT_NE(block0, nullptr);
  QStringList shapes;
  for (int i = 0; i < block0->childCount(); ++i) shapes << block0->child(i)->text(0) + "=" + block0->child(i)->text(2);
  EXPECT_TRUE(shapes.contains(QStringLiteral("self_attn.k_proj=[32 \u00d7 64]"))) << shapes.join(", ").toStdString();

  // Generate: greedy, 20 tokens from an empty prompt; tokens stream into the output.
  auto* tools = child<QTabWidget>(doc, "modelTools");
  ASSERT_NE(tools, nullptr);
  tools->setCurrentIndex(0);
  auto* temperature = child<QDoubleSpinBox>(doc, "temperature");
  auto* maxNew = child<QSpinBox>(doc, "maxNewTokens");
  auto* generate = child<QPushButton>(doc, "generateButton");
  auto* output = child<QPlainTextEdit>(doc, "generateOutput");
  ASSERT_TRUE(temperature && maxNew && generate && output);
  temperature->setValue(0);
  maxNew->setValue(20);
  QStringList streamed;
  QObject::connect(output, &QPlainTextEdit::textChanged, output, [&] {
    if (!generate->isEnabled()) streamed << output->toPlainText();
  });
  QTest::mouseClick(generate, Qt::LeftButton);
  EXPECT_FALSE(generate->isEnabled());
  ASSERT_TRUE(waitUntil([&] { return generate->isEnabled(); }, 60000)) << "generation did not finish";
  // The known greedy output of stories260K from BOS (../shared/data/README.md).
  EXPECT_TRUE(output->toPlainText().startsWith(QStringLiteral("Once upon a time"))) << output->toPlainText().toStdString();
  // Streaming: many partial texts were shown before the final one, and they grew into it.
  ASSERT_GE(streamed.size(), 10);
  EXPECT_TRUE(streamed.last().startsWith(QStringLiteral("Once upon a time"))) << streamed.last().toStdString();
  EXPECT_LT(streamed[2].size(), streamed.last().size());
  const QImage genShot = window.grab().toImage();
  genShot.save(test::outputDir(QStringLiteral("models")) + "/models_generate.png");

  // Perplexity on the first 40 lines of the TinyStories validation head.
  QFile in(QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/text/tinystories/tinystories_val_head.txt"));
  ASSERT_TRUE(in.open(QIODevice::ReadOnly | QIODevice::Text));
  QTemporaryDir tmp;
  const QString text = tmp.filePath(QStringLiteral("val40.txt"));
  {
    QFile out(text);
    ASSERT_TRUE(out.open(QIODevice::WriteOnly));
    for (int i = 0; i < 40 && !in.atEnd(); ++i) out.write(in.readLine());
  }
  tools->setCurrentIndex(1);
  auto* file = child<QLineEdit>(doc, "perplexityFile");
  auto* evaluate = child<QPushButton>(doc, "evaluateButton");
  auto* progress = child<QProgressBar>(doc, "perplexityProgress");
  auto* result = child<QLabel>(doc, "perplexityResult");
  auto* chartView = child<QChartView>(doc, "lossChart");
  auto* context = child<QSpinBox>(doc, "perplexityContext");
  ASSERT_TRUE(file && evaluate && progress && result && chartView && context);
  file->setText(text);
  context->setValue(128);
  QTest::mouseClick(evaluate, Qt::LeftButton);
  ASSERT_TRUE(waitUntil([&] { return evaluate->isEnabled(); }, 120000)) << "evaluation did not finish";
  const double ppl = result->property("perplexity").toDouble();
  // A trained 512-token model is far better than uniform (perplexity 512) and no better than 1.
  EXPECT_TRUE(std::isfinite(ppl)) << result->text().toStdString();
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 512.0);
  EXPECT_EQ(progress->value(), progress->maximum());
  ASSERT_EQ(chartView->chart()->series().size(), 1);
  auto* series = qobject_cast<QXYSeries*>(chartView->chart()->series().front());
  ASSERT_NE(series, nullptr);
  EXPECT_GT(series->count(), 10);
  QTest::qWait(100);
  window.grab().toImage().save(test::outputDir(QStringLiteral("models")) + "/models_perplexity.png");

  // Attention: a short prompt, heatmaps for 5 layers x 8 heads.
  tools->setCurrentIndex(2);
  auto* prompt = child<QLineEdit>(doc, "attentionPrompt");
  auto* compute = child<QPushButton>(doc, "computeAttention");
  auto* layer = child<QSpinBox>(doc, "attentionLayer");
  auto* head = child<QSpinBox>(doc, "attentionHead");
  auto* heatmap = child<QWidget>(doc, "attentionHeatmap");
  ASSERT_TRUE(prompt && compute && layer && head && heatmap);
  const QImage blank = heatmap->grab().toImage();
  prompt->setText(QStringLiteral("Once upon a time, there was a little girl named Lily."));
  QTest::mouseClick(compute, Qt::LeftButton);
  ASSERT_TRUE(waitUntil([&] { return compute->isEnabled(); }, 60000)) << "attention did not finish";
  EXPECT_TRUE(layer->isEnabled());
  EXPECT_EQ(layer->maximum() + 1, 5);
  EXPECT_EQ(head->maximum() + 1, 8);
  QTest::qWait(50);
  const QImage map0 = heatmap->grab().toImage();
  const Stats s0 = statsOf(map0), sb = statsOf(blank);
  EXPECT_GT(s0.distinctColours, 50);
  EXPECT_GT(s0.lumaStdDev, 20.0);
  EXPECT_GT(s0.distinctColours, sb.distinctColours * 3);
  layer->setValue(3);
  head->setValue(5);
  QTest::qWait(50);
  const QImage map35 = heatmap->grab().toImage();
  EXPECT_NE(map0, map35);  // another head shows another map
  map35.save(test::outputDir(QStringLiteral("models")) + "/models_attention_heatmap.png");
  window.grab().toImage().save(test::outputDir(QStringLiteral("models")) + "/models_window.png");
  // The model tab fits the 1280-pixel window it was given (no page forces the window wider).
  EXPECT_LE(window.width(), 1280);
  EXPECT_EQ(window.logConsole()->errorCount(), 0) << window.logConsole()->plainText().toStdString();
}

TEST(ModelsPlugin, ABrokenCheckpointIsReportedWithoutATab) {
  QTemporaryDir runs;
  MainWindow window(runs.path());
  window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
  const QString bad = runs.filePath(QStringLiteral("broken.bin"));
  QFile f(bad);
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write("not a llama2.c checkpoint");
  f.close();
  const int before = window.documents()->count();
  QString error;
  ASSERT_TRUE(window.openFile(bad, &error)) << error.toStdString();  // lm.inspect starts; it fails later
  ASSERT_TRUE(waitUntil([&] { return window.logConsole()->errorCount() > 0; }, 30000));
  EXPECT_TRUE(window.logConsole()->plainText().contains(QStringLiteral("broken.bin")))
      << window.logConsole()->plainText().toStdString();
  EXPECT_EQ(window.documents()->count(), before);
  // A folder without config.json is refused at once.
  EXPECT_FALSE(window.openFile(runs.filePath(QStringLiteral("config.json")), &error));
}

// A Hugging Face model folder (opened or dropped) opens through its config.json.
TEST(ModelsPlugin, OpensAHuggingFaceFolderByItsConfig) {
  QTemporaryDir runs;
  MainWindow window(runs.path());
  window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
  const int before = window.documents()->count();
  QString error;
  ASSERT_TRUE(window.openFile(QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/lm/fake_gpt2_random"), &error))
      << error.toStdString();
  ASSERT_TRUE(waitUntil([&] { return window.documents()->count() == before + 1; }, 60000))
      << window.logConsole()->plainText().toStdString();
  EXPECT_EQ(window.documents()->tabText(before), QStringLiteral("fake_gpt2_random"));
  QWidget* doc = window.documents()->widget(before);
  auto* tree = child<QTreeWidget>(doc, "modelTree");
  ASSERT_NE(tree, nullptr);
  // GPT-2 with n_embd 2, n_layer 1, n_positions 1024, vocab 50257 (its config.json): wte 100514 +
  // wpe 2048 + block (ln 4+4, c_attn 18, attn c_proj 6, c_fc 24, mlp c_proj 18) 74 + ln_f 4 = 102640,
  // GPT2LMHeadModel's parameter count (the float32 model.safetensors holds 410560 bytes of weights).
  EXPECT_EQ(tree->property("totalParameters").toLongLong(), 102640);
  EXPECT_EQ(tree->property("blockCount").toInt(), 1);
  QStringList top;
  for (int i = 0; i < tree->topLevelItemCount(); ++i)
    top << tree->topLevelItem(i)->text(0) + "=" + tree->topLevelItem(i)->text(2);
  EXPECT_TRUE(top.contains(QStringLiteral("wte=[50257 \u00d7 2]"))) << top.join(", ").toStdString();
  EXPECT_TRUE(top.contains(QStringLiteral("wpe=[1024 \u00d7 2]"))) << top.join(", ").toStdString();
  auto* header = child<QLabel>(doc, "modelHeader");
  ASSERT_NE(header, nullptr);
  EXPECT_TRUE(header->text().contains(QStringLiteral("gpt2"))) << header->text().toStdString();
}

// A job that fails shows its error in the panel and in the workbench log.
TEST(ModelsPlugin, AFailedEvaluationIsShownInThePanelAndTheLog) {
  QTemporaryDir runs;
  MainWindow window(runs.path());
  window.loadPlugins({QStringLiteral(ATOMSCOPE_BUILD_PLUGIN_DIR)});
  const int before = window.documents()->count();
  QString error;
  ASSERT_TRUE(window.openFile(QStringLiteral(ATOMSCOPE_SHARED_DATA_DIR "/lm/stories260K.bin"), &error));
  ASSERT_TRUE(waitUntil([&] { return window.documents()->count() == before + 1; }, 60000));
  QWidget* doc = window.documents()->widget(before);
  auto* file = child<QLineEdit>(doc, "perplexityFile");
  auto* evaluate = child<QPushButton>(doc, "evaluateButton");
  auto* status = child<QLabel>(doc, "perplexityStatus");
  ASSERT_TRUE(file && evaluate && status);
  // A missing file is caught before any job starts.
  file->setText(runs.filePath(QStringLiteral("missing.txt")));
  QTest::mouseClick(evaluate, Qt::LeftButton);
  EXPECT_TRUE(status->text().contains(QStringLiteral("does not exist"))) << status->text().toStdString();
  // An empty text gives fewer than 2 tokens: lm.eval fails, and says so.
  const QString empty = runs.filePath(QStringLiteral("empty.txt"));
  QFile f(empty);
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.close();
  file->setText(empty);
  const int errorsBefore = window.logConsole()->errorCount();
  QTest::mouseClick(evaluate, Qt::LeftButton);
  EXPECT_FALSE(evaluate->isEnabled());
  ASSERT_TRUE(waitUntil([&] { return evaluate->isEnabled(); }, 60000));
  EXPECT_TRUE(status->text().startsWith(QStringLiteral("Perplexity failed"))) << status->text().toStdString();
  EXPECT_TRUE(status->text().contains(QStringLiteral("fewer than 2 tokens"))) << status->text().toStdString();
  EXPECT_GT(window.logConsole()->errorCount(), errorsBefore);
}

}  // namespace
}  // namespace atomscope::gui
