// Decoders of tokenizer.json (hf_parts.h): ByteLevel, Metaspace, ByteFallback, Fuse, Strip,
// Replace, BPEDecoder, Sequence. decode_chain turns the tokens' strings into text pieces that are
// then joined, as `tokenizers` decodes.
#include "formats/hf_parts.h"

namespace lc::hf {

namespace {

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
        : parts_(std::move(parts)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& p : parts_)
            p->decode_chain(tokens);
    }
    bool groups_bytes() const override {
        for (const auto& p : parts_)
            if (p->groups_bytes()) return true;
        return false;
    }

private:
    std::vector<std::unique_ptr<Decoder>> parts_;
};

// Each token's characters back to the bytes they stand for (a token with any character outside
// the alphabet keeps its own bytes), all joined and read as UTF-8 with U+FFFD for bad bytes.
class ByteLevelDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const std::string& t : tokens) {
            const size_t before = bytes.size();
            bool mapped = true;
            for (size_t i = 0; i < t.size();) {
                const int b = byte_level_byte(next_char(t, i));
                if (b < 0) {
                    mapped = false;
                    break;
                }
                bytes += static_cast<char>(b);
            }
            if (!mapped) {
                bytes.resize(before);
                bytes += t;
            }
        }
        tokens.assign(1, valid_utf8(bytes));
    }
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(char32_t replacement, bool prepends)
        : replacement_(replacement), prepends_(prepends) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (size_t k = 0; k < tokens.size(); ++k) {
            const std::string& t = tokens[k];
            std::string out;
            out.reserve(t.size());
            for (size_t i = 0; i < t.size();) {
                const size_t start = i;
                if (next_char(t, i) != replacement_) {
                    out.append(t, start, i - start);
                } else if (k != 0 || !prepends_) {
                    out += ' ';  // the first token loses every replacement, as in tokenizers
                }
            }
            tokens[k] = std::move(out);
        }
    }

private:
    char32_t replacement_;
    bool prepends_;
};

// The byte of a token spelled "<0xNN>" (as Rust's u8::from_str_radix reads NN), or -1.
int fallback_byte(const std::string& t) {
    if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
    auto digit = [](char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
    };
    if (t[3] == '+') return digit(t[4]);
    const int hi = digit(t[3]), lo = digit(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Runs of "<0xNN>" tokens become their UTF-8 text, or one U+FFFD per byte when not valid.
class ByteFallbackDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string run;
        auto close_run = [&] {
            if (run.empty()) return;
            if (is_valid_utf8(run)) {
                out.push_back(run);
            } else {
                for (size_t i = 0; i < run.size(); ++i)
                    out.emplace_back("\xEF\xBF\xBD");
            }
            run.clear();
        };
        for (std::string& t : tokens) {
            const int b = fallback_byte(t);
            if (b >= 0) {
                run += static_cast<char>(b);
                continue;
            }
            close_run();
            out.push_back(std::move(t));
        }
        close_run();
        tokens = std::move(out);
    }
    bool groups_bytes() const override { return true; }
};

class FuseDecoder final : public Decoder {
public:
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string joined;
        for (const std::string& t : tokens)
            joined += t;
        tokens.assign(1, std::move(joined));
    }
};

// Removes up to `start` leading and `stop` trailing `content` characters of each token.
class StripDecoder final : public Decoder {
public:
    StripDecoder(char32_t content, size_t start, size_t stop)
        : content_(content), start_(start), stop_(stop) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) {
            std::vector<char32_t> chars;
            std::vector<size_t> bounds = {0};  // byte offset after each character
            for (size_t i = 0; i < t.size();) {
                chars.push_back(next_char(t, i));
                bounds.push_back(i);
            }
            size_t begin = 0, end = chars.size();
            for (size_t i = 0; i < start_ && i < chars.size() && chars[i] == content_; ++i)
                begin = i + 1;
            for (size_t i = 0; i < stop_ && i < chars.size(); ++i) {
                const size_t index = chars.size() - i - 1;
                if (chars[index] != content_) break;
                end = index;
            }
            t = begin < end ? t.substr(bounds[begin], bounds[end] - bounds[begin]) : std::string();
        }
    }

