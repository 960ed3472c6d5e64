#include "atomscope/gui/param_form.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDoubleValidator>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <climits>
#include <cmath>

#include "atomscope/core/device.h"
#include "atomscope/core/error.h"

namespace atomscope::gui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

const std::vector<core::DeviceInfo>& devices() {
  static const std::vector<core::DeviceInfo> list = [] {
    try {
      return core::availableDevices();
    } catch (const std::exception&) {
      return std::vector<core::DeviceInfo>{{"cpu", "CPU"}};
    }
  }();
  return list;
}

bool intFits(const core::ParamSpec& s) {
  return s.min && s.max && *s.min >= INT_MIN && *s.max <= INT_MAX;
}

bool floatSpinSuits(const core::ParamSpec& s) {
  if (!s.min || !s.max || s.required()) return false;
  if (*s.max - *s.min > 1e6) return false;
  const double d = s.defaultValue.is_number() ? s.defaultValue.get<double>() : 0.0;
  return d == 0.0 || std::abs(d) >= 1e-3;
}

QString tooltipFor(const core::ParamSpec& s) {
  QString tip = QStringLiteral("<b>%1</b> (%2)").arg(qs(s.name).toHtmlEscaped(), qs(core::toString(s.type)));
  if (!s.help.empty()) tip += QStringLiteral("<br>") + qs(s.help).toHtmlEscaped();
  if (s.min || s.max)
    tip += QStringLiteral("<br>range: [%1, %2]")
               .arg(s.min ? QString::number(*s.min, 'g', 12) : QStringLiteral("-inf"),
                    s.max ? QString::number(*s.max, 'g', 12) : QStringLiteral("inf"));
  if (s.required()) tip += QStringLiteral("<br><i>required</i>");
  return tip;
}

// Maps preference names to the spellings jobs use in dtype/precision choices.
QStringList precisionAliases(const QString& p) {
  if (p == QLatin1String("bf16")) return {"bf16", "bfloat16"};
  if (p == QLatin1String("fp32")) return {"fp32", "float32", "float"};
  if (p == QLatin1String("fp16")) return {"fp16", "float16", "half"};
  return {p};
}

}  // namespace

ParamForm::ParamForm(core::ParamSchema schema, QWidget* parent) : QWidget(parent), schema_(std::move(schema)) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);

  auto makeForm = [](QWidget* host) {
    auto* f = new QFormLayout(host);
    f->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    f->setLabelAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return f;
  };

  // Basic parameters: ungrouped first, then one section per group (in declaration order).
  QStringList groupOrder;
  for (const auto& s : schema_.specs())
    if (!s.advanced && !groupOrder.contains(qs(s.group))) groupOrder << qs(s.group);
  for (const QString& group : groupOrder) {
    QWidget* host;
    if (group.isEmpty()) {
      host = new QWidget(this);
    } else {
      auto* box = new QGroupBox(group, this);
      host = box;
    }
    auto* form = makeForm(host);
    if (group.isEmpty()) form->setContentsMargins(0, 0, 0, 0);
    for (const auto& s : schema_.specs()) {
      if (s.advanced || qs(s.group) != group) continue;
      auto* label = new QLabel(qs(s.label.empty() ? s.name : s.label) + (s.required() ? " *" : ""), host);
      label->setToolTip(tooltipFor(s));
      QWidget* ed = createEditor(s);
      form->addRow(label, ed);
      rows_[qs(s.name)] = ed;
    }
    outer->addWidget(host);
  }

  // Advanced parameters folded in a collapsible section.
  int advancedCount = 0;
  for (const auto& s : schema_.specs()) advancedCount += s.advanced ? 1 : 0;
  if (advancedCount > 0) {
    advancedToggle_ = new QToolButton(this);
    advancedToggle_->setText(tr("Advanced (%1)").arg(advancedCount));
    advancedToggle_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    advancedToggle_->setArrowType(Qt::RightArrow);
    advancedToggle_->setCheckable(true);
    advancedToggle_->setAutoRaise(true);
    advancedBox_ = new QWidget(this);
    auto* form = makeForm(advancedBox_);
    for (const auto& s : schema_.specs()) {
      if (!s.advanced) continue;
      auto* label = new QLabel(qs(s.label.empty() ? s.name : s.label), advancedBox_);
      label->setToolTip(tooltipFor(s));
      QWidget* ed = createEditor(s);
      form->addRow(label, ed);
      rows_[qs(s.name)] = ed;
    }
    advancedBox_->setVisible(false);
    connect(advancedToggle_, &QToolButton::toggled, this, [this](bool on) { setAdvancedExpanded(on); });
    outer->addWidget(advancedToggle_);
    outer->addWidget(advancedBox_);
  }

  errors_ = new QLabel(this);
  errors_->setObjectName(QStringLiteral("paramFormErrors"));
  errors_->setWordWrap(true);
  errors_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  errors_->setStyleSheet(QStringLiteral("QLabel { color: #b03a2e; background: #fdecea; border: 1px solid #e6b0aa;"
                                        " border-radius: 3px; padding: 4px; }"));
  errors_->setVisible(false);
  outer->addWidget(errors_);

  auto* buttons = new QHBoxLayout;
  buttons->addStretch(1);
  auto* reset = new QPushButton(tr("Reset to defaults"), this);
  reset->setObjectName(QStringLiteral("resetDefaults"));
  connect(reset, &QPushButton::clicked, this, &ParamForm::resetToDefaults);
  buttons->addWidget(reset);
  outer->addLayout(buttons);
  outer->addStretch(1);

  resetToDefaults();
}

