// ParamForm: one editor per parameter type, values round-trip through the widgets, defaults and
// reset, validation errors shown beside the form, advanced parameters folded away.
#include <gtest/gtest.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTest>
#include <QToolButton>

#include "atomscope/core/params.h"
#include "atomscope/gui/param_form.h"

using namespace atomscope;
using namespace atomscope::gui;

namespace {

core::ParamSchema everyTypeSchema() {
  core::ParamSchema s;
  s.addInt("steps", 100, 1, 10000, "Training steps.");
  s.addInt("seed", 42, std::nullopt, std::nullopt, "Random seed (any 64-bit value).");
  s.addFloat("temperature", 0.7, 0.0, 2.0, "Sampling temperature.");
  s.addFloat("lr", 3e-4, 0.0, std::nullopt, "Learning rate.");
  s.addBool("compile", false, "Compile the model first.");
  s.addString("name", "run", "A label for the run.");
  s.addChoice("dtype", {"float32", "bfloat16"}, "float32", "Element type.");
  s.addPath("model", "/tmp/default-model.safetensors", "Model file.", "Models (*.safetensors *.bin)", false, false);
  s.addPath("out_dir", "/tmp/default-out", "Output folder.", {}, true, false);
  s.addDevice();
  core::ParamSpec adv;
  adv.name = "grad_clip";
  adv.type = core::ParamType::Float;
  adv.defaultValue = 1.0;
  adv.min = 0.0;
  adv.max = 100.0;
  adv.help = "Gradient clipping norm.";
  adv.advanced = true;
  s.add(adv);
  core::ParamSpec grouped;
  grouped.name = "batch";
  grouped.type = core::ParamType::Int;
  grouped.defaultValue = 8;
  grouped.min = 1;
  grouped.max = 4096;
  grouped.group = "Data";
  grouped.help = "Sequences per batch.";
  s.add(grouped);
  return s;
}

}  // namespace

TEST(ParamForm, EachTypeGetsTheRightEditor) {
  ParamForm form(everyTypeSchema());
  EXPECT_TRUE(qobject_cast<QSpinBox*>(form.editor("steps")));
  auto* steps = qobject_cast<QSpinBox*>(form.editor("steps"));
  EXPECT_EQ(steps->minimum(), 1);
  EXPECT_EQ(steps->maximum(), 10000);
  EXPECT_TRUE(qobject_cast<QLineEdit*>(form.editor("seed"))) << "an unbounded int must not be clipped to 32 bits";
  EXPECT_TRUE(qobject_cast<QDoubleSpinBox*>(form.editor("temperature")));
  EXPECT_TRUE(qobject_cast<QLineEdit*>(form.editor("lr"))) << "a wide float range needs a validated line edit";
  EXPECT_TRUE(qobject_cast<QCheckBox*>(form.editor("compile")));
  EXPECT_TRUE(qobject_cast<QLineEdit*>(form.editor("name")));
  auto* dtype = qobject_cast<QComboBox*>(form.editor("dtype"));
  ASSERT_TRUE(dtype);
  EXPECT_EQ(dtype->count(), 2);
  EXPECT_TRUE(qobject_cast<QLineEdit*>(form.editor("model")));
  auto* device = qobject_cast<QComboBox*>(form.editor("device"));
  ASSERT_TRUE(device);
  EXPECT_EQ(device->itemText(0), "auto");
  EXPECT_GE(device->findText("cpu"), 1) << "available devices are listed after auto";
  // Help texts are tooltips.
  EXPECT_TRUE(form.editor("lr")->toolTip().contains("Learning rate."));
  // A browse button sits beside each path editor.
  EXPECT_TRUE(form.editor("model")->parentWidget()->findChild<QToolButton*>());
}

TEST(ParamForm, DefaultsMatchTheSchema) {
  const auto schema = everyTypeSchema();
  ParamForm form(schema);
  Json validated;
  ASSERT_TRUE(form.validate(&validated)) << form.errorText().toStdString();
  EXPECT_EQ(validated, schema.validate(Json::object()));
}

TEST(ParamForm, ValuesRoundTripThroughTheWidgets) {
  const auto schema = everyTypeSchema();
  ParamForm form(schema);
  const Json given = {{"steps", 2500},
                      {"seed", 9007199254740993LL},  // 2^53 + 1: beyond double precision and int32
                      {"temperature", 1.25},
                      {"lr", 2.5e-5},
                      {"compile", true},
                      {"name", "α-run 7"},
                      {"dtype", "bfloat16"},
                      {"model", "/tmp/model.safetensors"},
                      {"out_dir", "/tmp/out"},
                      {"device", "cpu"},
                      {"grad_clip", 0.5},
                      {"batch", 64}};
  form.setValues(given);
  Json back;
  ASSERT_TRUE(form.validate(&back)) << form.errorText().toStdString();
  EXPECT_EQ(back, schema.validate(given));
  EXPECT_EQ(back["seed"].get<long long>(), 9007199254740993LL);
  EXPECT_DOUBLE_EQ(back["lr"].get<double>(), 2.5e-5);
  EXPECT_EQ(back["name"].get<std::string>(), "α-run 7");
}

