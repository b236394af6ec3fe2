#include "formats/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/error.h"

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
        if (v.is_number_integer()) {
            auto x = v.get<int64_t>();
            if (x < INT32_MIN || x > INT32_MAX) fail(key, "is out of range");
            return static_cast<int>(x);
        }
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
    std::vector<int> get_int_list(const char* key) const {
        if (!has(key)) return {};
        const json& v = j_.at(key);
        if (v.is_number_integer()) return {v.get<int>()};
        std::vector<int> out;
        if (v.is_array()) {
            for (const json& x : v) {
                if (!x.is_number_integer()) fail(key, "must be an integer or a list of integers");
                out.push_back(x.get<int>());
            }
            return out;
        }
        fail(key, "must be an integer or a list of integers, got " + v.dump());
    }

private:
    const json& j_;
    std::string source_;
    std::string prefix_;
};

json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path.string());
    try {
        return json::parse(in);
    } catch (const json::parse_error& e) {
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix: users need the reason.
        std::string why = e.what();
        if (auto at = why.find("] "); at != std::string::npos) why = why.substr(at + 2);
        throw Error(path.string() + " is not valid JSON: " + why);
    }
}

RopeType parse_rope_type(const KeyReader& r, const char* key, const std::string& name) {
    if (name == "default" || name == "none" || name.empty()) return RopeType::Default;
    if (name == "linear") return RopeType::Linear;
    if (name == "yarn") return RopeType::Yarn;
    r.fail(key, "is '" + name + "'; supported rope types are default, linear and yarn");
}

// `rope_scaling` (published DeepSeek spelling, "type") or `rope_parameters` (transformers 5,
// "rope_type", with rope_theta inside).
RopeConfig parse_rope(const json& j, const std::string& source, double default_theta) {
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

void require_positive(const KeyReader& r, const char* key, int value) {
    if (value <= 0) r.fail(key, "must be positive, got " + std::to_string(value));
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
    return model_type == ModelType::DeepseekV2 ? "deepseek_v2" : "deepseek_v3";
}

ModelConfig ModelConfig::from_json(const json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source + " must hold a JSON object");
    KeyReader r(j, source);
    ModelConfig c;
    if (!r.has("model_type"))
        r.fail("model_type", "is missing (expected deepseek_v2 or deepseek_v3)");
    std::string type = r.get_string("model_type", "");
    if (type == "deepseek_v2") {
        c.model_type = ModelType::DeepseekV2;
    } else if (type == "deepseek_v3") {
        c.model_type = ModelType::DeepseekV3;
    } else {
        r.fail("model_type", "is '" + type + "'; LatentChat runs deepseek_v2 and deepseek_v3");
    }
    const bool v3 = c.model_type == ModelType::DeepseekV3;

    // Defaults: transformers' DeepseekV2Config / DeepseekV3Config.
    c.vocab_size = r.get_int("vocab_size", v3 ? 129280 : 102400);
    c.hidden_size = r.get_int("hidden_size", v3 ? 7168 : 4096);
    c.intermediate_size = r.get_int("intermediate_size", v3 ? 18432 : 11008);
    c.moe_intermediate_size = r.get_int("moe_intermediate_size", v3 ? 2048 : 1407);
    c.num_hidden_layers = r.get_int("num_hidden_layers", v3 ? 61 : 32);
    c.num_attention_heads = r.get_int("num_attention_heads", v3 ? 128 : 32);
    int kv_heads = r.get_int("num_key_value_heads", c.num_attention_heads);
    c.max_position_embeddings = r.get_int("max_position_embeddings", v3 ? 4096 : 2048);
    c.rms_norm_eps = r.get_double("rms_norm_eps", 1e-6);
    c.q_lora_rank = r.get_optional_int("q_lora_rank", 1536, 0);
    c.kv_lora_rank = r.get_int("kv_lora_rank", 512);
    c.qk_nope_head_dim = r.get_int("qk_nope_head_dim", 128);
    c.qk_rope_head_dim = r.get_int("qk_rope_head_dim", 64);
    c.v_head_dim = r.get_int("v_head_dim", 128);
    c.rope = parse_rope(j, source, 10000.0);
    c.rope_interleave = v3 ? r.get_bool("rope_interleave", true) : true;

    c.n_routed_experts = r.get_optional_int("n_routed_experts", v3 ? 256 : 64, 0);
    c.n_shared_experts = r.get_optional_int("n_shared_experts", v3 ? 1 : 2, 0);
    c.num_experts_per_tok = r.get_optional_int("num_experts_per_tok", v3 ? 8 : 0, 0);
    c.first_k_dense_replace = r.get_int("first_k_dense_replace", v3 ? 3 : 0);
    c.moe_layer_freq = r.get_int("moe_layer_freq", 1);
    c.n_group = r.get_optional_int("n_group", v3 ? 8 : 1, 1);
    c.topk_group = r.get_optional_int("topk_group", v3 ? 4 : 1, 1);
    c.scoring_func = parse_scoring(r, r.get_string("scoring_func", v3 ? "sigmoid" : "softmax"));
    c.topk_method = parse_topk(r, r.get_string("topk_method", v3 ? "noaux_tc" : "greedy"));
    c.norm_topk_prob = r.get_bool("norm_topk_prob", v3);
    c.routed_scaling_factor = r.get_double("routed_scaling_factor", v3 ? 2.5 : 1.0);
    c.tie_word_embeddings = r.get_bool("tie_word_embeddings", false);
    c.bos_token_id = r.get_optional_int("bos_token_id", v3 ? 0 : 1, -1);
    c.eos_token_ids = r.get_int_list("eos_token_id");
    if (!r.has("eos_token_id")) c.eos_token_ids = {v3 ? 1 : 2};

    std::string act = r.get_string("hidden_act", "silu");
    if (act != "silu") r.fail("hidden_act", "is '" + act + "'; DeepSeek models use silu");
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
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        throw Error("model folder " + dir.string() + " does not exist or is not a folder");
    auto config_path = dir / "config.json";
    if (!std::filesystem::exists(config_path, ec))
        throw Error("no config.json in model folder " + dir.string());
    ModelConfig c = from_json(read_json_file(config_path), config_path.string());

    // generation_config.json takes precedence for the ids generation uses.
    auto gen_path = dir / "generation_config.json";
    if (std::filesystem::exists(gen_path, ec)) {
        json g = read_json_file(gen_path);
        if (!g.is_object()) throw Error(gen_path.string() + " must hold a JSON object");
        KeyReader r(g, gen_path.string());
        c.bos_token_id = r.get_optional_int("bos_token_id", c.bos_token_id, -1);
        if (r.has("eos_token_id")) c.eos_token_ids = r.get_int_list("eos_token_id");
        for (int e : c.eos_token_ids)
            if (e < 0 || e >= c.vocab_size) r.fail("eos_token_id", "is outside the vocabulary");
        if (c.bos_token_id >= c.vocab_size) r.fail("bos_token_id", "is not below vocab_size");
    }
    return c;
}

}  // namespace lc
