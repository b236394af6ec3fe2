#include "formats/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "base/error.h"
#include "base/json_parse.h"
#include "formats/gguf.h"

namespace lc {
namespace {

using nlohmann::json;

// Reads typed keys from one JSON object, naming the file and key in every error.
class KeyReader {
public:
    KeyReader(const json& object, std::string source, std::string prefix = "")
        : j_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

    bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

    [[noreturn]] void fail(const char* key, const std::string& what) const {
        throw Error(source_ + ": '" + prefix_ + key + "' " + what);
    }

    int get_int(const char* key, int fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        // in_int_range: an unsigned 2^64 - 1 read as int64_t would be -1 ("none" for some keys).
        if (v.is_number_integer()) return in_int_range(key, v);
        if (v.is_number_float()) {
            double d = v.get<double>();
            if (std::floor(d) == d && std::abs(d) < 2e9) return static_cast<int>(d);
        }
        fail(key, "must be an integer, got " + v.dump());
    }
    // For keys where null means "none" (q_lora_rank, n_routed_experts): returns `none` then.
    int get_optional_int(const char* key, int fallback, int none) const {
        if (j_.contains(key) && j_.at(key).is_null()) return none;
        return get_int(key, fallback);
    }
    double get_double(const char* key, double fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_number()) fail(key, "must be a number, got " + v.dump());
        double d = v.get<double>();
        if (!std::isfinite(d)) fail(key, "must be finite");
        return d;
    }
    bool get_bool(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_boolean()) fail(key, "must be true or false, got " + v.dump());
        return v.get<bool>();
    }
    std::string get_string(const char* key, const std::string& fallback) const {
        if (!has(key)) return fallback;
        const json& v = j_.at(key);
        if (!v.is_string()) fail(key, "must be a string, got " + v.dump());
        return v.get<std::string>();
    }
    // The value as written, for messages.
    std::string text(const char* key) const { return j_.at(key).dump(); }
    std::vector<int> get_int_list(const char* key) const {
        if (!has(key)) return {};
        const json& v = j_.at(key);
        if (v.is_number_integer()) return {in_int_range(key, v)};
        std::vector<int> out;
        if (v.is_array()) {
            for (const json& x : v) {
                if (!x.is_number_integer()) fail(key, "must be an integer or a list of integers");
                out.push_back(in_int_range(key, x));
            }
            return out;
        }
        fail(key, "must be an integer or a list of integers, got " + v.dump());
    }

private:
    // An integer that fits an int (a larger one was silently cut before).
    int in_int_range(const char* key, const json& v) const {
        if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX))
            fail(key, "is out of range: " + v.dump());
        const auto x = v.get<int64_t>();
        if (x < INT32_MIN || x > INT32_MAX) fail(key, "is out of range: " + v.dump());
        return static_cast<int>(x);
    }

    const json& j_;
    std::string source_;
    std::string prefix_;
};

json read_json_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw Error(path.string() + " is a folder, where a JSON file was expected");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path.string());
    return parse_json(in, path.string());
}

// Keys of published configs of other architectures that change the math in ways LatentChat does
// not implement: a model carrying one must not load and compute something else.
// clang-format off
const std::set<std::string_view> kUnsupportedKeys = {
    "sliding_window", "qk_layernorm", "use_qk_norm", "index_topk", "index_n_heads",
    "index_head_dim", "attention_chunk_size", "layer_types", "use_sliding_window",
    // rope_scaling variants of other families
    "llama_4_scaling_beta", "short_factor", "long_factor", "low_freq_factor", "high_freq_factor"};
// clang-format on

// Sorts the keys of `object` that are not null and not in `known`: one of kUnsupportedKeys is an
// error naming it; any other goes to `unread` (shown by `info`), so a harmless extra key in a
// derived checkpoint does not stop it from loading.
void check_keys(const json& object, const KeyReader& r, const std::set<std::string_view>& known,
                const std::string& prefix, std::vector<std::string>& unread) {
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (it->is_null() || known.count(it.key())) continue;
        if (kUnsupportedKeys.count(it.key()))
            r.fail(it.key().c_str(),
                   "changes the model's math in a way LatentChat does not "
                   "implement (" +
                       it->dump() + ")");
        unread.push_back(prefix + it.key());
    }
}

