#include "session/remote_turn.h"

#include <algorithm>
#include <chrono>

#include "base/error.h"
#include "history/history_store.h"

namespace lc {

namespace {

FinishReason reason_of(const remote::ChatStreamResult& r) {
    if (r.cancelled) return FinishReason::Cancelled;
    if (r.finish_reason == "length") return FinishReason::MaxTokens;
    return FinishReason::Eos;  // "stop", or anything else that ended the reply on the server
}

// Until the server's usage says, the prompt is guessed at 4 bytes a token.
int guess_prompt_tokens(const std::vector<Message>& messages) {
    size_t bytes = 0;
    for (const Message& m : messages)
        bytes += m.content.size() + 16;  // the template's markers around each message
    return static_cast<int>(std::min<size_t>(bytes / 4, 1u << 30));
}

}  // namespace

CacheStats remote_cache_estimate(const RemoteTurn& turn, int tokens) {
    if (!turn.shape) return CacheStats{};
    const int context =
        turn.context > 0 ? turn.context : std::max(1, turn.shape->max_position_embeddings);
    return estimate_cache_stats(*turn.shape, std::clamp(tokens, 0, context), context, 2);
}

ChatTurnResult run_remote_turn(const RemoteTurn& turn, remote::ChatRequest request,
                               const ChatTurnCallbacks& callbacks,
                               const std::atomic<bool>* cancel) {
    std::vector<Message>& messages = request.messages;
    if (!messages.empty() && messages.front().role == "system" && messages.front().content.empty())
        messages.erase(messages.begin());
    if (messages.empty() || messages.back().role != "user")
        throw Error("the conversation does not end with a message from the user");

    const int prompt_guess = guess_prompt_tokens(messages);

    const auto start = std::chrono::steady_clock::now();
    int index = 0;
    const remote::PieceCallback on_piece = [&](const std::string& text) {
        if (index == 0 && callbacks.on_started) callbacks.on_started(prompt_guess, 0);
        TokenEvent ev;
        ev.index = index;
        ev.text = text;
        ev.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        ev.prompt_tokens = prompt_guess;
        ev.cache = remote_cache_estimate(turn, prompt_guess + index + 1);
        ++index;
        if (callbacks.on_token) callbacks.on_token(ev);
        if (callbacks.recorder) callbacks.recorder->append(text);
    };
    const remote::ChatStreamResult r =
        remote::stream_chat(turn.endpoint, request, on_piece, cancel);

    ChatTurnResult result;
    GenerationResult& g = result.generation;
    g.text = r.text;
    g.reason = reason_of(r);
    g.prompt_tokens = r.prompt_tokens >= 0 ? r.prompt_tokens : prompt_guess;
    g.time_to_first_token = r.time_to_first_token;
    g.decode_seconds = r.pieces > 0 ? std::max(0.0, r.seconds - r.time_to_first_token) : 0.0;
    const int tokens = r.completion_tokens >= 0 ? r.completion_tokens : r.pieces;

    result.reply = Message("assistant", r.text);
    MessageMeta& meta = result.reply.meta;
    meta.token_count = tokens;
    meta.time_to_first_token_ms = r.time_to_first_token * 1000.0;
    meta.tokens_per_second =
        tokens > 1 && g.decode_seconds > 0 ? (tokens - 1) / g.decode_seconds : 0.0;
    meta.finish_reason = finish_reason_name(g.reason);
    meta.model_id = r.model.empty() ? turn.endpoint.model : r.model;
    if (callbacks.recorder) {
        // The figures of this reply; the model and sampling stay as the caller stored them.
        MessageMeta stored = callbacks.recorder->meta();
        stored.token_count = meta.token_count;
        stored.time_to_first_token_ms = meta.time_to_first_token_ms;
        stored.tokens_per_second = meta.tokens_per_second;
        stored.finish_reason = meta.finish_reason;
        callbacks.recorder->finish(stored);
    }
    return result;
}
}  // namespace lc
