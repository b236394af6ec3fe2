// Latent cache files (.lckv): load_latent_cache into a small cache (2 layers, 4 + 2 numbers per
// row, pages of 4 tokens, at most 40 tokens). A bad file must be ignored with a reason, the cache
// left empty; a used one restores rows that read back. The last input byte is not part of the
// file: its bit 0 recomputes the header checksum and bit 1 the payload checksum before the file
// is written, so that mutations reach the checks behind them (the seeds set both).
#include "fuzz_common.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <numeric>
#include <vector>

#include "base/error.h"
#include "engine/cache_file.h"
#include "engine/kv_cache.h"
#include "formats/config.h"

namespace {

constexpr char kFingerprint[] = "fuzz-fingerprint";
constexpr int kMaxTokens = 40;

const lc::ModelConfig& config() {
    static const lc::ModelConfig c = lc::ModelConfig::from_json(
        nlohmann::json::parse(R"({"model_type": "deepseek_v2", "vocab_size": 256,
            "hidden_size": 16, "intermediate_size": 32, "kv_lora_rank": 4,
            "num_attention_heads": 2, "num_key_value_heads": 2, "num_hidden_layers": 2,
            "qk_nope_head_dim": 4, "qk_rope_head_dim": 2, "v_head_dim": 4,
            "n_routed_experts": null, "q_lora_rank": null})"),
        "config.json");
    return c;
}

void write_u64(std::vector<uint8_t>& f, size_t at, uint64_t v) {
    std::memcpy(f.data() + at, &v, 8);
}

// Recomputes the checksums where the header says they are (cache_file.h's layout).
void fix_up(std::vector<uint8_t>& f, uint8_t control) {
    if (f.size() < 12) return;
    uint32_t header_bytes;
    std::memcpy(&header_bytes, f.data() + 8, 4);
    if (header_bytes < 24 || header_bytes > f.size()) return;
    if (control & 2) {
        const std::span<const uint8_t> payload(f.data() + header_bytes, f.size() - header_bytes);
        write_u64(f, header_bytes - 16, lc::latent_cache_checksum(payload));
    }
    if (control & 1)
        write_u64(f, header_bytes - 8,
                  lc::latent_cache_checksum(std::span<const uint8_t>(f.data(), header_bytes - 8)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::vector<uint8_t> bytes(data, data + size - 1);
    fix_up(bytes, data[size - 1]);
    const std::filesystem::path file = fuzz::write_file("cache.lckv", bytes.data(), bytes.size());

    static lc::HostPageAllocator allocator;
    lc::LatentCache cache(config(), kMaxTokens, allocator, 4);
    std::vector<int> expected(kMaxTokens + 8);
    std::iota(expected.begin(), expected.end(), 1);
    std::vector<int> tokens;
    const lc::LoadedCache loaded =
        lc::load_latent_cache(file, cache, tokens, kFingerprint, expected);
    if (!loaded.used) {
        if (cache.size() != 0 || !tokens.empty() || loaded.reason.empty()) std::abort();
        return 0;
    }
    if (loaded.tokens_restored < 1 || loaded.tokens_restored > kMaxTokens ||
        cache.size() != loaded.tokens_restored ||
        tokens.size() != static_cast<size_t>(loaded.tokens_restored))
        std::abort();
    std::vector<float> rows(static_cast<size_t>(cache.size()) * cache.row_elements());
    for (int l = 0; l < cache.layers(); ++l)
        cache.read_rows(l, 0, cache.size(), rows.data());
    return 0;
}
