#include "run_results.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <cstring>

#include "atomscope/core/npy.h"

namespace atomscope::gui::models {

const Json& RunResult::summary() const {
  static const Json empty = Json::object();
  if (record.is_object() && record.contains("summary") && record["summary"].is_object()) return record["summary"];
  return empty;
}

QString RunResult::artifact(const QString& name) const {
  if (!record.is_object() || !record.contains("artifacts") || !record["artifacts"].is_array()) return {};
  for (const auto& a : record["artifacts"]) {
    if (!a.is_object() || !a.contains("path") || !a["path"].is_string()) continue;
    const QString rel = QString::fromStdString(a["path"].get<std::string>());
    if (QFileInfo(rel).fileName() == name) return QDir(runDir).absoluteFilePath(rel);
  }
  return {};
}

QString readTextFile(const QString& path, QString* error) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    if (error) *error = QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
    return {};
  }
  return QString::fromUtf8(f.readAll());
}

Json readJsonFile(const QString& path, QString* error) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    if (error) *error = QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
    return Json();
  }
  const QByteArray bytes = f.readAll();
  try {
    return Json::parse(bytes.constData(), bytes.constData() + bytes.size());
  } catch (const std::exception& e) {
    if (error) *error = QStringLiteral("%1 is not valid JSON: %2").arg(path, QString::fromUtf8(e.what()));
    return Json();
  }
}

RunResult readRun(const QString& runDir) {
  RunResult r;
  r.runDir = runDir;
  if (runDir.isEmpty()) {
    r.error = QStringLiteral("the job left no run folder");
    return r;
  }
  r.record = readJsonFile(QDir(runDir).filePath(QStringLiteral("run.json")), &r.error);
  if (r.error.isEmpty() && !r.record.is_object()) r.error = QStringLiteral("%1/run.json is not a JSON object").arg(runDir);
  return r;
}

namespace {
float halfToFloat(std::uint16_t h) {
  const std::uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal
      int e = -1;
      std::uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400u) == 0);
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (m & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

FloatArray readFloatNpy(const QString& path) {
  const core::NpyArray a = core::readNpy(path.toStdString());
  if (a.fortranOrder && a.shape.size() > 1)
    throw core::NpyError(path.toStdString() + ": Fortran-ordered arrays are not shown; expected C order");
  FloatArray out;
  out.shape.assign(a.shape.begin(), a.shape.end());
  const auto n = static_cast<std::size_t>(a.numel());
  out.values.resize(n);
  switch (a.dtype) {
    case core::DType::F32:
      std::memcpy(out.values.data(), a.bytes.data(), n * 4);
      break;
    case core::DType::F64:
      for (std::size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, a.bytes.data() + i * 8, 8);
        out.values[i] = static_cast<float>(d);
      }
      break;
    case core::DType::F16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, a.bytes.data() + i * 2, 2);
        out.values[i] = halfToFloat(h);
      }
      break;
    default:
      throw core::NpyError(path.toStdString() + ": expected a floating-point array, found " + a.descr);
  }
  return out;
}

}  // namespace atomscope::gui::models