TEST(ParamForm, TypingIntoEditorsChangesValues) {
  ParamForm form(everyTypeSchema());
  form.show();
  auto* lr = qobject_cast<QLineEdit*>(form.editor("lr"));
  lr->selectAll();
  QTest::keyClicks(lr, "1e-2");
  auto* steps = qobject_cast<QSpinBox*>(form.editor("steps"));
  steps->selectAll();
  QTest::keyClicks(steps, "777");
  QTest::mouseClick(form.editor("compile"), Qt::LeftButton, Qt::NoModifier, QPoint(8, form.editor("compile")->height() / 2));
  const Json v = form.values();
  EXPECT_DOUBLE_EQ(v["lr"].get<double>(), 1e-2);
  EXPECT_EQ(v["steps"].get<long long>(), 777);
  EXPECT_TRUE(v["compile"].get<bool>());
}

TEST(ParamForm, ResetRestoresDefaults) {
  const auto schema = everyTypeSchema();
  ParamForm form(schema);
  form.setValues({{"steps", 5}, {"dtype", "bfloat16"}, {"compile", true}, {"lr", 0.5}});
  EXPECT_NE(form.values()["steps"], 100);
  auto* reset = form.findChild<QPushButton*>("resetDefaults");
  ASSERT_TRUE(reset);
  QTest::mouseClick(reset, Qt::LeftButton);
  Json v;
  ASSERT_TRUE(form.validate(&v)) << form.errorText().toStdString();
  EXPECT_EQ(v, schema.validate(Json::object()));
}

TEST(ParamForm, ValidationErrorsAreShownBesideTheForm) {
  core::ParamSchema s;
  s.addInt("seed", 0, 0, std::nullopt, "Seed.");
  s.addPath("input", "", "Input file.");  // mustExist
  core::ParamSpec required;
  required.name = "dataset";
  required.type = core::ParamType::String;  // null default: required
  required.help = "Dataset name.";
  s.add(required);
  ParamForm form(s);
  form.show();
  form.setValue("seed", -3);
  form.setValue("input", "/no/such/file.xyz");
  EXPECT_FALSE(form.validate());
  const QString errors = form.errorText();
  EXPECT_TRUE(errors.contains("seed")) << errors.toStdString();
  EXPECT_TRUE(errors.contains("dataset")) << errors.toStdString();
  EXPECT_TRUE(errors.contains("input")) << errors.toStdString();
  auto* label = form.findChild<QLabel*>("paramFormErrors");
  ASSERT_TRUE(label);
  EXPECT_TRUE(label->isVisible());
  EXPECT_TRUE(form.editor("dataset")->property("paramError").toBool());
  // Fixing the values clears the errors.
  form.setValue("seed", 3);
  form.setValue("dataset", "qm9");
  form.setValue("input", QString(ATOMSCOPE_SOURCE_DIR "/CMakeLists.txt").toStdString());
  EXPECT_TRUE(form.validate()) << form.errorText().toStdString();
  EXPECT_FALSE(label->isVisible());
  EXPECT_FALSE(form.editor("dataset")->property("paramError").toBool());
}

TEST(ParamForm, AdvancedParametersAreFolded) {
  ParamForm form(everyTypeSchema());
  form.show();
  EXPECT_FALSE(form.advancedExpanded());
  EXPECT_FALSE(form.editor("grad_clip")->isVisible());
  EXPECT_TRUE(form.editor("steps")->isVisible());
  form.setAdvancedExpanded(true);
  EXPECT_TRUE(form.editor("grad_clip")->isVisible());
  // Folded or not, advanced values are part of the parameters.
  EXPECT_TRUE(form.values().contains("grad_clip"));
}

TEST(ParamForm, PreferencesSeedDeviceAndPrecision) {
  core::ParamSchema s;
  s.addDevice();
  s.addChoice("dtype", {"float32", "bfloat16"}, "float32", "Element type.");
  ParamForm form(s);
  form.setPreferredDevice("cpu");
  form.setPreferredPrecision("bf16");
  EXPECT_EQ(form.values()["device"], "cpu");
  EXPECT_EQ(form.values()["dtype"], "bfloat16");
  form.resetToDefaults();  // defaults follow the preferences
  EXPECT_EQ(form.values()["device"], "cpu");
  EXPECT_EQ(form.values()["dtype"], "bfloat16");
}
