#include "history/history_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>
#include <utility>

#include "base/error.h"

namespace lc {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---- SQL -------------------------------------------------------------------------------------
// Every statement is a constant; user text only ever reaches SQLite through bound parameters.

// Version 1: conversations and a tree of messages.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    model_id TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    head_message_id INTEGER
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES messages(id),
    role TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    token_count INTEGER NOT NULL DEFAULT 0,
    ttft_ms REAL NOT NULL DEFAULT 0,
    tokens_per_s REAL NOT NULL DEFAULT 0,
    model_id TEXT NOT NULL DEFAULT '',
    sampling_json TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL,
    edited_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX messages_by_parent ON messages(parent_id);
CREATE INDEX conversations_by_updated ON conversations(updated_ms DESC);
PRAGMA user_version = 1;
)sql";

// Version 2: folders, pins, soft delete, full-text search (external content, kept in step with
// `messages` by triggers).
constexpr const char* kMigrateV1ToV2 = R"sql(
ALTER TABLE conversations ADD COLUMN folder TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN deleted_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX conversations_by_pin ON conversations(pinned DESC, updated_ms DESC);
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content='messages', content_rowid='id', tokenize='unicode61');
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
END;
PRAGMA user_version = 2;
)sql";

constexpr const char* kBusyTimeoutMs = "PRAGMA busy_timeout = 2000";
constexpr const char* kJournalWal = "PRAGMA journal_mode = WAL";
constexpr const char* kForeignKeysOn = "PRAGMA foreign_keys = ON";
constexpr const char* kSynchronousNormal = "PRAGMA synchronous = NORMAL";
constexpr const char* kUserVersion = "PRAGMA user_version";
constexpr const char* kBeginImmediate = "BEGIN IMMEDIATE";
constexpr const char* kBeginRead = "BEGIN";  // deferred: a read snapshot
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";

constexpr const char* kInsertConversation =
    "INSERT INTO conversations (title, model_id, created_ms, updated_ms, folder, pinned) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kSelectConversation =
    "SELECT c.id, c.title, c.folder, c.pinned, c.model_id, c.created_ms, c.updated_ms, "
    "c.head_message_id, c.deleted_ms, "
    "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) "
    "FROM conversations c WHERE c.id = ?1";
constexpr const char* kListConversations =
    "SELECT c.id, c.title, c.folder, c.pinned, c.model_id, c.created_ms, c.updated_ms, "
    "c.head_message_id, c.deleted_ms, "
    "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) "
    "FROM conversations c WHERE (?3 OR c.deleted_ms = 0) "
    "ORDER BY c.pinned DESC, c.updated_ms DESC, c.id DESC LIMIT ?1 OFFSET ?2";
constexpr const char* kListAllLiveConversationIds =
    "SELECT id FROM conversations WHERE deleted_ms = 0 ORDER BY id";
constexpr const char* kCountConversations =
    "SELECT COUNT(*) FROM conversations WHERE (?1 OR deleted_ms = 0)";
constexpr const char* kRenameConversation =
    "UPDATE conversations SET title = ?2, updated_ms = ?3 WHERE id = ?1";
constexpr const char* kSetPinned = "UPDATE conversations SET pinned = ?2 WHERE id = ?1";
constexpr const char* kSetFolder = "UPDATE conversations SET folder = ?2 WHERE id = ?1";
constexpr const char* kSetDeleted = "UPDATE conversations SET deleted_ms = ?2 WHERE id = ?1";
constexpr const char* kPurgeDeleted =
    "DELETE FROM conversations WHERE deleted_ms != 0 AND deleted_ms <= ?1";
constexpr const char* kTouchConversation = "UPDATE conversations SET updated_ms = ?2 WHERE id = ?1";
constexpr const char* kSetHead =
    "UPDATE conversations SET head_message_id = ?2, updated_ms = ?3 WHERE id = ?1";
constexpr const char* kSetHeadOnly = "UPDATE conversations SET head_message_id = ?2 WHERE id = ?1";
constexpr const char* kMessageConversation = "SELECT conversation_id FROM messages WHERE id = ?1";
constexpr const char* kInsertMessage =
    "INSERT INTO messages (conversation_id, parent_id, role, text, token_count, ttft_ms, "
    "tokens_per_s, model_id, sampling_json, created_ms, edited_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
constexpr const char* kUpdateMessage =
    "UPDATE messages SET text = ?2, token_count = ?3, ttft_ms = ?4, tokens_per_s = ?5, "
    "model_id = ?6, sampling_json = ?7, edited_ms = ?8 WHERE id = ?1";
