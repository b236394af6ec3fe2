// latentchat-cli on bad input: every case must end with exit status 1 (never 0, never a crash
// signal, never a hang) and exactly one non-empty line on stderr that names the thing at fault
// (the file, the flag, the tensor). Broken checkpoints are made from copies of the reference
// fixtures in a QTemporaryDir; the fixtures themselves are never modified.
#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>
#include <QProcess>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_runner.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_runner.h"

namespace fs = std::filesystem;

namespace {

using lc_test::CliResult;
using lc_test::run_cli;

const fs::path kFixtures = LC_FIXTURES_DIR;
const QString kCli = QStringLiteral(LC_CLI_PATH);
// The F32 single-file fixture (same byte size for I32), and the sharded one.
const fs::path kSingle = kFixtures / "v3_yarn";
const fs::path kSharded = kFixtures / "v2_group";

QString q(const fs::path& p) {
    return QString::fromStdString(p.string());
}

// Exit status 1, one non-empty stderr line, and that line contains every keyword
// (case-sensitive). On failure `report` says what happened.
bool fails_cleanly(const QStringList& args, const QStringList& keywords, QString* report,
                   QString* line_out = nullptr) {
    const CliResult r = run_cli(args);
    *report = r.describe();
    if (!r.started || !r.finished || r.status != QProcess::NormalExit) return false;
    if (r.code != 1) {
        *report += "\n  expected exit status 1";
        return false;
    }
    QString err = QString::fromUtf8(r.err);
    if (err.endsWith('\n')) err.chop(1);
    const QStringList lines = err.split('\n');
    if (lines.size() != 1 || lines[0].trimmed().isEmpty()) {
        *report += QString("\n  expected exactly one non-empty stderr line, got %1 line(s)")
                       .arg(err.isEmpty() ? 0 : lines.size());
        return false;
    }
    for (const QString& k : keywords) {
        if (!lines[0].contains(k)) {
            *report += "\n  the message does not name '" + k + "'";
            return false;
        }
    }
    if (line_out) *line_out = lines[0];
    qInfo("%s", qPrintable(lines[0]));  // the message, for whoever reads the log
    return true;
}

#define EXPECT_CLI_ERROR(args, keywords)                                        \
    do {                                                                        \
        QString report_;                                                        \
        QVERIFY2(fails_cleanly(args, keywords, &report_), qPrintable(report_)); \
    } while (0)

void copy_dir(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

QByteArray read_all(const fs::path& path) {
    QFile f(q(path));
    if (!f.open(QIODevice::ReadOnly)) return {};
    return f.readAll();
}

bool write_all(const fs::path& path, const QByteArray& bytes) {
    QFile f(q(path));
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
    return f.write(bytes) == bytes.size();
}

QByteArray le64(uint64_t v) {
    QByteArray b(8, '\0');
    for (int i = 0; i < 8; ++i)
        b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return b;
}

uint64_t read_le64(const QByteArray& b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | static_cast<uint8_t>(b[i]);
    return v;
}

QJsonObject read_json_object(const fs::path& path) {
    return QJsonDocument::fromJson(read_all(path)).object();
}

}  // namespace

class TestCliErrors : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();

    void missingModelFolder();
    void folderWithoutConfig();
    void malformedConfig();
    void configArray();
    void hostileConfigJson();
    void llamaConfig();
    void truncatedSafetensors();
    void headerPointsPastEnd();
    void wrongKvLoraRankNamesTensor();
    void dtypeRewrittenToI32();
    void missingShard();

    void tokenOutOfRange();
    void badFlags_data();
    void badFlags();
    void logitsCannotWrite();
    void perplexityMissingFile();

    void infoJsonPositiveControl_data();
    void infoJsonPositiveControl();
    void logitsPositiveControl();

private:
    QTemporaryDir tmp_;
    fs::path root() const { return tmp_.path().toStdString(); }
};

