#pragma once
// The OpenAI-compatible HTTP server (docs/design.md section 9): the endpoints over cpp-httplib,
// in front of a GenerationQueue that owns the model. The CLI's `serve` and the app's server
// panel both run this one class; httplib stays inside api_server.cpp.
//   GET  /health                 status and counters (no key needed)
//   GET  /v1/models, /v1/models/{id}
//   POST /v1/chat/completions    whole or streamed (server-sent events, data: [DONE])
//   POST /v1/completions         whole or streamed
#include <cstddef>
#include <memory>
#include <string>

#include "server/generation_queue.h"
#include "session/open_model.h"

namespace lc::server {

struct ServerOptions {
    std::string host = "127.0.0.1";  // loopback unless asked otherwise
    int port = 8080;                 // 0: any free port (port() says which)
    std::string api_key;             // when set, requests need "Authorization: Bearer KEY"
    int context_tokens = 0;          // 0: the model's max_position_embeddings
    int max_waiting = 16;            // requests queued behind the running one; more get 503
    size_t max_body_bytes = 8u << 20;
};

class ApiServer {
public:
    // Takes the model (opened with its tokenizer); nothing listens until start().
    ApiServer(OpenedModel model, ServerOptions options);
    ~ApiServer();  // stop()
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Binds and serves on a thread of its own; throws lc::Error naming host and port when the
    // address cannot be had.
    void start();
    // Stops accepting, cancels the running generation, fails the waiting requests (503), waits
    // for every connection's thread. Idempotent.
    void stop();

    int port() const;
    // What clients put in front of their paths: "http://127.0.0.1:8080/v1".
    std::string base_url() const;
    const std::string& model_name() const;
    QueueStats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace lc::server
