#pragma once
// The chat format of a model folder: how messages become the text the model was trained on.
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/message.h"

namespace lc {

namespace jinja {
class Template;
}
class GgufFile;

// A conversation as transformers' apply_chat_template takes it.
struct ChatInput {
    // {"role", "content", and for tool use "tool_calls" (a list of {"type", "function":
    // {"name", "arguments"}}), ...}, in the order given.
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    nlohmann::ordered_json tools;  // null: no tools (the template sees `tools` as none)
    // Further template variables (e.g. "thinking", "enable_thinking"), as apply_chat_template's
    // extra keyword arguments.
    nlohmann::ordered_json variables = nlohmann::ordered_json::object();
    bool add_generation_prompt = true;

    // A list of messages, or an object with "messages", optional "tools" and any other
    // variables (the format of `latentchat-cli render --messages`). Throws lc::Error.
    static ChatInput from_json(const nlohmann::ordered_json& j);
};

// The chat format of a model folder, the first of:
//  - a Jinja template as published models carry it: `chat_template.jinja`, else the
//    "chat_template" of `tokenizer_config.json` (a string, or a list of {"name", "template"}
//    whose "default" is used, "tool_use" when tools are given), rendered as transformers does
//    (formats/jinja/template.h) with the special tokens of tokenizer_config.json;
//  - `chat_template.json`:
//      {"bos": true,
//       "system": "<|system|>{content}<|end|>\n", "user": "<|user|>{content}<|end|>\n",
//       "assistant": "<|assistant|>{content}<|end|>\n", "generation_prompt": "<|assistant|>",
//       "stop": ["<|end|>"], "default_system": "You are a helpful assistant."}
//  - a plain-text default ("User: ...\nAssistant: ...").
class ChatTemplate {
public:
    // Throws lc::Error naming the file: bad JSON, a template that does not parse.
    static ChatTemplate load(const std::filesystem::path& dir);
    static ChatTemplate plain_default();
    // A Jinja template with the special tokens it may use ({"bos_token": "<s>", ...,
    // "additional_special_tokens": [...]}); `where` names it in errors.
    static ChatTemplate from_jinja(const std::string& source,
                                   const nlohmann::ordered_json& special_tokens,
                                   const std::string& where);
    // A GGUF file's tokenizer.chat_template (Jinja) with the special tokens its
    // tokenizer.ggml.*_token_id name; without one the plain default, which starts with BOS
    // when tokenizer.ggml.add_bos_token says so (llama.cpp's default for its byte-level BPE:
    // no). Named templates (tokenizer.chat_template.NAME) are not read.
    static ChatTemplate from_gguf(const GgufFile& file);

    // The text of a whole conversation, ending with the generation prompt for the assistant
    // when asked. Throws lc::Error, for a Jinja template also when it refuses the conversation.
    std::string render(std::span<const Message> messages, bool add_generation_prompt) const;
    // The same for messages with tool calls, tools and template variables; templates other
    // than Jinja take text messages only.
    std::string render(const ChatInput& input) const;
    // Whether rendering messages one after another gives the text of rendering them at once,
    // so that a follow-up may render only its new messages. False for Jinja templates, which
    // see the whole conversation (the last user message, tool results...).
    bool renders_incrementally() const { return !jinja_; }
    bool is_jinja() const { return jinja_ != nullptr; }
    // Text that ends an assistant turn; generation stops when it appears (for a Jinja template
    // its eos_token; the model's EOS ids stop generation anyway).
    const std::vector<std::string>& stop_strings() const { return stop_; }
    // Whether encoding starts with the BOS id; a Jinja template writes {{ bos_token }} itself.
    bool add_bos() const { return bos_; }
    const std::string& default_system() const { return default_system_; }

private:
    bool bos_ = true;
    std::string system_, user_, assistant_, generation_prompt_, default_system_;
    std::vector<std::string> stop_;
    std::shared_ptr<const jinja::Template> jinja_, jinja_tool_use_;
    nlohmann::ordered_json special_tokens_;
    std::string where_;
};

}  // namespace lc
