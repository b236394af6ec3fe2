// Template text to tokens (see lexer.h). Follows jinja2 3.1's lexer: the same tag delimiters,
// literals, operators and whitespace control, with trim_blocks and lstrip_blocks on.
#include "formats/jinja/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "formats/jinja/text.h"
#include "formats/jinja/value.h"

namespace lc::jinja {

namespace {

[[noreturn]] void fail(int line, const std::string& message) {
    throw TemplateError("line " + std::to_string(line) + ": " + message);
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) {
    return is_name_start(c) || is_digit(c);
}

// \r\n and \r become \n; the template's one trailing newline goes (keep_trailing_newline off).
std::string normalize(std::string_view source) {
    std::string out;
    out.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// Python's \s at `pos` (ASCII or a multi-byte space); its length, 0 when none.
size_t space_at(const std::string& s, size_t pos) {
    if (pos >= s.size()) return 0;
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c < 0x80) return is_py_space(c) ? 1 : 0;
    const size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    const std::u32string cp = to_code_points(std::string_view(s).substr(pos, len));
    return cp.size() == 1 && is_py_space(cp[0]) ? len : 0;
}

size_t skip_spaces(const std::string& s, size_t pos) {
    while (size_t n = space_at(s, pos))
        pos += n;
    return pos;
}

bool all_spaces(const std::string& s, size_t from, size_t to) {
    size_t p = from;
    while (p < to) {
        const size_t n = space_at(s, p);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

class Lexer {
public:
    explicit Lexer(std::string_view source) : src_(normalize(source)) {}

    std::vector<Token> run() {
        while (pos_ < src_.size()) {
            size_t tag = src_.find('{', pos_);
            while (tag != std::string::npos &&
                   (tag + 1 >= src_.size() ||
                    std::string_view("{%#").find(src_[tag + 1]) == std::string_view::npos))
                tag = src_.find('{', tag + 1);
            if (tag == std::string::npos) {
                data(src_.substr(pos_));
                pos_ = src_.size();
                break;
            }
            const char kind = src_[tag + 1];
            size_t after = tag + 2;
            char sign = 0;
            if (after < src_.size() && (src_[after] == '-' || src_[after] == '+'))
                sign = src_[after++];
            std::string text = src_.substr(pos_, tag - pos_);
            const int text_line = line_;
            line_ += static_cast<int>(std::count(text.begin(), text.end(), '\n'));
            strip_before(text, sign, kind != '{');
            data(std::move(text), text_line);
            pos_ = after;
            if (kind == '#') {
                comment();
            } else if (kind == '%' && raw_block()) {
                continue;
            } else {
                tag_body(kind == '%');
            }
        }
        tokens_.push_back(Token{Tok::Eof, "", 0, 0, line_});
        return std::move(tokens_);
    }

private:
    void data(std::string text, int line = 0) {
        if (text.empty()) return;
        tokens_.push_back(Token{Tok::Data, std::move(text), 0, 0, line ? line : line_});
    }

    // `-` strips all whitespace before the tag; lstrip_blocks strips a block or comment tag's
    // indentation when only whitespace precedes it on its line, unless the tag says `+`.
    void strip_before(std::string& text, char sign, bool block_or_comment) {
        if (sign == '-') {
            text = py_strip(text, nullptr, false, true);
        } else if (sign != '+' && block_or_comment) {
            const size_t nl = text.rfind('\n');
            const size_t from = nl == std::string::npos ? 0 : nl + 1;
            if ((from > 0 || line_starting_) && from < text.size() &&
                all_spaces(text, from, text.size()))
                text.resize(from);
        }
    }

    // After a block or comment tag: `-` strips all whitespace, `+` nothing, else one newline.
    void strip_after(char sign, bool trim_newline) {
        if (sign == '-') {
            const size_t end = skip_spaces(src_, pos_);
            line_ += static_cast<int>(std::count(src_.begin() + static_cast<long>(pos_),
                                                 src_.begin() + static_cast<long>(end), '\n'));
            pos_ = end;
        } else if (sign != '+' && trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            ++line_;
        }
        line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
    }

    void comment() {
        const size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) fail(line_, "missing end of comment tag");
        char sign = 0;
        if (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) sign = src_[end - 1];
        line_ += static_cast<int>(std::count(src_.begin() + static_cast<long>(pos_),
                                             src_.begin() + static_cast<long>(end), '\n'));
        pos_ = end + 2;
        strip_after(sign, true);
    }

    // `{% raw %}...{% endraw %}`: the text between is data, tags and all.
    bool raw_block() {
        size_t p = skip_spaces(src_, pos_);
        if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3])))
            return false;
        p = skip_spaces(src_, p + 3);
        if (src_.compare(p, 3, "-%}") == 0) {
            p = skip_spaces(src_, p + 3);
        } else if (src_.compare(p, 2, "%}") == 0) {
            p += 2;  // the opening raw tag keeps the newline after it
        } else {
            return false;
        }
        line_ += static_cast<int>(std::count(src_.begin() + static_cast<long>(pos_),
                                             src_.begin() + static_cast<long>(p), '\n'));
        pos_ = p;
        line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
        for (size_t tag = src_.find("{%", pos_); tag != std::string::npos;
             tag = src_.find("{%", tag + 2)) {
            size_t q = tag + 2;
            char sign = 0;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) sign = src_[q++];
            q = skip_spaces(src_, q);
            if (src_.compare(q, 6, "endraw") != 0) continue;
            q = skip_spaces(src_, q + 6);
            char end_sign = 0;
            if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) end_sign = src_[q++];
            if (src_.compare(q, 2, "%}") != 0) continue;
            std::string text = src_.substr(pos_, tag - pos_);
            const int text_line = line_;
            line_ += static_cast<int>(std::count(text.begin(), text.end(), '\n'));
            strip_before(text, sign, true);
            data(std::move(text), text_line);
            line_ += static_cast<int>(std::count(src_.begin() + static_cast<long>(tag),
                                                 src_.begin() + static_cast<long>(q), '\n'));
            pos_ = q + 2;
            strip_after(end_sign, true);
            return true;
        }
        fail(line_, "missing end of raw directive");
    }

    void tag_body(bool block) {
        tokens_.push_back(Token{block ? Tok::BlockBegin : Tok::VarBegin, "", 0, 0, line_});
        std::vector<char> brackets;
        while (true) {
            if (pos_ >= src_.size())
                fail(line_, std::string("unexpected end of template, expected '") +
                                (block ? "%}" : "}}") + "'");
            if (brackets.empty() && tag_end(block)) return;
            if (const size_t n = space_at(src_, pos_)) {
                if (src_[pos_] == '\n') ++line_;
                pos_ += n;
                continue;
            }
            const char c = src_[pos_];
            if (is_digit(c)) {
                number();
            } else if (is_name_start(c)) {
                const size_t b = pos_;
                while (pos_ < src_.size() && is_name_char(src_[pos_]))
                    ++pos_;
                tokens_.push_back(Token{Tok::Name, src_.substr(b, pos_ - b), 0, 0, line_});
            } else if (c == '\'' || c == '"') {
                string_literal();
            } else {
                op(brackets);
            }
        }
    }

    bool tag_end(bool block) {
        const int line = line_;
        if (block) {
            char sign = 0;
            if (src_.compare(pos_, 3, "-%}") == 0 || src_.compare(pos_, 3, "+%}") == 0) {
                sign = src_[pos_];
                pos_ += 3;
            } else if (src_.compare(pos_, 2, "%}") == 0) {
                pos_ += 2;
            } else {
                return false;
            }
            tokens_.push_back(Token{Tok::BlockEnd, "", 0, 0, line});
            strip_after(sign, true);
            return true;
        }
        char sign = 0;
        if (src_.compare(pos_, 3, "-}}") == 0) {
            sign = '-';
            pos_ += 3;
        } else if (src_.compare(pos_, 2, "}}") == 0) {
            pos_ += 2;
        } else {
            return false;
        }
        tokens_.push_back(Token{Tok::VarEnd, "", 0, 0, line});
        strip_after(sign, false);  // trim_blocks leaves the newline after }} alone
        return true;
    }

    // Digits with optional single underscores between them; returns the end.
    size_t digits(size_t p, bool (*ok)(char)) const {
        if (p >= src_.size() || !ok(src_[p])) return p;
        size_t e = p;
        while (e < src_.size()) {
            if (ok(src_[e])) {
                ++e;
            } else if (src_[e] == '_' && e + 1 < src_.size() && ok(src_[e + 1])) {
                e += 2;
            } else {
                break;
            }
        }
        return e;
    }

    void number() {
        const size_t b = pos_;
        auto clean = [&](size_t from, size_t to) {
            std::string s = src_.substr(from, to - from);
            s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
            return s;
        };
        // A float: digits, then a fraction, an exponent or both (not right after a dot).
        if (b == 0 || src_[b - 1] != '.') {
            size_t e = digits(b, is_digit);
            bool is_float = false;
            if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
                e = digits(e + 1, is_digit);
                is_float = true;
            }
            if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
                size_t x = e + 1;
                if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
                const size_t y = digits(x, is_digit);
                if (y > x) {
                    e = y;
                    is_float = true;
                }
            }
            if (is_float) {
                const std::string text = clean(b, e);
                tokens_.push_back(
                    Token{Tok::Float, text, 0, std::strtod(text.c_str(), nullptr), line_});
                pos_ = e;
                return;
            }
        }
        int base = 10;
        size_t e = b;
        if (src_[b] == '0' && b + 1 < src_.size()) {
            const char k = static_cast<char>(src_[b + 1] | 0x20);
            auto bin = [](char c) { return c == '0' || c == '1'; };
            auto oct = [](char c) { return c >= '0' && c <= '7'; };
            auto hex = [](char c) {
                return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            };
            bool (*ok)(char) = k == 'b' ? +bin : k == 'o' ? +oct : k == 'x' ? +hex : nullptr;
            if (ok) {
                size_t p = b + 2;
                if (p < src_.size() && src_[p] == '_') ++p;
                const size_t q = digits(p, ok);
                if (q > p) {
                    base = k == 'b' ? 2 : k == 'o' ? 8 : 16;
                    e = q;
                }
            }
        }
        if (base == 10) {
            if (src_[b] == '0') {  // 0, 00, 0_0: zero
                e = b + 1;
                while (e < src_.size() &&
                       (src_[e] == '0' ||
                        (src_[e] == '_' && e + 1 < src_.size() && src_[e + 1] == '0')))
                    ++e;
            } else {
                e = digits(b, is_digit);
            }
        }
        const std::string text = clean(base == 10 ? b : b + 2, e);
        errno = 0;
        const long long v = std::strtoll(text.c_str(), nullptr, base);
        if (errno == ERANGE) fail(line_, "integer literal " + text + " is too large");
        tokens_.push_back(Token{Tok::Int, src_.substr(b, e - b), v, 0, line_});
        pos_ = e;
    }

    void string_literal() {
        const char quote = src_[pos_];
        const int line = line_;
        size_t p = pos_ + 1;
        while (p < src_.size() && src_[p] != quote) {
            if (src_[p] == '\\') ++p;
            ++p;
        }
        if (p >= src_.size()) fail(line, "unterminated string");
        tokens_.push_back(
            Token{Tok::String, unescape(src_.substr(pos_ + 1, p - pos_ - 1), line), 0, 0, line});
        line_ += static_cast<int>(std::count(src_.begin() + static_cast<long>(pos_),
                                             src_.begin() + static_cast<long>(p), '\n'));
        pos_ = p + 1;
    }

    // Python's unicode-escape, as jinja2 decodes string literals.
    static std::string unescape(const std::string& s, int line) {
        std::string out;
        for (size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\\' || i + 1 >= s.size()) {
                out += s[i];
                continue;
            }
            const char c = s[++i];
            auto hex = [&](size_t n) {
                char32_t v = 0;
                for (size_t k = 1; k <= n; ++k) {
                    const char h = i + k < s.size() ? s[i + k] : 'g';
                    const int d = is_digit(h)                              ? h - '0'
                                  : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10
                                                                           : -1;
                    if (d < 0)
                        fail(line, std::string("truncated \\") + c + "XX escape in a string");
                    v = v * 16 + static_cast<char32_t>(d);
                }
                i += n;
                if (v > 0x10FFFF) fail(line, "illegal Unicode character in a string");
                append_utf8(out, v);
            };
            switch (c) {
                case '\n':
                    break;  // a line continuation
                case '\\':
                case '\'':
                case '"':
                    out += c;
                    break;
                case 'a':
                    out += '\a';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'v':
                    out += '\v';
                    break;
                case 'x':
                    hex(2);
                    break;
                case 'u':
                    hex(4);
                    break;
                case 'U':
                    hex(8);
                    break;
                case 'N':
                    fail(line, "\\N{...} escapes are not supported in template strings");
                default:
                    if (c >= '0' && c <= '7') {
                        char32_t v = static_cast<char32_t>(c - '0');
                        for (int k = 0;
                             k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
                            v = v * 8 + static_cast<char32_t>(s[++i] - '0');
                        append_utf8(out, v);
                    } else {
                        out += '\\';  // unknown escapes stay as written
                        out += c;
                    }
            }
        }
        return out;
    }

    void op(std::vector<char>& brackets) {
        static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
        std::string text;
        for (const char* t : kTwo)
            if (src_.compare(pos_, 2, t) == 0) text = t;
        if (text.empty()) {
            const char c = src_[pos_];
            if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos)
                fail(line_, std::string("unexpected char '") + c + "'");
            text = std::string(1, c);
        }
        const char c = text[0];
        if (text.size() == 1 && (c == '(' || c == '[' || c == '{')) {
            brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        } else if (text.size() == 1 && (c == ')' || c == ']' || c == '}')) {
            if (brackets.empty()) fail(line_, "unexpected '" + text + "'");
            if (brackets.back() != c)
                fail(line_, "unexpected '" + text + "', expected '" + brackets.back() + "'");
            brackets.pop_back();
        }
        tokens_.push_back(Token{Tok::Op, text, 0, 0, line_});
        pos_ += text.size();
    }

    std::string src_;
    size_t pos_ = 0;
    int line_ = 1;
    bool line_starting_ = true;
    std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
    return Lexer(source).run();
}

}  // namespace lc::jinja