constexpr const char* kSelectMessage =
    "SELECT m.id, m.conversation_id, m.parent_id, m.role, m.text, m.token_count, m.ttft_ms, "
    "m.tokens_per_s, m.model_id, m.sampling_json, m.created_ms, m.edited_ms "
    "FROM messages m WHERE m.id = ?1";
constexpr const char* kConversationMessages =
    "SELECT m.id, m.conversation_id, m.parent_id, m.role, m.text, m.token_count, m.ttft_ms, "
    "m.tokens_per_s, m.model_id, m.sampling_json, m.created_ms, m.edited_ms "
    "FROM messages m WHERE m.conversation_id = ?1 ORDER BY m.id";
constexpr const char* kChildren =
    "SELECT m.id, m.conversation_id, m.parent_id, m.role, m.text, m.token_count, m.ttft_ms, "
    "m.tokens_per_s, m.model_id, m.sampling_json, m.created_ms, m.edited_ms "
    "FROM messages m WHERE m.conversation_id = ?1 AND m.parent_id IS ?2 ORDER BY m.id";
// The chain from a message up to the root, returned root first. The depth bound guards against
// a cycle in a damaged file.
constexpr const char* kChainFromMessage =
    "WITH RECURSIVE chain(id, depth) AS ("
    "  SELECT ?1, 0"
    "  UNION ALL"
    "  SELECT p.parent_id, chain.depth + 1 FROM messages p JOIN chain ON p.id = chain.id"
    "  WHERE p.parent_id IS NOT NULL AND chain.depth < 1000000) "
    "SELECT m.id, m.conversation_id, m.parent_id, m.role, m.text, m.token_count, m.ttft_ms, "
    "m.tokens_per_s, m.model_id, m.sampling_json, m.created_ms, m.edited_ms "
    "FROM chain JOIN messages m ON m.id = chain.id ORDER BY chain.depth DESC";
// Ranking every match of a common word (300k of 1M messages) with bm25 takes half a second, so
// the ranking looks at the newest 10,000 matches (found without a sort, newest first), and
// snippets are built only for the hits returned. With fewer matches nothing changes.
constexpr const char* kSearch =
    "WITH recent AS ("
    "  SELECT messages_fts.rowid AS id, bm25(messages_fts) AS score FROM messages_fts"
    "  JOIN messages m ON m.id = messages_fts.rowid"
    "  JOIN conversations c ON c.id = m.conversation_id"
    "  WHERE messages_fts MATCH ?1 AND c.deleted_ms = 0"
    "  AND (?2 = 0 OR m.created_ms >= ?2) AND (?3 = 0 OR m.created_ms <= ?3)"
    "  AND (?4 = '' OR m.model_id = ?4 OR c.model_id = ?4)"
    "  ORDER BY messages_fts.rowid DESC LIMIT 10000),"
    " top AS (SELECT id, score FROM recent ORDER BY score, id LIMIT ?5) "
    "SELECT m.conversation_id, m.id, c.title, m.role, "
    "snippet(messages_fts, 0, '[', ']', '…', 12), top.score, m.created_ms "
    "FROM top JOIN messages_fts ON messages_fts.rowid = top.id "
    "JOIN messages m ON m.id = top.id JOIN conversations c ON c.id = m.conversation_id "
    "WHERE messages_fts MATCH ?1 ORDER BY top.score, top.id";

// ---- SQLite helpers --------------------------------------------------------------------------

std::string quoted(const fs::path& file) {
    return file.string();
}

