#pragma once
// A model download on its own thread: lc::hub::pull with its progress turned into queued
// signals (at most ~10 a second). Pause stops the pull between chunks and keeps the .part files,
// so that pulling again resumes with HTTP Range; cancel stops it and removes what it had written.
#include <QElapsedTimer>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <atomic>

#include "hub/hub.h"

namespace lc::ui {

struct DownloadRequest {
    QString repo;
    QString file;  // a GGUF file of the repo; empty: the whole model folder
    QString revision = QStringLiteral("main");
    QString models_dir;
    // Identifies the download in the signals (the page's row key).
    QString key() const { return repo + QLatin1Char('|') + file; }
};

struct DownloadProgress {
    QString key;
    QString file;  // the file being transferred
    qint64 done = 0, total = 0;
    double bytes_per_s = 0;
    double seconds_left = -1;  // -1: unknown
};

// "3.10 GiB of 10.4 GiB · 45.0 MiB/s · 3 min left"
QString describe_progress(const DownloadProgress& p);

// Removes what a stopped pull of `request` wrote: its .part files and, for a folder pull, the
// files it finished; GGUF files of other pulls into the same folder stay. An emptied folder goes.
void discard_partial_download(const DownloadRequest& request);

class DownloadWorker : public QObject {
    Q_OBJECT

public:
    explicit DownloadWorker(const lc::hub::HubOptions& options, QObject* parent = nullptr);

    // Clears a pause or cancel left from the last pull: called by the GUI thread before it
    // queues the next pull (one at a time), so a pause asked for meanwhile is not lost.
    void arm() {
        discard_.store(false);
        stop_.store(false);
    }
    // Callable from any thread; the pull stops at its next chunk.
    void request_pause() { stop_.store(true); }
    void request_cancel() {
        discard_.store(true);
        stop_.store(true);
    }

public slots:
    // Emits progress, then finished, stopped or failed.
    void pull(const lc::ui::DownloadRequest& request);

signals:
    void progress(const lc::ui::DownloadProgress& progress);
    void finished(const QString& key, const QString& model_path);
    // Paused (`discarded` false: the .part files stay) or cancelled.
    void stopped(const QString& key, bool discarded);
    void failed(const QString& key, const QString& message);

private:
    lc::hub::HubOptions options_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> discard_{false};
};

}  // namespace lc::ui

Q_DECLARE_METATYPE(lc::ui::DownloadRequest)
Q_DECLARE_METATYPE(lc::ui::DownloadProgress)
