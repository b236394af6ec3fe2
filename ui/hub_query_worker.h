#pragma once
// The Models page's short jobs off the GUI thread: a search of the hub, and the probe of this
// machine's free RAM and GPU memory (the first CUDA call can take seconds without a driver).
// Downloads have their own thread (download_worker.h), so a search never waits behind one.
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QStringList>

#include "hub/hub.h"
#include "session/fit_check.h"

namespace lc::ui {

class HubQueryWorker : public QObject {
    Q_OBJECT

public:
    explicit HubQueryWorker(const lc::hub::HubOptions& options, QObject* parent = nullptr)
        : QObject(parent), options_(options) {}

public slots:
    // MLA models whose name matches `text`; emits search_done or search_failed.
    void search(const QString& text, int limit);
    // The repo's GGUF models (each split set by its first part), so that a GGUF repo found by a
    // search can be offered file by file; emits files_listed or listing_failed.
    void list_gguf_files(const QString& repo);
    void probe_memory();

signals:
    void search_done(const QString& text, const QList<lc::hub::SearchResult>& results);
    void search_failed(const QString& text, const QString& message);
    void memory_probed(const lc::MachineMemory& memory);
    // `has_folder_model`: the repo also has safetensors weights (a folder model to pull whole).
    void files_listed(const QString& repo, const QStringList& gguf_files,
                      const QList<qint64>& gguf_bytes, bool has_folder_model);
    void listing_failed(const QString& repo, const QString& message);

private:
    lc::hub::HubOptions options_;
};

}  // namespace lc::ui

Q_DECLARE_METATYPE(lc::hub::SearchResult)
Q_DECLARE_METATYPE(lc::MachineMemory)
