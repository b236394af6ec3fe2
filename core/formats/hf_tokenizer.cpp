// HF tokenizer.json: the pipeline of `tokenizers` (added tokens, normalizer, pre-tokenizer, BPE,
// decoder) put together from formats/hf_parts.h, and BOS/EOS from tokenizer_config.json.
#include "formats/hf_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include "base/error.h"
#include "base/json_parse.h"
#include "formats/hf_parts.h"

namespace lc {

namespace {

using hf::Json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// Spelled like a ByteFallback byte ("<0xNN>").
bool is_byte_token(const std::string& t) {
    return t.size() == 6 && t.starts_with("<0x") && t.back() == '>';
}

Json read_json(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_json<Json>(ss.str(), path.string());
}

std::vector<hf::AddedToken> parse_added_tokens(const Json& root) {
    std::vector<hf::AddedToken> tokens;
    const Json* list = hf::field(root, "added_tokens");
    if (!list) return tokens;
    if (!list->is_array()) throw Error("\"added_tokens\" must be a list");
    for (const Json& t : *list) {
        const std::string what = "added token " + std::to_string(tokens.size() + 1);
        if (!t.is_object()) throw Error(what + " must be an object");
        hf::AddedToken a;
        a.content = hf::get_string(t, "content", what);
        a.special = hf::get_bool(t, "special", false, what);
        a.lstrip = hf::get_bool(t, "lstrip", false, what);
        a.rstrip = hf::get_bool(t, "rstrip", false, what);
        a.normalized = hf::get_bool(t, "normalized", !a.special, what);
        a.single_word = hf::get_bool(t, "single_word", false, what);
        tokens.push_back(std::move(a));
    }
    return tokens;
}

class HfTokenizer final : public Tokenizer {
public:
    explicit HfTokenizer(const Json& root);

    std::vector<int> encode(std::string_view text, bool add_bos) const override;
    std::string decode(std::span<const int> ids) const override;
    int vocab_size() const override { return vocab_size_; }
    std::optional<int> piece_id(std::string_view piece) const override;

    // BOS/EOS: the ids given, else those tokenizer_config.json names (when there is a folder),
    // else for BOS the first special token the post-processor puts before the text.
    void set_bos_eos(int bos_id, int eos_id, const std::filesystem::path* dir, const Json& root);

private:
    bool stream_is_final(std::span<const int> ids) const override;
    const std::string* token_of(int id) const;
    void choose_anchor();

    hf::Bpe model_;
    std::unique_ptr<hf::Normalizer> normalizer_;
    std::unique_ptr<hf::PreTokenizer> pre_tokenizer_;
    std::unique_ptr<hf::Decoder> decoder_;
    hf::AddedVocabulary added_;
    int vocab_size_ = 0;
};

HfTokenizer::HfTokenizer(const Json& root)
    : model_(root.is_object() ? root.value("model", Json()) : Json()) {
    if (const Json* version = hf::field(root, "version"); version && *version != "1.0") {
        throw Error("version " + version->dump() + " is not supported (only 1.0 is)");
    }
    normalizer_ = hf::parse_normalizer(root.value("normalizer", Json()));
    pre_tokenizer_ = hf::parse_pre_tokenizer(root.value("pre_tokenizer", Json()));
    decoder_ = hf::parse_decoder(root.value("decoder", Json()));
    added_.add(parse_added_tokens(root), model_, normalizer_.get());
    vocab_size_ = std::max(model_.max_id(), added_.max_id()) + 1;
    if (vocab_size_ <= 0) throw Error("the vocabulary is empty");
}

std::vector<int> HfTokenizer::encode(std::string_view text, bool add_bos) const {
    std::vector<int> ids;
    if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
    // Text that is not UTF-8 is read as Python would decode it with errors="replace".
    std::vector<hf::Piece> pieces;
    pieces.push_back(
        {hf::is_valid_utf8(text) ? std::string(text) : hf::valid_utf8(text), -1, true});
    if (pieces.front().text.empty()) return ids;
    added_.split(pieces, false);
    if (normalizer_) {
        for (hf::Piece& p : pieces)
            if (p.id < 0) normalizer_->normalize(p.text);
    }
    added_.split(pieces, true);
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
    for (const hf::Piece& p : pieces) {
        if (p.id >= 0) {
            ids.push_back(p.id);
        } else {
            model_.tokenize(p.text, ids);
        }
    }
    return ids;
}

const std::string* HfTokenizer::token_of(int id) const {
    if (const hf::AddedToken* t = added_.token(id)) return &t->content;
    return model_.token(id);
}

std::string HfTokenizer::decode(std::span<const int> ids) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int id : ids) {
        const std::string* t = token_of(id);
        if (t && !added_.is_special(*t)) tokens.push_back(*t);  // skip_special_tokens
    }
    std::string text;
    if (decoder_) {
        decoder_->decode_chain(tokens);
        for (const std::string& t : tokens)
            text += t;
    } else {
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (i > 0) text += ' ';  // tokenizers joins with spaces when there is no decoder
            text += tokens[i];
        }
    }
    return text;
}

std::optional<int> HfTokenizer::piece_id(std::string_view piece) const {
    if (const int id = added_.id(piece); id >= 0) return id;
    if (const int id = model_.token_id(piece); id >= 0) return id;
    return std::nullopt;
}

