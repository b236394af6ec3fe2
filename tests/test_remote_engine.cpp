// The app chatting through a remote engine (issue 21) against tests/ref/fake_openai.py: the
// window set to a remote endpoint streams a reply through the worker's usual signals, saves it
// in the history, shows the cache estimate (or says it is unknown), stops at once, and shows a
// server error while staying usable. The settings keep the API key out of QSettings.
#include <QFile>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "fake_openai_server.h"
#include "main_window.h"
#include "remote_engine_settings.h"
#include "settings_dialog.h"

using lc::ui::MainWindow;
using lc::ui::RemoteEngineSettings;
using lc_test::fake_reply;

class TestRemoteEngine : public QObject {
    Q_OBJECT

    lc_test::FakeOpenAi server_;
    QTemporaryDir dir_;

    // A window whose settings choose the fake server (`model` empty: the first it lists).
    std::unique_ptr<MainWindow> open_window(QSettings& store, const QString& model) {
        RemoteEngineSettings remote;
        remote.enabled = true;
        remote.url = server_.root() + "/v1/";
        remote.model = model;
        remote.api_key = "k1";
        remote.save(store);
        auto w = std::make_unique<MainWindow>(store, dir_.filePath("history.db"));
        w->show();
        if (!QTest::qWaitFor([&] { return w->model_ready(); }, 30000)) return nullptr;
        return w;
    }

    static QString reply_text(MainWindow& w, int row) {
        return QString::fromStdString(w.chat_model()->message(row).content);
    }

private slots:
    void initTestCase() {
        QVERIFY2(server_.start(), "tests/ref/fake_openai.py did not start (python3 needed)");
    }

    void chat_turn_through_the_remote_engine() {
        QSettings store(dir_.filePath("a.ini"), QSettings::IniFormat);
        auto w = open_window(store, QString());
        QVERIFY(w);
        QCOMPARE(w->controller()->summary().name, QString("fake-mla"));
        // fake-mla is no known model: the panel says the estimate is unknown.
        QVERIFY2(w->cache_panel()->ratio_text().contains("unknown for a remote engine"),
                 qPrintable(w->cache_panel()->ratio_text()));

        QSignalSpy started(w->worker(), &lc::ui::InferenceWorker::generation_started);
        QSignalSpy pieces(w->worker(), &lc::ui::InferenceWorker::tokens_arrived);
        QSignalSpy finished(w.get(), &MainWindow::reply_finished);
        w->send("What is MLA? [slow]");
        QVERIFY(finished.wait(30000));
        QCOMPARE(started.count(), 1);
        QVERIFY2(pieces.count() >= 5, qPrintable(QString::number(pieces.count())));  // streamed
        QCOMPARE(reply_text(*w, 1), fake_reply("What is MLA? [slow]"));
        const auto meta = finished.first().first().value<lc::MessageMeta>();
        QCOMPARE(meta.token_count, 11);  // words of the reply
        QCOMPARE(meta.model_id, std::string("fake-mla"));
        QCOMPARE(server_.requests().last()["auth"].toString(), QString("Bearer k1"));

        // In the history like a local chat.
        const std::vector<lc::Message> saved = w->history()->branch(w->conversation_id());
        QCOMPARE(saved.size(), size_t{2});
        QCOMPARE(QString::fromStdString(saved[1].content), fake_reply("What is MLA? [slow]"));
        QCOMPARE(saved[1].meta.model_id, std::string("fake-mla"));

        // A follow-up sends the whole conversation.
        w->send("And then?");
        QVERIFY(finished.wait(30000));
        QCOMPARE(server_.last_body()["messages"].toArray().size(), 3);
        QCOMPARE(reply_text(*w, 3), fake_reply("And then?"));
    }

    void cache_estimate_for_a_known_model() {
        QSettings store(dir_.filePath("b.ini"), QSettings::IniFormat);
        auto w = open_window(store, "deepseek-ai/DeepSeek-V2-Lite-Chat");
        QVERIFY(w);
        QVERIFY2(w->cache_panel()->ratio_text().contains("MHA would need 8.9"),
                 qPrintable(w->cache_panel()->ratio_text()));
        QSignalSpy finished(w.get(), &MainWindow::reply_finished);
        w->send("hello");
        QVERIFY(finished.wait(30000));
        QVERIFY(w->cache_panel()->live_series()->count() > 0);
        QVERIFY(w->cache_panel()->mha_series()->count() > 0);
        QVERIFY2(w->cache_panel()->context_text().contains("DeepSeek-V2-Lite"),
                 qPrintable(w->cache_panel()->context_text()));
    }