[[noreturn]] void fail(sqlite3* db, int rc, const fs::path& file) {
    const int primary = rc & 0xff;
    const std::string name = quoted(file);
    switch (primary) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            throw Error("The history database " + name +
                        " is locked by another program; close it there and try again.");
        case SQLITE_READONLY:
            throw Error("The history database " + name +
                        " is read-only; LatentChat cannot save conversations to it.");
        case SQLITE_NOTADB:
            throw Error(name +
                        " is not a LatentChat history database (SQLite: file is not a "
                        "database).");
        case SQLITE_CORRUPT:
            throw Error("The history database " + name + " is damaged (SQLite: " +
                        (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + ").");
        case SQLITE_FULL:
            throw Error("The disk holding the history database " + name + " is full.");
        default:
            throw Error("The history database " + name +
                        " failed: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) + ".");
    }
}

class Statement {
public:
    Statement(sqlite3* db, const char* sql, const fs::path& file) : db_(db), file_(file) {
        const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
        if (rc != SQLITE_OK) fail(db, rc, file);
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
    Statement& bind(int i, int v) { return check(sqlite3_bind_int(stmt_, i, v)); }
    Statement& bind(int i, bool v) { return check(sqlite3_bind_int(stmt_, i, v ? 1 : 0)); }
    Statement& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
    Statement& bind(int i, const std::string& v) {
        return check(
            sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    Statement& bind(int i, const std::optional<int64_t>& v) {
        return v ? bind(i, *v) : check(sqlite3_bind_null(stmt_, i));
    }

    // True while a row is ready; false when done.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        fail(db_, rc, file_);
    }
    void run() {
        while (step()) {
        }
    }

    int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    double real(int col) const { return sqlite3_column_double(stmt_, col); }
    bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    std::optional<int64_t> opt_int64(int col) const {
        if (is_null(col)) return std::nullopt;
        return int64(col);
    }
    std::string text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        if (!p) return {};
        return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
    }

private:
    Statement& check(int rc) {
        if (rc != SQLITE_OK) fail(db_, rc, file_);
        return *this;
    }
    sqlite3* db_;
    const fs::path& file_;
    sqlite3_stmt* stmt_ = nullptr;
};

// Runs a constant script of several statements (schema changes).
void exec_script(sqlite3* db, const char* sql, const fs::path& file) {
    const char* rest = sql;
    while (rest && *rest) {
        sqlite3_stmt* stmt = nullptr;
        const char* tail = nullptr;
        int rc = sqlite3_prepare_v2(db, rest, -1, &stmt, &tail);
        if (rc != SQLITE_OK) fail(db, rc, file);
        if (stmt) {
            while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            }
            sqlite3_finalize(stmt);
            if (rc != SQLITE_DONE) fail(db, rc, file);
        }
        rest = tail;
    }
}

void exec(sqlite3* db, const char* sql, const fs::path& file) {
    Statement s(db, sql, file);
    s.run();
}

// BEGIN IMMEDIATE (takes the write lock up front, waiting up to the busy timeout); rolls back
// unless committed.
class Transaction {
public:
    Transaction(sqlite3* db, const fs::path& file) : db_(db), file_(file) {
        exec(db, kBeginImmediate, file);
    }
    ~Transaction() {
        if (!done_) sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        exec(db_, kCommit, file_);
        done_ = true;
    }

private:
    sqlite3* db_;
    const fs::path& file_;
    bool done_ = false;
};

Message read_message(const Statement& s) {
    Message m;
    m.id = s.int64(0);
    m.conversation_id = s.int64(1);
    m.parent_id = s.opt_int64(2);
    m.role = s.text(3);
    m.content = s.text(4);
    m.meta.token_count = static_cast<int>(s.int64(5));
    m.meta.time_to_first_token_ms = s.real(6);
    m.meta.tokens_per_second = s.real(7);
    m.meta.model_id = s.text(8);
    m.meta.sampling_json = s.text(9);
    m.created_ms = s.int64(10);
    m.edited_ms = s.int64(11);
    return m;
}

HistoryConversation read_conversation(const Statement& s) {
    HistoryConversation c;
    c.id = s.int64(0);
    c.title = s.text(1);
    c.folder = s.text(2);
    c.pinned = s.int64(3) != 0;
    c.model_id = s.text(4);
    c.created_ms = s.int64(5);
    c.updated_ms = s.int64(6);
    c.head_message_id = s.opt_int64(7);
    c.deleted_ms = s.int64(8);
    c.message_count = s.int64(9);
    return c;
}

bool valid_role(const std::string& role) {
    return role == "system" || role == "user" || role == "assistant";
}

int64_t insert_message(sqlite3* db, const fs::path& file, int64_t conversation_id,
                       std::optional<int64_t> parent_id, const std::string& role,
                       const std::string& text, const MessageMeta& meta, int64_t created_ms,
                       int64_t edited_ms) {
    Statement s(db, kInsertMessage, file);
    s.bind(1, conversation_id)
        .bind(2, parent_id)
        .bind(3, role)
        .bind(4, text)
        .bind(5, meta.token_count)
        .bind(6, meta.time_to_first_token_ms)
        .bind(7, meta.tokens_per_second)
        .bind(8, meta.model_id)
        .bind(9, meta.sampling_json)
        .bind(10, created_ms)
        .bind(11, edited_ms);
    s.run();
    return sqlite3_last_insert_rowid(db);
}

int64_t insert_conversation(sqlite3* db, const fs::path& file, const std::string& title,
                            const std::string& model_id, int64_t created_ms, int64_t updated_ms,
                            const std::string& folder, bool pinned) {
    Statement s(db, kInsertConversation, file);
    s.bind(1, title)
        .bind(2, model_id)
        .bind(3, created_ms)
        .bind(4, updated_ms)
        .bind(5, folder)
        .bind(6, pinned);
    s.run();
    return sqlite3_last_insert_rowid(db);
}

// ---- JSON ------------------------------------------------------------------------------------

constexpr const char* kJsonFormat = "latentchat-conversation";
constexpr int kJsonVersion = 1;

// sampling_json is embedded as a JSON object when it is one written canonically (so import gives
// back the same text); otherwise as a string holding the text; empty text is null.
json sampling_to_json(const std::string& text) {
    if (text.empty()) return nullptr;
    json parsed = json::parse(text, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object() && parsed.dump() == text) return parsed;
    return text;
}

[[noreturn]] void bad_import(const std::string& where, const std::string& what) {
    throw Error("Cannot import the history: " + where + " " + what + "; nothing was imported.");
}

const json& require(const json& obj, const char* key, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end()) bad_import(where, std::string("has no \"") + key + "\"");
    return *it;
}

