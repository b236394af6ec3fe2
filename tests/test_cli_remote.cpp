// `latentchat-cli generate --remote` (issue 21) against tests/ref/fake_openai.py: the reply
// streamed to stdout, the flags that reach the server, --db history as local chats keep it, Ctrl-C,
// and one-line errors with exit status 1.
#include <QJsonArray>
#include <QTemporaryDir>
#include <QtTest>
#include <csignal>

#include "cli_runner.h"
#include "fake_openai_server.h"
#include "history/history_store.h"

using lc_test::CliResult;
using lc_test::fake_reply;
using lc_test::run_cli;

class TestCliRemote : public QObject {
    Q_OBJECT

    lc_test::FakeOpenAi server_;
    QTemporaryDir dir_;

    // An error: exit status 1 and one line on stderr holding `part`.
    static void expect_error(const CliResult& r, const QString& part) {
        QVERIFY2(r.finished && r.code == 1, qPrintable(r.describe()));
        const QString err = QString::fromUtf8(r.err).trimmed();
        QVERIFY2(!err.contains('\n'), qPrintable(r.describe()));
        QVERIFY2(err.startsWith("latentchat-cli: ") && err.contains(part),
                 qPrintable(r.describe()));
    }

private slots:
    void initTestCase() {
        QVERIFY2(server_.start(), "tests/ref/fake_openai.py did not start (python3 needed)");
    }

    void streams_the_reply() {
        server_.clear_log();
        const CliResult r = run_cli({"generate", "--remote", server_.root() + "/v1/", "--prompt",
                                     "Hi there", "--temperature", "0.5", "--seed", "3", "--stats"});
        QVERIFY2(r.finished && r.code == 0, qPrintable(r.describe()));
        QCOMPARE(QString::fromUtf8(r.out), fake_reply("Hi there") + "\n");
        QVERIFY2(r.err.contains("9 tokens from fake-mla"), qPrintable(r.describe()));  // 9 words
        // The first model listed, then the request with the flags.
        const QList<QJsonObject> requests = server_.requests();
        QCOMPARE(requests.size(), 2);
        QCOMPARE(requests[0]["path"].toString(), QString("/v1/models"));
        const QJsonObject body = server_.last_body();
        QCOMPARE(body["model"].toString(), QString("fake-mla"));
        QCOMPARE(body["temperature"].toDouble(), 0.5);
        QCOMPARE(body["seed"].toInt(), 3);
        QVERIFY(!body.contains("top_k"));
        QCOMPARE(body["messages"].toArray().size(), 1);
    }

    void model_key_and_extended_sampling() {
        lc_test::FakeOpenAi locked;
        QVERIFY(locked.start("k123"));
        const CliResult r =
            run_cli({"generate", "--remote", locked.root(), "--api-key", "k123", "--remote-model",
                     "my-model", "--prompt", "x", "--top-k", "5", "--system", "Be nice."});
        QVERIFY2(r.finished && r.code == 0, qPrintable(r.describe()));
        const QList<QJsonObject> requests = locked.requests();
        QCOMPARE(requests.size(), 1);  // a named model needs no list
        QCOMPARE(requests[0]["auth"].toString(), QString("Bearer k123"));
        const QJsonObject body = locked.last_body();
        QCOMPARE(body["model"].toString(), QString("my-model"));
        QCOMPARE(body["top_k"].toInt(), 5);
        QCOMPARE(body["messages"].toArray()[0].toObject()["content"].toString(),
                 QString("Be nice."));
    }

    // --db saves the turn as a local generate does; --conversation continues it, and the
    // server then gets the earlier exchange.
    void saves_the_history() {
        const QString db = dir_.filePath("history.db");
        CliResult r = run_cli({"generate", "--remote", server_.root(), "--db", db, "--prompt",
                               "First question", "--system", "Sys."});
        QVERIFY2(r.finished && r.code == 0, qPrintable(r.describe()));
        QVERIFY2(r.err.contains("[saved to conversation 1 in "), qPrintable(r.describe()));
        r = run_cli({"generate", "--remote", server_.root(), "--db", db, "--conversation", "1",
                     "--prompt", "Second question"});
        QVERIFY2(r.finished && r.code == 0, qPrintable(r.describe()));
        const QJsonArray sent = server_.last_body()["messages"].toArray();
        QCOMPARE(sent.size(), 4);
        QCOMPARE(sent[2].toObject()["content"].toString(), fake_reply("First question"));

        lc::HistoryStore store(db.toStdString());
        const std::vector<lc::Message> branch = store.branch(1);
        QCOMPARE(branch.size(), size_t{5});
        QCOMPARE(branch[0].role, std::string("system"));
        QCOMPARE(branch[2].content, fake_reply("First question").toStdString());
        QCOMPARE(branch[4].content, fake_reply("Second question").toStdString());
        QCOMPARE(branch[4].meta.model_id, std::string("fake-mla"));
        QCOMPARE(branch[4].meta.token_count, 9);  // words of the reply
        QVERIFY(branch[4].meta.sampling_json.find("\"temperature\"") != std::string::npos);
    }

