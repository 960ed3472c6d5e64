#include "masa_run.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <cstring>
#include <numeric>

#include "atomscope/core/error.h"
#include "atomscope/core/npy.h"

namespace atomscope::gui::masa {

namespace {

std::string where(const QString& file, const std::string& key) { return file.toStdString() + ": '" + key + "'"; }

const Json& member(const Json& j, const char* key, const QString& file) {
  if (!j.is_object() || !j.contains(key)) throw core::Error(where(file, key) + " is missing");
  return j[key];
}

double number(const Json& j, const char* key, const QString& file) {
  const Json& v = member(j, key, file);
  if (!v.is_number()) throw core::Error(where(file, key) + " is not a number");
  return v.get<double>();
}

double optionalNumber(const Json& j, const char* key, double fallback) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

QString text(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? QString::fromStdString(j[key].get<std::string>())
                                                                : QString();
}

QList<int> intList(const Json& j, const std::string& what) {
  if (!j.is_array()) throw core::Error(what + " is not a list");
  QList<int> out;
  for (const auto& v : j) {
    if (!v.is_number_integer()) throw core::Error(what + " holds a non-integer");
    out << v.get<int>();
  }
  return out;
}

template <class T>
std::vector<T> numberList(const Json& j, const std::string& what) {
  if (!j.is_array()) throw core::Error(what + " is not a list");
  std::vector<T> out;
  for (const auto& v : j) {
    if (!v.is_number()) throw core::Error(what + " holds a non-number");
    out.push_back(v.get<T>());
  }
  return out;
}

Json readJson(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) throw core::Error("cannot read " + path.toStdString() + ": " + f.errorString().toStdString());
  const QByteArray bytes = f.readAll();
  try {
    return Json::parse(bytes.constData(), bytes.constData() + bytes.size());
  } catch (const std::exception& e) {
    throw core::Error(path.toStdString() + " is not valid JSON: " + e.what());
  }
}

// A float32/float64 .npy of shape [rows, cols] in C order.
Coefficients readCoefficients(const QString& path) {
  const core::NpyArray a = core::readNpy(path.toStdString());
  if (a.shape.size() != 2) throw core::Error(path.toStdString() + ": expected coefficients [layers, atoms], found " +
                                             std::to_string(a.shape.size()) + " dimensions");
  if (a.fortranOrder) throw core::Error(path.toStdString() + ": Fortran-ordered array; expected C order");
  Coefficients c;
  c.rows = static_cast<int>(a.shape[0]);
  c.cols = static_cast<int>(a.shape[1]);
  const auto n = static_cast<std::size_t>(a.numel());
  c.values.resize(n);
  if (a.dtype == core::DType::F32) {
    std::memcpy(c.values.data(), a.bytes.data(), n * sizeof(float));
  } else if (a.dtype == core::DType::F64) {
    for (std::size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, a.bytes.data() + i * sizeof(double), sizeof(double));
      c.values[i] = static_cast<float>(d);
    }
  } else {
    throw core::Error(path.toStdString() + ": expected float32 or float64 coefficients, found " + a.descr);
  }
  return c;
}

QString layerRange(const QList<int>& layers) {
  if (layers.isEmpty()) return {};
  bool consecutive = true;
  for (int i = 1; i < layers.size(); ++i) consecutive &= layers[i] == layers[i - 1] + 1;
  if (consecutive && layers.size() > 1) return QStringLiteral("%1-%2").arg(layers.front()).arg(layers.back());
  QStringList parts;
  for (int l : layers) parts << QString::number(l);
  return parts.join(QLatin1Char(','));
}

}  // namespace

QString Coefficients::label() const {
  return group == 0 && layers.isEmpty() ? role : QStringLiteral("%1, group %2 (layers %3)").arg(role).arg(group).arg(layerRange(layers));
}

double TypeResult::keptEnergy(int g) const {
  if (g < 0 || g >= energy.size()) return 0;
  const int k = std::min(keptIn(g), static_cast<int>(energy[g].size()));
  return std::accumulate(energy[g].begin(), energy[g].begin() + k, 0.0);
}

