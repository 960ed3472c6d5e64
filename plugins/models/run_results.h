#pragma once
// Reading a finished run's record (run.json) and artifacts from the GUI side: JSON, text and
// float32 .npy (through core/npy.h, no torch).
#include <QString>
#include <vector>

#include "atomscope/core/json.h"

namespace atomscope::gui::models {

struct RunResult {
  QString runDir;
  Json record;  // run.json; empty object when unreadable
  QString error;  // why the record could not be read

  bool ok() const { return error.isEmpty(); }
  const Json& summary() const;
  // Absolute path of the artifact whose file name is `name`, or empty.
  QString artifact(const QString& name) const;
};

RunResult readRun(const QString& runDir);
// Whole text file; empty with *error set on failure.
QString readTextFile(const QString& path, QString* error = nullptr);
Json readJsonFile(const QString& path, QString* error = nullptr);

struct FloatArray {
  std::vector<long long> shape;
  std::vector<float> values;
};
// A float32 (or float64/float16, converted) .npy; throws core::Error subclasses on bad files.
FloatArray readFloatNpy(const QString& path);

}  // namespace atomscope::gui::models
