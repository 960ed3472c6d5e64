#include "structure_gallery.h"

#include <QElapsedTimer>
#include <QFileInfo>
#include <QLabel>
#include <QListWidget>
#include <QPixmap>
#include <QTimer>
#include <QVBoxLayout>

#include "atomscope/gui/structure_view.h"

namespace atomscope::gui {

namespace {
// A short caption: index, formula, and an identifier from the data set when there is one.
QString caption(int index, const chem::Structure& s) {
  QString text = QStringLiteral("%1  %2").arg(index).arg(QString::fromStdString(s.formula()));
  for (const char* key : {"material_id", "name", "id"})
    if (s.info.contains(key) && s.info[key].is_string()) {
      text += QStringLiteral("\n") + QString::fromStdString(s.info[key].get<std::string>());
      break;
    }
  return text;
}
}  // namespace

StructureGallery::StructureGallery(const QString& path, chem::Trajectory structures, QWidget* parent)
    : QWidget(parent), path_(path), structures_(std::move(structures)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* title = new QLabel(tr("%1: %2 structures. Click one to open it.")
                               .arg(QFileInfo(path).fileName())
                               .arg(structures_.size()),
                           this);
  title->setContentsMargins(8, 4, 8, 4);
  layout->addWidget(title);
  list_ = new QListWidget(this);
  list_->setObjectName(QStringLiteral("structureGallery"));
  list_->setViewMode(QListView::IconMode);
  list_->setIconSize(QSize(kThumbnailSize, kThumbnailSize));
  list_->setGridSize(QSize(kThumbnailSize + 24, kThumbnailSize + 44));
  list_->setResizeMode(QListView::Adjust);
  list_->setMovement(QListView::Static);
  list_->setUniformItemSizes(true);
  list_->setWordWrap(true);
  QPixmap blank(kThumbnailSize, kThumbnailSize);
  blank.fill(QColor(40, 44, 52));
  for (int i = 0; i < static_cast<int>(structures_.size()); ++i) {
    const chem::Structure& s = structures_[static_cast<std::size_t>(i)];
    auto* item = new QListWidgetItem(QIcon(blank), caption(i, s), list_);
    item->setData(Qt::UserRole, i);
    item->setToolTip(tr("%1 atoms%2").arg(s.size()).arg(s.isPeriodic() ? tr(", periodic") : QString()));
  }
  layout->addWidget(list_, 1);
  connect(list_, &QListWidget::itemClicked, this,
          [this](QListWidgetItem* item) { Q_EMIT structureActivated(item->data(Qt::UserRole).toInt()); });
  connect(list_, &QListWidget::itemActivated, this,
          [this](QListWidgetItem* item) { Q_EMIT structureActivated(item->data(Qt::UserRole).toInt()); });

  // One hidden view draws every thumbnail off screen; a few per event-loop turn keep the UI live.
  renderer_ = new StructureView(this);
  renderer_->setShowLabel(false);
  renderer_->setShowAxes(false);
  renderer_->resize(kThumbnailSize, kThumbnailSize);
  renderer_->hide();
  timer_ = new QTimer(this);
  timer_->setInterval(0);
  connect(timer_, &QTimer::timeout, this, [this] { renderSome(); });
  if (!structures_.empty()) timer_->start();
}

void StructureGallery::renderSome() {
  QElapsedTimer t;
  t.start();
  while (next_ < static_cast<int>(structures_.size()) && t.elapsed() < 40) {
    renderer_->setStructure(structures_[static_cast<std::size_t>(next_)]);
    const QImage img = renderer_->renderImage(kThumbnailSize, kThumbnailSize);
    if (!img.isNull()) list_->item(next_)->setIcon(QIcon(QPixmap::fromImage(img)));
    ++next_;
  }
  if (next_ >= static_cast<int>(structures_.size())) timer_->stop();
}

}  // namespace atomscope::gui
