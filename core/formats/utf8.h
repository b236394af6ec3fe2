#pragma once
// UTF-8 for the text formats (the HF tokenizer, the Jinja interpreter): one encoder and one
// validity rule, Unicode's table 3-7.
#include <cstddef>
#include <string>
#include <string_view>

namespace lc {

inline bool is_utf8_continuation(unsigned char b) {
    return (b & 0xC0) == 0x80;
}

// Length of the well-formed sequence starting at s[i], or, when it is ill-formed, minus the
// length of its maximal valid prefix (at least 1). Overlong forms, surrogates and code points
// past U+10FFFF are ill-formed.
long utf8_sequence_length(std::string_view s, size_t i);

// The code point of the well-formed sequence of `length` bytes at s[i].
char32_t utf8_decode(std::string_view s, size_t i, size_t length);

void append_utf8(std::string& out, char32_t c);

}  // namespace lc
