#include "main_window.h"

#include "engine/backend_factory.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSaveFile>
#include <QSettings>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QVBoxLayout>

#include "base/error.h"
#include "settings_dialog.h"

namespace lc::ui {

MainWindow::MainWindow(QSettings& store, const QString& history_file, QWidget* parent)
    : QMainWindow(parent), store_(store) {
    setWindowTitle("LatentChat");
    setObjectName("mainWindow");
    // PNGs at several sizes: crisp at any scale without depending on the SVG image plugin.
    QIcon icon;
    for (int size : {32, 64, 128, 256})
        icon.addFile(QString(":/icons/latentchat-%1.png").arg(size));
    setWindowIcon(icon);
    settings_ = ConversationSettings::load_defaults(store_);

    chat_ = new ChatModel(this);
    view_ = new ChatView(chat_, this);
    input_ = new ChatInput(this);
    input_->setMaximumHeight(120);
    send_ = new QPushButton(tr("&Send"), this);
    send_->setObjectName("sendButton");
    send_->setAccessibleName(tr("Send message"));
    stop_ = new QPushButton(tr("S&top"), this);
    stop_->setObjectName("stopButton");
    stop_->setAccessibleName(tr("Stop generating"));
    stop_->setVisible(false);

    find_ = new QLineEdit(this);
    find_->setObjectName("findField");
    find_->setAccessibleName(tr("Find in conversation"));
    find_->setPlaceholderText(tr("Find in conversation (Enter for next, Esc to close)"));
    find_->setVisible(false);

    auto* input_row = new QHBoxLayout;
    input_row->addWidget(input_, 1);
    auto* buttons = new QVBoxLayout;
    buttons->addWidget(send_);
    buttons->addWidget(stop_);
    buttons->addStretch();
    input_row->addLayout(buttons);

    cache_note_ = new QLabel(this);
    cache_note_->setObjectName("cacheNote");
    cache_note_->setAccessibleName(tr("Saved latent cache"));
    cache_note_->setForegroundRole(QPalette::PlaceholderText);
    cache_note_->setWordWrap(true);

    auto* left = new QWidget(this);
    auto* column = new QVBoxLayout(left);
    column->addWidget(find_);
    column->addWidget(view_, 1);
    column->addWidget(cache_note_);
    column->addLayout(input_row);

    cache_ = new CachePanel(this);
    sidebar_ = new HistorySidebar(this);
    auto* splitter = new QSplitter(this);
    splitter->addWidget(sidebar_);
    splitter->addWidget(left);
    splitter->addWidget(cache_);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 3);
    splitter->setStretchFactor(2, 2);
    splitter->setSizes({230, 560, 450});
    setCentralWidget(splitter);

    model_label_ = new QLabel(tr("No model"), this);
    model_label_->setAccessibleName(tr("Model"));
    progress_ = new QProgressBar(this);
    progress_->setAccessibleName(tr("Model loading progress"));
    progress_->setMaximumWidth(200);
    progress_->setVisible(false);
    statusBar()->addWidget(model_label_, 1);
    statusBar()->addPermanentWidget(progress_);

    build_menus();

    // The history database; without it the app still chats, it just does not remember.
    QString db = history_file;
    if (db.isEmpty()) {
        const QString folder = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
        QDir().mkpath(folder);
        db = folder + "/history.db";
    }
    try {
        history_ = std::make_unique<HistoryStore>(db.toStdString());
    } catch (const Error& e) {
        QTimer::singleShot(0, this, [this, message = QString::fromUtf8(e.what())] {
            show_error(tr("The conversation history is unavailable"), message);
        });
    }
    // Deleted conversations can be undone for 30 days, then they go for good.
    if (history_) {
        try {
            history_->purge_deleted(now_ms() - int64_t(30) * 24 * 3600 * 1000);
        } catch (const Error&) {
            // A read-only or busy database keeps them; nothing is lost.
        }
    }
    sidebar_->set_store(history_.get());
    connect(sidebar_, &HistorySidebar::new_chat_requested, this, &MainWindow::new_chat);
    connect(sidebar_, &HistorySidebar::conversation_selected, this,
            [this](qint64 id) { open_conversation(id); });
    connect(sidebar_, &HistorySidebar::search_result_selected, this,
            [this](qint64 id, qint64 message) { open_conversation(id, message); });
    connect(sidebar_, &HistorySidebar::export_requested, this, &MainWindow::export_conversation);
    connect(sidebar_, &HistorySidebar::status_message, this,
            [this](const QString& text) { statusBar()->showMessage(text, 4000); });
    connect(sidebar_, &HistorySidebar::conversation_deleted, this, [this](qint64 id) {
        if (id == conversation_id_) new_chat();
        auto* undo = new QPushButton(tr("Undo delete"), this);
        undo->setAccessibleName(tr("Undo delete"));
        statusBar()->addWidget(undo);
        connect(undo, &QPushButton::clicked, this, [this, id, undo] {
            if (history_) history_->undelete(id);
            sidebar_->refresh();
            undo->deleteLater();
        });
        QTimer::singleShot(10000, undo, &QObject::deleteLater);
    });

