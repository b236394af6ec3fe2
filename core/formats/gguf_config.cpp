// ModelConfig from a GGUF file of architecture "deepseek2" (DeepSeek-V2/V2.5/V3/R1, Kimi K2,
// GLM-4.7-Flash as llama.cpp converts them), read as llama.cpp reads it: the general keys of
// llama_model::load_hparams, those of src/models/deepseek2.cpp, and the YaRN factors of
// llama_context. What each key becomes, and where llama.cpp's math differs from transformers':
//
//  block_count - nextn_predict_layers   num_hidden_layers (MTP layers follow the trunk)
//  context_length                       max_position_embeddings
//  attention.key_length_mla / value_length_mla (converters since 2025 write MLA as MQA:
//      key_length = kv_lora_rank + rope dim, value_length = kv_lora_rank): qk_nope_head_dim =
//      key_length_mla - rope.dimension_count, v_head_dim = value_length_mla. Older files have no
//      *_mla keys: key_length = nope + rope, value_length = v_head_dim.
//  expert_gating_func 1/2               softmax/sigmoid; absent: sigmoid for GLM-4.7-Flash's
//                                       shape (47/48 layers, 154880 tokens), else softmax
//  expert_group_count > 1               llama.cpp ranks groups by the sum of their two best
//                                       scores for every model, also DeepSeek-V2 (transformers:
//                                       the best one): TopkMethod::NoauxTc
//  expert_weights_norm / _scale         norm_topk_prob / routed_scaling_factor (0: 1)
//  rope.scaling.yarn_log_multiplier     0.1 * mscale_all_dim (the converter's factor): llama.cpp
//      multiplies the attention scale by mscale(factor, mscale_all_dim)^2 and, taking mscale =
//      mscale_all_dim for deepseek2, leaves cos/sin unscaled. Without it llama.cpp scales both
//      cos/sin and the attention by mscale(factor, 1) (once resp. squared).
//  YaRN beta_fast/beta_slow             32 and 1: deepseek2 does not read the rope.scaling.yarn_*
//                                       keys, so they are listed as unread
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>

#include "base/error.h"
#include "formats/config.h"
#include "formats/gguf.h"

namespace lc {
namespace {

constexpr const char* kArch = "deepseek2";

// Reads deepseek2.* keys, remembering which were read; errors name the file and the key.
class MetaReader {
public:
    explicit MetaReader(const GgufFile& file) : f_(file) {}

    static std::string key(const char* name) { return std::string(kArch) + "." + name; }
    bool has(const char* name) const { return f_.find(key(name)) != nullptr; }
    [[noreturn]] void fail(const char* name, const std::string& message) const {
        f_.fail_key(key(name), message);
    }

    // An integer in [lo, hi]; `fallback` when absent (none: the key is required).
    int get_int(const char* name, std::optional<int> fallback, int lo, int hi) {
        read_.insert(key(name));
        const std::optional<int64_t> v = f_.get_int(key(name));
        if (!v) {
            if (!fallback) fail(name, "is missing");
            return *fallback;
        }
        return in_range(name, *v, lo, hi);
    }
    // The same for keys llama.cpp also takes as one value per layer: such an array must hold
    // `layers` equal values (per-layer sizes are not supported).
    int get_layer_int(const char* name, std::optional<int> fallback, int lo, int hi, int layers) {
        const GgufValue* v = f_.find(key(name));
        if (!v || !v->is_array()) return get_int(name, fallback, lo, hi);
        read_.insert(key(name));
        const std::vector<int64_t> all = f_.get_ints(key(name));
        if (static_cast<int64_t>(all.size()) != layers)
            fail(name, "holds " + std::to_string(all.size()) + " values for " +
                           std::to_string(layers) + " layers");
        for (int64_t x : all)
            if (x != all.front())
                fail(name, "differs between layers, which LatentChat does not support");
        return in_range(name, all.front(), lo, hi);
    }
    double get_float(const char* name, double fallback) {
        read_.insert(key(name));
        const std::optional<double> v = f_.get_float(key(name));
        if (!v) return fallback;
        if (!std::isfinite(*v)) fail(name, "must be finite");
        return *v;
    }
    bool get_bool(const char* name, bool fallback) {
        read_.insert(key(name));
        return f_.get_bool(key(name)).value_or(fallback);
    }
    std::optional<std::string> get_string(const char* name) {
        read_.insert(key(name));
        return f_.get_string(key(name));
    }
    // deepseek2.* keys never read.
    std::vector<std::string> unread() const {
        std::vector<std::string> out;
        const std::string prefix = std::string(kArch) + ".";
        for (const auto& [k, v] : f_.metadata())
            if (k.starts_with(prefix) && !read_.count(k)) out.push_back(k);
        return out;
    }

private:
    int in_range(const char* name, int64_t v, int lo, int hi) const {
        if (v < lo || v > hi)
            fail(name, "is " + std::to_string(v) + "; it must be between " + std::to_string(lo) +
                           " and " + std::to_string(hi));
        return static_cast<int>(v);
    }

