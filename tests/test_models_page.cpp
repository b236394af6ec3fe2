// The Models page against tests/ref/fake_hub.py (HF_ENDPOINT pointed at it, never the real hub):
// the recommended models with their fit, a download that completes and shows as local, pause
// keeping the .part files and resume finishing with a Range request, cancel removing them,
// search, delete, "Use", errors shown in the page, and the main window's entry.
#include <QAction>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QProcess>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <memory>

#include "main_window.h"
#include "model_list_model.h"
#include "models_page.h"
#include "session/fit_check.h"

using lc::FitPlace;
using lc::MachineMemory;
using lc::ui::DownloadState;
using lc::ui::ModelEntry;
using lc::ui::ModelListModel;
using lc::ui::ModelSource;
using lc::ui::ModelsPage;

namespace {

constexpr qint64 kGiB = qint64{1} << 30;
const QString kBundled = QStringLiteral(LC_SOURCE_DIR "/resources/models/latentchat-stories-13m");
const QString kFixtures = QStringLiteral(LC_FIXTURES_DIR);
const QString kGgufRepo = QStringLiteral("mradermacher/DeepSeek-V2-Lite-Chat-GGUF");
const QString kQ4 = QStringLiteral("DeepSeek-V2-Lite-Chat.Q4_K_M.gguf");
const QString kQ8 = QStringLiteral("DeepSeek-V2-Lite-Chat.Q8_0.gguf");
const QString kQ4Key = kGgufRepo + QLatin1Char('|') + kQ4;
const QString kQ8Key = kGgufRepo + QLatin1Char('|') + kQ8;
const QString kBf16Key = QStringLiteral("deepseek-ai/DeepSeek-V2-Lite-Chat|");
const QString kGigaChatKey =
    QStringLiteral("ubergarm/GigaChat3-10B-A1.8B-GGUF|GigaChat3-10B-A1.8B-Q8_0.gguf");
const QString kTinyRepo = QStringLiteral("test-org/tiny-v2");
const QString kTinyKey = kTinyRepo + QLatin1Char('|');
const QString kTinyGgufRepo = QStringLiteral("test-org/tiny-GGUF");
const QString kTinyGgufFile = QStringLiteral("Q4_0/tiny.Q4_0.gguf");

QByteArray read_all(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

bool write_all(const QString& path, const QByteArray& data) {
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(data) == data.size();
}

template <typename T>
T* child(const QWidget& parent, const char* name) {
    T* w = parent.findChild<T*>(QString::fromLatin1(name));
    if (!w) qWarning("no child %s", name);
    return w;
}

}  // namespace

class TestModelsPage : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    QProcess server_;
    QString hub_root_, log_, models_;

    std::unique_ptr<ModelsPage> make_page(const MachineMemory& memory) {
        ModelsPage::Options o;
        o.models_dir = models_;
        o.memory = memory;
        o.bundled_dir = kBundled;
        return std::make_unique<ModelsPage>(o);
    }

    QString repo_file(const QString& repo, const QString& file) const {
        return hub_root_ + QStringLiteral("/repos/") + repo + QStringLiteral("/main/") + file;
    }

    // fake_hub.py reads it on every request.
    void set_behaviour(const QJsonObject& b) {
        QVERIFY(write_all(hub_root_ + QStringLiteral("/behaviour.json"),
                          QJsonDocument(b).toJson(QJsonDocument::Compact)));
    }
    void set_slow(const QString& path, double seconds_per_64k) {
        set_behaviour(QJsonObject{{"slow", QJsonObject{{path, seconds_per_64k}}}});
    }