std::string get_string(const json& obj, const char* key, const std::string& where, bool required,
                       const std::string& fallback = "") {
    auto it = obj.find(key);
    if (it == obj.end()) {
        if (required) bad_import(where, std::string("has no \"") + key + "\"");
        return fallback;
    }
    if (!it->is_string()) bad_import(where + "." + key, "must be a string");
    return it->get<std::string>();
}

int64_t get_int(const json& obj, const char* key, const std::string& where, bool required) {
    auto it = obj.find(key);
    if (it == obj.end()) {
        if (required) bad_import(where, std::string("has no \"") + key + "\"");
        return 0;
    }
    if (!it->is_number_integer()) bad_import(where + "." + key, "must be an integer");
    return it->get<int64_t>();
}

double get_double(const json& obj, const char* key, const std::string& where) {
    auto it = obj.find(key);
    if (it == obj.end()) return 0;
    if (!it->is_number()) bad_import(where + "." + key, "must be a number");
    return it->get<double>();
}

std::optional<int64_t> get_opt_id(const json& obj, const char* key, const std::string& where) {
    const json& v = require(obj, key, where);
    if (v.is_null()) return std::nullopt;
    if (!v.is_number_integer()) bad_import(where + "." + key, "must be an integer or null");
    return v.get<int64_t>();
}

struct ImportMessage {
    int64_t local_id = 0;
    std::optional<int64_t> local_parent;
    std::string role;
    std::string text;
    MessageMeta meta;
    int64_t created_ms = 0;
    int64_t edited_ms = 0;
};

struct ImportConversation {
    std::string title, folder, model_id;
    bool pinned = false;
    int64_t created_ms = 0, updated_ms = 0;
    std::vector<ImportMessage> messages;
    std::optional<int64_t> head;
};

