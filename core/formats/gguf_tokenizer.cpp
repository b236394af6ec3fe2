// A GGUF file's tokenizer (see gguf_tokenizer.h): the vocabulary as a tokenizer.json run by the
// HF tokenizer, with llama.cpp's pre-tokenizer for tokenizer.ggml.pre and llama.cpp's decoding.
#include "formats/gguf_tokenizer.h"

#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "formats/gguf.h"
#include "formats/hf_tokenizer.h"

namespace lc {
namespace {

using nlohmann::json;

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum TokenType : uint8_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6
};

// The regexes llama.cpp splits the text with, in order, each keeping matches and the text
// between them as pieces (a tokenizer.json Split with behavior Isolated), and whether a piece
// that is a whole token skips the merges. From llama-vocab.cpp (llm_tokenizer_bpe and the
// tokenizer.ggml.pre names that select each list).
struct PreTokenizer {
    std::vector<const char*> regexes;
    bool ignore_merges = false;
};

// clang-format off
const std::vector<const char*> kDeepseekLlm = {
    "[\r\n]",
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
    "\\s+$",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}+",
};
const std::vector<const char*> kDeepseekV3 = {
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
};
const std::vector<const char*> kDeepseekCoder = {
    "[\r\n]",
    "\\s?\\p{L}+",
    "\\s?\\p{P}+",
    "[一-龥ࠀ-一가-퟿]+",
    "\\p{N}",
};
const std::vector<const char*> kChatGlm4 = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};
const std::vector<const char*> kGpt2 = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
};
const std::vector<const char*> kDefault = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
    "\\p{N}+",
    "[0-9][0-9][0-9]",
};
// clang-format on

PreTokenizer pre_tokenizer_for(const GgufFile& f, const std::string& pre) {
    if (pre.empty() || pre == "default") return {kDefault, false};
    if (pre == "deepseek-llm") return {kDeepseekLlm, false};
    if (pre == "deepseek-v3") return {kDeepseekV3, false};
    if (pre == "deepseek-coder") return {kDeepseekCoder, false};
    if (pre == "glm4" || pre == "glm5") return {kChatGlm4, true};
    if (pre == "chatglm-bpe") return {kChatGlm4, false};
    if (pre == "gpt-2" || pre == "gigachat") return {kGpt2, false};
    if (pre == "kimi-k2")
        f.fail_key("tokenizer.ggml.pre",
                   "is 'kimi-k2', whose pre-tokenizer llama.cpp implements as custom code that "
                   "LatentChat does not have");
    f.fail_key("tokenizer.ggml.pre",
               "is '" + pre +
                   "'; LatentChat knows deepseek-llm, deepseek-v3, deepseek-coder, glm4, glm5, "
                   "chatglm-bpe, gpt-2, gigachat and default");
}

const GgufValue& string_array(const GgufFile& f, const char* key) {
    const GgufValue* v = f.find(key);
    if (!v) f.fail_key(key, "is missing");
    if (!v->is_array() || v->element_type != GgufValue::Type::String)
        f.fail_key(key, "must be an array of strings");
    return *v;
}

// Token types, one per token (all normal when the file has none).
std::vector<uint8_t> token_types(const GgufFile& f, size_t n_tokens) {
    const char* key = "tokenizer.ggml.token_type";
    std::vector<uint8_t> types(n_tokens, kNormal);
    if (!f.find(key)) return types;
    const std::vector<int64_t> raw = f.get_ints(key);
    if (raw.size() != n_tokens)
        f.fail_key(key, "has " + std::to_string(raw.size()) + " entries for " +
                            std::to_string(n_tokens) + " tokens");
    for (size_t i = 0; i < n_tokens; ++i) {
        if (raw[i] < kUndefined || raw[i] > kByte)
            f.fail_key(key, "gives token " + std::to_string(i) + " type " + std::to_string(raw[i]) +
                                ", which is not a token type (0 to 6)");
        types[i] = raw[i] == kUndefined ? uint8_t{kNormal} : static_cast<uint8_t>(raw[i]);
    }
    return types;
}

void require_gpt2(const GgufFile& f) {
    const std::optional<std::string> model = f.get_string("tokenizer.ggml.model");
    if (!model) f.fail_key("tokenizer.ggml.model", "is missing: the file has no tokenizer");
    if (*model != "gpt2")
        f.fail_key("tokenizer.ggml.model",
                   "is '" + *model + "'; LatentChat reads byte-level BPE tokenizers (gpt2)");
}

json build_json(const GgufFile& f, const std::vector<uint8_t>& types) {
    const std::vector<std::string>& tokens = string_array(f, "tokenizer.ggml.tokens").strings;
    const std::vector<std::string>& merge_lines = string_array(f, "tokenizer.ggml.merges").strings;
    const PreTokenizer pre = pre_tokenizer_for(f, f.get_string("tokenizer.ggml.pre").value_or(""));

    json vocab = json::object();
    json added = json::array();
    for (size_t id = 0; id < tokens.size(); ++id) {
        vocab[tokens[id]] = id;  // a text listed twice keeps its last id, as in llama.cpp
        const uint8_t t = types[id];
        if (t == kControl || t == kUnknown || t == kUserDefined)
            added.push_back({{"id", id},
                             {"content", tokens[id]},
                             {"special", t != kUserDefined},
                             {"normalized", false},
                             {"lstrip", false},
                             {"rstrip", false},
                             {"single_word", false}});
    }
    json merges = json::array();
    for (size_t i = 0; i < merge_lines.size(); ++i) {
        // llama.cpp splits at the first space after the first byte.
        const std::string& line = merge_lines[i];
        const size_t space = line.empty() ? std::string::npos : line.find(' ', 1);
        if (space == std::string::npos)
            f.fail_key("tokenizer.ggml.merges", "entry " + std::to_string(i) + " ('" + line +
                                                    "') is not two tokens separated by a space");
        merges.push_back(json::array({line.substr(0, space), line.substr(space + 1)}));
    }
    json splits = json::array();
    for (const char* regex : pre.regexes)
        splits.push_back({{"type", "Split"},
                          {"pattern", {{"Regex", regex}}},
                          {"behavior", "Isolated"},
                          {"invert", false}});
    splits.push_back({{"type", "ByteLevel"},
                      {"add_prefix_space", false},
                      {"trim_offsets", true},
                      {"use_regex", false}});
    return {{"version", "1.0"},
            {"added_tokens", std::move(added)},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", std::move(splits)}}},
            {"post_processor", nullptr},
            {"decoder",
             {{"type", "ByteLevel"},
              {"add_prefix_space", true},
              {"trim_offsets", true},
              {"use_regex", true}}},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"ignore_merges", pre.ignore_merges},
              {"vocab", std::move(vocab)},
              {"merges", std::move(merges)}}}};
}