// transformers rotates qk_rope_head_dim * partial_rotary_factor dimensions (head_dim is the rope
// dim in these configs); MLA's decoupled RoPE needs all of them, and transformers' attention fails
// on any other factor too.
void check_partial_rotary(const KeyReader& r) {
    if (!r.has("partial_rotary_factor")) return;
    if (r.get_double("partial_rotary_factor", 1.0) != 1.0)
        r.fail("partial_rotary_factor",
               "is " + r.text("partial_rotary_factor") +
                   "; MLA rotates all qk_rope_head_dim dimensions, so only 1.0 is supported");
}

RopeType parse_rope_type(const KeyReader& r, const char* key, const std::string& name) {
    if (name == "default" || name == "none" || name.empty()) return RopeType::Default;
    if (name == "linear") return RopeType::Linear;
    if (name == "yarn") return RopeType::Yarn;
    r.fail(key, "is '" + name + "'; supported rope types are default, linear and yarn");
}

// `rope_scaling` (published DeepSeek spelling, "type") or `rope_parameters` (transformers 5,
// "rope_type", with rope_theta inside).
RopeConfig parse_rope(const json& j, const std::string& source, double default_theta,
                      std::vector<std::string>& unread) {
    RopeConfig rope;
    KeyReader top(j, source);
    rope.theta = top.get_double("rope_theta", default_theta);
    const char* block_key = nullptr;
    if (top.has("rope_parameters")) block_key = "rope_parameters";
    if (top.has("rope_scaling")) {
        if (block_key) {
            // Both spellings: accept only when they agree on what matters.
            const json& a = j.at("rope_parameters");
            const json& b = j.at("rope_scaling");
            auto type_of = [](const json& o) {
                std::string t = o.value("rope_type", o.value("type", std::string("default")));
                return t;
            };
            if (!a.is_object() || !b.is_object() || type_of(a) != type_of(b) ||
                a.value("factor", 1.0) != b.value("factor", 1.0))
                throw Error(source +
                            ": 'rope_scaling' and 'rope_parameters' disagree; keep one of them");
        } else {
            block_key = "rope_scaling";
        }
    }
    if (!block_key) return rope;
    const json& block = j.at(block_key);
    if (!block.is_object()) top.fail(block_key, "must be an object");
    KeyReader r(block, source, std::string(block_key) + ".");
    check_keys(block, r,
               {"type", "rope_type", "rope_theta", "factor", "original_max_position_embeddings",
                "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "attention_factor",
                "truncate", "partial_rotary_factor"},
               std::string(block_key) + ".", unread);
    check_partial_rotary(r);
    std::string type = r.get_string("rope_type", r.get_string("type", "default"));
    rope.type = parse_rope_type(r, r.has("rope_type") ? "rope_type" : "type", type);
    rope.theta = r.get_double("rope_theta", rope.theta);
    if (rope.theta <= 0) r.fail("rope_theta", "must be positive");
    if (rope.type == RopeType::Default) return rope;
    if (!r.has("factor")) r.fail("factor", "is required for rope type " + type);
    rope.factor = r.get_double("factor", 1.0);
    if (rope.factor <= 0) r.fail("factor", "must be positive");
    if (rope.type == RopeType::Yarn) {
        rope.original_max_position_embeddings = r.get_int("original_max_position_embeddings", 0);
        if (rope.original_max_position_embeddings <= 0)
            r.fail("original_max_position_embeddings", "is required for yarn and must be positive");
        rope.beta_fast = r.get_double("beta_fast", 32.0);
        rope.beta_slow = r.get_double("beta_slow", 1.0);
        if (rope.beta_fast == 0) rope.beta_fast = 32.0;  // transformers: `or 32`
        if (rope.beta_slow == 0) rope.beta_slow = 1.0;
        rope.attention_factor = r.get_double("attention_factor", 0.0);
        rope.truncate = r.get_bool("truncate", true);
    }
    rope.mscale = r.get_double("mscale", 0.0);
    rope.mscale_all_dim = r.get_double("mscale_all_dim", 0.0);
    return rope;
}

