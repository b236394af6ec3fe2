// config.json: parse_json (nesting limit, syntax), then ModelConfig::from_json (every field and
// its range).
#include "fuzz_common.h"

#include "base/error.h"
#include "base/json_parse.h"
#include "formats/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const nlohmann::json j = lc::parse_json(text, "config.json");
        const lc::ModelConfig c = lc::ModelConfig::from_json(j, "config.json");
        (void)c;
    } catch (const lc::Error&) {
    }
    return 0;
}
