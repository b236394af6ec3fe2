#pragma once
// One chat turn through a remote engine (an OpenAI-compatible server), the counterpart of
// ChatContext::run for the CLI's `generate --remote` and the app's worker: the reply streamed
// piece by piece to the same callbacks (a TokenEvent per piece, with the cache estimate when
// the model's shape is known), saved through the same ReplyRecorder, Stop through the same flag.
#include <atomic>
#include <optional>

#include "engine/kv_cache.h"
#include "formats/config.h"
#include "remote/openai_client.h"
#include "session/chat_turn.h"

namespace lc {

struct RemoteTurn {
    remote::RemoteOptions endpoint;  // its model set (remote::choose_model)
    // The model's shape for the cache estimate (find_remote_model_shape); none: the events'
    // cache stays empty. The estimate assumes a bf16 cache, as vLLM and SGLang keep it.
    std::optional<ModelConfig> shape;
    int context = 0;  // the context the estimate is drawn against; 0: the model's positions
};

// The cache a context of `tokens` tokens takes on the remote engine by turn.shape (bf16), with
// what MHA, GQA and MQA would take; an empty CacheStats when the shape is not known.
CacheStats remote_cache_estimate(const RemoteTurn& turn, int tokens);

// `request.messages`: a system message first when any, the user's message last (else
// lc::Error). The result's reply carries the text and its figures (token_count is the server's
// completion_tokens when it sent usage, else the pieces received); `generation.ids` stays
// empty. Errors are remote::stream_chat's; a cancelled reply returns what came, like a local one.
ChatTurnResult run_remote_turn(const RemoteTurn& turn, remote::ChatRequest request,
                               const ChatTurnCallbacks& callbacks, const std::atomic<bool>* cancel);

}  // namespace lc
