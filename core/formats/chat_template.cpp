// The chat format of a model folder (see chat_template.h).
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>

#include "base/error.h"
#include "base/json_parse.h"
#include "formats/chat_template.h"
#include "formats/gguf.h"
#include "formats/jinja/pyjson.h"
#include "formats/jinja/template.h"

namespace lc {

namespace {

constexpr std::string_view kContent = "{content}";

// `tmpl` with every "{content}" replaced by `content` (the content itself is not scanned).
void append_filled(std::string& out, const std::string& tmpl, std::string_view content) {
    size_t pos = 0;
    while (true) {
        const size_t hit = tmpl.find(kContent, pos);
        if (hit == std::string::npos) break;
        out.append(tmpl, pos, hit - pos);
        out.append(content);
        pos = hit + kContent.size();
    }
    out.append(tmpl, pos, std::string::npos);
}

std::string quoted(std::string_view key) {
    std::string out(1, '"');
    out.append(key);
    out.push_back('"');
    return out;
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path.string() + ".");
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// The special tokens of tokenizer_config.json as transformers' special_tokens_map has them:
// strings (an AddedToken object gives its "content"), empty ones left out.
nlohmann::ordered_json special_tokens_of(const nlohmann::ordered_json& config) {
    auto text = [](const nlohmann::ordered_json& v) -> std::string {
        const nlohmann::ordered_json& t = v.is_object() && v.contains("content") ? v["content"] : v;
        return t.is_string() ? t.get<std::string>() : std::string();
    };
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                            "cls_token", "mask_token"}) {
        if (!config.contains(key)) continue;
        const std::string t = text(config[key]);
        if (!t.empty()) out[key] = t;
    }
    if (config.contains("additional_special_tokens") &&
        config["additional_special_tokens"].is_array()) {
        nlohmann::ordered_json extra = nlohmann::ordered_json::array();
        for (const auto& v : config["additional_special_tokens"])
            extra.push_back(text(v));
        if (!extra.empty()) out["additional_special_tokens"] = extra;
    }
    return out;
}

std::shared_ptr<const jinja::Template> parse_jinja(const std::string& source,
                                                   const std::string& where) {
    try {
        return std::make_shared<const jinja::Template>(source);
    } catch (const jinja::TemplateError& e) {
        throw Error(where + ": " + e.what());
    }
}

}  // namespace

ChatInput ChatInput::from_json(const nlohmann::ordered_json& j) {
    ChatInput input;
    if (j.is_array()) {
        input.messages = j;
    } else if (j.is_object()) {
        if (!j.contains("messages")) throw Error("the conversation has no \"messages\"");
        for (const auto& [key, value] : j.items()) {
            if (key == "messages") {
                input.messages = value;
            } else if (key == "tools") {
                input.tools = value;
            } else {
                input.variables[key] = value;
            }
        }
    } else {
        throw Error("a conversation is a list of messages or an object with \"messages\"");
    }
    if (!input.messages.is_array()) throw Error("\"messages\" must be a list of message objects");
    for (const auto& m : input.messages)
        if (!m.is_object()) throw Error("every message must be an object with \"role\"");
    if (!input.tools.is_null() && !input.tools.is_array())
        throw Error("\"tools\" must be a list of tool schemas");
    return input;
}

ChatTemplate ChatTemplate::plain_default() {
    ChatTemplate t;
    t.bos_ = true;
    t.system_ = "{content}\n\n";
    t.user_ = "User: {content}\n";
    t.assistant_ = "Assistant: {content}\n";
    t.generation_prompt_ = "Assistant:";
    t.stop_ = {"\nUser:"};
    t.default_system_.clear();
    return t;
}

ChatTemplate ChatTemplate::from_jinja(const std::string& source,
                                      const nlohmann::ordered_json& special_tokens,
                                      const std::string& where) {
    ChatTemplate t;
    t.jinja_ = parse_jinja(source, where);
    t.special_tokens_ = special_tokens;
    t.where_ = where;
    t.bos_ = false;  // the template writes {{ bos_token }}
    if (special_tokens.contains("eos_token"))
        t.stop_.push_back(special_tokens["eos_token"].get<std::string>());
    return t;
}

