#pragma once
// The conversation behind the window: the inference worker on its own thread, the history
// database and the chat on screen as a model. It sends, stops, regenerates, edits and branches,
// saves replies while they stream, and saves or resumes a conversation's latent cache when it is
// left or opened. It never touches a widget: the window shows what its signals report.
#include <QList>
#include <QObject>
#include <QString>
#include <QThread>
#include <memory>
#include <optional>

#include "base/message.h"
#include "chat_model.h"
#include "conversation_settings.h"
#include "history/history_store.h"
#include "inference_worker.h"

namespace lc::ui {

class ChatController : public QObject {
    Q_OBJECT

public:
    // `history_file`: the conversation database (empty: history.db in the user's data folder).
    // Without a usable database the app still chats; error() says why, once.
    ChatController(const ConversationSettings& settings, const QString& history_file,
                   QObject* parent = nullptr);
    ~ChatController() override;

    // Loads a model folder (empty: the bundled model) on the worker thread, or, when the
    // settings choose a remote endpoint, connects to that instead.
    void load_model(const QString& dir);
    // False when nothing was sent (empty text, a reply running, no model).
    bool send(const QString& text);
    void stop();
    // False while a reply is running.
    bool new_chat();
    // Shows a saved conversation (its current branch); the next message continues it.
    void open_conversation(qint64 conversation_id, qint64 focus_message_id = 0);
    // Replaces the reply at `row` (and what followed) with a new one.
    void regenerate(int row);
    // Drops the message at `row` and what followed; returns its text to edit (none while busy).
    std::optional<QString> edit(int row);
    // A new conversation holding this one up to and including `row`; the original stays.
    void branch(int row);
    void export_conversation(qint64 id, const QString& format, const QString& file);
    void undelete(qint64 id);
    // Before the app quits: stops the reply and saves the open conversation's cache, waiting.
    void save_before_quit();

    void set_settings(const ConversationSettings& settings) { settings_ = settings; }
    const ConversationSettings& settings() const { return settings_; }
    const ModelSummary& summary() const { return summary_; }
    qint64 conversation_id() const { return conversation_id_; }
    HistoryStore* history() const { return history_.get(); }
    bool generating() const { return generating_; }
    bool model_ready() const { return model_ready_; }
    InferenceWorker* worker() const { return worker_; }
    ChatModel* chat_model() const { return chat_; }

signals:
    // Queued to the worker.
    void request_load(const QString& dir, const QString& device);
    void request_connect_remote(const lc::ui::RemoteEngineSettings& remote,
                                const QString& local_model);
    void request_generate(const QList<lc::Message>& conversation,
                          const lc::ui::ConversationSettings& settings);
    void request_reset();
    void request_save_cache(const QString& file);
    void request_resume(const QString& file, const QList<lc::Message>& conversation);

    // For the window.
    void load_progress(int percent, const QString& what);
    void model_loaded(const lc::ui::ModelSummary& summary);
    void load_failed(const QString& message);
    void state_changed();  // generating() or model_ready() changed
    void cache_sample(const lc::CacheStats& cache);
    void reply_finished(const lc::MessageMeta& meta);
    void reply_saved(qint64 conversation_id);  // the history list changed
    void history_changed();
    // The chat now shows this conversation (0: a new one); `focus_row` is -1 or a row to show.
    void conversation_shown(qint64 conversation_id, int focus_row);
    void cache_saved(const QString& file, qint64 file_bytes, qint64 mha_bytes, int tokens);
    void cache_resumed(const QString& file, int tokens_restored, const QString& reason);
    void error(const QString& title, const QString& message);
    void status_message(const QString& text, int timeout_ms);

private:
    void open_history(const QString& history_file);
    void start_worker();
    void on_finished(const QString& reply, const lc::MessageMeta& stats,
                     const lc::CacheStats& cache);
    void on_failed(const QString& message);
    void start_reply();
    void set_generating(bool on);
    std::optional<int64_t> last_message_id() const;
    QString cache_file(qint64 conversation_id) const;
    void leave_conversation();

    ConversationSettings settings_;
    QThread thread_;
    InferenceWorker* worker_ = nullptr;
    ChatModel* chat_ = nullptr;  // each row's id is its place in the history (0: not saved)
    ModelSummary summary_;
    bool generating_ = false;
    bool model_ready_ = false;
    int reply_row_ = -1;
    std::unique_ptr<HistoryStore> history_;
    qint64 conversation_id_ = 0;               // 0: not saved yet
    std::unique_ptr<ReplyRecorder> recorder_;  // the reply being saved while it streams
};

}  // namespace lc::ui
