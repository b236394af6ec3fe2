#pragma once
// JSON in and out of templates: data from JSON (messages, tools) becomes template values in its
// key order, and `tojson` writes values as Python's json.dumps does, with the options
// transformers' tojson filter passes on (ensure_ascii, indent, separators, sort_keys).
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "formats/jinja/value.h"

namespace lc::jinja {

Value from_json(const nlohmann::ordered_json& j);

struct JsonStyle {
    bool ensure_ascii = false;          // transformers' default (json.dumps' is true)
    std::optional<std::string> indent;  // none: one line
    std::optional<std::string> item_separator, key_separator;  // none: json.dumps' defaults
    bool sort_keys = false;
};

// Throws TemplateError for what json.dumps refuses (undefined, macros, non-scalar keys).
std::string to_json(const Value& v, const JsonStyle& style);

}  // namespace lc::jinja
