#pragma once
// A form generated from a core::ParamSchema: one editor per parameter (Int -> spin box, Float ->
// spin box or validated line edit for wide ranges, Bool -> check box, Choice -> combo, Path ->
// line edit + browse, Device -> combo of available devices, String -> line edit), help texts as
// tooltips, groups as sections, advanced parameters folded away, validation errors beside the form.
#include <QMap>
#include <QString>
#include <QWidget>

#include "atomscope/core/json.h"
#include "atomscope/core/params.h"

class QLabel;
class QToolButton;

namespace atomscope::gui {

class ParamForm : public QWidget {
  Q_OBJECT
 public:
  explicit ParamForm(core::ParamSchema schema, QWidget* parent = nullptr);

  const core::ParamSchema& schema() const { return schema_; }

  // Raw values from the editors (empty optional fields left out so validation names them).
  Json values() const;
  // Sets editors from a (partial) parameter object; unknown keys are ignored.
  void setValues(const Json& values);
  void setValue(const QString& name, const Json& value);
  void resetToDefaults();

  // Preferences that seed defaults: device ("auto", "cpu", "cuda:0") and precision ("fp32"/"bf16").
  void setPreferredDevice(const QString& device);
  void setPreferredPrecision(const QString& precision);

  // Runs ParamSchema::validate; on failure shows every problem beside the form and returns false.
  bool validate(Json* validated = nullptr);
  QString errorText() const;

  QWidget* editor(const QString& name) const;
  bool advancedExpanded() const;
  void setAdvancedExpanded(bool expanded);

 Q_SIGNALS:
  void changed();

 private:
  QWidget* createEditor(const core::ParamSpec& spec);
  Json defaultFor(const core::ParamSpec& spec) const;
  void setEditorValue(const core::ParamSpec& spec, const Json& value);
  void markErrors(const QString& text);

  core::ParamSchema schema_;
  QMap<QString, QWidget*> editors_;  // the value widget (spin box, combo, ...)
  QMap<QString, QWidget*> rows_;     // the widget holding label + editor row, for error marks
  QLabel* errors_ = nullptr;
  QToolButton* advancedToggle_ = nullptr;
  QWidget* advancedBox_ = nullptr;
  QString preferredDevice_ = QStringLiteral("auto");
  QString preferredPrecision_;
};

}  // namespace atomscope::gui
