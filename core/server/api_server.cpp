#include "server/api_server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/error.h"
#include "server/openai_request.h"
#include "server/openai_response.h"

namespace lc::server {

namespace {

using httplib::DataSink;
using httplib::Request;
using httplib::Response;

// How often a waiting reply looks whether its client is still there (and for new text).
constexpr std::chrono::milliseconds kPollInterval{50};
// How long a stream gathers text before it sends the next piece.
constexpr std::chrono::milliseconds kBatchInterval{2};
// How long a whole (not streamed) reply gathers text between looks at the client.
constexpr std::chrono::milliseconds kWholeGatherInterval{10};

int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A comparison whose time does not depend on where the strings first differ.
bool same_secret(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
        diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

// The sentence for an error cpp-httplib answered by itself (a request it could not parse).
ApiError error_for_status(int status, const Request& req) {
    switch (status) {
        case 404: {
            std::string path = req.path.substr(0, 200);
            return ApiError(404, "invalid_request_error",
                            "no such endpoint: " + req.method.substr(0, 16) + " " + path, {},
                            "unknown_url");
        }
        case 413:
            return ApiError(413, "invalid_request_error", "the request body is too large");
        case 414:
            return ApiError(414, "invalid_request_error", "the request line is too long");
        case 400:
            return ApiError(400, "invalid_request_error",
                            "the request is not valid HTTP (a header line too long, or a "
                            "malformed request line or body)");
        default:
            if (status >= 500) return ApiError(status, "server_error", "the server failed");
            return ApiError(status, "invalid_request_error", "the request was refused");
    }
}

// Writes `error` as the whole response. With `close`, the connection ends after it: the body of
// the request was not read, so what follows on the connection is no request. cpp-httplib 0.11.4
// has no call for that; a content provider that reports failure after writing the whole body
// makes it close the connection (the client has the complete response by then).
void send_error(Response& res, const ApiError& error, bool close) {
    res.status = error.status();
    const std::string body = error_json(error);
    if (error.status() == 503) res.set_header("Retry-After", "1");
    if (!close) {
        res.set_content(body, "application/json");
        return;
    }
    res.set_header("Connection", "close");
    res.set_content_provider(body.size(), "application/json",
                             [body](size_t offset, size_t length, DataSink& sink) {
                                 sink.write(body.data() + offset, length);
                                 return false;
                             });
}

bool is_json_content_type(const std::string& value) {
    std::string media = value.substr(0, value.find(';'));
    media.erase(
        std::remove_if(media.begin(), media.end(), [](unsigned char c) { return std::isspace(c); }),
        media.end());
    std::transform(media.begin(), media.end(), media.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return media == "application/json";
}

// The body, read through cpp-httplib's reader so that its size is bounded whatever the framing
// (0.11.4 bounds only bodies with a Content-Length by itself, not chunked ones).
std::string read_body(const Request& req, const httplib::ContentReader& reader, size_t max_bytes) {
    if (req.has_header("Content-Length")) {
        const std::string& length = req.get_header_value("Content-Length");
        if (length.size() > 18 || std::stoull("0" + length) > max_bytes)
            throw ApiError(
                413, "invalid_request_error",
                "the request body is larger than " + std::to_string(max_bytes) + " bytes");
    }
    std::string body;
    bool too_large = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const bool complete = reader([&](const char* data, size_t n) {
        if (body.size() + n > max_bytes) {
            too_large = true;
            return false;
        }
        body.append(data, n);
        return std::chrono::steady_clock::now() < deadline;  // a body sent byte by byte ends
    });
    if (too_large)
        throw ApiError(413, "invalid_request_error",
                       "the request body is larger than " + std::to_string(max_bytes) + " bytes");
    if (!complete)
        throw ApiError(400, "invalid_request_error",
                       "the request body ended early, or took longer than 30 seconds");
    return body;
}

GenerationOptions generation_options(const SamplingRequest& s, uint64_t fallback_seed) {
    GenerationOptions o;  // the defaults of `latentchat-cli generate`
    o.max_tokens = s.max_tokens.value_or(512);
    o.sampling.temperature = static_cast<float>(s.temperature.value_or(0.8));
    o.sampling.top_p = static_cast<float>(s.top_p.value_or(0.95));
    o.sampling.top_k = s.top_k.value_or(40);
    o.sampling.min_p = static_cast<float>(s.min_p.value_or(0.05));
    o.sampling.repetition_penalty = static_cast<float>(s.repetition_penalty.value_or(1.0));
    o.sampling.seed = s.seed.value_or(fallback_seed);
    o.stop_strings = s.stop;
    o.stop_at_eos = !s.ignore_eos;
    try {
        o.sampling.validate();
    } catch (const Error& e) {
        throw ApiError::invalid(e.what());
    }
    return o;
}

// One reply on its way to the client, pumped by cpp-httplib's content provider on the
// connection's thread: text as the engine makes it, checking between tokens that the client is
// still there, and cancelling the job when it is not.
struct ReplyWriter {
    std::shared_ptr<JobProgress> progress;
    ResponseIds ids;
    bool chat = true;
    bool stream = false;
    bool include_usage = false;

    bool pump(DataSink& sink) {
        const bool ok = stream ? pump_events(sink) : pump_whole(sink);
        if (!ok) progress->cancel();
        return ok;
    }

private:
    std::string chunk(const std::string& text, const std::optional<std::string>& finish,
                      bool first) const {
        return sse_event(chat ? chat_chunk_json(ids, text, first, finish)
                              : completion_chunk_json(ids, text, finish));
    }

    static bool write(DataSink& sink, const std::string& data) {
        return sink.write(data.data(), data.size());
    }

    bool pump_events(DataSink& sink) {
        if (chat && !write(sink, chunk("", std::nullopt, true))) return false;
        while (true) {
            JobProgress::Update u = progress->take(kPollInterval);
            if (!u.text.empty() && !write(sink, chunk(u.text, std::nullopt, false))) return false;
            // A fast model makes a token every half millisecond or so; waking for each one costs
            // the engine a share of the cores. Text that comes within kBatchInterval goes out
            // together (a slow model's tokens still go one by one).
            if (!u.text.empty() && u.phase == JobProgress::Phase::Generating)
                std::this_thread::sleep_for(kBatchInterval);
            if (u.phase == JobProgress::Phase::Finished) {
                if (!write(sink, chunk("", u.finish_reason, false))) return false;
                if (include_usage &&
                    !write(sink, sse_event(chat ? chat_usage_chunk_json(ids, u.usage)
                                                : completion_usage_chunk_json(ids, u.usage))))
                    return false;
                if (!write(sink, std::string(kSseDone))) return false;
                sink.done();
                return true;
            }
            if (u.phase == JobProgress::Phase::Failed) {
                // OpenAI's way to end a stream in error: an event holding the error, no [DONE].
                if (u.error) write(sink, sse_event(error_json(*u.error)));
                sink.done();
                return true;
            }
            if (!sink.is_writable()) return false;
        }
    }

    bool pump_whole(DataSink& sink) {
        std::string text;
        while (true) {
            JobProgress::Update u = progress->take(kPollInterval);
            text += u.text;
            // Nothing goes out before the end: wake at most every 10 ms, not for every token.
            if (!u.text.empty() && u.phase == JobProgress::Phase::Generating)
                std::this_thread::sleep_for(kWholeGatherInterval);
            if (u.phase == JobProgress::Phase::Finished) {
                const std::string body =
                    chat ? chat_completion_json(ids, text, u.finish_reason, u.usage)
                         : completion_json(ids, text, u.finish_reason, u.usage);
                if (!write(sink, body)) return false;
                sink.done();
                return true;
            }
            // The status line went out when the reply began; a failure now (the server
            // stopping) can only cut the response short.
            if (u.phase == JobProgress::Phase::Failed) return false;
            if (!sink.is_writable()) return false;
        }
    }
};

}  // namespace

struct ApiServer::Impl {
    Impl(OpenedModel model, ServerOptions opts)
        : options(std::move(opts)),
          default_system(model.chat.default_system()),
          queue(std::move(model), options.context_tokens, options.max_waiting),
          random(std::random_device{}()) {}

    ServerOptions options;
    std::string default_system;
    GenerationQueue queue;
    httplib::Server http;
    std::thread listener;
    int port = 0;
    int64_t created = unix_seconds();
    std::mutex random_mutex;
    std::mt19937_64 random;  // response ids and the seeds of requests that name none
    bool started = false;

    uint64_t draw() {
        std::lock_guard lock(random_mutex);
        return random();
    }
    void routes();
    void check_model(const std::string& requested) const;
    void generate(const Request& req, Response& res, const httplib::ContentReader& reader,
                  bool chat);
    std::string health() const;
};

void ApiServer::Impl::check_model(const std::string& requested) const {
    if (requested.empty() || requested == "default" || requested == queue.model_name()) return;
    throw ApiError(404, "invalid_request_error",
                   "the model '" + requested.substr(0, 200) +
                       "' does not exist; this server has '" + queue.model_name() +
                       "' (also called 'default')",
                   "model", "model_not_found");
}

std::string ApiServer::Impl::health() const {
    const QueueStats s = queue.stats();
    return nlohmann::json({{"status", "ok"},
                           {"model", queue.model_name()},
                           {"context_tokens", queue.context_tokens()},
                           {"running", s.running},
                           {"waiting", s.waiting},
                           {"completed", s.completed},
                           {"cancelled", s.cancelled},
                           {"failed", s.failed},
                           {"rejected", s.rejected},
                           {"tokens_generated", s.tokens}})
        .dump();
}

void ApiServer::Impl::generate(const Request& req, Response& res,
                               const httplib::ContentReader& reader, bool chat) {
    bool body_read = false;
    try {
        if (!is_json_content_type(req.get_header_value("Content-Type")))
            throw ApiError(415, "invalid_request_error",
                           "the request body must be JSON, sent as Content-Type: application/json");
        const std::string body = read_body(req, reader, options.max_body_bytes);
        body_read = true;
        GenerationJob job;
        job.chat = chat;
        SamplingRequest sampling;
        if (chat) {
            ChatRequest r = parse_chat_request(body);
            check_model(r.model);
            job.messages = std::move(r.messages);
            // As `generate --chat`: the template's own system prompt when the request has none.
            if (job.messages.front().role != "system" && !default_system.empty())
                job.messages.insert(job.messages.begin(), Message("system", default_system));
            sampling = std::move(r.sampling);
        } else {
            CompletionRequest r = parse_completion_request(body);
            check_model(r.model);
            job.prompt = std::move(r.prompt);
            sampling = std::move(r.sampling);
        }
        job.options = generation_options(sampling, draw());
        std::shared_ptr<JobProgress> progress = queue.submit(std::move(job));
        // Errors found before the reply begins (a prompt too long) still get their status.
        if (progress->wait_started() == JobProgress::Phase::Failed) {
            JobProgress::Update u = progress->take(std::chrono::milliseconds(0));
            throw u.error.value_or(ApiError(500, "server_error", "the generation failed"));
        }
        auto writer = std::make_shared<ReplyWriter>();
        writer->progress = progress;
        writer->ids = {std::string(chat ? "chatcmpl-" : "cmpl-") +
                           [&] {
                               char hex[17];
                               std::snprintf(hex, sizeof hex, "%016llx",
                                             static_cast<unsigned long long>(draw()));
                               return std::string(hex);
                           }(),
                       unix_seconds(), queue.model_name()};
        writer->chat = chat;
        writer->stream = sampling.stream;
        writer->include_usage = sampling.include_usage;
        if (sampling.stream) res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            sampling.stream ? "text/event-stream" : "application/json",
            [writer](size_t, DataSink& sink) { return writer->pump(sink); },
            [writer](bool success) {
                if (!success) writer->progress->cancel();
            });
    } catch (const ApiError& e) {
        send_error(res, e, !body_read);
    }
}

void ApiServer::Impl::routes() {
    const httplib::Server::HandlerWithResponse on_error = [](const Request& req, Response& res) {
        // Only the errors cpp-httplib answered by itself have no body yet.
        if (!res.body.empty() || res.has_header("Content-Type"))
            return httplib::Server::HandlerResponse::Unhandled;
        res.set_content(error_json(error_for_status(res.status, req)), "application/json");
        return httplib::Server::HandlerResponse::Handled;
    };
    http.set_error_handler(on_error);
    // A client that asks before sending a body (curl does above 1 MB) learns at once that it is
    // too large, and sends nothing.
    http.set_expect_100_continue_handler([this](const Request& req, Response& res) {
        const std::string& length = req.get_header_value("Content-Length");
        if (length.size() > 18 || std::stoull("0" + length) > options.max_body_bytes) {
            const ApiError too_large(413, "invalid_request_error",
                                     "the request body is larger than " +
                                         std::to_string(options.max_body_bytes) + " bytes");
            res.status = 413;
            res.set_content(error_json(too_large), "application/json");
            return 413;
        }
        return 100;
    });
    http.set_pre_routing_handler([this](const Request& req, Response& res) {
        if (options.api_key.empty() || req.path == "/health")
            return httplib::Server::HandlerResponse::Unhandled;
        const std::string& auth = req.get_header_value("Authorization");
        const std::string prefix = "Bearer ";
        const bool ok = auth.size() > prefix.size() &&
                        auth.compare(0, prefix.size(), prefix) == 0 &&
                        same_secret(auth.substr(prefix.size()), options.api_key);
        if (ok) return httplib::Server::HandlerResponse::Unhandled;
        send_error(res,
                   ApiError(401, "invalid_request_error",
                            auth.empty() ? "this server needs an API key: send the header "
                                           "Authorization: Bearer KEY"
                                         : "the API key is not this server's",
                            {}, "invalid_api_key"),
                   req.method == "POST");
        return httplib::Server::HandlerResponse::Handled;
    });
    http.Get("/health", [this](const Request&, Response& res) {
        res.set_content(health(), "application/json");
    });
    http.Get("/v1/models", [this](const Request&, Response& res) {
        res.set_content(models_json({queue.model_name()}, created), "application/json");
    });
    http.Get("/v1/models/(.+)", [this](const Request& req, Response& res) {
        try {
            check_model(req.matches[1]);
            res.set_content(model_json(queue.model_name(), created), "application/json");
        } catch (const ApiError& e) {
            send_error(res, e, false);
        }
    });
    http.Post("/v1/chat/completions",
              [this](const Request& req, Response& res, const httplib::ContentReader& reader) {
                  generate(req, res, reader, true);
              });
    http.Post("/v1/completions",
              [this](const Request& req, Response& res, const httplib::ContentReader& reader) {
                  generate(req, res, reader, false);
              });
}

ApiServer::ApiServer(OpenedModel model, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(options))) {
    impl_->routes();
}

ApiServer::~ApiServer() {
    stop();
}

void ApiServer::start() {
    Impl& s = *impl_;
    if (s.started) return;
    // Every waiting request holds a connection thread, so there are threads for all of them
    // plus a few for /health, /v1/models and the refusals of a full queue.
    const size_t threads = static_cast<size_t>(std::max(0, s.options.max_waiting)) + 8;
    s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    s.http.set_payload_max_length(s.options.max_body_bytes);
    // Stream pieces are small writes; without this Nagle's algorithm holds each one back until
    // the previous is acknowledged.
    s.http.set_tcp_nodelay(true);
    // An idle keep-alive connection holds its thread until this runs out, and stop() waits for
    // every thread: 2 s instead of cpp-httplib's 5 keeps a stop prompt; a client that comes back
    // later opens a new connection, which on loopback costs nothing.
    s.http.set_keep_alive_timeout(2);
    const std::string where = s.options.host + ":" + std::to_string(s.options.port);
    if (s.options.port == 0) {
        s.port = s.http.bind_to_any_port(s.options.host);
        if (s.port <= 0) throw Error("cannot listen on " + s.options.host + " (any port)");
    } else {
        if (!s.http.bind_to_port(s.options.host, s.options.port))
            throw Error("cannot listen on " + where +
                        ": the port is taken or the address is not this machine's");
        s.port = s.options.port;
    }
    auto listening = std::make_shared<std::atomic<bool>>(true);
    s.listener = std::thread([&s, listening] {
        s.http.listen_after_bind();
        listening->store(false);
    });
    // stop() does nothing to a server that is not running yet; wait until it is.
    while (!s.http.is_running() && listening->load())
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!listening->load()) {
        s.listener.join();
        throw Error("cannot serve on " + where);
    }
    s.started = true;
}

void ApiServer::stop() {
    Impl& s = *impl_;
    s.http.stop();       // no new connections; idle keep-alive connections end
    s.queue.shutdown();  // the running reply is cancelled, the waiting ones fail
    if (s.listener.joinable()) s.listener.join();  // every connection's thread has ended
    s.started = false;
}

int ApiServer::port() const {
    return impl_->port;
}

std::string ApiServer::base_url() const {
    const std::string& host = impl_->options.host;
    const bool ipv6 = host.find(':') != std::string::npos;
    return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(impl_->port) + "/v1";
}

const std::string& ApiServer::model_name() const {
    return impl_->queue.model_name();
}

QueueStats ApiServer::stats() const {
    return impl_->queue.stats();
}

}  // namespace lc::server
