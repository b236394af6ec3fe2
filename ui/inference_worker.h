#pragma once
// The engine's home in the app: a QObject moved to its own QThread. The GUI talks to it only
// through queued signals and slots; it sends back coalesced text (at most ~60 updates a second),
// timings, cache stats, progress and errors, and never touches a widget or a Qt model.
#include <QElapsedTimer>
#include <QList>
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "base/message.h"
#include "conversation_settings.h"
#include "engine/generator.h"
#include "engine/kv_cache.h"
#include "session/chat_turn.h"
#include "session/remote_turn.h"
#include "text_coalescer.h"

namespace lc::ui {

// What the GUI shows about a loaded model.
struct ModelSummary {
    QString name;  // folder name
    QString dir;
    QString model_type;
    qint64 parameters = 0;
    int layers = 0;
    int context = 0;               // tokens the cache may hold
    QString licence;               // from MODEL_CARD.md's "licence" mention, if any
    CacheStats empty_cache;        // shape of the cache (per-token element counts), zero tokens
    QString device;                // the backend's name, e.g. "cpu" or "cuda (NVIDIA H200)"
    qint64 device_free_bytes = 0;  // GPU memory free after loading (0: the cache is in host RAM)
    bool remote = false;           // a remote engine: name is its model, dir its URL
    QString cache_note;            // remote: where the cache estimate comes from, or why none
};

class InferenceWorker : public QObject {
    Q_OBJECT

public:
    explicit InferenceWorker(QObject* parent = nullptr);
    ~InferenceWorker() override;

    // Callable from any thread: the reply in progress stops within one token.
    void request_stop() { stop_.store(true); }
    // Minimum time between two tokens_arrived signals (default 16 ms, ~60 a second).
    void set_coalesce_interval_ms(int ms) { coalesce_ms_ = ms; }

public slots:
    // Loads a model folder (empty: the bundled model). Emits load_progress, then model_loaded or
    // load_failed; a failed load keeps the previous model.
    void load_model(const QString& dir, const QString& device);
    // Chats through a remote endpoint from now on (inference_worker_remote.cpp): lists its
    // models (which checks the URL and key), picks the model, looks for its shape for the cache
    // estimate (`local_model`: the local model setting, one of the places looked at), and emits
    // model_loaded with a summary whose `remote` is set, or load_failed. The local model, if
    // any, is released; load_model() later goes back to a local one.
    void connect_remote(const lc::ui::RemoteEngineSettings& remote, const QString& local_model);
    // Generates the assistant's reply to `conversation` (its last turn is the user's). The cache
    // keeps the longest common prefix with the previous call, so a follow-up prefills only the
    // new tokens.
    void generate(const QList<lc::Message>& conversation,
                  const lc::ui::ConversationSettings& settings);
    // Forgets the cached context (a new conversation).
    void reset_context();
    // Saves the context's latent cache to `file` (keyed by the model's fingerprint and the
    // tokens it covers); emits cache_saved. Nothing is written for an empty context.
    void save_cache(const QString& file);
    // Forgets the context, then restores from `file` the longest part of its cache that
    // `conversation` still begins with, so the next reply prefills only what is new; a file of
    // another model or another conversation is ignored. Emits cache_resumed.
    void resume_cache(const QString& file, const QList<lc::Message>& conversation);

signals:
    void load_progress(int percent, const QString& what);
    void model_loaded(const lc::ui::ModelSummary& summary);
    void load_failed(const QString& message);
    void generation_started(int prompt_tokens, int reused_tokens);
    // Text that became final since the last signal, with the cache as it is now.
    void tokens_arrived(const QString& text, const lc::CacheStats& cache, int generated_tokens,
                        double tokens_per_second);
    // `stats`: tokens, timings and finish reason.
    void generation_finished(const QString& reply, const lc::MessageMeta& stats,
                             const lc::CacheStats& cache);
    void generation_failed(const QString& message);
    void cache_saved(const QString& file, qint64 file_bytes, qint64 mha_bytes, int tokens);
    void cache_resumed(const QString& file, int tokens_restored, const QString& reason);

private:
    // One reply as it streams, for the local and the remote engine alike: its text gathered for
    // the GUI, the tokens so far and the decode rate.
    struct ReplyStream {
        explicit ReplyStream(int coalesce_ms) : text(coalesce_ms) {}
        TextCoalescer text;
        int generated = 0;
        double rate = 0;
        double first_token_seconds = 0;
    };
    // Callbacks that emit generation_started and the coalesced tokens_arrived.
    ChatTurnCallbacks stream_callbacks(ReplyStream& stream);
    // Sends what the stream still holds, then generation_finished.
    void finish_reply(ReplyStream& stream, const ChatTurnResult& turn, const CacheStats& cache);
    void generate_remote(const QList<lc::Message>& conversation,
                         const lc::ui::ConversationSettings& settings);
    void release_local_model();

    std::unique_ptr<RemoteTurn> remote_;  // set while a remote engine answers
    std::unique_ptr<Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<ChatTemplate> chat_;
    std::unique_ptr<Session> session_;
    std::unique_ptr<ChatContext> chat_turns_;  // the chat turns on session_
    ModelSummary summary_;
    std::atomic<bool> stop_{false};
    int coalesce_ms_ = 16;
    quint64 replies_ = 0;
    std::string fingerprint_;
};

}  // namespace lc::ui

Q_DECLARE_METATYPE(lc::ui::ModelSummary)
Q_DECLARE_METATYPE(lc::Message)
Q_DECLARE_METATYPE(lc::MessageMeta)
Q_DECLARE_METATYPE(lc::CacheStats)
