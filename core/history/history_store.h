#pragma once
// Conversation history in SQLite (the C API; no Qt): conversations, messages as a tree (edits
// and regenerations are siblings; a conversation shows the branch ending at its head), full-text
// search, organising, export and import. Opened in WAL mode with foreign keys on and a busy
// timeout; every statement is a named constant with bound parameters; the schema is versioned
// with PRAGMA user_version and migrated forward on open.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/message.h"

struct sqlite3;

namespace lc {

struct HistoryConversation {
    int64_t id = 0;
    std::string title;
    std::string folder;  // empty: none
    bool pinned = false;
    std::string model_id;
    int64_t created_ms = 0;
    int64_t updated_ms = 0;
    std::optional<int64_t> head_message_id;  // last message of the branch on show
    int64_t deleted_ms = 0;                  // 0: not deleted
    int64_t message_count = 0;               // all messages, every branch
};

struct SearchFilter {
    int64_t from_ms = 0;   // 0: no lower bound
    int64_t to_ms = 0;     // 0: no upper bound
    std::string model_id;  // empty: any model
    int limit = 50;
};

struct SearchHit {
    int64_t conversation_id = 0;
    int64_t message_id = 0;
    std::string conversation_title;
    std::string role;
    std::string snippet;  // with the matches between [ and ]
    double rank = 0;      // lower is better (FTS5 bm25)
    int64_t created_ms = 0;
};

class HistoryStore {
public:
    static constexpr int kSchemaVersion = 2;
    enum class Mode { ReadWrite, ReadOnly };

    // Opens (creating it in ReadWrite mode) and migrates. Throws lc::Error naming the file when
    // it is not a database, is locked beyond the busy timeout, is read-only while writing was
    // asked, or was written by a newer LatentChat (user_version above kSchemaVersion).
    explicit HistoryStore(const std::filesystem::path& file, Mode mode = Mode::ReadWrite);
    ~HistoryStore();
    HistoryStore(const HistoryStore&) = delete;
    HistoryStore& operator=(const HistoryStore&) = delete;

    const std::filesystem::path& path() const { return path_; }
    int schema_version() const;

    // Conversations. Lists put pinned first, then the most recently updated.
    int64_t create_conversation(const std::string& title, const std::string& model_id = "");
    std::vector<HistoryConversation> list_conversations(int limit, int offset = 0,
                                                        bool include_deleted = false) const;
    int64_t count_conversations(bool include_deleted = false) const;
    std::optional<HistoryConversation> conversation(int64_t id) const;
    void rename(int64_t id, const std::string& title);
    void set_pinned(int64_t id, bool pinned);
    void move_to_folder(int64_t id, const std::string& folder);
    void soft_delete(int64_t id);  // hidden from lists and search; undelete() restores it
    void undelete(int64_t id);
    int purge_deleted(int64_t deleted_before_ms);  // removes for good; returns how many
    // A new conversation holding the branch up to and including `message_id`.
    int64_t branch_from(int64_t conversation_id, int64_t message_id, const std::string& title);

    // Messages. add_message makes the new message the conversation's head.
    int64_t add_message(int64_t conversation_id, std::optional<int64_t> parent_id,
                        const std::string& role, const std::string& text,
                        const MessageMeta& meta = {});
    void update_message(int64_t message_id, const std::string& text, const MessageMeta& meta);
    void set_head(int64_t conversation_id, int64_t message_id);
    std::vector<Message> branch(int64_t conversation_id) const;  // first to head
    std::vector<Message> children(int64_t conversation_id, std::optional<int64_t> parent_id) const;
    std::optional<Message> message(int64_t message_id) const;

    std::vector<SearchHit> search(const std::string& query, const SearchFilter& filter = {}) const;

    // Export: Markdown for people; JSON ({"format": "latentchat-conversation", "version": 1,
    // ...}, documented in docs/history-json.md) for import. Import is all or nothing: bad JSON is
    // an lc::Error and writes nothing. Returns the new conversations' ids.
    std::string export_markdown(int64_t conversation_id) const;
    std::string export_json(int64_t conversation_id) const;
    std::string export_all_json() const;
    std::vector<int64_t> import_json(const std::string& json);

private:
    void migrate();
    std::filesystem::path path_;
    sqlite3* db_ = nullptr;
    bool read_only_ = false;
};

// Saves a streaming reply when its first text arrives, then at most every `interval_ms` and on
// finish(), so a crash (even kill -9) loses at most that much of it.
class ReplyRecorder {
public:
    ReplyRecorder(HistoryStore& store, int64_t message_id, int interval_ms = 500);
    void append(const std::string& text);  // saves when interval_ms passed since the last save
    void finish(const MessageMeta& meta);
    const std::string& text() const { return text_; }
    const MessageMeta& meta() const { return meta_; }  // as stored: model, sampling

private:
    HistoryStore& store_;
    int64_t message_id_;
    int interval_ms_;
    std::string text_;
    int64_t last_save_ms_ = 0;
    bool saved_text_ = false;  // the reply's first text is in the database
    MessageMeta meta_;
};

int64_t now_ms();

}  // namespace lc
