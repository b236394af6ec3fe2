#include "chat_controller.h"

#include <algorithm>

#include <QDir>
#include <QFileInfo>
#include <QSaveFile>
#include <QStandardPaths>
#include <QTimer>

#include "base/error.h"

namespace lc::ui {

ChatController::ChatController(const ConversationSettings& settings, const QString& history_file,
                               QObject* parent)
    : QObject(parent), settings_(settings) {
    chat_ = new ChatModel(this);
    open_history(history_file);
    start_worker();
}

ChatController::~ChatController() {
    worker_->request_stop();
    thread_.quit();
    thread_.wait();
}

void ChatController::open_history(const QString& history_file) {
    QString db = history_file;
    if (db.isEmpty()) {
        const QString folder = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
        QDir().mkpath(folder);
        db = folder + "/history.db";
    }
    try {
        history_ = std::make_unique<HistoryStore>(db.toStdString());
    } catch (const Error& e) {
        // Later, so the window has connected to error() by then.
        QTimer::singleShot(0, this, [this, message = QString::fromUtf8(e.what())] {
            emit error(tr("The conversation history is unavailable"), message);
        });
        return;
    }
    // Deleted conversations can be undone for 30 days, then they go for good.
    try {
        history_->purge_deleted(now_ms() - int64_t(30) * 24 * 3600 * 1000);
    } catch (const Error&) {
        // A read-only or busy database keeps them; nothing is lost.
    }
}

void ChatController::start_worker() {
    // The worker lives on its own thread; everything crosses by queued connection.
    worker_ = new InferenceWorker;
    // Text reaches the view about 30 times a second: smooth to the eye, and it leaves the UI
    // thread time to paint (every update re-lays out the growing Markdown message).
    worker_->set_coalesce_interval_ms(33);
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(this, &ChatController::request_load, worker_, &InferenceWorker::load_model);
    connect(this, &ChatController::request_connect_remote, worker_,
            &InferenceWorker::connect_remote);
    connect(this, &ChatController::request_generate, worker_, &InferenceWorker::generate);
    connect(this, &ChatController::request_reset, worker_, &InferenceWorker::reset_context);
    connect(this, &ChatController::request_save_cache, worker_, &InferenceWorker::save_cache);
    connect(this, &ChatController::request_resume, worker_, &InferenceWorker::resume_cache);

    connect(worker_, &InferenceWorker::load_progress, this, &ChatController::load_progress);
    connect(worker_, &InferenceWorker::cache_saved, this, &ChatController::cache_saved);
    connect(worker_, &InferenceWorker::cache_resumed, this, &ChatController::cache_resumed);
    connect(worker_, &InferenceWorker::model_loaded, this, [this](const ModelSummary& s) {
        summary_ = s;
        model_ready_ = true;
        set_generating(false);
        emit model_loaded(s);
    });
    connect(worker_, &InferenceWorker::load_failed, this, [this](const QString& message) {
        set_generating(false);
        emit load_failed(message);
    });
    connect(worker_, &InferenceWorker::tokens_arrived, this,
            [this](const QString& text, const CacheStats& cache, int, double) {
                if (reply_row_ >= 0) chat_->append_text(reply_row_, text);
                // Saved at the first text, then every 0.5 s.
                if (recorder_) recorder_->append(text.toStdString());
                emit cache_sample(cache);
            });
    connect(worker_, &InferenceWorker::generation_finished, this, &ChatController::on_finished);
    connect(worker_, &InferenceWorker::generation_failed, this, &ChatController::on_failed);
    thread_.start();
}

void ChatController::on_finished(const QString& reply, const MessageMeta& stats,
                                 const CacheStats& cache) {
    MessageMeta meta = stats;
    meta.model_id = summary_.name.toStdString();
    if (reply_row_ >= 0) {
        chat_->set_text(reply_row_, reply);
        chat_->finish(reply_row_, meta);
    }
    emit cache_sample(cache);
    if (recorder_) {
        try {
            recorder_->finish(meta);
        } catch (const Error& e) {
            emit status_message(QString::fromUtf8(e.what()), 6000);
        }
        recorder_.reset();
        emit reply_saved(conversation_id_);
    }
    reply_row_ = -1;
    set_generating(false);
    emit reply_finished(meta);
}

void ChatController::on_failed(const QString& message) {
    if (reply_row_ >= 0) chat_->truncate(reply_row_);
    recorder_.reset();
    reply_row_ = -1;
    set_generating(false);
    emit error(tr("The reply failed"), message);
}

void ChatController::load_model(const QString& dir) {
    model_ready_ = false;
    set_generating(false);
    if (settings_.remote.enabled)
        emit request_connect_remote(settings_.remote, dir);
    else
        emit request_load(dir, settings_.device);
}

bool ChatController::send(const QString& text) {
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty() || generating_ || !model_ready_) return false;
    Message message("user", trimmed.toStdString());
    if (history_) {
        try {
            if (conversation_id_ == 0) {
                // 60 UTF-16 units, not ending inside a surrogate pair (an emoji).
                qsizetype cut = std::min<qsizetype>(trimmed.size(), 60);
                if (cut < trimmed.size() && cut > 0 && trimmed.at(cut - 1).isHighSurrogate()) --cut;
                const QString title = trimmed.left(cut) + (cut < trimmed.size() ? "…" : "");
                conversation_id_ =
                    history_->create_conversation(title.toStdString(), summary_.name.toStdString());
            }
            message.id =
                history_->add_message(conversation_id_, last_message_id(), "user", message.content);
        } catch (const Error& e) {
            emit status_message(QString::fromUtf8(e.what()), 6000);
        }
    }
    chat_->add_message(message);
    start_reply();
    return true;
}

