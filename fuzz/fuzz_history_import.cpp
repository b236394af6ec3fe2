// History JSON import (`latentchat-cli history import`) into an in-memory database, then export
// of what was imported (JSON and Markdown), as `history export` would read it back. One database
// for the process: creating and migrating one per input (FTS5 tables, triggers) held the target
// at ~400 inputs/s; imported conversations are deleted and purged after each input instead.
#include "fuzz_common.h"

#include <cstdint>
#include <limits>

#include "base/error.h"
#include "history/history_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static lc::HistoryStore store(":memory:");
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<int64_t> ids;
    try {
        ids = store.import_json(text);
    } catch (const lc::Error&) {
        // Nothing was imported: the store must be as empty as before.
        if (store.count_conversations(true) != 0) std::abort();
        return 0;
    }
    for (int64_t id : ids) {
        (void)store.export_json(id);
        (void)store.export_markdown(id);
        store.soft_delete(id);
    }
    store.purge_deleted(std::numeric_limits<int64_t>::max());
    if (store.count_conversations(true) != 0) std::abort();
    return 0;
}