void TestCliErrors::initTestCase() {
    QVERIFY2(QFile::exists(kCli), qPrintable("latentchat-cli not built at " + kCli));
    QVERIFY(tmp_.isValid());
    for (const fs::path& f : {kSingle, kSharded}) {
        QVERIFY2(fs::exists(f / "config.json"), qPrintable("missing fixture " + q(f)));
    }
    QVERIFY2(fs::exists(kSingle / "model.safetensors"), "v3_yarn has no model.safetensors");
    QVERIFY2(fs::exists(kSharded / "model.safetensors.index.json"),
             "v2_group has no model.safetensors.index.json");
}

void TestCliErrors::missingModelFolder() {
    const QString dir = q(root() / "no-such-model-folder");
    for (const QString& cmd : QStringList{"info", "generate", "logits", "perplexity", "bench"}) {
        QStringList args = {cmd, "--model", dir};
        if (cmd == "generate")
            args << "--tokens"
                 << "1,2";
        if (cmd == "logits")
            args << "--tokens"
                 << "1,2"
                 << "--out" << q(root() / "m.npy");
        if (cmd == "perplexity") args << "--file" << q(kSingle / "config.json");
        EXPECT_CLI_ERROR(args, {"no-such-model-folder"});
    }
}

void TestCliErrors::folderWithoutConfig() {
    const fs::path dir = root() / "without-config";
    copy_dir(kSingle, dir);
    fs::remove(dir / "config.json");
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}), {"config.json"});
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(dir), "--tokens", "1,2"}),
                     {"config.json"});
}

void TestCliErrors::malformedConfig() {
    const fs::path dir = root() / "malformed-config";
    copy_dir(kSingle, dir);
    QByteArray text = read_all(dir / "config.json");
    QVERIFY(!text.isEmpty());
    QVERIFY(write_all(dir / "config.json", text.left(text.size() / 2)));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}), {"config.json"});
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(dir), "--tokens", "1,2"}),
                     {"config.json"});
}

void TestCliErrors::configArray() {
    const fs::path dir = root() / "array-config";
    copy_dir(kSingle, dir);
    QVERIFY(write_all(dir / "config.json", "[" + read_all(kSingle / "config.json") + "]"));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}), {"config.json"});
}

// Found by a probe (issue 22): deep nesting crashed, a huge number and a folder in place of the
// file ended in "internal error". Each is now one line naming the file and the problem.
void TestCliErrors::hostileConfigJson() {
    const fs::path deep = root() / "deep-config";
    copy_dir(kSingle, deep);
    QVERIFY(write_all(deep / "config.json", QByteArray(100000, '[') + QByteArray(100000, ']')));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(deep)}),
                     (QStringList{"config.json", "deeper"}));

    const fs::path huge = root() / "huge-number-config";
    copy_dir(kSingle, huge);
    QByteArray text = read_all(huge / "config.json");
    text.replace("\"hidden_size\": ", "\"hidden_size\": 1e400, \"x\": ");
    QVERIFY(write_all(huge / "config.json", text));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(huge)}),
                     (QStringList{"config.json", "1e400"}));

    // An absurd layer count is refused before anything is sized by it (it took 7 GB), and an
    // id past 2^32 is an error instead of being cut to another id.
    const fs::path layers = root() / "absurd-layers-config";
    copy_dir(kSingle, layers);
    QJsonObject c = read_json_object(layers / "config.json");
    c["num_hidden_layers"] = 10000000;
    QVERIFY(write_all(layers / "config.json", QJsonDocument(c).toJson()));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(layers)}),
                     (QStringList{"config.json", "num_hidden_layers", "more than"}));
    const fs::path eos = root() / "huge-eos-config";
    copy_dir(kSingle, eos);
    text = read_all(eos / "config.json");
    text.replace("\"hidden_size\": ", "\"eos_token_id\": [4294967298], \"hidden_size\": ");
    QVERIFY(write_all(eos / "config.json", text));
    fs::remove(eos / "generation_config.json");
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(eos)}),
                     (QStringList{"config.json", "eos_token_id", "out of range"}));

    const fs::path folder = root() / "folder-config";
    copy_dir(kSingle, folder);
    fs::remove(folder / "config.json");
    fs::create_directory(folder / "config.json");
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(folder)}),
                     (QStringList{"config.json", "folder"}));
}

