#pragma once
// The tokenizer a GGUF file carries (tokenizer.ggml.*), as llama.cpp runs it: model "gpt2"
// (byte-level BPE: tokens in id order, token types, merges) with the pre-tokenizer regexes
// llama.cpp uses for tokenizer.ggml.pre; control, unknown and user-defined tokens are matched
// in the text. It is built as the equivalent tokenizer.json and run by formats/hf_tokenizer.h,
// so no tokenizing is written twice; decoding follows llama.cpp: control, unknown and unused
// tokens have no text, user-defined ones the text written in the file.
#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "formats/tokenizer.h"

namespace lc {

class GgufFile;

// bos/eos: ids from the model config when known (negative: tokenizer.ggml.bos_token_id /
// eos_token_id). Throws lc::Error naming the file and the key that is wrong or not supported.
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& file, int bos_id, int eos_id);

// The tokenizer.json that tokenizes as the file's vocabulary does (every token in the BPE
// vocabulary under its id; control, unknown and user-defined tokens also as added tokens).
nlohmann::json gguf_tokenizer_json(const GgufFile& file);

}  // namespace lc
