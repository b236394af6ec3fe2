// History JSON import (`latentchat-cli history import`) into an in-memory database.
#include "fuzz_common.h"

#include "base/error.h"
#include "history/history_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        lc::HistoryStore store(":memory:");
        const std::vector<int64_t> ids = store.import_json(text);
        (void)ids;
    } catch (const lc::Error&) {
    }
    return 0;
}
