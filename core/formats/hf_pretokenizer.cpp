// Pre-tokenizers of tokenizer.json (hf_parts.h): ByteLevel, Split, Digits, Metaspace,
// Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, CharDelimiterSplit, Sequence.
// Each one cuts the pieces that are not added tokens into smaller ones, as `tokenizers` does.
#include <algorithm>
#include <array>

#include "formats/hf_parts.h"

namespace lc::hf {

namespace {

// Replaces each piece without an id by the pieces `split` appends for it; empty ones are
// dropped, as PreTokenizedString::split drops them.
template <typename Split>
void split_pieces(std::vector<Piece>& pieces, Split split) {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (Piece& p : pieces) {
        if (p.id >= 0) {
            out.push_back(std::move(p));
            continue;
        }
        const size_t before = out.size();
        split(p, out);
        out.erase(std::remove_if(out.begin() + static_cast<long>(before), out.end(),
                                 [](const Piece& q) { return q.id < 0 && q.text.empty(); }),
                  out.end());
    }
    pieces = std::move(out);
}

void emit(const Piece& p, const std::vector<std::pair<size_t, size_t>>& ranges,
          std::vector<Piece>& out) {
    for (const auto& [start, end] : ranges) {
        if (start < end)
            out.push_back({p.text.substr(start, end - start), -1, p.first && start == 0});
    }
}

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
        : parts_(std::move(parts)) {}
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        for (const auto& p : parts_)
            p->pre_tokenize(pieces);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(std::unique_ptr<Regex> pattern, SplitBehavior behavior, bool invert)
        : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, [&](const Piece& p, std::vector<Piece>& out) {
            emit(p, apply_behavior(find_matches(*pattern_, p.text), behavior_, invert_), out);
        });
    }

private:
    std::unique_ptr<Regex> pattern_;
    SplitBehavior behavior_;
    bool invert_;
};

// Splits on each character for which `is_match` holds.
class CharSplitPreTokenizer final : public PreTokenizer {
public:
    CharSplitPreTokenizer(bool (*is_match)(char32_t), SplitBehavior behavior)
        : is_match_(is_match), behavior_(behavior) {}
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, [&](const Piece& p, std::vector<Piece>& out) {
            emit(p, apply_behavior(find_matches(is_match_, p.text), behavior_, false), out);
        });
    }

private:
    bool (*is_match_)(char32_t);
    SplitBehavior behavior_;
};

class CharDelimiterPreTokenizer final : public PreTokenizer {
public:
    explicit CharDelimiterPreTokenizer(char32_t delimiter) : delimiter_(delimiter) {}
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, [&](const Piece& p, std::vector<Piece>& out) {
            emit(p, apply_behavior(find_matches(delimiter_, p.text), SplitBehavior::Removed, false),
                 out);
        });
    }

private:
    char32_t delimiter_;
};

// `\w+|[^\w\s]+` with everything else removed: runs of word characters and runs of other
// visible characters.
class WhitespacePreTokenizer final : public PreTokenizer {
public:
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, [](const Piece& p, std::vector<Piece>& out) {
            std::vector<std::pair<size_t, size_t>> ranges;
            int run = 0;  // 0: whitespace, 1: word, 2: other
            for (size_t i = 0; i < p.text.size();) {
                const size_t start = i;
                const char32_t c = next_char(p.text, i);
                const int kind = is_word_char(c) ? 1 : is_whitespace(c) ? 0 : 2;
                if (kind != 0 && kind == run) {
                    ranges.back().second = i;
                } else if (kind != 0) {
                    ranges.emplace_back(start, i);
                }
                run = kind;
            }
            emit(p, ranges, out);
        });
    }
};

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    enum class Prepend { Always, First, Never };
    MetaspacePreTokenizer(char32_t replacement, Prepend prepend, bool split)
        : replacement_(replacement), prepend_(prepend), split_(split) {
        append_utf8(replacement_text_, replacement);
    }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, [&](const Piece& p, std::vector<Piece>& out) {
            Piece q{std::string(), -1, p.first};
            for (char c : p.text) {
                if (c == ' ') {
                    q.text += replacement_text_;
                } else {
                    q.text += c;
                }
            }
            const bool add = prepend_ == Prepend::Always || (prepend_ == Prepend::First && p.first);
            if (add && !q.text.starts_with(replacement_text_)) q.text = replacement_text_ + q.text;
            if (!split_) {
                out.push_back(std::move(q));
                return;
            }
            emit(q,
                 apply_behavior(find_matches(replacement_, q.text), SplitBehavior::MergedWithNext,
                                false),
                 out);
        });
    }

