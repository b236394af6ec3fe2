#include "models_page.h"

#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSet>
#include <QVBoxLayout>
#include <exception>
#include <filesystem>

#include "cache_panel.h"
#include "formats/config.h"
#include "hub/model_store.h"
#include "recommended_models.h"
#include "session/model_locator.h"

namespace lc::ui {

namespace fs = std::filesystem;

namespace {

constexpr int kSearchLimit = 30;

// "owner/name" from the folder name pull writes ("owner--name"); empty when it is not one.
QString repo_of_folder(const QString& folder) {
    const int dashes = folder.indexOf(QStringLiteral("--"));
    if (dashes <= 0) return QString();
    return folder.left(dashes) + QLatin1Char('/') + folder.mid(dashes + 2);
}

QString folder_of_repo(const QString& repo) {
    QString name = repo;
    return name.replace(QLatin1Char('/'), QStringLiteral("--"));
}

std::optional<ModelShape> shape_of(const fs::path& path) {
    try {
        const ModelConfig c = ModelConfig::load(path);
        return ModelShape{c.num_hidden_layers, c.kv_lora_rank, c.qk_rope_head_dim,
                          c.max_position_embeddings};
    } catch (const std::exception&) {
        return std::nullopt;  // half downloaded, or not a model we read: shown without a fit
    }
}

// A model of this machine as a row; its repo and file come from where pull put it, so that a
// row of the recommended list or of a search finds it by key.
ModelEntry local_entry(const lc::hub::LocalModel& m, const fs::path& models_dir) {
    ModelEntry e;
    e.source = ModelSource::Local;
    e.title = QString::fromStdString(m.name);
    e.local_path = QString::fromStdString(m.path.string());
    e.local_name = e.title;
    e.bytes = m.bytes;
    e.in_hf_cache = m.in_hf_cache;
    e.state = m.complete ? DownloadState::Local : DownloadState::Paused;
    const bool gguf = m.path.extension() == ".gguf";
    e.quantization = gguf ? QStringLiteral("GGUF") : QStringLiteral("safetensors");
    if (m.in_hf_cache) {
        e.note = ModelsPage::tr("in the huggingface_hub cache");
        // "owner/name[@revision][/file.gguf]"
        e.repo = e.title.section(QLatin1Char('@'), 0, 0).section(QLatin1Char('/'), 0, 1);
        if (gguf) e.file = QString::fromStdString(m.path.filename().string());
    } else {
        const fs::path rel = m.path.lexically_relative(models_dir);
        if (!rel.empty() && *rel.begin() != "..") {
            e.repo = repo_of_folder(QString::fromStdString(rel.begin()->string()));
            if (gguf && !e.repo.isEmpty()) {
                fs::path file;
                for (auto it = std::next(rel.begin()); it != rel.end(); ++it)
                    file /= *it;
                e.file = QString::fromStdString(file.generic_string());
            }
        }
    }
    if (m.complete) e.shape = shape_of(m.path);
    return e;
}

// Whether a download of `e` was stopped with its .part files kept.
bool has_partial_files(const ModelEntry& e, const QString& models_dir) {
    const QString folder = QDir(models_dir).filePath(folder_of_repo(e.repo));
    if (!e.file.isEmpty()) {
        const QFileInfo target(QDir(folder).filePath(e.file));
        const QString name = target.fileName();
        const int split = name.indexOf(QStringLiteral("-00001-of-"));
        const QString pattern = split > 0 ? name.left(split) + QStringLiteral("-*.gguf.part")
                                          : name + QStringLiteral(".part");
        QDirIterator it(target.absolutePath(), {pattern}, QDir::Files);
        return it.hasNext();
    }
    // A folder pull marks its folder until every file is in.
    if (QFileInfo::exists(QDir(folder).filePath(QString::fromLatin1(lc::hub::kPullingMarker))))
        return true;
    QDirIterator it(folder, {QStringLiteral("*.part")}, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext())
        if (!it.next().endsWith(QStringLiteral(".gguf.part"))) return true;
    return false;
}

}  // namespace

ModelsPage::ModelsPage(const Options& options, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Models"));
    setObjectName(QStringLiteral("modelsPage"));
    setAccessibleName(tr("Models"));
    setAccessibleDescription(tr("Find, download, check the fit of and manage models"));
    qRegisterMetaType<lc::ui::DownloadRequest>();
    qRegisterMetaType<lc::ui::DownloadProgress>();
    qRegisterMetaType<lc::MachineMemory>();
    qRegisterMetaType<QList<lc::hub::SearchResult>>();

    models_dir_ = options.models_dir.isEmpty()
                      ? QString::fromStdString(lc::hub::default_models_dir().string())
                      : options.models_dir;
    if (options.bundled_dir) {
        bundled_dir_ = *options.bundled_dir;
    } else if (const auto dir = lc::default_model_dir(LATENTCHAT_SOURCE_MODELS)) {
        bundled_dir_ = QString::fromStdString(dir->string());
    }
    model_ = new ModelListModel(this);
    build_widgets();
    start_workers(options.hub ? *options.hub : lc::hub::HubOptions::from_environment());
    refresh_local();
    if (options.memory)
        show_memory(*options.memory);
    else
        emit request_probe();
    resize(760, 620);
}

ModelsPage::~ModelsPage() {
    if (downloader_) downloader_->request_pause();  // the .part files stay for a resume
    download_thread_.quit();
    query_thread_.quit();
    download_thread_.wait();
    query_thread_.wait();
}

void ModelsPage::start_workers(const lc::hub::HubOptions& hub) {
    downloader_ = new DownloadWorker(hub);
    downloader_->moveToThread(&download_thread_);
    connect(&download_thread_, &QThread::finished, downloader_, &QObject::deleteLater);
    connect(this, &ModelsPage::request_pull, downloader_, &DownloadWorker::pull);
    connect(downloader_, &DownloadWorker::progress, this, &ModelsPage::on_progress);
    connect(downloader_, &DownloadWorker::finished, this, &ModelsPage::on_finished);
    connect(downloader_, &DownloadWorker::stopped, this, &ModelsPage::on_stopped);
    connect(downloader_, &DownloadWorker::failed, this, &ModelsPage::on_failed);

    query_ = new HubQueryWorker(hub);
    query_->moveToThread(&query_thread_);
    connect(&query_thread_, &QThread::finished, query_, &QObject::deleteLater);
    connect(this, &ModelsPage::request_search, query_, &HubQueryWorker::search);
    connect(this, &ModelsPage::request_probe, query_, &HubQueryWorker::probe_memory);
    connect(query_, &HubQueryWorker::search_done, this, &ModelsPage::on_search_done);
    connect(query_, &HubQueryWorker::search_failed, this,
            [this](const QString& text, const QString& message) {
                search_button_->setEnabled(true);
                show_status(QString());
                show_error(tr("The search for “%1” failed: %2").arg(text, message));
                emit search_finished(-1);
            });
    connect(query_, &HubQueryWorker::memory_probed, this, &ModelsPage::show_memory);
    connect(this, &ModelsPage::request_gguf_files, query_, &HubQueryWorker::list_gguf_files);
    connect(query_, &HubQueryWorker::files_listed, this, &ModelsPage::on_files_listed);
    connect(query_, &HubQueryWorker::listing_failed, this,
            [this](const QString& repo, const QString& message) {
                show_status(QString());
                show_error(tr("The files of %1 could not be listed: %2").arg(repo, message));
            });

    download_thread_.start();
    query_thread_.start();
}

void ModelsPage::build_widgets() {
    machine_ = new QLabel(tr("Checking this machine's memory…"), this);
    machine_->setObjectName(QStringLiteral("machineMemory"));
    machine_->setAccessibleName(tr("This machine's memory"));

    search_field_ = new QLineEdit(this);
    search_field_->setObjectName(QStringLiteral("modelSearch"));
    search_field_->setAccessibleName(tr("Search the hub"));
    search_field_->setPlaceholderText(tr("Search the Hugging Face hub for MLA models by name"));
    search_field_->setClearButtonEnabled(true);
    search_button_ = new QPushButton(tr("&Search"), this);
    search_button_->setObjectName(QStringLiteral("searchButton"));
    auto* search_row = new QHBoxLayout;
    search_row->addWidget(search_field_, 1);
    search_row->addWidget(search_button_);

    list_ = new QListView(this);
    list_->setObjectName(QStringLiteral("modelList"));
    list_->setAccessibleName(tr("Models"));
    list_->setModel(model_);
    list_->setWordWrap(true);
    list_->setAlternatingRowColors(true);
    list_->setSpacing(2);
    list_->setSelectionMode(QAbstractItemView::SingleSelection);

    progress_ = new QProgressBar(this);
    progress_->setObjectName(QStringLiteral("downloadProgress"));
    progress_->setAccessibleName(tr("Download progress"));
    progress_->setVisible(false);
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("modelsStatus"));
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    error_ = new QLabel(this);
    error_->setObjectName(QStringLiteral("modelsError"));
    error_->setAccessibleName(tr("Error"));
    error_->setWordWrap(true);
    error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QPalette palette = error_->palette();
    palette.setColor(QPalette::WindowText, QColor(0xc0, 0x1c, 0x28));
    error_->setPalette(palette);
    error_->setVisible(false);

