#pragma once
// The parts of an HF tokenizer.json pipeline (formats/hf_tokenizer.h), private to formats/:
//   hf_unicode.cpp      UTF-8, character classes (ICU), lowercase, NFC/NFD/NFKC/NFKD, byte-level
//   hf_regex.cpp        PCRE2 regexes matched as the `tokenizers` library's Oniguruma ones are,
//                       and the split behaviours
//   hf_normalizer.cpp   normalizers; hf_pretokenizer.cpp pre-tokenizers; hf_decoder.cpp decoders
//   bpe.cpp             the BPE model; hf_added_tokens.cpp the added tokens matched in the text
// Each parse_* reads one JSON component and throws lc::Error naming it; the loader adds the file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/error.h"

#include "formats/utf8.h"  // append_utf8 and the validity rule

namespace lc::hf {

using Json = nlohmann::json;

// ---- UTF-8 and Unicode (hf_unicode.cpp). Strings handed around are valid UTF-8.
constexpr char32_t kReplacementChar = 0xFFFD;
// Decodes the character at s[i] and moves i past it.
char32_t next_char(std::string_view s, size_t& i);
size_t count_chars(std::string_view s);
// `s` with each invalid sequence replaced by U+FFFD, as Rust's String::from_utf8_lossy does.
std::string valid_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);
// Character classes as the `tokenizers` library's Rust code tests them.
bool is_whitespace(char32_t c);   // char::is_whitespace (White_Space)
bool is_numeric(char32_t c);      // char::is_numeric (Nd, Nl, No)
bool is_punctuation(char32_t c);  // ASCII punctuation or a P* category
bool is_word_char(char32_t c);    // the regex crate's Unicode \w
// Each character lowercased on its own (Rust's char::to_lowercase, no final-sigma rule).
std::string lowercase(std::string_view s);
enum class NormalForm { Nfc, Nfd, Nfkc, Nfkd };
std::string normalize_unicode(std::string_view s, NormalForm form);
// GPT-2's byte-level alphabet: the character standing for each byte, and back (-1: none).
char32_t byte_level_char(uint8_t byte);
int byte_level_byte(char32_t c);

// ---- Regexes and splitting (hf_regex.cpp)
class Regex {
public:
    // `literal`: the pattern is a plain string (a "String" pattern). Throws lc::Error with
    // PCRE2's message for a pattern it cannot compile.
    Regex(std::string_view pattern, bool literal);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;
    // The [start, end) of every match, as Oniguruma's find_iter walks them (an empty match
    // right after the previous match is skipped).
    void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

private:
    void* code_ = nullptr;  // pcre2_code_8
};
// {"String": s} or {"Regex": r}.
std::unique_ptr<Regex> parse_pattern(const Json& j, const std::string& what);

// A stretch of a string and whether it is a match, as Pattern::find_matches covers a string.
struct Span {
    size_t start;
    size_t end;
    bool match;
};
std::vector<Span> find_matches(const Regex& regex, std::string_view text);
std::vector<Span> find_matches(bool (*is_match)(char32_t), std::string_view text);
std::vector<Span> find_matches(char32_t c, std::string_view text);
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_behavior(const Json& j, const std::string& what);
// The [start, end) pieces kept (some may be empty), as NormalizedString::split makes them.
std::vector<std::pair<size_t, size_t>> apply_behavior(const std::vector<Span>& spans,
                                                      SplitBehavior behavior, bool invert);

// ---- The text as it goes through the pipeline: pieces, some already an added token's id.
struct Piece {
    std::string text;
    int id = -1;         // an added token's id; -1: still to tokenize
    bool first = false;  // starts at the beginning of the input (Metaspace prepend "first")
};

// ---- Normalizers (hf_normalizer.cpp)
class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& s) const = 0;
};
// null: nullptr.
std::unique_ptr<Normalizer> parse_normalizer(const Json& j);

// ---- Pre-tokenizers (hf_pretokenizer.cpp)
class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Splits (and rewrites) the pieces that have no id yet; empty pieces are dropped.
    virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j);

