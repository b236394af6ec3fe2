// The app's server section (ui/server_panel, ui/local_server) on the real Settings dialog,
// offscreen: Start loads the bundled model off the GUI thread and serves it (checked with
// libcurl), the address is shown, the server outlives the dialog, Stop ends it, a taken port
// is an error in the panel.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QtTest>
#include <memory>

#include "http_test_client.h"
#include "local_server.h"
#include "server_panel.h"
#include "settings_dialog.h"

using lc::ui::LocalServer;
using lc::ui::ServerPanel;
using lc::ui::SettingsDialog;
using lc_test::http_get;

namespace {

const QString kBundled = QStringLiteral(LC_SOURCE_DIR "/resources/models/latentchat-stories-13m");

template <class T>
T* child(QWidget* parent, const char* name) {
    return parent->findChild<T*>(QString::fromLatin1(name));
}

}  // namespace

class TestServerPanel : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    void cleanupTestCase() { curl_global_cleanup(); }

    void start_serve_stop() {
        LocalServer server;
        auto dialog = std::make_unique<SettingsDialog>(lc::ui::ConversationSettings{}, false);
        ServerPanel* panel = ServerPanel::add_to(dialog.get(), &server, kBundled, "cpu");
        QVERIFY(panel->isAncestorOf(child<QPushButton>(dialog.get(), "serverToggle")));
        auto* toggle = child<QPushButton>(dialog.get(), "serverToggle");
        auto* address = child<QLabel>(dialog.get(), "serverAddress");
        auto* status = child<QLabel>(dialog.get(), "serverStatus");
        QCOMPARE(status->text(), QString("Stopped"));
        child<QSpinBox>(dialog.get(), "serverPort")->setValue(0);  // any free port
        child<QLineEdit>(dialog.get(), "serverApiKey")->setText("panel-key");
        QTest::mouseClick(toggle, Qt::LeftButton);
        // The click returns at once: loading happens on another thread.
        QVERIFY(server.state() == LocalServer::State::Starting ||
                server.state() == LocalServer::State::Running);
        QTRY_COMPARE_WITH_TIMEOUT(server.state(), LocalServer::State::Running, 60000);
        const QString url = address->text();
        QVERIFY2(url.startsWith("http://127.0.0.1:") && url.endsWith("/v1"), qPrintable(url));
        QVERIFY(status->text().contains("latentchat-stories-13m"));
        QVERIFY(!child<QSpinBox>(dialog.get(), "serverPort")->isEnabled());
        QVERIFY(toggle->text().remove(QLatin1Char('&')).contains("Stop"));
        QCOMPARE(http_get(url.toStdString() + "/models").status, 401L);
        QCOMPARE(
            http_get(url.toStdString() + "/models", {"Authorization: Bearer panel-key"}).status,
            200L);

        // The dialog closes; the server, the window's, goes on.
        dialog.reset();
        QCOMPARE(
            http_get(url.toStdString() + "/models", {"Authorization: Bearer panel-key"}).status,
            200L);
        // A new dialog shows it running and stops it.
        dialog = std::make_unique<SettingsDialog>(lc::ui::ConversationSettings{}, false);
        ServerPanel::add_to(dialog.get(), &server, kBundled, "cpu");
        QCOMPARE(child<QLabel>(dialog.get(), "serverAddress")->text(), url);
        QTest::mouseClick(child<QPushButton>(dialog.get(), "serverToggle"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(server.state(), LocalServer::State::Stopped, 20000);
        QVERIFY(http_get(url.toStdString() + "/models").rc != CURLE_OK);  // nothing listens
        QCOMPARE(child<QLabel>(dialog.get(), "serverStatus")->text(), QString("Stopped"));
    }

    void taken_port_is_shown() {
        // Hold a port, then ask the panel for it.
        const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        QCOMPARE(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        QCOMPARE(::listen(holder, 1), 0);
        socklen_t len = sizeof addr;
        ::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len);
        const int port = ntohs(addr.sin_port);

        LocalServer server;
        SettingsDialog dialog(lc::ui::ConversationSettings{}, false);
        ServerPanel::add_to(&dialog, &server, kBundled, "cpu");
        child<QSpinBox>(&dialog, "serverPort")->setValue(port);
        QTest::mouseClick(child<QPushButton>(&dialog, "serverToggle"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(server.state(), LocalServer::State::Failed, 60000);
        const QString status = child<QLabel>(&dialog, "serverStatus")->text();
        QVERIFY2(status.startsWith("Could not start") && status.contains(QString::number(port)),
                 qPrintable(status));
        QVERIFY(child<QSpinBox>(&dialog, "serverPort")->isEnabled());  // try another
        ::close(holder);
    }
};

QTEST_MAIN(TestServerPanel)
#include "test_server_panel.moc"