    auto button = [this](const QString& text, const char* name, const QString& what) {
        auto* b = new QPushButton(text, this);
        b->setObjectName(QString::fromLatin1(name));
        b->setAccessibleDescription(what);
        return b;
    };
    download_ = button(tr("&Download"), "downloadButton", tr("Download the selected model"));
    resume_ = button(tr("&Resume"), "resumeButton", tr("Resume the paused download"));
    pause_ = button(tr("&Pause"), "pauseButton", tr("Pause the download, keeping what it has"));
    cancel_ = button(tr("&Cancel download"), "cancelButton",
                     tr("Stop the download and remove what it wrote"));
    delete_ = button(tr("De&lete"), "deleteButton", tr("Delete the selected model's files"));
    use_ = button(tr("&Use"), "useButton", tr("Chat with the selected model"));
    auto* buttons = new QHBoxLayout;
    for (QPushButton* b : {download_, resume_, pause_, cancel_, delete_})
        buttons->addWidget(b);
    buttons->addStretch();
    buttons->addWidget(use_);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(machine_);
    layout->addLayout(search_row);
    layout->addWidget(list_, 1);
    layout->addWidget(progress_);
    layout->addWidget(status_);
    layout->addWidget(error_);
    layout->addLayout(buttons);

    connect(search_button_, &QPushButton::clicked, this, [this] { search(search_field_->text()); });
    connect(search_field_, &QLineEdit::returnPressed, this,
            [this] { search(search_field_->text()); });
    connect(download_, &QPushButton::clicked, this, [this] { download(selected_row()); });
    connect(resume_, &QPushButton::clicked, this, [this] { download(selected_row()); });
    connect(pause_, &QPushButton::clicked, this, &ModelsPage::pause);
    connect(cancel_, &QPushButton::clicked, this, &ModelsPage::cancel);
    connect(use_, &QPushButton::clicked, this, [this] { use(selected_row()); });
    connect(delete_, &QPushButton::clicked, this, [this] {
        const int row = selected_row();
        if (row < 0) return;
        const ModelEntry e = model_->entry(row);
        auto* box = new QMessageBox(
            QMessageBox::Question, tr("Delete model"),
            tr("Delete %1 (%2) from this machine?").arg(e.title, format_bytes(double(e.bytes))),
            QMessageBox::Yes | QMessageBox::No, this);
        box->setObjectName(QStringLiteral("deleteQuestion"));
        box->setAttribute(Qt::WA_DeleteOnClose);
        connect(box, &QMessageBox::accepted, this, [this, key = e.key()] {
            if (const int r = model_->find(key); r >= 0) remove(r);
        });
        box->open();
    });
    connect(list_, &QListView::doubleClicked, this, [this](const QModelIndex& index) {
        if (model_->entry(index.row()).state == DownloadState::Local) use(index.row());
    });
    connect(list_->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &ModelsPage::update_buttons);
    connect(model_, &QAbstractItemModel::dataChanged, this, &ModelsPage::update_buttons);
    connect(model_, &QAbstractItemModel::modelReset, this, &ModelsPage::update_buttons);
    update_buttons();
}

