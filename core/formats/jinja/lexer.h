#pragma once
// Template text to tokens, with jinja2's whitespace rules as transformers sets them:
// trim_blocks (the newline after a block or comment tag goes), lstrip_blocks (spaces and tabs
// before a block or comment tag on its own line go), `-` and `+` in tags, one trailing newline
// of the template dropped, and \r\n or \r read as \n.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lc::jinja {

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
    Tok type;
    std::string text;  // Data and String: the text; Name and Op: as written
    int64_t int_value = 0;
    double float_value = 0;
    int line = 1;
};

// Throws TemplateError ("line N: ...") for an unterminated tag, comment, string or raw block,
// an unbalanced bracket or a character that starts no token.
std::vector<Token> tokenize(std::string_view source);

}  // namespace lc::jinja
