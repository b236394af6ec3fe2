// JSON in and out of templates (see pyjson.h), byte for byte as Python's json module.
#include "formats/jinja/pyjson.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "formats/jinja/text.h"

namespace lc::jinja {

namespace {

Value from_json(const nlohmann::ordered_json& j, int depth) {
    if (depth > kMaxValueDepth)
        throw TemplateError("the JSON data nests deeper than " + std::to_string(kMaxValueDepth) +
                            " levels");
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null:
            return Value::none();
        case nlohmann::ordered_json::value_t::boolean:
            return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
            return Value(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
            return Value(static_cast<int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float:
            return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string:
            return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            List items;
            items.reserve(j.size());
            for (const auto& item : j)
                items.push_back(from_json(item, depth + 1));
            return Value::list(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            Dict d;
            d.entries.reserve(j.size());
            for (const auto& [k, v] : j.items())  // keys are unique already
                d.entries.emplace_back(Value(k), from_json(v, depth + 1));
            return Value::dict(std::move(d));
        }
        default:
            throw TemplateError("unsupported JSON value (binary)");
    }
}

}  // namespace

Value from_json(const nlohmann::ordered_json& j) {
    return from_json(j, 1);
}

namespace {

std::string quote(const std::string& s, bool ensure_ascii) {
    std::string out = "\"";
    auto hex4 = [&](unsigned v) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\u%04x", v & 0xFFFFu);
        out += buf;
    };
    for (char32_t c : to_code_points(s)) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20 || (ensure_ascii && c > 0x7e)) {
                    if (c >= 0x10000) {  // a surrogate pair, as Python writes it
                        const char32_t v = c - 0x10000;
                        hex4(0xD800 + static_cast<unsigned>(v >> 10));
                        hex4(0xDC00 + static_cast<unsigned>(v & 0x3FF));
                    } else {
                        hex4(static_cast<unsigned>(c));
                    }
                } else {
                    append_utf8(out, c);
                }
        }
    }
    return out + "\"";
}

std::string json_float(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
    return format_float(d);
}

// A dict key as json.dumps turns it into a string.
std::string key_text(const Value& k) {
    switch (k.type()) {
        case Value::Type::String:
            return k.str();
        case Value::Type::Bool:
            return k.as_bool() ? "true" : "false";
        case Value::Type::Int:
            return std::to_string(k.as_int());
        case Value::Type::Float:
            return json_float(k.as_float());
        case Value::Type::None:
            return "null";
        default:
            throw TemplateError("keys must be str, int, float, bool or None, not " + type_name(k));
    }
}

class Writer {
public:
    explicit Writer(const JsonStyle& s)
        : style_(s),
          item_sep_(s.item_separator.value_or(s.indent ? "," : ", ")),
          key_sep_(s.key_separator.value_or(": ")) {}

    void write(const Value& v, int level) {
        if (level > 500) throw TemplateError("maximum JSON nesting exceeded");
        switch (v.type()) {
            case Value::Type::None:
                out_ += "null";
                return;
            case Value::Type::Bool:
                out_ += v.as_bool() ? "true" : "false";
                return;
            case Value::Type::Int:
                out_ += std::to_string(v.as_int());
                return;
            case Value::Type::Float:
                out_ += json_float(v.as_float());
                return;
            case Value::Type::String:
                out_ += quote(v.str(), style_.ensure_ascii);
                return;
            case Value::Type::Array:
            case Value::Type::Tuple: {
                if (v.is_iterator())
                    throw TemplateError("Object of type " + type_name(v) +
                                        " is not JSON serializable");
                if (v.items().empty()) {
                    out_ += "[]";
                    return;
                }
                out_ += '[';
                for (size_t i = 0; i < v.items().size(); ++i) {
                    out_ += i ? item_sep_ : "";
                    newline(level + 1);
                    write(v.items()[i], level + 1);
                }
                newline(level);
                out_ += ']';
                return;
            }
            case Value::Type::Map: {
                if (v.dict().size() == 0) {
                    out_ += "{}";
                    return;
                }
                std::vector<std::pair<std::string, const Value*>> entries;
                for (const auto& [k, val] : v.dict().entries)
                    entries.emplace_back(key_text(k), &val);
                if (style_.sort_keys)
                    std::stable_sort(
                        entries.begin(), entries.end(),
                        [](const auto& a, const auto& b) { return a.first < b.first; });
                out_ += '{';
                for (size_t i = 0; i < entries.size(); ++i) {
                    out_ += i ? item_sep_ : "";
                    newline(level + 1);
                    out_ += quote(entries[i].first, style_.ensure_ascii);
                    out_ += key_sep_;
                    write(*entries[i].second, level + 1);
                }
                newline(level);
                out_ += '}';
                return;
            }
            default:
                throw TemplateError("Object of type " + type_name(v) + " is not JSON serializable");
        }
    }

    std::string take() { return std::move(out_); }

private:
    void newline(int level) {
        if (!style_.indent) return;
        out_ += '\n';
        for (int i = 0; i < level; ++i)
            out_ += *style_.indent;
    }

    const JsonStyle& style_;
    std::string item_sep_, key_sep_;
    std::string out_;
};

}  // namespace

std::string to_json(const Value& v, const JsonStyle& style) {
    Writer w(style);
    w.write(v, 0);
    return w.take();
}

}  // namespace lc::jinja