int CompressionRun::layerCount() const {
  int n = 0;
  for (const auto& t : types) n = std::max(n, static_cast<int>(t.relativeError.size()));
  return n;
}

const TypeResult* CompressionRun::type(const QString& role) const {
  for (const auto& t : types)
    if (t.role == role) return &t;
  return nullptr;
}

Json readRunRecord(const QString& runDir, QString* error) {
  try {
    Json j = readJson(QDir(runDir).filePath(QStringLiteral("run.json")));
    if (!j.is_object()) throw core::Error(runDir.toStdString() + "/run.json is not a JSON object");
    return j;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return Json::object();
  }
}

QString runArtifact(const QString& runDir, const Json& record, const QString& name) {
  if (!record.is_object() || !record.contains("artifacts") || !record["artifacts"].is_array()) return {};
  for (const auto& a : record["artifacts"]) {
    if (!a.is_object() || !a.contains("path") || !a["path"].is_string()) continue;
    const QString rel = QString::fromStdString(a["path"].get<std::string>());
    if (QFileInfo(rel).fileName() == name) return QDir(runDir).absoluteFilePath(rel);
  }
  return {};
}

CompressionRun readCompressionRun(const QString& runDir) {
  CompressionRun r;
  r.runDir = QDir(runDir).absolutePath();
  const QString runJson = QDir(runDir).filePath(QStringLiteral("run.json"));
  const Json record = readJson(runJson);
  if (text(record, "job") != QLatin1String("masa.compress"))
    throw core::Error(runJson.toStdString() + " is not a masa.compress run (job '" + text(record, "job").toStdString() + "')");
  r.status = text(record, "status");
  if (r.status != QLatin1String("completed"))
    throw core::Error(runDir.toStdString() + ": the run is '" + r.status.toStdString() + "', not completed");
  r.params = member(record, "params", runJson);
  r.model = text(r.params, "model");
  r.ratio = optionalNumber(r.params, "ratio", 0);
  r.atomsParam = static_cast<long long>(optionalNumber(r.params, "atoms", 0));

  const QString reportFile = runArtifact(runDir, record, QStringLiteral("report.json"));
  if (reportFile.isEmpty()) throw core::Error(runJson.toStdString() + " lists no report.json artifact");
  r.report = readJson(reportFile);
  const Json& rep = r.report;
  r.method = text(rep, "method");
  if (r.method.isEmpty()) throw core::Error(where(reportFile, "method") + " is missing");
  r.attentionBefore = static_cast<long long>(number(rep, "attention_params_before", reportFile));
  r.attentionAfter = static_cast<long long>(number(rep, "attention_params_after", reportFile));
  r.compression = number(rep, "attention_compression", reportFile);
  r.paramsBefore = static_cast<long long>(optionalNumber(rep, "params_before", 0));
  r.paramsAfter = static_cast<long long>(optionalNumber(rep, "params_after", 0));
  r.perplexityBefore = optionalNumber(rep, "perplexity_before", -1);
  r.perplexityAfter = optionalNumber(rep, "perplexity_after", -1);
  r.evalTokens = static_cast<long long>(optionalNumber(rep, "eval_tokens", 0));

  const Json& types = member(rep, "types", reportFile);
  if (!types.is_array()) throw core::Error(where(reportFile, "types") + " is not a list");
  for (std::size_t i = 0; i < types.size(); ++i) {
    const Json& t = types[i];
    const std::string at = reportFile.toStdString() + ": types[" + std::to_string(i) + "]";
    TypeResult tr;
    tr.role = text(t, "role");
    if (tr.role.isEmpty()) throw core::Error(at + " has no role");
    tr.paramsBefore = static_cast<long long>(number(t, "params_before", reportFile));
    tr.budget = static_cast<long long>(number(t, "budget", reportFile));
    tr.paramsAfter = static_cast<long long>(number(t, "params_after", reportFile));
    tr.atoms = static_cast<long long>(number(t, "atoms", reportFile));
    for (const auto& g : member(t, "groups", reportFile)) tr.groups << intList(g, at + ".groups");
    for (const auto& e : member(t, "energy", reportFile)) tr.energy << numberList<double>(e, at + ".energy");
    tr.ranks = numberList<long long>(member(t, "ranks", reportFile), at + ".ranks");
    tr.relativeError = numberList<double>(member(t, "relative_error", reportFile), at + ".relative_error");
    r.types << tr;
  }

  // Coefficient files, in masa.compress's naming: coefficients_<role>.npy, or _g<k> per group.
  for (auto& t : r.types) {
    for (int g = 0; g < t.groups.size(); ++g) {
      t.kept << 0;
      if (t.atoms == 0) continue;
      QString file = runArtifact(runDir, record, QStringLiteral("coefficients_%1_g%2.npy").arg(t.role).arg(g));
      if (file.isEmpty() && g == 0) file = runArtifact(runDir, record, QStringLiteral("coefficients_%1.npy").arg(t.role));
      if (file.isEmpty()) continue;
      Coefficients c = readCoefficients(file);
      c.role = t.role;
      c.group = g;
      if (t.groups.size() > 1) c.layers = t.groups[g];
      if (c.rows != t.groups[g].size())
        throw core::Error(file.toStdString() + ": " + std::to_string(c.rows) + " rows, but the report gives " +
                          std::to_string(t.groups[g].size()) + " layers for this dictionary");
      t.kept[g] = c.cols;
      r.coefficients << c;
    }
  }
  r.masaFolder = runArtifact(runDir, record, QStringLiteral("masa_model"));
  r.hfFolder = runArtifact(runDir, record, QStringLiteral("hf_model"));
  if (!r.masaFolder.isEmpty() && !QFileInfo(r.masaFolder).isDir()) r.masaFolder.clear();
  if (!r.hfFolder.isEmpty() && !QFileInfo(r.hfFolder).isDir()) r.hfFolder.clear();
  return r;
}