    // The worker lives on its own thread; everything crosses by queued connection.
    worker_ = new InferenceWorker;
    // Text reaches the view about 30 times a second: smooth to the eye, and it leaves the UI
    // thread time to paint (every update re-lays out the growing Markdown message).
    worker_->set_coalesce_interval_ms(33);
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(this, &MainWindow::request_load, worker_, &InferenceWorker::load_model);
    connect(this, &MainWindow::request_generate, worker_, &InferenceWorker::generate);
    connect(this, &MainWindow::request_reset, worker_, &InferenceWorker::reset_context);
    connect(this, &MainWindow::request_save_cache, worker_, &InferenceWorker::save_cache);
    connect(this, &MainWindow::request_resume, worker_, &InferenceWorker::resume_cache);
    connect(
        worker_, &InferenceWorker::cache_saved, this,
        [this](const QString&, qint64 bytes, qint64 mha_bytes, int tokens) {
            cache_note_->setText(tr("Latent cache saved with the chat: %1 for %2 tokens (an MHA "
                                    "cache would take %3)")
                                     .arg(format_bytes(double(bytes)))
                                     .arg(tokens)
                                     .arg(format_bytes(double(mha_bytes))));
        });
    connect(worker_, &InferenceWorker::cache_resumed, this,
            [this](const QString& file, int tokens, const QString& reason) {
                if (tokens > 0)
                    cache_note_->setText(tr("Reopened from its saved latent cache (%1, %2 tokens): "
                                            "no re-prefill")
                                             .arg(format_bytes(double(QFileInfo(file).size())))
                                             .arg(tokens));
                else
                    cache_note_->setText(QFileInfo::exists(file)
                                             ? tr("Saved latent cache not used: %1").arg(reason)
                                             : QString());
            });
    connect(worker_, &InferenceWorker::load_progress, this,
            [this](int percent, const QString& what) {
                progress_->setVisible(percent < 100);
                progress_->setValue(percent);
                model_label_->setText(what);
            });
    connect(worker_, &InferenceWorker::model_loaded, this, [this](const ModelSummary& s) {
        summary_ = s;
        model_ready_ = true;
        progress_->setVisible(false);
        model_label_->setText(tr("%1 · %2 · %3 M parameters · context %4 tokens")
                                  .arg(s.name, s.model_type)
                                  .arg(s.parameters / 1e6, 0, 'f', 1)
                                  .arg(s.context));
        cache_->reset(s.empty_cache, static_cast<double>(s.device_free_bytes));
        set_generating(false);
        emit model_ready_changed(true);
    });
    connect(worker_, &InferenceWorker::load_failed, this, [this](const QString& message) {
        progress_->setVisible(false);
        model_label_->setText(model_ready_
                                  ? tr("%1 (the new model failed to load)").arg(summary_.name)
                                  : tr("No model"));
        set_generating(false);
        show_error(tr("The model could not be loaded"), message);
    });
    connect(worker_, &InferenceWorker::generation_started, this, [](int, int) {});
    connect(worker_, &InferenceWorker::tokens_arrived, this,
            [this](const QString& text, const CacheStats& cache, int, double) {
                if (reply_row_ >= 0) chat_->append_text(reply_row_, text);
                if (recorder_) recorder_->append(text.toStdString());  // saved every 0.5 s
                pending_samples_.append(cache);
                if (!chart_timer_->isActive()) chart_timer_->start();
            });
    connect(worker_, &InferenceWorker::generation_finished, this,
            [this](const QString& reply, const ReplyStats& stats, const CacheStats& cache) {
                if (reply_row_ >= 0) {
                    chat_->set_text(reply_row_, reply);
                    chat_->finish(reply_row_, stats);
                }
                pending_samples_.append(cache);
                flush_samples();
                if (recorder_) {
                    MessageMeta meta;
                    meta.token_count = stats.tokens;
                    meta.time_to_first_token_ms = stats.time_to_first_token_ms;
                    meta.tokens_per_second = stats.tokens_per_second;
                    meta.model_id = summary_.name.toStdString();
                    try {
                        recorder_->finish(meta);
                    } catch (const Error& e) {
                        statusBar()->showMessage(QString::fromUtf8(e.what()), 6000);
                    }
                    recorder_.reset();
                    sidebar_->refresh();
                    sidebar_->select(conversation_id_);
                }
                reply_row_ = -1;
                set_generating(false);
                emit reply_finished(stats);
            });
    connect(worker_, &InferenceWorker::generation_failed, this, [this](const QString& message) {
        if (reply_row_ >= 0) truncate_chat(reply_row_);
        recorder_.reset();
        reply_row_ = -1;
        set_generating(false);
        show_error(tr("The reply failed"), message);
    });
    thread_.start();

