// The server's request bodies (POST /v1/chat/completions and /v1/completions): both parsers
// (parse_json with its nesting limit, then every field), and the parsed text written back
// through the response writers, as the server would echo model text of any bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/error.h"
#include "server/openai_request.h"
#include "server/openai_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const lc::server::ResponseIds ids{"chatcmpl-0", 0, "default"};
    try {
        const lc::server::ChatRequest chat = lc::server::parse_chat_request(body);
        for (const lc::Message& m : chat.messages)
            (void)lc::server::chat_chunk_json(ids, m.content, true, std::nullopt);
    } catch (const lc::Error&) {
    }
    try {
        const lc::server::CompletionRequest completion = lc::server::parse_completion_request(body);
        (void)lc::server::completion_json(ids, completion.prompt, "stop", {});
    } catch (const lc::Error&) {
    }
    return 0;
}
