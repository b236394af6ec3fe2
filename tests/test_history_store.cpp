// lc::HistoryStore: conversations and the message tree, organising (pin, folder, soft delete,
// purge), schema migration from version 1 and refusal of newer files, the errors a user can meet
// (not a database, read-only, locked), full-text search with hostile queries, JSON export/import
// round trips and all-or-nothing import, readers while a reply streams, and a SIGKILL while a
// reply is being saved (the file stays intact and holds the last save).
#include <QTemporaryDir>
#include <QtTest>

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "history/history_store.h"

namespace fs = std::filesystem;
using lc::HistoryStore;
using nlohmann::json;

namespace {

// The version 1 schema, as LatentChat 1 wrote it (copied, so this test keeps building v1 files
// however the store's own code changes).
const char* kV1Schema = R"sql(
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

// A raw SQLite connection, for what the store must not be asked to do itself.
class RawDb {
public:
    explicit RawDb(const fs::path& file) {
        if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) != SQLITE_OK)
            throw std::runtime_error("cannot open " + file.string());
        sqlite3_busy_timeout(db_, 5000);
    }
    ~RawDb() { sqlite3_close(db_); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;
    void exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string why = err ? err : "?";
            sqlite3_free(err);
            throw std::runtime_error(sql + ": " + why);
        }
    }
    std::string text(const std::string& sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
            throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
        std::string out;
        if (sqlite3_step(s) == SQLITE_ROW) {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
            out = p ? p : "";
        }
        sqlite3_finalize(s);
        return out;
    }
    int64_t number(const std::string& sql) { return std::stoll(text(sql)); }

private:
    sqlite3* db_ = nullptr;
};

std::string read_bytes(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs f, which must throw lc::Error whose message holds every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
    try {
        f();
    } catch (const lc::Error& e) {
        const std::string what = e.what();
        for (const auto& p : parts)
            QVERIFY2(what.find(p) != std::string::npos,
                     qPrintable(QString::fromStdString("'" + p + "' not in: " + what)));
        return;
    } catch (const std::exception& e) {
        QFAIL(qPrintable(QString("not an lc::Error: ") + e.what()));
    }
    QFAIL("no lc::Error thrown");
}

int64_t total_messages(const HistoryStore& s) {
    int64_t n = 0;
    for (const auto& c : s.list_conversations(1000000, 0, true))
        n += c.message_count;
    return n;
}

void compare_messages(const lc::Message& a, const lc::Message& b) {
    QCOMPARE(a.role, b.role);
    QCOMPARE(a.content, b.content);
    QCOMPARE(a.meta.token_count, b.meta.token_count);
    QCOMPARE(a.meta.time_to_first_token_ms, b.meta.time_to_first_token_ms);
    QCOMPARE(a.meta.tokens_per_second, b.meta.tokens_per_second);
    QCOMPARE(a.meta.model_id, b.meta.model_id);
    QCOMPARE(a.meta.sampling_json, b.meta.sampling_json);
    QCOMPARE(a.created_ms, b.created_ms);
    QCOMPARE(a.edited_ms, b.edited_ms);
}

// Same conversation up to ids: metadata, every message (in order), the tree and the head.
void compare_conversations(const HistoryStore& sa, int64_t a, const HistoryStore& sb, int64_t b) {
    const auto ca = sa.conversation(a), cb = sb.conversation(b);
    QVERIFY(ca && cb);
    QCOMPARE(ca->title, cb->title);
    QCOMPARE(ca->folder, cb->folder);
    QCOMPARE(ca->pinned, cb->pinned);
    QCOMPARE(ca->model_id, cb->model_id);
    QCOMPARE(ca->created_ms, cb->created_ms);
    QCOMPARE(ca->updated_ms, cb->updated_ms);
    QCOMPARE(ca->message_count, cb->message_count);
    // Walk both trees breadth first, children in order.
    std::vector<std::pair<std::optional<int64_t>, std::optional<int64_t>>> queue{{{}, {}}};
    std::map<int64_t, int64_t> a_to_b;
    for (size_t q = 0; q < queue.size(); ++q) {
        const auto kids_a = sa.children(a, queue[q].first);
        const auto kids_b = sb.children(b, queue[q].second);
        QCOMPARE(kids_a.size(), kids_b.size());
        for (size_t i = 0; i < kids_a.size(); ++i) {
            compare_messages(kids_a[i], kids_b[i]);
            a_to_b[kids_a[i].id] = kids_b[i].id;
            queue.push_back({kids_a[i].id, kids_b[i].id});
        }
    }
    QCOMPARE(int64_t(a_to_b.size()), ca->message_count);
    QCOMPARE(ca->head_message_id.has_value(), cb->head_message_id.has_value());
    if (ca->head_message_id) QCOMPARE(a_to_b.at(*ca->head_message_id), *cb->head_message_id);
}

