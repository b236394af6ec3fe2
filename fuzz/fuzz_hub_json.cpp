// The hub's JSON replies (core/hub/hub_json.h), as list_files and search read them: the first
// input byte picks the reply (even: a tree listing page, odd: search results), the rest is the
// body. A listing goes on to files_to_pull (the folder model's files, then a GGUF by
// quantization), as a pull would; the Link header parser gets the body too.
#include "fuzz_common.h"

#include <optional>

#include "base/error.h"
#include "hub/hub.h"
#include "hub/hub_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::string url = "http://hub.invalid/api/models/a/b/tree/main?recursive=true";
    const std::string link = lc::hub::next_page_link(body);
    if (link.size() > body.size()) std::abort();
    try {
        if (data[0] % 2 == 0) {
            const std::vector<lc::hub::RepoFile> files = lc::hub::parse_file_list(body, url);
            for (const lc::hub::RepoFile& f : files)
                if (f.size < 0 || f.size > lc::hub::kMaxListedFileBytes) std::abort();
            try {
                (void)lc::hub::files_to_pull(files, std::nullopt);
            } catch (const lc::Error&) {
            }
            (void)lc::hub::files_to_pull(files, std::string("Q4_K_M"));
        } else {
            const int limit = 1 + data[0] / 2 % 8;
            const auto results = lc::hub::parse_search(body, url, limit, data[0] & 0x80);
            if (static_cast<int>(results.size()) > limit) std::abort();
        }
    } catch (const lc::Error&) {
    }
    return 0;
}
