#pragma once
// Private to core/history: the SQLite plumbing and the statements that several parts of
// HistoryStore (schema, conversations, message tree, search, import/export) share. Each part
// keeps the statements only it uses in its own file.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/message.h"

// A named namespace, not an anonymous one, since the helpers are shared between files; "history"
// in the name keeps them apart from any other Statement in lc.
namespace lc::history_detail {

namespace fs = std::filesystem;

// ---- Shared SQL ------------------------------------------------------------------------------
// Every statement is a constant; user text only ever reaches SQLite through bound parameters.

// The columns read_message() reads, in its order, from `messages m`. A macro so each query stays
// one constant string.
#define LC_HISTORY_MESSAGE_COLUMNS                                                     \
    "m.id, m.conversation_id, m.parent_id, m.role, m.text, m.token_count, m.ttft_ms, " \
    "m.tokens_per_s, m.model_id, m.sampling_json, m.created_ms, m.edited_ms"

// Moves the head without touching updated_ms (set_head, branch_from, import).
inline constexpr const char* kSetHeadOnly =
    "UPDATE conversations SET head_message_id = ?2 WHERE id = ?1";

// ---- SQLite helpers --------------------------------------------------------------------------

std::string quoted(const fs::path& file);

// Throws an lc::Error that says in words what went wrong with `file` (locked, read-only, ...).
[[noreturn]] void fail(sqlite3* db, int rc, const fs::path& file);
[[noreturn]] void no_such_conversation(const fs::path& file, int64_t conversation_id);
[[noreturn]] void no_such_message(const fs::path& file, int64_t message_id);

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

// Runs one constant statement to the end.
void exec(sqlite3* db, const char* sql, const fs::path& file);

// Rolls back unless committed. Write takes the write lock up front (BEGIN IMMEDIATE, waiting up
// to the busy timeout); Read is a deferred BEGIN, one consistent snapshot for several reads.
class Transaction {
public:
    enum class Kind { Write, Read };
    Transaction(sqlite3* db, const fs::path& file, Kind kind = Kind::Write);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    sqlite3* db_;
    const fs::path& file_;
    bool done_ = false;
};

// The message in the current row of a query that selects LC_HISTORY_MESSAGE_COLUMNS.
Message read_message(const Statement& s);
// Every row left in `s`, each read by read_message.
std::vector<Message> read_messages(Statement& s);

// Binds a message's metadata to parameters first..first+4: token_count, ttft_ms, tokens_per_s,
// model_id, sampling_json (the order of those columns in `messages`).
void bind_meta(Statement& s, int first, const MessageMeta& meta);

// system, user or assistant: the roles a stored message may have (add_message and import).
bool valid_role(const std::string& role);

// Inserts `m` (its role, content, meta and times) as a new message of `conversation_id` under
// `parent_id`; m's own ids are ignored. Returns the new id.
int64_t insert_message(sqlite3* db, const fs::path& file, int64_t conversation_id,
                       std::optional<int64_t> parent_id, const Message& m);
int64_t insert_conversation(sqlite3* db, const fs::path& file, const std::string& title,
                            const std::string& model_id, int64_t created_ms, int64_t updated_ms,
                            const std::string& folder, bool pinned);

}  // namespace lc::history_detail