// The text is final unless it ends in U+FFFD (bytes a later token may complete), or in a byte
// token that a ByteFallback decoder reads together with the next ones, or the decoder treats the
// end of the text in some other way (what follows the anchor must leave it unchanged).
bool HfTokenizer::stream_is_final(std::span<const int> ids) const {
    const std::string text = decode(ids);
    if (text.ends_with(kReplacement)) return false;
    if (decoder_ && decoder_->groups_bytes()) {
        // The last token decode keeps (skipped special tokens do not end a run of bytes).
        for (size_t i = ids.size(); i-- > 0;) {
            const std::string* t = token_of(ids[i]);
            if (!t || added_.is_special(*t)) continue;
            if (is_byte_token(*t)) return false;
            break;
        }
    }
    if (anchor_id_ < 0) return true;
    std::vector<int> more(ids.begin(), ids.end());
    more.push_back(anchor_id_);
    return decode(more) == text + anchor_text_;
}

void HfTokenizer::choose_anchor() {
    // Letters and digits only: the same text wherever the piece stands, under any decoder.
    auto plain = [](const std::string& s) {
        if (s.empty()) return false;
        for (char c : s)
            if (!std::isalnum(static_cast<unsigned char>(c))) return false;
        return true;
    };
    for (int id = 0; id < vocab_size_; ++id) {
        const std::string* t = token_of(id);
        if (!t || added_.is_special(*t) || is_byte_token(*t)) continue;  // bytes join others
        const int one[] = {id};
        const std::string text = decode(one);
        if (!plain(text)) continue;
        const int two[] = {id, id};
        if (decode(two) != text + text) continue;
        anchor_id_ = id;
        anchor_text_ = text;
        return;
    }
}

// The id of a special token named in tokenizer_config.json: a string or {"content": ...}.
int config_token_id(const HfTokenizer& tok, const Json& config, const char* key) {
    const Json* v = hf::field(config, key);
    if (v && v->is_object()) v = hf::field(*v, "content");
    if (!v || !v->is_string()) return -1;
    return tok.piece_id(v->get<std::string>()).value_or(-1);
}

// The first special token a post-processor puts before the text, if any.
int post_processor_bos(const HfTokenizer& tok, const Json& p) {
    const std::string what = "post_processor";
    if (p.is_null()) return -1;
    const std::string type = hf::type_of(p, what);
    if (type == "ByteLevel") return -1;
    if (type == "Sequence") {
        for (const Json& part : hf::get_array(p, "processors", what + " Sequence"))
            if (const int id = post_processor_bos(tok, part); id >= 0) return id;
        return -1;
    }
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        const Json* cls = hf::field(p, "cls");
        if (cls && cls->is_array() && cls->size() == 2 && (*cls)[1].is_number_integer())
            return (*cls)[1].get<int>();
        return -1;
    }
    if (type == "TemplateProcessing") {
        const Json* single = hf::field(p, "single");
        if (!single || !single->is_array() || single->empty()) return -1;
        const Json* special = hf::field(single->front(), "SpecialToken");
        if (!special) return -1;  // the text comes first
        const std::string name = hf::get_string(*special, "id", what + " TemplateProcessing");
        const Json* tokens = hf::field(p, "special_tokens");
        const Json* entry = tokens ? hf::field(*tokens, name.c_str()) : nullptr;
        const Json* ids = entry ? hf::field(*entry, "ids") : nullptr;
        if (ids && ids->is_array() && !ids->empty() && ids->front().is_number_integer())
            return ids->front().get<int>();
        return tok.piece_id(name).value_or(-1);
    }
    throw Error(what + " type \"" + type +
                "\" is not supported (supported: TemplateProcessing, ByteLevel, "
                "RobertaProcessing, BertProcessing, Sequence)");
}

void HfTokenizer::set_bos_eos(int bos_id, int eos_id, const std::filesystem::path* dir,
                              const Json& root) {
    const int from_post = post_processor_bos(*this, root.value("post_processor", Json()));
    bos_id_ = bos_id;
    eos_id_ = eos_id;
    std::error_code ec;
    const std::filesystem::path config = dir ? *dir / "tokenizer_config.json" : "";
    if ((bos_id_ < 0 || eos_id_ < 0) && dir && std::filesystem::is_regular_file(config, ec)) {
        const Json c = read_json(config);
        if (!c.is_object()) throw Error(config.string() + " is not a JSON object");
        if (bos_id_ < 0) bos_id_ = config_token_id(*this, c, "bos_token");
        if (eos_id_ < 0) eos_id_ = config_token_id(*this, c, "eos_token");
    }
    if (bos_id_ < 0) bos_id_ = from_post;
    choose_anchor();
}

}  // namespace

namespace {

// `root` as a tokenizer; `dir` (may be null) holds its tokenizer_config.json; `source` names it.
std::unique_ptr<Tokenizer> make_hf_tokenizer(const Json& root, int bos_id, int eos_id,
                                             const std::filesystem::path* dir,
                                             const std::string& source) {
    try {
        if (!root.is_object()) throw Error("it is not a JSON object");
        auto tok = std::make_unique<HfTokenizer>(root);
        tok->set_bos_eos(bos_id, eos_id, dir, root);
        return tok;
    } catch (const Json::exception& e) {
        throw Error(source + ": unexpected content: " + e.what());
    } catch (const Error& e) {
        const std::string message = e.what();
        // Errors of tokenizer_config.json already name that file.
        if (message.find("tokenizer_config.json") != std::string::npos) throw;
        throw Error(source + ": " + message);
    }
}

}  // namespace

std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& dir, int bos_id,
                                             int eos_id) {
    const std::filesystem::path path = dir / "tokenizer.json";
    return make_hf_tokenizer(read_json(path), bos_id, eos_id, &dir, path.string());
}

std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const nlohmann::json& root, int bos_id,
                                                  int eos_id, const std::string& source) {
    return make_hf_tokenizer(root, bos_id, eos_id, nullptr, source);
}

}  // namespace lc
