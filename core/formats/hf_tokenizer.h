#pragma once
// HF `tokenizer.json` (the format of the `tokenizers` library), implemented here: added tokens,
// normalizers, pre-tokenizers, a BPE model and decoders, as formats/hf_parts.h lists them.
// encode() gives the ids `tokenizers` gives for encode(text, add_special_tokens=False) (BOS
// first when asked); decode() the text of decode(ids, skip_special_tokens=True).
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "formats/tokenizer.h"

namespace lc {

// Loads `dir/tokenizer.json`. BOS/EOS: the ids given, else tokenizer_config.json's bos_token /
// eos_token, else the post-processor's first special token for BOS. Throws lc::Error naming the
// file and the part of it that is wrong or not supported.
std::unique_ptr<Tokenizer> load_hf_tokenizer(const std::filesystem::path& dir, int bos_id,
                                             int eos_id);
// The same for a tokenizer.json already in memory (e.g. built from a GGUF file's vocabulary,
// formats/gguf_tokenizer.h): BOS/EOS are the ids given, else for BOS the post-processor's first
// special token. `source` names it in errors.
std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const nlohmann::json& root, int bos_id,
                                                  int eos_id, const std::string& source);

}  // namespace lc
