#pragma once
// Asks once per file before the workbench loads a model file that is code (TorchScript), and
// remembers the answer in QSettings ("trust/<sha256 of the path>" = the file's SHA-256), so a file
// that changes afterwards is asked about again. A yes is passed on to core::CodeTrust for this
// process. Python pickles are never loaded: confirm() shows why and returns false.
//
// Use before starting a job whose parameters may name such a file:
//   TrustStore trust;
//   if (!trust.confirmParams(this, params)) return;   // the user said no, or a pickle was named
//   jobManager.start(...);
#include <QDateTime>
#include <QHash>
#include <QString>
#include <functional>
#include <memory>

#include "atomscope/core/json.h"

class QSettings;
class QWidget;

namespace atomscope::gui {

class TrustStore {
 public:
  // Asks the user; true = load it. The default shows a QMessageBox (Yes/No, default No).
  using Asker = std::function<bool(QWidget* parent, const QString& path, const QString& kind)>;
  // Tells the user why a file is refused (default: a QMessageBox warning).
  using Notifier = std::function<void(QWidget* parent, const QString& message)>;

  TrustStore();                                // the application's QSettings
  explicit TrustStore(QSettings* settings);    // another store (tests); not owned
  ~TrustStore();

  // True when `path` was trusted before and has not changed since.
  bool isTrusted(const QString& path) const;
  void trust(const QString& path);   // remember it (and trust it in core::CodeTrust)
  void forget(const QString& path);

  // True when `path` may be loaded: not code, trusted before, or the user agrees now (asked once).
  // A pickle: the refusal is shown, false.
  bool confirm(QWidget* parent, const QString& path);
  // confirm() for every parameter value naming an existing file (text or list of texts).
  bool confirmParams(QWidget* parent, const Json& params);

  void setAsker(Asker asker) { asker_ = std::move(asker); }
  void setNotifier(Notifier notifier) { notifier_ = std::move(notifier); }

 private:
  QString keyFor(const QString& path) const;
  // SHA-256 of the file's bytes, remembered per path with its size and modification time: every job
  // start asks about its TorchScript file on the GUI thread, and a foundation model is hundreds of MB.
  QString fileHash(const QString& path) const;
  struct HashEntry {
    qint64 size = -1;
    QDateTime modified;
    QString hash;
  };
  mutable QHash<QString, HashEntry> hashes_;

  std::unique_ptr<QSettings> owned_;
  QSettings* settings_;
  Asker asker_;
  Notifier notifier_;
};

}  // namespace atomscope::gui
