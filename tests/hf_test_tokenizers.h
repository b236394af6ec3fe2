#pragma once
// Small tokenizer.json files, one per component of formats/hf_parts.h (and per split behaviour),
// written by test_hf_tokenizer and compared with HF tokenizers.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hf_test {

using nlohmann::json;

// GPT-2's byte-level spelling of `bytes`.
std::string bl(std::string_view bytes);
// {"type": "Split", "pattern": {kind: pattern}, ...}
json split(const std::string& kind, const std::string& pattern, const std::string& behavior,
           bool invert = false);
// {"type": type, key: parts}
json seq(const char* type, const char* key, json parts);
json pattern_replace(const std::string& kind, const std::string& pattern, const std::string& to);
// Name and tokenizer.json of each.
std::vector<std::pair<std::string, json>> synthetic();

}  // namespace hf_test
