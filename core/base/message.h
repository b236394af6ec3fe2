#pragma once
// The one message type: what the chat template renders, the history stores, the app shows and
// a chat turn passes along. Fields a layer does not know stay at their defaults.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace lc {

// What a reply took and what made it (assistant messages, once finished).
struct MessageMeta {
    int token_count = 0;
    double time_to_first_token_ms = 0;
    double tokens_per_second = 0;
    std::string finish_reason;  // finish_reason_name(); not stored in the history
    std::string model_id;       // e.g. the model folder's name plus a fingerprint
    std::string sampling_json;  // the sampling settings, as JSON text
};

struct Message {
    Message() = default;
    Message(std::string role_, std::string content_)
        : role(std::move(role_)), content(std::move(content_)) {}

    std::string role;  // "system", "user", "assistant"
    std::string content;
    MessageMeta meta;
    // Its place in the history database, once stored (0: not stored).
    int64_t id = 0;
    int64_t conversation_id = 0;
    std::optional<int64_t> parent_id;  // none for the first message
    int64_t created_ms = 0;            // milliseconds since the Unix epoch
    int64_t edited_ms = 0;
};

}  // namespace lc
