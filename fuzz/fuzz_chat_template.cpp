// Chat templates (Jinja, from tokenizer_config.json or GGUF metadata): parse, then render a fixed
// conversation.
#include "fuzz_common.h"

#include <vector>

#include "base/error.h"
#include "base/message.h"
#include "formats/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string source(reinterpret_cast<const char*>(data), size);
    static const nlohmann::ordered_json special = {
        {"bos_token", "<s>"},
        {"eos_token", "</s>"},
        {"additional_special_tokens", {"<|im_start|>", "<|im_end|>"}}};
    static const std::vector<lc::Message> messages = {{"system", "You are helpful."},
                                                      {"user", "Hello {{ there }} {% raw %}"},
                                                      {"assistant", "Hi! \xc3\xa9"},
                                                      {"user", "2 + 2?"}};
    try {
        const lc::ChatTemplate t = lc::ChatTemplate::from_jinja(source, special, "fuzz template");
        (void)t.render(messages, true);
    } catch (const lc::Error&) {
    }
    return 0;
}