ImportConversation parse_conversation(const json& c, const std::string& where) {
    if (!c.is_object()) bad_import(where, "must be an object");
    ImportConversation out;
    out.title = get_string(c, "title", where, true);
    out.folder = get_string(c, "folder", where, false);
    out.model_id = get_string(c, "model_id", where, false);
    if (auto it = c.find("pinned"); it != c.end()) {
        if (!it->is_boolean()) bad_import(where + ".pinned", "must be true or false");
        out.pinned = it->get<bool>();
    }
    out.created_ms = get_int(c, "created_ms", where, true);
    out.updated_ms = get_int(c, "updated_ms", where, true);
    const json& messages = require(c, "messages", where);
    if (!messages.is_array()) bad_import(where + ".messages", "must be an array");
    std::set<int64_t> seen;
    for (size_t i = 0; i < messages.size(); ++i) {
        const std::string mw = where + ".messages[" + std::to_string(i) + "]";
        const json& m = messages[i];
        if (!m.is_object()) bad_import(mw, "must be an object");
        ImportMessage msg;
        msg.local_id = get_int(m, "id", mw, true);
        if (seen.count(msg.local_id))
            bad_import(mw + ".id", "repeats id " + std::to_string(msg.local_id));
        msg.local_parent = get_opt_id(m, "parent_id", mw);
        if (msg.local_parent && !seen.count(*msg.local_parent))
            bad_import(mw + ".parent_id",
                       std::to_string(*msg.local_parent) + " does not name an earlier message");
        msg.role = get_string(m, "role", mw, true);
        if (!valid_role(msg.role))
            bad_import(mw + ".role", "\"" + msg.role + "\" is not system, user or assistant");
        msg.text = get_string(m, "text", mw, true);
        const int64_t tokens = get_int(m, "token_count", mw, false);
        if (tokens < 0 || tokens > INT32_MAX) bad_import(mw + ".token_count", "is out of range");
        msg.meta.token_count = static_cast<int>(tokens);
        msg.meta.time_to_first_token_ms = get_double(m, "ttft_ms", mw);
        msg.meta.tokens_per_second = get_double(m, "tokens_per_s", mw);
        msg.meta.model_id = get_string(m, "model_id", mw, false);
        if (auto it = m.find("sampling"); it != m.end() && !it->is_null()) {
            if (it->is_string())
                msg.meta.sampling_json = it->get<std::string>();
            else if (it->is_object())
                msg.meta.sampling_json = it->dump();
            else
                bad_import(mw + ".sampling", "must be an object, a string or null");
        }
        msg.created_ms = get_int(m, "created_ms", mw, true);
        msg.edited_ms = get_int(m, "edited_ms", mw, false);
        seen.insert(msg.local_id);
        out.messages.push_back(std::move(msg));
    }
    out.head = get_opt_id(c, "head", where);
    if (out.head && !seen.count(*out.head))
        bad_import(where + ".head", std::to_string(*out.head) + " does not name a message");
    return out;
}

}  // namespace

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- HistoryStore ----------------------------------------------------------------------------

HistoryStore::HistoryStore(const fs::path& file, Mode mode)
    : path_(file), read_only_(mode == Mode::ReadOnly) {
    std::error_code ec;
    const bool exists = fs::exists(file, ec);
    if (read_only_ && !exists)
        throw Error("The history database " + quoted(file) + " does not exist.");
    if (!read_only_ && exists) {
        if (::access(file.c_str(), W_OK) != 0)
            throw Error("The history database " + quoted(file) +
                        " is read-only; LatentChat cannot save conversations to it.");
        const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
        if (::access(dir.c_str(), W_OK) != 0)
            throw Error("The history database " + quoted(file) +
                        " is in a read-only folder; LatentChat cannot save conversations there.");
    }

    const int flags =
        read_only_ ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(file.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error("Cannot open the history database " + quoted(file) + ": " + why + ".");
    }
    try {
        sqlite3_extended_result_codes(db_, 1);
        if (!read_only_ && sqlite3_db_readonly(db_, "main") == 1)
            throw Error("The history database " + quoted(file) +
                        " is read-only; LatentChat cannot save conversations to it.");
        exec(db_, kBusyTimeoutMs, path_);
        exec(db_, kForeignKeysOn, path_);
        migrate();
    } catch (...) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw;
    }
}

HistoryStore::~HistoryStore() {
    if (db_) sqlite3_close(db_);
}

int HistoryStore::schema_version() const {
    Statement s(db_, kUserVersion, path_);
    return s.step() ? static_cast<int>(s.int64(0)) : 0;
}

void HistoryStore::migrate() {
    // The version is checked before anything is written (even the journal mode), so a file from
    // a newer LatentChat is left exactly as it was.
    const int version = schema_version();
    if (version > kSchemaVersion)
        throw Error(quoted(path_) + " was written by a newer LatentChat (schema " +
                    std::to_string(version) + "); this version reads up to " +
                    std::to_string(kSchemaVersion) + ".");
    if (read_only_) {
        if (version < kSchemaVersion)
            throw Error("The history database " + quoted(path_) + " (schema " +
                        std::to_string(version) +
                        ") must be upgraded, which needs it opened for writing.");
        return;
    }
    {
        Statement wal(db_, kJournalWal, path_);
        wal.run();
    }
    exec(db_, kSynchronousNormal, path_);

    // One transaction per step; the version is read again inside it in case another program
    // migrated meanwhile.
    static constexpr const char* kSteps[] = {kSchemaV1, kMigrateV1ToV2};
    for (int target = 1; target <= kSchemaVersion; ++target) {
        Transaction t(db_, path_);
        if (schema_version() == target - 1) exec_script(db_, kSteps[target - 1], path_);
        t.commit();
    }
}

