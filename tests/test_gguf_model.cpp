// Models from GGUF files on the CPU backend.
//   * Lossless files of the checkpoint fixtures, written at test time by gguf-py as llama.cpp's
//     converter writes them (tests/ref/make_model_gguf.py), in the newer attention layout
//     (attn_k_b/attn_v_b) and the older one (attn_kv_b): logits equal the safetensors folder's and
//     transformers' reference (ref_logits.npy).
//   * Files quantized by gguf-py (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1): logits within 3e-2 relative L2
//     (issue 18) of the float forward on exactly the weights gguf-py dequantizes from that file.
//   * Files quantized by llama.cpp's own llama-quantize (tests/fixtures/gguf_v2, made by
//     tools/make_gguf_fixtures.py): logits within 3e-2 of transformers run on the weights gguf-py
//     dequantizes from each file (the references computed on the GPU machine).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/backend_factory.h"
#include "engine/model.h"
#include "formats/npy.h"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = LC_FIXTURES_DIR;
const fs::path kData = LC_TEST_DATA_DIR;
const fs::path kSource = LC_SOURCE_DIR;

std::vector<int> input_ids(const fs::path& ref_json) {
    std::ifstream f(ref_json);
    const nlohmann::json j = nlohmann::json::parse(f);
    return j.at("input_ids").get<std::vector<int>>();
}

// All positions' logits [n, vocab] of `tokens` on the CPU backend.
std::vector<float> logits_of(const fs::path& model_path, const std::vector<int>& tokens) {
    lc::ModelOptions options;
    options.max_batch = 16;  // several chunks: the cache is carried between them
    auto model = lc::Model::load(model_path, options, lc::make_backend(lc::Device::Cpu, 2).backend);
    auto cache = model->new_cache(static_cast<int>(tokens.size()) + 1);
    std::vector<float> out(tokens.size() * static_cast<size_t>(model->config().vocab_size));
    model->forward(tokens, *cache, out.data(), true);
    return out;
}

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
        den += double(b[i]) * b[i];
    }
    return std::sqrt(num / den);
}

std::vector<float> read_npy(const fs::path& path) {
    return lc::read_npy_f32(path).data;
}

}  // namespace

class TestGgufModel : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    QString python_problem_;

    // Writes fixture `name` as a GGUF (layout "mla" or "legacy", type "source" or a gguf-py
    // quantization type) and returns its path; empty with the problem in python_problem_.
    fs::path write_gguf(const QString& name, const QString& layout, const QString& type) {
        const QString python = QString::fromStdString((kData / "venv/bin/python").string());
        if (!QFileInfo(python).isExecutable()) {
            python_problem_ = "no test data in " + QString::fromStdString(kData.string()) +
                              ": run tools/fetch_test_data.sh (ctest does, as fixture testdata)";
            return {};
        }
        const QString out = tmp_.filePath(name + "-" + layout + "-" + type + ".gguf");
        QProcess p;
        p.start(
            python,
            {QString::fromStdString((kSource / "tests/ref/make_model_gguf.py").string()),
             QString::fromStdString((kFixtures / name.toStdString()).string()), out, layout, type});
        if (!p.waitForFinished(120000) || p.exitCode() != 0) {
            python_problem_ = "tests/ref/make_model_gguf.py failed: " +
                              QString::fromUtf8(p.readAllStandardError());
            return {};
        }
        return out.toStdString();
    }

    bool need_python() {
        if (python_problem_.isEmpty()) return true;
        const char* require = std::getenv("LATENTCHAT_REQUIRE_TEST_TOOLS");
        if (require && std::string(require) == "1")
            QTest::qFail(qPrintable(python_problem_), __FILE__, __LINE__);
        else
            QTest::qSkip(qPrintable(python_problem_), __FILE__, __LINE__);
        return false;
    }

