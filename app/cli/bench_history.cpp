// `bench-history`: fills a history database with synthetic chats when it holds fewer
// conversations than asked, then times opening it, listing, searching and opening a
// conversation. JSON on stdout; progress on stderr.
//
// The chats: a user question (6-30 words) and assistant replies (30-120 words) drawn from a
// story vocabulary with Zipf frequencies, so "dragon" is common and the made-up rare words
// ("zorquilvex", ...) each appear in a few dozen messages. Times spread over the last 400 days;
// 0.5% pinned, 15% in folders, 1% soft-deleted; the messages of a conversation form a chain
// where about 5% of the messages are regenerated assistant replies (siblings, the later one on
// show). Every 50th conversation has exactly 100 messages and no siblings, for the open test.
// They go in through HistoryStore::import_json, 100 conversations per document (one
// transaction each), so memory holds one batch at a time.
#include "bench_history.h"

#include <sqlite3.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "args.h"
#include "base/error.h"
#include "history/history_store.h"

namespace lc::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;  // keys in the order written

constexpr int64_t kDayMs = 86400000;
constexpr int64_t kSpreadDays = 400;
constexpr int kBatch = 100;                 // conversations per import_json document
constexpr int kOpenTestMessages = 100;      // the conversation the branch test opens
constexpr int kOpenTestEvery = 50;          // every 50th conversation is one of those
constexpr double kRareProbability = 0.001;  // per word: one of the rare words instead
constexpr int kRareWords = 2000;
constexpr double kSlowMs = 100;

// Most frequent first; drawn with Zipf weights 1/rank.
const std::vector<std::string> kVocabulary = {
    "the",      "and",        "a",         "of",      "to",         "in",      "was",
    "she",      "he",         "it",        "that",    "with",       "her",     "his",
    "they",     "on",         "as",        "at",      "dragon",     "for",     "but",
    "from",     "old",        "had",       "into",    "night",      "little",  "over",
    "when",     "castle",     "forest",    "river",   "king",       "queen",   "light",
    "dark",     "stone",      "village",   "path",    "long",       "wind",    "door",
    "found",    "took",       "saw",       "heard",   "looked",     "began",   "small",
    "great",    "silver",     "golden",    "quiet",   "bright",     "cold",    "warm",
    "mountain", "sea",        "ship",      "boat",    "tree",       "garden",  "tower",
    "bridge",   "road",       "map",       "key",     "book",       "letter",  "song",
    "fire",     "rain",       "snow",      "star",    "moon",       "sun",     "morning",
    "evening",  "winter",     "summer",    "child",   "girl",       "boy",     "mother",
    "father",   "friend",     "stranger",  "wizard",  "witch",      "knight",  "fox",
    "wolf",     "bird",       "horse",     "cat",     "owl",        "lantern", "sword",
    "shield",   "crown",      "ring",      "coin",    "bread",      "cup",     "walked",
    "ran",      "climbed",    "whispered", "laughed", "cried",      "waited",  "slept",
    "dreamed",  "remembered", "forgot",    "opened",  "closed",     "carried", "followed",
    "hid",      "secret",     "ancient",   "strange", "gentle",     "brave",   "tired",
    "hungry",   "lost",       "hidden",    "broken",  "empty",      "heavy",   "soft",
    "sharp",    "deep",       "high",      "storm",   "valley",     "cave",    "island",
    "harbor",   "market",     "inn",       "kitchen", "window",     "candle",  "shadow",
    "feather",  "thread",     "needle",    "mirror",  "clock",      "promise", "journey",
    "question", "answer",     "story",     "memory",  "name",       "voice",   "slowly",
    "suddenly", "always",     "never",     "again",   "together",   "alone",   "far",
    "north",    "south",      "east",      "west",    "beyond",     "beneath", "across",
    "through",  "orchard",    "meadow",    "glacier", "lighthouse", "library", "workshop",
    "tavern",   "chapel",     "apple",     "honey",   "salt",       "ink",     "wool",
    "iron",     "glass",      "copper",    "riddle",  "oath",       "debt",    "gift",
    "feast",    "festival",   "harvest",   "plague"};

