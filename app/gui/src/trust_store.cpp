#include "atomscope/gui/trust_store.h"

#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>
#include <QMessageBox>
#include <QSettings>

#include <vector>

#include "atomscope/core/code_files.h"

namespace atomscope::gui {

namespace {

QString canonicalPath(const QString& path) {
  const QString c = QFileInfo(path).canonicalFilePath();
  return c.isEmpty() ? QFileInfo(path).absoluteFilePath() : c;
}

bool askWithDialog(QWidget* parent, const QString& path, const QString& kind) {
  const auto answer = QMessageBox::question(
      parent, QObject::tr("Load code?"),
      QObject::tr("%1 is a %2.\n\nTorchScript models are programs: loading one runs its code with your "
                  "permissions. Load it only if you trust where it came from.\n\nLoad it (and remember "
                  "this answer for this file)?")
          .arg(path, kind),
      QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
  return answer == QMessageBox::Yes;
}

void notifyWithDialog(QWidget* parent, const QString& message) {
  QMessageBox::warning(parent, QObject::tr("File refused"), message);
}

}  // namespace

TrustStore::TrustStore()
    : owned_(std::make_unique<QSettings>(QStringLiteral("Atomscope"), QStringLiteral("Atomscope"))),
      settings_(owned_.get()),
      asker_(askWithDialog),
      notifier_(notifyWithDialog) {}

TrustStore::TrustStore(QSettings* settings) : settings_(settings), asker_(askWithDialog), notifier_(notifyWithDialog) {}

TrustStore::~TrustStore() = default;

QString TrustStore::keyFor(const QString& path) const {
  const QByteArray h = QCryptographicHash::hash(canonicalPath(path).toUtf8(), QCryptographicHash::Sha256).toHex();
  return QStringLiteral("trust/") + QString::fromLatin1(h);
}

QString TrustStore::fileHash(const QString& path) const {
  const QFileInfo info(path);
  const QString key = canonicalPath(path);
  const auto hit = hashes_.constFind(key);
  if (hit != hashes_.constEnd() && hit->size == info.size() && hit->modified == info.lastModified()) return hit->hash;
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  QCryptographicHash h(QCryptographicHash::Sha256);
  h.addData(&f);
  const QString hash = QString::fromLatin1(h.result().toHex());
  hashes_.insert(key, HashEntry{info.size(), info.lastModified(), hash});
  return hash;
}

bool TrustStore::isTrusted(const QString& path) const {
  const QString stored = settings_->value(keyFor(path)).toString();
  return !stored.isEmpty() && stored == fileHash(path);
}

void TrustStore::trust(const QString& path) {
  settings_->setValue(keyFor(path), fileHash(path));
  settings_->sync();
  core::CodeTrust::trustFile(canonicalPath(path).toStdString());
}

void TrustStore::forget(const QString& path) {
  settings_->remove(keyFor(path));
  settings_->sync();
}

bool TrustStore::confirm(QWidget* parent, const QString& path) {
  const std::string p = path.toStdString();
  const auto kind = core::sniffCodeFile(p);
  if (kind == core::CodeFileKind::None) return true;
  if (kind != core::CodeFileKind::TorchScript) {
    try {
      core::refusePickle(p, "model");
    } catch (const core::Error& e) {
      notifier_(parent, QString::fromStdString(e.what()));
    }
    return false;
  }
  if (isTrusted(path)) {
    core::CodeTrust::trustFile(canonicalPath(path).toStdString());
    return true;
  }
  if (!asker_(parent, path, QString::fromStdString(core::toString(kind)))) return false;
  trust(path);
  return true;
}

bool TrustStore::confirmParams(QWidget* parent, const Json& params) {
  if (!params.is_object()) return true;
  for (auto it = params.begin(); it != params.end(); ++it) {
    std::vector<std::string> values;
    if (it->is_string()) values.push_back(it->get<std::string>());
    else if (it->is_array())
      for (const auto& v : *it)
        if (v.is_string()) values.push_back(v.get<std::string>());
    for (const auto& v : values) {
      if (v.empty() || !QFileInfo(QString::fromStdString(v)).isFile()) continue;
      if (!confirm(parent, QString::fromStdString(v))) return false;
    }
  }
  return true;
}

}  // namespace atomscope::gui