ScoringFunc parse_scoring(const KeyReader& r, const std::string& s) {
    if (s == "softmax") return ScoringFunc::Softmax;
    if (s == "sigmoid") return ScoringFunc::Sigmoid;
    r.fail("scoring_func", "is '" + s + "'; supported: softmax, sigmoid");
}

TopkMethod parse_topk(const KeyReader& r, const std::string& s) {
    if (s == "greedy") return TopkMethod::Greedy;
    if (s == "group_limited_greedy") return TopkMethod::GroupLimitedGreedy;
    if (s == "noaux_tc") return TopkMethod::NoauxTc;
    r.fail("topk_method", "is '" + s + "'; supported: greedy, group_limited_greedy, noaux_tc");
}

// quantization_config: only DeepSeek's block-scaled FP8 E4M3 with dynamic activations loads;
// transformers' defaults (fmt e4m3, dynamic, [128, 128]) fill absent keys.
QuantizationConfig parse_quantization(const json& j, const std::string& source) {
    QuantizationConfig q;
    if (!j.contains("quantization_config") || j.at("quantization_config").is_null()) return q;
    const json& block = j.at("quantization_config");
    if (!block.is_object()) KeyReader(j, source).fail("quantization_config", "must be an object");
    KeyReader r(block, source, "quantization_config.");
    if (!r.has("quant_method"))
        r.fail("quant_method", "is missing; LatentChat loads fp8 (block-scaled E4M3) checkpoints");
    const std::string method = r.get_string("quant_method", "");
    if (method != "fp8")
        r.fail("quant_method", "is '" + method +
                                   "'; LatentChat loads only fp8 quantization (E4M3 weights "
                                   "with block scales, as DeepSeek-V3 ships)");
    const std::string fmt = r.get_string("fmt", "e4m3");
    if (fmt != "e4m3") r.fail("fmt", "is '" + fmt + "'; only e4m3 FP8 weights are supported");
    const std::string act = r.get_string("activation_scheme", "dynamic");
    if (act != "dynamic")
        r.fail("activation_scheme",
               "is '" + act + "'; only dynamic is supported (static activation scales are not)");
    if (block.contains("weight_block_size")) {
        const json& v = block.at("weight_block_size");
        if (v.is_null())
            r.fail("weight_block_size",
                   "is null (one scale per tensor); LatentChat reads block-scaled FP8 only");
        auto positive = [](const json& x) {
            return x.is_number_integer() && x.get<int64_t>() > 0 && x.get<int64_t>() <= INT32_MAX;
        };
        if (!v.is_array() || v.size() != 2 || !positive(v[0]) || !positive(v[1]))
            r.fail("weight_block_size",
                   "must be two positive integers [rows, cols], got " + v.dump());
        q.block_rows = v[0].get<int>();
        q.block_cols = v[1].get<int>();
    }
    q.fp8 = true;
    return q;
}

void require_positive(const KeyReader& r, const char* key, int value) {
    if (value <= 0) r.fail(key, "must be positive, got " + std::to_string(value));
}

// Sizes far beyond any published model (DeepSeek-V3: 61 layers, 7168 hidden, 129280 tokens) are
// refused before anything is sized by them: the products of these limits fit in int64.
void require_at_most(const KeyReader& r, const char* key, int value, int limit) {
    if (value > limit)
        r.fail(key, "is " + std::to_string(value) + ", more than LatentChat accepts (" +
                        std::to_string(limit) + ")");
}

}  // namespace

double yarn_get_mscale(double scale, double mscale) {
    if (scale <= 1.0) return 1.0;
    return 0.1 * mscale * std::log(scale) + 1.0;
}

double ModelConfig::softmax_scale() const {
    double scale = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
    // transformers' yarn_apply_mscale: any non-default rope type with mscale_all_dim set.
    if (rope.type != RopeType::Default && rope.mscale_all_dim != 0.0) {
        double m = yarn_get_mscale(rope.factor, rope.mscale_all_dim);
        scale *= m * m;
    }
    return scale;
}