int64_t HistoryStore::create_conversation(const std::string& title, const std::string& model_id) {
    const int64_t now = now_ms();
    return insert_conversation(db_, path_, title, model_id, now, now, "", false);
}

std::vector<HistoryConversation> HistoryStore::list_conversations(int limit, int offset,
                                                                  bool include_deleted) const {
    Statement s(db_, kListConversations, path_);
    s.bind(1, limit).bind(2, offset).bind(3, include_deleted);
    std::vector<HistoryConversation> out;
    while (s.step())
        out.push_back(read_conversation(s));
    return out;
}

int64_t HistoryStore::count_conversations(bool include_deleted) const {
    Statement s(db_, kCountConversations, path_);
    s.bind(1, include_deleted);
    return s.step() ? s.int64(0) : 0;
}

std::optional<HistoryConversation> HistoryStore::conversation(int64_t id) const {
    Statement s(db_, kSelectConversation, path_);
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_conversation(s);
}

namespace {
void require_change(sqlite3* db, const fs::path& file, int64_t conversation_id) {
    if (sqlite3_changes(db) == 0)
        throw Error("The history database " + file.string() + " has no conversation " +
                    std::to_string(conversation_id) + ".");
}
}  // namespace

void HistoryStore::rename(int64_t id, const std::string& title) {
    Statement s(db_, kRenameConversation, path_);
    s.bind(1, id).bind(2, title).bind(3, now_ms());
    s.run();
    require_change(db_, path_, id);
}

void HistoryStore::set_pinned(int64_t id, bool pinned) {
    Statement s(db_, kSetPinned, path_);
    s.bind(1, id).bind(2, pinned);
    s.run();
    require_change(db_, path_, id);
}

void HistoryStore::move_to_folder(int64_t id, const std::string& folder) {
    Statement s(db_, kSetFolder, path_);
    s.bind(1, id).bind(2, folder);
    s.run();
    require_change(db_, path_, id);
}

void HistoryStore::soft_delete(int64_t id) {
    Statement s(db_, kSetDeleted, path_);
    s.bind(1, id).bind(2, now_ms());
    s.run();
    require_change(db_, path_, id);
}

void HistoryStore::undelete(int64_t id) {
    Statement s(db_, kSetDeleted, path_);
    s.bind(1, id).bind(2, int64_t{0});
    s.run();
    require_change(db_, path_, id);
}

int HistoryStore::purge_deleted(int64_t deleted_before_ms) {
    Transaction t(db_, path_);
    Statement s(db_, kPurgeDeleted, path_);
    s.bind(1, deleted_before_ms);
    s.run();
    const int n = sqlite3_changes(db_);
    t.commit();
    return n;
}

namespace {
// The conversation a message belongs to, or an lc::Error naming what is wrong.
int64_t conversation_of(sqlite3* db, const fs::path& file, int64_t message_id) {
    Statement s(db, kMessageConversation, file);
    s.bind(1, message_id);
    if (!s.step())
        throw Error("The history database " + file.string() + " has no message " +
                    std::to_string(message_id) + ".");
    return s.int64(0);
}

void require_in_conversation(sqlite3* db, const fs::path& file, int64_t message_id,
                             int64_t conversation_id) {
    if (conversation_of(db, file, message_id) != conversation_id)
        throw Error("Message " + std::to_string(message_id) + " in " + file.string() +
                    " does not belong to conversation " + std::to_string(conversation_id) + ".");
}
}  // namespace

int64_t HistoryStore::branch_from(int64_t conversation_id, int64_t message_id,
                                  const std::string& title) {
    Transaction t(db_, path_);
    const auto source = conversation(conversation_id);
    if (!source)
        throw Error("The history database " + quoted(path_) + " has no conversation " +
                    std::to_string(conversation_id) + ".");
    require_in_conversation(db_, path_, message_id, conversation_id);
    std::vector<Message> chain;
    {
        Statement s(db_, kChainFromMessage, path_);
        s.bind(1, message_id);
        while (s.step())
            chain.push_back(read_message(s));
    }
    const int64_t now = now_ms();
    const int64_t id =
        insert_conversation(db_, path_, title, source->model_id, now, now, source->folder, false);
    std::optional<int64_t> parent;
    for (const auto& m : chain)
        parent = insert_message(db_, path_, id, parent, m.role, m.content, m.meta, m.created_ms,
                                m.edited_ms);
    Statement head(db_, kSetHeadOnly, path_);
    head.bind(1, id).bind(2, parent);
    head.run();
    t.commit();
    return id;
}