    void stop_ends_the_reply_at_once() {
        QSettings store(dir_.filePath("c.ini"), QSettings::IniFormat);
        auto w = open_window(store, QString());
        QVERIFY(w);
        QSignalSpy finished(w.get(), &MainWindow::reply_finished);
        w->send("Talk forever [endless]");
        QVERIFY(QTest::qWaitFor([&] { return reply_text(*w, 1).contains("word3"); }, 10000));
        QElapsedTimer t;
        t.start();
        auto* stop = w->findChild<QPushButton*>("stopButton");
        QVERIFY(stop && stop->isVisible());
        QTest::mouseClick(stop, Qt::LeftButton);
        QVERIFY(finished.wait(5000));
        QVERIFY2(t.elapsed() < 1000, qPrintable(QString("%1 ms").arg(t.elapsed())));
        QCOMPARE(finished.first().first().value<lc::MessageMeta>().finish_reason,
                 std::string("cancelled"));
        QVERIFY(!w->generating());
        const std::vector<lc::Message> saved = w->history()->branch(w->conversation_id());
        QCOMPARE(QString::fromStdString(saved.back().content), reply_text(*w, 1));
    }

    void server_error_is_shown() {
        QSettings store(dir_.filePath("d.ini"), QSettings::IniFormat);
        auto w = open_window(store, QString());
        QVERIFY(w);
        w->send("fail please [500]");
        QMessageBox* box = nullptr;
        QVERIFY(QTest::qWaitFor(
            [&] { return (box = w->findChild<QMessageBox*>("errorDialog")) && box->isVisible(); },
            10000));
        QVERIFY2(box->text().contains("500 Internal Server Error") &&
                     box->text().contains("the fake server failed on purpose") &&
                     box->text().contains(server_.root() + "/v1/chat/completions"),
                 qPrintable(box->text()));
        box->close();
        QVERIFY(!w->generating());
        QCOMPARE(w->chat_model()->rowCount(), 1);  // the failed reply is not shown
        QSignalSpy finished(w.get(), &MainWindow::reply_finished);
        w->send("again");  // still usable
        QVERIFY(finished.wait(30000));
        QCOMPARE(reply_text(*w, 2), fake_reply("again"));
    }

    void unreachable_endpoint_fails_to_load() {
        lc_test::FakeOpenAi gone;
        QVERIFY(gone.start());
        gone.stop();
        lc::ui::InferenceWorker worker;
        QSignalSpy failed(&worker, &lc::ui::InferenceWorker::load_failed);
        RemoteEngineSettings remote;
        remote.enabled = true;
        remote.url = gone.root();
        worker.connect_remote(remote, QString());
        QCOMPARE(failed.count(), 1);
        const QString message = failed.first().first().toString();
        QVERIFY2(message.contains("could not reach " + gone.root() + "/v1/models"),
                 qPrintable(message));
    }

    // The dialog's Engine section round-trips, and the key lives in a 0600 file of its own.
    void settings_keep_the_key_apart() {
        QSettings store(dir_.filePath("e.ini"), QSettings::IniFormat);
        lc::ui::ConversationSettings s;
        s.remote.url = "http://example.org:8000";
        lc::ui::SettingsDialog dialog(s, false);
        auto* remote = dialog.findChild<QRadioButton*>("engineRemote");
        QVERIFY(remote);
        remote->setChecked(true);
        dialog.findChild<QLineEdit*>("remoteApiKey")->setText("secret-key");
        dialog.findChild<QLineEdit*>("remoteModel")->setText("m");
        auto* ok = dialog.findChild<QPushButton*>("okButton");
        QVERIFY(ok->isEnabled());
        dialog.findChild<QLineEdit*>("remoteUrl")->setText("ftp://nowhere");
        QVERIFY(!ok->isEnabled());  // a remote engine needs an http(s) URL
        dialog.findChild<QLineEdit*>("remoteUrl")->setText("http://example.org:8000/v1");
        QVERIFY(ok->isEnabled());

        dialog.settings().save_defaults(store);
        store.sync();
        QFile ini(store.fileName());
        QVERIFY(ini.open(QIODevice::ReadOnly));
        QVERIFY(!ini.readAll().contains("secret-key"));
        const QString key_file = RemoteEngineSettings::key_file(store);
        const QFileDevice::Permissions p = QFile::permissions(key_file);
        QVERIFY(p.testFlag(QFileDevice::ReadOwner));
        QVERIFY(!(p & (QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ReadOther |
                       QFileDevice::WriteOther)));
        const lc::ui::ConversationSettings back =
            lc::ui::ConversationSettings::load_defaults(store);
        QVERIFY(back.remote.enabled);
        QCOMPARE(back.remote.api_key, QString("secret-key"));
        QCOMPARE(back.remote.url, QString("http://example.org:8000/v1"));
        QCOMPARE(back.remote.model, QString("m"));
    }
};

QTEST_MAIN(TestRemoteEngine)
#include "test_remote_engine.moc"