double ModelConfig::rope_attention_factor() const {
    if (rope.type != RopeType::Yarn) return 1.0;
    if (rope.attention_factor != 0.0) return rope.attention_factor;
    if (rope.mscale != 0.0 && rope.mscale_all_dim != 0.0)
        return yarn_get_mscale(rope.factor, rope.mscale) /
               yarn_get_mscale(rope.factor, rope.mscale_all_dim);
    return yarn_get_mscale(rope.factor, 1.0);
}

const char* ModelConfig::model_type_name() const {
    switch (model_type) {
        case ModelType::DeepseekV2:
            return "deepseek_v2";
        case ModelType::DeepseekV3:
            return "deepseek_v3";
        case ModelType::Glm4MoeLite:
            return "glm4_moe_lite";
    }
    return "deepseek_v2";
}

namespace {

// What transformers' config class of each model type assumes for a key config.json leaves out.
struct TypeDefaults {
    int vocab, hidden, intermediate, moe_intermediate, layers, heads, max_positions;
    double rms_norm_eps;
    int q_lora, kv_lora, nope, rope, v;
    int routed, shared, per_token, first_dense, groups, topk_groups;
    bool norm_topk_prob;
    double routed_scaling;
    int bos, eos;
};
// DeepseekV2Config, DeepseekV3Config, Glm4MoeLiteConfig.
// clang-format off
constexpr TypeDefaults kV2Defaults{
    .vocab = 102400, .hidden = 4096, .intermediate = 11008, .moe_intermediate = 1407, .layers = 32,
    .heads = 32, .max_positions = 2048, .rms_norm_eps = 1e-6, .q_lora = 1536, .kv_lora = 512,
    .nope = 128, .rope = 64, .v = 128, .routed = 64, .shared = 2, .per_token = 0,
    .first_dense = 0, .groups = 1, .topk_groups = 1, .norm_topk_prob = false,
    .routed_scaling = 1.0, .bos = 1, .eos = 2};
constexpr TypeDefaults kV3Defaults{
    .vocab = 129280, .hidden = 7168, .intermediate = 18432, .moe_intermediate = 2048, .layers = 61,
    .heads = 128, .max_positions = 4096, .rms_norm_eps = 1e-6, .q_lora = 1536, .kv_lora = 512,
    .nope = 128, .rope = 64, .v = 128, .routed = 256, .shared = 1, .per_token = 8,
    .first_dense = 3, .groups = 8, .topk_groups = 4, .norm_topk_prob = true,
    .routed_scaling = 2.5, .bos = 0, .eos = 1};
constexpr TypeDefaults kGlmDefaults{
    .vocab = 154880, .hidden = 2048, .intermediate = 10240, .moe_intermediate = 1536, .layers = 47,
    .heads = 20, .max_positions = 202752, .rms_norm_eps = 1e-5, .q_lora = 768, .kv_lora = 512,
    .nope = 192, .rope = 64, .v = 256, .routed = 64, .shared = 1, .per_token = 4,
    .first_dense = 1, .groups = 1, .topk_groups = 1, .norm_topk_prob = true,
    .routed_scaling = 1.8, .bos = 0, .eos = 1};

// Keys from_json reads, or checks to hold a value that changes nothing.
const std::set<std::string_view> kReadKeys = {
    "model_type", "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
    "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
    "rms_norm_eps", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
    "v_head_dim", "head_dim", "rope_theta", "rope_scaling", "rope_parameters",
    "partial_rotary_factor", "rope_interleave", "n_routed_experts", "n_shared_experts",
    "num_experts_per_tok", "first_k_dense_replace", "moe_layer_freq", "mlp_layer_types", "n_group",
    "topk_group", "scoring_func", "topk_method", "norm_topk_prob", "routed_scaling_factor",
    "tie_word_embeddings", "quantization_config", "bos_token_id", "eos_token_id", "hidden_act",
    "attention_bias", "mlp_bias", "num_nextn_predict_layers"};

// Keys that change nothing LatentChat computes: names and provenance, storage dtype, training
// and parallelism settings, generation defaults, and qk_head_dim (transformers recomputes it).
const std::set<std::string_view> kIgnoredKeys = {
    "architectures", "auto_map", "_name_or_path", "transformers_version", "torch_dtype", "dtype",
    "use_cache", "initializer_range", "attention_dropout", "aux_loss_alpha", "seq_aux", "ep_size",
    "pretraining_tp", "pad_token_id", "qk_head_dim", "output_router_logits",
    "router_aux_loss_coef", "use_bfloat16", "return_dict", "output_hidden_states",
    "output_attentions", "torchscript", "chunk_size_feed_forward", "is_encoder_decoder",
    "is_decoder", "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "temperature", "top_k", "top_p",
    "repetition_penalty", "length_penalty", "num_return_sequences", "id2label", "label2id",
    "tokenizer_class", "sep_token_id", "decoder_start_token_id", "_commit_hash",
    "_attn_implementation"};
// clang-format on

// The layers whose MLP is MoE, as DeepSeek's code places them (transformers' DeepSeek classes
// read first_k_dense_replace alone; every published config has moe_layer_freq 1).
std::vector<bool> moe_layers_by_count(int layers, int first_dense, int freq) {
    std::vector<bool> out(layers);
    for (int l = 0; l < layers; ++l)
        out[l] = l >= first_dense && l % freq == 0;
    return out;
}

std::vector<bool> parse_mlp_layer_types(const json& j, const KeyReader& r, int layers) {
    const json& v = j.at("mlp_layer_types");
    if (!v.is_array() || static_cast<int64_t>(v.size()) != layers)
        r.fail("mlp_layer_types", "must list \"dense\" or \"sparse\" for each of the " +
                                      std::to_string(layers) + " layers");
    std::vector<bool> out;
    for (const json& t : v) {
        if (t == "dense" || t == "sparse") {
            out.push_back(t == "sparse");
        } else {
            r.fail("mlp_layer_types",
                   "holds " + t.dump() + "; each entry is \"dense\" or \"sparse\"");
        }
    }
    return out;
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source + " must hold a JSON object");
    KeyReader r(j, source);
    ModelConfig c;
    if (!r.has("model_type"))
        r.fail("model_type", "is missing (expected deepseek_v2, deepseek_v3 or glm4_moe_lite)");
    std::string type = r.get_string("model_type", "");
    if (type == "deepseek_v2") {
        c.model_type = ModelType::DeepseekV2;
    } else if (type == "deepseek_v3" || type == "kimi_k2") {
        // Kimi K2 is DeepseekV3ForCausalLM under its own name (Moonshot's model card says so).
        c.model_type = ModelType::DeepseekV3;
    } else if (type == "glm4_moe_lite") {
        c.model_type = ModelType::Glm4MoeLite;
    } else {
        r.fail("model_type", "is '" + type +
                                 "'; LatentChat runs deepseek_v2, deepseek_v3 (and kimi_k2) and "
                                 "glm4_moe_lite");
    }
    std::set<std::string_view> known = kReadKeys;
    known.insert(kIgnoredKeys.begin(), kIgnoredKeys.end());
    check_keys(j, r, known, "", c.unread_keys);
    const bool v2 = c.model_type == ModelType::DeepseekV2;
    const bool glm = c.model_type == ModelType::Glm4MoeLite;
    const TypeDefaults& d = v2 ? kV2Defaults : glm ? kGlmDefaults : kV3Defaults;