    chart_timer_ = new QTimer(this);
    chart_timer_->setInterval(100);
    chart_timer_->setSingleShot(true);
    connect(chart_timer_, &QTimer::timeout, this, &MainWindow::flush_samples);

    connect(send_, &QPushButton::clicked, this, [this] { send(input_->toPlainText()); });
    connect(input_, &ChatInput::send_requested, this, [this] { send(input_->toPlainText()); });
    connect(stop_, &QPushButton::clicked, this, &MainWindow::stop);
    connect(view_, &ChatView::copy_requested, this,
            [](const QString& text) { QApplication::clipboard()->setText(text); });
    connect(view_, &ChatView::regenerate_requested, this, &MainWindow::regenerate);
    connect(view_, &ChatView::edit_requested, this, &MainWindow::edit);
    connect(view_, &ChatView::branch_requested, this, &MainWindow::branch);
    connect(find_, &QLineEdit::returnPressed, this, [this] {
        if (!view_->find_next(find_->text())) statusBar()->showMessage(tr("Not found"), 2000);
    });

    restoreGeometry(store_.value("window/geometry").toByteArray());
    if (!store_.contains("window/geometry")) resize(1240, 760);
    set_generating(false);
    input_->setFocus();
    load_model(settings_.model_dir);
}

MainWindow::~MainWindow() {
    worker_->request_stop();
    thread_.quit();
    thread_.wait();
}

void MainWindow::build_menus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* new_chat_action = file->addAction(tr("&New chat"), this, &MainWindow::new_chat);
    new_chat_action->setShortcut(QKeySequence::New);
    QAction* settings = file->addAction(tr("&Settings…"), this, &MainWindow::open_settings);
    settings->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    QAction* find = edit->addAction(tr("&Find…"), this, &MainWindow::show_find);
    find->setShortcut(QKeySequence::Find);

    QMenu* chat = menuBar()->addMenu(tr("&Chat"));
    QAction* send_action =
        chat->addAction(tr("&Send"), this, [this] { send(input_->toPlainText()); });
    send_action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    QAction* stop_action = chat->addAction(tr("S&top"), this, &MainWindow::stop);
    stop_action->setShortcut(QKeySequence(Qt::Key_Escape));

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About LatentChat"), this, &MainWindow::show_about);
}

void MainWindow::load_model(const QString& dir) {
    model_ready_ = false;
    set_generating(false);
    progress_->setVisible(true);
    progress_->setValue(0);
    model_label_->setText(tr("Loading model…"));
    emit request_load(dir, settings_.device);
}

void MainWindow::send(const QString& text) {
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty() || generating_ || !model_ready_) return;
    input_->clear();
    chat_->add_message("user", trimmed);
    qint64 id = 0;
    if (history_) {
        try {
            if (conversation_id_ == 0) {
                const QString title = trimmed.left(60) + (trimmed.size() > 60 ? "…" : "");
                conversation_id_ =
                    history_->create_conversation(title.toStdString(), summary_.name.toStdString());
            }
            id = history_->add_message(conversation_id_, last_message_id(), "user",
                                       trimmed.toStdString());
        } catch (const Error& e) {
            statusBar()->showMessage(QString::fromUtf8(e.what()), 6000);
        }
    }
    message_ids_.append(id);
    start_reply();
}