private:
    char32_t replacement_;
    std::string replacement_text_;
    Prepend prepend_;
    bool split_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
        : add_prefix_space_(add_prefix_space) {
        if (use_regex) {
            // GPT-2's pre-tokenizer regex.
            regex_ = std::make_unique<Regex>(
                R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                false);
        }
        for (int b = 0; b < 256; ++b)
            append_utf8(chars_[static_cast<size_t>(b)], byte_level_char(static_cast<uint8_t>(b)));
    }
    void pre_tokenize(std::vector<Piece>& pieces) const override {
        split_pieces(pieces, [&](const Piece& p, std::vector<Piece>& out) {
            Piece q = p;
            if (add_prefix_space_ && !q.text.starts_with(' ')) q.text = " " + q.text;
            if (regex_) {
                emit(q,
                     apply_behavior(find_matches(*regex_, q.text), SplitBehavior::Isolated, false),
                     out);
            } else {
                out.push_back(std::move(q));
            }
        });
        for (Piece& p : pieces) {
            if (p.id >= 0) continue;
            std::string mapped;
            mapped.reserve(p.text.size() * 2);
            for (char c : p.text)
                mapped += chars_[static_cast<unsigned char>(c)];
            p.text = std::move(mapped);
        }
    }

private:
    bool add_prefix_space_;
    std::unique_ptr<Regex> regex_;
    std::array<std::string, 256> chars_;
};

char32_t single_char(const std::string& s, const std::string& what, const char* key) {
    size_t i = 0;
    const char32_t c = s.empty() ? 0 : next_char(s, i);
    if (s.empty() || i != s.size()) throw Error(what + ": \"" + key + "\" must be one character");
    return c;
}

}  // namespace

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j) {
    if (j.is_null()) return nullptr;
    const std::string what = "pre_tokenizer";
    const std::string type = type_of(j, what);
    const std::string named = what + " " + type;
    if (type == "Sequence") {
        std::vector<std::unique_ptr<PreTokenizer>> parts;
        for (const Json& part : get_array(j, "pretokenizers", named)) {
            if (auto p = parse_pre_tokenizer(part)) parts.push_back(std::move(p));
        }
        return std::make_unique<SequencePreTokenizer>(std::move(parts));
    }
    if (type == "ByteLevel") {
        return std::make_unique<ByteLevelPreTokenizer>(get_bool(j, "add_prefix_space", true, named),
                                                       get_bool(j, "use_regex", true, named));
    }
    if (type == "Split") {
        const Json* pattern = field(j, "pattern");
        if (!pattern) throw Error(named + ": \"pattern\" is missing");
        const Json* behavior = field(j, "behavior");
        if (!behavior) throw Error(named + ": \"behavior\" is missing");
        return std::make_unique<SplitPreTokenizer>(parse_pattern(*pattern, named),
                                                   parse_behavior(*behavior, named),
                                                   get_bool(j, "invert", false, named));
    }
    if (type == "Digits") {
        return std::make_unique<CharSplitPreTokenizer>(
            is_numeric, get_bool(j, "individual_digits", false, named) ? SplitBehavior::Isolated
                                                                       : SplitBehavior::Contiguous);
    }
    if (type == "Metaspace") {
        const char32_t replacement =
            single_char(get_string(j, "replacement", named), named, "replacement");
        const std::string scheme = get_string(j, "prepend_scheme", named, "always");
        using P = MetaspacePreTokenizer::Prepend;
        P prepend = scheme == "always"  ? P::Always
                    : scheme == "first" ? P::First
                    : scheme == "never" ? P::Never
                                        : throw Error(named +
                                                      ": \"prepend_scheme\" must be always, "
                                                      "first or never");
        // Older files say add_prefix_space; false must agree with the scheme, as in tokenizers.
        if (!get_bool(j, "add_prefix_space", true, named)) {
            if (prepend != P::Never)
                throw Error(named + ": add_prefix_space does not match prepend_scheme");
        }
        return std::make_unique<MetaspacePreTokenizer>(replacement, prepend,
                                                       get_bool(j, "split", true, named));
    }
    if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
    if (type == "WhitespaceSplit") {
        return std::make_unique<CharSplitPreTokenizer>(is_whitespace, SplitBehavior::Removed);
    }
    if (type == "Punctuation") {
        const Json* behavior = field(j, "behavior");
        return std::make_unique<CharSplitPreTokenizer>(
            is_punctuation, behavior ? parse_behavior(*behavior, named) : SplitBehavior::Isolated);
    }
    if (type == "BertPreTokenizer") {
        std::vector<std::unique_ptr<PreTokenizer>> parts;
        parts.push_back(
            std::make_unique<CharSplitPreTokenizer>(is_whitespace, SplitBehavior::Removed));
        parts.push_back(
            std::make_unique<CharSplitPreTokenizer>(is_punctuation, SplitBehavior::Isolated));
        return std::make_unique<SequencePreTokenizer>(std::move(parts));
    }
    if (type == "CharDelimiterSplit") {
        return std::make_unique<CharDelimiterPreTokenizer>(
            single_char(get_string(j, "delimiter", named), named, "delimiter"));
    }
    throw Error(what + " type \"" + type +
                "\" is not supported (supported: Sequence, ByteLevel, Split, Digits, Metaspace, "
                "Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, CharDelimiterSplit)");
}

}  // namespace lc::hf