    void errors_are_one_line() {
        expect_error(run_cli({"generate", "--remote", server_.root(), "--prompt", "[500]"}),
                     server_.root() +
                         "/v1/chat/completions answered 500 Internal Server Error: "
                         "the fake server failed on purpose");
        expect_error(run_cli({"generate", "--remote", server_.root(), "--prompt", "[cut]"}),
                     "cut the stream after 3 pieces");
        expect_error(run_cli({"generate", "--remote", server_.root(), "--prompt", "[badjson]"}),
                     "not valid JSON");
        lc_test::FakeOpenAi locked;
        QVERIFY(locked.start("k"));
        expect_error(run_cli({"generate", "--remote", locked.root(), "--prompt", "x"}),
                     "401 Unauthorized");
        locked.stop();
        expect_error(run_cli({"generate", "--remote", locked.root(), "--prompt", "x"}),
                     "could not reach " + locked.root() + "/v1/models");
        expect_error(run_cli({"generate", "--remote", "ftp://x", "--prompt", "x"}),
                     "must begin with http:// or https://");
        expect_error(
            run_cli({"generate", "--remote", server_.root(), "--model", "/m", "--prompt", "x"}),
            "--model is for the local engine");
        expect_error(run_cli({"generate", "--remote", server_.root(), "--tokens", "1,2"}),
                     "--tokens is for the local engine");
    }

    // Ctrl-C stops the reply at once: exit 130, and with --db what came is saved.
    void ctrl_c_stops() {
        const QString db = dir_.filePath("stopped.db");
        QProcess p;
        p.setProgram(QStringLiteral(LC_CLI_PATH));
        p.setArguments(
            {"generate", "--remote", server_.root(), "--db", db, "--prompt", "go on [endless]"});
        p.start();
        QVERIFY(p.waitForStarted(10000));
        QByteArray out;
        while (!out.contains("word3")) {
            QVERIFY2(p.waitForReadyRead(10000), out.constData());
            out += p.readAllStandardOutput();
        }
        QElapsedTimer t;
        t.start();
        ::kill(static_cast<pid_t>(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(5000));
        QVERIFY2(t.elapsed() < 1000, qPrintable(QString("%1 ms").arg(t.elapsed())));
        QCOMPARE(p.exitStatus(), QProcess::NormalExit);
        QCOMPARE(p.exitCode(), 130);
        out += p.readAllStandardOutput();
        lc::HistoryStore store(db.toStdString());
        const std::vector<lc::Message> branch = store.branch(1);
        QCOMPARE(branch.size(), size_t{2});
        QVERIFY(branch[1].content.rfind("word0 word1 word2 word3", 0) == 0);
        QCOMPARE(QByteArray::fromStdString(branch[1].content + "\n"), out);
    }

    // Against our own server on the bundled model: the reply, greedy, is the one the local
    // engine gives for the same messages, and it is saved like a local one.
    void against_our_own_serve() {
        QProcess serve;
        serve.setProgram(QStringLiteral(LC_CLI_PATH));
        serve.setArguments({"serve", "--port", "0"});
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.remove("LATENTCHAT_MODEL");
        serve.setProcessEnvironment(env);
        serve.start();
        QVERIFY(serve.waitForStarted(10000));
        while (!serve.canReadLine())
            QVERIFY2(serve.waitForReadyRead(60000), serve.readAllStandardError().constData());
        const QString url = QString::fromUtf8(serve.readLine()).trimmed();
        QVERIFY2(url.startsWith("http://127.0.0.1:"), qPrintable(url));

        const QStringList turn = {"--prompt",      "Tell me a story about a cat.",
                                  "--system",      "You are a storyteller.",
                                  "--temperature", "0",
                                  "--max-tokens",  "40"};
        const QString db = dir_.filePath("served.db");
        const CliResult remote =
            run_cli(QStringList{"generate", "--remote", url, "--db", db, "--stats"} + turn);
        const CliResult local = run_cli(QStringList{"generate", "--chat"} + turn);
        ::kill(static_cast<pid_t>(serve.processId()), SIGTERM);
        QVERIFY(serve.waitForFinished(10000));
        QCOMPARE(serve.exitCode(), 0);

        QVERIFY2(remote.finished && remote.code == 0, qPrintable(remote.describe()));
        QVERIFY2(local.finished && local.code == 0, qPrintable(local.describe()));
        QVERIFY(remote.out.trimmed().size() > 20);
        QCOMPARE(QString::fromUtf8(remote.out), QString::fromUtf8(local.out));
        lc::HistoryStore store(db.toStdString());
        const std::vector<lc::Message> branch = store.branch(1);
        QCOMPARE(branch.size(), size_t{3});
        QCOMPARE(QByteArray::fromStdString(branch[2].content + "\n"), remote.out);
        QVERIFY(branch[2].meta.token_count > 0);
    }
};

QTEST_GUILESS_MAIN(TestCliRemote)
#include "test_cli_remote.moc"