    c.vocab_size = r.get_int("vocab_size", d.vocab);
    c.hidden_size = r.get_int("hidden_size", d.hidden);
    c.intermediate_size = r.get_int("intermediate_size", d.intermediate);
    c.moe_intermediate_size = r.get_int("moe_intermediate_size", d.moe_intermediate);
    c.num_hidden_layers = r.get_int("num_hidden_layers", d.layers);
    c.num_attention_heads = r.get_int("num_attention_heads", d.heads);
    int kv_heads = r.get_int("num_key_value_heads", c.num_attention_heads);
    c.max_position_embeddings = r.get_int("max_position_embeddings", d.max_positions);
    c.rms_norm_eps = r.get_double("rms_norm_eps", d.rms_norm_eps);
    c.q_lora_rank = r.get_optional_int("q_lora_rank", d.q_lora, 0);
    c.kv_lora_rank = r.get_int("kv_lora_rank", d.kv_lora);
    c.qk_nope_head_dim = r.get_int("qk_nope_head_dim", d.nope);
    c.qk_rope_head_dim = r.get_int("qk_rope_head_dim", d.rope);
    c.v_head_dim = r.get_int("v_head_dim", d.v);
    c.rope = parse_rope(j, source, 10000.0, c.unread_keys);
    check_partial_rotary(r);
    // transformers' DeepseekV2 has no rope_interleave switch: its RoPE is always interleaved.
    c.rope_interleave = v2 ? true : r.get_bool("rope_interleave", true);
    // Glm4MoeLiteConfig maps head_dim onto qk_rope_head_dim; the DeepSeek classes overwrite
    // head_dim with qk_rope_head_dim, so there it says nothing.
    if (glm && r.has("head_dim") && r.get_int("head_dim", 0) != c.qk_rope_head_dim)
        r.fail("head_dim", "is " + r.text("head_dim") + " but qk_rope_head_dim is " +
                               std::to_string(c.qk_rope_head_dim) +
                               "; glm4_moe_lite reads head_dim as another name for it");

