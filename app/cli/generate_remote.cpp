#include "generate_remote.h"

#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "base/error.h"
#include "commands.h"
#include "recorded_turn.h"
#include "remote/openai_client.h"
#include "session/remote_turn.h"

namespace lc::cli {

namespace {

// Flags of the local engine, which a remote one has no use for.
const char* const kLocalOnly[] = {"model",  "device",    "threads",    "batch", "attention",
                                  "tokens", "print-ids", "ignore-eos", "ctx"};

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// The sampling flags as a request. top-k, min-p and the repetition penalty are not part of
// OpenAI's API: they are sent only when given (vLLM and SGLang take them, others may refuse).
remote::ChatRequest request_from(const Args& args) {
    remote::ChatRequest r;
    r.max_tokens = args.integer("max-tokens", 512, 1, 1 << 24);
    r.temperature = args.number("temperature", 0.8, 0, 2);
    r.top_p = args.number("top-p", 0.95, 1e-6, 1);
    if (args.has("seed")) r.seed = args.unsigned64("seed", 0);
    if (auto stop = args.opt("stop")) r.stop.push_back(*stop);
    if (args.has("top-k")) r.top_k = args.integer("top-k", 40, 0, 1 << 24);
    if (args.has("min-p")) r.min_p = args.number("min-p", 0.05, 0, 0.999999);
    if (args.has("repeat-penalty"))
        r.repetition_penalty = args.number("repeat-penalty", 1, 0.01, 100);
    return r;
}

nlohmann::json sampling_json(const remote::ChatRequest& r) {
    nlohmann::json j = {
        {"temperature", r.temperature}, {"top_p", r.top_p}, {"max_tokens", r.max_tokens}};
    if (r.seed) j["seed"] = *r.seed;
    if (r.top_k) j["top_k"] = *r.top_k;
    if (r.min_p) j["min_p"] = *r.min_p;
    if (r.repetition_penalty) j["repetition_penalty"] = *r.repetition_penalty;
    return j;
}

}  // namespace

int generate_remote(const Args& args, const std::atomic<bool>& cancel) {
    for (const char* flag : kLocalOnly)
        if (args.has(flag))
            throw Error(std::string("--") + flag +
                        " is for the local engine; with --remote the server's model answers");
    if (!args.has("prompt")) throw Error("generate --remote needs --prompt");
    if (args.has("conversation") && !args.has("db")) throw Error("--conversation needs --db FILE");
    remote::ChatRequest request = request_from(args);

    RemoteTurn turn;
    turn.endpoint.base_url = args.str("remote");
    remote::normalize_base_url(turn.endpoint.base_url);  // a bad URL fails before anything else
    turn.endpoint.api_key = args.str("api-key", env("LATENTCHAT_API_KEY"));
    if (turn.endpoint.api_key.empty()) turn.endpoint.api_key = env("OPENAI_API_KEY");
    turn.endpoint.model = args.str("remote-model");
    turn.endpoint.model = remote::choose_model(turn.endpoint, &cancel);

    ChatTurnCallbacks callbacks;
    callbacks.on_token = [](const TokenEvent& ev) {
        std::cout << ev.text;
        std::cout.flush();
    };
    std::optional<RecordedTurn> recorded;
    const std::string db = args.str("db");
    if (!db.empty()) {
        recorded =
            begin_recorded_turn(args, db, turn.endpoint.model, sampling_json(request).dump());
        request.messages = recorded->turns;
        callbacks.recorder = recorded->recorder.get();
    } else {
        // As generate --chat: the system prompt (when given), then the prompt.
        if (args.has("system")) request.messages.emplace_back("system", args.str("system"));
        request.messages.emplace_back("user", args.str("prompt"));
    }
    bool printed = false;
    callbacks.on_started = [&printed](int, int) { printed = true; };
    ChatTurnResult result;
    try {
        result = run_remote_turn(turn, std::move(request), callbacks, &cancel);
    } catch (const Error&) {
        if (printed) std::cout << std::endl;  // the error line starts on a line of its own
        throw;
    }
    std::cout << "\n";
    if (recorded) report_saved(*recorded, db);
    if (args.has("stats")) {
        const MessageMeta& m = result.reply.meta;
        std::cerr << "[" << m.token_count << " tokens from " << turn.endpoint.model << ", "
                  << m.finish_reason << "; first token after " << m.time_to_first_token_ms
                  << " ms; " << m.tokens_per_second << " tokens/s]\n";
    }
    return result.generation.reason == FinishReason::Cancelled ? 130 : 0;
}

}  // namespace lc::cli
