// `generate` (one prompt, streamed) and `chat` (an interactive conversation in the terminal).
#include <csignal>
#include <iostream>

#include "commands.h"
#include "error.h"
#include "generator.h"

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

std::unique_ptr<Tokenizer> load_tokenizer(const Model& model) {
    const ModelConfig& c = model.config();
    return Tokenizer::load(model.dir(), c.bos_token_id,
                           c.eos_token_ids.empty() ? -1 : c.eos_token_ids[0]);
}

std::set<std::string> generate_flags() {
    std::set<std::string> f = kSamplingFlags;
    f.insert(kModelFlags.begin(), kModelFlags.end());
    f.insert({"prompt", "tokens"});
    return f;
}

void print_stream(const TokenEvent& ev) {
    if (!ev.text.empty()) {
        std::cout << ev.text;
        std::cout.flush();
    }
}

}  // namespace

int cmd_generate(const std::vector<std::string>& argv) {
    Args args(argv, generate_flags(), {"print-ids", "chat", "ignore-eos", "stats"});
    const bool have_prompt = args.has("prompt"), have_tokens = args.has("tokens");
    if (have_prompt == have_tokens)
        throw Error("generate needs exactly one of --prompt or --tokens");
    if (args.has("chat") && have_tokens) throw Error("--chat works with --prompt, not --tokens");
    GenerationOptions options = generation_options_from(args);
    auto model = load_model(args);
    const int ctx = args.integer("ctx", 0, 0, 1 << 24);

    std::signal(SIGINT, on_sigint);
    GenerationResult r;
    std::unique_ptr<Tokenizer> tokenizer;
    if (have_tokens) {
        std::vector<int> ids = args.int_list("tokens");
        if (ids.empty()) throw Error("--tokens is empty");
        tokenizer = load_tokenizer(*model);
        Session session(*model, ctx);
        session.set_context(ids, &g_cancel);
        r = session.generate(*tokenizer, options, print_stream, &g_cancel,
                             std::chrono::steady_clock::now());
    } else {
        tokenizer = load_tokenizer(*model);
        if (args.has("chat")) {
            ChatSession chat(*model, *tokenizer, ChatTemplate::load(model->dir()), ctx);
            chat.set_system(args.str("system", ChatTemplate::load(model->dir()).default_system()));
            r = chat.send(args.str("prompt"), options, print_stream, &g_cancel);
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
    auto model = load_model(args);
    auto tokenizer = load_tokenizer(*model);
    ChatTemplate chat_template = ChatTemplate::load(model->dir());
    std::string system = args.str("system", chat_template.default_system());
    const int ctx = args.integer("ctx", 0, 0, 1 << 24);
    auto new_chat = [&] {
        auto c = std::make_unique<ChatSession>(*model, *tokenizer, chat_template, ctx);
        c->set_system(system);
        return c;
    };
    auto chat = new_chat();
    std::signal(SIGINT, on_sigint);

    std::cerr
        << "LatentChat: " << model->dir().filename().string()
        << ". Type a message; /reset starts over, /quit or Ctrl-D leaves, Ctrl-C stops a reply.\n";
    std::string line;
    while (true) {
        std::cout << "\n> " << std::flush;
        if (!std::getline(std::cin, line)) break;
        if (line == "/quit" || line == "/exit") break;
        if (line == "/reset") {
            chat = new_chat();
            std::cerr << "(new conversation)\n";
            continue;
        }
        if (line.empty()) continue;
        g_cancel.store(false);
        g_interrupts.store(0);
        GenerationResult r = chat->send(line, options, print_stream, &g_cancel);
        if (!chat->notice().empty()) std::cerr << "\n(" << chat->notice() << ")";
        CacheStats s = chat->session().cache().stats();
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
