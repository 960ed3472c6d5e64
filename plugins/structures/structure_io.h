#pragma once
// The Structures plugin's one door to structure files: reading, writing and the file-dialog
// filters, through chem's format registry (formats.h) when this build has it, else extended XYZ.
#include <QList>
#include <QString>
#include <QStringList>

#include "atomscope/chem/structure.h"
#include "atomscope/gui/plugin.h"

namespace atomscope::gui::structure_io {

// Every frame in the file; throws chem::ChemError naming the file and line on bad input.
chem::Trajectory read(const QString& path);
// Writes the frames in the format the extension names (xyz, cif, pdb, sdf, ...); throws ChemError.
void write(const QString& path, const chem::Trajectory& frames);
// File types the plugin opens, for the workbench's open dialog and drops.
QList<FileType> fileTypes();
QString openFilter();
QString saveFilter();
// True when the frames look like one system moving (same atoms in the same order): play them;
// otherwise the file is a collection (a data set of crystals or molecules): show a gallery.
bool isTrajectory(const chem::Trajectory& frames);

}  // namespace atomscope::gui::structure_io
