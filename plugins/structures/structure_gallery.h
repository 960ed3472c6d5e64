#pragma once
// A file of many different structures (a CDVAE CSV of crystals, a QM9 extract): a grid of
// thumbnails rendered a few at a time off screen; a click opens that structure in its own tab.
#include <QString>
#include <QWidget>

#include "atomscope/chem/structure.h"

class QListWidget;
class QTimer;

namespace atomscope::gui {

class StructureView;

class StructureGallery : public QWidget {
  Q_OBJECT
 public:
  StructureGallery(const QString& path, chem::Trajectory structures, QWidget* parent = nullptr);

  QString path() const { return path_; }
  const chem::Trajectory& structures() const { return structures_; }
  QListWidget* list() const { return list_; }
  int thumbnailsRendered() const { return next_; }
  static constexpr int kThumbnailSize = 150;

 Q_SIGNALS:
  void structureActivated(int index);

 private:
  void renderSome();

  QString path_;
  chem::Trajectory structures_;
  QListWidget* list_ = nullptr;
  StructureView* renderer_ = nullptr;  // hidden; draws the thumbnails
  QTimer* timer_ = nullptr;
  int next_ = 0;
};

}  // namespace atomscope::gui
