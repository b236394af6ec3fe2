#pragma once
// The Models page's rows: the recommended MLA models (built in), the models on this machine and
// the hub's search results, each with its size, quantization, download state and fit on this
// machine (lc::check_fit: fits on the GPU / CPU only / too large, and the context that fits).
#include <QAbstractListModel>
#include <QList>
#include <QString>
#include <optional>

#include "session/fit_check.h"

namespace lc::ui {

enum class ModelSource { Recommended, Local, Search };
enum class DownloadState { Remote, Downloading, Paused, Local };

struct ModelEntry {
    ModelSource source = ModelSource::Recommended;
    QString title;                    // "DeepSeek-V2-Lite-Chat Q4_K_M"
    QString repo;                     // "owner/name"; empty for a model that is only local
    QString file;                     // a GGUF file of the repo; empty: the whole folder
    QString quantization;             // "GGUF Q4_K_M", "BF16 safetensors"
    QString note;                     // one line on what it is
    qint64 bytes = 0;                 // to download, or on disk (0: unknown)
    std::optional<ModelShape> shape;  // for the fit check; unknown for search results
    bool bundled = false;             // the model that comes with the app ("Use" sets "")
    DownloadState state = DownloadState::Remote;
    QString local_path;  // what --model takes, once on this machine
    QString local_name;  // lc::hub::LocalModel::name, for removal
    bool in_hf_cache = false;
    QString progress_text;  // while downloading or paused
    int percent = -1;       // while downloading (-1: unknown)

    // Identifies a download (the same as DownloadRequest::key()); a model that is only local,
    // by its path.
    QString key() const { return repo.isEmpty() ? local_path : repo + QLatin1Char('|') + file; }
};

class ModelListModel : public QAbstractListModel {
    Q_OBJECT

public:
    enum Role {
        FitTextRole = Qt::UserRole + 1,  // "Fits on the GPU: 163,840 tokens of context"
        FitPlaceRole,                    // int(lc::FitPlace), or -1 when not known
        ContextTokensRole,               // qint64, -1 when not known
        StateRole,                       // int(DownloadState)
        SourceRole,                      // int(ModelSource)
        LocalPathRole,
        KeyRole,
        SizeRole,
        QuantizationRole,
    };

    explicit ModelListModel(QObject* parent = nullptr) : QAbstractListModel(parent) {}

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    const ModelEntry& entry(int row) const { return rows_.at(row); }
    // The first row with this download key, or -1.
    int find(const QString& key) const;

    // Each replaces its part of the list (rows stay in the order recommended, local, search).
    void set_recommended(const QList<ModelEntry>& entries);
    void set_local(const QList<ModelEntry>& entries);
    void set_search_results(const QList<ModelEntry>& entries);
    void set_memory(const MachineMemory& memory);
    const std::optional<MachineMemory>& memory() const { return memory_; }

    // Updates the rows of one download in place.
    void set_download_state(const QString& key, DownloadState state, const QString& text = {},
                            int percent = -1);

    // The fit of `e` on this machine; nullopt while the machine or the model's shape is unknown.
    std::optional<Fit> fit(const ModelEntry& e) const;
    QString fit_text(const ModelEntry& e) const;

private:
    void rebuild();

    QList<ModelEntry> recommended_, local_, search_;
    QList<ModelEntry> rows_;
    std::optional<MachineMemory> memory_;
};

}  // namespace lc::ui