// The text the SIGKILL child streams, chunk by chunk.
std::string chunk(int i) {
    return "word" + std::to_string(i) + " ";
}

}  // namespace

class TestHistoryStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;
    int counter_ = 0;
    fs::path fresh(const char* name = "history") {
        return fs::path(dir_.path().toStdString()) /
               (std::string(name) + std::to_string(++counter_) + ".db");
    }

private slots:
    // kill -9 in the first half second of a reply lost all of it: the first text is saved at
    // once, later text at the interval (issue 22).
    void recorder_saves_the_first_text_at_once() {
        QTemporaryDir tmp;
        HistoryStore s(tmp.filePath("h.db").toStdString());
        const int64_t c = s.create_conversation("Quick");
        const int64_t u = s.add_message(c, std::nullopt, "user", "hello");
        const int64_t reply = s.add_message(c, u, "assistant", "");
        lc::ReplyRecorder rec(s, reply, 3600 * 1000);
        rec.append("");  // a token with no text yet
        QCOMPARE(s.message(reply)->content, std::string());
        rec.append("Once");
        QCOMPARE(s.message(reply)->content, std::string("Once"));
        rec.append(" upon");  // within the interval: not yet
        QCOMPARE(s.message(reply)->content, std::string("Once"));
        rec.finish(lc::MessageMeta{});
        QCOMPARE(s.message(reply)->content, std::string("Once upon"));
    }

    void initTestCase() { QVERIFY(dir_.isValid()); }

    void conversations_are_organised() {
        HistoryStore s(fresh());
        QCOMPARE(s.schema_version(), HistoryStore::kSchemaVersion);
        const int64_t a = s.create_conversation("First", "model-a");
        QTest::qWait(3);
        const int64_t b = s.create_conversation("Second");
        QTest::qWait(3);
        const int64_t c = s.create_conversation("Third");
        QCOMPARE(s.count_conversations(), int64_t(3));

        // Most recently updated first; pinned before everything.
        auto list = s.list_conversations(10);
        QCOMPARE(list.size(), size_t(3));
        QCOMPARE(list[0].id, c);
        QCOMPARE(list[2].id, a);
        QCOMPARE(list[2].model_id, std::string("model-a"));
        s.set_pinned(a, true);
        list = s.list_conversations(10);
        QCOMPARE(list[0].id, a);
        QVERIFY(list[0].pinned);
        QCOMPARE(s.list_conversations(1, 1)[0].id, c);

        // Renaming and new messages bump updated_ms.
        const int64_t before = s.conversation(b)->updated_ms;
        QTest::qWait(5);
        s.rename(b, "Second, renamed");
        QCOMPARE(s.conversation(b)->title, std::string("Second, renamed"));
        QVERIFY(s.conversation(b)->updated_ms > before);
        const int64_t before_add = s.conversation(c)->updated_ms;
        QTest::qWait(5);
        const int64_t m = s.add_message(c, std::nullopt, "user", "hello");
        QVERIFY(s.conversation(c)->updated_ms > before_add);
        const int64_t before_update = s.conversation(c)->updated_ms;
        QTest::qWait(5);
        s.update_message(m, "hello again", {});
        QVERIFY(s.conversation(c)->updated_ms > before_update);
        QVERIFY(s.message(m)->edited_ms > 0);

        s.move_to_folder(b, "Work");
        QCOMPARE(s.conversation(b)->folder, std::string("Work"));
        s.move_to_folder(b, "");
        QCOMPARE(s.conversation(b)->folder, std::string(""));

        // Soft delete hides; undelete restores; purge removes for good with the messages.
        s.soft_delete(c);
        QCOMPARE(s.count_conversations(), int64_t(2));
        QCOMPARE(s.count_conversations(true), int64_t(3));
        QCOMPARE(s.list_conversations(10).size(), size_t(2));
        QVERIFY(s.conversation(c)->deleted_ms > 0);
        s.undelete(c);
        QCOMPARE(s.count_conversations(), int64_t(3));
        QCOMPARE(s.conversation(c)->deleted_ms, int64_t(0));
        s.soft_delete(c);
        QCOMPARE(s.purge_deleted(s.conversation(c)->deleted_ms - 1), 0);
        QCOMPARE(s.purge_deleted(lc::now_ms() + 1), 1);
        QVERIFY(!s.conversation(c));
        QVERIFY(!s.message(m));
        QCOMPARE(s.count_conversations(true), int64_t(2));
        {
            // The cascade kept the full-text index in step.
            RawDb raw(s.path());
            raw.exec("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')");
            QCOMPARE(raw.number("SELECT COUNT(*) FROM messages"), int64_t(0));
        }
        QCOMPARE(s.search("hello").size(), size_t(0));

        expect_error([&] { s.rename(12345, "x"); }, {"12345"});
        expect_error([&] { s.add_message(a, std::nullopt, "robot", "x"); }, {"robot"});
    }

    void message_tree_and_branches() {
        HistoryStore s(fresh());
        const int64_t c = s.create_conversation("Tree");
        const int64_t sys = s.add_message(c, std::nullopt, "system", "be brief");
        const int64_t u = s.add_message(c, sys, "user", "name a colour");
        lc::MessageMeta meta;
        meta.token_count = 3;
        meta.model_id = "m1";
        const int64_t a1 = s.add_message(c, u, "assistant", "red", meta);
        QCOMPARE(*s.conversation(c)->head_message_id, a1);
        const int64_t a2 = s.add_message(c, u, "assistant", "blue");  // a regeneration
        QCOMPARE(*s.conversation(c)->head_message_id, a2);
        QCOMPARE(s.conversation(c)->message_count, int64_t(4));

        const auto kids = s.children(c, u);
        QCOMPARE(kids.size(), size_t(2));
        QCOMPARE(kids[0].id, a1);
        QCOMPARE(kids[1].id, a2);
        QCOMPARE(kids[0].meta.token_count, 3);
        QCOMPARE(kids[0].meta.model_id, std::string("m1"));
        QCOMPARE(s.children(c, std::nullopt).size(), size_t(1));
        QCOMPARE(s.children(c, std::nullopt)[0].id, sys);

        auto br = s.branch(c);
        QCOMPARE(br.size(), size_t(3));
        QCOMPARE(br[0].id, sys);
        QCOMPARE(br[2].content, std::string("blue"));
        s.set_head(c, a1);
        br = s.branch(c);
        QCOMPARE(br.size(), size_t(3));
        QCOMPARE(br[2].id, a1);
        QCOMPARE(*br[2].parent_id, u);

        // A follow-up on the first branch.
        const int64_t u2 = s.add_message(c, a1, "user", "another");
        QCOMPARE(s.branch(c).size(), size_t(4));
        QCOMPARE(s.branch(c).back().id, u2);

        // Messages of another conversation are refused as parent and head.
        const int64_t other = s.create_conversation("Other");
        const int64_t o1 = s.add_message(other, std::nullopt, "user", "elsewhere");
        const int64_t count = total_messages(s);
        expect_error([&] { s.add_message(c, o1, "assistant", "x"); },
                     {std::to_string(o1), "does not belong"});
        expect_error([&] { s.set_head(c, o1); }, {"does not belong"});
        expect_error([&] { s.add_message(c, 999999, "assistant", "x"); }, {"999999"});
        QCOMPARE(total_messages(s), count);
        QCOMPARE(*s.conversation(c)->head_message_id, u2);
        QVERIFY(s.branch(s.create_conversation("Empty")).empty());

        // branch_from copies the branch ending at a1 into a new conversation.
        const int64_t copy = s.branch_from(c, a1, "Copy");
        const auto cb = s.branch(copy);
        QCOMPARE(cb.size(), size_t(3));
        QCOMPARE(cb[0].content, std::string("be brief"));
        QCOMPARE(cb[1].content, std::string("name a colour"));
        QCOMPARE(cb[2].content, std::string("red"));
        QCOMPARE(cb[2].meta.token_count, 3);
        QCOMPARE(cb[2].created_ms, s.message(a1)->created_ms);
        QCOMPARE(*cb[2].parent_id, cb[1].id);
        QCOMPARE(s.conversation(copy)->title, std::string("Copy"));
        QCOMPARE(s.conversation(copy)->message_count, int64_t(3));
        QCOMPARE(*s.conversation(copy)->head_message_id, cb[2].id);
        QCOMPARE(s.branch(c).size(), size_t(4));  // the original is untouched
        expect_error([&] { s.branch_from(c, o1, "bad"); }, {"does not belong"});
    }

    void migrates_a_version_1_file() {
        const fs::path file = fresh("v1");
        {
            RawDb raw(file);
            raw.exec(kV1Schema);
            raw.exec(
                "INSERT INTO conversations (id, title, model_id, created_ms, updated_ms, "
                "head_message_id) VALUES (1, 'Old chat', 'old-model', 1000, 2000, 2);"
                "INSERT INTO messages (id, conversation_id, parent_id, role, text, created_ms) "
                "VALUES (1, 1, NULL, 'user', 'what is a platypus', 1000);"
                "INSERT INTO messages (id, conversation_id, parent_id, role, text, model_id, "
                "created_ms) VALUES (2, 1, 1, 'assistant', 'an egg laying mammal', "
                "'old-model', 2000);");
            QCOMPARE(raw.number("PRAGMA user_version"), int64_t(1));
        }
        {
            HistoryStore s(file);
            QCOMPARE(s.schema_version(), 2);
            const auto c = s.conversation(1);
            QVERIFY(c);
            QCOMPARE(c->title, std::string("Old chat"));
            QCOMPARE(c->folder, std::string(""));
            QVERIFY(!c->pinned);
            QCOMPARE(c->deleted_ms, int64_t(0));
            QCOMPARE(c->updated_ms, int64_t(2000));
            const auto br = s.branch(1);
            QCOMPARE(br.size(), size_t(2));
            QCOMPARE(br[1].content, std::string("an egg laying mammal"));
            // Old rows are searchable, and so are new ones.
            auto hits = s.search("platypus");
            QCOMPARE(hits.size(), size_t(1));
            QCOMPARE(hits[0].message_id, int64_t(1));
            QCOMPARE(hits[0].conversation_title, std::string("Old chat"));
            s.add_message(1, 2, "user", "does the platypus have venom");
            QCOMPARE(s.search("platypus").size(), size_t(2));
            s.set_pinned(1, true);
        }
        RawDb raw(file);
        QCOMPARE(raw.number("PRAGMA user_version"), int64_t(2));
        QCOMPARE(raw.text("PRAGMA integrity_check"), std::string("ok"));
        QCOMPARE(raw.number("SELECT pinned FROM conversations WHERE id = 1"), int64_t(1));
        // Opening again is a no-op.
        HistoryStore again(file);
        QCOMPARE(again.schema_version(), 2);
        QCOMPARE(again.search("platypus").size(), size_t(2));
    }

    void refuses_a_newer_file_untouched() {
        const fs::path file = fresh("newer");
        {
            HistoryStore s(file);
            s.add_message(s.create_conversation("From the future"), std::nullopt, "user", "hi");
        }
        {
            RawDb raw(file);
            raw.exec("PRAGMA user_version = 99");
        }
        const std::string before = read_bytes(file);
        QVERIFY(!before.empty());
        expect_error([&] { HistoryStore s(file); },
                     {file.string(), "newer LatentChat", "schema 99", "reads up to 2"});
        expect_error([&] { HistoryStore s(file, HistoryStore::Mode::ReadOnly); }, {"schema 99"});
        QVERIFY(read_bytes(file) == before);
        RawDb raw(file);
        QCOMPARE(raw.number("PRAGMA user_version"), int64_t(99));
    }

    void not_a_database() {
        const fs::path file = fresh("garbage");
        {
            std::ofstream out(file, std::ios::binary);
            for (int i = 0; i < 400; ++i)
                out << "this is a text file, not SQLite. ";
        }
        const std::string before = read_bytes(file);
        expect_error([&] { HistoryStore s(file); }, {file.string(), "not a"});
        expect_error([&] { HistoryStore s(file, HistoryStore::Mode::ReadOnly); },
                     {file.string(), "not a"});
        QVERIFY(read_bytes(file) == before);
        expect_error([&] { HistoryStore s(fresh("missing"), HistoryStore::Mode::ReadOnly); },
                     {"does not exist"});
    }

    void read_only() {
        const fs::path file = fresh("readonly");
        int64_t c = 0;
        {
            HistoryStore s(file);
            c = s.create_conversation("Keep");
            s.add_message(c, std::nullopt, "user", "read me");
        }
        {
            HistoryStore ro(file, HistoryStore::Mode::ReadOnly);
            QCOMPARE(ro.branch(c).size(), size_t(1));
            QCOMPARE(ro.search("read").size(), size_t(1));
            expect_error([&] { ro.rename(c, "changed"); }, {file.string(), "read-only"});
            expect_error([&] { ro.add_message(c, std::nullopt, "user", "x"); }, {"read-only"});
            QCOMPARE(ro.conversation(c)->title, std::string("Keep"));
        }
        if (geteuid() != 0) {  // root writes through chmod 444, so this only means something
                               // for other users
            fs::permissions(file,
                            fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
            expect_error([&] { HistoryStore s(file); }, {file.string(), "read-only"});
            fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
        }
        HistoryStore s(file);
        QCOMPARE(s.conversation(c)->title, std::string("Keep"));
    }

    void locked_by_another_program() {
        const fs::path file = fresh("locked");
        HistoryStore s(file);
        const int64_t c = s.create_conversation("Busy");
        const int64_t u = s.add_message(c, std::nullopt, "user", "first");
        {
            RawDb other(file);
            other.exec("BEGIN EXCLUSIVE");
            other.exec(
                "INSERT INTO conversations (title, created_ms, updated_ms) "
                "VALUES ('other', 1, 1)");
            const auto t0 = std::chrono::steady_clock::now();
            expect_error([&] { s.add_message(c, u, "assistant", "second"); },
                         {file.string(), "locked by another program"});
            const double waited =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            QVERIFY2(waited >= 1.5 && waited < 3.5, qPrintable(QString::number(waited)));
            // Reading still works meanwhile (WAL).
            QCOMPARE(s.branch(c).size(), size_t(1));
            other.exec("COMMIT");
        }
        const int64_t a = s.add_message(c, u, "assistant", "second");
        const auto br = s.branch(c);
        QCOMPARE(br.size(), size_t(2));
        QCOMPARE(br[0].content, std::string("first"));
        QCOMPARE(br[1].id, a);
        QCOMPARE(s.count_conversations(), int64_t(2));  // the other program's row is there too
    }

    void full_text_search() {
        HistoryStore s(fresh());
        const int64_t a = s.create_conversation("Animals", "model-a");
        const int64_t ua = s.add_message(a, std::nullopt, "user", "Tell me about the quick fox");
        lc::MessageMeta ma;
        ma.model_id = "model-a";
        const int64_t aa = s.add_message(
            a, ua, "assistant",
            "The fox is quick. A fox hunts at night; the fox den is called an earth.", ma);
        const int64_t b = s.create_conversation("Dogs", "model-b");
        lc::MessageMeta mb;
        mb.model_id = "model-b";
        const int64_t ub = s.add_message(b, std::nullopt, "user", "Why do dogs chase a fox?");
        s.add_message(b, ub, "assistant", "Dogs are lazy sleepers, mostly.", mb);

        auto hits = s.search("fox");
        QCOMPARE(hits.size(), size_t(3));
        QCOMPARE(hits[0].message_id, aa);  // most mentions rank first
        QVERIFY(hits[0].rank <= hits[1].rank && hits[1].rank <= hits[2].rank);
        QCOMPARE(hits[0].conversation_title, std::string("Animals"));
        QCOMPARE(hits[0].role, std::string("assistant"));
        for (const auto& h : hits)
            QVERIFY2(h.snippet.find("[fox]") != std::string::npos, h.snippet.c_str());
        QVERIFY(s.search("FOX").size() == 3);              // case-insensitive
        QCOMPARE(s.search("fox dogs").size(), size_t(1));  // terms are ANDed
        QCOMPARE(s.search("fox dogs")[0].message_id, ub);

        // New and edited messages are found; old words of an edited message are not.
        const int64_t late = s.add_message(b, ub, "assistant", "A zebra wandered in.", mb);
        QCOMPARE(s.search("zebra").size(), size_t(1));
        s.update_message(late, "A giraffe wandered in.", mb);
        QCOMPARE(s.search("zebra").size(), size_t(0));
        QCOMPARE(s.search("giraffe").size(), size_t(1));

        // Filters: model (the message's or the conversation's) and dates.
        QCOMPARE(s.search("fox", {0, 0, "model-b", 50}).size(), size_t(1));
        QCOMPARE(s.search("fox", {0, 0, "model-a", 50}).size(), size_t(2));
        QCOMPARE(s.search("fox", {0, 0, "model-z", 50}).size(), size_t(0));
        QCOMPARE(s.search("fox", {0, 0, "", 1}).size(), size_t(1));
        const int64_t now = lc::now_ms();
        QCOMPARE(s.search("fox", {now + 60000, 0, "", 50}).size(), size_t(0));
        QCOMPARE(s.search("fox", {0, now - 60000, "", 50}).size(), size_t(0));
        QCOMPARE(s.search("fox", {now - 60000, now + 60000, "", 50}).size(), size_t(3));
        // Old messages (imported with their times) are filtered by their own dates.
        const json old = {{"format", "latentchat-conversation"},
                          {"version", 1},
                          {"conversations",
                           {{{"title", "Old fox talk"},
                             {"created_ms", 1000},
                             {"updated_ms", 5000},
                             {"head", 2},
                             {"messages",
                              {{{"id", 1},
                                {"parent_id", nullptr},
                                {"role", "user"},
                                {"text", "fox?"},
                                {"created_ms", 1000}},
                               {{"id", 2},
                                {"parent_id", 1},
                                {"role", "assistant"},
                                {"text", "fox!"},
                                {"created_ms", 5000}}}}}}}};
        s.import_json(old.dump());
        QCOMPARE(s.search("fox").size(), size_t(5));
        QCOMPARE(s.search("fox", {0, 2000, "", 50}).size(), size_t(1));
        QCOMPARE(s.search("fox", {2000, 6000, "", 50}).size(), size_t(1));
        QCOMPARE(s.search("fox", {900, 6000, "", 50}).size(), size_t(2));

        // Soft-deleted conversations are not found until undeleted.
        s.soft_delete(a);
        hits = s.search("fox");
        QCOMPARE(hits.size(), size_t(3));
        for (const auto& h : hits)
            QVERIFY(h.conversation_id != a);
        s.undelete(a);
        QCOMPARE(s.search("fox").size(), size_t(5));

        // Hostile queries neither throw nor match everything.
        for (const char* q : {"\"",      "AND OR", "*",      "NEAR(",       "NEAR(fox", "fox\"",
                              "(",       ")",      "-",      "fox:",        "text:fox", "^fox",
                              "fox*",    "''",     "\"\"\"", "NOT",         "{a b}",    "fox AND",
                              "a\"b\"c", "",       "   \t ", "fox OR dogs", "…",        "日本語"}) {
            try {
                (void)s.search(q);
            } catch (const std::exception& e) {
                QFAIL(qPrintable(QString("query '%1' threw: %2").arg(q, e.what())));
            }
        }
        QCOMPARE(s.search("fox:").size(), size_t(5));     // punctuation is just a separator
        QCOMPARE(s.search("AND OR").size(), size_t(0));   // keywords are plain words
        QCOMPARE(s.search("\"fox\"").size(), size_t(5));  // quotes are plain characters
    }

    void json_round_trip() {
        HistoryStore s(fresh());
        const int64_t c = s.create_conversation("Round trip — ünïcode \"quotes\"\n", "m-1");
        s.set_pinned(c, true);
        s.move_to_folder(c, "Projects/Ideas");
        lc::MessageMeta meta;
        meta.token_count = 42;
        meta.time_to_first_token_ms = 123.456789;
        meta.tokens_per_second = 17.0 / 3.0;
        meta.model_id = "m-1@abc123";
        meta.sampling_json = R"({"temperature":0.7,"top_k":40,"top_p":0.95})";
        const int64_t sys = s.add_message(c, std::nullopt, "system", "You are terse.");
        const int64_t u = s.add_message(c, sys, "user", "Say hi\twith a tab and a 😀");
        const int64_t a1 = s.add_message(c, u, "assistant", "hi", meta);
        lc::MessageMeta odd = meta;
        odd.sampling_json = R"({ "temperature": 1.0 })";  // not canonical: kept as text
        const int64_t a2 = s.add_message(c, u, "assistant", "hello", odd);
        odd.sampling_json = "not json at all";
        s.add_message(c, a1, "user", "and again", odd);
        s.update_message(a2, "hello there", odd);
        s.set_head(c, a2);

        const std::string text = s.export_json(c);
        const json doc = json::parse(text);
        QCOMPARE(doc["format"].get<std::string>(), std::string("latentchat-conversation"));
        QCOMPARE(doc["version"].get<int>(), 1);
        QCOMPARE(doc["conversations"].size(), size_t(1));
        QVERIFY(doc["conversations"][0]["messages"][2]["sampling"].is_object());

        // Into the same file and into another one.
        const auto ids = s.import_json(text);
        QCOMPARE(ids.size(), size_t(1));
        QVERIFY(ids[0] != c);
        compare_conversations(s, c, s, ids[0]);
        HistoryStore other(fresh());
        const auto ids2 = other.import_json(text);
        compare_conversations(s, c, other, ids2[0]);
        QCOMPARE(other.branch(ids2[0]).back().content, std::string("hello there"));
        QCOMPARE(other.export_json(ids2[0]).size(), text.size());

        // Everything at once (soft-deleted conversations are left out).
        const int64_t gone = s.create_conversation("Deleted");
        s.soft_delete(gone);
        const int64_t empty = s.create_conversation("Empty");
        const auto all = json::parse(s.export_all_json());
        QCOMPARE(all["conversations"].size(), size_t(3));
        HistoryStore third(fresh());
        const auto ids3 = third.import_json(all.dump());
        QCOMPARE(ids3.size(), size_t(3));
        compare_conversations(s, c, third, ids3[0]);
        compare_conversations(s, ids[0], third, ids3[1]);
        compare_conversations(s, empty, third, ids3[2]);

        // Markdown shows the branch on show.
        const std::string md = s.export_markdown(c);
        QCOMPARE(md, std::string("# Round trip — ünïcode \"quotes\"\n\n\n"
                                 "**System:** You are terse.\n\n"
                                 "**User:** Say hi\twith a tab and a 😀\n\n"
                                 "**Assistant:** hello there\n\n"));
    }

    // An imported message's "sampling" may be any string; one of 100,000 '[' made export recurse
    // past the stack (it is parsed to see whether it is a JSON object). Exported as a string now.
    void deeply_nested_sampling_exports() {
        HistoryStore s(fresh());
        const int64_t c = s.create_conversation("Nested");
        const int64_t u = s.add_message(c, std::nullopt, "user", "hi");
        lc::MessageMeta meta;
        const std::string nested =
            "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
        meta.sampling_json = nested;
        s.add_message(c, u, "assistant", "hello", meta);
        const json doc = json::parse(s.export_json(c));
        QCOMPARE(doc["conversations"][0]["messages"][1]["sampling"].get<std::string>(), nested);
        QVERIFY(s.export_all_json().size() > nested.size());
        // A shallow object still exports as an object.
        meta.sampling_json = R"({"top_k":40})";
        s.add_message(c, u, "assistant", "again", meta);
        QVERIFY(json::parse(s.export_json(c))["conversations"][0]["messages"][2]["sampling"]
                    .is_object());
    }

    void bad_imports_write_nothing() {
        HistoryStore s(fresh());
        const int64_t c = s.create_conversation("Existing");
        s.add_message(c, std::nullopt, "user", "keep me");
        const json good = json::parse(s.export_json(c));

        const auto mutate = [&](const std::function<void(json&)>& f) {
            json d = good;
            f(d);
            return d.dump();
        };
        const auto convs = s.count_conversations(true);
        const auto msgs = total_messages(s);
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"{not json", "not valid JSON"},
            {"[]", "JSON object"},
            {mutate([](json& d) { d["format"] = "something-else"; }), "something-else"},
            {mutate([](json& d) { d.erase("format"); }), "format"},
            {mutate([](json& d) { d["version"] = 2; }), "newer"},
            {mutate([](json& d) { d["version"] = "1"; }), "version"},
            {mutate([](json& d) { d["conversations"] = json::object(); }), "array"},
            {mutate([](json& d) { d["conversations"][0].erase("title"); }), "title"},
            {mutate([](json& d) { d["conversations"][0]["pinned"] = 1; }), "pinned"},
            {mutate([](json& d) { d["conversations"][0].erase("messages"); }), "messages"},
            {mutate([](json& d) { d["conversations"][0]["messages"][0].erase("text"); }), "text"},
            {mutate([](json& d) { d["conversations"][0]["messages"][0]["role"] = "robot"; }),
             "robot"},
            {mutate([](json& d) { d["conversations"][0]["messages"][0]["parent_id"] = 77; }), "77"},
            {mutate([](json& d) { d["conversations"][0]["messages"][0]["created_ms"] = 1.5; }),
             "created_ms"},
            {mutate([](json& d) { d["conversations"][0]["head"] = 555; }), "555"},
            // The first conversation is fine; the second is not: neither is written.
            {mutate([](json& d) {
                 json second = d["conversations"][0];
                 second["messages"].push_back(second["messages"][0]);  // id repeated
                 d["conversations"].push_back(second);
             }),
             "conversations[1]"},
        };
        for (const auto& [text, expected] : cases) {
            expect_error([&] { s.import_json(text); }, {expected, "nothing was imported"});
            QCOMPARE(s.count_conversations(true), convs);
            QCOMPARE(total_messages(s), msgs);
        }
        // The unchanged document still imports.
        QCOMPARE(s.import_json(good.dump()).size(), size_t(1));
        QCOMPARE(s.count_conversations(true), convs + 1);
    }

    void readers_while_a_reply_streams() {
        const fs::path file = fresh("concurrent");
        int64_t c = 0, reply = 0;
        {
            HistoryStore s(file);
            c = s.create_conversation("Streaming");
            const int64_t u = s.add_message(c, std::nullopt, "user", "tell me a long story");
            reply = s.add_message(c, u, "assistant", "");
        }
        std::atomic<bool> done{false};
        std::atomic<int> errors{0};
        std::string first_error;
        std::mutex error_mutex;
        const auto note = [&](const std::string& what) {
            std::lock_guard lock(error_mutex);
            if (errors++ == 0) first_error = what;
        };
        std::thread writer([&] {
            try {
                HistoryStore s(file);
                lc::ReplyRecorder rec(s, reply, 20);
                const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                int i = 0;
                while (std::chrono::steady_clock::now() < end) {
                    rec.append(chunk(i++));
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                lc::MessageMeta meta;
                meta.token_count = i;
                rec.finish(meta);
            } catch (const std::exception& e) {
                note(std::string("writer: ") + e.what());
            }
            done = true;
        });
        std::vector<size_t> growth[2];
        std::vector<std::thread> readers;
        for (int r = 0; r < 2; ++r) {
            readers.emplace_back([&, r] {
                try {
                    HistoryStore s(file, r == 0 ? HistoryStore::Mode::ReadOnly
                                                : HistoryStore::Mode::ReadWrite);
                    size_t last = 0;
                    while (!done) {
                        const auto br = s.branch(c);
                        if (br.size() != 2) throw std::runtime_error("branch lost a message");
                        const size_t n = br[1].content.size();
                        if (n < last) throw std::runtime_error("the reply shrank");
                        if (br[1].content.compare(0, chunk(0).size(), chunk(0)) != 0 && n > 0)
                            throw std::runtime_error("the reply is garbled");
                        if (n != last) growth[r].push_back(n);
                        last = n;
                        (void)s.search("word0");
                    }
                } catch (const std::exception& e) {
                    note("reader " + std::to_string(r) + ": " + e.what());
                }
            });
        }
        writer.join();
        for (auto& t : readers)
            t.join();
        QVERIFY2(errors == 0, first_error.c_str());
        for (int r = 0; r < 2; ++r)
            QVERIFY2(growth[r].size() >= 5, qPrintable(QString::number(growth[r].size())));
        HistoryStore s(file);
        const auto m = s.message(reply);
        QVERIFY(m->content.size() >= growth[0].back());
        QVERIFY(m->meta.token_count > 0);
        std::string expected;
        for (int i = 0; i < m->meta.token_count; ++i)
            expected += chunk(i);
        QCOMPARE(m->content, expected);  // finish() saved everything
    }

    void sigkill_while_streaming() {
        const fs::path file = fresh("killed");
        int fds[2];
        QCOMPARE(pipe(fds), 0);
        const pid_t pid = fork();
        QVERIFY(pid >= 0);
        if (pid == 0) {
            // The child: stream a reply forever, reporting the message id, then the length of
            // the text saved after each save. Never returns into the test framework.
            close(fds[0]);
            try {
                HistoryStore s(file);
                const int64_t c = s.create_conversation("Doomed");
                const int64_t u = s.add_message(c, std::nullopt, "user", "go on forever");
                const int64_t reply = s.add_message(c, u, "assistant", "");
                if (write(fds[1], &reply, sizeof reply) != sizeof reply) _exit(2);
                lc::ReplyRecorder rec(s, reply, 500);
                int64_t saved = 0;
                for (int i = 0;; ++i) {
                    rec.append(chunk(i));
                    const int64_t stored = static_cast<int64_t>(s.message(reply)->content.size());
                    if (stored != saved) {
                        saved = stored;
                        if (write(fds[1], &saved, sizeof saved) != sizeof saved) _exit(3);
                    }
                    usleep(2000);
                }
            } catch (...) {
                _exit(4);
            }
        }
        close(fds[1]);
        int64_t reply = 0;
        QCOMPARE(read(fds[0], &reply, sizeof reply), ssize_t(sizeof reply));
        QTest::qWait(1600);
        QCOMPARE(kill(pid, SIGKILL), 0);
        int status = 0;
        QCOMPARE(waitpid(pid, &status, 0), pid);
        QVERIFY(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        int64_t last = 0, reports = 0, value = 0;
        while (read(fds[0], &value, sizeof value) == ssize_t(sizeof value)) {
            last = value;
            ++reports;
        }
        close(fds[0]);
        QVERIFY2(reports >= 2, qPrintable(QString::number(reports)));  // saves at ~0.5, ~1, ~1.5 s

        {
            RawDb raw(file);
            QCOMPARE(raw.text("PRAGMA integrity_check"), std::string("ok"));
            raw.exec("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')");
        }
        HistoryStore s(file);
        const auto m = s.message(reply);
        QVERIFY(m);
        QVERIFY2(int64_t(m->content.size()) >= last,
                 qPrintable(QString("%1 < %2").arg(m->content.size()).arg(last)));
        std::string expected;
        for (int i = 0; expected.size() < m->content.size(); ++i)
            expected += chunk(i);
        QCOMPARE(m->content, expected);
        QCOMPARE(s.search("word1").size(), size_t(1));
        // And the file takes new writes.
        s.add_message(m->conversation_id, reply, "user", "still there?");
        RawDb raw(file);
        QCOMPARE(raw.text("PRAGMA integrity_check"), std::string("ok"));
    }
};

QTEST_GUILESS_MAIN(TestHistoryStore)
#include "test_history_store.moc"
