#pragma once
// Application look: Fusion style, a light scientific palette, the style sheet and icons from
// the resources (":/atomscope/...").
#include <QIcon>
#include <QString>

class QApplication;

namespace atomscope::gui {

void applyApplicationStyle(QApplication& app);
QIcon appIcon();
// An icon from resources/icons/<name>.svg, or the fallback when the SVG cannot be loaded.
QIcon resourceIcon(const QString& name, const QIcon& fallback = {});

}  // namespace atomscope::gui
