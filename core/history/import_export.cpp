// HistoryStore: export (Markdown for people, JSON for import) and JSON import. The JSON format is
// documented in docs/history-json.md.
#include "history/history_store.h"

#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <utility>

#include "base/error.h"
#include "base/json_parse.h"
#include "history/sqlite_util.h"

namespace lc {
using namespace history_detail;
using nlohmann::json;

namespace {

// Every statement is a constant; user text only ever reaches SQLite through bound parameters.
constexpr const char* kListAllLiveConversationIds =
    "SELECT id FROM conversations WHERE deleted_ms = 0 ORDER BY id";
constexpr const char* kConversationMessages =
    "SELECT " LC_HISTORY_MESSAGE_COLUMNS
    " FROM messages m WHERE m.conversation_id = ?1 ORDER BY m.id";

constexpr const char* kJsonFormat = "latentchat-conversation";
constexpr int kJsonVersion = 1;

// ---- Export ----------------------------------------------------------------------------------

// sampling_json is embedded as a JSON object when it is one written canonically (so import gives
// back the same text); otherwise as a string holding the text; empty text is null.
// The text may be an imported file's (any string): parsed with the nesting limit, since a
// string of 100,000 '[' crashed export with unbounded recursion (issue 22).
json sampling_to_json(const std::string& text) {
    if (text.empty()) return nullptr;
    try {
        json parsed = parse_json(text, "sampling");
        if (parsed.is_object() && parsed.dump() == text) return parsed;
    } catch (const Error&) {
    }
    return text;
}

json conversation_json(const HistoryConversation& c, const std::vector<Message>& messages) {
    json msgs = json::array();
    for (const auto& m : messages) {
        msgs.push_back({
            {"id", m.id},
            {"parent_id", m.parent_id ? json(*m.parent_id) : json(nullptr)},
            {"role", m.role},
            {"text", m.content},
            {"token_count", m.meta.token_count},
            {"ttft_ms", m.meta.time_to_first_token_ms},
            {"tokens_per_s", m.meta.tokens_per_second},
            {"model_id", m.meta.model_id},
            {"sampling", sampling_to_json(m.meta.sampling_json)},
            {"created_ms", m.created_ms},
            {"edited_ms", m.edited_ms},
        });
    }
    return {
        {"title", c.title},
        {"folder", c.folder},
        {"pinned", c.pinned},
        {"model_id", c.model_id},
        {"created_ms", c.created_ms},
        {"updated_ms", c.updated_ms},
        {"messages", std::move(msgs)},
        {"head", c.head_message_id ? json(*c.head_message_id) : json(nullptr)},
    };
}

std::string wrap_export(json conversations) {
    json doc = {{"format", kJsonFormat},
                {"version", kJsonVersion},
                {"conversations", std::move(conversations)}};
    // Text stored before titles were cut on character boundaries may hold invalid UTF-8:
    // exported with U+FFFD in its place rather than failing the whole export.
    return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<Message> all_messages(sqlite3* db, const fs::path& file, int64_t id) {
    Statement s(db, kConversationMessages, file);
    s.bind(1, id);
    return read_messages(s);
}

// ---- Import ----------------------------------------------------------------------------------

[[noreturn]] void bad_import(const std::string& where, const std::string& what) {
    throw Error("Cannot import the history: " + where + " " + what + "; nothing was imported.");
}

// The value of `key`, or nullptr when it is missing and not required.
const json* find_field(const json& obj, const char* key, const std::string& where, bool required) {
    auto it = obj.find(key);
    if (it != obj.end()) return &*it;
    if (required) bad_import(where, std::string("has no \"") + key + "\"");
    return nullptr;
}

const json& require(const json& obj, const char* key, const std::string& where) {
    return *find_field(obj, key, where, true);
}

std::string get_string(const json& obj, const char* key, const std::string& where, bool required,
                       const std::string& fallback = "") {
    const json* v = find_field(obj, key, where, required);
    if (!v) return fallback;
    if (!v->is_string()) bad_import(where + "." + key, "must be a string");
    return v->get<std::string>();
}

int64_t get_int(const json& obj, const char* key, const std::string& where, bool required) {
    const json* v = find_field(obj, key, where, required);
    if (!v) return 0;
    if (!v->is_number_integer()) bad_import(where + "." + key, "must be an integer");
    return v->get<int64_t>();
}

double get_double(const json& obj, const char* key, const std::string& where) {
    const json* v = find_field(obj, key, where, false);
    if (!v) return 0;
    if (!v->is_number()) bad_import(where + "." + key, "must be a number");
    return v->get<double>();
}

std::optional<int64_t> get_opt_id(const json& obj, const char* key, const std::string& where) {
    const json& v = require(obj, key, where);
    if (v.is_null()) return std::nullopt;
    if (!v.is_number_integer()) bad_import(where + "." + key, "must be an integer or null");
    return v.get<int64_t>();
}

// A conversation as the file gives it: its head_message_id and its messages' id and parent_id
// are the file's own ids, mapped to new ones when written.
struct ParsedConversation {
    HistoryConversation conversation;
    std::vector<Message> messages;
};

// `seen` holds the ids of the conversation's earlier messages (a parent must be one of them).
Message parse_message(const json& m, const std::string& where, const std::set<int64_t>& seen) {
    if (!m.is_object()) bad_import(where, "must be an object");
    Message msg;
    msg.id = get_int(m, "id", where, true);
    if (seen.count(msg.id)) bad_import(where + ".id", "repeats id " + std::to_string(msg.id));
    msg.parent_id = get_opt_id(m, "parent_id", where);
    if (msg.parent_id && !seen.count(*msg.parent_id))
        bad_import(where + ".parent_id",
                   std::to_string(*msg.parent_id) + " does not name an earlier message");
    msg.role = get_string(m, "role", where, true);
    if (!valid_role(msg.role))
        bad_import(where + ".role", "\"" + msg.role + "\" is not system, user or assistant");
    msg.content = get_string(m, "text", where, true);
    const int64_t tokens = get_int(m, "token_count", where, false);
    if (tokens < 0 || tokens > INT32_MAX) bad_import(where + ".token_count", "is out of range");
    msg.meta.token_count = static_cast<int>(tokens);
    msg.meta.time_to_first_token_ms = get_double(m, "ttft_ms", where);
    msg.meta.tokens_per_second = get_double(m, "tokens_per_s", where);
    msg.meta.model_id = get_string(m, "model_id", where, false);
    if (auto it = m.find("sampling"); it != m.end() && !it->is_null()) {
        if (it->is_string())
            msg.meta.sampling_json = it->get<std::string>();
        else if (it->is_object())
            msg.meta.sampling_json = it->dump();
        else
            bad_import(where + ".sampling", "must be an object, a string or null");
    }
    msg.created_ms = get_int(m, "created_ms", where, true);
    msg.edited_ms = get_int(m, "edited_ms", where, false);
    return msg;
}

ParsedConversation parse_conversation(const json& c, const std::string& where) {
    if (!c.is_object()) bad_import(where, "must be an object");
    ParsedConversation out;
    HistoryConversation& conv = out.conversation;
    conv.title = get_string(c, "title", where, true);
    conv.folder = get_string(c, "folder", where, false);
    conv.model_id = get_string(c, "model_id", where, false);
    if (auto it = c.find("pinned"); it != c.end()) {
        if (!it->is_boolean()) bad_import(where + ".pinned", "must be true or false");
        conv.pinned = it->get<bool>();
    }
    conv.created_ms = get_int(c, "created_ms", where, true);
    conv.updated_ms = get_int(c, "updated_ms", where, true);
    const json& messages = require(c, "messages", where);
    if (!messages.is_array()) bad_import(where + ".messages", "must be an array");
    std::set<int64_t> seen;
    for (size_t i = 0; i < messages.size(); ++i) {
        Message msg =
            parse_message(messages[i], where + ".messages[" + std::to_string(i) + "]", seen);
        seen.insert(msg.id);
        out.messages.push_back(std::move(msg));
    }
    conv.head_message_id = get_opt_id(c, "head", where);
    if (conv.head_message_id && !seen.count(*conv.head_message_id))
        bad_import(where + ".head",
                   std::to_string(*conv.head_message_id) + " does not name a message");
    return out;
}

}  // namespace

std::string HistoryStore::export_markdown(int64_t conversation_id) const {
    const auto c = conversation(conversation_id);
    if (!c) no_such_conversation(path_, conversation_id);
    std::string out = "# " + c->title + "\n\n";
    for (const auto& m : branch(conversation_id)) {
        const char* who = m.role == "user"        ? "User"
                          : m.role == "assistant" ? "Assistant"
                                                  : "System";
        out += std::string("**") + who + ":** " + m.content + "\n\n";
    }
    return out;
}

std::string HistoryStore::export_json(int64_t conversation_id) const {
    // One read transaction, so the conversation and its messages are one consistent snapshot.
    Transaction t(db_, path_, Transaction::Kind::Read);
    const auto c = conversation(conversation_id);
    if (!c) no_such_conversation(path_, conversation_id);
    json list = json::array({conversation_json(*c, all_messages(db_, path_, c->id))});
    t.commit();
    return wrap_export(std::move(list));
}

std::string HistoryStore::export_all_json() const {
    Transaction t(db_, path_, Transaction::Kind::Read);
    std::vector<int64_t> ids;
    {
        Statement s(db_, kListAllLiveConversationIds, path_);
        while (s.step())
            ids.push_back(s.int64(0));
    }
    json list = json::array();
    for (int64_t id : ids) {
        const auto c = conversation(id);
        if (c) list.push_back(conversation_json(*c, all_messages(db_, path_, id)));
    }
    t.commit();
    return wrap_export(std::move(list));
}

std::vector<int64_t> HistoryStore::import_json(const std::string& text) {
    // Validate everything first...
    json doc;
    try {
        doc = parse_json(text, "the text");
    } catch (const Error& e) {
        throw Error(std::string("Cannot import the history: ") + e.what() +
                    "; nothing was imported.");
    }
    if (!doc.is_object()) bad_import("the document", "must be a JSON object");
    const std::string format = get_string(doc, "format", "the document", true);
    if (format != kJsonFormat)
        bad_import("the document", "has format \"" + format + "\", not \"" + kJsonFormat + "\"");
    const int64_t version = get_int(doc, "version", "the document", true);
    if (version > kJsonVersion)
        bad_import("the document", "was written by a newer LatentChat (version " +
                                       std::to_string(version) + "; this one reads up to " +
                                       std::to_string(kJsonVersion) + ")");
    if (version < 1)
        bad_import("the document", "has an unknown version " + std::to_string(version));
    const json& list = require(doc, "conversations", "the document");
    if (!list.is_array()) bad_import("\"conversations\"", "must be an array");
    std::vector<ParsedConversation> parsed;
    for (size_t i = 0; i < list.size(); ++i)
        parsed.push_back(parse_conversation(list[i], "conversations[" + std::to_string(i) + "]"));

    // ...then write it all in one transaction, mapping the file's ids to the new ones.
    Transaction t(db_, path_);
    std::vector<int64_t> ids;
    for (const auto& [c, messages] : parsed) {
        const int64_t id = insert_conversation(db_, path_, c.title, c.model_id, c.created_ms,
                                               c.updated_ms, c.folder, c.pinned);
        std::unordered_map<int64_t, int64_t> remap;
        for (const auto& m : messages) {
            std::optional<int64_t> parent;
            if (m.parent_id) parent = remap.at(*m.parent_id);
            remap[m.id] = insert_message(db_, path_, id, parent, m);
        }
        std::optional<int64_t> head;
        if (c.head_message_id) head = remap.at(*c.head_message_id);
        Statement s(db_, kSetHeadOnly, path_);
        s.bind(1, id).bind(2, head);
        s.run();
        ids.push_back(id);
    }
    t.commit();
    return ids;
}

}  // namespace lc
