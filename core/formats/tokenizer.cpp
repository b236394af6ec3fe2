// The choice of tokenizer, the SentencePiece one and the streaming decoder (see tokenizer.h).
#include "formats/tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <system_error>

#include "base/error.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "formats/hf_tokenizer.h"

namespace lc {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// The byte of a byte-fallback piece spelled "<0xNN>", or -1.
int parse_byte_piece(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
    int value = 0;
    for (char c : piece.substr(3, 2)) {
        value <<= 4;
        if (c >= '0' && c <= '9') {
            value |= c - '0';
        } else if (c >= 'A' && c <= 'F') {
            value |= c - 'A' + 10;
        } else if (c >= 'a' && c <= 'f') {
            value |= c - 'a' + 10;
        } else {
            return -1;
        }
    }
    return value;
}

// SentencePiece `tokenizer.model`.
class SentencePieceTokenizer final : public Tokenizer {
public:
    static std::unique_ptr<Tokenizer> load(const std::filesystem::path& path, int bos_id,
                                           int eos_id);

    std::vector<int> encode(std::string_view text, bool add_bos) const override;
    std::string decode(std::span<const int> ids) const override;
    int vocab_size() const override { return vocab_size_; }
    std::optional<int> piece_id(std::string_view piece) const override;

private:
    bool stream_is_final(std::span<const int> ids) const override;
    // decode() of ids that are all in [0, vocab_size()).
    std::string decode_valid(const std::vector<int>& ids) const;

    sentencepiece::SentencePieceProcessor sp_;
    int vocab_size_ = 0;
    std::vector<int16_t> byte_of_id_;  // per id: the byte of a <0xNN> piece, else -1
};

std::unique_ptr<Tokenizer> SentencePieceTokenizer::load(const std::filesystem::path& path,
                                                        int bos_id, int eos_id) {
    std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
    const auto status = tok->sp_.Load(path.string());
    if (!status.ok()) {
        throw Error(path.string() + " is not a valid SentencePiece model: " + status.ToString());
    }
    const auto& sp = tok->sp_;
    tok->vocab_size_ = sp.GetPieceSize();
    if (tok->vocab_size_ <= 0) {
        throw Error(path.string() + " is not a valid SentencePiece model: it has no pieces");
    }
    tok->bos_id_ = bos_id >= 0 ? bos_id : sp.bos_id();
    tok->eos_id_ = eos_id >= 0 ? eos_id : sp.eos_id();

    tok->byte_of_id_.assign(static_cast<size_t>(tok->vocab_size_), -1);
    for (int id = 0; id < tok->vocab_size_; ++id) {
        if (sp.IsByte(id)) {
            tok->byte_of_id_[static_cast<size_t>(id)] =
                static_cast<int16_t>(parse_byte_piece(sp.IdToPiece(id)));
        }
    }
    // The anchor: a piece that decodes to visible text on its own, without a leading space,
    // so that whatever follows it decodes as it would in the middle of a text.
    for (int id = 0; id < tok->vocab_size_; ++id) {
        if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsUnused(id) || sp.IsByte(id)) continue;
        const std::string& piece = sp.IdToPiece(id);
        if (piece.empty() || piece.starts_with(kSpaceSymbol)) continue;
        std::string text = tok->decode_valid({id});
        if (text.empty() || text.find('\xEF') != std::string::npos) continue;  // no U+FFFD
        tok->anchor_id_ = id;
        tok->anchor_text_ = std::move(text);
        break;
    }
    return tok;
}

std::vector<int> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    if (!status.ok()) throw Error("could not tokenize the text: " + status.ToString());
    if (add_bos && bos_id_ >= 0) ids.insert(ids.begin(), bos_id_);
    return ids;
}

std::string SentencePieceTokenizer::decode_valid(const std::vector<int>& ids) const {
    std::string text;
    const auto status = sp_.Decode(ids, &text);
    if (!status.ok()) throw Error("could not decode token ids: " + status.ToString());
    return text;
}

std::string SentencePieceTokenizer::decode(std::span<const int> ids) const {
    // Ids the tokenizer does not know (a model's padded vocabulary) have no text.
    std::vector<int> valid;
    valid.reserve(ids.size());
    for (int id : ids) {
        if (id >= 0 && id < vocab_size_) valid.push_back(id);
    }
    return decode_valid(valid);
}

