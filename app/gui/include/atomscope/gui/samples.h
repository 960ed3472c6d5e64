#pragma once
// Where the bundled samples (models, structures, text) are: panels offer them as defaults so that a new
// user can work right after set-up.
#include <QString>
#include <QStringList>

namespace atomscope::gui {

// Folders the samples may be in, in order: $ATOMSCOPE_SAMPLES_DIR, the installed share folder, the folder
// beside the build's bin/, and the source tree the build was made from (development builds).
QStringList sampleRoots();

// The absolute path of `relative` (e.g. "models/ponita_3bpa/model.pt") in the first sample folder that has
// it; empty when none does.
QString findSample(const QString& relative);

}  // namespace atomscope::gui