void TestCliErrors::llamaConfig() {
    const fs::path dir = root() / "llama-config";
    copy_dir(kSingle, dir);
    QJsonObject c = read_json_object(dir / "config.json");
    QVERIFY(!c.isEmpty());
    c["model_type"] = "llama";
    QVERIFY(write_all(dir / "config.json", QJsonDocument(c).toJson()));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}),
                     (QStringList{"model_type", "llama"}));
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(dir), "--tokens", "1,2"}),
                     (QStringList{"model_type", "llama"}));
}

void TestCliErrors::truncatedSafetensors() {
    const fs::path dir = root() / "truncated";
    copy_dir(kSingle, dir);
    const fs::path st = dir / "model.safetensors";
    fs::resize_file(st, fs::file_size(st) / 2);
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}), {"model.safetensors"});
    EXPECT_CLI_ERROR(
        (QStringList{"generate", "--model", q(dir), "--tokens", "1,2", "--max-tokens", "2"}),
        {"model.safetensors"});
    EXPECT_CLI_ERROR(
        (QStringList{"logits", "--model", q(dir), "--tokens", "1,2", "--out", q(dir / "l.npy")}),
        {"model.safetensors"});
    QVERIFY(!fs::exists(dir / "l.npy"));
}

void TestCliErrors::headerPointsPastEnd() {
    const fs::path dir = root() / "past-end";
    fs::create_directories(dir);
    fs::copy_file(kSingle / "config.json", dir / "config.json");
    fs::copy_file(kSingle / "tokenizer.model", dir / "tokenizer.model");
    // One tensor whose data_offsets end far beyond the 64 data bytes present.
    const QByteArray header =
        R"({"__metadata__":{"format":"pt"},"model.embed_tokens.weight":{"dtype":"F32",)"
        R"("shape":[512,64],"data_offsets":[0,131072]}})";
    QVERIFY(write_all(dir / "model.safetensors",
                      le64(static_cast<uint64_t>(header.size())) + header + QByteArray(64, '\0')));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}),
                     (QStringList{"model.safetensors", "model.embed_tokens.weight"}));
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(dir), "--tokens", "1,2"}),
                     (QStringList{"model.safetensors", "model.embed_tokens.weight"}));
}

void TestCliErrors::wrongKvLoraRankNamesTensor() {
    const fs::path dir = root() / "wrong-kv-lora";
    copy_dir(kSingle, dir);
    QJsonObject c = read_json_object(dir / "config.json");
    const int kv = c["kv_lora_rank"].toInt();
    QVERIFY(kv > 8);
    c["kv_lora_rank"] = kv - 8;
    QVERIFY(write_all(dir / "config.json", QJsonDocument(c).toJson()));
    for (const QString& cmd : QStringList{"info", "generate"}) {
        QStringList args = {cmd, "--model", q(dir)};
        if (cmd == "generate")
            args << "--tokens"
                 << "1,2";
        QString report, line;
        QVERIFY2(fails_cleanly(args, {"model.layers.", "tensor"}, &report, &line),
                 qPrintable(report));
        // Whichever kv_lora_rank-shaped tensor is checked first must be the one named.
        static const QRegularExpression kvTensor(
            "model\\.layers\\.\\d+\\.self_attn\\.(kv_a_proj_with_mqa|kv_a_layernorm|kv_b_proj)"
            "\\.weight");
        QVERIFY2(line.contains(kvTensor), qPrintable("no kv tensor named in: " + line));
    }
}

