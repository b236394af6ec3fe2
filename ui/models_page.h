#pragma once
// The Models page (issue 20): the recommended MLA models, the ones on this machine and a search
// of the hub, each with its size, quantization and fit on this machine; download with progress,
// pause, resume and cancel; delete; "Use" makes a model the current one. Hub calls run on two
// worker threads (downloads, and searches with the memory probe); errors show in the page.
#include <QDialog>
#include <QSet>
#include <QString>
#include <QThread>
#include <optional>

#include "download_worker.h"
#include "hub/hub.h"
#include "hub_query_worker.h"
#include "model_list_model.h"
#include "session/fit_check.h"

class QLabel;
class QLineEdit;
class QListView;
class QProgressBar;
class QPushButton;

namespace lc::ui {

class ModelsPage : public QDialog {
    Q_OBJECT

public:
    struct Options {
        QString models_dir;                      // empty: lc::hub::default_models_dir()
        std::optional<lc::hub::HubOptions> hub;  // empty: from HF_ENDPOINT, HF_TOKEN, ...
        std::optional<MachineMemory> memory;     // empty: probed on the worker thread
        std::optional<QString> bundled_dir;      // empty: the default model's folder
    };

    explicit ModelsPage(const Options& options = Options(), QWidget* parent = nullptr);
    // A running download is paused (its .part files stay for a later resume).
    ~ModelsPage() override;

    ModelListModel* model() const { return model_; }
    QListView* list() const { return list_; }
    QString models_dir() const { return models_dir_; }
    // The key of the running download; empty when none runs.
    QString active_download() const { return active_key_; }
    QString error_text() const;

    // What the buttons do, on a row of model().
    void download(int row);  // also resumes a paused one
    void pause();
    void cancel();         // the running download, else the selected paused one
    void remove(int row);  // deletes the model's files (no question asked)
    void use(int row);
    void search(const QString& text);
    // Scans the models folder and the huggingface_hub cache again.
    void refresh_local();

signals:
    // "Use": the path to set as the current model ("" for the bundled model).
    void model_chosen(const QString& path);
    void download_finished(const QString& key, const QString& model_path);
    void download_stopped(const QString& key, bool discarded);
    void download_failed(const QString& key, const QString& message);
    void search_finished(int results);

    // Queued to the workers.
    void request_pull(const lc::ui::DownloadRequest& request);
    void request_search(const QString& text, int limit);
    void request_gguf_files(const QString& repo);
    void request_probe();

private:
    void build_widgets();
    void start_workers(const lc::hub::HubOptions& hub);
    void show_memory(const MachineMemory& memory);
    void on_progress(const DownloadProgress& p);
    void on_finished(const QString& key, const QString& path);
    void on_stopped(const QString& key, bool discarded);
    void on_failed(const QString& key, const QString& message);
    void on_search_done(const QString& text, const QList<lc::hub::SearchResult>& results);
    void on_files_listed(const QString& repo, const QStringList& files, const QList<qint64>& bytes,
                         bool has_folder_model);
    void start_download(const ModelEntry& e);
    void show_error(const QString& message);
    void show_status(const QString& message);
    void update_buttons();
    int selected_row() const;
    void select_key(const QString& key);
    // Marks entries found on this machine (or half-downloaded) as such.
    void apply_local(QList<ModelEntry>& entries) const;

    QString models_dir_;
    QString bundled_dir_;
    ModelListModel* model_ = nullptr;
    QList<ModelEntry> local_;           // every model on this machine, as rows
    QList<ModelEntry> search_entries_;  // the last search's results, as the hub gave them
    QSet<QString> listed_repos_;        // search results whose GGUF files are rows of their own
    QString active_key_;                // the running download
    QString active_text_;               // its progress, as last shown
    int active_percent_ = -1;

    QThread download_thread_, query_thread_;
    DownloadWorker* downloader_ = nullptr;
    HubQueryWorker* query_ = nullptr;

    QLabel* machine_ = nullptr;
    QLineEdit* search_field_ = nullptr;
    QPushButton* search_button_ = nullptr;
    QListView* list_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* error_ = nullptr;
    QPushButton *download_ = nullptr, *resume_ = nullptr, *pause_ = nullptr, *cancel_ = nullptr,
                *delete_ = nullptr, *use_ = nullptr;
};

}  // namespace lc::ui
