// tokenizer.json: normalizer, pre-tokenizer (regexes), model (BPE / WordPiece / Unigram...),
// added tokens, decoder; then encoding and decoding a fixed text.
#include "fuzz_common.h"

#include "base/error.h"
#include "base/json_parse.h"
#include "formats/hf_tokenizer.h"
#include "formats/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const nlohmann::json j = lc::parse_json(text, "tokenizer.json");
        auto tok = lc::load_hf_tokenizer_json(j, 1, 2, "tokenizer.json");
        const std::vector<int> ids = tok->encode(
            "Hello, world!  It's 2024 \xc3\xa9t\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd <s>", true);
        (void)tok->decode(ids);
        (void)tok->vocab_size();
    } catch (const lc::Error&) {
    }
    return 0;
}
