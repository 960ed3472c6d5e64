#include "atomscope/gui/panels.h"

#include <QComboBox>
#include <QDateTime>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollBar>
#include <QTextCursor>
#include <QTimer>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace atomscope::gui {

namespace {
constexpr int kMaxLines = 20000;

QString levelColour(core::LogLevel l) {
  switch (l) {
    case core::LogLevel::Debug: return QStringLiteral("#7f8c8d");
    case core::LogLevel::Info: return QStringLiteral("#1d2b36");
    case core::LogLevel::Warning: return QStringLiteral("#b9770e");
    case core::LogLevel::Error: return QStringLiteral("#c0392b");
  }
  return QStringLiteral("#000000");
}
const char* levelTag(core::LogLevel l) {
  switch (l) {
    case core::LogLevel::Debug: return "debug";
    case core::LogLevel::Info: return "info";
    case core::LogLevel::Warning: return "warning";
    case core::LogLevel::Error: return "error";
  }
  return "";
}
}  // namespace

LogConsole::LogConsole(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(2, 2, 2, 2);
  v->setSpacing(2);
  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Show:"), this));
  filter_ = new QComboBox(this);
  filter_->addItems({tr("Everything"), tr("Info and above"), tr("Warnings and errors"), tr("Errors only")});
  filter_->setCurrentIndex(1);
  bar->addWidget(filter_);
  bar->addStretch(1);
  auto* clearButton = new QToolButton(this);
  clearButton->setText(tr("Clear"));
  clearButton->setAutoRaise(true);
  bar->addWidget(clearButton);
  v->addLayout(bar);
  view_ = new QPlainTextEdit(this);
  view_->setObjectName(QStringLiteral("logView"));
  view_->setReadOnly(true);
  view_->setMaximumBlockCount(kMaxLines);
  view_->setLineWrapMode(QPlainTextEdit::NoWrap);
  QFont mono = QFontDatabase::systemFont(QFontDatabase::FixedFont);
  mono.setPointSizeF(std::max(7.0, font().pointSizeF() - 1.0));
  view_->setFont(mono);
  v->addWidget(view_);
  connect(filter_, &QComboBox::currentIndexChanged, this, [this](int) { rebuild(); });
  connect(clearButton, &QToolButton::clicked, this, &LogConsole::clear);
  batch_ = new QTimer(this);
  batch_->setSingleShot(true);
  batch_->setInterval(100);
  connect(batch_, &QTimer::timeout, this, &LogConsole::showPending);
}

void LogConsole::append(core::LogLevel level, const QString& source, const QString& message) {
  if (level == core::LogLevel::Error) ++errors_;
  const QString html = QStringLiteral("<span style=\"color:#8a96a3\">%1</span> "
                                      "<span style=\"color:%2\"><b>%3</b> [%4] %5</span>")
                           .arg(QDateTime::currentDateTime().toString(QStringLiteral("HH:mm:ss")), levelColour(level),
                                QString::fromLatin1(levelTag(level)), source.toHtmlEscaped(),
                                message.toHtmlEscaped());
  lines_.append({level, html});
  if (lines_.size() > kMaxLines) lines_.remove(0, lines_.size() - kMaxLines);
  if (static_cast<int>(level) >= filter_->currentIndex()) {
    pending_.append(html);
    if (!batch_->isActive()) batch_->start();
  }
}

void LogConsole::showPending() {
  if (pending_.isEmpty()) return;
  auto* sb = view_->verticalScrollBar();
  const bool atEnd = sb->value() >= sb->maximum() - 4;
  // One edit block: the document is laid out once for the whole batch.
  QTextCursor block(view_->document());
  block.beginEditBlock();
  for (const QString& html : pending_) view_->appendHtml(html);
  block.endEditBlock();
  pending_.clear();
  if (atEnd) sb->setValue(sb->maximum());
}

void LogConsole::rebuild() {
  view_->clear();
  pending_.clear();
  const int minLevel = filter_->currentIndex();
  for (const auto& l : lines_)
    if (static_cast<int>(l.level) >= minLevel) pending_.append(l.html);
  showPending();
}

QString LogConsole::plainText() const {
  const_cast<LogConsole*>(this)->showPending();  // what the view shows within 100 ms
  return view_->toPlainText();
}

void LogConsole::clear() {
  lines_.clear();
  pending_.clear();
  view_->clear();
  errors_ = 0;
}

PropertiesPanel::PropertiesPanel(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  v->setContentsMargins(2, 2, 2, 2);
  heading_ = new QLabel(tr("Nothing selected"), this);
  heading_->setObjectName(QStringLiteral("propertiesHeading"));
  heading_->setWordWrap(true);
  QFont f = heading_->font();
  f.setBold(true);
  heading_->setFont(f);
  v->addWidget(heading_);
  tree_ = new QTreeWidget(this);
  tree_->setColumnCount(2);
  tree_->setHeaderLabels({tr("Property"), tr("Value")});
  tree_->setAlternatingRowColors(true);
  tree_->setUniformRowHeights(true);
  tree_->header()->setSectionResizeMode(0, QHeaderView::Interactive);
  tree_->header()->resizeSection(0, 130);
  tree_->header()->setStretchLastSection(true);
  tree_->setTextElideMode(Qt::ElideMiddle);
  tree_->setIndentation(12);
  v->addWidget(tree_);
}

void PropertiesPanel::clear() {
  tree_->clear();
  heading_->setText(tr("Nothing selected"));
}

static QString scalarText(const Json& v) {
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_float()) return QString::number(v.get<double>(), 'g', 8);
  if (v.is_null()) return QStringLiteral("—");
  return QString::fromStdString(v.dump());
}

void PropertiesPanel::addJson(QTreeWidgetItem* parent, const QString& key, const Json& value) {
  auto* item = new QTreeWidgetItem(parent, {key});
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) addJson(item, QString::fromStdString(it.key()), it.value());
    item->setExpanded(true);
  } else if (value.is_array() && !value.empty() && (value.front().is_object() || value.size() > 8)) {
    int i = 0;
    for (const auto& e : value) addJson(item, QStringLiteral("[%1]").arg(i++), e);
    item->setText(1, QStringLiteral("%1 items").arg(value.size()));
  } else {
    item->setText(1, scalarText(value));
    item->setToolTip(1, scalarText(value));
  }
}

void PropertiesPanel::showSections(const QString& heading, const QList<QPair<QString, Json>>& sections) {
  tree_->clear();
  heading_->setText(heading);
  for (const auto& [title, json] : sections) {
    auto* top = new QTreeWidgetItem(tree_, {title});
    QFont f = top->font(0);
    f.setBold(true);
    top->setFont(0, f);
    top->setFirstColumnSpanned(true);
    if (json.is_object()) {
      for (auto it = json.begin(); it != json.end(); ++it) addJson(top, QString::fromStdString(it.key()), it.value());
    } else {
      top->setText(1, scalarText(json));
    }
    top->setExpanded(true);
  }
}

QString PropertiesPanel::heading() const { return heading_->text(); }

QString PropertiesPanel::value(const QString& section, const QString& key) const {
  for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
    auto* top = tree_->topLevelItem(i);
    if (top->text(0) != section) continue;
    for (int j = 0; j < top->childCount(); ++j)
      if (top->child(j)->text(0) == key) return top->child(j)->text(1);
  }
  return {};
}

}  // namespace atomscope::gui
