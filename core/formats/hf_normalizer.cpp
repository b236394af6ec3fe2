// Normalizers of tokenizer.json (hf_parts.h): Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Replace,
// Prepend, Strip, StripAccents. Each rewrites one piece of text that is not an added token.
#include <unicode/uchar.h>

#include "formats/hf_parts.h"

namespace lc::hf {

namespace {

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
        : parts_(std::move(parts)) {}
    void normalize(std::string& s) const override {
        for (const auto& p : parts_)
            p->normalize(s);
    }

private:
    std::vector<std::unique_ptr<Normalizer>> parts_;
};

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
    void normalize(std::string& s) const override { s = normalize_unicode(s, form_); }

private:
    NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void normalize(std::string& s) const override { s = lowercase(s); }
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(std::unique_ptr<Regex> pattern, std::string content)
        : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void normalize(std::string& s) const override {
        std::string out;
        for (const Span& span : find_matches(*pattern_, s)) {
            if (span.match) {
                out += content_;
            } else {
                out.append(s, span.start, span.end - span.start);
            }
        }
        s = std::move(out);
    }

private:
    std::unique_ptr<Regex> pattern_;
    std::string content_;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& s) const override {
        if (!s.empty()) s = prefix_ + s;
    }

private:
    std::string prefix_;
};

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
    void normalize(std::string& s) const override {
        size_t begin = 0, end = s.size();
        if (left_) {
            for (size_t i = 0; i < s.size();) {
                if (!is_whitespace(next_char(s, i))) break;
                begin = i;
            }
        }
        if (right_) {
            // Walk back character by character (to each lead byte).
            while (end > begin) {
                size_t start = end - 1;
                while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
                    --start;
                size_t i = start;
                if (!is_whitespace(next_char(s, i))) break;
                end = start;
            }
        }
        s = s.substr(begin, end - begin);
    }

private:
    bool left_, right_;
};

class StripAccentsNormalizer final : public Normalizer {
public:
    void normalize(std::string& s) const override {
        std::string out;
        out.reserve(s.size());
        for (size_t i = 0; i < s.size();) {
            const size_t start = i;
            const char32_t c = next_char(s, i);
            if (c >= 0x300 && (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_M_MASK)) continue;
            out.append(s, start, i - start);
        }
        s = std::move(out);
    }
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const Json& j) {
    if (j.is_null()) return nullptr;
    const std::string what = "normalizer";
    const std::string type = type_of(j, what);
    const std::string named = what + " " + type;
    if (type == "Sequence") {
        std::vector<std::unique_ptr<Normalizer>> parts;
        for (const Json& part : get_array(j, "normalizers", named)) {
            if (auto n = parse_normalizer(part)) parts.push_back(std::move(n));
        }
        return std::make_unique<SequenceNormalizer>(std::move(parts));
    }
    if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfc);
    if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfd);
    if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfkc);
    if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::Nfkd);
    if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
    if (type == "Replace") {
        const Json* pattern = field(j, "pattern");
        if (!pattern) throw Error(named + ": \"pattern\" is missing");
        return std::make_unique<ReplaceNormalizer>(parse_pattern(*pattern, named),
                                                   get_string(j, "content", named));
    }
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(get_string(j, "prepend", named));
    if (type == "Strip") {
        return std::make_unique<StripNormalizer>(get_bool(j, "strip_left", true, named),
                                                 get_bool(j, "strip_right", true, named));
    }
    if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
    throw Error(what + " type \"" + type +
                "\" is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, "
                "Replace, Prepend, Strip, StripAccents)");
}

}  // namespace lc::hf