void ModelsPage::show_memory(const MachineMemory& memory) {
    model_->set_memory(memory);
    const QString ram = format_bytes(double(memory.ram_bytes));
    machine_->setText(memory.gpu_bytes > 0
                          ? tr("This machine: %1 of RAM available, %2 free on the GPU")
                                .arg(ram, format_bytes(double(memory.gpu_bytes)))
                          : tr("This machine: %1 of RAM available, no GPU").arg(ram));
}

QString ModelsPage::error_text() const {
    return error_->text();
}

void ModelsPage::show_error(const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
}

void ModelsPage::show_status(const QString& message) {
    status_->setText(message);
}

int ModelsPage::selected_row() const {
    const QModelIndex i = list_->currentIndex();
    return i.isValid() ? i.row() : -1;
}

void ModelsPage::select_key(const QString& key) {
    const int row = key.isEmpty() ? -1 : model_->find(key);
    if (row >= 0) list_->setCurrentIndex(model_->index(row));
}

void ModelsPage::update_buttons() {
    const int row = selected_row();
    const ModelEntry* e = row >= 0 && row < model_->rowCount() ? &model_->entry(row) : nullptr;
    const bool idle = active_key_.isEmpty();
    const DownloadState state = e ? e->state : DownloadState::Remote;
    download_->setEnabled(e && idle && !e->repo.isEmpty() && state == DownloadState::Remote);
    resume_->setEnabled(e && idle && !e->repo.isEmpty() && state == DownloadState::Paused);
    pause_->setEnabled(!idle);
    cancel_->setEnabled(!idle || (e && state == DownloadState::Paused && !e->repo.isEmpty()));
    delete_->setEnabled(e && state == DownloadState::Local && !e->bundled && !e->in_hf_cache &&
                        !e->local_name.isEmpty());
    use_->setEnabled(e && state == DownloadState::Local);
    if (!idle)
        download_->setToolTip(tr("One download at a time: pause or cancel the running one"));
    else
        download_->setToolTip(QString());
}

