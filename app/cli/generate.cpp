// `generate` (one prompt, streamed) and `chat` (an interactive conversation in the terminal).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "commands.h"
#include "engine/generator.h"
#include "generate_remote.h"
#include "recorded_turn.h"
#include "session/chat_turn.h"

namespace lc::cli {

namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_interrupts{0};

// Ctrl-C stops the reply being generated; a second one within the same reply quits.
void on_sigint(int) {
    g_cancel.store(true);
    if (g_interrupts.fetch_add(1) >= 1) std::_Exit(130);
}

const std::set<std::string> kSamplingFlags = {
    "max-tokens", "temperature",    "top-p", "top-k",  "min-p",
    "seed",       "repeat-penalty", "ctx",   "system", "stop"};

GenerationOptions generation_options_from(const Args& args) {
    GenerationOptions o;
    SamplingParams& s = o.sampling;
    o.max_tokens = args.integer("max-tokens", 512, 1, 1 << 24);
    s.temperature = static_cast<float>(args.number("temperature", 0.8, 0, 100));
    s.top_p = static_cast<float>(args.number("top-p", 0.95, 1e-6, 1));
    s.top_k = args.integer("top-k", 40, 0, 1 << 24);
    s.min_p = static_cast<float>(args.number("min-p", 0.05, 0, 0.999999));
    s.repetition_penalty = static_cast<float>(args.number("repeat-penalty", 1.0, 0.01, 100));
    s.seed = args.unsigned64("seed", 0);
    if (auto stop = args.opt("stop")) o.stop_strings.push_back(*stop);
    o.stop_at_eos = !args.has("ignore-eos");
    s.validate();
    return o;
}

std::set<std::string> generate_flags() {
    std::set<std::string> f = kSamplingFlags;
    f.insert(kModelFlags.begin(), kModelFlags.end());
    f.insert({"prompt", "tokens", "db", "conversation"});
    f.insert(kRemoteFlags.begin(), kRemoteFlags.end());
    return f;
}

void print_stream(const TokenEvent& ev) {
    if (!ev.text.empty()) {
        std::cout << ev.text;
        std::cout.flush();
    }
}

// A chat turn recorded in a history database as it streams: the user's message is saved before
// generation starts, the reply every 0.5 s and at the end (so Ctrl-C or a crash keeps it).
GenerationResult generate_recorded(const Args& args, OpenedModel& opened,
                                   const GenerationOptions& options, const std::string& db,
                                   int ctx) {
    const nlohmann::json sampling = {{"temperature", options.sampling.temperature},
                                     {"top_p", options.sampling.top_p},
                                     {"top_k", options.sampling.top_k},
                                     {"min_p", options.sampling.min_p},
                                     {"repetition_penalty", options.sampling.repetition_penalty},
                                     {"seed", options.sampling.seed},
                                     {"max_tokens", options.max_tokens}};
    RecordedTurn recorded = begin_recorded_turn(args, db, opened.name(), sampling.dump());

    Session session(*opened.model, ctx);
    ChatContext chat(session, *opened.tokenizer, opened.chat);
    ChatTurnCallbacks callbacks;
    callbacks.on_token = print_stream;
    callbacks.recorder = recorded.recorder.get();
    const ChatTurnResult turn = chat.run(std::move(recorded.turns), options, callbacks, &g_cancel);
    if (!turn.notice.empty()) std::cerr << "\n(" << turn.notice << ")";
    report_saved(recorded, db);
    return turn.generation;
}

}  // namespace

