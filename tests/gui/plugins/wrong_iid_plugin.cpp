// A Qt plugin with another interface id: the host must refuse it with the reason.
#include <QObject>
#include <QtPlugin>

class WrongIidPlugin : public QObject {
  Q_OBJECT
  Q_PLUGIN_METADATA(IID "org.example.SomethingElse/7")
};

#include "wrong_iid_plugin.moc"