    const GgufFile& f_;
    std::set<std::string> read_;
};

constexpr int kBig = INT32_MAX;

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// A token id of tokenizer.ggml.* in [0, vocab), or -1 when absent.
int token_id(const GgufFile& f, const char* key, int vocab) {
    const std::optional<int64_t> v = f.get_int(key);
    if (!v) return -1;
    if (*v < 0 || *v >= vocab)
        f.fail_key(key, "is " + std::to_string(*v) + ", outside the vocabulary of " +
                            std::to_string(vocab) + " tokens");
    return static_cast<int>(*v);
}

// The head dimensions of MLA (see the table at the top).
void read_head_dims(MetaReader& r, ModelConfig& c) {
    const int rope = r.get_int("rope.dimension_count", std::nullopt, 2, kBig);
    if (rope % 2 != 0) r.fail("rope.dimension_count", "must be even (RoPE rotates pairs)");
    c.qk_rope_head_dim = rope;
    const int per_head = c.hidden_size / c.num_attention_heads;  // llama.cpp's default
    const int key_length = r.get_int("attention.key_length", per_head, 1, kBig);
    const int value_length = r.get_int("attention.value_length", per_head, 1, kBig);
    const bool has_k_mla = r.has("attention.key_length_mla");
    if (has_k_mla != r.has("attention.value_length_mla"))
        r.fail(has_k_mla ? "attention.value_length_mla" : "attention.key_length_mla",
               "is missing; the file has only one of key_length_mla and value_length_mla");
    int qk_head = key_length;
    c.v_head_dim = value_length;
    if (has_k_mla) {
        qk_head = r.get_int("attention.key_length_mla", std::nullopt, 1, kBig);
        c.v_head_dim = r.get_int("attention.value_length_mla", std::nullopt, 1, kBig);
        // The MQA view of the latent cache: keys are [latent, rope], values the latent.
        if (key_length != c.kv_lora_rank + rope)
            r.fail("attention.key_length", "is " + std::to_string(key_length) +
                                               " but kv_lora_rank + rope.dimension_count is " +
                                               std::to_string(c.kv_lora_rank + rope));
        if (value_length != c.kv_lora_rank)
            r.fail("attention.value_length", "is " + std::to_string(value_length) +
                                                 " but attention.kv_lora_rank is " +
                                                 std::to_string(c.kv_lora_rank));
    }
    const char* qk_key = has_k_mla ? "attention.key_length_mla" : "attention.key_length";
    if (qk_head <= rope)
        r.fail(qk_key, "is " + std::to_string(qk_head) +
                           ", which leaves no non-rotated dimensions beside rope.dimension_count " +
                           std::to_string(rope));
    c.qk_nope_head_dim = qk_head - rope;
}

// RoPE and YaRN (see the table at the top).
void read_rope(MetaReader& r, ModelConfig& c) {
    RopeConfig& rope = c.rope;
    rope.theta = r.get_float("rope.freq_base", 10000.0);
    if (rope.theta <= 0) r.fail("rope.freq_base", "must be positive");
    // llama.cpp's defaults: type "linear", factor from the old rope.scale_linear, else none.
    const std::string type = r.get_string("rope.scaling.type").value_or("linear");
    const char* factor_key =
        r.has("rope.scaling.factor") ? "rope.scaling.factor" : "rope.scale_linear";
    double factor = r.get_float(factor_key, 0.0);
    r.get_float("rope.scale_linear", 0.0);  // read either way
    if (factor == 0.0) factor = 1.0;
    if (factor < 0) r.fail(factor_key, "must be positive");
    const double attn_factor = r.get_float("rope.scaling.attn_factor", 1.0);
    if (attn_factor != 1.0)
        r.fail("rope.scaling.attn_factor",
               "is " + number(attn_factor) +
                   "; llama.cpp scales both the rotation and the attention by it, which "
                   "LatentChat does not implement for deepseek2");
    r.get_bool("rope.scaling.finetuned", false);  // informational
    const int original =
        r.get_int("rope.scaling.original_context_length", c.max_position_embeddings, 1, kBig);
    const double log_mul = r.get_float("rope.scaling.yarn_log_multiplier", 0.0);
    if (type != "none" && type != "linear" && type != "yarn")
        r.fail("rope.scaling.type", "is '" + type + "'; LatentChat reads yarn and none");
    if (type == "none" || factor == 1.0) {
        rope.type = RopeType::Default;
        return;
    }
    if (type == "linear")
        r.fail("rope.scaling.type",
               "is linear with factor " + number(factor) +
                   "; llama.cpp's deepseek2 scales the attention by YaRN's rule even then, which "
                   "LatentChat does not implement (only yarn and none are read)");
    rope.type = RopeType::Yarn;
    rope.factor = factor;
    rope.original_max_position_embeddings = original;
    rope.beta_fast = 32.0;
    rope.beta_slow = 1.0;
    rope.truncate = true;
    if (log_mul != 0.0) {
        // mscale == mscale_all_dim: cos/sin unscaled, attention * mscale(factor, m)^2.
        const double m = log_mul / 0.1;
        rope.mscale = m;
        rope.mscale_all_dim = m;
    } else {
        rope.mscale_all_dim = 1.0;
        rope.attention_factor = yarn_get_mscale(factor, 1.0);
    }
}

// Routed and shared experts (see the table at the top).
void read_experts(MetaReader& r, ModelConfig& c, bool glm_shape) {
    const int layers = c.num_hidden_layers;
    c.n_routed_experts = r.get_int("expert_count", 0, 0, 1 << 16);
    c.first_k_dense_replace = r.get_int("leading_dense_block_count", 0, 0, kBig);
    c.moe_layer_freq = 1;
    const bool any_moe = c.first_k_dense_replace < layers;
    const bool any_dense = c.first_k_dense_replace > 0;
    if (any_dense)
        c.intermediate_size = r.get_layer_int("feed_forward_length", std::nullopt, 1, kBig, layers);
    if (any_moe && c.n_routed_experts == 0)
        r.fail("expert_count", std::string(r.has("expert_count") ? "is 0" : "is missing") +
                                   ", but the layers from leading_dense_block_count (" +
                                   std::to_string(c.first_k_dense_replace) + ") on are MoE");
    const int gating = r.get_int("expert_gating_func", 0, 0, kBig);
    if (gating == 1 || (gating == 0 && !glm_shape)) {
        c.scoring_func = ScoringFunc::Softmax;
    } else if (gating == 2 || gating == 0) {
        c.scoring_func = ScoringFunc::Sigmoid;
    } else {
        r.fail("expert_gating_func", "is " + std::to_string(gating) +
                                         "; LatentChat routes with softmax (1) or sigmoid (2)");
    }
    c.norm_topk_prob = r.get_bool("expert_weights_norm", false);
    c.routed_scaling_factor = r.get_float("expert_weights_scale", 0.0);
    if (c.routed_scaling_factor == 0.0) c.routed_scaling_factor = 1.0;  // llama.cpp: not scaled
    if (c.routed_scaling_factor < 0) r.fail("expert_weights_scale", "must be positive");
    const int groups = r.get_int("expert_group_count", 0, 0, 1 << 16);
    const int groups_used = r.get_int("expert_group_used_count", 0, 0, 1 << 16);
    c.n_shared_experts = r.get_int("expert_shared_count", 0, 0, 1 << 16);
    if (!any_moe) {
        c.n_routed_experts = 0;  // every layer dense: the expert keys say nothing
        return;
    }
    c.moe_intermediate_size =
        r.get_layer_int("expert_feed_forward_length", std::nullopt, 1, kBig, layers);
    c.num_experts_per_tok =
        r.get_layer_int("expert_used_count", std::nullopt, 1, c.n_routed_experts, layers);
    c.topk_method = TopkMethod::Greedy;
    c.n_group = 1;
    c.topk_group = 1;
    if (groups > 1) {
        if (c.n_routed_experts % groups != 0)
            r.fail("expert_group_count", "(" + std::to_string(groups) +
                                             ") must divide expert_count (" +
                                             std::to_string(c.n_routed_experts) + ")");
        const int group_size = c.n_routed_experts / groups;
        if (group_size < 2)
            r.fail("expert_group_count",
                   "leaves fewer than 2 experts per group, which the "
                   "group ranking (its two best) needs");
        if (groups_used < 1 || groups_used > groups)
            r.fail("expert_group_used_count", "must be between 1 and expert_group_count");
        if (c.num_experts_per_tok > groups_used * group_size)
            r.fail("expert_used_count", "is larger than the experts of the groups used");
        c.topk_method = TopkMethod::NoauxTc;
        c.n_group = groups;
        c.topk_group = groups_used;
    }
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const GgufFile& file) {
    const std::string arch = file.architecture();
    if (arch != kArch)
        file.fail_key("general.architecture",
                      "is '" + arch +
                          "'; LatentChat runs GGUF files of architecture deepseek2 (DeepSeek-V2, "
                          "V2.5, V3, R1, Kimi K2, GLM-4.7-Flash)");
    MetaReader r(file);
    ModelConfig c;
    const int blocks = r.get_int("block_count", std::nullopt, 1, 4096);
    const int nextn = r.get_int("nextn_predict_layers", 0, 0, blocks - 1);
    c.num_hidden_layers = blocks - nextn;
    c.max_position_embeddings = r.get_int("context_length", std::nullopt, 1, kBig);
    c.hidden_size = r.get_int("embedding_length", std::nullopt, 1, kBig);
    c.num_attention_heads =
        r.get_layer_int("attention.head_count", std::nullopt, 1, kBig, c.num_hidden_layers);
    const int kv_heads = r.get_layer_int("attention.head_count_kv", c.num_attention_heads, 1, kBig,
                                         c.num_hidden_layers);
    // MLA as MQA (newer files) or as MHA (older): anything else is another model.
    if (kv_heads != 1 && kv_heads != c.num_attention_heads)
        r.fail("attention.head_count_kv", "is " + std::to_string(kv_heads) +
                                              "; multi-head latent attention has 1 (as MQA) or " +
                                              std::to_string(c.num_attention_heads));
    c.rms_norm_eps = r.get_float("attention.layer_norm_rms_epsilon", -1.0);
    if (c.rms_norm_eps <= 0)
        r.fail("attention.layer_norm_rms_epsilon",
               r.has("attention.layer_norm_rms_epsilon") ? "must be positive" : "is missing");
    if (!r.get_bool("attention.causal", true))
        r.fail("attention.causal", "is false; LatentChat runs causal language models");
    if (r.get_float("attention.temperature_scale", 0.0) != 0.0)
        r.fail("attention.temperature_scale",
               "is set; llama.cpp then scales queries by position (Mistral Large), which "
               "LatentChat does not implement");
    r.get_int("attention.temperature_length", 0, 0, kBig);  // meaningful only with the scale

    c.q_lora_rank = r.get_int("attention.q_lora_rank", 0, 0, kBig);
    c.kv_lora_rank = r.get_int("attention.kv_lora_rank", std::nullopt, 1, kBig);
    read_head_dims(r, c);
    read_rope(r, c);
    c.rope_interleave = true;  // llama.cpp rotates adjacent pairs for deepseek2 (ROPE_TYPE_NORM)

    // vocab_size, else the length of the token list (as llama.cpp).
    const GgufValue* tokens = file.find("tokenizer.ggml.tokens");
    const int n_tokens = tokens && tokens->is_array() ? static_cast<int>(tokens->array_size()) : 0;
    c.vocab_size = r.get_int("vocab_size", n_tokens, 1, kBig);
    if (c.vocab_size == 0)
        r.fail("vocab_size", "is missing and the file has no tokenizer.ggml.tokens to count");
    if (n_tokens > c.vocab_size)
        r.fail("vocab_size", "is " + std::to_string(c.vocab_size) +
                                 " but tokenizer.ggml.tokens "
                                 "has " +
                                 std::to_string(n_tokens) + " tokens");

    const bool glm_shape =
        (c.num_hidden_layers == 47 || c.num_hidden_layers == 48) && c.vocab_size == 154880;
    read_experts(r, c, glm_shape);
    c.model_type = c.scoring_func == ScoringFunc::Softmax ? ModelType::DeepseekV2
                   : glm_shape                            ? ModelType::Glm4MoeLite
                                                          : ModelType::DeepseekV3;
    c.tie_word_embeddings =
        !file.find_tensor("output.weight") && file.find_tensor("token_embd.weight");

    // BOS; EOS with the end-of-turn and end-of-message ids, which also end a reply.
    c.bos_token_id = token_id(file, "tokenizer.ggml.bos_token_id", c.vocab_size);
    c.eos_token_ids.clear();
    for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                            "tokenizer.ggml.eom_token_id"}) {
        const int id = token_id(file, key, c.vocab_size);
        if (id >= 0 &&
            std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end())
            c.eos_token_ids.push_back(id);
    }
    c.unread_keys = r.unread();
    return c;
}

}  // namespace lc