bool copyFolder(const QString& source, const QString& destination, QString* error) {
  auto fail = [&](const QString& why) {
    if (error) *error = why;
    return false;
  };
  const QFileInfo src(source);
  if (!src.isDir()) return fail(QStringLiteral("%1 is not a folder").arg(source));
  const QDir dest(destination);
  if (QFileInfo(destination).exists() && !(QFileInfo(destination).isDir() && dest.isEmpty()))
    return fail(QStringLiteral("%1 already exists and is not an empty folder").arg(destination));
  const QString parent = QFileInfo(destination).absolutePath();
  if (!QDir().mkpath(parent)) return fail(QStringLiteral("cannot create folder %1").arg(parent));
  const QString temp = QDir(parent).filePath(QStringLiteral(".%1.partial").arg(QFileInfo(destination).fileName()));
  QDir(temp).removeRecursively();
  if (!QDir().mkpath(temp)) return fail(QStringLiteral("cannot create folder %1").arg(temp));
  const QDir from(src.absoluteFilePath());
  QDirIterator it(from.absolutePath(), QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot | QDir::Hidden,
                  QDirIterator::Subdirectories);
  while (it.hasNext()) {
    const QString path = it.next();
    const QString rel = from.relativeFilePath(path);
    const QString target = QDir(temp).filePath(rel);
    const bool ok = it.fileInfo().isDir() ? QDir().mkpath(target) : QFile::copy(path, target);
    if (!ok) {
      QDir(temp).removeRecursively();
      return fail(QStringLiteral("cannot copy %1 to %2").arg(path, target));
    }
  }
  if (QFileInfo(destination).exists()) QDir().rmdir(destination);  // the empty folder the dialog may have made
  if (!QDir().rename(temp, destination)) {
    QDir(temp).removeRecursively();
    return fail(QStringLiteral("cannot rename %1 to %2").arg(temp, destination));
  }
  return true;
}

}  // namespace atomscope::gui::masa
