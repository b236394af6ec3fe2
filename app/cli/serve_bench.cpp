// `serve-bench`: one model, one prompt, the same sampling; time to first token and decode
// tokens/s of a streamed chat reply in-process (ChatContext, as `generate --chat`) and through
// `serve` (an ApiServer on a free loopback port, read with libcurl as a client would).
#include <curl/curl.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "bench_util.h"
#include "commands.h"
#include "serve.h"
#include "server/api_server.h"
#include "session/chat_turn.h"

namespace lc::cli {

namespace {

struct Run {
    double first_token_ms = 0;
    double tokens_per_second = 0;      // decode: after the first token
    double end_to_end_per_second = 0;  // all tokens over the whole request, first token included
    int tokens = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

std::string prompt_of(const std::string& prompt, int i) {
    // A different start each time, so that no run finds its prompt in the cache.
    return "Request " + std::to_string(i) + ". " + prompt;
}

Run in_process(ChatContext& chat, const std::string& system, const std::string& prompt,
               const GenerationOptions& options) {
    std::vector<Message> messages = {Message("system", system), Message("user", prompt)};
    double first = -1, last = 0;
    ChatTurnCallbacks callbacks;
    const double start = now_seconds();
    callbacks.on_token = [&](const TokenEvent&) {
        last = now_seconds();
        if (first < 0) first = last;
    };
    const ChatTurnResult turn = chat.run(messages, options, callbacks, nullptr);
    Run r;
    r.tokens = static_cast<int>(turn.generation.ids.size());
    r.first_token_ms = (first - start) * 1000;
    r.tokens_per_second = r.tokens > 1 ? (r.tokens - 1) / (last - first) : 0;
    r.end_to_end_per_second = r.tokens / (last - start);
    return r;
}

// The streamed reply's events as they arrive: the time of the first and last content, and the
// usage chunk's token count.
struct StreamClock {
    std::string pending;
    double first = -1, last = 0;
    int tokens = 0;
};

size_t on_bytes(char* data, size_t size, size_t count, void* user) {
    auto& clock = *static_cast<StreamClock*>(user);
    clock.pending.append(data, size * count);
    for (size_t end; (end = clock.pending.find("\n\n")) != std::string::npos;) {
        const std::string event = clock.pending.substr(0, end);
        clock.pending.erase(0, end + 2);
        if (event.rfind("data: {", 0) != 0) continue;
        const nlohmann::json j = nlohmann::json::parse(event.substr(6));
        if (j.contains("usage") && j["usage"].is_object())
            clock.tokens = j["usage"]["completion_tokens"].get<int>();
        if (j["choices"].empty()) continue;
        const nlohmann::json& delta = j["choices"][0]["delta"];
        if (delta.contains("content") && !delta["content"].get<std::string>().empty()) {
            clock.last = now_seconds();
            if (clock.first < 0) clock.first = clock.last;
        }
    }
    return size * count;
}

Run through_server(const std::string& url, const std::string& prompt,
                   const GenerationOptions& options) {
    const nlohmann::json body = {{"model", "default"},
                                 {"messages", {{{"role", "user"}, {"content", prompt}}}},
                                 {"max_tokens", options.max_tokens},
                                 {"temperature", options.sampling.temperature},
                                 {"seed", options.sampling.seed},
                                 {"ignore_eos", true},
                                 {"stream", true},
                                 {"stream_options", {{"include_usage", true}}}};
    const std::string text = body.dump();
    StreamClock clock;
    CURL* curl = curl_easy_init();
    if (!curl) throw Error("libcurl could not start");
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, (url + "/chat/completions").c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &clock);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    const double start = now_seconds();
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK || status != 200)
        throw Error("the request to " + url + " failed: " + curl_easy_strerror(rc) + ", status " +
                    std::to_string(status));
    Run r;
    r.tokens = clock.tokens;
    r.first_token_ms = (clock.first - start) * 1000;
    // Text arrives in pieces that may bunch up on the way, which shortens first-to-last; the
    // whole request's rate has no such bias.
    r.tokens_per_second = r.tokens > 1 ? (r.tokens - 1) / (clock.last - clock.first) : 0;
    r.end_to_end_per_second = r.tokens / (clock.last - start);
    return r;
}

nlohmann::json summary(const std::vector<Run>& runs) {
    std::vector<double> first, rate, whole;
    for (const Run& r : runs) {
        first.push_back(r.first_token_ms);
        rate.push_back(r.tokens_per_second);
        whole.push_back(r.end_to_end_per_second);
    }
    return {{"time_to_first_token_ms", median(first)},
            {"decode_tokens_per_second", median(rate)},
            {"end_to_end_tokens_per_second", median(whole)},
            {"tokens", runs.empty() ? 0 : runs.front().tokens}};
}

}  // namespace

int cmd_serve_bench(const std::vector<std::string>& argv) {
    std::set<std::string> flags = {"prompt", "max-tokens", "repeat", "ctx"};
    flags.insert(kModelFlags.begin(), kModelFlags.end());
    Args args(argv, flags, {});
    const std::string prompt = args.str("prompt", "Tell me a story about a cat.");
    const int repeat = args.integer("repeat", 10, 1, 1000);
    GenerationOptions options;
    options.max_tokens = args.integer("max-tokens", 128, 2, 1 << 16);
    options.stop_at_eos = false;  // every run the same length
    const int ctx = args.integer("ctx", 0, 0, 1 << 24);

    // Two instances of the model: one for the in-process runs, one behind the server. The runs
    // alternate, so a machine whose load changes (a shared one) weighs on both alike.
    OpenedModel local = open_model_from(args, true);
    const std::string system = local.chat.default_system();
    Session session(*local.model, ctx);
    ChatContext chat(session, *local.tokenizer, local.chat);
    server::ServerOptions server_options;
    server_options.port = 0;  // any free loopback port
    server_options.context_tokens = ctx;
    server::ApiServer server(open_model_from(args, true), server_options);
    server.start();
    in_process(chat, system, prompt_of(prompt, -1), options);  // warm-up, both
    through_server(server.base_url(), prompt_of(prompt, -1), options);
    std::vector<Run> local_runs, served;
    for (int i = 0; i < repeat; ++i) {
        options.sampling.seed = static_cast<uint64_t>(i);
        local_runs.push_back(in_process(chat, system, prompt_of(prompt, i), options));
        served.push_back(through_server(server.base_url(), prompt_of(prompt, i), options));
    }
    server.stop();

    const nlohmann::json out = {
        {"model", server.model_name()},      {"prompt", prompt},
        {"max_tokens", options.max_tokens},  {"repeat", repeat},
        {"in_process", summary(local_runs)}, {"server_streamed", summary(served)}};
    std::cout << out.dump(2) << "\n";
    return 0;
}

}  // namespace lc::cli
