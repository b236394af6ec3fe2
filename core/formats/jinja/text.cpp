// Python's text operations on UTF-8 (see text.h).
#include "formats/jinja/text.h"

#include "formats/jinja/value.h"
#include "formats/utf8.h"

namespace lc::jinja {

std::u32string to_code_points(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const long n = utf8_sequence_length(s, i);
        if (n < 0) {
            out.push_back(0xDC00 + static_cast<unsigned char>(s[i]));  // Python's surrogateescape
            ++i;
            continue;
        }
        out.push_back(utf8_decode(s, i, static_cast<size_t>(n)));
        i += static_cast<size_t>(n);
    }
    return out;
}

void append_utf8(std::string& out, char32_t c) {
    if (c >= 0xDC80 && c <= 0xDCFF) {
        out.push_back(static_cast<char>(c - 0xDC00));  // a byte that was not UTF-8
    } else {
        lc::append_utf8(out, c);
    }
}

std::string to_utf8(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s)
        append_utf8(out, c);
    return out;
}

size_t code_point_count(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return to_code_points(s).size();
    return s.size();  // ASCII
}

bool is_py_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
    const std::u32string cps = to_code_points(s);
    const std::u32string set = chars ? to_code_points(*chars) : std::u32string();
    auto strip_it = [&](char32_t c) {
        return chars ? set.find(c) != std::u32string::npos : is_py_space(c);
    };
    size_t b = 0, e = cps.size();
    if (left)
        while (b < e && strip_it(cps[b]))
            ++b;
    if (right)
        while (e > b && strip_it(cps[e - 1]))
            --e;
    return to_utf8(std::u32string_view(cps).substr(b, e - b));
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
    std::vector<std::string> lines;
    const std::u32string cps = to_code_points(s);
    size_t begin = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        const char32_t c = cps[i];
        const bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c ||
                         (c >= 0x1c && c <= 0x1e) || c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!brk) continue;
        const size_t len = c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n' ? 2 : 1;
        lines.push_back(
            to_utf8(std::u32string_view(cps).substr(begin, i - begin + (keepends ? len : 0))));
        i += len - 1;
        begin = i + 1;
    }
    if (begin < cps.size()) lines.push_back(to_utf8(std::u32string_view(cps).substr(begin)));
    return lines;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl,
                       int64_t count, size_t max_bytes) {
    std::string out;
    auto grow = [&](std::string_view piece) {
        out.append(piece);
        if (out.size() > max_bytes)
            throw TemplateError("the template made more than " + std::to_string(max_bytes) +
                                " bytes of text");
    };
    if (old.empty()) {  // Python puts `repl` before every character and at the end
        int64_t done = 0;
        const std::u32string cps = to_code_points(s);
        for (char32_t c : cps) {
            if (count < 0 || done < count) {
                grow(repl);
                ++done;
            }
            std::string one;
            append_utf8(one, c);
            grow(one);
        }
        if (count < 0 || done < count) grow(repl);
        return out;
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(old, pos);
        if (hit == std::string::npos) break;
        grow(std::string_view(s).substr(pos, hit - pos));
        grow(repl);
        pos = hit + old.size();
        ++done;
    }
    grow(std::string_view(s).substr(pos));
    return out;
}

namespace {

// The simple case pairs of the scripts we map; 0 when `c` has no other case.
char32_t upper_of(char32_t c) {
    if (c >= 'a' && c <= 'z') return c - 32;
    if (c == 0xB5) return 0x39C;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
    if (c == 0xFF) return 0x178;
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c % 2 == 1 ? c - 1 : 0;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 0 ? c - 1 : 0;
    if (c == 0x3C2) return 0x3A3;
    if (c >= 0x3B1 && c <= 0x3CB) return c - 0x20;
    if (c == 0x3AC) return 0x386;
    if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
    if (c == 0x3CC) return 0x38C;
    if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
    if (c >= 0x430 && c <= 0x44F) return c - 0x20;
    if (c >= 0x450 && c <= 0x45F) return c - 0x50;
    if (c >= 0x460 && c <= 0x481) return c % 2 == 1 ? c - 1 : 0;
    if (c >= 0xFF41 && c <= 0xFF5A) return c - 0x20;
    return 0;
}

char32_t lower_of(char32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    if (c == 0x178) return 0xFF;
    if ((c >= 0x100 && c <= 0x12F) || (c >= 0x132 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c % 2 == 0 ? c + 1 : 0;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c % 2 == 1 ? c + 1 : 0;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 0x20;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    if (c >= 0x460 && c <= 0x481) return c % 2 == 0 ? c + 1 : 0;
    if (c >= 0xFF21 && c <= 0xFF3A) return c + 0x20;
    return 0;
}

bool is_cased(char32_t c) {
    return upper_of(c) || lower_of(c) || c == 0xDF || c == 0x130;
}

void append_upper(std::string& out, char32_t c, bool title) {
    if (c == 0xDF) {
        out += title ? "Ss" : "SS";
        return;
    }
    const char32_t u = upper_of(c);
    append_utf8(out, u ? u : c);
}

void append_lower(std::string& out, const std::u32string& s, size_t i) {
    const char32_t c = s[i];
    if (c == 0x130) {  // İ lowers to i and a combining dot
        out += "i\xCC\x87";
        return;
    }
    if (c == 0x3A3) {  // Σ ends a word as ς
        const bool after_cased = i > 0 && is_cased(s[i - 1]);
        const bool before_cased = i + 1 < s.size() && is_cased(s[i + 1]);
        append_utf8(out, after_cased && !before_cased ? 0x3C2 : 0x3C3);
        return;
    }
    const char32_t l = lower_of(c);
    append_utf8(out, l ? l : c);
}

}  // namespace

std::string py_upper(std::string_view s) {
    std::string out;
    for (char32_t c : to_code_points(s))
        append_upper(out, c, false);
    return out;
}

std::string py_lower(std::string_view s) {
    std::string out;
    const std::u32string cps = to_code_points(s);
    for (size_t i = 0; i < cps.size(); ++i)
        append_lower(out, cps, i);
    return out;
}

std::string py_title(std::string_view s) {
    std::string out;
    const std::u32string cps = to_code_points(s);
    bool previous_cased = false;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (!is_cased(cps[i])) {
            append_utf8(out, cps[i]);
            previous_cased = false;
        } else {
            previous_cased ? append_lower(out, cps, i) : append_upper(out, cps[i], true);
            previous_cased = true;
        }
    }
    return out;
}

std::string py_capitalize(std::string_view s) {
    std::string out;
    const std::u32string cps = to_code_points(s);
    for (size_t i = 0; i < cps.size(); ++i)
        i == 0 ? append_upper(out, cps[i], true) : append_lower(out, cps, i);
    return out;
}

}  // namespace lc::jinja