ChatTemplate ChatTemplate::load(const std::filesystem::path& dir) {
    if (is_gguf_path(dir)) return from_gguf(GgufFile::open(dir));
    std::error_code ec;
    // A published model's Jinja template: chat_template.jinja, else tokenizer_config.json's.
    const std::filesystem::path config_path = dir / "tokenizer_config.json";
    nlohmann::ordered_json config = nlohmann::ordered_json::object();
    if (std::filesystem::exists(config_path, ec)) {
        config = parse_json<nlohmann::ordered_json>(read_text(config_path), config_path.string());
        if (!config.is_object()) throw Error(config_path.string() + " must hold a JSON object.");
    }
    const nlohmann::ordered_json special = special_tokens_of(config);
    const std::filesystem::path jinja_path = dir / "chat_template.jinja";
    if (std::filesystem::exists(jinja_path, ec))
        return from_jinja(read_text(jinja_path), special, jinja_path.string());
    if (config.contains("chat_template") && !config["chat_template"].is_null()) {
        const std::string where = config_path.string() + " (chat_template)";
        const nlohmann::ordered_json& tmpl = config["chat_template"];
        if (tmpl.is_string()) return from_jinja(tmpl.get<std::string>(), special, where);
        // A list of named templates: "default", and "tool_use" for conversations with tools.
        const auto bad = [&] {
            return Error(where + " must be a string or a list of {\"name\", \"template\"}.");
        };
        if (!tmpl.is_array()) throw bad();
        std::optional<std::string> fallback, tool_use;
        for (const auto& named : tmpl) {
            if (!named.is_object() || !named.contains("name") || !named["name"].is_string() ||
                !named.contains("template") || !named["template"].is_string())
                throw bad();
            const std::string name = named["name"].get<std::string>();
            if (name == "default") fallback = named["template"].get<std::string>();
            if (name == "tool_use") tool_use = named["template"].get<std::string>();
        }
        if (!fallback) throw Error(where + " has no template named \"default\".");
        ChatTemplate t = from_jinja(*fallback, special, where + " \"default\"");
        if (tool_use) t.jinja_tool_use_ = parse_jinja(*tool_use, where + " \"tool_use\"");
        return t;
    }

    const std::filesystem::path path = dir / "chat_template.json";
    if (!std::filesystem::exists(path, ec)) return plain_default();
    const std::string where = path.string();

    const nlohmann::json j = parse_json(read_text(path), where);
    if (!j.is_object()) throw Error(where + " must hold a JSON object.");

    auto get_string = [&](std::string_view key, bool needs_content) -> std::optional<std::string> {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return std::nullopt;
        if (!it->is_string()) throw Error(where + ": " + quoted(key) + " must be a string.");
        std::string value = it->get<std::string>();
        if (needs_content && value.find(kContent) == std::string::npos) {
            throw Error(where + ": " + quoted(key) + " must contain \"{content}\".");
        }
        return value;
    };

    ChatTemplate t;
    const auto user = get_string("user", true);
    const auto assistant = get_string("assistant", true);
    if (!user) throw Error(where + ": " + quoted("user") + " is missing.");
    if (!assistant) throw Error(where + ": " + quoted("assistant") + " is missing.");
    t.user_ = *user;
    t.assistant_ = *assistant;
    t.system_ = get_string("system", true).value_or("");

    // Without an explicit prompt, the assistant turn's opening text is the prompt.
    t.generation_prompt_ = get_string("generation_prompt", false)
                               .value_or(t.assistant_.substr(0, t.assistant_.find(kContent)));
    t.default_system_ = get_string("default_system", false).value_or("");

    if (const auto it = j.find("bos"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean())
            throw Error(where + ": " + quoted("bos") + " must be true or false.");
        t.bos_ = it->get<bool>();
    }

    if (const auto it = j.find("stop"); it != j.end() && !it->is_null()) {
        const auto bad = [&] {
            return Error(where + ": " + quoted("stop") + " must be a list of non-empty strings.");
        };
        if (!it->is_array()) throw bad();
        for (const auto& s : *it) {
            if (!s.is_string() || s.get_ref<const std::string&>().empty()) throw bad();
            t.stop_.push_back(s.get<std::string>());
        }
    } else {
        // Without an explicit list, the assistant turn's closing text (minus trailing
        // whitespace) ends generation, when it has any.
        std::string tail = t.assistant_.substr(t.assistant_.find(kContent) + kContent.size());
        while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ' || tail.back() == '\t' ||
                                 tail.back() == '\r')) {
            tail.pop_back();
        }
        if (!tail.empty()) t.stop_.push_back(tail);
    }
    return t;
}