    c.n_routed_experts = r.get_optional_int("n_routed_experts", d.routed, 0);
    c.n_shared_experts = r.get_optional_int("n_shared_experts", d.shared, 0);
    c.num_experts_per_tok = r.get_optional_int("num_experts_per_tok", d.per_token, 0);
    c.first_k_dense_replace = r.get_int("first_k_dense_replace", d.first_dense);
    c.moe_layer_freq = r.get_int("moe_layer_freq", 1);
    c.n_group = r.get_optional_int("n_group", d.groups, 1);
    c.topk_group = r.get_optional_int("topk_group", d.topk_groups, 1);
    // transformers reads neither key: V2 routes with softmax scores, V3 and GLM with sigmoid
    // scores and noaux_tc (DeepSeek's own code refuses any other pairing).
    c.scoring_func = parse_scoring(r, r.get_string("scoring_func", v2 ? "softmax" : "sigmoid"));
    c.topk_method = parse_topk(r, r.get_string("topk_method", v2 ? "greedy" : "noaux_tc"));
    if (v2 && c.scoring_func != ScoringFunc::Softmax)
        r.fail("scoring_func", "is 'sigmoid'; deepseek_v2 routes with softmax scores");
    if (v2 && c.topk_method == TopkMethod::NoauxTc)
        r.fail("topk_method",
               "is 'noaux_tc'; deepseek_v2 routes with greedy or group_limited_greedy");
    if (!v2 && c.scoring_func != ScoringFunc::Sigmoid)
        r.fail("scoring_func", "is 'softmax'; " + type + " routes with sigmoid scores");
    if (!v2 && c.topk_method != TopkMethod::NoauxTc)
        r.fail("topk_method",
               "is '" + r.get_string("topk_method", "") + "'; " + type + " routes with noaux_tc");
    c.norm_topk_prob = r.get_bool("norm_topk_prob", d.norm_topk_prob);
    if (v2) c.norm_topk_prob = false;  // transformers' DeepseekV2 never reads it
    c.routed_scaling_factor = r.get_double("routed_scaling_factor", d.routed_scaling);
    c.tie_word_embeddings = r.get_bool("tie_word_embeddings", false);
    c.quantization = parse_quantization(j, source);
    c.bos_token_id = r.get_optional_int("bos_token_id", d.bos, -1);
    c.eos_token_ids = r.get_int_list("eos_token_id");
    if (!r.has("eos_token_id")) c.eos_token_ids = {d.eos};
    // Multi-token-prediction layers are stored after the last layer (model.layers.L...); the
    // weights binder never asks for them, so they are skipped whatever their dtype.
    if (r.get_int("num_nextn_predict_layers", 0) < 0)
        r.fail("num_nextn_predict_layers", "must not be negative");