void TestCliErrors::dtypeRewrittenToI32() {
    const fs::path dir = root() / "i32";
    copy_dir(kSingle, dir);
    const fs::path st = dir / "model.safetensors";
    const QByteArray bytes = read_all(st);
    QVERIFY(bytes.size() > 8);
    const uint64_t hlen = read_le64(bytes.left(8));
    QVERIFY(hlen <= static_cast<uint64_t>(bytes.size() - 8));
    const QByteArray header = bytes.mid(8, static_cast<qsizetype>(hlen));
    const QByteArray data = bytes.mid(8 + static_cast<qsizetype>(hlen));

    QJsonParseError perr{};
    QJsonObject h = QJsonDocument::fromJson(header, &perr).object();
    QVERIFY2(perr.error == QJsonParseError::NoError, qPrintable(perr.errorString()));
    // A tensor bound late (the last layer's o_proj), so every tensor before it must pass first.
    const QString victim = "model.layers.1.self_attn.o_proj.weight";
    QVERIFY2(h.contains(victim), qPrintable("fixture lacks " + victim));
    QJsonObject t = h[victim].toObject();
    QCOMPARE(t["dtype"].toString(), QString("F32"));
    t["dtype"] = "I32";
    h[victim] = t;
    const QByteArray new_header = QJsonDocument(h).toJson(QJsonDocument::Compact);
    QVERIFY(write_all(st, le64(static_cast<uint64_t>(new_header.size())) + new_header + data));

    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}), (QStringList{victim, "I32"}));
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(dir), "--tokens", "1,2"}),
                     (QStringList{victim, "I32"}));
}

void TestCliErrors::missingShard() {
    const fs::path dir = root() / "missing-shard";
    copy_dir(kSharded, dir);
    const QJsonObject index = read_json_object(dir / "model.safetensors.index.json");
    const QJsonObject map = index["weight_map"].toObject();
    QString last;
    for (auto it = map.begin(); it != map.end(); ++it)
        if (it.value().toString() > last) last = it.value().toString();
    QVERIFY(!last.isEmpty());
    QVERIFY(fs::remove(dir / last.toStdString()));
    EXPECT_CLI_ERROR((QStringList{"info", "--model", q(dir)}), {last});
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(dir), "--tokens", "1,2"}), {last});
}

void TestCliErrors::tokenOutOfRange() {
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(kSingle), "--tokens", "1,99999",
                                  "--max-tokens", "2"}),
                     {"99999"});
    const fs::path out = root() / "oob.npy";
    EXPECT_CLI_ERROR(
        (QStringList{"logits", "--model", q(kSingle), "--tokens", "1,-3", "--out", q(out)}),
        {"-3"});
    QVERIFY2(!fs::exists(out), "logits left an output file after failing");
    QVERIFY2(!fs::exists(fs::path(out.string() + ".tmp")), "logits left a .tmp file");
    // The vocabulary size itself is one past the last id.
    const int vocab = read_json_object(kSingle / "config.json")["vocab_size"].toInt();
    QVERIFY(vocab > 0);
    EXPECT_CLI_ERROR((QStringList{"generate", "--model", q(kSingle), "--tokens",
                                  QString("1,%1").arg(vocab), "--max-tokens", "2"}),
                     {QString::number(vocab)});
}