    static int row_of(ModelsPage& page, const QString& key) { return page.model()->find(key); }
    static const ModelEntry& entry_of(ModelsPage& page, const QString& key) {
        return page.model()->entry(page.model()->find(key));
    }
    static void select(ModelsPage& page, const QString& key) {
        page.list()->setCurrentIndex(page.model()->index(page.model()->find(key)));
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        hub_root_ = tmp_.filePath(QStringLiteral("hub"));
        log_ = tmp_.filePath(QStringLiteral("hub.log"));
        models_ = tmp_.filePath(QStringLiteral("models"));
        // The hub: a GGUF repo under a recommended model's name, and a folder model to search.
        const QString gguf = kFixtures + QStringLiteral("/gguf_v2/");
        QVERIFY(write_all(repo_file(kGgufRepo, kQ4), read_all(gguf + "model-Q4_K_M.gguf")));
        QVERIFY(write_all(repo_file(kGgufRepo, kQ8), read_all(gguf + "model-Q8_0.gguf")));
        for (const char* f :
             {"config.json", "generation_config.json", "model.safetensors", "tokenizer.model"})
            QVERIFY(write_all(repo_file(kTinyRepo, QString::fromLatin1(f)),
                              read_all(kFixtures + "/v2_moe/" + f)));
        QVERIFY(
            write_all(repo_file(kTinyGgufRepo, kTinyGgufFile), read_all(gguf + "model-Q4_0.gguf")));
        QVERIFY(write_all(repo_file(kTinyGgufRepo, "tiny.Q8_0-00001-of-00002.gguf"),
                          read_all(gguf + "model-Q8_0.gguf").left(1000000)));
        QVERIFY(write_all(repo_file(kTinyGgufRepo, "tiny.Q8_0-00002-of-00002.gguf"),
                          read_all(gguf + "model-Q8_0.gguf").mid(1000000)));
        QVERIFY(write_all(repo_file(kTinyGgufRepo, "README.md"), "a GGUF repo"));
        const QJsonArray search{
            QJsonObject{{"id", kTinyRepo},
                        {"config", QJsonObject{{"model_type", "deepseek_v2"}}},
                        {"downloads", 1234},
                        {"likes", 5}},
            QJsonObject{{"id", kTinyGgufRepo},
                        {"gguf", QJsonObject{{"architecture", "deepseek2"}}}},
            QJsonObject{{"id", "test-org/tiny-llama"},
                        {"config", QJsonObject{{"model_type", "llama"}}}},
        };
        QVERIFY(write_all(hub_root_ + "/search.json", QJsonDocument(search).toJson()));
        set_behaviour({});

        server_.setProcessChannelMode(QProcess::SeparateChannels);
        server_.start(QStringLiteral("python3"),
                      {QStringLiteral(LC_SOURCE_DIR "/tests/ref/fake_hub.py"), hub_root_, log_});
        QVERIFY2(server_.waitForStarted(10000), "python3 did not start");
        QVERIFY2(server_.waitForReadyRead(10000), "fake_hub.py printed no port");
        const int port = server_.readLine().trimmed().toInt();
        QVERIFY(port > 0);
        qputenv("HF_ENDPOINT", QStringLiteral("http://127.0.0.1:%1").arg(port).toUtf8());
        // Nothing of this machine's own models or settings.
        qputenv("HF_HUB_CACHE", tmp_.filePath(QStringLiteral("hf-cache")).toUtf8());
        qputenv("XDG_DATA_HOME", tmp_.filePath(QStringLiteral("data")).toUtf8());
        qunsetenv("HF_TOKEN");
        qunsetenv("HF_HUB_OFFLINE");
        qunsetenv("LATENTCHAT_MODEL");
    }

    void cleanupTestCase() {
        server_.kill();
        server_.waitForFinished(5000);
    }

