#include "structure_io.h"

#include <QFileInfo>

#include "atomscope/chem/error.h"
#include "atomscope/chem/xyz.h"
#if ATOMSCOPE_CHEM_FORMATS
#include "atomscope/chem/formats.h"
#endif

namespace atomscope::gui::structure_io {

chem::Trajectory read(const QString& path) {
#if ATOMSCOPE_CHEM_FORMATS
  return chem::readStructureFile(path.toStdString());
#else
  return chem::readXyz(path.toStdString());
#endif
}

void write(const QString& path, const chem::Trajectory& frames) {
#if ATOMSCOPE_CHEM_FORMATS
  chem::writeStructureFile(path.toStdString(), frames);
#else
  const QString ext = QFileInfo(path).suffix().toLower();
  if (ext != QLatin1String("xyz") && ext != QLatin1String("extxyz"))
    throw chem::ChemError(path.toStdString() + ": this build writes only XYZ (no format registry)");
  chem::writeXyz(path.toStdString(), frames);
#endif
}

QList<FileType> fileTypes() {
  QList<FileType> types;
#if ATOMSCOPE_CHEM_FORMATS
  for (const chem::StructureFormat& f : chem::structureFormats()) {
    if (!f.canRead) continue;
    FileType t{QString::fromStdString(f.description), {}};
    for (const std::string& e : f.extensions) t.patterns << QStringLiteral("*.") + QString::fromStdString(e);
    if (f.name == "poscar") t.patterns << QStringLiteral("POSCAR*") << QStringLiteral("CONTCAR*");
    types << t;
  }
#else
  types << FileType{QStringLiteral("XYZ structures"), {QStringLiteral("*.xyz"), QStringLiteral("*.extxyz")}};
#endif
  return types;
}

QString openFilter() {
#if ATOMSCOPE_CHEM_FORMATS
  return QString::fromStdString(chem::fileDialogFilter(false));
#else
  return QStringLiteral("XYZ structures (*.xyz *.extxyz);;All files (*)");
#endif
}

QString saveFilter() {
#if ATOMSCOPE_CHEM_FORMATS
  return QString::fromStdString(chem::fileDialogFilter(true));
#else
  return QStringLiteral("XYZ structures (*.xyz *.extxyz)");
#endif
}

bool isTrajectory(const chem::Trajectory& frames) {
  if (frames.size() < 2) return true;
  for (const chem::Structure& s : frames)
    if (s.numbers != frames.front().numbers) return false;
  return true;
}

}  // namespace atomscope::gui::structure_io