int cmd_generate(const std::vector<std::string>& argv) {
    Args args(argv, generate_flags(), {"print-ids", "chat", "ignore-eos", "stats"});
    if (args.has("remote")) {
        std::signal(SIGINT, on_sigint);
        return generate_remote(args, g_cancel);
    }
    const bool have_prompt = args.has("prompt"), have_tokens = args.has("tokens");
    if (have_prompt == have_tokens)
        throw Error("generate needs exactly one of --prompt or --tokens");
    if (args.has("chat") && have_tokens) throw Error("--chat works with --prompt, not --tokens");
    if (args.has("db") && have_tokens) throw Error("--db records text conversations: use --prompt");
    if (args.has("conversation") && !args.has("db")) throw Error("--conversation needs --db FILE");
    GenerationOptions options = generation_options_from(args);
    OpenedModel opened = open_model_from(args, true);
    auto& model = opened.model;
    const int ctx = args.integer("ctx", 0, 0, 1 << 24);

    std::signal(SIGINT, on_sigint);
    GenerationResult r;
    const std::unique_ptr<Tokenizer>& tokenizer = opened.tokenizer;
    if (have_tokens) {
        std::vector<int> ids = args.int_list("tokens");
        if (ids.empty()) throw Error("--tokens is empty");
        Session session(*model, ctx);
        session.set_context(ids, &g_cancel);
        r = session.generate(*tokenizer, options, print_stream, &g_cancel,
                             std::chrono::steady_clock::now());
    } else if (auto db = args.opt("db")) {
        r = generate_recorded(args, opened, options, *db, ctx);
    } else {
        if (args.has("chat")) {
            Session session(*model, ctx);
            ChatContext chat(session, *tokenizer, opened.chat);
            std::vector<Message> messages;
            messages.emplace_back("system", args.str("system", opened.chat.default_system()));
            messages.emplace_back("user", args.str("prompt"));
            ChatTurnCallbacks callbacks;
            callbacks.on_token = print_stream;
            r = chat.run(std::move(messages), options, callbacks, &g_cancel).generation;
        } else {
            Session session(*model, ctx);
            session.set_context(tokenizer->encode(args.str("prompt"), true), &g_cancel);
            r = session.generate(*tokenizer, options, print_stream, &g_cancel,
                                 std::chrono::steady_clock::now());
        }
    }
    std::cout << "\n";
    if (args.has("print-ids")) {
        for (size_t i = 0; i < r.ids.size(); ++i)
            std::cout << (i ? "," : "") << r.ids[i];
        std::cout << "\n";
    }
    if (args.has("stats")) {
        const double decode_rate = r.ids.size() > 1 ? (r.ids.size() - 1) / r.decode_seconds : 0;
        std::cerr << "[" << r.ids.size() << " tokens, " << finish_reason_name(r.reason)
                  << "; first token after " << r.time_to_first_token * 1000 << " ms; "
                  << decode_rate << " tokens/s]\n";
    }
    return r.reason == FinishReason::Cancelled ? 130 : 0;
}

int cmd_chat(const std::vector<std::string>& argv) {
    std::set<std::string> flags = kSamplingFlags;
    flags.insert(kModelFlags.begin(), kModelFlags.end());
    Args args(argv, flags, {"ignore-eos"});
    GenerationOptions options = generation_options_from(args);
    OpenedModel opened = open_model_from(args, true);
    auto& model = opened.model;
    auto& tokenizer = opened.tokenizer;
    const std::string system = args.str("system", opened.chat.default_system());
    const int ctx = args.integer("ctx", 0, 0, 1 << 24);
    Session session(*model, ctx);
    ChatContext chat(session, *tokenizer, opened.chat);
    std::vector<Message> conversation;
    auto new_conversation = [&] {
        session.reset();
        chat.forget();
        conversation.assign(1, Message("system", system));
    };
    new_conversation();
    std::signal(SIGINT, on_sigint);

    std::cerr
        << "LatentChat: " << opened.name()
        << ". Type a message; /reset starts over, /quit or Ctrl-D leaves, Ctrl-C stops a reply.\n";
    std::string line;
    ChatTurnCallbacks callbacks;
    callbacks.on_token = print_stream;
    while (true) {
        std::cout << "\n> " << std::flush;
        if (!std::getline(std::cin, line)) break;
        if (line == "/quit" || line == "/exit") break;
        if (line == "/reset") {
            new_conversation();
            std::cerr << "(new conversation)\n";
            continue;
        }
        if (line.empty()) continue;
        g_cancel.store(false);
        g_interrupts.store(0);
        conversation.emplace_back("user", line);
        const ChatTurnResult turn = chat.run(conversation, options, callbacks, &g_cancel);
        const GenerationResult& r = turn.generation;
        if (r.ids.empty() && r.reason == FinishReason::Cancelled) {
            conversation.pop_back();  // stopped before the reply began: the turn never happened
        } else {
            conversation = chat.messages();  // what the context window kept, and the reply
        }
        if (!turn.notice.empty()) std::cerr << "\n(" << turn.notice << ")";
        CacheStats s = session.cache().stats();
        const double rate = r.ids.size() > 1 ? (r.ids.size() - 1) / r.decode_seconds : 0;
        std::cerr << "\n[" << r.ids.size() << " tokens at " << rate << " tok/s, prefilled "
                  << r.prompt_tokens << " new (" << r.reused_tokens << " reused); cache "
                  << s.tokens << " tokens, " << s.bytes_live / 1024 << " KiB (MHA would need "
                  << s.mha_bytes / 1024 << " KiB)"
                  << (r.reason == FinishReason::Cancelled ? "; stopped" : "") << "]\n";
    }
    return 0;
}

}  // namespace lc::cli