std::optional<int64_t> MainWindow::last_message_id() const {
    if (message_ids_.isEmpty() || message_ids_.last() == 0) return std::nullopt;
    return message_ids_.last();
}

void MainWindow::start_reply() {
    qint64 id = 0;
    if (history_ && conversation_id_ != 0) {
        try {
            MessageMeta meta;
            meta.model_id = summary_.name.toStdString();
            id = history_->add_message(conversation_id_, last_message_id(), "assistant", "", meta);
            recorder_ = std::make_unique<ReplyRecorder>(*history_, id);
        } catch (const Error& e) {
            statusBar()->showMessage(QString::fromUtf8(e.what()), 6000);
        }
    }
    reply_row_ = chat_->add_message("assistant", QString(), true);
    message_ids_.append(id);
    set_generating(true);
    QList<ChatTurn> turns = chat_->turns(settings_.system_prompt);
    turns.removeLast();  // the empty reply being written
    emit request_generate(turns, settings_);
}

void MainWindow::flush_samples() {
    chart_timer_->stop();
    for (const CacheStats& s : pending_samples_)
        cache_->add_sample(s);
    pending_samples_.clear();
}

void MainWindow::stop() {
    if (generating_) worker_->request_stop();  // thread-safe; takes effect within one token
}

QString MainWindow::cache_file(qint64 conversation_id) const {
    if (!history_) return {};
    const QFileInfo db(QString::fromStdString(history_->path().string()));
    return db.absolutePath() + "/caches/" + QString::number(conversation_id) + ".lckv";
}

// MLA's cache is small enough to keep with the conversation: reopening it needs no re-prefill.
void MainWindow::leave_conversation() {
    if (conversation_id_ != 0 && model_ready_ && !generating_)
        emit request_save_cache(cache_file(conversation_id_));
}

void MainWindow::new_chat() {
    if (generating_) return;
    leave_conversation();
    cache_note_->clear();
    chat_->clear();
    message_ids_.clear();
    conversation_id_ = 0;
    if (sidebar_) sidebar_->list()->clearSelection();
    pending_samples_.clear();
    cache_->reset(summary_.empty_cache, static_cast<double>(summary_.device_free_bytes));
    emit request_reset();
    input_->setFocus();
}

// The replaced messages stay in the database as siblings (the tree keeps every branch); the
// new reply or message is added under the same parent.
void MainWindow::regenerate(int row) {
    if (generating_ || row < 0) return;
    truncate_chat(row);
    start_reply();
}

void MainWindow::edit(int row) {
    if (generating_ || row < 0) return;
    input_->setPlainText(chat_->message(row).text);
    truncate_chat(row);
    input_->setFocus();
}

// A new conversation holding this one up to and including `row`; the original stays as it is.
void MainWindow::branch(int row) {
    if (generating_ || !history_ || conversation_id_ == 0 || row < 0 ||
        row >= message_ids_.size() || message_ids_[row] == 0)
        return;
    try {
        const auto from = history_->conversation(conversation_id_);
        const std::string title = (from ? from->title : std::string("Conversation")) + " (branch)";
        const int64_t id = history_->branch_from(conversation_id_, message_ids_[row], title);
        sidebar_->refresh();
        open_conversation(id);
    } catch (const Error& e) {
        show_error(tr("The branch could not be made"), QString::fromUtf8(e.what()));
    }
}

void MainWindow::truncate_chat(int row) {
    chat_->truncate(row);
    while (message_ids_.size() > row)
        message_ids_.removeLast();
}