std::optional<int64_t> ChatController::last_message_id() const {
    const int rows = chat_->rowCount();
    if (rows == 0 || chat_->message(rows - 1).id == 0) return std::nullopt;
    return chat_->message(rows - 1).id;
}

void ChatController::start_reply() {
    Message reply("assistant", std::string());
    if (history_ && conversation_id_ != 0) {
        try {
            MessageMeta meta;
            meta.model_id = summary_.name.toStdString();
            reply.id =
                history_->add_message(conversation_id_, last_message_id(), "assistant", "", meta);
            recorder_ = std::make_unique<ReplyRecorder>(*history_, reply.id);
        } catch (const Error& e) {
            emit status_message(QString::fromUtf8(e.what()), 6000);
        }
    }
    // Taken before the empty reply is added: the worker answers the conversation so far.
    const QList<Message> conversation = chat_->turns(settings_.system_prompt);
    reply_row_ = chat_->add_message(reply, true);
    set_generating(true);
    emit request_generate(conversation, settings_);
}

void ChatController::stop() {
    if (generating_) worker_->request_stop();  // thread-safe; takes effect within one token
}

void ChatController::set_generating(bool on) {
    generating_ = on;
    emit state_changed();
}

QString ChatController::cache_file(qint64 conversation_id) const {
    if (!history_) return {};
    const QFileInfo db(QString::fromStdString(history_->path().string()));
    return db.absolutePath() + "/caches/" + QString::number(conversation_id) + ".lckv";
}

// MLA's cache is small enough to keep with the conversation: reopening it needs no re-prefill.
void ChatController::leave_conversation() {
    if (conversation_id_ != 0 && model_ready_ && !generating_)
        emit request_save_cache(cache_file(conversation_id_));
}

bool ChatController::new_chat() {
    if (generating_) return false;
    leave_conversation();
    chat_->clear();
    conversation_id_ = 0;
    emit request_reset();
    emit conversation_shown(0, -1);
    return true;
}

// The replaced messages stay in the database as siblings (the tree keeps every branch); the
// new reply or message is added under the same parent.
void ChatController::regenerate(int row) {
    if (generating_ || row < 0) return;
    chat_->truncate(row);
    start_reply();
}

std::optional<QString> ChatController::edit(int row) {
    if (generating_ || row < 0 || row >= chat_->rowCount()) return std::nullopt;
    const QString text = QString::fromStdString(chat_->message(row).content);
    chat_->truncate(row);
    return text;
}

void ChatController::branch(int row) {
    if (generating_ || !history_ || conversation_id_ == 0 || row < 0 || row >= chat_->rowCount() ||
        chat_->message(row).id == 0)
        return;
    try {
        const auto from = history_->conversation(conversation_id_);
        const std::string title = (from ? from->title : std::string("Conversation")) + " (branch)";
        const int64_t id = history_->branch_from(conversation_id_, chat_->message(row).id, title);
        emit history_changed();
        open_conversation(id);
    } catch (const Error& e) {
        emit error(tr("The branch could not be made"), QString::fromUtf8(e.what()));
    }
}

void ChatController::open_conversation(qint64 conversation_id, qint64 focus_message_id) {
    if (generating_ || !history_) return;
    if (conversation_id == conversation_id_) return;
    std::vector<Message> branch;
    try {
        branch = history_->branch(conversation_id);
    } catch (const Error& e) {
        emit error(tr("The conversation could not be opened"), QString::fromUtf8(e.what()));
        return;
    }
    leave_conversation();
    chat_->clear();
    int focus_row = -1;
    for (const Message& m : branch) {
        if (m.role == "system") continue;  // the system prompt lives in the settings
        const int row = chat_->add_message(m);
        if (m.id == focus_message_id) focus_row = row;
    }
    conversation_id_ = conversation_id;
    emit request_resume(cache_file(conversation_id), chat_->turns(settings_.system_prompt));
    emit conversation_shown(conversation_id, focus_row);
}

void ChatController::export_conversation(qint64 id, const QString& format, const QString& file) {
    if (!history_) return;
    try {
        const std::string text =
            format == "md" ? history_->export_markdown(id) : history_->export_json(id);
        QSaveFile out(file);  // written whole or not at all
        if (!out.open(QIODevice::WriteOnly) || out.write(text.data(), qint64(text.size())) < 0 ||
            !out.commit())
            throw Error("cannot write " + file.toStdString());
        emit status_message(tr("Exported to %1").arg(file), 4000);
    } catch (const Error& e) {
        emit error(tr("Export failed"), QString::fromUtf8(e.what()));
    }
}

void ChatController::undelete(qint64 id) {
    if (!history_) return;
    try {
        history_->undelete(id);
    } catch (const Error& e) {
        emit status_message(QString::fromUtf8(e.what()), 6000);
    }
    emit history_changed();
}

void ChatController::save_before_quit() {
    worker_->request_stop();
    // Blocks until the worker, once done with the reply it was stopping, has saved the cache:
    // its thread ends right after.
    if (conversation_id_ != 0 && model_ready_) {
        const QString file = cache_file(conversation_id_);
        QMetaObject::invokeMethod(
            worker_, [this, file] { worker_->save_cache(file); }, Qt::BlockingQueuedConnection);
    }
}

}  // namespace lc::ui
