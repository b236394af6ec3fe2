#pragma once
// A client for OpenAI-compatible chat servers (vLLM, SGLang, `latentchat-cli serve`):
//   GET  {base}/models                                 the models the server answers to
//   POST {base}/chat/completions  {"stream": true}     the reply as server-sent events
// Plain C++ over core/hub's libcurl transfer (hub/http.h); no Qt. Every failure (no connection,
// a timeout, a non-200 status, an error in the stream, a stream cut before its end) is an
// lc::Error whose sentence names the URL and what happened. The stop flag is polled every 50 ms
// and on every piece of the stream, so a cancelled reply ends at once.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/message.h"

namespace lc::remote {

struct RemoteOptions {
    std::string base_url;  // as the user wrote it: http://host:port, .../v1, with or without "/"
    std::string api_key;   // sent as "Authorization: Bearer KEY"; empty: none
    std::string model;     // empty: the first model GET /models lists
    long connect_timeout_s = 10;
    long stall_timeout_s = 120;  // nothing received for this long: the reply is given up
};

// The API root every path is appended to: "http://h:8000" and "http://h:8000/" become
// "http://h:8000/v1"; a URL with a path keeps it ("http://h/v1/", "https://h/api/v1" -> without
// the trailing slash); a pasted ".../chat/completions" or ".../models" is cut back to its root.
// Throws lc::Error for an empty URL or one that is not http:// or https://.
std::string normalize_base_url(const std::string& url);

// The ids GET {base}/models lists, in its order. Throws lc::Error (see above).
std::vector<std::string> list_models(const RemoteOptions& options,
                                     const std::atomic<bool>* cancel = nullptr);

// options.model, or when it is empty the first model the server lists.
std::string choose_model(const RemoteOptions& options, const std::atomic<bool>* cancel = nullptr);

struct ChatRequest {
    std::vector<Message> messages;  // role and content are sent; an empty system message is not
    int max_tokens = 512;
    double temperature = 0.8;
    double top_p = 0.95;
    std::optional<uint64_t> seed;
    std::vector<std::string> stop;
    // Not in OpenAI's API (vLLM and SGLang take them): sent only when set.
    std::optional<int> top_k;
    std::optional<double> min_p;
    std::optional<double> repetition_penalty;
};

struct ChatStreamResult {
    std::string text;           // the reply as streamed (all of it, also when cancelled)
    std::string model;          // the model the server says answered
    std::string finish_reason;  // the server's ("stop", "length", ...) or "cancelled"
    int pieces = 0;             // content pieces received (about one per token on vLLM/SGLang)
    int prompt_tokens = -1;     // from the server's usage, when it sent one (-1: not known)
    int completion_tokens = -1;
    double time_to_first_token = 0;  // seconds from the request to the first text
    double seconds = 0;              // from the request to the end
    bool cancelled = false;
};

// Called with each piece of the reply's text as it arrives, on the calling thread.
using PieceCallback = std::function<void(const std::string& text)>;

// POSTs the request with "stream": true and reads the events as they arrive (pieces split
// anywhere on the wire), to "data: [DONE]". `options.model` must be set (choose_model). A set
// `cancel` ends the transfer within 50 ms and returns what came so far with cancelled set.
// Throws lc::Error naming the URL: no connection, a timeout, a status other than 200 (with the
// server's error message from its JSON body), an error object in the stream, an event that is
// not JSON, or a stream that ends before the reply is finished.
ChatStreamResult stream_chat(const RemoteOptions& options, const ChatRequest& request,
                             const PieceCallback& on_piece,
                             const std::atomic<bool>* cancel = nullptr);

}  // namespace lc::remote