QWidget* ParamForm::createEditor(const core::ParamSpec& s) {
  const QString name = qs(s.name);
  QWidget* editor = nullptr;
  QWidget* row = nullptr;
  switch (s.type) {
    case core::ParamType::Int: {
      if (intFits(s) && !s.required()) {
        auto* sb = new QSpinBox(this);
        sb->setRange(static_cast<int>(*s.min), static_cast<int>(*s.max));
        sb->setAccelerated(true);
        connect(sb, &QSpinBox::valueChanged, this, &ParamForm::changed);
        editor = sb;
      } else {
        auto* le = new QLineEdit(this);
        le->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[-+]?\\d*")), le));
        if (s.required()) le->setPlaceholderText(tr("required"));
        connect(le, &QLineEdit::textEdited, this, &ParamForm::changed);
        editor = le;
      }
      break;
    }
    case core::ParamType::Float: {
      if (floatSpinSuits(s)) {
        auto* sb = new QDoubleSpinBox(this);
        sb->setDecimals(6);
        sb->setRange(*s.min, *s.max);
        sb->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
        connect(sb, &QDoubleSpinBox::valueChanged, this, &ParamForm::changed);
        editor = sb;
      } else {
        auto* le = new QLineEdit(this);
        auto* v = new QDoubleValidator(le);
        v->setNotation(QDoubleValidator::ScientificNotation);
        v->setLocale(QLocale::c());
        le->setValidator(v);
        if (s.required()) le->setPlaceholderText(tr("required"));
        connect(le, &QLineEdit::textEdited, this, &ParamForm::changed);
        editor = le;
      }
      break;
    }
    case core::ParamType::Bool: {
      auto* cb = new QCheckBox(this);
      connect(cb, &QCheckBox::toggled, this, &ParamForm::changed);
      editor = cb;
      break;
    }
    case core::ParamType::Choice: {
      auto* combo = new QComboBox(this);
      for (const auto& c : s.choices) combo->addItem(qs(c));
      connect(combo, &QComboBox::currentIndexChanged, this, &ParamForm::changed);
      editor = combo;
      break;
    }
    case core::ParamType::Device: {
      auto* combo = new QComboBox(this);
      combo->addItem(QStringLiteral("auto"));
      combo->setItemData(0, tr("CUDA if available, else CPU"), Qt::ToolTipRole);
      for (const auto& d : devices()) {
        combo->addItem(qs(d.name));
        combo->setItemData(combo->count() - 1, qs(d.description), Qt::ToolTipRole);
      }
      connect(combo, &QComboBox::currentIndexChanged, this, &ParamForm::changed);
      editor = combo;
      break;
    }
    case core::ParamType::Path: {
      row = new QWidget(this);
      auto* h = new QHBoxLayout(row);
      h->setContentsMargins(0, 0, 0, 0);
      auto* le = new QLineEdit(row);
      if (s.required()) le->setPlaceholderText(s.directory ? tr("required: a folder") : tr("required: a file"));
      auto* browse = new QToolButton(row);
      browse->setText(QStringLiteral("…"));
      browse->setToolTip(s.directory ? tr("Choose a folder") : tr("Choose a file"));
      const QString filter = qs(s.fileFilter);
      const bool dir = s.directory, mustExist = s.mustExist;
      connect(browse, &QToolButton::clicked, this, [this, le, filter, dir, mustExist]() {
        QString chosen;
        if (dir)
          chosen = QFileDialog::getExistingDirectory(this, tr("Choose a folder"), le->text());
        else if (mustExist)
          chosen = QFileDialog::getOpenFileName(this, tr("Choose a file"), le->text(), filter);
        else
          chosen = QFileDialog::getSaveFileName(this, tr("Choose a file"), le->text(), filter);
        if (!chosen.isEmpty()) {
          le->setText(chosen);
          Q_EMIT changed();
        }
      });
      connect(le, &QLineEdit::textEdited, this, &ParamForm::changed);
      h->addWidget(le, 1);
      h->addWidget(browse);
      editor = le;
      break;
    }
    case core::ParamType::String: {
      auto* le = new QLineEdit(this);
      if (s.required()) le->setPlaceholderText(tr("required"));
      connect(le, &QLineEdit::textEdited, this, &ParamForm::changed);
      editor = le;
      break;
    }
  }
  editor->setObjectName(QStringLiteral("param_") + name);
  editor->setToolTip(tooltipFor(s));
  editor->setWhatsThis(qs(s.help));
  editors_[name] = editor;
  return row ? row : editor;
}