int64_t HistoryStore::add_message(int64_t conversation_id, std::optional<int64_t> parent_id,
                                  const std::string& role, const std::string& text,
                                  const MessageMeta& meta) {
    if (!valid_role(role))
        throw Error("Cannot save a message with role \"" + role + "\" to " + quoted(path_) +
                    "; the role must be system, user or assistant.");
    Transaction t(db_, path_);
    if (!conversation(conversation_id))
        throw Error("The history database " + quoted(path_) + " has no conversation " +
                    std::to_string(conversation_id) + ".");
    if (parent_id) require_in_conversation(db_, path_, *parent_id, conversation_id);
    const int64_t now = now_ms();
    const int64_t id =
        insert_message(db_, path_, conversation_id, parent_id, role, text, meta, now, 0);
    Statement head(db_, kSetHead, path_);
    head.bind(1, conversation_id).bind(2, id).bind(3, now);
    head.run();
    t.commit();
    return id;
}

void HistoryStore::update_message(int64_t message_id, const std::string& text,
                                  const MessageMeta& meta) {
    Transaction t(db_, path_);
    const int64_t conversation_id = conversation_of(db_, path_, message_id);
    const int64_t now = now_ms();
    Statement s(db_, kUpdateMessage, path_);
    s.bind(1, message_id)
        .bind(2, text)
        .bind(3, meta.token_count)
        .bind(4, meta.time_to_first_token_ms)
        .bind(5, meta.tokens_per_second)
        .bind(6, meta.model_id)
        .bind(7, meta.sampling_json)
        .bind(8, now);
    s.run();
    Statement touch(db_, kTouchConversation, path_);
    touch.bind(1, conversation_id).bind(2, now);
    touch.run();
    t.commit();
}

void HistoryStore::set_head(int64_t conversation_id, int64_t message_id) {
    Transaction t(db_, path_);
    require_in_conversation(db_, path_, message_id, conversation_id);
    Statement s(db_, kSetHeadOnly, path_);
    s.bind(1, conversation_id).bind(2, message_id);
    s.run();
    t.commit();
}

// The branch on show is the chain from the conversation's head back to its first message.
std::vector<Message> HistoryStore::branch(int64_t conversation_id) const {
    std::vector<Message> out;
    const std::optional<HistoryConversation> c = conversation(conversation_id);
    if (!c || !c->head_message_id) return out;
    Statement s(db_, kChainFromMessage, path_);
    s.bind(1, *c->head_message_id);
    while (s.step())
        out.push_back(read_message(s));
    return out;
}

std::vector<Message> HistoryStore::children(int64_t conversation_id,
                                            std::optional<int64_t> parent_id) const {
    Statement s(db_, kChildren, path_);
    s.bind(1, conversation_id).bind(2, parent_id);
    std::vector<Message> out;
    while (s.step())
        out.push_back(read_message(s));
    return out;
}

std::optional<Message> HistoryStore::message(int64_t message_id) const {
    Statement s(db_, kSelectMessage, path_);
    s.bind(1, message_id);
    if (!s.step()) return std::nullopt;
    return read_message(s);
}

std::vector<SearchHit> HistoryStore::search(const std::string& query,
                                            const SearchFilter& filter) const {
    // Each whitespace-separated term becomes an FTS5 string ("term", with " doubled), so no
    // punctuation or keyword in the user's text can change the query's syntax; terms are ANDed.
    std::string match;
    size_t i = 0;
    while (i < query.size()) {
        while (i < query.size() && std::isspace(static_cast<unsigned char>(query[i])))
            ++i;
        if (i >= query.size()) break;
        std::string term = "\"";
        while (i < query.size() && !std::isspace(static_cast<unsigned char>(query[i]))) {
            if (query[i] == '"') term += '"';
            term += query[i++];
        }
        term += '"';
        if (!match.empty()) match += ' ';
        match += term;
    }
    if (match.empty() || filter.limit <= 0) return {};

    Statement s(db_, kSearch, path_);
    s.bind(1, match)
        .bind(2, filter.from_ms)
        .bind(3, filter.to_ms)
        .bind(4, filter.model_id)
        .bind(5, filter.limit);
    std::vector<SearchHit> out;
    while (s.step()) {
        SearchHit h;
        h.conversation_id = s.int64(0);
        h.message_id = s.int64(1);
        h.conversation_title = s.text(2);
        h.role = s.text(3);
        h.snippet = s.text(4);
        h.rank = s.real(5);
        h.created_ms = s.int64(6);
        out.push_back(std::move(h));
    }
    return out;
}

