#pragma once
// The model's shape and options, read from a checkpoint's config.json (deepseek_v2, deepseek_v3
// and kimi_k2 read as deepseek_v3, glm4_moe_lite), with the defaults those model types have in
// transformers when a key is absent. Every way the types differ in the math is a field here; the
// forward never asks which type it runs.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lc {

class GgufFile;

enum class ModelType { DeepseekV2, DeepseekV3, Glm4MoeLite };
enum class RopeType { Default, Linear, Yarn };
enum class ScoringFunc { Softmax, Sigmoid };
enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };

struct RopeConfig {
    RopeType type = RopeType::Default;
    double theta = 10000.0;
    double factor = 1.0;
    int original_max_position_embeddings = 0;  // yarn only
    double beta_fast = 32.0;
    double beta_slow = 1.0;
    double mscale = 0.0;            // 0: not set
    double mscale_all_dim = 0.0;    // 0: not set
    double attention_factor = 0.0;  // 0: derived from factor and mscale (transformers' rule)
    bool truncate = true;
};

// quantization_config: absent, or DeepSeek's block-scaled FP8 (the one kind LatentChat loads;
// the weights are dequantized to BF16 at load, docs/design.md section 2.1).
struct QuantizationConfig {
    bool fp8 = false;      // linear weights may be F8_E4M3 with *_scale_inv block scales
    int block_rows = 128;  // weight_block_size
    int block_cols = 128;
};

struct ModelConfig {
    ModelType model_type = ModelType::DeepseekV2;
    int vocab_size = 0;
    int hidden_size = 0;
    int intermediate_size = 0;      // dense SwiGLU layers
    int moe_intermediate_size = 0;  // each expert
    int num_hidden_layers = 0;
    int num_attention_heads = 0;
    int max_position_embeddings = 0;
    double rms_norm_eps = 1e-6;

    // MLA
    int q_lora_rank = 0;  // 0: no query latent (q_proj)
    int kv_lora_rank = 0;
    int qk_nope_head_dim = 0;
    int qk_rope_head_dim = 0;
    int v_head_dim = 0;
    RopeConfig rope;
    bool rope_interleave = true;  // pairs (2i, 2i+1) as DeepSeek checkpoints; false: halves

    // DeepSeekMoE
    int n_routed_experts = 0;  // 0: every layer dense
    int n_shared_experts = 0;
    int num_experts_per_tok = 0;
    int first_k_dense_replace = 0;
    int moe_layer_freq = 1;
    int n_group = 1;
    int topk_group = 1;
    ScoringFunc scoring_func = ScoringFunc::Softmax;
    TopkMethod topk_method = TopkMethod::Greedy;
    // Divide the chosen experts' weights by their sum. Always false for deepseek_v2, whose
    // transformers class ignores the key (docs/design.md section 4.5).
    bool norm_topk_prob = false;
    double routed_scaling_factor = 1.0;
    // Per layer, true where the MLP is MoE (glm4_moe_lite's mlp_layer_types); empty:
    // first_k_dense_replace and moe_layer_freq decide.
    std::vector<bool> moe_layers;
    // Keys of config.json LatentChat does not read and does not know to be harmless (`info` lists
    // them); known math-changing keys of other architectures are errors instead.
    std::vector<std::string> unread_keys;

    bool tie_word_embeddings = false;
    QuantizationConfig quantization;
    int bos_token_id = -1;
    std::vector<int> eos_token_ids;

    int qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
    bool is_moe_layer(int layer) const {
        if (n_routed_experts <= 0) return false;
        if (!moe_layers.empty())
            return layer >= 0 && layer < static_cast<int>(moe_layers.size()) && moe_layers[layer];
        return layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
    }
    // 1/sqrt(qk_head_dim), times mscale^2 under YaRN with mscale_all_dim (docs/design.md 4).
    double softmax_scale() const;
    // The factor cos/sin are multiplied by (YaRN's attention factor; 1 otherwise).
    double rope_attention_factor() const;
    const char* model_type_name() const;

    // Parses and validates; `source` names the file in error messages.
    static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
    // Reads dir/config.json, then BOS/EOS from dir/generation_config.json where present.
    static ModelConfig load(const std::filesystem::path& dir);
    // generation_config.json's BOS/EOS ids over this config's (checked against vocab_size);
    // `source` names the file in error messages.
    void apply_generation_config(const nlohmann::json& g, const std::string& source);
    // The metadata of a GGUF file of architecture "deepseek2", mapped so that the forward
    // computes what llama.cpp computes for it (formats/gguf_config.cpp); throws lc::Error
    // naming the file and key.
    static ModelConfig from_gguf(const GgufFile& file);
};

double yarn_get_mscale(double scale, double mscale);

}  // namespace lc
