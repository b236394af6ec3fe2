// The model that ships in resources/models: it is the default, it tells a story in the chat
// format, and our engine's held-out perplexity is the training script's (tools/train_model.py).
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>
#include <cmath>

#include "cli_runner.h"
#include "session/model_locator.h"

namespace {

const QString kFixture = QString(LC_FIXTURES_DIR) + "/bundled_model";

QJsonObject ref() {
    QFile f(kFixture + "/ref.json");
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

}  // namespace

class TestBundledModel : public QObject {
    Q_OBJECT

private slots:
    void is_the_default_model() {
        lc_test::CliResult r = lc_test::run_cli({"info", "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QJsonObject info = QJsonDocument::fromJson(r.out).object();
        QVERIFY(info["model_dir"].toString().endsWith(ref()["model_dir"].toString()));
        QCOMPARE(info["model_type"].toString(), QString("deepseek_v3"));
    }

    // $LATENTCHAT_MODEL names a model folder, or a folder of them (the first by name wins).
    void latentchat_model_names_a_model_or_a_folder_of_models() {
        const QString models = QString(LC_SOURCE_DIR) + "/resources/models";
        for (const QString& value : {models, models + "/latentchat-stories-13m"}) {
            qputenv("LATENTCHAT_MODEL", value.toUtf8());
            const auto dir = lc::default_model_dir({});
            QVERIFY(dir);
            QCOMPARE(QString::fromStdString(dir->filename().string()),
                     QString("latentchat-stories-13m"));
        }
        qputenv("LATENTCHAT_MODEL", "/no/such/folder");
        QCOMPARE(lc::default_model_dir({}),
                 std::optional<std::filesystem::path>("/no/such/folder"));
        qunsetenv("LATENTCHAT_MODEL");
    }

    void tells_a_story_in_the_chat_format() {
        lc_test::CliResult r =
            lc_test::run_cli({"generate", "--chat", "--prompt", "Tell me a story about a cat.",
                              "--seed", "1", "--max-tokens", "400", "--stats"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QString story = QString::fromUtf8(r.out).trimmed();
        QVERIFY2(story.split(' ', Qt::SkipEmptyParts).size() > 40, qPrintable(story));
        QVERIFY2(!story.contains("<|"), qPrintable(story));  // the turn's end is not shown
        // It ended the reply itself: its turn's end marker, or the end of text it learned to put
        // after it (both end a chat turn), not the token limit.
        QVERIFY2(r.err.contains(", stop;") || r.err.contains(", eos;"), r.err.constData());
    }

    void heldout_perplexity_matches_training() {
        const QJsonObject heldout = ref()["heldout"].toObject();
        lc_test::CliResult r = lc_test::run_cli(
            {"perplexity", "--file", kFixture + "/" + heldout["file"].toString(), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QJsonObject ours = QJsonDocument::fromJson(r.out).object();
        const double want = heldout["nats_per_token"].toDouble();
        const double got = ours["nll_per_token"].toDouble();
        qInfo("held-out nats/token: engine %.6f, training script %.6f; bits/byte %.4f", got, want,
              ours["bits_per_byte"].toDouble());
        QVERIFY(std::abs(got - want) / want < 0.01);
        QCOMPARE(ours["tokens"].toInt(), heldout["tokens_scored"].toInt());
        QVERIFY(ours["bits_per_byte"].toDouble() < 1.0);
    }
};

QTEST_GUILESS_MAIN(TestBundledModel)
#include "test_bundled_model.moc"
