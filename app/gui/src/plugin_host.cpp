#include "atomscope/gui/plugin_host.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonObject>
#include <QLibrary>
#include <QPluginLoader>
#include <QRegularExpression>
#include <QStandardPaths>

#include "atomscope/gui/workbench.h"

namespace atomscope::gui {

PluginHost::PluginHost(QObject* parent) : QObject(parent) {}

// Plugins are not unloaded: their widgets live in the main window until the process ends.
PluginHost::~PluginHost() = default;

QStringList PluginHost::installFolders() {
  const QString exeDir = QCoreApplication::applicationDirPath();
  return {QDir(exeDir).absoluteFilePath(QStringLiteral("../plugins")),
          QDir(exeDir).absoluteFilePath(QStringLiteral("../lib/atomscope/plugins")),
          QDir(exeDir).absoluteFilePath(QStringLiteral("../lib64/atomscope/plugins")),
          QDir(exeDir).absoluteFilePath(QStringLiteral("../" ATOMSCOPE_PLUGIN_INSTALL_RELDIR))};
}

QString PluginHost::userFolder() {
  const QString user = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  return user.isEmpty() ? QString() : user + QStringLiteral("/plugins");
}

QString PluginHost::folderOrigin(const QString& dir) {
  const QString canon = QFileInfo(dir).canonicalFilePath();
  auto same = [&](const QString& c) { return !canon.isEmpty() && QFileInfo(c).canonicalFilePath() == canon; };
  for (const QString& c : installFolders())
    if (same(c)) return tr("installation");
  if (!userFolder().isEmpty() && same(userFolder())) return tr("user folder");
  return tr("given folder");
}

QStringList PluginHost::defaultSearchPaths() {
  QStringList candidates = installFolders();
  if (!userFolder().isEmpty()) candidates << userFolder();
  QStringList out;
  for (const QString& c : candidates) {
    const QString canon = QFileInfo(c).canonicalFilePath();
    if (!canon.isEmpty() && QFileInfo(canon).isDir() && !out.contains(canon)) out << canon;
  }
  return out;
}

QString PluginHost::folderRefusal(const QString& dir) {
  const QFileInfo fi(dir);
  if (!fi.exists()) return tr("plugin folder %1 does not exist").arg(dir);
  if (!fi.isDir()) return tr("%1 is not a folder").arg(dir);
  if (fi.permissions() & QFileDevice::WriteOther)
    return tr("plugin folder %1 is writable by every user; refusing to load code from it "
              "(run: chmod o-w '%1')")
        .arg(fi.absoluteFilePath());
  return {};
}

int PluginHost::loadDirectories(const QStringList& dirs, Workbench* workbench) {
  int n = 0;
  for (const QString& d : dirs) n += loadDirectory(d, workbench);
  return n;
}

int PluginHost::loadDirectory(const QString& dir, Workbench* workbench) {
  const QString refusal = folderRefusal(dir);
  if (!refusal.isEmpty()) {
    PluginRecord r;
    r.file = QFileInfo(dir).absoluteFilePath();
    r.origin = folderOrigin(dir);
    r.error = refusal;
    records_.append(r);
    Q_EMIT message(refusal, true);
    return 0;
  }
  int loaded = 0;
  const QDir d(dir);
  const QString origin = folderOrigin(dir);
  for (const QFileInfo& fi : d.entryInfoList(QDir::Files | QDir::NoDotAndDotDot, QDir::Name)) {
    if (!QLibrary::isLibrary(fi.fileName())) continue;
    const int before = records_.size();
    if (loadFile(fi.absoluteFilePath(), workbench).loaded) ++loaded;
    for (int i = before; i < records_.size(); ++i) records_[i].origin = origin;
  }
  return loaded;
}

const PluginRecord& PluginHost::loadFile(const QString& file, Workbench* workbench) {
  PluginRecord rec;
  rec.file = QFileInfo(file).absoluteFilePath();
  auto fail = [&](const QString& why) -> const PluginRecord& {
    rec.error = why;
    records_.append(rec);
    Q_EMIT message(tr("Plugin %1 not loaded: %2").arg(rec.file, why), true);
    return records_.last();
  };

  for (const auto& r : records_)
    if (r.loaded && r.file == rec.file) return fail(tr("already loaded"));
  if (QFileInfo(file).permissions() & QFileDevice::WriteOther)
    return fail(tr("the file is writable by every user; refusing to load it"));

  auto* loader = new QPluginLoader(rec.file, this);
  // Resolve every symbol at load time so a missing one is reported here, not as a crash later.
  loader->setLoadHints(QLibrary::ResolveAllSymbolsHint);
  const QJsonObject meta = loader->metaData();
  if (meta.isEmpty()) {
    QString why = loader->errorString();
    if (why.isEmpty() || why == QLatin1String("Unknown error")) why = tr("not a Qt plugin (no plugin metadata)");
    delete loader;
    return fail(tr("not a Qt plugin: %1").arg(why));
  }
  const QString iid = meta.value(QStringLiteral("IID")).toString();
  if (iid != QLatin1String(ATOMSCOPE_PLUGIN_IID)) {
    delete loader;
    return fail(tr("wrong interface id \"%1\" (expected \"%2\")").arg(iid, QLatin1String(ATOMSCOPE_PLUGIN_IID)));
  }
  QObject* instance = loader->instance();
  if (!instance) {
    const QString why = loader->errorString();
    delete loader;
    return fail(tr("cannot load: %1").arg(why));
  }
  auto* plugin = qobject_cast<Plugin*>(instance);
  if (!plugin) {
    loader->unload();
    delete loader;
    return fail(tr("the plugin object does not implement %1").arg(QLatin1String(ATOMSCOPE_PLUGIN_IID)));
  }
  try {
    rec.name = plugin->name();
    for (const auto& r : records_)
      if (r.loaded && r.name == rec.name) {
        // Same plugin found twice (e.g. build tree and user folder): keep the first.
        return fail(tr("a plugin named \"%1\" is already loaded from %2").arg(rec.name, r.file));
      }
    rec.version = plugin->version();
    rec.description = plugin->description();
    rec.jobs = plugin->jobs();
    rec.panels = plugin->panels();
    rec.menuEntries = plugin->menuEntries();
    rec.fileTypes = plugin->fileTypes();
    if (workbench) plugin->initialize(*workbench);
  } catch (const std::exception& e) {
    return fail(tr("initialisation failed: %1").arg(QString::fromUtf8(e.what())));
  } catch (...) {
    return fail(tr("initialisation failed with an unknown exception"));
  }
  rec.loaded = true;
  rec.plugin = plugin;
  loaders_.append(loader);
  records_.append(rec);
  Q_EMIT message(tr("Loaded plugin %1 %2 from %3").arg(rec.name, rec.version, rec.file), false);
  return records_.last();
}

QList<Plugin*> PluginHost::plugins() const {
  QList<Plugin*> out;
  for (const auto& r : records_)
    if (r.loaded) out << r.plugin;
  return out;
}

int PluginHost::failureCount() const {
  int n = 0;
  for (const auto& r : records_)
    if (!r.loaded) ++n;
  return n;
}

Plugin* PluginHost::pluginForFile(const QString& path) const {
  const QString name = QFileInfo(path).fileName();
  for (const auto& r : records_) {
    if (!r.loaded) continue;
    for (const auto& ft : r.fileTypes)
      for (const QString& pattern : ft.patterns) {
        const QRegularExpression re(QRegularExpression::wildcardToRegularExpression(pattern),
                                    QRegularExpression::CaseInsensitiveOption);
        if (re.match(name).hasMatch()) return r.plugin;
      }
  }
  return nullptr;
}

QString PluginHost::fileDialogFilter() const {
  QStringList all, entries;
  for (const auto& r : records_) {
    if (!r.loaded) continue;
    for (const auto& ft : r.fileTypes) {
      all << ft.patterns;
      entries << QStringLiteral("%1 (%2)").arg(ft.description, ft.patterns.join(QLatin1Char(' ')));
    }
  }
  QStringList out;
  if (!all.isEmpty()) out << tr("All supported files (%1)").arg(all.join(QLatin1Char(' ')));
  out << entries << tr("All files (*)");
  return out.join(QStringLiteral(";;"));
}

}  // namespace atomscope::gui