// ---- Decoders (hf_decoder.cpp)
class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
    // Whether a run of "<0xNN>" tokens is decoded as a whole (a later byte can change it).
    virtual bool groups_bytes() const { return false; }
};
std::unique_ptr<Decoder> parse_decoder(const Json& j);

// Hash maps looked up by string_view without making a string.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

// ---- The BPE model (bpe.cpp)
class Bpe {
public:
    // Throws lc::Error for a model that is not BPE or is inconsistent (a merge of unknown
    // tokens, an unknown unk_token).
    explicit Bpe(const Json& model);
    ~Bpe();
    // Appends the ids of one pre-tokenized word.
    void tokenize(std::string_view word, std::vector<int>& out) const;
    int token_id(std::string_view token) const;  // -1: none
    const std::string* token(int id) const;      // nullptr: none
    size_t size() const { return vocab_.size(); }
    int max_id() const { return max_id_; }

private:
    struct Cache;
    void merge_word(std::string_view word, std::vector<int>& out) const;

    StringMap<int> vocab_;
    std::vector<const std::string*> by_id_;
    // (left id << 32 | right id) -> (rank << 32 | merged id)
    std::unordered_map<uint64_t, uint64_t> merges_;
    int max_id_ = -1;
    int unk_id_ = -1;
    std::string prefix_;  // continuing_subword_prefix
    std::string suffix_;  // end_of_word_suffix
    bool fuse_unk_ = false;
    bool byte_fallback_ = false;
    bool ignore_merges_ = false;
    int byte_ids_[256];  // "<0xNN>" tokens for byte_fallback (-1: none)
    std::unique_ptr<Cache> cache_;
};

// ---- Added tokens (hf_added_tokens.cpp): matched in the text before anything else, the
// longest first, as tokenizers' AddedVocabulary does.
struct AddedToken {
    std::string content;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;  // matched in the normalized text (else in the raw text)
    bool single_word = false;
};

class AddedVocabulary {
public:
    AddedVocabulary();
    ~AddedVocabulary();
    // Adds tokenizer.json's "added_tokens" in order, with the ids tokenizers gives them: the
    // model's id of the same string, else the next id after the model's vocabulary.
    void add(const std::vector<AddedToken>& tokens, const Bpe& model, const Normalizer* normalizer);
    // Cuts each piece without an id around the tokens found in it (those with normalized ==
    // `normalized`), which become pieces with their id.
    void split(std::vector<Piece>& pieces, bool normalized) const;
    int id(std::string_view content) const;  // -1: none
    const AddedToken* token(int id) const;   // nullptr: none
    bool is_special(std::string_view content) const;
    int max_id() const { return max_id_; }

private:
    struct Trie;
    struct Found {
        int id;
        size_t start;
        size_t end;
    };
    std::vector<Found> find(const Trie& trie, std::string_view text) const;

    StringMap<int> ids_;
    std::unordered_map<int, AddedToken> tokens_;
    StringMap<bool> special_;
    std::unique_ptr<Trie> raw_;
    std::unique_ptr<Trie> normalized_;
    int max_id_ = -1;
};

// ---- JSON fields, with errors that name the component.
inline const Json* field(const Json& j, const char* key) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}
inline bool get_bool(const Json& j, const char* key, bool fallback, const std::string& what) {
    const Json* v = field(j, key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw Error(what + ": \"" + key + "\" must be true or false");
    return v->get<bool>();
}
inline std::string get_string(const Json& j, const char* key, const std::string& what,
                              const char* fallback = nullptr) {
    const Json* v = field(j, key);
    if (!v) {
        if (fallback) return fallback;
        throw Error(what + ": \"" + key + "\" is missing");
    }
    if (!v->is_string()) throw Error(what + ": \"" + key + "\" must be a string");
    return v->get<std::string>();
}
inline const Json& get_array(const Json& j, const char* key, const std::string& what) {
    const Json* v = field(j, key);
    if (!v || !v->is_array()) throw Error(what + ": \"" + key + "\" must be a list");
    return *v;
}
// A component's "type", checked to be a string.
inline std::string type_of(const Json& j, const std::string& what) {
    if (!j.is_object()) throw Error(what + " must be an object");
    return get_string(j, "type", what);
}

}  // namespace lc::hf
