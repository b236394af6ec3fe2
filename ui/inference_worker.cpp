#include "inference_worker.h"

#include <sys/resource.h>
#include <unistd.h>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QTextStream>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <vector>

#include "base/error.h"
#include "engine/cache_file.h"
#include "engine/model.h"
#include "formats/tokenizer.h"
#include "session/chat_turn.h"  // encode_chat
#include "session/open_model.h"
#include "text_coalescer.h"

namespace lc::ui {

namespace fs = std::filesystem;

namespace {

// Queued connections copy their arguments through the meta-type system: every type the worker's
// slots take or its signals send is registered before the first connection can use it.
void register_meta_types() {
    static const bool done = [] {
        qRegisterMetaType<lc::ui::ConversationSettings>();
        qRegisterMetaType<lc::Message>();
        qRegisterMetaType<QList<lc::Message>>();
        qRegisterMetaType<lc::ui::ModelSummary>();
        qRegisterMetaType<lc::MessageMeta>();
        qRegisterMetaType<lc::CacheStats>();
        qRegisterMetaType<lc::ui::RemoteEngineSettings>();
        return true;
    }();
    (void)done;
}

// Also at static-initialisation time, so a connection made before the first worker works.
const bool registered_at_start = (register_meta_types(), true);

constexpr int kMaxContext = 8192;

// The first licence named in MODEL_CARD.md, looking at lines that talk about licences first.
QString licence_from_card(const QString& dir) {
    QFile file(QDir(dir).filePath(QStringLiteral("MODEL_CARD.md")));
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) return {};
    static const QRegularExpression name(
        QStringLiteral(R"(\b(CDLA-[A-Za-z]+-\d+\.\d+|Apache(?: License)?[ -]2\.0|MIT|)"
                       R"(CC-BY(?:-[A-Z]{2})*-\d\.\d|CC0-1\.0|BSD-\d-Clause|[AL]?GPL-\d\.\d|)"
                       R"(DeepSeek License|Llama \d(?:\.\d)? Community License)\b)"));
    static const QRegularExpression mention(QStringLiteral(R"(licen[cs]e|CDLA|Apache|\bMIT\b)"),
                                            QRegularExpression::CaseInsensitiveOption);
    QTextStream in(&file);
    QString first_anywhere;
    while (!in.atEnd()) {
        const QString line = in.readLine();
        const QRegularExpressionMatch m = name.match(line);
        if (!m.hasMatch()) continue;
        if (line.contains(mention)) return m.captured(1);
        if (first_anywhere.isEmpty()) first_anywhere = m.captured(1);
    }
    return first_anywhere;
}

QString what_of(const std::exception& e) {
    return QString::fromUtf8(e.what());
}

}  // namespace

InferenceWorker::InferenceWorker(QObject* parent) : QObject(parent) {
    (void)registered_at_start;
    register_meta_types();
}

InferenceWorker::~InferenceWorker() {
    // The session's cache lives in memory the model's backend hands out: it goes first.
    chat_turns_.reset();
    session_.reset();
    chat_.reset();
    tokenizer_.reset();
    model_.reset();
}

void InferenceWorker::load_model(const QString& dir, const QString& device) {
    // The engine keeps every core busy while it generates; running it a little "nicer" than the
    // GUI thread keeps the window responsive. Set on this thread before the model (and with it
    // the engine's thread pool) is created, so the pool's threads inherit it.
    static const bool niced = [] {
        return setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 5) == 0;
    }();
    (void)niced;
    try {
        OpenOptions options;
        options.path = fs::path(dir.toStdString());
#ifdef LATENTCHAT_SOURCE_MODELS
        options.source_models = LATENTCHAT_SOURCE_MODELS;
#endif
        options.device = parse_device(device.isEmpty() ? "cpu" : device.toStdString());
        options.progress = [this](int percent, const std::string& step) {
            emit load_progress(percent, QString::fromStdString(step));
        };
        OpenedModel opened = open_model(options);
        const QString name = QString::fromStdString(opened.name());
        std::unique_ptr<Model> model = std::move(opened.model);
        std::unique_ptr<Tokenizer> tokenizer = std::move(opened.tokenizer);
        auto chat = std::make_unique<ChatTemplate>(std::move(opened.chat));
        const fs::path& path = model->dir();
        const QString shown = QString::fromStdString(path.string());
        const ModelConfig& c = model->config();
        const int context = std::min(
            c.max_position_embeddings > 0 ? c.max_position_embeddings : kMaxContext, kMaxContext);
        auto session = std::make_unique<Session>(*model, context);

        ModelSummary s;
        s.dir = shown;
        s.name = name;
        s.model_type = QString::fromUtf8(c.model_type_name());
        s.parameters = model->parameter_count();
        s.layers = c.num_hidden_layers;
        s.context = session->cache().max_tokens();
        s.licence = licence_from_card(shown);
        s.empty_cache = session->cache().stats();
        s.device = QString::fromUtf8(model->backend().name());
        s.device_free_bytes = static_cast<qint64>(model->backend().device_memory_free());

        // Success: the old session goes before the model it points into.
        stop_.store(false);
        chat_turns_.reset();
        session_.reset();
        chat_ = std::move(chat);
        tokenizer_ = std::move(tokenizer);
        model_ = std::move(model);
        session_ = std::move(session);
        chat_turns_ = std::make_unique<ChatContext>(*session_, *tokenizer_, *chat_);
        summary_ = s;
        remote_.reset();
        fingerprint_ = model_fingerprint(*model_);
        emit model_loaded(summary_);
    } catch (const std::exception& e) {
        const QString where = dir.isEmpty() ? QStringLiteral("the bundled model") : dir;
        emit load_failed(QStringLiteral("Could not load %1: %2").arg(where, what_of(e)));
    } catch (...) {
        emit load_failed(QStringLiteral("Could not load %1: unknown error.").arg(dir));
    }
}