void ModelsPage::apply_local(QList<ModelEntry>& entries) const {
    for (ModelEntry& e : entries) {
        if (e.bundled || e.repo.isEmpty()) continue;
        e.state = DownloadState::Remote;
        e.progress_text.clear();
        e.percent = -1;
        for (const ModelEntry& l : local_) {
            if (l.key() != e.key()) continue;
            e.state = l.state;
            e.local_path = l.local_path;
            e.local_name = l.local_name;
            e.in_hf_cache = l.in_hf_cache;
            if (l.state == DownloadState::Local) {
                e.bytes = l.bytes;
                if (l.shape) e.shape = l.shape;
            }
            break;
        }
        if (e.state == DownloadState::Remote && has_partial_files(e, models_dir_))
            e.state = DownloadState::Paused;
        if (e.key() == active_key_) {
            e.state = DownloadState::Downloading;
            e.progress_text = active_text_;
            e.percent = active_percent_;
        }
    }
}

void ModelsPage::refresh_local() {
    const int row = selected_row();
    const QString selected = row >= 0 ? model_->entry(row).key() : QString();
    local_.clear();
    const fs::path dir = models_dir_.toStdString();
    try {
        for (const lc::hub::LocalModel& m : lc::hub::list_local_models(dir))
            local_ << local_entry(m, dir);
    } catch (const std::exception& e) {
        show_error(tr("The models on this machine could not be listed: %1")
                       .arg(QString::fromUtf8(e.what())));
    }
    QList<ModelEntry> recommended = recommended_models(bundled_dir_);
    apply_local(recommended);
    apply_local(search_entries_);
    // Models that are a row of the lists above already are not shown twice.
    QSet<QString> shown;
    for (const ModelEntry& e : recommended + search_entries_)
        shown << e.key();
    QList<ModelEntry> others;
    for (const ModelEntry& e : local_)
        if (!shown.contains(e.key()) && e.local_path != bundled_dir_) others << e;
    model_->set_recommended(recommended);
    model_->set_local(others);
    model_->set_search_results(search_entries_);
    select_key(selected);
    update_buttons();
}

