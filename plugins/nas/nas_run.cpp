#include "nas_run.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <algorithm>
#include <cmath>

#include "atomscope/core/error.h"

namespace atomscope::gui::nas {

namespace {

std::string str(const QString& s) { return s.toStdString(); }

QString text(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? QString::fromStdString(j[key].get<std::string>()) : QString();
}

double number(const Json& j, const char* key, const QString& file) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number())
    throw core::Error(str(file) + ": '" + key + "' is missing or not a number");
  return j[key].get<double>();
}

Json readRecord(const QString& runDir, const char* job) {
  const QString file = QDir(runDir).filePath(QStringLiteral("run.json"));
  if (!QFileInfo::exists(file)) throw core::Error(str(runDir) + " is not a run folder (no run.json)");
  Json record = readJsonFile(file);
  const QString name = text(record, "job");
  if (job && name != QLatin1String(job))
    throw core::Error(str(file) + " is a '" + str(name) + "' run, not " + job);
  return record;
}

}  // namespace

Json readJsonFile(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) throw core::Error("cannot read " + str(path));
  const QByteArray b = f.readAll();
  Json j = Json::parse(b.constData(), b.constData() + b.size(), nullptr, false);
  if (j.is_discarded()) throw core::Error(str(path) + " is not valid JSON");
  return j;
}

QString runArtifact(const QString& runDir, const Json& record, const QString& name) {
  if (!record.is_object() || !record.contains("artifacts") || !record["artifacts"].is_array()) return {};
  for (const auto& a : record["artifacts"]) {
    const QString rel = text(a, "path");
    if (!rel.isEmpty() && QFileInfo(rel).fileName() == name) {
      const QString abs = QDir(runDir).absoluteFilePath(rel);
      return QFileInfo::exists(abs) ? abs : QString();
    }
  }
  return {};
}

std::vector<core::MetricPoint> readMetrics(const QString& file) {
  std::vector<core::MetricPoint> out;
  QFile f(file);
  if (!f.open(QIODevice::ReadOnly)) return out;
  while (!f.atEnd()) {
    const QByteArray line = f.readLine().trimmed();
    if (line.isEmpty()) continue;
    const Json j = Json::parse(line.constData(), line.constData() + line.size(), nullptr, false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number()) continue;
    core::MetricPoint p;
    p.step = j["step"].get<long long>();
    for (const auto& [k, v] : j.items()) {
      if (k == "step") continue;
      if (k == "seconds") {
        if (v.is_number()) p.seconds = v.get<double>();
        continue;
      }
      if (v.is_number()) p.values[k] = v.get<double>();
    }
    out.push_back(std::move(p));
  }
  return out;
}

SearchRun readSearchRun(const QString& runDir) {
  SearchRun r;
  r.runDir = QDir(runDir).absolutePath();
  const Json record = readRecord(r.runDir, "nas.search");
  r.status = text(record, "status");
  if (record.contains("params") && record["params"].is_object()) r.params = record["params"];
  r.metrics = readMetrics(QDir(r.runDir).filePath(QStringLiteral("metrics.jsonl")));
  r.archFile = runArtifact(r.runDir, record, QStringLiteral("arch.json"));
  if (!r.archFile.isEmpty()) {
    r.arch = readJsonFile(r.archFile);
    if (!r.arch.is_object() || !r.arch.contains("architecture") || !r.arch.contains("model_config"))
      throw core::Error(str(r.archFile) + " lacks 'architecture' or 'model_config'");
  }
  return r;
}

QString archLabel(const Json& a) {
  if (!a.is_object()) return {};
  for (const char* k : {"layers", "heads", "embed", "mlp_ratio"})
    if (!a.contains(k) || !a[k].is_number_integer()) return {};
  QString label = QStringLiteral("L%1 H%2 E%3 R%4")
                      .arg(a["layers"].get<long long>())
                      .arg(a["heads"].get<long long>())
                      .arg(a["embed"].get<long long>())
                      .arg(a["mlp_ratio"].get<long long>());
  // MASA attention with S atoms per projection type (architectures of an atoms space).
  if (a.contains("atoms") && a["atoms"].is_number_integer() && a["atoms"].get<long long>() > 0)
    label += QStringLiteral(" S%1").arg(a["atoms"].get<long long>());
  return label;
}

QList<ParetoPoint> readEvaluatedPoints(const QString& runDir) {
  const QString dir = QDir(runDir).absolutePath();
  const Json record = readRecord(dir, nullptr);
  const QString job = text(record, "job");
  const QString status = text(record, "status");
  if (status != QLatin1String("completed"))
    throw core::Error(str(dir) + ": the run is '" + str(status) + "', not completed");
  QList<ParetoPoint> out;
  auto point = [&](const Json& row, ParetoPoint::Kind kind, const QString& file) {
    ParetoPoint p;
    p.kind = kind;
    p.label = archLabel(row.contains("architecture") ? row["architecture"] : Json());
    if (p.label.isEmpty()) throw core::Error(str(file) + ": an entry lacks its architecture");
    p.params = static_cast<long long>(number(row, "params", file));
    p.ppl = number(row, "val_ppl", file);
    p.runDir = dir;
    return p;
  };
  if (job == QLatin1String("nas.evaluate")) {
    const QString file = runArtifact(dir, record, QStringLiteral("result.json"));
    if (file.isEmpty()) throw core::Error(str(dir) + ": nas.evaluate run without result.json");
    const Json r = readJsonFile(file);
    // The search's own choice (no 'arch' given) is "searched"; any other architecture is "other".
    const Json params = record.contains("params") && record["params"].is_object() ? record["params"] : Json::object();
    const bool choice = text(params, "arch").isEmpty();
    out << point(r, choice ? ParetoPoint::Kind::Searched : ParetoPoint::Kind::Other, file);
  } else if (job == QLatin1String("nas.random_search")) {
    const QString file = runArtifact(dir, record, QStringLiteral("random_search.json"));
    if (file.isEmpty()) throw core::Error(str(dir) + ": nas.random_search run without random_search.json");
    const Json r = readJsonFile(file);
    if (!r.contains("results") || !r["results"].is_array()) throw core::Error(str(file) + ": 'results' is missing");
    for (const auto& row : r["results"]) out << point(row, ParetoPoint::Kind::Random, file);
  } else {
    throw core::Error(str(dir) + " is a '" + str(job) + "' run, not nas.evaluate or nas.random_search");
  }
  return out;
}

QList<int> paretoFront(const QList<ParetoPoint>& points) {
  QList<int> front;
  for (int i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if (!std::isfinite(p.ppl)) continue;
    bool dominated = false;
    for (int j = 0; j < points.size() && !dominated; ++j) {
      if (j == i || !std::isfinite(points[j].ppl)) continue;
      const auto& q = points[j];
      dominated = (q.params <= p.params && q.ppl < p.ppl) || (q.params < p.params && q.ppl <= p.ppl) ||
                  (q.params == p.params && q.ppl == p.ppl && j < i);  // duplicates: keep the first
    }
    if (!dominated) front << i;
  }
  std::sort(front.begin(), front.end(), [&](int a, int b) { return points[a].params < points[b].params; });
  return front;
}

}  // namespace atomscope::gui::nas