    std::string act = r.get_string("hidden_act", "silu");
    if (act != "silu")
        r.fail("hidden_act", "is '" + act + "'; DeepSeek and GLM MLA models use silu");
    if (r.get_bool("attention_bias", false)) r.fail("attention_bias", "true is not supported");
    if (r.get_bool("mlp_bias", false)) r.fail("mlp_bias", "true is not supported");

    // Shapes and contradictions.
    require_positive(r, "vocab_size", c.vocab_size);
    require_positive(r, "hidden_size", c.hidden_size);
    require_positive(r, "num_hidden_layers", c.num_hidden_layers);
    require_positive(r, "num_attention_heads", c.num_attention_heads);
    require_positive(r, "kv_lora_rank", c.kv_lora_rank);
    require_positive(r, "qk_nope_head_dim", c.qk_nope_head_dim);
    require_positive(r, "qk_rope_head_dim", c.qk_rope_head_dim);
    require_positive(r, "v_head_dim", c.v_head_dim);
    require_at_most(r, "vocab_size", c.vocab_size, 1 << 22);
    require_at_most(r, "hidden_size", c.hidden_size, 1 << 16);
    require_at_most(r, "num_hidden_layers", c.num_hidden_layers, 1 << 10);
    require_at_most(r, "num_attention_heads", c.num_attention_heads, 1 << 10);
    require_at_most(r, "kv_lora_rank", c.kv_lora_rank, 1 << 14);
    require_at_most(r, "q_lora_rank", c.q_lora_rank, 1 << 16);
    require_at_most(r, "qk_nope_head_dim", c.qk_nope_head_dim, 1 << 12);
    require_at_most(r, "qk_rope_head_dim", c.qk_rope_head_dim, 1 << 12);
    require_at_most(r, "v_head_dim", c.v_head_dim, 1 << 12);
    require_at_most(r, "intermediate_size", c.intermediate_size, 1 << 20);
    require_at_most(r, "moe_intermediate_size", c.moe_intermediate_size, 1 << 18);
    require_at_most(r, "n_routed_experts", c.n_routed_experts, 1 << 12);
    require_at_most(r, "n_shared_experts", c.n_shared_experts, 1 << 8);
    require_at_most(r, "max_position_embeddings", c.max_position_embeddings, 1 << 24);
    if (c.q_lora_rank < 0) r.fail("q_lora_rank", "must be positive or null");
    if (c.qk_rope_head_dim % 2 != 0)
        r.fail("qk_rope_head_dim", "must be even (RoPE rotates pairs)");
    if (kv_heads != c.num_attention_heads)
        r.fail("num_key_value_heads",
               "must equal num_attention_heads in multi-head latent attention (got " +
                   std::to_string(kv_heads) + " and " + std::to_string(c.num_attention_heads) +
                   ")");
    if (c.rms_norm_eps <= 0) r.fail("rms_norm_eps", "must be positive");
    if (c.max_position_embeddings <= 0) r.fail("max_position_embeddings", "must be positive");
    if (c.first_k_dense_replace < 0) r.fail("first_k_dense_replace", "must not be negative");
    if (c.moe_layer_freq <= 0) r.fail("moe_layer_freq", "must be positive");
    if (c.bos_token_id >= c.vocab_size) r.fail("bos_token_id", "is not below vocab_size");
    for (int e : c.eos_token_ids)
        if (e < 0 || e >= c.vocab_size) r.fail("eos_token_id", "is outside the vocabulary");