const std::vector<std::string> kSyllables = {"zor",  "quil", "vex",  "thra", "mog",  "pyx", "ulm",
                                             "brin", "skel", "yarn", "fid",  "gorp", "wex", "plim",
                                             "dras", "kev",  "oob",  "jint", "nax",  "crum"};

const std::vector<std::string> kFolders = {"Work",   "Stories", "Ideas",
                                           "Travel", "Recipes", "Research"};

std::string rare_word(int i) {
    const int n = static_cast<int>(kSyllables.size());
    return kSyllables[i % n] + kSyllables[(i / n) % n] + kSyllables[(i / (n * n)) % n];
}

// splitmix64: the same chats for the same seed on every platform.
class Rng {
public:
    explicit Rng(uint64_t seed) : x_(seed) {}
    uint64_t next() {
        uint64_t z = (x_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    int64_t below(int64_t n) { return n <= 0 ? 0 : static_cast<int64_t>(next() % uint64_t(n)); }
    int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
    uint64_t x_;
};

class TextMaker {
public:
    TextMaker() {
        double sum = 0;
        for (size_t r = 0; r < kVocabulary.size(); ++r) {
            sum += 1.0 / static_cast<double>(r + 1);
            cumulative_.push_back(sum);
        }
        for (double& c : cumulative_)
            c /= sum;
    }

    std::string word(Rng& rng) const {
        if (rng.unit() < kRareProbability)
            return rare_word(static_cast<int>(rng.below(kRareWords)));
        const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), rng.unit());
        const size_t i = std::min<size_t>(it - cumulative_.begin(), kVocabulary.size() - 1);
        return kVocabulary[i];
    }

    // Sentences of 5-14 words; the last one ends with `end`.
    std::string text(Rng& rng, int words, char end) const {
        std::string out;
        int left_in_sentence = 0;
        for (int i = 0; i < words; ++i) {
            std::string w = word(rng);
            if (left_in_sentence == 0) {
                if (i > 0) out += ". ";
                left_in_sentence = static_cast<int>(rng.between(5, 14));
                w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
            } else {
                out += ' ';
            }
            out += w;
            --left_in_sentence;
        }
        out += end;
        return out;
    }

private:
    std::vector<double> cumulative_;
};

// How many messages each new conversation gets: every kOpenTestEvery-th exactly
// kOpenTestMessages (when the average allows it), the others spread around the average, all
// adding up to `total`.
std::vector<int> message_counts(int conversations, int64_t total, Rng& rng,
                                std::vector<bool>& fixed) {
    std::vector<int> counts(conversations, 0);
    fixed.assign(conversations, false);
    const int64_t base = total / conversations;
    int64_t rest = total;
    if (base >= kOpenTestMessages / 2) {
        for (int i = 0; i < conversations; i += kOpenTestEvery) {
            counts[i] = kOpenTestMessages;
            fixed[i] = true;
            rest -= kOpenTestMessages;
        }
    }
    const int64_t lo = std::max<int64_t>(1, base / 4);
    const int64_t hi = std::max(lo, 2 * base - lo);
    double drawn = 0;
    int free_count = 0;
    for (int i = 0; i < conversations; ++i) {
        if (fixed[i]) continue;
        counts[i] = static_cast<int>(rng.between(lo, hi));
        drawn += counts[i];
        ++free_count;
    }
    if (free_count == 0) return counts;
    int64_t sum = 0;
    for (int i = 0; i < conversations; ++i) {
        if (!fixed[i])
            counts[i] = std::max(1, static_cast<int>(std::llround(counts[i] * (rest / drawn))));
        sum += counts[i];
    }
    // Round-off: one message more or fewer per conversation until the total is exact.
    for (int i = 0; sum != total; i = (i + 1) % conversations) {
        if (fixed[i]) continue;
        if (sum < total) {
            ++counts[i];
            ++sum;
        } else if (counts[i] > 1) {
            --counts[i];
            --sum;
        }
    }
    return counts;
}

