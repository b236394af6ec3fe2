// UTF-8, character classes, case and normalization forms for the HF tokenizer (hf_parts.h).
// Character data comes from ICU, so the classes follow one Unicode version everywhere.
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <array>

#include "formats/hf_parts.h"
#include "formats/utf8.h"

namespace lc::hf {

namespace {

struct ByteLevelTables {
    std::array<char32_t, 256> chars{};
    std::array<int16_t, 324> bytes{};
    ByteLevelTables() {
        bytes.fill(-1);
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable =
                (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            chars[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
            bytes[chars[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
        }
    }
};

const ByteLevelTables& byte_level() {
    static const ByteLevelTables tables;
    return tables;
}

std::u16string to_utf16(std::string_view s) {
    std::u16string out(s.size(), u'\0');
    int32_t len = 0;
    UErrorCode err = U_ZERO_ERROR;
    u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len,
                  s.data(), static_cast<int32_t>(s.size()), &err);
    if (U_FAILURE(err)) throw Error(std::string("text conversion failed: ") + u_errorName(err));
    out.resize(static_cast<size_t>(len));
    return out;
}

std::string to_utf8(const UChar* s, int32_t n) {
    std::string out(static_cast<size_t>(n) * 3, '\0');
    int32_t len = 0;
    UErrorCode err = U_ZERO_ERROR;
    u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len, s, n, &err);
    if (U_FAILURE(err)) throw Error(std::string("text conversion failed: ") + u_errorName(err));
    out.resize(static_cast<size_t>(len));
    return out;
}

bool all_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

}  // namespace

char32_t next_char(std::string_view s, size_t& i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;  // s is valid UTF-8
    if (i + n > s.size()) {
        i = s.size();
        return kReplacementChar;
    }
    const char32_t c = utf8_decode(s, i, n);
    i += n;
    return c;
}

size_t count_chars(std::string_view s) {
    size_t n = 0;
    for (char c : s)
        n += !is_utf8_continuation(static_cast<unsigned char>(c));
    return n;
}

std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const long n = utf8_sequence_length(s, i);
        if (n > 0) {
            out.append(s.substr(i, static_cast<size_t>(n)));
            i += static_cast<size_t>(n);
        } else {
            append_utf8(out, kReplacementChar);  // one for the maximal valid prefix
            i += static_cast<size_t>(-n);
        }
    }
    return out;
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const long n = utf8_sequence_length(s, i);
        if (n < 0) return false;
        i += static_cast<size_t>(n);
    }
    return true;
}

bool is_whitespace(char32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return u_isUWhiteSpace(static_cast<UChar32>(c));
}

bool is_numeric(char32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    const int8_t t = u_charType(static_cast<UChar32>(c));
    return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}

bool is_punctuation(char32_t c) {
    if (c < 0x80)
        return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
               (c >= '{' && c <= '~');
    switch (u_charType(static_cast<UChar32>(c))) {
        case U_CONNECTOR_PUNCTUATION:
        case U_DASH_PUNCTUATION:
        case U_START_PUNCTUATION:
        case U_END_PUNCTUATION:
        case U_INITIAL_PUNCTUATION:
        case U_FINAL_PUNCTUATION:
        case U_OTHER_PUNCTUATION:
            return true;
        default:
            return false;
    }
}

bool is_word_char(char32_t c) {
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    const auto u = static_cast<UChar32>(c);
    switch (u_charType(u)) {
        case U_NON_SPACING_MARK:
        case U_COMBINING_SPACING_MARK:
        case U_ENCLOSING_MARK:
        case U_DECIMAL_DIGIT_NUMBER:
        case U_CONNECTOR_PUNCTUATION:
            return true;
        default:
            return u_hasBinaryProperty(u, UCHAR_ALPHABETIC) ||
                   u_hasBinaryProperty(u, UCHAR_JOIN_CONTROL);
    }
}

std::string lowercase(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            out += static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b);
            ++i;
            continue;
        }
        // One character at a time, so no context rule (final sigma) applies, as in Rust.
        const size_t start = i;
        next_char(s, i);
        const std::u16string one = to_utf16(s.substr(start, i - start));
        UChar lower[8];
        UErrorCode err = U_ZERO_ERROR;
        const int32_t n = u_strToLower(lower, 8, reinterpret_cast<const UChar*>(one.data()),
                                       static_cast<int32_t>(one.size()), "", &err);
        if (U_FAILURE(err)) throw Error(std::string("lowercasing failed: ") + u_errorName(err));
        out += to_utf8(lower, n);
    }
    return out;
}

std::string normalize_unicode(std::string_view s, NormalForm form) {
    if (all_ascii(s)) return std::string(s);  // ASCII is the same in every form
    UErrorCode err = U_ZERO_ERROR;
    const UNormalizer2* n = form == NormalForm::Nfc    ? unorm2_getNFCInstance(&err)
                            : form == NormalForm::Nfd  ? unorm2_getNFDInstance(&err)
                            : form == NormalForm::Nfkc ? unorm2_getNFKCInstance(&err)
                                                       : unorm2_getNFKDInstance(&err);
    if (U_FAILURE(err)) throw Error(std::string("ICU normalizer unavailable: ") + u_errorName(err));
    const std::u16string in = to_utf16(s);
    // NFKD can grow a character up to 18 times; ask ICU for the size when the guess is short.
    std::u16string out(in.size() * 3 + 16, u'\0');
    auto run = [&] {
        err = U_ZERO_ERROR;
        return unorm2_normalize(
            n, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
            reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &err);
    };
    int32_t len = run();
    if (err == U_BUFFER_OVERFLOW_ERROR) {
        out.resize(static_cast<size_t>(len));
        len = run();
    }
    if (U_FAILURE(err)) throw Error(std::string("normalization failed: ") + u_errorName(err));
    return to_utf8(reinterpret_cast<const UChar*>(out.data()), len);
}

char32_t byte_level_char(uint8_t byte) {
    return byte_level().chars[byte];
}

int byte_level_byte(char32_t c) {
    return c < 324 ? byte_level().bytes[c] : -1;
}

}  // namespace lc::hf
