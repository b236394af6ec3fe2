#include "history/sqlite_util.h"

#include <chrono>

#include "base/error.h"
#include "history/history_store.h"

namespace lc {

// Defined here, with the other helpers, since every part of the store stamps times with it.
int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace history_detail {

namespace {

constexpr const char* kBeginImmediate = "BEGIN IMMEDIATE";
constexpr const char* kBeginRead = "BEGIN";  // deferred: a read snapshot
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";

constexpr const char* kInsertConversation =
    "INSERT INTO conversations (title, model_id, created_ms, updated_ms, folder, pinned) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kInsertMessage =
    "INSERT INTO messages (conversation_id, parent_id, role, text, token_count, ttft_ms, "
    "tokens_per_s, model_id, sampling_json, created_ms, edited_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

}  // namespace

std::string quoted(const fs::path& file) {
    return file.string();
}

void fail(sqlite3* db, int rc, const fs::path& file) {
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

void no_such_conversation(const fs::path& file, int64_t conversation_id) {
    throw Error("The history database " + quoted(file) + " has no conversation " +
                std::to_string(conversation_id) + ".");
}

void no_such_message(const fs::path& file, int64_t message_id) {
    throw Error("The history database " + quoted(file) + " has no message " +
                std::to_string(message_id) + ".");
}

void exec(sqlite3* db, const char* sql, const fs::path& file) {
    Statement s(db, sql, file);
    s.run();
}

Transaction::Transaction(sqlite3* db, const fs::path& file, Kind kind) : db_(db), file_(file) {
    exec(db, kind == Kind::Write ? kBeginImmediate : kBeginRead, file);
}

Transaction::~Transaction() {
    if (!done_) sqlite3_exec(db_, kRollback, nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    exec(db_, kCommit, file_);
    done_ = true;
}

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

std::vector<Message> read_messages(Statement& s) {
    std::vector<Message> out;
    while (s.step())
        out.push_back(read_message(s));
    return out;
}

void bind_meta(Statement& s, int first, const MessageMeta& meta) {
    s.bind(first, meta.token_count)
        .bind(first + 1, meta.time_to_first_token_ms)
        .bind(first + 2, meta.tokens_per_second)
        .bind(first + 3, meta.model_id)
        .bind(first + 4, meta.sampling_json);
}

bool valid_role(const std::string& role) {
    return role == "system" || role == "user" || role == "assistant";
}

int64_t insert_message(sqlite3* db, const fs::path& file, int64_t conversation_id,
                       std::optional<int64_t> parent_id, const Message& m) {
    Statement s(db, kInsertMessage, file);
    s.bind(1, conversation_id)
        .bind(2, parent_id)
        .bind(3, m.role)
        .bind(4, m.content)
        .bind(10, m.created_ms)
        .bind(11, m.edited_ms);
    bind_meta(s, 5, m.meta);
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

}  // namespace history_detail
}  // namespace lc
