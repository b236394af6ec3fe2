// The engine against transformers: for every reference fixture (tools/make_fixtures.py), the
// CLI's logits match ref_logits.npy and greedy generation reproduces the reference ids.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "cli_runner.h"
#include "formats/npy.h"

namespace {

QStringList fixture_names() {
    QStringList names;
    QDir dir(LC_FIXTURES_DIR);
    for (const QString& name : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
        if (QFile::exists(dir.filePath(name + "/ref.json"))) names << name;
    return names;
}

// A fixture's model is its own folder, or the folder its ref.json names relative to the source
// tree ("model_dir"), as for the bundled model, which lives in resources/models/.
QString model_dir(const QString& fixture, const QJsonObject& ref) {
    if (ref.contains("model_dir"))
        return QString(LC_SOURCE_DIR) + "/" + ref["model_dir"].toString();
    return QString(LC_FIXTURES_DIR) + "/" + fixture;
}

QJsonObject read_ref(const QString& fixture) {
    QFile f(QString(LC_FIXTURES_DIR) + "/" + fixture + "/ref.json");
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

QString id_list(const QJsonArray& ids) {
    QStringList parts;
    for (const auto& v : ids)
        parts << QString::number(v.toInt());
    return parts.join(',');
}

using lc_test::run_cli;

}  // namespace

class TestFixtures : public QObject {
    Q_OBJECT

private slots:
    void fixtures_exist() {
        // The issues require these kinds (glm4_moe_lite: GLM-4.7-Flash's layout, issue 17);
        // losing one must fail the suite.
        const QStringList names = fixture_names();
        for (const char* required :
             {"v2_moe", "v2_group", "v3_yarn", "dense", "bundled_model", "glm4_moe_lite"})
            QVERIFY2(names.contains(required), required);
    }

    void logits_match_reference_data() {
        QTest::addColumn<QString>("fixture");
        for (const QString& name : fixture_names())
            QTest::newRow(qPrintable(name)) << name;
    }
    void logits_match_reference() {
        QFETCH(QString, fixture);
        const QJsonObject ref = read_ref(fixture);
        const QString dir = model_dir(fixture, ref);
        const QString ref_dir = QString(LC_FIXTURES_DIR) + "/" + fixture;
        const QJsonArray input = ref["input_ids"].toArray();
        QVERIFY(!input.isEmpty());
        QTemporaryDir tmp;
        const QString out = tmp.filePath("logits.npy");
        lc_test::CliResult r =
            run_cli({"logits", "--model", dir, "--tokens", id_list(input), "--out", out});
        QVERIFY2(r.code == 0, r.err.constData());

        lc::NpyArray ours = lc::read_npy_f32(out.toStdString());
        lc::NpyArray want = lc::read_npy_f32((ref_dir + "/ref_logits.npy").toStdString());
        QCOMPARE(ours.shape, want.shape);
        QCOMPARE(ours.shape[0], static_cast<int64_t>(input.size()));
        double diff = 0, norm = 0;
        for (size_t i = 0; i < want.data.size(); ++i) {
            const double d = double(ours.data[i]) - want.data[i];
            diff += d * d;
            norm += double(want.data[i]) * want.data[i];
        }
        const double rel = std::sqrt(diff / norm);
        qInfo("%s: relative L2 error %.3g", qPrintable(fixture), rel);
        QVERIFY2(rel < 1e-3, qPrintable(QString("relative L2 error %1").arg(rel)));
    }

    void greedy_ids_match_reference_data() { logits_match_reference_data(); }
    void greedy_ids_match_reference() {
        QFETCH(QString, fixture);
        const QJsonObject ref = read_ref(fixture);
        const QString dir = model_dir(fixture, ref);
        const QJsonArray greedy = ref["greedy_ids"].toArray();
        QVERIFY(!greedy.isEmpty());
        lc_test::CliResult r =
            run_cli({"generate", "--model", dir, "--tokens", id_list(ref["input_ids"].toArray()),
                     "--temperature", "0", "--max-tokens", QString::number(greedy.size()),
                     "--ignore-eos", "--print-ids"});
        QVERIFY2(r.code == 0, r.err.constData());
        const QList<QByteArray> lines = r.out.trimmed().split('\n');
        QCOMPARE(QString(lines.last()), id_list(greedy));
    }
};

QTEST_GUILESS_MAIN(TestFixtures)
#include "test_fixtures.moc"