// Each row: arguments ("@MODEL" stands for the fixture folder) and keywords the line must hold.
void TestCliErrors::badFlags_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("keywords");
    const QStringList gen = {"generate", "--model", "@MODEL", "--tokens", "1,2"};

    QTest::newRow("temperature abc")
        << (gen + QStringList{"--temperature", "abc"}) << QStringList{"--temperature", "abc"};
    QTest::newRow("top-p 1.5") << (gen + QStringList{"--top-p", "1.5"})
                               << QStringList{"--top-p", "1.5"};
    QTest::newRow("max-tokens 0") << (gen + QStringList{"--max-tokens", "0"})
                                  << QStringList{"--max-tokens"};
    QTest::newRow("max-tokens -5")
        << (gen + QStringList{"--max-tokens", "-5"}) << QStringList{"--max-tokens", "-5"};
    QTest::newRow("seed x") << (gen + QStringList{"--seed", "x"}) << QStringList{"--seed"};
    QTest::newRow("tokens 1,,2") << QStringList{"generate", "--model", "@MODEL", "--tokens", "1,,2"}
                                 << QStringList{"--tokens", "1,,2"};
    QTest::newRow("tokens trailing comma")
        << QStringList{"generate", "--model", "@MODEL", "--tokens", "1,2,"}
        << QStringList{"--tokens"};
    QTest::newRow("unknown flag") << (gen + QStringList{"--frobnicate"})
                                  << QStringList{"--frobnicate"};
    QTest::newRow("unknown flag with value")
        << (gen + QStringList{"--frobnicate", "3"}) << QStringList{"--frobnicate"};
    QTest::newRow("device tpu") << (gen + QStringList{"--device", "tpu"})
                                << QStringList{"--device", "tpu"};
    QTest::newRow("info device tpu")
        << QStringList{"info", "--model", "@MODEL", "--device", "tpu"} << QStringList{"--device"};
    QTest::newRow("missing value at end")
        << QStringList{"generate", "--model", "@MODEL", "--prompt"} << QStringList{"--prompt"};
    QTest::newRow("missing --model value")
        << QStringList{"info", "--model"} << QStringList{"--model"};
    QTest::newRow("prompt and tokens")
        << QStringList{"generate", "--model", "@MODEL", "--prompt", "hi", "--tokens", "1,2"}
        << QStringList{"--prompt", "--tokens"};
    QTest::newRow("neither prompt nor tokens")
        << QStringList{"generate", "--model", "@MODEL"} << QStringList{"--prompt", "--tokens"};
    QTest::newRow("flag given twice")
        << (gen + QStringList{"--seed", "1", "--seed", "2"}) << QStringList{"--seed"};
    QTest::newRow("logits without out")
        << QStringList{"logits", "--model", "@MODEL", "--tokens", "1,2"} << QStringList{"--out"};
    QTest::newRow("logits without tokens")
        << QStringList{"logits", "--model", "@MODEL", "--out", "@TMP/x.npy"}
        << QStringList{"--tokens"};
    QTest::newRow("threads abc") << (gen + QStringList{"--threads", "abc"})
                                 << QStringList{"--threads"};
    QTest::newRow("attention foo")
        << (gen + QStringList{"--attention", "foo"}) << QStringList{"--attention", "foo"};
    QTest::newRow("bench-kernels depths 0")
        << QStringList{"bench-kernels", "--depths", "0"} << QStringList{"--depths"};
    QTest::newRow("bench-kernels heads x")
        << QStringList{"bench-kernels", "--heads", "x"} << QStringList{"--heads"};
}

void TestCliErrors::badFlags() {
    QFETCH(QStringList, args);
    QFETCH(QStringList, keywords);
    for (QString& a : args) {
        a.replace("@MODEL", q(kSingle));
        a.replace("@TMP", tmp_.path());
    }
    EXPECT_CLI_ERROR(args, keywords);
}

void TestCliErrors::logitsCannotWrite() {
    // A folder that does not exist: say it cannot be written, leave nothing behind.
    const QString out = "/nonexistent-dir/x.npy";
    QString report, line;
    QVERIFY2(fails_cleanly({"logits", "--model", q(kSingle), "--tokens", "1,2,3", "--out", out},
                           {out}, &report, &line),
             qPrintable(report));
    static const QRegularExpression cannotWrite(
        "(cannot|can't|could not|couldn't|unable to|failed to|not)\\s+(be\\s+)?(writ|creat|open)",
        QRegularExpression::CaseInsensitiveOption);
    QVERIFY2(line.contains(cannotWrite), qPrintable("does not say it cannot write: " + line));
    QVERIFY(!QFile::exists(out));
    QVERIFY(!QFile::exists(out + ".tmp"));

    // --out naming an existing folder: same, and no partial file next to it.
    const fs::path folder = root() / "out-is-a-folder";
    fs::create_directories(folder);
    QVERIFY2(
        fails_cleanly({"logits", "--model", q(kSingle), "--tokens", "1,2,3", "--out", q(folder)},
                      {"out-is-a-folder"}, &report, &line),
        qPrintable(report));
    QVERIFY2(line.contains(cannotWrite), qPrintable("does not say it cannot write: " + line));
    QVERIFY(fs::is_directory(folder));
    QVERIFY(fs::is_empty(folder));
    for (const auto& e : fs::directory_iterator(root()))
        QVERIFY2(
            e.path().filename().string().rfind("out-is-a-folder", 0) != 0 || e.path() == folder,
            qPrintable("partial file left: " + q(e.path())));
}

