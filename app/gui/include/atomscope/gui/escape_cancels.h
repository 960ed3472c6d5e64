#pragma once
// Esc belongs to the Jobs menu's "Cancel selected job". While a panel runs a job of its own, Esc
// pressed with the focus in that panel cancels the panel's job instead: the filter accepts the
// ShortcutOverride (so the window's shortcut does not fire) and cancels on the key press that then
// reaches the panel.
#include <QEvent>
#include <QKeyEvent>
#include <QObject>
#include <QWidget>

#include <functional>
#include <utility>

namespace atomscope::gui {

class EscapeCancels : public QObject {
 public:
  // Installs itself on `panel` (which owns it). busy(): whether the panel has a job to cancel.
  EscapeCancels(QWidget* panel, std::function<bool()> busy, std::function<void()> cancel)
      : QObject(panel), busy_(std::move(busy)), cancel_(std::move(cancel)) {
    panel->installEventFilter(this);
  }

 protected:
  bool eventFilter(QObject* watched, QEvent* e) override {
    const bool press = e->type() == QEvent::KeyPress, override = e->type() == QEvent::ShortcutOverride;
    if ((press || override) && busy_()) {
      auto* k = static_cast<QKeyEvent*>(e);
      if (k->key() == Qt::Key_Escape && k->modifiers() == Qt::NoModifier) {
        e->accept();
        if (press) cancel_();
        return true;
      }
    }
    return QObject::eventFilter(watched, e);
  }

 private:
  std::function<bool()> busy_;
  std::function<void()> cancel_;
};

}  // namespace atomscope::gui
