// The InferenceWorker's remote engine: a chat through an OpenAI-compatible server, answered with
// the same signals as the local engine (inference_worker.cpp), on the same worker thread.
#include <exception>
#include <filesystem>
#include <vector>

#include "base/error.h"
#include "hub/model_store.h"
#include "inference_worker.h"
#include "remote/openai_client.h"
#include "session/model_locator.h"
#include "session/remote_model.h"

namespace lc::ui {

namespace fs = std::filesystem;

namespace {

// The models on this machine a remote model's name may match: the local model setting, the
// bundled model, and LatentChat's and the huggingface_hub cache's models.
std::vector<fs::path> local_candidates(const QString& local_model) {
    std::vector<fs::path> out;
    if (!local_model.isEmpty()) out.emplace_back(local_model.toStdString());
#ifdef LATENTCHAT_SOURCE_MODELS
    const fs::path source_models = LATENTCHAT_SOURCE_MODELS;
#else
    const fs::path source_models;
#endif
    if (auto bundled = default_model_dir(source_models)) out.push_back(*bundled);
    try {
        for (const hub::LocalModel& m : hub::list_local_models(hub::default_models_dir()))
            if (m.complete) out.push_back(m.path);
    } catch (const std::exception&) {
        // An unreadable models folder only means fewer names to match.
    }
    return out;
}

QString what_of(const std::exception& e) {
    return QString::fromUtf8(e.what());
}

}  // namespace

void InferenceWorker::release_local_model() {
    chat_turns_.reset();
    session_.reset();
    chat_.reset();
    tokenizer_.reset();
    model_.reset();
    fingerprint_.clear();
}

void InferenceWorker::connect_remote(const lc::ui::RemoteEngineSettings& settings,
                                     const QString& local_model) {
    stop_.store(false);
    const QString url = settings.url.trimmed();
    try {
        auto turn = std::make_unique<RemoteTurn>();
        turn->endpoint.base_url = url.toStdString();
        turn->endpoint.api_key = settings.api_key.trimmed().toStdString();
        const QString root = QString::fromStdString(remote::normalize_base_url(url.toStdString()));
        emit load_progress(10, tr("Connecting to %1…").arg(root));
        // Listing the models checks the URL and the key before the first message.
        const std::vector<std::string> models = remote::list_models(turn->endpoint, &stop_);
        turn->endpoint.model = settings.model.trimmed().toStdString();
        if (turn->endpoint.model.empty()) {
            if (models.empty()) throw Error(root.toStdString() + "/models lists no model");
            turn->endpoint.model = models.front();
        }
        emit load_progress(60, tr("Looking for %1's configuration…")
                                   .arg(QString::fromStdString(turn->endpoint.model)));

        ModelSummary s;
        s.remote = true;
        s.name = QString::fromStdString(turn->endpoint.model);
        s.dir = root;
        s.model_type = tr("remote");
        s.device = tr("remote: %1").arg(root);
        const std::optional<RemoteModelShape> shape =
            find_remote_model_shape(turn->endpoint.model, settings.config_path.toStdString(),
                                    local_candidates(local_model));
        if (shape) {
            turn->shape = shape->config;
            s.layers = shape->config.num_hidden_layers;
            s.context = shape->config.max_position_embeddings;
            s.model_type = QString::fromUtf8(shape->config.model_type_name());
            s.cache_note = tr("Remote engine: an estimate from %1 (bf16 cache, the usual on vLLM "
                              "and SGLang); the server's real cache is not visible from here.")
                               .arg(QString::fromStdString(shape->source));
        } else {
            s.cache_note = tr("Cache size unknown for a remote engine: %1 matches no model on "
                              "this machine or known MLA model. Choose its config.json in "
                              "Settings to see the MLA vs MHA estimate.")
                               .arg(s.name);
        }
        s.empty_cache = remote_cache_estimate(*turn, 0);

        release_local_model();
        remote_ = std::move(turn);
        summary_ = s;
        emit model_loaded(summary_);
    } catch (const std::exception& e) {
        emit load_failed(tr("Could not use the remote endpoint %1: %2").arg(url, what_of(e)));
    }
}

void InferenceWorker::generate_remote(const QList<lc::Message>& conversation,
                                      const lc::ui::ConversationSettings& settings) {
    stop_.store(false);
    try {
        remote::ChatRequest request;
        request.messages.assign(conversation.begin(), conversation.end());
        request.max_tokens = settings.max_tokens;
        request.temperature = settings.temperature;
        request.top_p = settings.top_p;
        // top-k, min-p and the repetition penalty are not OpenAI fields: not sent.
        if (!settings.random_seed) request.seed = settings.seed;

        ReplyStream stream(coalesce_ms_);
        const ChatTurnCallbacks callbacks = stream_callbacks(stream);
        const ChatTurnResult turn =
            run_remote_turn(*remote_, std::move(request), callbacks, &stop_);

        finish_reply(stream, turn,
                     remote_cache_estimate(
                         *remote_, turn.generation.prompt_tokens + turn.reply.meta.token_count));
    } catch (const std::exception& e) {
        emit generation_failed(what_of(e));
    } catch (...) {
        emit generation_failed(tr("The reply failed with an unknown error."));
    }
}

}  // namespace lc::ui
