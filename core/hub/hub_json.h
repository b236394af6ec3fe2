#pragma once
// The hub's JSON replies read without the network: what list_files and search make of a reply's
// body and headers. Pure functions, so they are tested and fuzzed directly (fuzz_hub_json).
// Private to core/hub (and its tests).
#include <string>
#include <vector>

#include "hub/hub.h"

namespace lc::hub {

// Files above this size in a listing are an error: far beyond any file on the hub, and small
// enough that a pull's total of many files cannot overflow.
inline constexpr int64_t kMaxListedFileBytes = int64_t{1} << 44;  // 16 TiB

// One page of GET /api/models/{repo}/tree/{revision}: its files (folders skipped), in the order
// listed. Throws lc::Error naming `url`: not JSON (or nested deeper than base/json_parse.h
// allows), not a list, a file without a path or a byte count, a size below 0 or above
// kMaxListedFileBytes.
std::vector<RepoFile> parse_file_list(const std::string& body, const std::string& url);

// The next page of a listing from a `Link` header's `<URL>; rel="next"`; empty when none.
std::string next_page_link(const std::string& link);

// The reply of GET /api/models?search=...: the models it lists, at most `limit`, MLA models only
// unless `all`. Entries without a string id are skipped; counts that are not integers in range
// read as 0. Throws lc::Error naming `url` when the body is not JSON or not a list.
std::vector<SearchResult> parse_search(const std::string& body, const std::string& url, int limit,
                                       bool all);

}  // namespace lc::hub
