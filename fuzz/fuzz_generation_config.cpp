// generation_config.json: parse_json (nesting limit, syntax), then
// ModelConfig::apply_generation_config over a fixed small config (BOS/EOS ids, their types,
// ranges and the vocabulary bound).
#include "fuzz_common.h"

#include "base/error.h"
#include "base/json_parse.h"
#include "formats/config.h"

namespace {

const lc::ModelConfig& base_config() {
    static const lc::ModelConfig config = lc::ModelConfig::from_json(
        nlohmann::json::parse(R"({"model_type": "deepseek_v2", "vocab_size": 256,
            "hidden_size": 64, "intermediate_size": 128, "kv_lora_rank": 32,
            "num_attention_heads": 4, "num_key_value_heads": 4, "num_hidden_layers": 2,
            "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16,
            "n_routed_experts": null, "q_lora_rank": null, "bos_token_id": 1,
            "eos_token_id": 2})"),
        "config.json");
    return config;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    lc::ModelConfig c = base_config();
    try {
        c.apply_generation_config(lc::parse_json(text, "generation_config.json"),
                                  "generation_config.json");
    } catch (const lc::Error&) {
        return 0;
    }
    // What generation relies on: every id is inside the vocabulary.
    for (int e : c.eos_token_ids)
        if (e < 0 || e >= c.vocab_size) std::abort();
    if (c.bos_token_id >= c.vocab_size) std::abort();
    return 0;
}
