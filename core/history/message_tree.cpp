// HistoryStore: messages as a tree (edits and regenerations are siblings; the branch on show ends
// at the conversation's head), and ReplyRecorder, which saves a reply as it streams.
#include "history/history_store.h"

#include "base/error.h"
#include "history/sqlite_util.h"

namespace lc {
using namespace history_detail;

namespace {

// Every statement is a constant; user text only ever reaches SQLite through bound parameters.
constexpr const char* kTouchConversation = "UPDATE conversations SET updated_ms = ?2 WHERE id = ?1";
constexpr const char* kSetHead =
    "UPDATE conversations SET head_message_id = ?2, updated_ms = ?3 WHERE id = ?1";
constexpr const char* kMessageConversation = "SELECT conversation_id FROM messages WHERE id = ?1";
constexpr const char* kUpdateMessage =
    "UPDATE messages SET text = ?2, token_count = ?3, ttft_ms = ?4, tokens_per_s = ?5, "
    "model_id = ?6, sampling_json = ?7, edited_ms = ?8 WHERE id = ?1";
constexpr const char* kSelectMessage =
    "SELECT " LC_HISTORY_MESSAGE_COLUMNS " FROM messages m WHERE m.id = ?1";
constexpr const char* kChildren =
    "SELECT " LC_HISTORY_MESSAGE_COLUMNS
    " FROM messages m WHERE m.conversation_id = ?1 AND m.parent_id IS ?2 ORDER BY m.id";
// The chain from a message up to the root, returned root first. The depth bound guards against
// a cycle in a damaged file.
constexpr const char* kChainFromMessage =
    "WITH RECURSIVE chain(id, depth) AS ("
    "  SELECT ?1, 0"
    "  UNION ALL"
    "  SELECT p.parent_id, chain.depth + 1 FROM messages p JOIN chain ON p.id = chain.id"
    "  WHERE p.parent_id IS NOT NULL AND chain.depth < 1000000) "
    "SELECT " LC_HISTORY_MESSAGE_COLUMNS
    " FROM chain JOIN messages m ON m.id = chain.id ORDER BY chain.depth DESC";

std::vector<Message> chain_to(sqlite3* db, const fs::path& file, int64_t message_id) {
    Statement s(db, kChainFromMessage, file);
    s.bind(1, message_id);
    return read_messages(s);
}

// The conversation a message belongs to, or an lc::Error naming what is wrong.
int64_t conversation_of(sqlite3* db, const fs::path& file, int64_t message_id) {
    Statement s(db, kMessageConversation, file);
    s.bind(1, message_id);
    if (!s.step()) no_such_message(file, message_id);
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
    if (!source) no_such_conversation(path_, conversation_id);
    require_in_conversation(db_, path_, message_id, conversation_id);
    const std::vector<Message> chain = chain_to(db_, path_, message_id);
    const int64_t now = now_ms();
    const int64_t id =
        insert_conversation(db_, path_, title, source->model_id, now, now, source->folder, false);
    // The copies keep their role, text, metadata and times; only the ids are new.
    std::optional<int64_t> parent;
    for (const auto& m : chain)
        parent = insert_message(db_, path_, id, parent, m);
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
    if (!conversation(conversation_id)) no_such_conversation(path_, conversation_id);
    if (parent_id) require_in_conversation(db_, path_, *parent_id, conversation_id);
    const int64_t now = now_ms();
    Message m(role, text);
    m.meta = meta;
    m.created_ms = now;
    const int64_t id = insert_message(db_, path_, conversation_id, parent_id, m);
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
    s.bind(1, message_id).bind(2, text).bind(8, now);
    bind_meta(s, 3, meta);
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
    const std::optional<HistoryConversation> c = conversation(conversation_id);
    if (!c || !c->head_message_id) return {};
    return chain_to(db_, path_, *c->head_message_id);
}

std::vector<Message> HistoryStore::children(int64_t conversation_id,
                                            std::optional<int64_t> parent_id) const {
    Statement s(db_, kChildren, path_);
    s.bind(1, conversation_id).bind(2, parent_id);
    return read_messages(s);
}

std::optional<Message> HistoryStore::message(int64_t message_id) const {
    Statement s(db_, kSelectMessage, path_);
    s.bind(1, message_id);
    if (!s.step()) return std::nullopt;
    return read_message(s);
}

// ---- ReplyRecorder ---------------------------------------------------------------------------

ReplyRecorder::ReplyRecorder(HistoryStore& store, int64_t message_id, int interval_ms)
    : store_(store), message_id_(message_id), interval_ms_(interval_ms) {
    // Keep what the message already holds, so interim saves do not wipe its metadata.
    const auto m = store_.message(message_id);
    if (!m) no_such_message(store_.path(), message_id);
    text_ = m->content;
    meta_ = m->meta;
    last_save_ms_ = now_ms();
}

void ReplyRecorder::append(const std::string& text) {
    text_ += text;
    const int64_t now = now_ms();
    // The first text is saved at once: waiting for the interval lost a reply killed early.
    if ((!saved_text_ && !text_.empty()) || now - last_save_ms_ >= interval_ms_) {
        store_.update_message(message_id_, text_, meta_);
        last_save_ms_ = now;
        saved_text_ = !text_.empty();
    }
}

void ReplyRecorder::finish(const MessageMeta& meta) {
    meta_ = meta;
    store_.update_message(message_id_, text_, meta_);
    last_save_ms_ = now_ms();
}

}  // namespace lc