    // Which layers are MoE. DeepSeek: first_k_dense_replace (mlp_layer_types, where a config has
    // it, must agree). GLM: transformers reads only mlp_layer_types, by default one dense layer
    // and then MoE; first_k_dense_replace or moe_layer_freq, where given, must agree with it.
    const std::vector<bool> by_count =
        moe_layers_by_count(c.num_hidden_layers, c.first_k_dense_replace, c.moe_layer_freq);
    const bool has_list = r.has("mlp_layer_types");
    std::vector<bool> listed =
        has_list ? parse_mlp_layer_types(j, r, c.num_hidden_layers) : std::vector<bool>{};
    if (!glm && has_list && listed != by_count)
        r.fail("mlp_layer_types",
               "disagrees with first_k_dense_replace and moe_layer_freq, by which " + type +
                   " places its MoE layers");
    if (glm) {
        if (!has_list) listed = moe_layers_by_count(c.num_hidden_layers, 1, 1);
        if ((r.has("first_k_dense_replace") || r.has("moe_layer_freq")) && listed != by_count)
            r.fail(r.has("first_k_dense_replace") ? "first_k_dense_replace" : "moe_layer_freq",
                   "disagrees with " +
                       std::string(has_list ? "mlp_layer_types"
                                            : "glm4_moe_lite's layer pattern (one dense layer, "
                                              "then MoE; transformers reads only "
                                              "mlp_layer_types)") +
                       "; give mlp_layer_types to say which layers are MoE");
        c.moe_layers = listed;
        // For display: the dense layers before the first MoE one.
        c.first_k_dense_replace = 0;
        while (c.first_k_dense_replace < c.num_hidden_layers && !listed[c.first_k_dense_replace])
            ++c.first_k_dense_replace;
        c.moe_layer_freq = 1;
    }

    bool any_dense = false, any_moe = false;
    for (int l = 0; l < c.num_hidden_layers; ++l)
        (c.is_moe_layer(l) ? any_moe : any_dense) = true;
    if (any_dense) require_positive(r, "intermediate_size", c.intermediate_size);
    if (any_moe) {
        require_positive(r, "moe_intermediate_size", c.moe_intermediate_size);
        if (c.num_experts_per_tok <= 0)
            r.fail("num_experts_per_tok", "must be set when the model has MoE layers");
        if (c.num_experts_per_tok > c.n_routed_experts)
            r.fail("num_experts_per_tok", "is larger than n_routed_experts");
        if (c.n_shared_experts < 0) r.fail("n_shared_experts", "must not be negative");
        if (c.routed_scaling_factor <= 0) r.fail("routed_scaling_factor", "must be positive");
        if (c.topk_method != TopkMethod::Greedy) {
            require_positive(r, "n_group", c.n_group);
            if (c.n_routed_experts % c.n_group != 0)
                r.fail("n_group",
                       "must divide n_routed_experts (" + std::to_string(c.n_routed_experts) + ")");
            if (c.topk_group <= 0 || c.topk_group > c.n_group)
                r.fail("topk_group", "must be between 1 and n_group");
            int group_size = c.n_routed_experts / c.n_group;
            if (c.num_experts_per_tok > c.topk_group * group_size)
                r.fail("num_experts_per_tok", "is larger than the experts in topk_group groups");
            if (c.topk_method == TopkMethod::NoauxTc && group_size < 2)
                r.fail("n_group", "leaves fewer than 2 experts per group, which noaux_tc needs");
        }
    }
    return c;
}

ModelConfig ModelConfig::load(const std::filesystem::path& dir) {
    if (is_gguf_path(dir)) return from_gguf(GgufFile::open(dir));  // the config is in the file
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        throw Error("model folder " + dir.string() + " does not exist or is not a folder");
    auto config_path = dir / "config.json";
    if (!std::filesystem::exists(config_path, ec))
        throw Error("no config.json in model folder " + dir.string());
    ModelConfig c = from_json(read_json_file(config_path), config_path.string());

    // generation_config.json takes precedence for the ids generation uses.
    auto gen_path = dir / "generation_config.json";
    if (std::filesystem::exists(gen_path, ec))
        c.apply_generation_config(read_json_file(gen_path), gen_path.string());
    return c;
}

void ModelConfig::apply_generation_config(const json& g, const std::string& source) {
    if (!g.is_object()) throw Error(source + " must hold a JSON object");
    KeyReader r(g, source);
    bos_token_id = r.get_optional_int("bos_token_id", bos_token_id, -1);
    if (r.has("eos_token_id")) eos_token_ids = r.get_int_list("eos_token_id");
    for (int e : eos_token_ids)
        if (e < 0 || e >= vocab_size) r.fail("eos_token_id", "is outside the vocabulary");
    if (bos_token_id >= vocab_size) r.fail("bos_token_id", "is not below vocab_size");
}

}  // namespace lc
