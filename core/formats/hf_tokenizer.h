#pragma once
// HF `tokenizer.json` (the format of the `tokenizers` library), implemented here: added tokens,
// normalizers, pre-tokenizers, a BPE model and decoders, as formats/hf_parts.h lists them.
// encode() gives the ids `tokenizers` gives for encode(text, add_special_tokens=False) (BOS
// first when asked); decode() the text of decode(ids, skip_special_tokens=True).
#include <filesystem>
#include <memory>

#include "formats/tokenizer.h"

namespace lc {

// Loads `dir/tokenizer.json`. BOS/EOS: the ids given, else tokenizer_config.json's bos_token /
// eos_token, else the post-processor's first special token for BOS. Throws lc::Error naming the
// file and the part of it that is wrong or not supported.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& dir, int bos_id,
                                             int eos_id);

}  // namespace lc
