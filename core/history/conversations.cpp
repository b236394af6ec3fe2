// HistoryStore: conversations (create, list, rename, pin, folder, soft delete, purge).
#include "history/history_store.h"

#include "history/sqlite_util.h"

namespace lc {
using namespace history_detail;

namespace {

// Every statement is a constant; user text only ever reaches SQLite through bound parameters.
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
constexpr const char* kCountConversations =
    "SELECT COUNT(*) FROM conversations WHERE (?1 OR deleted_ms = 0)";
constexpr const char* kRenameConversation =
    "UPDATE conversations SET title = ?2, updated_ms = ?3 WHERE id = ?1";
constexpr const char* kSetPinned = "UPDATE conversations SET pinned = ?2 WHERE id = ?1";
constexpr const char* kSetFolder = "UPDATE conversations SET folder = ?2 WHERE id = ?1";
constexpr const char* kSetDeleted = "UPDATE conversations SET deleted_ms = ?2 WHERE id = ?1";
constexpr const char* kPurgeDeleted =
    "DELETE FROM conversations WHERE deleted_ms != 0 AND deleted_ms <= ?1";

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

// Runs an UPDATE of one conversation (?1 its id, ?2... the values); no row changed means no such
// conversation, which is an lc::Error rather than a silent no-op.
template <typename... Values>
void update_conversation(sqlite3* db, const fs::path& file, const char* sql, int64_t id,
                         const Values&... values) {
    Statement s(db, sql, file);
    s.bind(1, id);
    int i = 2;
    (s.bind(i++, values), ...);
    s.run();
    if (sqlite3_changes(db) == 0) no_such_conversation(file, id);
}

}  // namespace

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

void HistoryStore::rename(int64_t id, const std::string& title) {
    update_conversation(db_, path_, kRenameConversation, id, title, now_ms());
}

void HistoryStore::set_pinned(int64_t id, bool pinned) {
    update_conversation(db_, path_, kSetPinned, id, pinned);
}

void HistoryStore::move_to_folder(int64_t id, const std::string& folder) {
    update_conversation(db_, path_, kSetFolder, id, folder);
}

void HistoryStore::soft_delete(int64_t id) {
    update_conversation(db_, path_, kSetDeleted, id, now_ms());
}

void HistoryStore::undelete(int64_t id) {
    update_conversation(db_, path_, kSetDeleted, id, int64_t{0});
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

}  // namespace lc
