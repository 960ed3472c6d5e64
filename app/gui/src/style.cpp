#include "atomscope/gui/style.h"

#include <QApplication>
#include <QFile>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>

namespace atomscope::gui {

QIcon resourceIcon(const QString& name, const QIcon& fallback) {
  const QString path = QStringLiteral(":/atomscope/icons/%1.svg").arg(name);
  if (!QFile::exists(path)) return fallback;
  QIcon icon(path);
  // Without Qt's SVG plugin (libqt6svg6) the icon has no pixmap: use the fallback.
  if (icon.pixmap(16, 16).isNull()) return fallback;
  return icon;
}

QIcon appIcon() {
  QIcon icon = resourceIcon(QStringLiteral("atomscope"));
  if (icon.isNull()) icon = QIcon(QStringLiteral(":/atomscope/icons/atomscope-256.png"));
  return icon;
}

void applyApplicationStyle(QApplication& app) {
  if (QStyle* fusion = QStyleFactory::create(QStringLiteral("Fusion"))) app.setStyle(fusion);
  QPalette p = app.style()->standardPalette();
  const QColor window(0xee, 0xf0, 0xf3), base(0xff, 0xff, 0xff), alt(0xf5, 0xf7, 0xfa);
  const QColor text(0x1d, 0x2b, 0x36), highlight(0x2f, 0x6f, 0xb2);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, alt);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::Button, QColor(0xf4, 0xf5, 0xf7));
  p.setColor(QPalette::Highlight, highlight);
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xfd, 0xe8));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::Link, highlight);
  app.setPalette(p);
  QFile qss(QStringLiteral(":/atomscope/style/atomscope.qss"));
  if (qss.open(QIODevice::ReadOnly)) app.setStyleSheet(QString::fromUtf8(qss.readAll()));
  app.setWindowIcon(appIcon());
}

}  // namespace atomscope::gui
