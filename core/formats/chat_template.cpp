// The chat format of a model folder (see chat_template.h).
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>

#include "base/error.h"
#include "formats/chat_template.h"

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

}  // namespace

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

ChatTemplate ChatTemplate::load(const std::filesystem::path& dir) {
    const std::filesystem::path path = dir / "chat_template.json";
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return plain_default();
    const std::string where = path.string();

    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + where + ".");
    std::stringstream buffer;
    buffer << in.rdbuf();

    nlohmann::json j;
    try {
        j = nlohmann::json::parse(buffer.str());
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + " is not valid JSON: " + e.what());
    }
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

std::string ChatTemplate::render(std::span<const Message> messages,
                                 bool add_generation_prompt) const {
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

}  // namespace lc
