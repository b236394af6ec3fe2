#include "recorded_turn.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "base/error.h"
#include "formats/utf8.h"

namespace lc::cli {

RecordedTurn begin_recorded_turn(const Args& args, const std::string& db,
                                 const std::string& model_id, const std::string& sampling_json) {
    RecordedTurn t;
    t.store = std::make_unique<HistoryStore>(db);
    HistoryStore& store = *t.store;
    const std::string prompt = args.str("prompt");
    const std::string which = args.str("conversation", "new");
    std::vector<Message> history;
    if (which == "new") {
        // At most 60 bytes, cut before a character, never inside one (a split character made
        // the database's text invalid UTF-8).
        size_t cut = std::min<size_t>(prompt.size(), 60);
        while (cut > 0 && cut < prompt.size() && is_utf8_continuation(prompt[cut]))
            --cut;
        std::string title = prompt.substr(0, cut);
        if (cut < prompt.size()) title += "...";
        t.conversation = store.create_conversation(title, model_id);
    } else {
        char* end = nullptr;
        t.conversation = std::strtoll(which.c_str(), &end, 10);
        if (which.empty() || *end != '\0' || t.conversation <= 0)
            throw Error("--conversation must be a conversation id or new, got '" + which + "'");
        if (!store.conversation(t.conversation))
            throw Error("no conversation " + which + " in " + db);
        history = store.branch(t.conversation);
    }
    std::optional<int64_t> parent;
    if (history.empty() && args.has("system")) {
        parent = store.add_message(t.conversation, parent, "system", args.str("system"));
        t.turns.emplace_back("system", args.str("system"));
    }
    t.turns.insert(t.turns.end(), history.begin(), history.end());
    if (!history.empty()) parent = history.back().id;
    t.turns.emplace_back("user", prompt);
    const int64_t user_id = store.add_message(t.conversation, parent, "user", prompt);

    MessageMeta meta;
    meta.model_id = model_id;
    meta.sampling_json = sampling_json;
    const int64_t reply_id = store.add_message(t.conversation, user_id, "assistant", "", meta);
    t.recorder = std::make_unique<ReplyRecorder>(store, reply_id);
    return t;
}

void report_saved(const RecordedTurn& turn, const std::string& db) {
    std::cerr << "[saved to conversation " << turn.conversation << " in " << db << "]\n";
}

}  // namespace lc::cli
