// `history`: list, show, search, export and import the conversations of a history database.
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "commands.h"
#include "history/history_store.h"

namespace lc::cli {

namespace {

std::string date_text(int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

int64_t parse_id(const std::string& text, const char* what) {
    try {
        size_t used = 0;
        long long v = std::stoll(text, &used);
        if (used == text.size() && v > 0) return v;
    } catch (const std::exception&) {
    }
    throw Error(std::string(what) + " must be a conversation id (a positive integer), got '" +
                text + "'");
}

// Local midnight of a YYYY-MM-DD date, in ms since the epoch.
int64_t day_start_ms(const std::string& date, const char* flag) {
    std::tm tm{};
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        throw Error(std::string(flag) + " must be a date like 2026-11-25, got '" + date + "'");
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    return static_cast<int64_t>(std::mktime(&tm)) * 1000;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

int cmd_history(const std::vector<std::string>& argv) {
    Args args(argv, {"db", "format", "out", "limit", "from", "to", "model"}, {});
    auto db = args.opt("db");
    if (!db) throw Error("history needs --db FILE");
    const auto& words = args.positional();
    if (words.empty())
        throw Error("history needs an action: list, show ID, search TEXT, export ID, import FILE");
    const std::string& action = words[0];
    auto need = [&](size_t n, const char* usage) {
        if (words.size() != n)
            throw Error(std::string("usage: latentchat-cli history --db FILE ") + usage);
    };
    const bool writes = action == "import";
    HistoryStore store(*db, writes ? HistoryStore::Mode::ReadWrite : HistoryStore::Mode::ReadOnly);

    if (action == "list") {
        need(1, "list");
        const int limit = args.integer("limit", 100, 1, 1 << 30);
        for (const HistoryConversation& c : store.list_conversations(limit, 0))
            std::cout << c.id << "\t" << date_text(c.updated_ms) << "\t" << (c.pinned ? "* " : "")
                      << c.title << " (" << c.message_count << " messages"
                      << (c.folder.empty() ? "" : ", in " + c.folder) << ")\n";
        return 0;
    }
    if (action == "show") {
        need(2, "show ID");
        const int64_t id = parse_id(words[1], "show");
        auto c = store.conversation(id);
        if (!c) throw Error("no conversation " + words[1] + " in " + *db);
        std::cout << store.export_markdown(id);
        return 0;
    }
    if (action == "search") {
        if (words.size() < 2) throw Error("usage: latentchat-cli history --db FILE search TEXT");
        std::string query;
        for (size_t i = 1; i < words.size(); ++i)
            query += (i > 1 ? " " : "") + words[i];
        SearchFilter filter;
        filter.limit = args.integer("limit", 50, 1, 10000);
        if (auto from = args.opt("from")) filter.from_ms = day_start_ms(*from, "--from");
        if (auto to = args.opt("to")) filter.to_ms = day_start_ms(*to, "--to") + 86400000 - 1;
        filter.model_id = args.str("model");
        for (const SearchHit& h : store.search(query, filter))
            std::cout << h.conversation_id << ":" << h.message_id << "\t" << h.conversation_title
                      << "\t" << h.role << "\t" << h.snippet << "\n";
        return 0;
    }
    if (action == "export") {
        need(2, "export ID|all --format md|json [--out FILE]");
        const std::string format = args.str("format", "md");
        if (format != "md" && format != "json")
            throw Error("--format must be md or json, got '" + format + "'");
        std::string text;
        if (words[1] == "all") {
            if (format != "json") throw Error("export all is JSON only: add --format json");
            text = store.export_all_json();
        } else {
            const int64_t id = parse_id(words[1], "export");
            if (!store.conversation(id)) throw Error("no conversation " + words[1] + " in " + *db);
            text = format == "md" ? store.export_markdown(id) : store.export_json(id);
        }
        if (auto out = args.opt("out")) {
            const std::string tmp = *out + ".tmp";
            {
                std::ofstream f(tmp, std::ios::binary);
                if (!f || !(f << text) || !f.flush()) throw Error("cannot write " + *out);
            }
            if (std::rename(tmp.c_str(), out->c_str()) != 0) throw Error("cannot write " + *out);
        } else {
            std::cout << text;
        }
        return 0;
    }
    if (action == "import") {
        need(2, "import FILE");
        std::vector<int64_t> ids = store.import_json(read_file(words[1]));
        for (int64_t id : ids)
            std::cout << id << "\n";
        return 0;
    }
    throw Error("unknown history action '" + action +
                "' (list, show ID, search TEXT, export ID, import FILE)");
}

}  // namespace lc::cli
