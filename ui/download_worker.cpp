#include "download_worker.h"

#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "base/error.h"
#include "cache_panel.h"
#include "hub/model_store.h"

namespace lc::ui {

namespace fs = std::filesystem;

namespace {

QString describe_time_left(double seconds) {
    if (!(seconds >= 0)) return QString();
    const qint64 s = static_cast<qint64>(std::ceil(seconds));
    if (s < 60) return DownloadWorker::tr("%1 s left").arg(s);
    const qint64 minutes = (s + 59) / 60;
    if (minutes < 60) return DownloadWorker::tr("%1 min left").arg(minutes);
    return DownloadWorker::tr("%1 h %2 min left").arg(minutes / 60).arg(minutes % 60);
}

// models_dir/<owner>--<name>, where pull writes a repo.
fs::path download_folder(const DownloadRequest& r) {
    const fs::path dir = r.models_dir.isEmpty() ? lc::hub::default_models_dir()
                                                : fs::path(r.models_dir.toStdString());
    std::string name = r.repo.toStdString();
    if (const auto slash = name.find('/'); slash != std::string::npos) name.replace(slash, 1, "--");
    return dir / name;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "x-00001-of-00003.gguf" -> "x-"; other names have no split set.
std::optional<std::string> split_set_prefix(const std::string& name) {
    const auto of = name.rfind("-of-");
    if (of == std::string::npos || of < 6 || !ends_with(name, ".gguf")) return std::nullopt;
    const auto dash = name.rfind('-', of - 1);
    if (dash == std::string::npos) return std::nullopt;
    return name.substr(0, dash + 1);
}

bool is_empty_tree(const fs::path& dir) {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
        if (!e.is_directory(ec)) return false;
    return !ec;
}

}  // namespace

QString describe_progress(const DownloadProgress& p) {
    QString text = p.total > 0 ? DownloadWorker::tr("%1 of %2")
                                     .arg(format_bytes(double(p.done)))
                                     .arg(format_bytes(double(p.total)))
                               : format_bytes(double(p.done));
    if (p.bytes_per_s > 0) text += QStringLiteral(" · %1/s").arg(format_bytes(p.bytes_per_s));
    const QString left = describe_time_left(p.seconds_left);
    if (!left.isEmpty()) text += QStringLiteral(" · ") + left;
    return text;
}

void discard_partial_download(const DownloadRequest& request) {
    const fs::path folder = download_folder(request);
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) return;
    if (!request.file.isEmpty()) {
        // The GGUF file's .part, and those of the rest of its split set.
        const fs::path target = folder / request.file.toStdString();
        const std::string name = target.filename().string();
        const std::optional<std::string> prefix = split_set_prefix(name);
        for (const auto& e : fs::directory_iterator(target.parent_path(), ec)) {
            const std::string n = e.path().filename().string();
            const bool ours =
                prefix ? n.starts_with(*prefix) && ends_with(n, ".gguf.part") : n == name + ".part";
            if (ours) fs::remove(e.path(), ec);
        }
    } else {
        // A folder pull that was stopped never finished, so what it wrote goes, but not the
        // GGUF files other pulls put in the same folder.
        std::vector<fs::path> doomed;
        for (const auto& e : fs::recursive_directory_iterator(folder, ec)) {
            const std::string n = e.path().filename().string();
            if (e.is_regular_file(ec) && !ends_with(n, ".gguf") && !ends_with(n, ".gguf.part"))
                doomed.push_back(e.path());
        }
        for (const fs::path& p : doomed)
            fs::remove(p, ec);
    }
    if (is_empty_tree(folder)) fs::remove_all(folder, ec);
}

DownloadWorker::DownloadWorker(const lc::hub::HubOptions& options, QObject* parent)
    : QObject(parent), options_(options) {}

void DownloadWorker::pull(const DownloadRequest& request) {
    const QString key = request.key();
    lc::hub::PullRequest r;
    r.repo = request.repo.toStdString();
    r.revision = request.revision.isEmpty() ? std::string("main") : request.revision.toStdString();
    if (!request.file.isEmpty()) r.file = request.file.toStdString();
    if (!request.models_dir.isEmpty()) r.models_dir = request.models_dir.toStdString();

    // The hub calls back for every chunk; the GUI hears of it at most ~10 times a second.
    QElapsedTimer since_last;
    bool sent_any = false;
    auto on_progress = [&](const lc::hub::Progress& p) {
        if (sent_any && since_last.elapsed() < 100 && p.done < p.total) return;
        sent_any = true;
        since_last.restart();
        DownloadProgress d;
        d.key = key;
        d.file = QString::fromStdString(p.file);
        d.done = p.done;
        d.total = p.total;
        d.bytes_per_s = p.bytes_per_s;
        d.seconds_left = p.seconds_left;
        emit progress(d);
    };
    try {
        const fs::path path = lc::hub::pull(options_, r, on_progress, &stop_);
        emit finished(key, QString::fromStdString(path.string()));
    } catch (const std::exception& e) {
        // A stop we asked for surfaces as the hub's "cancelled" error.
        if (stop_.load()) {
            const bool discard = discard_.load();
            if (discard) discard_partial_download(request);
            emit stopped(key, discard);
        } else {
            emit failed(key, QString::fromUtf8(e.what()));
        }
    }
}

}  // namespace lc::ui
