// latentchat-cli's history face: generate --db records a conversation as it streams, a second
// run continues it, and history lists, shows, searches, exports and imports it.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_runner.h"
#include "history/history_store.h"

using lc_test::CliResult;
using lc_test::run_cli;

class TestCliHistory : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString db() const { return dir_.filePath("history.db"); }

private slots:
    void generate_records_and_continues_a_conversation() {
        CliResult r = run_cli({"generate", "--db", db(), "--prompt", "Tell me a story about a fox.",
                               "--seed", "3", "--max-tokens", "120"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QRegularExpression saved("saved to conversation (\\d+)");
        const QString id = saved.match(QString(r.err)).captured(1);
        QVERIFY2(!id.isEmpty(), r.err.constData());
        const QString reply = QString::fromUtf8(r.out).trimmed();

        CliResult again = run_cli({"generate", "--db", db(), "--conversation", id, "--prompt",
                                   "What did the fox find?", "--seed", "4", "--max-tokens", "60"});
        QVERIFY2(again.code == 0, qPrintable(again.describe()));

        CliResult list = run_cli({"history", "--db", db(), "list"});
        QVERIFY2(list.code == 0, qPrintable(list.describe()));
        QVERIFY(list.out.contains("Tell me a story about a fox."));
        QVERIFY(list.out.contains("(4 messages"));

        CliResult show = run_cli({"history", "--db", db(), "show", id});
        QVERIFY2(show.code == 0, qPrintable(show.describe()));
        QVERIFY(show.out.contains("What did the fox find?"));
        QVERIFY(QString::fromUtf8(show.out).contains(reply.left(40)));

        CliResult search = run_cli({"history", "--db", db(), "search", "fox"});
        QVERIFY2(search.code == 0, qPrintable(search.describe()));
        QVERIFY(search.out.startsWith((id + ":").toUtf8()));
        QVERIFY(search.out.contains("[fox]"));
        // Date filters: nothing was written in 2001 or will be in 2099.
        for (const QStringList& filter :
             {QStringList{"--to", "2001-01-01"}, QStringList{"--from", "2099-01-01"}}) {
            CliResult none =
                run_cli(QStringList{"history", "--db", db(), "search", "fox"} + filter);
            QVERIFY2(none.code == 0 && none.out.isEmpty(), qPrintable(none.describe()));
        }
    }

    // A title is cut before a character, never inside one; text stored invalid by older versions
    // (a title cut inside a character) still exports, with U+FFFD in its place.
    void titles_stay_valid_utf8_and_bad_text_still_exports() {
        QTemporaryDir tmp;
        const QString file = tmp.filePath("h.db");
        const QString prompt = QString(59, 'a') + QString::fromUtf8("é and then some more words");
        CliResult r = run_cli({"generate", "--db", file, "--prompt", prompt, "--max-tokens", "2"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        {
            lc::HistoryStore store(file.toStdString());
            // As an older version wrote it: 60 bytes, the last one half of "é".
            store.create_conversation(std::string(59, 'b') + "\xc3", "m");
        }
        CliResult ex = run_cli({"history", "--db", file, "export", "all", "--format", "json"});
        QVERIFY2(ex.code == 0, qPrintable(ex.describe()));
        QJsonParseError error{};
        const QJsonDocument doc = QJsonDocument::fromJson(ex.out, &error);
        QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
        QStringList titles;
        for (const auto& c : doc.object()["conversations"].toArray())
            titles << c.toObject()["title"].toString();
        QVERIFY2(titles.contains(QString(59, 'a') + "..."), qPrintable(titles.join(" | ")));
        QVERIFY2(titles.contains(QString(59, 'b') + QChar(0xFFFD)), qPrintable(titles.join(" | ")));
    }

    void export_then_import_gives_the_same_conversation() {
        const QString json = dir_.filePath("conv.json");
        CliResult ex =
            run_cli({"history", "--db", db(), "export", "1", "--format", "json", "--out", json});
        QVERIFY2(ex.code == 0, qPrintable(ex.describe()));
        const QString other = dir_.filePath("other.db");
        CliResult create =
            run_cli({"generate", "--db", other, "--prompt", "Hi.", "--max-tokens", "2"});
        QVERIFY2(create.code == 0, qPrintable(create.describe()));
        CliResult im = run_cli({"history", "--db", other, "import", json});
        QVERIFY2(im.code == 0, qPrintable(im.describe()));
        const QString new_id = QString::fromUtf8(im.out).trimmed();
        CliResult a = run_cli({"history", "--db", db(), "export", "1", "--format", "md"});
        CliResult b = run_cli({"history", "--db", other, "export", new_id, "--format", "md"});
        QVERIFY(a.code == 0 && b.code == 0);
        QCOMPARE(b.out, a.out);
    }

    void bad_input_is_one_clear_line() {
        QFile bad(dir_.filePath("bad.json"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write(
            "{\"format\": \"latentchat-conversation\", \"version\": 1, \"conversations\": [{]}");
        bad.close();
        const QList<QPair<QStringList, QString>> cases = {
            {{"history", "--db", dir_.filePath("missing.db"), "list"}, "missing.db"},
            {{"history", "--db", db(), "show", "999"}, "999"},
            {{"history", "--db", db(), "show", "x"}, "x"},
            {{"history", "--db", db(), "export", "1", "--format", "pdf"}, "--format"},
            {{"history", "--db", db(), "import", bad.fileName()}, "JSON"},
            {{"history", "--db", db(), "frobnicate"}, "frobnicate"},
            {{"generate", "--db", db(), "--conversation", "999", "--prompt", "x"}, "999"},
            {{"generate", "--conversation", "1", "--prompt", "x"}, "--db"},
        };
        for (const auto& [args, keyword] : cases) {
            CliResult r = run_cli(args);
            const QString err = QString::fromUtf8(r.err).trimmed();
            QVERIFY2(r.finished && r.code == 1, qPrintable(r.describe()));
            QVERIFY2(!err.contains('\n') && err.contains(keyword), qPrintable(r.describe()));
        }
        // The failed import wrote nothing.
        CliResult list = run_cli({"history", "--db", db(), "list"});
        QCOMPARE(list.out.count('\n'), 1);
    }
};

QTEST_GUILESS_MAIN(TestCliHistory)
#include "test_cli_history.moc"
