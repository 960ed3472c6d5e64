#pragma once
// One menu entry as every plugin makes it: text, an object name (GUI tests find actions by it),
// an optional shortcut, and the slot it runs (taking nothing, or the checked state), bound to
// `context` so the connection dies with the plugin.
#include <QAction>
#include <QKeySequence>
#include <QMenu>
#include <QString>

#include <utility>

namespace atomscope::gui {

template <typename Slot>
QAction* addMenuAction(QMenu* menu, const QString& text, const char* objectName, const QKeySequence& key,
                       QObject* context, Slot&& slot) {
  QAction* a = menu->addAction(text);
  a->setObjectName(QString::fromLatin1(objectName));
  if (!key.isEmpty()) a->setShortcut(key);
  QObject::connect(a, &QAction::triggered, context, std::forward<Slot>(slot));
  return a;
}

}  // namespace atomscope::gui