void ModelsPage::download(int row) {
    if (row < 0 || row >= model_->rowCount() || !active_key_.isEmpty()) return;
    const ModelEntry e = model_->entry(row);
    if (e.repo.isEmpty() || e.state == DownloadState::Local) return;
    show_error(QString());
    // A search finds repos; one of GGUF files is offered file by file before anything is pulled.
    if (e.source == ModelSource::Search && e.file.isEmpty() && !listed_repos_.contains(e.repo)) {
        show_status(tr("Looking at the files of %1…").arg(e.repo));
        emit request_gguf_files(e.repo);
        return;
    }
    start_download(e);
}

void ModelsPage::start_download(const ModelEntry& e) {
    DownloadRequest request;
    request.repo = e.repo;
    request.file = e.file;
    request.models_dir = models_dir_;
    active_key_ = request.key();
    active_text_ = e.state == DownloadState::Paused ? tr("resuming…") : tr("starting…");
    active_percent_ = -1;
    show_status(tr("Downloading %1…").arg(e.title));
    progress_->setRange(0, 0);  // busy until the first progress arrives
    progress_->setVisible(true);
    model_->set_download_state(active_key_, DownloadState::Downloading, active_text_);
    downloader_->arm();
    emit request_pull(request);
    update_buttons();
}

void ModelsPage::pause() {
    if (active_key_.isEmpty()) return;
    downloader_->request_pause();
    show_status(tr("Pausing…"));
}

void ModelsPage::cancel() {
    if (!active_key_.isEmpty()) {
        downloader_->request_cancel();
        show_status(tr("Cancelling…"));
        return;
    }
    const int row = selected_row();
    if (row < 0) return;
    const ModelEntry e = model_->entry(row);
    if (e.state != DownloadState::Paused || e.repo.isEmpty()) return;
    DownloadRequest request;
    request.repo = e.repo;
    request.file = e.file;
    request.models_dir = models_dir_;
    discard_partial_download(request);
    show_status(tr("Cancelled the download of %1").arg(e.title));
    refresh_local();
}

void ModelsPage::remove(int row) {
    if (row < 0 || row >= model_->rowCount()) return;
    const ModelEntry e = model_->entry(row);
    if (e.state != DownloadState::Local || e.bundled || e.local_name.isEmpty()) return;
    show_error(QString());
    try {
        lc::hub::remove_local_model(models_dir_.toStdString(), e.local_name.toStdString());
        show_status(tr("Deleted %1").arg(e.title));
    } catch (const std::exception& ex) {
        show_error(tr("%1 could not be deleted: %2").arg(e.title, QString::fromUtf8(ex.what())));
    }
    refresh_local();
}

void ModelsPage::use(int row) {
    if (row < 0 || row >= model_->rowCount()) return;
    const ModelEntry& e = model_->entry(row);
    if (e.state != DownloadState::Local) return;
    show_status(tr("Now using %1").arg(e.title));
    emit model_chosen(e.bundled ? QString() : e.local_path);
}

void ModelsPage::search(const QString& text) {
    const QString query = text.trimmed();
    show_error(QString());
    if (query.isEmpty()) {
        search_entries_.clear();
        refresh_local();
        return;
    }
    search_button_->setEnabled(false);
    show_status(tr("Searching the hub for “%1”…").arg(query));
    emit request_search(query, kSearchLimit);
}