Json ParamForm::defaultFor(const core::ParamSpec& s) const {
  if (s.type == core::ParamType::Device && !preferredDevice_.isEmpty() &&
      (s.defaultValue.is_null() || s.defaultValue == "auto"))
    return preferredDevice_.toStdString();
  if (s.type == core::ParamType::Choice && !preferredPrecision_.isEmpty() &&
      (s.name == "dtype" || s.name == "precision")) {
    for (const QString& alias : precisionAliases(preferredPrecision_))
      for (const auto& c : s.choices)
        if (qs(c) == alias) return c;
  }
  return s.defaultValue;
}

void ParamForm::resetToDefaults() {
  for (const auto& s : schema_.specs()) setEditorValue(s, defaultFor(s));
  errors_->setVisible(false);
  markErrors({});
  Q_EMIT changed();
}

void ParamForm::setPreferredDevice(const QString& device) {
  preferredDevice_ = device;
  for (const auto& s : schema_.specs())
    if (s.type == core::ParamType::Device) setEditorValue(s, defaultFor(s));
}

void ParamForm::setPreferredPrecision(const QString& precision) {
  preferredPrecision_ = precision;
  for (const auto& s : schema_.specs())
    if (s.type == core::ParamType::Choice && (s.name == "dtype" || s.name == "precision"))
      setEditorValue(s, defaultFor(s));
}

void ParamForm::setValues(const Json& values) {
  if (!values.is_object()) return;
  for (const auto& s : schema_.specs())
    if (values.contains(s.name)) setEditorValue(s, values.at(s.name));
}

void ParamForm::setValue(const QString& name, const Json& value) {
  if (const auto* s = schema_.find(name.toStdString())) setEditorValue(*s, value);
}

static QString jsonToText(const Json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_integer()) return QString::number(v.get<long long>());
  if (v.is_number()) return QString::number(v.get<double>(), 'g', 15);
  if (v.is_boolean()) return v.get<bool>() ? QStringLiteral("true") : QStringLiteral("false");
  return QString::fromStdString(v.dump());
}

