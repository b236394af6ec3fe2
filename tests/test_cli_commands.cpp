// latentchat-cli's commands beyond the fixtures' logits/generate: perplexity agrees with the
// logits it is built from, the terminal chat reuses its cache between turns, bench prints JSON.
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
#include "formats/tokenizer.h"

namespace {

const QString kModel = QString(LC_FIXTURES_DIR) + "/v3_yarn";

using lc_test::run_cli;

}  // namespace

class TestCliCommands : public QObject {
    Q_OBJECT

private slots:
    // A checkpoint whose config.json carries a key LatentChat does not read still loads, and
    // `info` names the key.
    void info_lists_unread_config_keys() {
        QTemporaryDir tmp;
        for (const QString& name : QDir(kModel).entryList(QDir::Files))
            QVERIFY(QFile::copy(kModel + "/" + name, tmp.filePath(name)));
        QFile cfg(tmp.filePath("config.json"));
        QVERIFY(cfg.open(QIODevice::ReadOnly));
        QJsonObject j = QJsonDocument::fromJson(cfg.readAll()).object();
        cfg.close();
        j["merge_note"] = "our own fine-tune";
        QVERIFY(cfg.open(QIODevice::WriteOnly | QIODevice::Truncate));
        cfg.write(QJsonDocument(j).toJson());
        cfg.close();
        lc_test::CliResult r = run_cli({"info", "--model", tmp.path(), "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QJsonArray unread =
            QJsonDocument::fromJson(r.out).object()["unread_config_keys"].toArray();
        QCOMPARE(unread, QJsonArray({"merge_note"}));
        r = run_cli({"info", "--model", tmp.path()});
        QVERIFY2(r.out.contains("does not read: merge_note"), r.out.constData());
    }

    // perplexity's NLL and bits per byte, recomputed here from `logits` over the same tokens.
    void perplexity_matches_the_logits() {
        QTemporaryDir tmp;
        const QByteArray text = "Tom had a red ball. He threw it to his dog, and the dog ran fast.";
        QFile f(tmp.filePath("text.txt"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(text);
        f.close();

        auto tok = lc::Tokenizer::load(kModel.toStdString(), 1, 2);
        std::vector<int> ids = {tok->bos_id()};
        for (int id : tok->encode(text.toStdString(), false))
            ids.push_back(id);
        QStringList parts;
        for (int id : ids)
            parts << QString::number(id);
        const QString npy = tmp.filePath("l.npy");
        lc_test::CliResult lg =
            run_cli({"logits", "--model", kModel, "--tokens", parts.join(','), "--out", npy});
        QVERIFY2(lg.code == 0, lg.err.constData());
        lc::NpyArray logits = lc::read_npy_f32(npy.toStdString());
        const int64_t V = logits.shape[1];
        double nll = 0;
        for (size_t t = 1; t < ids.size(); ++t) {
            const float* row = &logits.data[(t - 1) * V];
            double m = *std::max_element(row, row + V), sum = 0;
            for (int64_t i = 0; i < V; ++i)
                sum += std::exp(row[i] - m);
            nll += std::log(sum) + m - row[ids[t]];
        }
        const double per_token = nll / (ids.size() - 1);

        lc_test::CliResult px =
            run_cli({"perplexity", "--model", kModel, "--file", f.fileName(), "--json"});
        QVERIFY2(px.code == 0, px.err.constData());
        QJsonObject j = QJsonDocument::fromJson(px.out).object();
        QCOMPARE(j["tokens"].toInt(), static_cast<int>(ids.size() - 1));
        QVERIFY(std::abs(j["nll_per_token"].toDouble() - per_token) < 1e-4);
        const double bpb = nll / std::log(2.0) / text.size();
        QVERIFY(std::abs(j["bits_per_byte"].toDouble() - bpb) < 1e-4);
    }

    void chat_keeps_the_cache_between_turns() {
        lc_test::CliResult r =
            run_cli({"chat", "--model", kModel, "--temperature", "0", "--max-tokens", "6"},
                    "Hello there.\nTell me more.\n/quit\n");
        QVERIFY2(r.code == 0, r.err.constData());
        // One stats line per turn: "... prefilled N new (M reused) ..."
        QRegularExpression stats("prefilled (\\d+) new \\((\\d+) reused\\)");
        QList<int> reused;
        for (auto it = stats.globalMatch(QString(r.err)); it.hasNext();)
            reused << it.next().captured(2).toInt();
        QCOMPARE(reused.size(), 2);
        QCOMPARE(reused[0], 0);
        QVERIFY(reused[1] > 10);
    }

    // Asked for CUDA where no GPU answers (CI): one sentence on stderr, then the CPU's result.
    void cuda_without_a_gpu_runs_on_the_cpu() {
        const QStringList gen = {"generate", "--model",       kModel, "--tokens",
                                 "1,2,3",    "--temperature", "0",    "--max-tokens",
                                 "5",        "--print-ids"};
        lc_test::CliResult gpu = run_cli(gen + QStringList{"--device", "cuda"});
        if (!gpu.err.contains("running on the CPU")) QSKIP("a GPU answered: nothing to fall back");
        QVERIFY2(gpu.code == 0, gpu.err.constData());
        QCOMPARE(gpu.err.count('\n'), 1);
        lc_test::CliResult cpu = run_cli(gen);
        QVERIFY2(cpu.code == 0, cpu.err.constData());
        QCOMPARE(gpu.out, cpu.out);
    }

    // A GGUF file (llama.cpp's conversion and Q4_K_M quantization of a small checkpoint) works in
    // every command a folder does: info, tokenize, render, generate, bench.
    void gguf_file_works_in_every_command() {
        const QString gguf = QString(LC_FIXTURES_DIR) + "/gguf_v2/model-Q4_K_M.gguf";
        lc_test::CliResult r = run_cli({"info", "--model", gguf, "--json"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QJsonObject info = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(info["format"].toString(), QStringLiteral("gguf"));
        QVERIFY(info["matrix_types"].toObject().contains("Q4_K"));
        QCOMPARE(info["config"].toObject()["num_hidden_layers"].toInt(), 2);

        r = run_cli({"tokenize", "--model", gguf, "--text", "the cat sat on the mat."});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QVERIFY2(!r.out.trimmed().isEmpty(), r.out.constData());

        QTemporaryDir tmp;
        QFile messages(tmp.filePath("m.json"));
        QVERIFY(messages.open(QIODevice::WriteOnly));
        messages.write(R"([{"role": "user", "content": "the dog ran"}])");
        messages.close();
        r = run_cli({"render", "--model", gguf, "--messages", messages.fileName()});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        // The template stored in the file, with its special tokens.
        QVERIFY2(r.out.contains("<｜User｜>the dog ran<｜Assistant｜>"), r.out.constData());

        r = run_cli({"generate", "--model", gguf, "--prompt", "the cat", "--temperature", "0",
                     "--max-tokens", "5", "--print-ids"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QVERIFY(!r.out.trimmed().isEmpty());

        r = run_cli({"bench", "--model", gguf, "--depths", "0", "--prompt-len", "8", "--gen", "4",
                     "--membench-mb", "16"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QVERIFY(QJsonDocument::fromJson(r.out).object()["max_resident_bytes"].toDouble() > 0);
    }

    void bench_prints_json_per_depth() {
        lc_test::CliResult r = run_cli({"bench", "--model", kModel, "--depths", "0,16",
                                        "--prompt-len", "8", "--gen", "4", "--membench-mb", "16"});
        QVERIFY2(r.code == 0, r.err.constData());
        QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QJsonArray rows = j["results"].toArray();
        QCOMPARE(rows.size(), 2);
        QCOMPARE(rows[1].toObject()["depth"].toInt(), 16);
        QCOMPARE(rows[1].toObject()["cache_tokens"].toInt(), 16 + 8 + 4);
        QVERIFY(rows[0].toObject()["decode_tokens_per_s"].toDouble() > 0);
        QVERIFY(j["read_bandwidth_bytes_per_s"].toDouble() > 0);
    }
};

QTEST_GUILESS_MAIN(TestCliCommands)
#include "test_cli_commands.moc"