void ModelsPage::on_search_done(const QString& text, const QList<lc::hub::SearchResult>& results) {
    search_button_->setEnabled(true);
    search_entries_.clear();
    listed_repos_.clear();
    for (const lc::hub::SearchResult& r : results) {
        ModelEntry e;
        e.source = ModelSource::Search;
        e.repo = QString::fromStdString(r.repo);
        e.title = e.repo;
        e.quantization = QString::fromStdString(r.model_type);
        e.note = tr("%L1 downloads · %L2 likes").arg(r.downloads).arg(r.likes);
        search_entries_ << e;
    }
    refresh_local();
    show_status(
        results.isEmpty()
            ? tr("No MLA model on the hub matches “%1”").arg(text)
            : tr("%n MLA model(s) on the hub match “%1”", nullptr, int(results.size())).arg(text));
    emit search_finished(int(results.size()));
}

void ModelsPage::on_files_listed(const QString& repo, const QStringList& files,
                                 const QList<qint64>& bytes, bool has_folder_model) {
    listed_repos_ << repo;
    const int at = [&] {
        for (int i = 0; i < search_entries_.size(); ++i)
            if (search_entries_[i].repo == repo && search_entries_[i].file.isEmpty()) return i;
        return -1;
    }();
    if (at < 0) return;  // a new search replaced it meanwhile
    const ModelEntry found = search_entries_[at];
    if (files.isEmpty()) {
        if (active_key_.isEmpty()) start_download(found);
        return;
    }
    static const QRegularExpression quant(
        QStringLiteral("(IQ[1-4]_[A-Z]+|Q[2-8]_K(_[SML])?|Q[4-8]_[01]|BF16|F16|F32)"),
        QRegularExpression::CaseInsensitiveOption);
    QList<ModelEntry> rows;
    for (int i = 0; i < files.size(); ++i) {
        ModelEntry e = found;
        e.file = files[i];
        e.title = repo + QStringLiteral(" · ") + files[i];
        e.bytes = i < bytes.size() ? bytes[i] : 0;
        const QRegularExpressionMatch m = quant.match(QFileInfo(files[i]).fileName());
        e.quantization = QStringLiteral("GGUF") +
                         (m.hasMatch() ? QLatin1Char(' ') + m.captured(1).toUpper() : QString());
        rows << e;
    }
    // The repo's own row stays where it also holds a folder model to pull whole.
    if (!has_folder_model) search_entries_.removeAt(at);
    for (int i = 0; i < rows.size(); ++i)
        search_entries_.insert(has_folder_model ? at + 1 + i : at + i, rows[i]);
    refresh_local();
    select_key(rows.front().key());
    show_status(
        tr("%1 has %n GGUF model(s): choose one and download it", nullptr, int(files.size()))
            .arg(repo));
}

void ModelsPage::on_progress(const DownloadProgress& p) {
    if (p.key != active_key_) return;
    active_percent_ = p.total > 0 ? int(p.done * 100 / p.total) : -1;
    active_text_ = describe_progress(p);
    model_->set_download_state(p.key, DownloadState::Downloading, active_text_, active_percent_);
    if (active_percent_ >= 0) {
        progress_->setRange(0, 100);
        progress_->setValue(active_percent_);
    }
    const int row = model_->find(p.key);
    show_status(tr("Downloading %1 (%2): %3")
                    .arg(row >= 0 ? model_->entry(row).title : p.key, p.file, active_text_));
}

void ModelsPage::on_finished(const QString& key, const QString& path) {
    active_key_.clear();
    progress_->setVisible(false);
    show_status(tr("Downloaded and checked: %1").arg(path));
    refresh_local();
    emit download_finished(key, path);
}

void ModelsPage::on_stopped(const QString& key, bool discarded) {
    active_key_.clear();
    progress_->setVisible(false);
    show_status(discarded ? tr("Download cancelled; what it wrote is removed")
                          : tr("Download paused; Resume continues where it stopped"));
    refresh_local();
    emit download_stopped(key, discarded);
}

void ModelsPage::on_failed(const QString& key, const QString& message) {
    active_key_.clear();
    progress_->setVisible(false);
    show_status(QString());
    refresh_local();
    show_error(tr("The download failed: %1").arg(message));
    emit download_failed(key, message);
}

}  // namespace lc::ui