void ParamForm::setEditorValue(const core::ParamSpec& s, const Json& v) {
  QWidget* ed = editors_.value(qs(s.name));
  if (!ed) return;
  if (auto* sb = qobject_cast<QSpinBox*>(ed)) {
    if (v.is_number()) sb->setValue(static_cast<int>(v.get<double>()));
  } else if (auto* dsb = qobject_cast<QDoubleSpinBox*>(ed)) {
    if (v.is_number()) dsb->setValue(v.get<double>());
  } else if (auto* cb = qobject_cast<QCheckBox*>(ed)) {
    cb->setChecked(v.is_boolean() && v.get<bool>());
  } else if (auto* combo = qobject_cast<QComboBox*>(ed)) {
    const QString text = jsonToText(v);
    int i = combo->findText(text);
    if (i < 0 && !text.isEmpty() && s.type == core::ParamType::Device) {
      combo->addItem(text);  // e.g. a recorded cuda:3 on a machine without it: validation decides
      i = combo->count() - 1;
    }
    if (i >= 0) combo->setCurrentIndex(i);
  } else if (auto* le = qobject_cast<QLineEdit*>(ed)) {
    le->setText(jsonToText(v));
  }
}

Json ParamForm::values() const {
  Json out = Json::object();
  for (const auto& s : schema_.specs()) {
    QWidget* ed = editors_.value(qs(s.name));
    if (auto* sb = qobject_cast<QSpinBox*>(ed)) {
      out[s.name] = static_cast<long long>(sb->value());
    } else if (auto* dsb = qobject_cast<QDoubleSpinBox*>(ed)) {
      out[s.name] = dsb->value();
    } else if (auto* cb = qobject_cast<QCheckBox*>(ed)) {
      out[s.name] = cb->isChecked();
    } else if (auto* combo = qobject_cast<QComboBox*>(ed)) {
      if (combo->currentIndex() >= 0) out[s.name] = combo->currentText().toStdString();
    } else if (auto* le = qobject_cast<QLineEdit*>(ed)) {
      const QString text = le->text().trimmed();
      if (text.isEmpty()) {
        if (s.type == core::ParamType::String || s.type == core::ParamType::Path)
          if (!s.required()) out[s.name] = std::string();
        continue;  // left out: validation reports a missing required value
      }
      if (s.type == core::ParamType::Int) {
        bool ok = false;
        const qlonglong n = text.toLongLong(&ok);
        out[s.name] = ok ? Json(static_cast<long long>(n)) : Json(text.toStdString());
      } else if (s.type == core::ParamType::Float) {
        bool ok = false;
        const double d = QLocale::c().toDouble(text, &ok);
        out[s.name] = ok ? Json(d) : Json(text.toStdString());
      } else {
        out[s.name] = text.toStdString();
      }
    }
  }
  return out;
}

bool ParamForm::validate(Json* validated) {
  try {
    Json v = schema_.validate(values());
    if (validated) *validated = std::move(v);
    errors_->clear();
    errors_->setVisible(false);
    markErrors({});
    return true;
  } catch (const core::Error& e) {
    const QString text = QString::fromStdString(e.what());
    errors_->setText(text);
    errors_->setVisible(true);
    markErrors(text);
    return false;
  }
}

QString ParamForm::errorText() const { return errors_->isHidden() ? QString() : errors_->text(); }

void ParamForm::markErrors(const QString& text) {
  for (auto it = editors_.begin(); it != editors_.end(); ++it) {
    const QRegularExpression word(QStringLiteral("\\b%1\\b").arg(QRegularExpression::escape(it.key())));
    const bool bad = !text.isEmpty() && word.match(text).hasMatch();
    it.value()->setProperty("paramError", bad);
    it.value()->setStyleSheet(bad ? QStringLiteral("border: 1px solid #c0392b;") : QString());
  }
}

QWidget* ParamForm::editor(const QString& name) const { return editors_.value(name); }

bool ParamForm::advancedExpanded() const { return advancedBox_ && !advancedBox_->isHidden(); }

void ParamForm::setAdvancedExpanded(bool expanded) {
  if (!advancedBox_) return;
  advancedBox_->setVisible(expanded);
  advancedToggle_->setArrowType(expanded ? Qt::DownArrow : Qt::RightArrow);
  if (advancedToggle_->isChecked() != expanded) advancedToggle_->setChecked(expanded);
}

}  // namespace atomscope::gui