json make_conversation(Rng& rng, const TextMaker& text, int n_messages, bool no_siblings,
                       int64_t now) {
    static const json kSampling = {{"temperature", 0.7}, {"top_p", 0.95}};
    const std::string model = "tiny-moe@3f2a";
    // Start somewhere in the last 400 days, leaving two days for the chat itself.
    int64_t t = now - kSpreadDays * kDayMs + rng.below((kSpreadDays - 2) * kDayMs);
    const int64_t created = t;
    json messages = json::array();
    int64_t next_id = 1;
    std::optional<int64_t> parent;
    auto add = [&](const std::string& role, std::optional<int64_t> parent_id, std::string body) {
        const bool assistant = role == "assistant";
        t = std::min(now, t + (assistant ? rng.between(2000, 40000) : rng.between(5000, 600000)));
        const int words = static_cast<int>(std::count(body.begin(), body.end(), ' ') + 1);
        json m = {{"id", next_id},
                  {"parent_id", parent_id ? json(*parent_id) : json(nullptr)},
                  {"role", role},
                  {"text", std::move(body)},
                  {"created_ms", t}};
        if (assistant) {
            m["token_count"] = words * 13 / 10;
            m["ttft_ms"] = 30.0 + rng.below(400) / 10.0;
            m["tokens_per_s"] = 40.0 + rng.below(600) / 10.0;
            m["model_id"] = model;
            m["sampling"] = kSampling;
        }
        messages.push_back(std::move(m));
        return next_id++;
    };
    std::string title;
    int made = 0;
    while (made < n_messages) {
        std::string question = text.text(rng, static_cast<int>(rng.between(6, 30)), '?');
        if (title.empty()) {
            size_t cut = 0;
            for (int w = 0; w < 6 && cut != std::string::npos; ++w)
                cut = question.find(' ', cut + 1);
            title = question.substr(0, cut == std::string::npos ? question.size() - 1 : cut);
        }
        const int64_t user = add("user", parent, std::move(question));
        ++made;
        parent = user;
        if (made >= n_messages) break;
        int64_t reply = add("assistant", user, text.text(rng, int(rng.between(30, 120)), '.'));
        ++made;
        // Regenerated: a sibling reply, which the conversation then continues from. One in ten
        // replies, so about 5% of all messages.
        if (!no_siblings && made < n_messages && rng.unit() < 0.1) {
            reply = add("assistant", user, text.text(rng, int(rng.between(30, 120)), '.'));
            ++made;
        }
        parent = reply;
    }
    const bool pinned = rng.unit() < 0.005;
    const std::string folder =
        rng.unit() < 0.15 ? kFolders[rng.below(static_cast<int64_t>(kFolders.size()))] : "";
    return {{"title", title},
            {"folder", folder},
            {"pinned", pinned},
            {"model_id", model},
            {"created_ms", created},
            {"updated_ms", t},
            {"messages", std::move(messages)},
            {"head", parent ? json(*parent) : json(nullptr)}};
}

