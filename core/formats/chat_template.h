#pragma once
// The chat format of a model folder: how messages become the text the model was trained on.
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "base/message.h"

namespace lc {

// The chat format of a model folder, read from `chat_template.json`:
//   {"bos": true,
//    "system": "<|system|>{content}<|end|>\n", "user": "<|user|>{content}<|end|>\n",
//    "assistant": "<|assistant|>{content}<|end|>\n", "generation_prompt": "<|assistant|>",
//    "stop": ["<|end|>"], "default_system": "You are a helpful assistant."}
// A folder without the file gets a plain-text default ("User: ...\nAssistant: ...").
class ChatTemplate {
public:
    static ChatTemplate load(const std::filesystem::path& dir);  // throws lc::Error on bad JSON
    static ChatTemplate plain_default();

    // The text of a whole conversation, ending with the generation prompt for the assistant.
    std::string render(std::span<const Message> messages, bool add_generation_prompt) const;
    // Text that ends an assistant turn; generation stops when it appears.
    const std::vector<std::string>& stop_strings() const { return stop_; }
    bool add_bos() const { return bos_; }
    const std::string& default_system() const { return default_system_; }

private:
    bool bos_ = true;
    std::string system_, user_, assistant_, generation_prompt_, default_system_;
    std::vector<std::string> stop_;
};

}  // namespace lc
