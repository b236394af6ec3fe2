#pragma once
// The tokenizer of a model folder: HF `tokenizer.json` (formats/hf_tokenizer.h) when there is
// one, else SentencePiece `tokenizer.model`, with BOS/EOS ids from the model config (or the
// tokenizer's own files), and a streaming decoder that emits whole UTF-8 characters as tokens
// arrive. The chat format is formats/chat_template.h.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lc {

class Tokenizer {
public:
    // Loads `dir/tokenizer.json` when present, else `dir/tokenizer.model`; throws lc::Error
    // naming the file when missing or invalid. bos/eos: ids from the model config when known
    // (negative = take the tokenizer's own).
    static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir, int bos_id,
                                           int eos_id);
    virtual ~Tokenizer();

    // The ids of `text`; special tokens written in it are recognised. add_bos puts BOS first.
    virtual std::vector<int> encode(std::string_view text, bool add_bos) const = 0;
    // The text of `ids`. Ids without text (control/special tokens, ids outside the
    // vocabulary) are skipped.
    virtual std::string decode(std::span<const int> ids) const = 0;
    virtual int vocab_size() const = 0;
    int bos_id() const { return bos_id_; }
    int eos_id() const { return eos_id_; }
    // Id of a piece spelled exactly `piece` (e.g. "<|end|>"), if the vocabulary has it.
    virtual std::optional<int> piece_id(std::string_view piece) const = 0;

protected:
    friend class StreamDecoder;
    Tokenizer() = default;
    // For StreamDecoder: whether the text of `ids` (a window, possibly behind the anchor) can
    // no longer change when more ids follow.
    virtual bool stream_is_final(std::span<const int> ids) const = 0;

    int bos_id_ = -1;
    int eos_id_ = -1;
    // A piece decoded in front of the StreamDecoder's window so that the window's first piece
    // decodes as in the middle of the text (-1: none), and its text. Set by each loader: its
    // text is the same at the start of a text and in the middle.
    int anchor_id_ = -1;
    std::string anchor_text_;
};

// Feeds ids one at a time and returns the text that became final with each one: never
// half a UTF-8 character, and with the tokenizer's start-of-text rules (a leading space
// dropped) applied as a full decode would. decode(all ids) == concatenation of every push()
// plus flush(). flush() returns what is left (an unfinished character as U+FFFD, as decode()
// would) and starts a new stream, as reset() does. Ids outside the vocabulary have no text.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tokenizer);
    std::string push(int id);
    std::string flush();
    void reset();

private:
    std::string decode_window() const;
    std::vector<int> anchored_window() const;

    const Tokenizer& tokenizer_;
    std::vector<int> ids_;      // the window: ids not yet known to be final
    size_t emitted_bytes_ = 0;  // bytes of decode_window() already returned
    bool anchored_ = false;     // text came before the window (decode it after the anchor)
};

}  // namespace lc