double now_ms_steady() {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Generated {
    int conversations = 0;
    int64_t messages = 0;
    int soft_deleted = 0;
    double seconds = 0;
};

Generated generate(HistoryStore& store, int conversations, int64_t messages, uint64_t seed) {
    Generated g;
    g.conversations = conversations;
    g.messages = messages;
    Rng rng(seed);
    const TextMaker text;
    std::vector<bool> fixed;
    const std::vector<int> counts = message_counts(conversations, messages, rng, fixed);
    const int64_t now = lc::now_ms();
    const double start = now_ms_steady();
    for (int first = 0; first < conversations; first += kBatch) {
        const int last = std::min(conversations, first + kBatch);
        json list = json::array();
        for (int i = first; i < last; ++i)
            list.push_back(make_conversation(rng, text, counts[i], fixed[i], now));
        json doc = {{"format", "latentchat-conversation"},
                    {"version", 1},
                    {"conversations", std::move(list)}};
        const std::vector<int64_t> ids = store.import_json(doc.dump());
        for (size_t k = 0; k < ids.size(); ++k) {
            if (!fixed[first + k] && rng.unit() < 0.01) {
                store.soft_delete(ids[k]);
                ++g.soft_deleted;
            }
        }
        if ((last / kBatch) % 10 == 0 || last == conversations)
            std::cerr << "bench-history: generated " << last << " / " << conversations
                      << " conversations, " << static_cast<int>((now_ms_steady() - start) / 1000)
                      << " s\n";
    }
    g.seconds = (now_ms_steady() - start) / 1000.0;
    return g;
}

json timing(const std::vector<double>& runs_ms) {
    std::vector<double> sorted = runs_ms;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    const double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
    json runs = json::array();
    for (double v : runs_ms)
        runs.push_back(round3(v));
    return {{"best_ms", round3(sorted.front())}, {"median_ms", round3(median)}, {"runs_ms", runs}};
}

std::vector<double> measure(int repeat, const std::function<void()>& fn) {
    std::vector<double> out;
    for (int i = 0; i < repeat; ++i) {
        const double t0 = now_ms_steady();
        fn();
        out.push_back(now_ms_steady() - t0);
    }
    return out;
}

std::string cpu_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos)
                return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return "";
}

int64_t file_bytes(const fs::path& p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    return ec ? 0 : static_cast<int64_t>(n);
}

}  // namespace

