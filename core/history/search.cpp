// HistoryStore: full-text search (FTS5, schema version 2) with snippets.
#include "history/history_store.h"

#include <cctype>

#include "history/sqlite_util.h"

namespace lc {
using namespace history_detail;

namespace {

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

// Each whitespace-separated term becomes an FTS5 string ("term", with " doubled), so no
// punctuation or keyword in the user's text can change the query's syntax; terms are ANDed.
std::string match_expression(const std::string& query) {
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
    return match;
}

}  // namespace

std::vector<SearchHit> HistoryStore::search(const std::string& query,
                                            const SearchFilter& filter) const {
    const std::string match = match_expression(query);
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

}  // namespace lc
