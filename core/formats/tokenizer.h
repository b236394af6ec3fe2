#pragma once
// SentencePiece tokenizer of a model folder (`tokenizer.model`), with BOS/EOS ids from
// config.json or generation_config.json, and a streaming decoder that emits whole UTF-8
// characters as tokens arrive. The chat format is formats/chat_template.h.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace lc {

class Tokenizer {
public:
    // Loads `dir/tokenizer.model`; throws lc::Error naming the file when missing or invalid.
    // bos/eos: ids from the model config when known (negative = take the tokenizer's own).
    static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir, int bos_id,
                                           int eos_id);
    ~Tokenizer();

    std::vector<int> encode(std::string_view text, bool add_bos) const;
    std::string decode(std::span<const int> ids) const;
    int vocab_size() const;
    int bos_id() const { return bos_id_; }
    int eos_id() const { return eos_id_; }
    // Id of a piece spelled exactly `piece` (e.g. "<|end|>"), if the vocabulary has it.
    std::optional<int> piece_id(std::string_view piece) const;

private:
    friend class StreamDecoder;
    Tokenizer();
    // decode() of ids that are all in [0, vocab_size()).
    std::string decode_valid(const std::vector<int>& ids) const;

    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
    int bos_id_ = -1;
    int eos_id_ = -1;
    int vocab_size_ = 0;
    std::vector<int16_t> byte_of_id_;  // per id: the byte of a <0xNN> piece, else -1
    // A plain piece with visible text and no leading space, decoded in front of the
    // StreamDecoder's window so that the window's first piece keeps its space (-1: none).
    int anchor_id_ = -1;
    std::string anchor_text_;
};

// Feeds ids one at a time and returns the text that became final with each one: never
// half a UTF-8 character, and with SentencePiece's leading-space rules applied as a
// full decode would. decode(all ids) == concatenation of every push() plus flush().
// flush() returns what is left (an unfinished character as U+FFFD, as decode() would) and
// starts a new stream, as reset() does. Ids outside the vocabulary have no text.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer);
    std::string push(int id);
    std::string flush();
    void reset();

private:
    // Whether the window's text can no longer change: it does not end inside a UTF-8
    // character that later byte pieces could complete.
    bool window_is_final() const;
    std::string decode_window() const;

    const Tokenizer& tokenizer_;
    std::vector<int> ids_;      // the window: ids not yet known to be final
    size_t emitted_bytes_ = 0;  // bytes of decode_window() already returned
    bool anchored_ = false;     // text came before the window (decode it after the anchor)
};

}  // namespace lc
