#include "atomscope/gui/samples.h"

#include <QCoreApplication>
#include <QFileInfo>

namespace atomscope::gui {

QStringList sampleRoots() {
  QStringList roots;
  const QByteArray env = qgetenv("ATOMSCOPE_SAMPLES_DIR");
  if (!env.isEmpty()) roots << QString::fromLocal8Bit(env);
  const QString app = QCoreApplication::applicationDirPath();
  roots << app + QStringLiteral("/../share/atomscope/samples") << app + QStringLiteral("/../samples");
  roots << QStringLiteral(ATOMSCOPE_SOURCE_SAMPLES);
  return roots;
}

QString findSample(const QString& relative) {
  for (const QString& root : sampleRoots()) {
    const QFileInfo f(root + QLatin1Char('/') + relative);
    if (f.isFile()) return f.absoluteFilePath();
  }
  return {};
}

}  // namespace atomscope::gui
