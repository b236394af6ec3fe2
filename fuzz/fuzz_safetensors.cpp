// The safetensors header: u64 length, JSON of dtypes, shapes and offsets, then the data.
#include "fuzz_common.h"

#include "base/error.h"
#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto file = fuzz::write_file("model.safetensors", data, size);
    try {
        auto archive = lc::SafetensorsArchive::open_file(file);
        size_t total = 0;
        for (const std::string& name : archive.names()) {
            const lc::TensorView& t = archive.get(name);
            (void)t.numel();
            // Every tensor must lie inside the mapped file: touch its first and last byte.
            if (t.nbytes > 0) {
                const auto* p = static_cast<const volatile uint8_t*>(t.data);
                total += p[0] + p[t.nbytes - 1];
            }
        }
        (void)archive.tensor_bytes();
        (void)total;
    } catch (const lc::Error&) {
    }
    return 0;
}
