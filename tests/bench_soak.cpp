// Soak benchmark (issue 22): 1,000 chat turns in one process, as the app's worker and
// `latentchat-cli generate --db` run them (open_model, ChatContext over one Session, every turn
// saved to a HistoryStore through a ReplyRecorder, the latent cache saved on leaving a
// conversation and restored on coming back to it), printing resident memory every 100 turns.
// Built with the tests, never run by ctest: README "Soak".
//   bench_soak [--turns N] [--model DIR] [--db FILE] [--max-tokens N] [--ctx N]
// Conversations of 10 turns each in a 512-token context (the longer ones drop their oldest
// exchanges); midway through each, one turn goes back to the previous conversation, reopened
// from its saved cache, and then returns the same way.
#include <malloc.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/cache_file.h"
#include "engine/generator.h"
#include "history/history_store.h"
#include "session/chat_turn.h"
#include "session/open_model.h"

namespace fs = std::filesystem;

namespace {

// Resident and peak resident memory from /proc/self/status, in KiB.
void memory_kib(long& rss, long& hwm) {
    rss = hwm = -1;
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) rss = std::atol(line.c_str() + 6);
        if (line.rfind("VmHWM:", 0) == 0) hwm = std::atol(line.c_str() + 6);
    }
}

const char* const kPrompts[] = {
    "Tell me a story about a cat.",
    "What happened next?",
    "Tell me about a little girl who found a red ball.",
    "Why was the dog sad?",
    "Can you tell a story about the sun and the moon?",
    "What did Tom say to his mom?",
    "Tell me a story about a big tree in the park.",
    "And then?",
};

struct Args {
    int turns = 1000;
    int max_tokens = 24;
    int ctx = 512;
    fs::path model;
    fs::path db;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--turns")
            a.turns = std::atoi(value.c_str());
        else if (flag == "--max-tokens")
            a.max_tokens = std::atoi(value.c_str());
        else if (flag == "--ctx")
            a.ctx = std::atoi(value.c_str());
        else if (flag == "--model")
            a.model = value;
        else if (flag == "--db")
            a.db = value;
        else
            throw lc::Error("bench_soak: unknown flag " + flag);
    }
    if (a.turns < 1 || a.max_tokens < 1 || a.ctx < 64) throw lc::Error("bench_soak: bad value");
    return a;
}

struct Conversation {
    int64_t id = 0;
    std::vector<lc::Message> messages;  // as the context held them after the last turn
    std::vector<int> tokens;            // the session's tokens when it was left
    fs::path cache_file;
};

int run(const Args& args) {
    const fs::path work = fs::temp_directory_path() / ("lc-soak-" + std::to_string(::getpid()));
    fs::create_directories(work);
    const fs::path db = args.db.empty() ? work / "history.db" : args.db;

    lc::OpenOptions open;
    open.path = args.model.empty()
                    ? fs::path(LC_SOURCE_DIR) / "resources/models/latentchat-stories-13m"
                    : args.model;
    lc::OpenedModel opened = lc::open_model(open);
    const std::string fingerprint = lc::model_fingerprint(*opened.model);
    lc::HistoryStore store(db);
    lc::Session session(*opened.model, args.ctx);
    lc::ChatContext chat(session, *opened.tokenizer, opened.chat);

    lc::GenerationOptions options;
    options.max_tokens = args.max_tokens;

    long rss0, hwm0;
    memory_kib(rss0, hwm0);
    std::printf("model %s, context %d, replies of at most %d tokens, database %s\n",
                opened.name().c_str(), args.ctx, args.max_tokens, db.string().c_str());
    // heap: what malloc has handed out and not had back; sqlite: SQLite's share of it (its page
    // cache grows with the database up to its limit, 2 MB by default).
    std::printf("%6s %9s %9s %9s %9s %7s %7s %8s\n", "turns", "rss KiB", "peak KiB", "heap KiB",
                "sqlite", "s/100", "tokens", "resumed");
    std::printf("%6d %9ld %9ld %9zu %9lld\n", 0, rss0, hwm0, mallinfo2().uordblks / 1024,
                static_cast<long long>(sqlite3_memory_used() / 1024));

    Conversation current, previous;
    int resumed = 0;
    // Leaving a conversation saves its latent cache next to the database, as the app does.
    auto leave = [&](Conversation& c) {
        c.tokens = session.tokens();
        lc::save_latent_cache(c.cache_file, session.cache(), c.tokens, fingerprint);
    };
    auto come_back = [&](Conversation& c) {
        const lc::LoadedCache loaded =
            lc::resume_session(session, c.cache_file, fingerprint, c.tokens);
        chat.forget();
        if (loaded.used) ++resumed;
    };
    auto swap_conversations = [&] {
        leave(current);
        std::swap(current, previous);
        come_back(current);
    };

    auto t0 = std::chrono::steady_clock::now();
    long tokens = 0;
    for (int turn = 0; turn < args.turns; ++turn) {
        if (turn % 10 == 0) {  // a new conversation; the one before stays reachable
            if (current.id != 0) {
                leave(current);
                std::error_code ec;
                if (previous.id != 0) fs::remove(previous.cache_file, ec);
                previous = std::move(current);
            }
            current = Conversation{};
            current.id = store.create_conversation("Soak " + std::to_string(turn), opened.name());
            current.messages.emplace_back("system", "You tell short stories.");
            current.cache_file = work / ("conversation-" + std::to_string(current.id) + ".lckv");
            session.reset();
            chat.forget();
        }
        // One turn back in the previous conversation, from its saved cache, then back again.
        if ((turn % 10 == 5 || turn % 10 == 6) && previous.id != 0) swap_conversations();

        const std::string prompt = kPrompts[turn % (sizeof kPrompts / sizeof *kPrompts)];
        const std::vector<lc::Message> stored = store.branch(current.id);
        const std::optional<int64_t> parent =
            stored.empty() ? std::nullopt : std::optional<int64_t>(stored.back().id);
        const int64_t user = store.add_message(current.id, parent, "user", prompt);
        lc::MessageMeta meta;
        meta.model_id = opened.name();
        meta.sampling_json = R"({"temperature":0.8})";
        const int64_t reply = store.add_message(current.id, user, "assistant", "", meta);
        lc::ReplyRecorder recorder(store, reply);

        current.messages.emplace_back("user", prompt);
        options.sampling.seed = static_cast<uint64_t>(turn) + 1;
        lc::ChatTurnCallbacks callbacks;
        callbacks.recorder = &recorder;
        const lc::ChatTurnResult r = chat.run(current.messages, options, callbacks, nullptr);
        current.messages = chat.messages();
        tokens += static_cast<long>(r.generation.ids.size());

        if ((turn + 1) % 100 == 0 || turn + 1 == args.turns) {
            const auto t1 = std::chrono::steady_clock::now();
            long rss, hwm;
            memory_kib(rss, hwm);
            std::printf("%6d %9ld %9ld %9zu %9lld %7.1f %7ld %8d\n", turn + 1, rss, hwm,
                        mallinfo2().uordblks / 1024,
                        static_cast<long long>(sqlite3_memory_used() / 1024),
                        std::chrono::duration<double>(t1 - t0).count(), tokens, resumed);
            std::fflush(stdout);
            t0 = t1;
            tokens = 0;
        }
    }
    std::printf("%lld conversations, database %.1f MB, caches resumed %d\n",
                static_cast<long long>(store.count_conversations(true)),
                static_cast<double>(fs::file_size(db)) / 1e6, resumed);
    std::error_code ec;
    fs::remove_all(work, ec);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const lc::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
