#pragma once
// Python's view of text, on UTF-8: strings index, slice and count by code point, strip and split
// on Unicode whitespace, and change case by Unicode rules (Latin, Greek, Cyrillic and the
// full-width forms; other scripts have no case here).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lc::jinja {

// Bytes that are not UTF-8 become U+DC80..U+DCFF and turn back into the same bytes.
std::u32string to_code_points(std::string_view s);
std::string to_utf8(std::u32string_view s);
void append_utf8(std::string& out, char32_t c);
size_t code_point_count(std::string_view s);

bool is_py_space(char32_t c);  // str.isspace()
// str.strip/lstrip/rstrip: without `chars` (null), Python's whitespace.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.splitlines(keepends): \n, \r\n, \r, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029 end lines.
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
// str.replace; throws TemplateError when the result would pass `max_bytes`.
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl,
                       int64_t count, size_t max_bytes);

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()

}  // namespace lc::jinja