private:
    char32_t content_;
    size_t start_, stop_;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(std::unique_ptr<Regex> pattern, std::string content)
        : pattern_(std::move(pattern)), content_(std::move(content)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::string& t : tokens) {
            std::string out;
            for (const Span& s : find_matches(*pattern_, t)) {
                if (s.match) {
                    out += content_;
                } else {
                    out.append(t, s.start, s.end - s.start);
                }
            }
            t = std::move(out);
        }
    }

private:
    std::unique_ptr<Regex> pattern_;
    std::string content_;
};

// The end-of-word suffix becomes a space, except in the last token.
class BpeDecoder final : public Decoder {
public:
    explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        if (suffix_.empty()) return;
        for (size_t k = 0; k < tokens.size(); ++k) {
            const std::string with = k + 1 == tokens.size() ? "" : " ";
            std::string out;
            const std::string& t = tokens[k];
            for (size_t i = 0; i < t.size();) {
                if (t.compare(i, suffix_.size(), suffix_) == 0) {
                    out += with;
                    i += suffix_.size();
                } else {
                    out += t[i++];
                }
            }
            tokens[k] = std::move(out);
        }
    }

private:
    std::string suffix_;
};

char32_t one_char(const std::string& s, const std::string& what, const char* key) {
    size_t i = 0;
    const char32_t c = s.empty() ? 0 : next_char(s, i);
    if (s.empty() || i != s.size()) throw Error(what + ": \"" + key + "\" must be one character");
    return c;
}

size_t count(const Json& j, const char* key, const std::string& what) {
    const Json* v = field(j, key);
    if (!v) return 0;
    if (!v->is_number_unsigned()) throw Error(what + ": \"" + key + "\" must be a count");
    return v->get<size_t>();
}

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const Json& j) {
    if (j.is_null()) return nullptr;
    const std::string what = "decoder";
    const std::string type = type_of(j, what);
    const std::string named = what + " " + type;
    if (type == "Sequence") {
        std::vector<std::unique_ptr<Decoder>> parts;
        for (const Json& part : get_array(j, "decoders", named)) {
            if (auto d = parse_decoder(part)) parts.push_back(std::move(d));
        }
        return std::make_unique<SequenceDecoder>(std::move(parts));
    }
    if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
    if (type == "Metaspace") {
        const std::string scheme = get_string(j, "prepend_scheme", named, "always");
        if (scheme != "always" && scheme != "first" && scheme != "never")
            throw Error(named + ": \"prepend_scheme\" must be always, first or never");
        const bool add_prefix_space = get_bool(j, "add_prefix_space", true, named);
        if (!add_prefix_space && scheme != "never")
            throw Error(named + ": add_prefix_space does not match prepend_scheme");
        return std::make_unique<MetaspaceDecoder>(
            one_char(get_string(j, "replacement", named), named, "replacement"), scheme != "never");
    }
    if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse") return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        return std::make_unique<StripDecoder>(
            one_char(get_string(j, "content", named), named, "content"), count(j, "start", named),
            count(j, "stop", named));
    }
    if (type == "Replace") {
        const Json* pattern = field(j, "pattern");
        if (!pattern) throw Error(named + ": \"pattern\" is missing");
        return std::make_unique<ReplaceDecoder>(parse_pattern(*pattern, named),
                                                get_string(j, "content", named));
    }
    if (type == "BPEDecoder") {
        return std::make_unique<BpeDecoder>(get_string(j, "suffix", named, "</w>"));
    }
    throw Error(what + " type \"" + type +
                "\" is not supported (supported: Sequence, ByteLevel, Metaspace, ByteFallback, "
                "Fuse, Strip, Replace, BPEDecoder)");
}

}  // namespace lc::hf
