// The model library's core (issue 20) against tests/ref/fake_hub.py, a local server in the hub's
// URL layout that logs every request: file lists, pulls (cut, resumed, corrupted, refused),
// the environment, the local store and its huggingface_hub cache, search, the fit check, and
// `latentchat-cli models`. Never the real hub.
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "cli_runner.h"
#include "hub/hub.h"
#include "hub/hub_json.h"
#include "hub/model_store.h"
#include "session/fit_check.h"

namespace fs = std::filesystem;
using namespace lc::hub;

namespace {

QByteArray random_bytes(int n, quint32 seed) {
    QRandomGenerator gen(seed);
    QByteArray b(n, '\0');
    for (int i = 0; i < n; ++i)
        b[i] = static_cast<char>(gen.bounded(256));
    return b;
}

void write_file(const QString& path, const QByteArray& bytes) {
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly), qPrintable(path));
    f.write(bytes);
}

QByteArray read_file(const fs::path& path) {
    QFile f(QString::fromStdString(path.string()));
    if (!f.open(QIODevice::ReadOnly)) return "<missing>";
    return f.readAll();
}

// What lc::Error says, or "" when nothing was thrown.
template <typename F>
QString error_of(F&& f) {
    try {
        f();
    } catch (const lc::Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

QString hex_sha256(const QByteArray& b) {
    return QCryptographicHash::hash(b, QCryptographicHash::Sha256).toHex();
}

QString git_blob_sha1(const QByteArray& b) {
    return QCryptographicHash::hash("blob " + QByteArray::number(b.size()) + '\0' + b,
                                    QCryptographicHash::Sha1)
        .toHex();
}

std::vector<std::string> paths_of(const std::vector<RepoFile>& files) {
    std::vector<std::string> out;
    for (const RepoFile& f : files)
        out.push_back(f.path);
    return out;
}

// tests/ref/fake_hub.py on a free port, its repos under a temporary folder.
class FakeHub {
public:
    bool start() {
        log_ = root_.filePath("requests.log");
        proc_.setProgram("python3");
        proc_.setArguments(
            {QStringLiteral(LC_SOURCE_DIR "/tests/ref/fake_hub.py"), root_.path(), log_});
        proc_.start();
        if (!proc_.waitForStarted(10000)) return false;
        while (!proc_.canReadLine())
            if (!proc_.waitForReadyRead(10000)) return false;
        port_ = proc_.readLine().trimmed().toInt();
        return port_ > 0;
    }
    ~FakeHub() {
        proc_.kill();
        proc_.waitForFinished(5000);
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    QString repo_file(const QString& repo, const QString& rev, const QString& path) const {
        return root_.filePath("repos/" + repo + "/" + rev + "/" + path);
    }
    QByteArray add(const QString& repo, const QString& path, const QByteArray& bytes,
                   const QString& rev = "main") {
        write_file(repo_file(repo, rev, path), bytes);
        return bytes;
    }
    void behave(const QJsonObject& b) {
        write_file(root_.filePath("behaviour.json"), QJsonDocument(b).toJson());
    }
    void search_results(const QJsonArray& models) {
        write_file(root_.filePath("search.json"), QJsonDocument(models).toJson());
    }
    void clear_log() { QFile::remove(log_); }
    QList<QJsonObject> requests() const {
        QList<QJsonObject> out;
        QFile f(log_);
        if (!f.open(QIODevice::ReadOnly)) return out;
        for (const QByteArray& line : f.readAll().split('\n'))
            if (!line.isEmpty()) out.push_back(QJsonDocument::fromJson(line).object());
        return out;
    }
    // The requests for one path (resolve or cdn) of a file.
    QList<QJsonObject> requests_for(const QString& file) const {
        QList<QJsonObject> out;
        for (const QJsonObject& r : requests())
            if (r["path"].toString().endsWith("/" + file) && r["status"].toInt() != 302)
                out.push_back(r);
        return out;
    }

private:
    QTemporaryDir root_;
    QString log_;
    QProcess proc_;
    int port_ = 0;
};

}  // namespace

class TestHub : public QObject {
    Q_OBJECT

    FakeHub hub_;
    QTemporaryDir home_;  // XDG_DATA_HOME, HF_HUB_CACHE: never the user's
    HubOptions options_;
    QMap<QString, QByteArray> tiny_;  // deepseek-ai/Tiny's files

    fs::path cache_dir() const { return home_.filePath("hf-cache").toStdString(); }

private slots:
    void initTestCase() {
        QVERIFY2(hub_.start(), "tests/ref/fake_hub.py did not start (python3 needed)");
        options_.endpoint = hub_.url();
        options_.stall_timeout_s = 10;
        qunsetenv("HF_TOKEN");
        qunsetenv("HF_HUB_OFFLINE");
        qunsetenv("HF_HOME");
        qputenv("HF_TOKEN_PATH", home_.filePath("no-token").toUtf8());
        qputenv("HF_HUB_CACHE", home_.filePath("hf-cache").toUtf8());
        qputenv("XDG_DATA_HOME", home_.filePath("data").toUtf8());
        qputenv("HF_ENDPOINT", QByteArray::fromStdString(hub_.url()));

        const QString tiny = "deepseek-ai/Tiny";
        tiny_["config.json"] = hub_.add(tiny, "config.json", R"({"model_type": "deepseek_v2"})");
        tiny_["generation_config.json"] = hub_.add(tiny, "generation_config.json", "{}");
        tiny_["tokenizer.json"] = hub_.add(tiny, "tokenizer.json", R"({"model": {}})");
        tiny_["tokenizer_config.json"] = hub_.add(tiny, "tokenizer_config.json", "{}");
        tiny_["model.safetensors.index.json"] =
            hub_.add(tiny, "model.safetensors.index.json", R"({"weight_map": {}})");
        tiny_["model-00001-of-00002.safetensors"] =
            hub_.add(tiny, "model-00001-of-00002.safetensors", random_bytes(300000, 1));
        tiny_["model-00002-of-00002.safetensors"] =
            hub_.add(tiny, "model-00002-of-00002.safetensors", random_bytes(200000, 2));
        hub_.add(tiny, "README.md", "# Tiny\n");
        hub_.add(tiny, "pytorch_model.bin", random_bytes(1000, 3));
        hub_.add(tiny, "original/extra.safetensors", random_bytes(1000, 4));
        hub_.add(tiny, "config.json", R"({"model_type": "deepseek_v2", "v": 1})", "v1");
        hub_.add(tiny, "model.safetensors", random_bytes(5000, 5), "v1");

        const QString gguf = "bart/Tiny-GGUF";
        hub_.add(gguf, "Tiny.Q8_0.gguf", random_bytes(100000, 6));
        hub_.add(gguf, "Tiny.Q4_K_M.gguf", random_bytes(60000, 7));
        hub_.add(gguf, "Q6_K/Tiny.Q6_K-00001-of-00002.gguf", random_bytes(40000, 8));
        hub_.add(gguf, "Q6_K/Tiny.Q6_K-00002-of-00002.gguf", random_bytes(30000, 9));
        hub_.add(gguf, "README.md", "# GGUF\n");

        hub_.add("gated/Secret", "config.json", "{}");
        hub_.add("gated/Secret", "model.safetensors", random_bytes(2000, 10));
        hub_.add("slow/Big", "config.json", "{}");
        hub_.add("slow/Big", "model.safetensors", random_bytes(1500000, 11));
    }

    void init() {
        hub_.behave({});
        hub_.clear_log();
    }

    void environment() {
        qputenv("HF_ENDPOINT", "http://example.test:81//");
        qputenv("HF_TOKEN", " hf_abc \n");
        qputenv("HF_HUB_OFFLINE", "1");
        HubOptions o = HubOptions::from_environment();
        QCOMPARE(o.endpoint, std::string("http://example.test:81"));
        QCOMPARE(o.token, std::string("hf_abc"));
        QVERIFY(o.offline);
        for (const char* yes : {"true", "ON", "yes"}) {
            qputenv("HF_HUB_OFFLINE", yes);
            QVERIFY(HubOptions::from_environment().offline);
        }
        qputenv("HF_HUB_OFFLINE", "0");
        QVERIFY(!HubOptions::from_environment().offline);
        // Without HF_TOKEN, the token `huggingface-cli login` saved.
        qunsetenv("HF_TOKEN");
        write_file(home_.filePath("saved-token"), "hf_saved\n");
        qputenv("HF_TOKEN_PATH", home_.filePath("saved-token").toUtf8());
        QCOMPARE(HubOptions::from_environment().token, std::string("hf_saved"));
        qputenv("HF_TOKEN_PATH", home_.filePath("no-token").toUtf8());
        QCOMPARE(HubOptions::from_environment().token, std::string());
        qunsetenv("HF_ENDPOINT");
        qunsetenv("HF_HUB_OFFLINE");
        QCOMPARE(HubOptions::from_environment().endpoint, std::string("https://huggingface.co"));
        qputenv("HF_ENDPOINT", QByteArray::fromStdString(hub_.url()));
    }

    void listFiles() {
        const auto files = list_files(options_, "deepseek-ai/Tiny");
        std::map<std::string, RepoFile> by_path;
        for (const RepoFile& f : files)
            by_path[f.path] = f;
        QCOMPARE(files.size(), size_t{10});  // directories are not files
        QVERIFY(by_path.count("original/extra.safetensors"));
        for (const auto& [name, bytes] : tiny_.asKeyValueRange()) {
            const RepoFile& f = by_path.at(name.toStdString());
            QCOMPARE(f.size, int64_t{bytes.size()});
            if (name.endsWith(".safetensors")) {  // LFS: the content's sha256
                QCOMPARE(QString::fromStdString(f.sha256), hex_sha256(bytes));
                QVERIFY(f.git_oid.empty());
            } else {  // git: the blob's SHA-1
                QVERIFY(f.sha256.empty());
                QCOMPARE(QString::fromStdString(f.git_oid), git_blob_sha1(bytes));
            }
        }
        // Another revision, and the listing in pages linked by Link: rel="next".
        QCOMPARE(paths_of(list_files(options_, "deepseek-ai/Tiny", "v1")),
                 (std::vector<std::string>{"config.json", "model.safetensors"}));
        hub_.behave({{"page_size", 3}});
        hub_.clear_log();
        QCOMPARE(paths_of(list_files(options_, "deepseek-ai/Tiny")), paths_of(files));
        QCOMPARE(hub_.requests().size(), 4);  // 11 entries with the folder, 3 a page
        QVERIFY(hub_.requests()[1]["query"].toString().contains("cursor=3"));
    }

    void filesToPull() {
        const auto all = list_files(options_, "deepseek-ai/Tiny");
        QCOMPARE(paths_of(files_to_pull(all, std::nullopt)),
                 (std::vector<std::string>{
                     "config.json", "generation_config.json", "model-00001-of-00002.safetensors",
                     "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                     "tokenizer.json", "tokenizer_config.json"}));
        const auto gguf = list_files(options_, "bart/Tiny-GGUF");
        auto pick = [&](const std::string& f) { return paths_of(files_to_pull(gguf, f)); };
        using V = std::vector<std::string>;
        QCOMPARE(pick("Tiny.Q8_0.gguf"), V{"Tiny.Q8_0.gguf"});
        QCOMPARE(pick("Q4_K_M"), V{"Tiny.Q4_K_M.gguf"});
        const V q6 = {"Q6_K/Tiny.Q6_K-00001-of-00002.gguf", "Q6_K/Tiny.Q6_K-00002-of-00002.gguf"};
        QCOMPARE(pick("Q6_K/Tiny.Q6_K-00001-of-00002.gguf"), q6);
        QCOMPARE(pick("Q6_K/Tiny.Q6_K-00002-of-00002.gguf"), q6);  // any part: the whole set
        QCOMPARE(pick("Tiny.Q6_K-00001-of-00002.gguf"), q6);       // without its folder
        QCOMPARE(pick("q6_k"), q6);
        // A folder model asked of a GGUF repo, an unknown file, an ambiguous or partial tag.
        QString e = error_of([&] { files_to_pull(gguf, std::nullopt); });
        QVERIFY2(e.contains("--file") && e.contains("Tiny.Q8_0.gguf") &&
                     e.contains("Q6_K/Tiny.Q6_K-00001-of-00002.gguf") &&
                     !e.contains("00002-of-00002"),
                 qPrintable(e));
        e = error_of([&] { files_to_pull(gguf, std::string("Tiny.Q2_K.gguf")); });
        QVERIFY2(e.contains("Tiny.Q2_K.gguf") && e.contains("Tiny.Q4_K_M.gguf"), qPrintable(e));
        e = error_of([&] { files_to_pull(gguf, std::string("Q4_K")); });
        QVERIFY2(e.contains("no GGUF file 'Q4_K'"), qPrintable(e));
        e = error_of([&] { files_to_pull(gguf, std::string("Tiny")); });
        QVERIFY2(e.contains("several"), qPrintable(e));
        std::vector<RepoFile> partial = {{"x-00001-of-00003.gguf", 1, "a", ""},
                                         {"x-00003-of-00003.gguf", 1, "b", ""}};
        e = error_of([&] { files_to_pull(partial, std::string("x-00001-of-00003.gguf")); });
        QVERIFY2(e.contains("2 of the 3 parts"), qPrintable(e));
        e = error_of([&] { files_to_pull({{"config.json", 2, "", "x"}}, std::nullopt); });
        QVERIFY2(e.contains("no .safetensors"), qPrintable(e));
        // A path of 100,000 characters from the hub (std::regex overflowed the stack on it).
        const std::string stem(100000, 'a');
        const std::vector<RepoFile> long_set = {{stem + "-00001-of-00002.GGUF", 1, "a", ""},
                                                {stem + "-00002-of-00002.gguf", 1, "b", ""}};
        QCOMPARE(files_to_pull(long_set, long_set[1].path).size(), size_t(2));
    }

    // Replies a hostile or broken server could send (issue 22, fuzz_hub_json): each one an
    // lc::Error naming the URL or a value read safely, never a crash or an exception of
    // nlohmann's escaping (a "type": 5 entry did), never a float cast out of range.
    void hostileReplies() {
        const std::string url = "http://hub.invalid/api/models/a/b/tree/main";
        auto list_error = [&](const std::string& body) {
            return error_of([&] { parse_file_list(body, url); });
        };
        const std::string deep = std::string(100000, '[') + std::string(100000, ']');
        QString e = list_error(deep);
        QVERIFY2(e.startsWith(QString::fromStdString(url)) && e.contains("deeper than 256"),
                 qPrintable(e));
        e = list_error(R"([{"type": "file", "path": "a", "size": 1e300}])");
        QVERIFY2(e.contains("listed a with a size of 1e+300"), qPrintable(e));
        e = list_error(R"([{"type": "file", "path": "a", "size": -1}])");
        QVERIFY2(e.contains("listed a with a size of -1"), qPrintable(e));
        e = list_error(R"([{"type": "file", "path": "a", "size": 18446744073709551615}])");
        QVERIFY2(e.contains("size of 18446744073709551615"), qPrintable(e));
        e = list_error(R"([{"type": "file", "path": "a", "size": 1, "lfs": {"oid": 7}}])");
        QVERIFY2(e.contains("without its sha256"), qPrintable(e));
        e = list_error(R"([{"type": "file", "path": "a", "size": 1, "oid": []}])");
        QVERIFY2(e.contains("oid that is not a string"), qPrintable(e));
        e = list_error("{not json");
        QVERIFY2(e.contains("did not answer with JSON") && e.contains("HF_ENDPOINT"),
                 qPrintable(e));
        const auto files = parse_file_list(
            R"([{"type": 5}, 3, {"type": "directory", "path": "d"},
                {"type": "file", "path": "b", "size": 2.0, "oid": "g"},
                {"type": "file", "path": "c", "size": 1, "lfs": {"oid": "s", "size": 9}}])",
            url);
        QCOMPARE(paths_of(files), (std::vector<std::string>{"b", "c"}));
        QCOMPARE(files[0].size, int64_t(2));
        QCOMPARE(files[0].git_oid, std::string("g"));
        QCOMPARE(files[1].size, int64_t(9));
        QCOMPARE(files[1].sha256, std::string("s"));

        const auto found = parse_search(
            R"([{"id": "a/x", "downloads": 1e300, "likes": 18446744073709551615,
                 "config": {"model_type": "deepseek_v3"}},
                {"id": "a/y", "downloads": -5, "likes": 7.0, "tags": ["kimi_k2"]},
                {"id": 3}, {"id": "a/z", "config": {"model_type": "llama"}}])",
            url, 10, false);
        QCOMPARE(found.size(), size_t(2));
        QCOMPARE(found[0].downloads, int64_t(0));
        QCOMPARE(found[0].likes, int64_t(0));
        QCOMPARE(found[1].downloads, int64_t(-5));
        QCOMPARE(found[1].likes, int64_t(7));
        e = error_of([&] { parse_search(deep, url, 10, true); });
        QVERIFY2(e.contains("deeper than 256"), qPrintable(e));
        QCOMPARE(next_page_link("<u1>; rel=\"prev\", <u2>; rel=\"next\""), std::string("u2"));
        QCOMPARE(next_page_link("<unclosed; rel=\"next\""), std::string());
    }

    void fullPull() {
        QTemporaryDir dir;
        int64_t last_done = -1, last_total = -1, calls = 0;
        const fs::path path =
            pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()},
                 [&](const Progress& p) {
                     QVERIFY(p.done >= last_done);
                     last_done = p.done;
                     last_total = p.total;
                     ++calls;
                 });
        QCOMPARE(path, fs::path(dir.filePath("deepseek-ai--Tiny").toStdString()));
        int64_t total = 0;
        for (const auto& [name, bytes] : tiny_.asKeyValueRange()) {
            QCOMPARE(read_file(path / name.toStdString()), bytes);
            total += bytes.size();
        }
        QCOMPARE(last_total, total);
        QCOMPARE(last_done, total);
        QVERIFY(calls >= 7);
        QStringList left = QDir(QString::fromStdString(path.string()))
                               .entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot);
        QCOMPARE(left.size(), 7);  // no .part, no marker, nothing not needed
        QVERIFY(!left.contains("README.md"));

        // Pulled again: nothing is fetched but the list.
        hub_.clear_log();
        pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()}, {});
        QCOMPARE(hub_.requests().size(), 1);
        QVERIFY(hub_.requests()[0]["path"].toString().contains("/tree/main"));

        // A GGUF file, and a split set: the path to open is the (first) file.
        const fs::path q8 =
            pull(options_, {"bart/Tiny-GGUF", "main", "Q8_0", dir.path().toStdString()}, {});
        QCOMPARE(q8, fs::path(dir.filePath("bart--Tiny-GGUF/Tiny.Q8_0.gguf").toStdString()));
        QCOMPARE(
            read_file(q8),
            read_file(hub_.repo_file("bart/Tiny-GGUF", "main", "Tiny.Q8_0.gguf").toStdString()));
        const fs::path q6 =
            pull(options_, {"bart/Tiny-GGUF", "main", "Q6_K", dir.path().toStdString()}, {});
        QCOMPARE(q6.filename().string(), std::string("Tiny.Q6_K-00001-of-00002.gguf"));
        QVERIFY(fs::exists(q6.parent_path() / "Tiny.Q6_K-00002-of-00002.gguf"));
        QVERIFY(!fs::exists(q6.parent_path().parent_path() / "README.md"));
        // A revision other than main.
        const fs::path v1 =
            pull(options_, {"deepseek-ai/Tiny", "v1", {}, dir.filePath("v1").toStdString()}, {});
        QCOMPARE(read_file(v1 / "config.json"),
                 QByteArray(R"({"model_type": "deepseek_v2", "v": 1})"));
    }

    void resumeAfterCut() {
        QTemporaryDir dir;
        const QString name = "model-00001-of-00002.safetensors";
        hub_.behave({{"cut", QJsonObject{{"deepseek-ai/Tiny/" + name,
                                          QJsonObject{{"after", 100000}, {"times", 1}}}}}});
        HubOptions once = options_;
        once.retries = 0;
        const PullRequest request{"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()};
        const QString e = error_of([&] { pull(once, request, {}); });
        QVERIFY2(e.contains(name) && e.contains("cut") && e.contains("again"), qPrintable(e));
        const fs::path target = dir.filePath("deepseek-ai--Tiny").toStdString();
        QCOMPARE(fs::file_size(target / (name.toStdString() + ".part")), uintmax_t{100000});
        QVERIFY(!fs::exists(target / name.toStdString()));
        // Listed as incomplete meanwhile.
        const auto models = list_local_models(dir.path().toStdString());
        QCOMPARE(models.size(), size_t{1});
        QVERIFY(!models[0].complete);

        hub_.clear_log();
        pull(once, request, {});
        const auto asked = hub_.requests_for(name);
        QCOMPARE(asked.size(), 1);
        QCOMPARE(asked[0]["range"].toString(), QString("bytes=100000-"));
        QCOMPARE(asked[0]["status"].toInt(), 206);
        QCOMPARE(asked[0]["sent"].toInt(), 200000);  // the bytes already there are not fetched
        QCOMPARE(read_file(target / name.toStdString()), tiny_[name]);
        QVERIFY(!fs::exists(target / (name.toStdString() + ".part")));
        QVERIFY(list_local_models(dir.path().toStdString())[0].complete);
    }

    void resumeWithinOnePull() {
        QTemporaryDir dir;
        const QString name = "model-00002-of-00002.safetensors";
        hub_.behave({{"redirect", true},  // and through the CDN redirect, as the hub sends them
                     {"cut", QJsonObject{{"deepseek-ai/Tiny/" + name,
                                          QJsonObject{{"after", 70000}, {"times", 2}}}}}});
        const fs::path path =
            pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()}, {});
        QCOMPARE(read_file(path / name.toStdString()), tiny_[name]);
        const auto asked = hub_.requests_for(name);
        QCOMPARE(asked.size(), 3);
        QCOMPARE(asked[0]["range"].toString(), QString());
        QCOMPARE(asked[1]["range"].toString(), QString("bytes=70000-"));
        QCOMPARE(asked[2]["range"].toString(), QString("bytes=140000-"));
        QCOMPARE(asked[2]["sent"].toInt(), 60000);
        QVERIFY(asked[2]["path"].toString().startsWith("/cdn/"));
    }

    void serverIgnoringRange() {
        QTemporaryDir dir;
        const QString name = "model-00002-of-00002.safetensors";
        const fs::path target = dir.filePath("deepseek-ai--Tiny").toStdString();
        // A .part of wrong bytes: the server answers 200 with the whole file, which replaces it.
        write_file(QString::fromStdString((target / name.toStdString()).string()) + ".part",
                   QByteArray(5000, 'x'));
        hub_.behave({{"no_range", QJsonArray{"deepseek-ai/Tiny/" + name}}});
        pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()}, {});
        QCOMPARE(read_file(target / name.toStdString()), tiny_[name]);
        QCOMPARE(hub_.requests_for(name)[0]["status"].toInt(), 200);
    }

    void corruptedFileRejected() {
        QTemporaryDir dir;
        const QString name = "model-00001-of-00002.safetensors";
        hub_.behave({{"corrupt", QJsonArray{"deepseek-ai/Tiny/" + name}}});
        const QString e = error_of([&] {
            pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()}, {});
        });
        QVERIFY2(e.contains(name) && e.contains("corrupted") && e.contains(hex_sha256(tiny_[name])),
                 qPrintable(e));
        const fs::path target = dir.filePath("deepseek-ai--Tiny").toStdString();
        QVERIFY(!fs::exists(target / name.toStdString()));
        QVERIFY(!fs::exists(target / (name.toStdString() + ".part")));
        // A small git file is checked too, by its git blob SHA-1.
        QVERIFY(fs::exists(target / "config.json"));  // small files came first
        fs::remove(target / "tokenizer.json");
        hub_.behave({{"corrupt", QJsonArray{"deepseek-ai/Tiny/tokenizer.json"}}});
        const QString e2 = error_of([&] {
            pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()}, {});
        });
        QVERIFY2(e2.contains("tokenizer.json") && e2.contains("git SHA-1"), qPrintable(e2));
        QVERIFY(!fs::exists(target / "tokenizer.json"));
        QVERIFY(!fs::exists(target / "tokenizer.json.part"));
    }

    void notFound() {
        QTemporaryDir dir;
        QString e = error_of([&] { list_files(options_, "bart/Nope"); });
        QVERIFY2(e.startsWith("no model 'bart/Nope' on the hub") && e.contains("404"),
                 qPrintable(e));
        e = error_of([&] { list_files(options_, "deepseek-ai/Tiny", "v9"); });
        QVERIFY2(e.contains("no revision 'v9'") && e.contains("404"), qPrintable(e));
        hub_.behave({{"missing", QJsonArray{"deepseek-ai/Tiny/tokenizer.json"}}});
        e = error_of([&] {
            pull(options_, {"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()}, {});
        });
        QVERIFY2(e.contains("has no file tokenizer.json") && e.contains("404"), qPrintable(e));
        e = error_of([&] { list_files(options_, "../etc"); });
        QVERIFY2(e.contains("not a hub model id"), qPrintable(e));
        // Nothing listening: the URL and the network's words.
        HubOptions closed = options_;
        closed.endpoint = "http://127.0.0.1:1";
        e = error_of([&] { list_files(closed, "deepseek-ai/Tiny"); });
        QVERIFY2(e.startsWith("cannot download http://127.0.0.1:1/api/models/deepseek-ai/Tiny"),
                 qPrintable(e));
    }

    void tokens() {
        QTemporaryDir dir;
        hub_.behave({{"tokens", QJsonObject{{"gated/Secret", "s3cret"}}}});
        const PullRequest request{"gated/Secret", "main", {}, dir.path().toStdString()};
        QString e = error_of([&] { pull(options_, request, {}); });
        QVERIFY2(e.contains("401") && e.contains("set HF_TOKEN"), qPrintable(e));
        HubOptions wrong = options_;
        wrong.token = "nope";
        e = error_of([&] { pull(wrong, request, {}); });
        QVERIFY2(e.contains("401") && e.contains("token in HF_TOKEN was refused"), qPrintable(e));
        HubOptions right = options_;
        right.token = "s3cret";
        hub_.clear_log();
        const fs::path path = pull(right, request, {});
        QVERIFY(fs::exists(path / "model.safetensors"));
        const auto asked = hub_.requests();
        QCOMPARE(asked.size(), 3);
        for (const QJsonObject& r : asked)
            QCOMPARE(r["auth"].toString(), QString("Bearer s3cret"));
    }

    void offline() {
        QTemporaryDir dir;
        HubOptions off = options_;
        off.offline = true;
        QString e = error_of([&] { list_files(off, "deepseek-ai/Tiny"); });
        QVERIFY2(e.contains("HF_HUB_OFFLINE"), qPrintable(e));
        const PullRequest request{"deepseek-ai/Tiny", "main", {}, dir.path().toStdString()};
        e = error_of([&] { pull(off, request, {}); });
        QVERIFY2(e.contains("HF_HUB_OFFLINE"), qPrintable(e));
        QCOMPARE(hub_.requests().size(), 0);
        // A model pulled before is there offline, without a request.
        const fs::path online = pull(options_, request, {});
        pull(options_, {"bart/Tiny-GGUF", "main", "Q4_K_M", dir.path().toStdString()}, {});
        hub_.clear_log();
        QCOMPARE(pull(off, request, {}), online);
        QCOMPARE(pull(off, {"bart/Tiny-GGUF", "main", "Q4_K_M", dir.path().toStdString()}, {}),
                 fs::path(dir.filePath("bart--Tiny-GGUF/Tiny.Q4_K_M.gguf").toStdString()));
        e = error_of([&] {
            pull(off, {"bart/Tiny-GGUF", "main", "Q8_0", dir.path().toStdString()}, {});
        });
        QVERIFY2(e.contains("HF_HUB_OFFLINE"), qPrintable(e));
        QCOMPARE(hub_.requests().size(), 0);
    }

    void cancel() {
        QTemporaryDir dir;
        hub_.behave({{"slow", QJsonObject{{"slow/Big/model.safetensors", 0.05}}}});
        std::atomic<bool> stop{false};
        const PullRequest request{"slow/Big", "main", {}, dir.path().toStdString()};
        const QString e = error_of([&] {
            pull(
                options_, request,
                [&](const Progress& p) {
                    if (p.file_done > 200000) stop = true;
                },
                &stop);
        });
        QCOMPARE(e, QString("cancelled"));
        const fs::path part = dir.filePath("slow--Big/model.safetensors.part").toStdString();
        QVERIFY(fs::file_size(part) > 200000 && fs::file_size(part) < 1500000);
        // Resumed at the server's pace (64 KiB per 50 ms, 1.3 MB/s): the rate and time left.
        std::vector<Progress> seen;
        pull(options_, request, [&](const Progress& p) { seen.push_back(p); });
        bool rated = false;
        for (const Progress& p : seen) {
            if (p.bytes_per_s <= 0 || p.done == p.total) continue;
            rated = true;
            QVERIFY2(p.bytes_per_s > 0.2e6 && p.bytes_per_s < 1.4e6,
                     qPrintable(QString::number(p.bytes_per_s)));
            QVERIFY(std::abs(p.seconds_left - (p.total - p.done) / p.bytes_per_s) < 1e-6);
        }
        QVERIFY(rated);
        QCOMPARE(seen.back().done, seen.back().total);
        QCOMPARE(seen.back().seconds_left, 0.0);
        hub_.behave({});
        QCOMPARE(read_file(dir.filePath("slow--Big/model.safetensors").toStdString()),
                 read_file(hub_.repo_file("slow/Big", "main", "model.safetensors").toStdString()));
    }

    void localModels() {
        QTemporaryDir dir;
        const fs::path models = dir.path().toStdString();
        pull(options_, {"deepseek-ai/Tiny", "v1", {}, models}, {});
        pull(options_, {"bart/Tiny-GGUF", "main", "Q6_K", models}, {});
        write_file(dir.filePath("loose.Q8_0.gguf"), QByteArray(1000, 'g'));
        write_file(dir.filePath("cut.gguf.part"), QByteArray(10, 'p'));
        // The huggingface_hub cache: snapshots link into blobs.
        const QString repo = home_.filePath("hf-cache/models--org--Cached");
        write_file(repo + "/blobs/aaa", QByteArray(3000, 'w'));
        write_file(repo + "/blobs/bbb", "{}");
        write_file(repo + "/refs/main", "abc123");
        QDir().mkpath(repo + "/snapshots/abc123");
        QVERIFY(QFile::link(repo + "/blobs/aaa", repo + "/snapshots/abc123/model.safetensors"));
        QVERIFY(QFile::link(repo + "/blobs/bbb", repo + "/snapshots/abc123/config.json"));
        write_file(home_.filePath("hf-cache/models--org--Cached-GGUF/snapshots/def/m.Q4_0.gguf"),
                   QByteArray(700, 'q'));

        const auto found = list_local_models(models);
        QStringList names;
        for (const LocalModel& m : found)
            names << QString::fromStdString(m.name);
        QCOMPARE(names, (QStringList{"bart--Tiny-GGUF/Q6_K/Tiny.Q6_K-00001-of-00002.gguf",
                                     "cut.gguf", "deepseek-ai--Tiny", "loose.Q8_0.gguf",
                                     "org/Cached", "org/Cached-GGUF/m.Q4_0.gguf"}));
        QCOMPARE(found[0].bytes, int64_t{70000});  // both parts
        QVERIFY(found[0].complete && !found[0].in_hf_cache);
        QVERIFY(!found[1].complete);
        QCOMPARE(found[2].path, models / "deepseek-ai--Tiny");
        QCOMPARE(found[2].bytes, int64_t{5000 + 37});
        QVERIFY(found[4].in_hf_cache);
        QCOMPARE(found[4].bytes, int64_t{3002});
        QCOMPARE(found[4].path, cache_dir() / "models--org--Cached/snapshots/abc123");
        QVERIFY(found[5].in_hf_cache);
        QCOMPARE(found[5].path.filename().string(), std::string("m.Q4_0.gguf"));
        QDir(home_.filePath("hf-cache")).removeRecursively();
    }

    void removeModels() {
        QTemporaryDir dir;
        const fs::path models = dir.path().toStdString();
        pull(options_, {"deepseek-ai/Tiny", "v1", {}, models}, {});
        pull(options_, {"bart/Tiny-GGUF", "main", "Q6_K", models}, {});
        pull(options_, {"bart/Tiny-GGUF", "main", "Q8_0", models}, {});
        write_file(home_.filePath("hf-cache/models--org--Cached/snapshots/abc/config.json"), "{}");

        remove_local_model(models, "deepseek-ai--Tiny");
        QVERIFY(!fs::exists(models / "deepseek-ai--Tiny"));
        remove_local_model(models, "bart--Tiny-GGUF/Q6_K/Tiny.Q6_K-00001-of-00002.gguf");
        QVERIFY(!fs::exists(models / "bart--Tiny-GGUF/Q6_K"));  // both parts, and their folder
        QVERIFY(fs::exists(models / "bart--Tiny-GGUF/Tiny.Q8_0.gguf"));
        remove_local_model(models, "bart--Tiny-GGUF/Tiny.Q8_0.gguf");
        QVERIFY(!fs::exists(models / "bart--Tiny-GGUF"));
        QVERIFY(fs::exists(models));

        QString e = error_of([&] { remove_local_model(models, "nothing"); });
        QVERIFY2(e.contains("no model named 'nothing'"), qPrintable(e));
        e = error_of([&] { remove_local_model(models, "org/Cached"); });
        QVERIFY2(e.contains("huggingface_hub cache"), qPrintable(e));
        QVERIFY(fs::exists(cache_dir() / "models--org--Cached/snapshots/abc/config.json"));
        QDir(home_.filePath("hf-cache")).removeRecursively();
    }

    void searchHub() {
        hub_.search_results(QJsonArray{
            QJsonObject{{"id", "deepseek-ai/Tiny-Chat"},
                        {"downloads", 120},
                        {"likes", 7},
                        {"config", QJsonObject{{"model_type", "deepseek_v2"}}}},
            QJsonObject{{"id", "bart/Tiny-Chat-GGUF"},
                        {"downloads", 50},
                        {"likes", 1},
                        {"gguf", QJsonObject{{"architecture", "deepseek2"}}}},
            QJsonObject{{"id", "meta/Tiny-Llama"},
                        {"downloads", 9000},
                        {"config", QJsonObject{{"model_type", "llama"}}}},
            QJsonObject{{"id", "other/Tiny-Kimi"}, {"tags", QJsonArray{"kimi_k2", "custom_code"}}},
        });
        auto mla = search(options_, "tiny", 10);
        QCOMPARE(mla.size(), size_t{3});
        QCOMPARE(mla[0].repo, std::string("deepseek-ai/Tiny-Chat"));
        QCOMPARE(mla[0].model_type, std::string("deepseek_v2"));
        QCOMPARE(mla[0].downloads, int64_t{120});
        QCOMPARE(mla[0].likes, int64_t{7});
        QCOMPARE(mla[1].model_type, std::string("deepseek2"));
        QCOMPARE(mla[2].repo, std::string("other/Tiny-Kimi"));
        for (const auto& r : mla)
            QVERIFY(r.mla);
        const QString query = hub_.requests().last()["query"].toString();
        QVERIFY2(query.contains("search=tiny") && query.contains("expand=config") &&
                     query.contains("expand=gguf"),
                 qPrintable(query));
        auto all = search(options_, "tiny", 10, true);
        QCOMPARE(all.size(), size_t{4});
        QVERIFY(!all[2].mla);
        QCOMPARE(search(options_, "tiny", 1).size(), size_t{1});
        QCOMPARE(search(options_, "nothing-like-it", 10).size(), size_t{0});
    }

    void fitCheck() {
        // DeepSeek-V2-Lite's cache (design.md section 5.3): 27 layers x (512 + 64) elements.
        const lc::ModelShape lite{27, 512, 64, 163840};
        const int64_t gib = int64_t{1} << 30;
        const int64_t weights = 10 * gib;
        lc::MachineMemory machine{64 * gib, 24 * gib};
        lc::Fit fit = lc::check_fit(weights, lite, machine);
        QCOMPARE(fit.place, lc::FitPlace::Gpu);
        QCOMPARE(fit.cache_bytes_per_token, int64_t{31104});  // bf16, as section 5.3 says
        // 13 GiB left = 13 * 2^30 / 31104 = 448,780.6 tokens: 7012 whole pages of 64.
        QCOMPARE(fit.context_tokens, int64_t{163840});  // the model's limit comes first
        machine.gpu_bytes = 12 * gib;
        fit = lc::check_fit(weights, lite, machine);
        QCOMPARE(fit.place, lc::FitPlace::Gpu);
        QCOMPARE(fit.context_tokens, (gib / (31104 * 64)) * 64);  // 1 GiB: 539 pages
        QCOMPARE(fit.context_tokens, int64_t{34496});
        // The GPU too small: the CPU, with an f32 cache.
        machine.gpu_bytes = 11 * gib;
        fit = lc::check_fit(weights, lite, machine);
        QCOMPARE(fit.place, lc::FitPlace::CpuOnly);
        QCOMPARE(fit.cache_bytes_per_token, int64_t{62208});
        QCOMPARE(fit.context_tokens, int64_t{163840});
        machine = {12 * gib, 0};
        fit = lc::check_fit(weights, lite, machine);
        QCOMPARE(fit.place, lc::FitPlace::CpuOnly);
        QCOMPARE(fit.context_tokens, (gib / (62208 * 64)) * 64);
        // Less than 1024 tokens of cache beside the weights: too large.
        machine = {weights + gib + 1023 * 62208, 0};
        QCOMPARE(lc::check_fit(weights, lite, machine).place, lc::FitPlace::TooLarge);
        QCOMPARE(lc::check_fit(weights, lite, machine).context_tokens, int64_t{0});
        machine.ram_bytes += 64 * 62208;
        QCOMPARE(lc::check_fit(weights, lite, machine).place, lc::FitPlace::CpuOnly);
        QCOMPARE(lc::check_fit(weights, lite, machine).context_tokens, int64_t{1024});
        // A reserve of our own; a short max_context needs only itself.
        QCOMPARE(lc::check_fit(weights, lite, machine, 2 * gib).place, lc::FitPlace::TooLarge);
        const lc::ModelShape short_ctx{27, 512, 64, 512};
        QCOMPARE(lc::check_fit(weights, short_ctx, {weights + gib + 512 * 62208, 0}).context_tokens,
                 int64_t{512});
        // The probe reads this machine's MemAvailable.
        QVERIFY(lc::MachineMemory::probe().ram_bytes > 0);
    }

    void cli() {
        QTemporaryDir dir;
        const QString d = dir.path();
        auto r = lc_test::run_cli({"models", "--dir", d, "pull", "deepseek-ai/Tiny"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QCOMPARE(QString::fromUtf8(r.out).trimmed(), dir.filePath("deepseek-ai--Tiny"));
        QVERIFY2(r.err.contains("MB/s") && r.err.contains("left") &&
                     r.err.contains("model-00002-of-00002.safetensors") && !r.err.contains('\r'),
                 qPrintable(r.describe()));
        r = lc_test::run_cli({"models", "--dir", d, "pull", "bart/Tiny-GGUF", "--file", "Q4_K_M"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QCOMPARE(QString::fromUtf8(r.out).trimmed(),
                 dir.filePath("bart--Tiny-GGUF/Tiny.Q4_K_M.gguf"));

        r = lc_test::run_cli({"models", "--dir", d, "list"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        const QStringList lines = QString::fromUtf8(r.out).trimmed().split('\n');
        QCOMPARE(lines.size(), 2);
        QVERIFY(lines[0].startsWith("bart--Tiny-GGUF/Tiny.Q4_K_M.gguf\t"));
        QVERIFY(
            lines[1].startsWith("deepseek-ai--Tiny\t0.5 MB\t" + dir.filePath("deepseek-ai--Tiny")));

        r = lc_test::run_cli({"models", "--dir", d, "rm", "deepseek-ai--Tiny"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QVERIFY(!QFileInfo::exists(dir.filePath("deepseek-ai--Tiny")));

        // Errors: one line, exit 1.
        auto fails = [&](const QStringList& args, const QString& says) {
            auto res = lc_test::run_cli(args);
            const QString err = QString::fromUtf8(res.err);
            QVERIFY2(res.code == 1 && err.count('\n') == 1 && err.startsWith("latentchat-cli: ") &&
                         err.contains(says),
                     qPrintable(res.describe()));
        };
        fails({"models", "--dir", d, "pull", "bart/Nope"}, "no model 'bart/Nope' on the hub");
        fails({"models", "--dir", d, "pull", "bart/Tiny-GGUF", "--file", "Q2_K"}, "Tiny.Q8_0.gguf");
        fails({"models", "--dir", d, "rm", "nothing"}, "no model named 'nothing'");
        fails({"models", "--dir", d, "list", "--file", "x"}, "--file does not apply");
        fails({"models", "--dir", d, "fetch"}, "unknown models action 'fetch'");
        fails({"models"}, "models needs an action");
        qputenv("HF_HUB_OFFLINE", "1");
        fails({"models", "--dir", d, "pull", "deepseek-ai/Tiny"}, "HF_HUB_OFFLINE");
        qunsetenv("HF_HUB_OFFLINE");
        qputenv("HF_ENDPOINT", "http://127.0.0.1:1");
        fails({"models", "--dir", d, "pull", "deepseek-ai/Tiny"},
              "cannot download http://127.0.0.1:1/");
        qputenv("HF_ENDPOINT", QByteArray::fromStdString(hub_.url()));

        // The token reaches the hub from HF_TOKEN.
        hub_.behave({{"tokens", QJsonObject{{"gated/Secret", "s3cret"}}}});
        fails({"models", "--dir", d, "pull", "gated/Secret"}, "set HF_TOKEN");
        qputenv("HF_TOKEN", "s3cret");
        r = lc_test::run_cli({"models", "--dir", d, "pull", "gated/Secret"});
        qunsetenv("HF_TOKEN");
        QVERIFY2(r.code == 0, qPrintable(r.describe()));

        // Without --dir: $XDG_DATA_HOME/LatentChat/models.
        r = lc_test::run_cli({"models", "pull", "bart/Tiny-GGUF", "--file", "Tiny.Q8_0.gguf"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QCOMPARE(QString::fromUtf8(r.out).trimmed(),
                 home_.filePath("data/LatentChat/models/bart--Tiny-GGUF/Tiny.Q8_0.gguf"));

        hub_.search_results(
            QJsonArray{QJsonObject{{"id", "deepseek-ai/Tiny-Chat"},
                                   {"config", QJsonObject{{"model_type", "deepseek_v2"}}}},
                       QJsonObject{{"id", "meta/Tiny-Llama"}}});
        r = lc_test::run_cli({"models", "search", "tiny"});
        QVERIFY2(r.code == 0, qPrintable(r.describe()));
        QCOMPARE(QString::fromUtf8(r.out),
                 QString("deepseek-ai/Tiny-Chat\tdeepseek_v2\t0 downloads\t0 likes\n"));
        r = lc_test::run_cli({"models", "search", "tiny", "--all"});
        QVERIFY2(r.out.contains("meta/Tiny-Llama") && r.out.contains("not MLA"),
                 qPrintable(r.describe()));
    }
};

QTEST_GUILESS_MAIN(TestHub)
#include "test_hub.moc"