std::string HistoryStore::export_markdown(int64_t conversation_id) const {
    const auto c = conversation(conversation_id);
    if (!c)
        throw Error("The history database " + quoted(path_) + " has no conversation " +
                    std::to_string(conversation_id) + ".");
    std::string out = "# " + c->title + "\n\n";
    for (const auto& m : branch(conversation_id)) {
        const char* who = m.role == "user"        ? "User"
                          : m.role == "assistant" ? "Assistant"
                                                  : "System";
        out += std::string("**") + who + ":** " + m.content + "\n\n";
    }
    return out;
}

namespace {
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
    return doc.dump(2) + "\n";
}

std::vector<Message> all_messages(sqlite3* db, const fs::path& file, int64_t id) {
    Statement s(db, kConversationMessages, file);
    s.bind(1, id);
    std::vector<Message> out;
    while (s.step())
        out.push_back(read_message(s));
    return out;
}
}  // namespace

std::string HistoryStore::export_json(int64_t conversation_id) const {
    // One read transaction, so the conversation and its messages are one consistent snapshot.
    exec(db_, kBeginRead, path_);
    try {
        const auto c = conversation(conversation_id);
        if (!c)
            throw Error("The history database " + quoted(path_) + " has no conversation " +
                        std::to_string(conversation_id) + ".");
        json list = json::array({conversation_json(*c, all_messages(db_, path_, c->id))});
        exec(db_, kCommit, path_);
        return wrap_export(std::move(list));
    } catch (...) {
        sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
        throw;
    }
}

std::string HistoryStore::export_all_json() const {
    exec(db_, kBeginRead, path_);
    try {
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
        exec(db_, kCommit, path_);
        return wrap_export(std::move(list));
    } catch (...) {
        sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
        throw;
    }
}

std::vector<int64_t> HistoryStore::import_json(const std::string& text) {
    // Validate everything first...
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded())
        throw Error("Cannot import the history: the text is not valid JSON; nothing was imported.");
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
    std::vector<ImportConversation> parsed;
    for (size_t i = 0; i < list.size(); ++i)
        parsed.push_back(parse_conversation(list[i], "conversations[" + std::to_string(i) + "]"));

    // ...then write it all in one transaction.
    Transaction t(db_, path_);
    std::vector<int64_t> ids;
    for (const auto& c : parsed) {
        const int64_t id = insert_conversation(db_, path_, c.title, c.model_id, c.created_ms,
                                               c.updated_ms, c.folder, c.pinned);
        std::unordered_map<int64_t, int64_t> remap;
        for (const auto& m : c.messages) {
            std::optional<int64_t> parent;
            if (m.local_parent) parent = remap.at(*m.local_parent);
            remap[m.local_id] = insert_message(db_, path_, id, parent, m.role, m.text, m.meta,
                                               m.created_ms, m.edited_ms);
        }
        std::optional<int64_t> head;
        if (c.head) head = remap.at(*c.head);
        Statement s(db_, kSetHeadOnly, path_);
        s.bind(1, id).bind(2, head);
        s.run();
        ids.push_back(id);
    }
    t.commit();
    return ids;
}

// ---- ReplyRecorder ---------------------------------------------------------------------------

ReplyRecorder::ReplyRecorder(HistoryStore& store, int64_t message_id, int interval_ms)
    : store_(store), message_id_(message_id), interval_ms_(interval_ms) {
    // Keep what the message already holds, so interim saves do not wipe its metadata.
    const auto m = store_.message(message_id);
    if (!m)
        throw Error("The history database " + store_.path().string() + " has no message " +
                    std::to_string(message_id) + ".");
    text_ = m->content;
    meta_ = m->meta;
    last_save_ms_ = now_ms();
}

void ReplyRecorder::append(const std::string& text) {
    text_ += text;
    const int64_t now = now_ms();
    if (now - last_save_ms_ >= interval_ms_) {
        store_.update_message(message_id_, text_, meta_);
        last_save_ms_ = now;
    }
}

void ReplyRecorder::finish(const MessageMeta& meta) {
    meta_ = meta;
    store_.update_message(message_id_, text_, meta_);
    last_save_ms_ = now_ms();
}

}  // namespace lc