void TestCliErrors::perplexityMissingFile() {
    EXPECT_CLI_ERROR((QStringList{"perplexity", "--model", q(kSingle), "--file", "/missing.txt"}),
                     {"/missing.txt"});
    EXPECT_CLI_ERROR((QStringList{"perplexity", "--model", q(kSingle)}), {"--file"});
}

void TestCliErrors::infoJsonPositiveControl_data() {
    QTest::addColumn<QString>("fixture");
    for (const char* name : {"v2_moe", "v2_group", "v3_yarn", "dense"}) {
        if (fs::exists(kFixtures / name / "config.json")) QTest::newRow(name) << QString(name);
    }
}

void TestCliErrors::infoJsonPositiveControl() {
    QFETCH(QString, fixture);
    const fs::path dir = kFixtures / fixture.toStdString();
    const CliResult r = run_cli({"info", "--model", q(dir), "--json"});
    QVERIFY2(r.finished && r.status == QProcess::NormalExit && r.code == 0,
             qPrintable(r.describe()));
    QJsonParseError perr{};
    const QJsonDocument doc = QJsonDocument::fromJson(r.out, &perr);
    QVERIFY2(
        perr.error == QJsonParseError::NoError && doc.isObject(),
        qPrintable("stdout is not a JSON object: " + perr.errorString() + "\n" + r.describe()));

    const QJsonObject c = read_json_object(dir / "config.json");
    for (const char* k : {"num_hidden_layers", "num_attention_heads", "kv_lora_rank",
                          "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
        QVERIFY2(c[k].isDouble(), qPrintable(QString("fixture config.json lacks ") + k));
    const qint64 layers = c["num_hidden_layers"].toInteger();
    const qint64 heads = c["num_attention_heads"].toInteger();
    const qint64 kv = c["kv_lora_rank"].toInteger();
    const qint64 nope = c["qk_nope_head_dim"].toInteger();
    const qint64 rope = c["qk_rope_head_dim"].toInteger();
    const qint64 v = c["v_head_dim"].toInteger();

    const QJsonObject cache = doc.object()["cache_elements_per_token"].toObject();
    QVERIFY2(cache.contains("mla") && cache.contains("mha"), r.out.constData());
    QCOMPARE(cache["mla"].toInteger(), layers * (kv + rope));
    QCOMPARE(cache["mha"].toInteger(), layers * (heads * (nope + rope) + heads * v));
    QVERIFY(r.err.isEmpty());
}

void TestCliErrors::logitsPositiveControl() {
    const fs::path out = root() / "ok.npy";
    const CliResult r =
        run_cli({"logits", "--model", q(kSingle), "--tokens", "1,2,3", "--out", q(out)});
    QVERIFY2(r.finished && r.status == QProcess::NormalExit && r.code == 0,
             qPrintable(r.describe()));
    QVERIFY(fs::exists(out));
    QVERIFY(!fs::exists(fs::path(out.string() + ".tmp")));
    const int vocab = read_json_object(kSingle / "config.json")["vocab_size"].toInt();
    QVERIFY(fs::file_size(out) > static_cast<uintmax_t>(3) * vocab * 4);
}

QTEST_GUILESS_MAIN(TestCliErrors)
#include "test_cli_errors.moc"