ChatTemplate ChatTemplate::from_gguf(const GgufFile& file) {
    const std::optional<std::string> source = file.get_string("tokenizer.chat_template");
    if (!source) {
        ChatTemplate t = plain_default();
        t.bos_ = file.get_bool("tokenizer.ggml.add_bos_token").value_or(false);
        return t;
    }
    // The texts of the special tokens, as transformers' special_tokens_map gives them.
    const std::vector<std::string> tokens = file.get_strings("tokenizer.ggml.tokens");
    nlohmann::ordered_json special = nlohmann::ordered_json::object();
    for (const auto& [name, key] : {std::pair{"bos_token", "tokenizer.ggml.bos_token_id"},
                                    {"eos_token", "tokenizer.ggml.eos_token_id"},
                                    {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                    {"sep_token", "tokenizer.ggml.seperator_token_id"},
                                    {"pad_token", "tokenizer.ggml.padding_token_id"},
                                    {"cls_token", "tokenizer.ggml.cls_token_id"},
                                    {"mask_token", "tokenizer.ggml.mask_token_id"}}) {
        const std::optional<int64_t> id = file.get_int(key);
        if (!id) continue;
        if (*id < 0 || static_cast<uint64_t>(*id) >= tokens.size())
            file.fail_key(key, "is " + std::to_string(*id) + ", outside the " +
                                   std::to_string(tokens.size()) +
                                   " tokens of tokenizer.ggml.tokens");
        if (!tokens[static_cast<size_t>(*id)].empty())
            special[name] = tokens[static_cast<size_t>(*id)];
    }
    return from_jinja(*source, special, file.path().string() + " (tokenizer.chat_template)");
}

std::string ChatTemplate::render(std::span<const Message> messages,
                                 bool add_generation_prompt) const {
    if (jinja_) {
        ChatInput input;
        for (const Message& m : messages)
            input.messages.push_back({{"role", m.role}, {"content", m.content}});
        input.add_generation_prompt = add_generation_prompt;
        return render(input);
    }
    std::string out;
    for (const Message& m : messages) {
        const std::string* tmpl = nullptr;
        if (m.role == "system") {
            tmpl = &system_;
        } else if (m.role == "user") {
            tmpl = &user_;
        } else if (m.role == "assistant") {
            tmpl = &assistant_;
        } else {
            throw Error("unknown chat role \"" + m.role +
                        "\": expected \"system\", \"user\" or \"assistant\".");
        }
        if (tmpl->empty()) {
            throw Error(
                "this model's chat_template.json has no \"system\" template, so it "
                "cannot take a system prompt.");
        }
        append_filled(out, *tmpl, m.content);
    }
    if (add_generation_prompt) out += generation_prompt_;
    return out;
}

std::string ChatTemplate::render(const ChatInput& input) const {
    if (!jinja_) {
        // The simple formats know text messages by role, nothing more.
        if (!input.tools.is_null())
            throw Error("this model's chat format takes no tools (it has no Jinja template)");
        std::vector<Message> messages;
        for (const auto& m : input.messages) {
            if (!m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
                !m["content"].is_string())
                throw Error(
                    "this model's chat format takes messages with a text \"role\" and "
                    "\"content\" only (it has no Jinja template)");
            messages.emplace_back(m["role"].get<std::string>(), m["content"].get<std::string>());
        }
        return render(messages, input.add_generation_prompt);
    }
    // apply_chat_template's variables: messages, tools, documents, add_generation_prompt, the
    // special tokens, then the caller's.
    jinja::Dict vars;
    vars.set(jinja::Value("messages"), jinja::from_json(input.messages));
    vars.set(jinja::Value("tools"), jinja::from_json(input.tools));
    vars.set(jinja::Value("documents"), jinja::Value::none());
    vars.set(jinja::Value("add_generation_prompt"), jinja::Value(input.add_generation_prompt));
    for (const auto& [key, value] : special_tokens_.items())
        vars.set(jinja::Value(key), jinja::from_json(value));
    for (const auto& [key, value] : input.variables.items())
        vars.set(jinja::Value(key), jinja::from_json(value));
    const bool tool_use = jinja_tool_use_ && !input.tools.is_null();
    try {
        return (tool_use ? jinja_tool_use_ : jinja_)->render(vars);
    } catch (const jinja::TemplateError& e) {
        if (e.raised)
            throw Error(where_ + ": the chat template refuses this conversation: " + e.what());
        throw Error(where_ + ": " + e.what());
    }
}

}  // namespace lc