std::optional<int> SentencePieceTokenizer::piece_id(std::string_view piece) const {
    const int id = sp_.PieceToId(piece);
    if (id < 0 || id >= vocab_size_ || sp_.IdToPiece(id) != piece) return std::nullopt;
    return id;
}

// SentencePiece decodes every piece on its own except for two things: the first piece of a
// text loses its leading space, and runs of byte pieces are decoded together as UTF-8. So the
// text is final unless it ends inside a UTF-8 character that later byte pieces could complete.
bool SentencePieceTokenizer::stream_is_final(std::span<const int> ids) const {
    // Walk back over the trailing byte pieces (at most the 4 bytes of one character).
    int continuation = 0;
    for (size_t i = ids.size(); i-- > 0;) {
        const int byte = byte_of_id_[static_cast<size_t>(ids[i])];
        if (byte < 0x80) return true;  // not a byte piece, or ASCII: nothing pending
        if (byte >= 0xC0) {
            const int needed = byte >= 0xF0 ? 3 : byte >= 0xE0 ? 2 : 1;
            return continuation >= needed;  // a lead byte still waiting for continuations?
        }
        if (++continuation == 3) return true;  // no sequence can reach past this point
    }
    return true;  // the window starts at a character boundary
}

}  // namespace

Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& dir, int bos_id,
                                           int eos_id) {
    std::error_code ec;
    if (is_gguf_path(dir)) return load_gguf_tokenizer(GgufFile::open(dir), bos_id, eos_id);
    // Published checkpoints ship tokenizer.json; it wins when both are there, as in HF.
    if (std::filesystem::is_regular_file(dir / "tokenizer.json", ec)) {
        return load_hf_tokenizer(dir, bos_id, eos_id);
    }
    const std::filesystem::path path = dir / "tokenizer.model";
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw Error("no tokenizer.model in " + dir.string());  // nor tokenizer.json
    }
    return SentencePieceTokenizer::load(path, bos_id, eos_id);
}

// ---------------------------------------------------------------------------------------
// StreamDecoder. The window holds the ids whose text is not final yet (the tokenizer says when
// it is); once the text so far is non-empty, the window is decoded behind an anchor piece so
// that its first piece decodes as it does in the middle of the full text (keeps its space).

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {
    ids_.reserve(16);
}

void StreamDecoder::reset() {
    ids_.clear();
    emitted_bytes_ = 0;
    anchored_ = false;
}

std::vector<int> StreamDecoder::anchored_window() const {
    if (!anchored_ || tokenizer_.anchor_id_ < 0) return ids_;
    std::vector<int> ids;
    ids.reserve(ids_.size() + 1);
    ids.push_back(tokenizer_.anchor_id_);
    ids.insert(ids.end(), ids_.begin(), ids_.end());
    return ids;
}

std::string StreamDecoder::decode_window() const {
    std::string text = tokenizer_.decode(anchored_window());
    if (anchored_ && tokenizer_.anchor_id_ >= 0) {
        const std::string& anchor = tokenizer_.anchor_text_;
        if (text.starts_with(anchor)) text.erase(0, anchor.size());
    }
    return text;
}

std::string StreamDecoder::push(int id) {
    if (id < 0 || id >= tokenizer_.vocab_size()) return {};  // no text, as in decode()
    ids_.push_back(id);
    if (!tokenizer_.stream_is_final(anchored_window())) return {};
    std::string text = decode_window();
    std::string out = text.size() > emitted_bytes_ ? text.substr(emitted_bytes_) : std::string();
    emitted_bytes_ = std::max(emitted_bytes_, text.size());
    // Until some text has appeared, the window keeps the start of the stream: what comes
    // first still loses its leading space. Without an anchor piece it never moves (slow but
    // exact).
    if (emitted_bytes_ > 0 && tokenizer_.anchor_id_ >= 0) {
        ids_.clear();
        emitted_bytes_ = 0;
        anchored_ = true;
    }
    return out;
}

std::string StreamDecoder::flush() {
    std::string text = decode_window();
    std::string out = text.size() > emitted_bytes_ ? text.substr(emitted_bytes_) : std::string();
    reset();
    return out;
}

}  // namespace lc