void MainWindow::open_conversation(qint64 conversation_id, qint64 focus_message_id) {
    if (generating_ || !history_) return;
    if (conversation_id == conversation_id_) return;
    std::vector<Message> branch;
    try {
        branch = history_->branch(conversation_id);
    } catch (const Error& e) {
        show_error(tr("The conversation could not be opened"), QString::fromUtf8(e.what()));
        return;
    }
    leave_conversation();
    chat_->clear();
    message_ids_.clear();
    int focus_row = -1;
    for (const Message& m : branch) {
        if (m.role == "system") continue;  // the system prompt lives in the settings
        const int row =
            chat_->add_message(QString::fromStdString(m.role), QString::fromStdString(m.content));
        if (m.role == "assistant") {
            ReplyStats stats;
            stats.tokens = m.meta.token_count;
            stats.time_to_first_token_ms = m.meta.time_to_first_token_ms;
            stats.tokens_per_second = m.meta.tokens_per_second;
            chat_->finish(row, stats);
        }
        message_ids_.append(m.id);
        if (m.id == focus_message_id) focus_row = row;
    }
    conversation_id_ = conversation_id;
    pending_samples_.clear();
    cache_->reset(summary_.empty_cache, static_cast<double>(summary_.device_free_bytes));
    cache_note_->clear();
    emit request_resume(cache_file(conversation_id), chat_->turns(settings_.system_prompt));
    sidebar_->select(conversation_id);
    if (focus_row >= 0) view_->scroll_to(focus_row);
    input_->setFocus();
}

void MainWindow::export_conversation(qint64 id, const QString& format) {
    if (!history_) return;
    const QString filter = format == "md" ? tr("Markdown (*.md)") : tr("JSON (*.json)");
    const QString file = QFileDialog::getSaveFileName(
        this, tr("Export conversation"), QString("conversation-%1.%2").arg(id).arg(format), filter);
    if (file.isEmpty()) return;
    try {
        const std::string text =
            format == "md" ? history_->export_markdown(id) : history_->export_json(id);
        QSaveFile out(file);  // written whole or not at all
        if (!out.open(QIODevice::WriteOnly) || out.write(text.data(), qint64(text.size())) < 0 ||
            !out.commit())
            throw Error("cannot write " + file.toStdString());
        statusBar()->showMessage(tr("Exported to %1").arg(file), 4000);
    } catch (const Error& e) {
        show_error(tr("Export failed"), QString::fromUtf8(e.what()));
    }
}

void MainWindow::set_generating(bool on) {
    generating_ = on;
    send_->setVisible(!on);
    stop_->setVisible(on);
    send_->setEnabled(model_ready_);
    input_->setReadOnly(on);
}

void MainWindow::open_settings() {
    // Asked once per run: the first CUDA call takes a moment without a driver.
    static const bool cuda = gpu_available(nullptr);
    auto* dialog = new SettingsDialog(settings_, cuda, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        const ConversationSettings before = settings_;
        settings_ = dialog->settings();
        settings_.save_defaults(store_);
        if (settings_.model_dir != before.model_dir || settings_.device != before.device) {
            new_chat();
            load_model(settings_.model_dir);
        }
    });
    dialog->open();
}

void MainWindow::show_find() {
    find_->setVisible(true);
    find_->setFocus();
    find_->selectAll();
}

void MainWindow::show_about() {
    QMessageBox::about(
        this, tr("About LatentChat"),
        tr("<h3>LatentChat %1</h3><p>A local chat app for models with multi-head latent attention "
           "(DeepSeek-V2/V3).</p><p>Model: <b>%2</b> (%3, %4 M parameters)%5</p>")
            .arg(LATENTCHAT_VERSION, summary_.name.isEmpty() ? tr("none") : summary_.name,
                 summary_.model_type)
            .arg(summary_.parameters / 1e6, 0, 'f', 1)
            .arg(summary_.licence.isEmpty() ? QString()
                                            : tr("<br>Licence: %1").arg(summary_.licence)));
}

// Not modal-blocking: the window stays usable, and tests can find and close the box.
void MainWindow::show_error(const QString& title, const QString& message) {
    auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    box->setObjectName("errorDialog");
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    store_.setValue("window/geometry", saveGeometry());
    worker_->request_stop();
    // Save the open conversation's cache before the worker's thread ends.
    if (conversation_id_ != 0 && model_ready_) {
        const QString file = cache_file(conversation_id_);
        QMetaObject::invokeMethod(
            worker_, [this, file] { worker_->save_cache(file); }, Qt::BlockingQueuedConnection);
    }
    QMainWindow::closeEvent(event);
}

}  // namespace lc::ui
