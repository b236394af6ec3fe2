// GGUF: header, metadata key/values, tensor table; then the model config and the tokenizer read
// from its metadata when the file opens.
#include "fuzz_common.h"

#include "base/error.h"
#include "formats/config.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "formats/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto file = fuzz::write_file("model.gguf", data, size);
    try {
        const lc::GgufFile gguf = lc::GgufFile::open(file);
        try {
            const lc::ModelConfig c = lc::ModelConfig::from_gguf(gguf);
            (void)c;
        } catch (const lc::Error&) {
        }
        auto tok = lc::load_gguf_tokenizer(gguf, -1, -1);
        const std::vector<int> ids = tok->encode("Hello, world! 123 \xc3\xa9t\xc3\xa9", true);
        (void)tok->decode(ids);
    } catch (const lc::Error&) {
    }
    return 0;
}