    void recommended_models_show_their_fit() {
        const MachineMemory big{64 * kGiB, 24 * kGiB};
        auto page = make_page(big);
        ModelListModel* m = page->model();

        const int q4 = row_of(*page, kQ4Key);
        QVERIFY(q4 >= 0);
        const ModelEntry& e = m->entry(q4);
        QCOMPARE(e.source, ModelSource::Recommended);
        QCOMPARE(e.state, DownloadState::Remote);
        QVERIFY(e.shape.has_value());
        const lc::Fit fit = lc::check_fit(e.bytes, *e.shape, big);
        QCOMPARE(fit.place, FitPlace::Gpu);
        QVERIFY(fit.context_tokens > 0);
        const QModelIndex i = m->index(q4);
        QCOMPARE(i.data(ModelListModel::FitPlaceRole).toInt(), int(FitPlace::Gpu));
        QCOMPARE(i.data(ModelListModel::ContextTokensRole).toLongLong(), fit.context_tokens);
        const QString text = i.data().toString();
        QVERIFY2(
            text.contains(
                QStringLiteral("Fits on the GPU: %L1 tokens of context").arg(fit.context_tokens)),
            qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("GGUF Q4_K_M")), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("9.69 GiB")), qPrintable(text));

        // 31.4 GB of BF16 does not fit 24 GiB of GPU memory, but does fit 64 GiB of RAM.
        const QModelIndex bf16 = m->index(row_of(*page, kBf16Key));
        QCOMPARE(bf16.data(ModelListModel::FitPlaceRole).toInt(), int(FitPlace::CpuOnly));
        QVERIFY(bf16.data(ModelListModel::FitTextRole).toString().startsWith("CPU only: "));
        QVERIFY(row_of(*page, kQ8Key) >= 0);
        QVERIFY(row_of(*page, kGigaChatKey) >= 0);

        // The bundled model is there, local, with its fit from its own config.json.
        const int bundled = row_of(*page, kBundled);
        QVERIFY(bundled >= 0);
        QCOMPARE(m->entry(bundled).state, DownloadState::Local);
        QCOMPARE(m->index(bundled).data(ModelListModel::FitPlaceRole).toInt(), int(FitPlace::Gpu));
        QSignalSpy chosen(page.get(), &ModelsPage::model_chosen);
        select(*page, kBundled);
        auto* use = child<QPushButton>(*page, "useButton");
        QVERIFY(use->isEnabled());
        QVERIFY(!child<QPushButton>(*page, "deleteButton")->isEnabled());
        use->click();
        QCOMPARE(chosen.count(), 1);
        QCOMPARE(chosen.at(0).at(0).toString(), QString());  // "" is the bundled model

        // A machine with 8 GiB of RAM and no GPU.
        auto small = make_page(MachineMemory{8 * kGiB, 0});
        const QModelIndex bf16_small = small->model()->index(row_of(*small, kBf16Key));
        QCOMPARE(bf16_small.data(ModelListModel::FitPlaceRole).toInt(), int(FitPlace::TooLarge));
        QVERIFY(bf16_small.data().toString().contains("Too large for this machine"));
        QVERIFY(child<QLabel>(*small, "machineMemory")->text().contains("no GPU"));
    }

    void download_completes_and_shows_as_local() {
        auto page = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        QSignalSpy finished(page.get(), &ModelsPage::download_finished);
        QSignalSpy changed(page->model(), &QAbstractItemModel::dataChanged);
        select(*page, kQ4Key);
        auto* download = child<QPushButton>(*page, "downloadButton");
        QVERIFY(download->isEnabled());
        download->click();
        QCOMPARE(entry_of(*page, kQ4Key).state, DownloadState::Downloading);
        QVERIFY(finished.wait(30000));
        QCOMPARE(finished.at(0).at(0).toString(), kQ4Key);
        QVERIFY(changed.count() > 0);  // progress reached the row

        const QString path = models_ + "/mradermacher--DeepSeek-V2-Lite-Chat-GGUF/" + kQ4;
        QCOMPARE(read_all(path), read_all(repo_file(kGgufRepo, kQ4)));
        QVERIFY(!QFileInfo::exists(path + ".part"));
        const ModelEntry& e = entry_of(*page, kQ4Key);
        QCOMPARE(e.state, DownloadState::Local);
        QCOMPARE(QFileInfo(e.local_path).canonicalFilePath(), QFileInfo(path).canonicalFilePath());
        QVERIFY(page->error_text().isEmpty());

        // "Use" hands the window the path to load.
        QSignalSpy chosen(page.get(), &ModelsPage::model_chosen);
        select(*page, kQ4Key);
        child<QPushButton>(*page, "useButton")->click();
        QCOMPARE(chosen.count(), 1);
        QCOMPARE(QFileInfo(chosen.at(0).at(0).toString()).canonicalFilePath(),
                 QFileInfo(path).canonicalFilePath());

        // A new page finds it on the disk.
        auto again = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        QCOMPARE(entry_of(*again, kQ4Key).state, DownloadState::Local);
    }

    void pause_keeps_part_files_and_resume_finishes() {
        set_slow(kGgufRepo + "/" + kQ8, 0.1);  // 30 pieces of 64 KiB: 3 s
        auto page = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        QSignalSpy stopped(page.get(), &ModelsPage::download_stopped);
        QSignalSpy finished(page.get(), &ModelsPage::download_finished);
        page->download(row_of(*page, kQ8Key));
        QTRY_VERIFY_WITH_TIMEOUT(entry_of(*page, kQ8Key).percent > 0, 20000);
        QVERIFY(child<QPushButton>(*page, "pauseButton")->isEnabled());
        child<QPushButton>(*page, "pauseButton")->click();
        QVERIFY(stopped.wait(20000));
        QCOMPARE(stopped.at(0).at(1).toBool(), false);
        QVERIFY(finished.isEmpty());

        const QString path = models_ + "/mradermacher--DeepSeek-V2-Lite-Chat-GGUF/" + kQ8;
        const qint64 total = QFileInfo(repo_file(kGgufRepo, kQ8)).size();
        const qint64 kept = QFileInfo(path + ".part").size();
        QVERIFY2(kept > 0 && kept < total, qPrintable(QString::number(kept)));
        QVERIFY(!QFileInfo::exists(path));
        QCOMPARE(entry_of(*page, kQ8Key).state, DownloadState::Paused);
        QVERIFY(page->active_download().isEmpty());

        // Resume: the pull asks for the rest only.
        set_behaviour({});
        select(*page, kQ8Key);
        auto* resume = child<QPushButton>(*page, "resumeButton");
        QVERIFY(resume->isEnabled());
        resume->click();
        QVERIFY(finished.wait(30000));
        QCOMPARE(read_all(path), read_all(repo_file(kGgufRepo, kQ8)));
        QCOMPARE(entry_of(*page, kQ8Key).state, DownloadState::Local);
        bool ranged = false;
        for (const QByteArray& line : read_all(log_).split('\n')) {
            const QJsonObject o = QJsonDocument::fromJson(line).object();
            if (o["path"].toString().endsWith(kQ8) && o["range"].toString().startsWith("bytes=") &&
                o["range"].toString() != "bytes=0-")
                ranged = true;
        }
        QVERIFY2(ranged, "the resumed pull sent no Range request");
    }

    void search_cancel_download_and_delete() {
        auto page = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        QSignalSpy searched(page.get(), &ModelsPage::search_finished);
        auto* field = child<QLineEdit>(*page, "modelSearch");
        field->setText(QStringLiteral("tiny"));
        child<QPushButton>(*page, "searchButton")->click();
        QVERIFY(searched.wait(20000));
        QCOMPARE(searched.at(0).at(0).toInt(), 2);  // the llama is not an MLA model
        QVERIFY(row_of(*page, QStringLiteral("test-org/tiny-llama|")) < 0);
        const int row = row_of(*page, kTinyKey);
        QVERIFY(row >= 0);
        QCOMPARE(page->model()->entry(row).source, ModelSource::Search);
        QCOMPARE(page->model()->index(row).data(ModelListModel::FitPlaceRole).toInt(), -1);

        // Cancel removes what the pull wrote.
        set_slow(kTinyRepo + "/model.safetensors", 0.4);  // 8 pieces: 3.2 s
        QSignalSpy stopped(page.get(), &ModelsPage::download_stopped);
        QSignalSpy finished(page.get(), &ModelsPage::download_finished);
        page->download(row);
        const QString folder = models_ + "/test-org--tiny-v2";
        QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(folder + "/model.safetensors.part"), 20000);
        child<QPushButton>(*page, "cancelButton")->click();
        QVERIFY(stopped.wait(20000));
        QCOMPARE(stopped.at(0).at(1).toBool(), true);
        QVERIFY2(!QFileInfo::exists(folder), qPrintable(QDir(folder).entryList().join(' ')));
        QCOMPARE(entry_of(*page, kTinyKey).state, DownloadState::Remote);

        // Downloaded again, it is local and its fit is known from its config.json.
        set_behaviour({});
        page->download(row_of(*page, kTinyKey));
        QVERIFY(finished.wait(30000));
        const int local = row_of(*page, kTinyKey);
        QCOMPARE(page->model()->entry(local).state, DownloadState::Local);
        QCOMPARE(page->model()->index(local).data(ModelListModel::FitPlaceRole).toInt(),
                 int(FitPlace::Gpu));
        QVERIFY(QFileInfo::exists(folder + "/config.json"));

        // Delete removes it.
        select(*page, kTinyKey);
        QVERIFY(child<QPushButton>(*page, "deleteButton")->isEnabled());
        page->remove(row_of(*page, kTinyKey));
        QVERIFY(!QFileInfo::exists(folder));
        QCOMPARE(entry_of(*page, kTinyKey).state, DownloadState::Remote);
        QVERIFY(page->error_text().isEmpty());

        // Deleting one GGUF file of a repo leaves the other.
        const QString gguf = models_ + "/mradermacher--DeepSeek-V2-Lite-Chat-GGUF/";
        if (QFileInfo::exists(gguf + kQ4) && QFileInfo::exists(gguf + kQ8)) {
            page->remove(row_of(*page, kQ4Key));
            QVERIFY(!QFileInfo::exists(gguf + kQ4));
            QVERIFY(QFileInfo::exists(gguf + kQ8));
            QCOMPARE(entry_of(*page, kQ4Key).state, DownloadState::Remote);
        }
    }

    void gguf_repo_found_by_search_is_offered_file_by_file() {
        auto page = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        QSignalSpy searched(page.get(), &ModelsPage::search_finished);
        page->search(QStringLiteral("tiny-gguf"));
        QVERIFY(searched.wait(20000));
        QCOMPARE(searched.at(0).at(0).toInt(), 1);
        const QString repo_key = kTinyGgufRepo + QLatin1Char('|');
        QVERIFY(row_of(*page, repo_key) >= 0);

        // Download on the repo lists its GGUF models instead: one row per file or split set.
        page->download(row_of(*page, repo_key));
        const QString q4_key = kTinyGgufRepo + QLatin1Char('|') + kTinyGgufFile;
        const QString q8_key = kTinyGgufRepo + "|tiny.Q8_0-00001-of-00002.gguf";
        QTRY_VERIFY_WITH_TIMEOUT(row_of(*page, q4_key) >= 0, 20000);
        QVERIFY(page->active_download().isEmpty());
        QCOMPARE(row_of(*page, repo_key), -1);  // no folder model to pull whole
        QVERIFY(row_of(*page, kTinyGgufRepo + "|tiny.Q8_0-00002-of-00002.gguf") < 0);
        const ModelEntry& q8 = entry_of(*page, q8_key);
        QCOMPARE(q8.quantization, QStringLiteral("GGUF Q8_0"));
        QCOMPARE(q8.bytes, QFileInfo(kFixtures + "/gguf_v2/model-Q8_0.gguf").size());
        QCOMPARE(entry_of(*page, q4_key).quantization, QStringLiteral("GGUF Q4_0"));

        QSignalSpy finished(page.get(), &ModelsPage::download_finished);
        page->download(row_of(*page, q4_key));
        QVERIFY(finished.wait(30000));
        const QString path = models_ + "/test-org--tiny-GGUF/" + kTinyGgufFile;
        QCOMPARE(read_all(path), read_all(kFixtures + "/gguf_v2/model-Q4_0.gguf"));
        const int row = row_of(*page, q4_key);
        QCOMPARE(page->model()->entry(row).state, DownloadState::Local);
        // Its shape now comes from the file, so its fit is known.
        QCOMPARE(page->model()->index(row).data(ModelListModel::FitPlaceRole).toInt(),
                 int(FitPlace::Gpu));
        page->remove(row);
        QVERIFY(!QFileInfo::exists(path));
    }

    void errors_show_in_the_page() {
        auto page = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        QSignalSpy failed(page.get(), &ModelsPage::download_failed);
        page->download(row_of(*page, kGigaChatKey));  // not on this hub: 404
        QVERIFY(failed.wait(20000));
        QVERIFY2(page->error_text().contains("404"), qPrintable(page->error_text()));
        QVERIFY(page->error_text().contains("ubergarm/GigaChat3-10B-A1.8B-GGUF"));
        QVERIFY(child<QLabel>(*page, "modelsError")->isVisibleTo(page.get()));
        QCOMPARE(entry_of(*page, kGigaChatKey).state, DownloadState::Remote);
        QVERIFY(page->active_download().isEmpty());

        // Offline: downloads and searches say so.
        qputenv("HF_HUB_OFFLINE", "1");
        auto offline = make_page(MachineMemory{64 * kGiB, 24 * kGiB});
        qunsetenv("HF_HUB_OFFLINE");
        QSignalSpy offline_failed(offline.get(), &ModelsPage::download_failed);
        offline->download(row_of(*offline, kBf16Key));
        QVERIFY(offline_failed.wait(20000));
        QVERIFY2(offline->error_text().contains("HF_HUB_OFFLINE"),
                 qPrintable(offline->error_text()));
        QSignalSpy searched(offline.get(), &ModelsPage::search_finished);
        offline->search(QStringLiteral("tiny"));
        QVERIFY(searched.wait(20000));
        QCOMPARE(searched.at(0).at(0).toInt(), -1);
        QVERIFY(offline->error_text().contains("HF_HUB_OFFLINE"));

        // No server at all.
        ModelsPage::Options o;
        o.models_dir = models_;
        o.memory = MachineMemory{64 * kGiB, 0};
        o.bundled_dir = kBundled;
        lc::hub::HubOptions nowhere;
        nowhere.endpoint = "http://127.0.0.1:9";  // discard: nothing listens
        nowhere.connect_timeout_s = 5;
        o.hub = nowhere;
        ModelsPage unreachable(o);
        QSignalSpy unreachable_failed(&unreachable, &ModelsPage::download_failed);
        unreachable.download(row_of(unreachable, kBf16Key));
        QVERIFY(unreachable_failed.wait(20000));
        QVERIFY2(unreachable.error_text().contains("127.0.0.1:9"),
                 qPrintable(unreachable.error_text()));
    }

    void main_window_opens_the_page_and_uses_its_model() {
        QSettings store(tmp_.filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
        lc::ui::MainWindow window(store, tmp_.filePath(QStringLiteral("history.db")));
        QAction* action = window.findChild<QAction*>(QStringLiteral("modelsAction"));
        QVERIFY(action);
        action->trigger();
        ModelsPage* page = window.models_page();
        QVERIFY(page);
        QVERIFY(page->isVisible());
        action->trigger();  // the same page again, not a second one
        QCOMPARE(window.models_page(), page);

        const QString model = kFixtures + QStringLiteral("/v2_moe");
        emit page->model_chosen(model);
        QCOMPARE(window.settings().model_dir, model);
        store.sync();
        QCOMPARE(store.value(QStringLiteral("defaults/model_dir")).toString(), model);
    }
};

QTEST_MAIN(TestModelsPage)
#include "test_models_page.moc"