int cmd_bench_history(const std::vector<std::string>& argv) {
    Args args(argv, {"db", "conversations", "messages", "seed", "repeat"}, {});
    const auto db_flag = args.opt("db");
    if (!db_flag)
        throw Error(
            "bench-history needs --db FILE (created and filled when it holds too few "
            "conversations)");
    const fs::path db = *db_flag;
    const int want_conversations = args.integer("conversations", 10000, 1, 100000000);
    const int want_messages = args.integer("messages", 1000000, 1, 2000000000);
    if (want_messages < want_conversations)
        throw Error("--messages (" + std::to_string(want_messages) +
                    ") must be at least --conversations (" + std::to_string(want_conversations) +
                    "): every conversation holds a message");
    const uint64_t seed = args.unsigned64("seed", 1);
    const int repeat = args.integer("repeat", 5, 1, 1000);

    json out;
    out["db"] = db.string();
    out["command"] = "bench-history";

    // 1. Fill the database up to the asked number of conversations.
    {
        HistoryStore store(db);
        const int64_t have = store.count_conversations(true);
        if (have < want_conversations) {
            const int missing = static_cast<int>(want_conversations - have);
            const int64_t missing_messages = std::max<int64_t>(
                missing, static_cast<int64_t>(want_messages) * missing / want_conversations);
            std::cerr << "bench-history: " << db.string() << " holds " << have
                      << " conversations; generating " << missing << " with " << missing_messages
                      << " messages\n";
            const Generated g = generate(store, missing, missing_messages,
                                         seed * 0x100000001B3ULL + static_cast<uint64_t>(have));
            out["generated"] = {
                {"conversations", g.conversations},
                {"messages", g.messages},
                {"soft_deleted", g.soft_deleted},
                {"seconds", std::round(g.seconds * 100) / 100},
                {"messages_per_s", std::round(static_cast<double>(g.messages) / g.seconds)}};
        } else {
            out["generated"] = nullptr;
        }
    }

    // 2. Open: what the app does at start, schema check and WAL included, then the count the
    // sidebar needs. The first run is the first open after filling (or of an existing file).
    std::unique_ptr<HistoryStore> opened;
    int64_t live = 0;
    const std::vector<double> open_runs = measure(repeat, [&] {
        opened.reset();
        opened = std::make_unique<HistoryStore>(db);
        live = opened->count_conversations();
    });
    HistoryStore& store = *opened;

    // Not timed: the totals, and a conversation of exactly 100 messages, all on one branch.
    int64_t all_conversations = store.count_conversations(true);
    int64_t total_messages = 0;
    std::optional<int64_t> open_test_id;
    std::optional<int64_t> fallback_id;
    for (int offset = 0;; offset += 1000) {
        const auto page = store.list_conversations(1000, offset, true);
        for (const HistoryConversation& c : page) {
            total_messages += c.message_count;
            if (!open_test_id && c.deleted_ms == 0 && c.message_count == kOpenTestMessages &&
                store.branch(c.id).size() == static_cast<size_t>(kOpenTestMessages))
                open_test_id = c.id;
            if (!fallback_id && c.deleted_ms == 0 && c.message_count >= kOpenTestMessages)
                fallback_id = c.id;
        }
        if (page.size() < 1000) break;
    }
    out["conversations"] = all_conversations;
    out["live_conversations"] = live;
    out["messages"] = total_messages;
    out["repeat"] = repeat;
    out["open"] = timing(open_runs);
    out["open"]["what"] = "HistoryStore(file) + count_conversations()";

    // 3. The sidebar: the first page, and one scrolled far down.
    size_t rows_first = 0, rows_scrolled = 0;
    out["list_first_page"] =
        timing(measure(repeat, [&] { rows_first = store.list_conversations(100, 0).size(); }));
    out["list_first_page"]["rows"] = rows_first;
    out["list_offset_5000"] = timing(
        measure(repeat, [&] { rows_scrolled = store.list_conversations(100, 5000).size(); }));
    out["list_offset_5000"]["rows"] = rows_scrolled;

    // 4. Search, 50 hits at most.
    const std::vector<std::pair<std::string, std::string>> searches = {
        {"search_rare", rare_word(7)},
        {"search_common", "dragon"},
        {"search_two_words", "dragon river"}};
    for (const auto& [name, query] : searches) {
        size_t hits = 0;
        SearchFilter filter;
        filter.limit = 50;
        out[name] = timing(measure(repeat, [&] { hits = store.search(query, filter).size(); }));
        out[name]["query"] = query;
        out[name]["hits"] = hits;
    }

    // 5. Opening a conversation: its branch, first message to head.
    const std::optional<int64_t> branch_id = open_test_id ? open_test_id : fallback_id;
    if (branch_id) {
        size_t length = 0;
        out["branch"] = timing(measure(repeat, [&] { length = store.branch(*branch_id).size(); }));
        out["branch"]["conversation_id"] = *branch_id;
        out["branch"]["messages"] = length;
    } else {
        out["branch"] = nullptr;
    }

    // 6. Size on disk, and the machine.
    out["file_bytes"] = file_bytes(db);
    out["wal_bytes"] = file_bytes(db.string() + "-wal");
    out["file_mb"] = std::round(static_cast<double>(file_bytes(db)) / (1 << 20) * 10) / 10;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    out["peak_rss_mb"] = std::round(static_cast<double>(usage.ru_maxrss) / 1024 * 10) / 10;
    out["machine"] = {{"threads", std::thread::hardware_concurrency()},
                      {"cpu", cpu_name()},
                      {"sqlite", sqlite3_libversion()}};

    json slow = json::array();
    for (const char* name : {"open", "list_first_page", "list_offset_5000", "search_rare",
                             "search_common", "search_two_words", "branch"}) {
        if (out[name].is_object() && out[name]["median_ms"].get<double>() > kSlowMs)
            slow.push_back(name);
    }
    out["limit_ms"] = kSlowMs;
    out["over_limit"] = slow;
    std::cout << out.dump(2) << "\n";
    return 0;
}

}  // namespace lc::cli