// Encodes with the HF tokenizer built from the file; decodes as llama.cpp does, with runs of
// normal tokens through the byte-level decoder (as tokenizers decodes around added tokens).
class GgufTokenizer final : public Tokenizer {
public:
    GgufTokenizer(std::unique_ptr<Tokenizer> inner, std::vector<uint8_t> types,
                  std::unordered_map<int, std::string> user_defined, int bos_id, int eos_id)
        : inner_(std::move(inner)),
          types_(std::move(types)),
          user_defined_(std::move(user_defined)) {
        bos_id_ = bos_id;
        eos_id_ = eos_id;
        choose_anchor();
    }

    std::vector<int> encode(std::string_view text, bool add_bos) const override {
        std::vector<int> ids;
        if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
        const std::vector<int> body = inner_->encode(text, false);
        ids.insert(ids.end(), body.begin(), body.end());
        return ids;
    }

    std::string decode(std::span<const int> ids) const override {
        std::string text;
        std::vector<int> run;  // normal tokens not yet decoded
        for (int id : ids) {
            if (id < 0 || id >= vocab_size()) continue;
            const uint8_t t = types_[static_cast<size_t>(id)];
            if (t == kNormal || t == kByte) {
                run.push_back(id);
            } else if (t == kUserDefined) {
                text += inner_->decode(run);
                run.clear();
                text += user_defined_.at(id);
            }  // control, unknown and unused tokens have no text
        }
        return text + inner_->decode(run);
    }

    int vocab_size() const override { return static_cast<int>(types_.size()); }
    std::optional<int> piece_id(std::string_view piece) const override {
        return inner_->piece_id(piece);
    }

private:
    // Tokens decode one after another, so the text is final unless it ends inside a character.
    bool stream_is_final(std::span<const int> ids) const override {
        return !decode(ids).ends_with("\xEF\xBF\xBD");
    }

    // A normal token spelled in ASCII letters and digits: the same text anywhere.
    void choose_anchor() {
        for (int id = 0; id < vocab_size(); ++id) {
            if (types_[static_cast<size_t>(id)] != kNormal) continue;
            const int one[] = {id};
            const std::string text = decode(one);
            bool plain = !text.empty();
            for (char ch : text)
                plain = plain && std::isalnum(static_cast<unsigned char>(ch));
            if (!plain) continue;
            anchor_id_ = id;
            anchor_text_ = text;
            return;
        }
    }

    std::unique_ptr<Tokenizer> inner_;
    std::vector<uint8_t> types_;
    std::unordered_map<int, std::string> user_defined_;
};

// A token id of tokenizer.ggml.* in [0, n_tokens), or -1 when absent.
int special_id(const GgufFile& f, const char* key, size_t n_tokens) {
    const std::optional<int64_t> v = f.get_int(key);
    if (!v) return -1;
    if (*v < 0 || static_cast<uint64_t>(*v) >= n_tokens)
        f.fail_key(key, "is " + std::to_string(*v) + ", outside the " + std::to_string(n_tokens) +
                            " tokens of tokenizer.ggml.tokens");
    return static_cast<int>(*v);
}

}  // namespace

json gguf_tokenizer_json(const GgufFile& file) {
    require_gpt2(file);
    const size_t n = string_array(file, "tokenizer.ggml.tokens").strings.size();
    return build_json(file, token_types(file, n));
}

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& file, int bos_id, int eos_id) {
    require_gpt2(file);
    const std::vector<std::string>& tokens = string_array(file, "tokenizer.ggml.tokens").strings;
    if (tokens.empty()) file.fail_key("tokenizer.ggml.tokens", "is empty");
    if (tokens.size() > static_cast<size_t>(INT32_MAX))
        file.fail_key("tokenizer.ggml.tokens", "has too many tokens");
    std::vector<uint8_t> types = token_types(file, tokens.size());
    std::unordered_map<int, std::string> user_defined;
    for (size_t id = 0; id < tokens.size(); ++id)
        if (types[id] == kUserDefined) user_defined.emplace(static_cast<int>(id), tokens[id]);
    if (bos_id < 0) bos_id = special_id(file, "tokenizer.ggml.bos_token_id", tokens.size());
    if (eos_id < 0) eos_id = special_id(file, "tokenizer.ggml.eos_token_id", tokens.size());
    auto inner = load_hf_tokenizer_json(build_json(file, types), -1, -1,
                                        file.path().string() + " (tokenizer.ggml.*)");
    return std::make_unique<GgufTokenizer>(std::move(inner), std::move(types),
                                           std::move(user_defined), bos_id, eos_id);
}

}  // namespace lc