private slots:
    void lossless_files_match_the_folder_data() {
        QTest::addColumn<QString>("fixture");
        QTest::addColumn<QString>("layout");
        for (const char* fixture : {"v2_moe", "dense"})
            for (const char* layout : {"mla", "legacy"})
                QTest::newRow((std::string(fixture) + "/" + layout).c_str()) << fixture << layout;
    }
    // The same weights through GGUF give the folder's logits (kv_b rebuilt exactly), and so
    // transformers' within the fixture's tolerance.
    void lossless_files_match_the_folder() {
        QFETCH(QString, fixture);
        QFETCH(QString, layout);
        const fs::path gguf = write_gguf(fixture, layout, "source");
        if (!need_python()) return;
        const fs::path dir = kFixtures / fixture.toStdString();
        const std::vector<int> ids = input_ids(dir / "ref.json");
        const std::vector<float> from_gguf = logits_of(gguf, ids);
        const std::vector<float> from_folder = logits_of(dir, ids);
        const double vs_folder = relative_l2(from_gguf, from_folder);
        QVERIFY2(vs_folder < 1e-6,
                 qPrintable(QString("relative L2 %1 vs the folder").arg(vs_folder)));
        const double vs_reference = relative_l2(from_gguf, read_npy(dir / "ref_logits.npy"));
        QVERIFY2(vs_reference < 1e-3,
                 qPrintable(QString("relative L2 %1 vs transformers").arg(vs_reference)));
    }

    void quantized_files_match_their_dequantized_weights_data() {
        QTest::addColumn<QString>("fixture");
        QTest::addColumn<QString>("type");
        for (const char* type : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"}) {
            QTest::newRow((std::string("v2_moe/") + type).c_str()) << "v2_moe" << type;
            QTest::newRow((std::string("dense/") + type).c_str()) << "dense" << type;
        }
    }
    // Quantized products (8-bit activations) against the float forward on the same weights.
    void quantized_files_match_their_dequantized_weights() {
        QFETCH(QString, fixture);
        QFETCH(QString, type);
        const fs::path gguf = write_gguf(fixture, "mla", type);
        if (!need_python()) return;
        const std::vector<int> ids = input_ids(kFixtures / fixture.toStdString() / "ref.json");
        const std::vector<float> quantized = logits_of(gguf, ids);
        const fs::path dequantized = gguf.string() + ".dequantized";
        const std::vector<float> reference = logits_of(dequantized, ids);
        const double rel = relative_l2(quantized, reference);
        qInfo("%s %s: relative L2 %.3g", qPrintable(fixture), qPrintable(type), rel);
        QVERIFY2(rel < 3e-2, qPrintable(QString("relative L2 %1").arg(rel)));
    }

    void llama_cpp_files_match_transformers_data() {
        QTest::addColumn<QString>("type");
        for (const char* type : {"Q4_K_M", "Q6_K", "Q8_0", "Q4_0"})
            QTest::newRow(type) << type;
    }
    void llama_cpp_files_match_transformers() {
        QFETCH(QString, type);
        const fs::path dir = kFixtures / "gguf_v2";
        const fs::path file = dir / ("model-" + type.toStdString() + ".gguf");
        QVERIFY2(fs::exists(file), file.c_str());
        const std::vector<int> ids = input_ids(dir / "gguf_ref.json");
        const std::vector<float> ours = logits_of(file, ids);
        const std::vector<float> reference =
            read_npy(dir / ("ref_logits-" + type.toStdString() + ".npy"));
        QCOMPARE(ours.size(), reference.size());
        const double rel = relative_l2(ours, reference);
        qInfo("%s: relative L2 %.3g", qPrintable(type), rel);
        QVERIFY2(rel < (type == "BF16" ? 1e-3 : 3e-2),
                 qPrintable(QString("relative L2 %1").arg(rel)));
    }

    void truncated_file_is_one_clear_error() {
        const fs::path dir = kFixtures / "gguf_v2";
        const fs::path file = dir / "model-Q4_0.gguf";
        QVERIFY2(fs::exists(file), file.c_str());
        const fs::path cut = tmp_.filePath("cut.gguf").toStdString();
        fs::copy_file(file, cut);
        fs::resize_file(cut, fs::file_size(file) / 2);  // a download cut in the middle
        try {
            logits_of(cut, {1, 2, 3});
            QFAIL("a truncated file loaded");
        } catch (const lc::Error& e) {
            const std::string what = e.what();
            QVERIFY2(what.find("cut.gguf") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestGgufModel)
#include "test_gguf_model.moc"