void InferenceWorker::generate(const QList<lc::Message>& conversation,
                               const lc::ui::ConversationSettings& settings) {
    if (remote_) {
        generate_remote(conversation, settings);
        return;
    }
    if (!chat_turns_) {
        emit generation_failed(QStringLiteral("No model is loaded."));
        return;
    }
    stop_.store(false);
    try {
        GenerationOptions opts = settings.to_options(
            static_cast<quint64>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
            (++replies_ * 0x9E3779B97F4A7C15ull));
        ReplyStream stream(coalesce_ms_);
        const ChatTurnCallbacks callbacks = stream_callbacks(stream);
        const std::vector<lc::Message> messages(conversation.begin(), conversation.end());
        const ChatTurnResult turn = chat_turns_->run(messages, opts, callbacks, &stop_);
        finish_reply(stream, turn, session_->cache().stats());
    } catch (const std::exception& e) {
        emit generation_failed(what_of(e));
    } catch (...) {
        emit generation_failed(QStringLiteral("The reply failed with an unknown error."));
    }
}

ChatTurnCallbacks InferenceWorker::stream_callbacks(ReplyStream& stream) {
    ChatTurnCallbacks callbacks;
    callbacks.on_started = [this](int prompt, int reused) {
        emit generation_started(prompt, reused);
    };
    // Runs on this thread for every token: text is gathered and sent at most once per coalesce
    // interval, so the GUI's event loop is not flooded.
    callbacks.on_token = [this, &stream](const TokenEvent& ev) {
        stream.generated = ev.index + 1;
        // Decode speed: tokens after the first over the time since the first.
        if (ev.index == 0) stream.first_token_seconds = ev.seconds;
        if (ev.index > 0 && ev.seconds > stream.first_token_seconds)
            stream.rate = ev.index / (ev.seconds - stream.first_token_seconds);
        if (stream.text.add(QString::fromStdString(ev.text)))
            emit tokens_arrived(stream.text.take(), ev.cache, stream.generated, stream.rate);
    };
    return callbacks;
}

void InferenceWorker::finish_reply(ReplyStream& stream, const ChatTurnResult& turn,
                                   const CacheStats& cache) {
    const QString reply = QString::fromStdString(turn.reply.content);
    if (const QString rest = stream.text.rest(reply); !rest.isEmpty())
        emit tokens_arrived(rest, cache, stream.generated, stream.rate);
    emit generation_finished(reply, turn.reply.meta, cache);
}

void InferenceWorker::reset_context() {
    if (!session_) return;
    session_->reset();
    chat_turns_->forget();
}

}  // namespace lc::ui

namespace lc::ui {

void InferenceWorker::save_cache(const QString& file) {
    if (!session_ || session_->tokens().empty()) return;
    try {
        QDir().mkpath(QFileInfo(file).absolutePath());
        save_latent_cache(file.toStdString(), session_->cache(), session_->tokens(), fingerprint_);
        emit cache_saved(file, QFileInfo(file).size(),
                         static_cast<qint64>(session_->cache().stats().mha_bytes),
                         static_cast<int>(session_->tokens().size()));
    } catch (const std::exception& e) {
        emit cache_resumed(file, 0, QString::fromUtf8(e.what()));
    }
}

void InferenceWorker::resume_cache(const QString& file, const QList<lc::Message>& conversation) {
    if (!chat_turns_) return;
    session_->reset();
    chat_turns_->forget();
    try {
        std::vector<lc::Message> turns;
        for (const lc::Message& t : conversation)
            if (!(t.role == "system" && t.content.empty())) turns.push_back({t.role, t.content});
        const std::vector<int> tokens = encode_chat(*tokenizer_, *chat_, turns, false);
        const LoadedCache loaded =
            resume_session(*session_, file.toStdString(), fingerprint_, tokens);
        emit cache_resumed(file, loaded.used ? loaded.tokens_restored : 0,
                           QString::fromStdString(loaded.reason));
    } catch (const std::exception& e) {
        session_->reset();
        emit cache_resumed(file, 0, QString::fromUtf8(e.what()));
    }
}

}  // namespace lc::ui
