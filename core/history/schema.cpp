// HistoryStore: opening the file, its pragmas, and migrating its schema (PRAGMA user_version) up
// to kSchemaVersion.
#include "history/history_store.h"

#include <unistd.h>

#include "base/error.h"
#include "history/sqlite_util.h"

namespace lc {
using namespace history_detail;

namespace {

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

}  // namespace

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

}  // namespace lc
