// lc::ModelConfig: parsing of the published config.json of every DeepSeek-V2/V3-layout model
// LatentChat runs (DeepSeek-V2, V2-Lite, V2.5, V3, V3.1, R1, Moonlight, Kimi K2, GigaChat3,
// GLM-4.7-Flash) and of the transformers 5 spelling, the YaRN scale factors (transformers'
// rules), each model type's defaults, the generation_config.json override, and the errors: every
// bad config, and every key LatentChat does not know, must throw lc::Error whose message names
// the key (or the file) at fault.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "formats/config.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kSource = "fixture/config.json";

// DeepSeek-V2-Lite's published config.json (trimmed of keys LatentChat ignores but keeping a
// few of them, which must be accepted).
json v2_published() {
    return json::parse(R"({
        "architectures": ["DeepseekV2ForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "aux_loss_alpha": 0.001,
        "bos_token_id": 100000,
        "eos_token_id": 100001,
        "first_k_dense_replace": 1,
        "hidden_act": "silu",
        "hidden_size": 2048,
        "initializer_range": 0.02,
        "intermediate_size": 10944,
        "kv_lora_rank": 512,
        "max_position_embeddings": 163840,
        "model_type": "deepseek_v2",
        "moe_intermediate_size": 1408,
        "moe_layer_freq": 1,
        "n_group": 1,
        "n_routed_experts": 64,
        "n_shared_experts": 2,
        "norm_topk_prob": false,
        "num_attention_heads": 16,
        "num_experts_per_tok": 6,
        "num_hidden_layers": 27,
        "num_key_value_heads": 16,
        "pretraining_tp": 1,
        "q_lora_rank": null,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "beta_fast": 32,
            "beta_slow": 1,
            "factor": 40,
            "mscale": 0.707,
            "mscale_all_dim": 0.707,
            "original_max_position_embeddings": 4096,
            "type": "yarn"
        },
        "rope_theta": 10000,
        "routed_scaling_factor": 1.0,
        "scoring_func": "softmax",
        "seq_aux": true,
        "tie_word_embeddings": false,
        "topk_group": 1,
        "topk_method": "greedy",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.39.3",
        "use_cache": true,
        "v_head_dim": 128,
        "vocab_size": 102400
    })");
}

// deepseek-ai/DeepSeek-V2 (and V2-Chat, V2.5, Coder-V2: the same keys), with its auto_map.
json v2_full_published() {
    return json::parse(R"({
        "architectures": ["DeepseekV2ForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_deepseek.DeepseekV2Config",
            "AutoModel": "modeling_deepseek.DeepseekV2Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV2ForCausalLM"
        },
        "aux_loss_alpha": 0.001,
        "bos_token_id": 100000,
        "eos_token_id": 100001,
        "ep_size": 1,
        "first_k_dense_replace": 1,
        "hidden_act": "silu",
        "hidden_size": 5120,
        "initializer_range": 0.02,
        "intermediate_size": 12288,
        "kv_lora_rank": 512,
        "max_position_embeddings": 163840,
        "model_type": "deepseek_v2",
        "moe_intermediate_size": 1536,
        "moe_layer_freq": 1,
        "n_group": 8,
        "n_routed_experts": 160,
        "n_shared_experts": 2,
        "norm_topk_prob": false,
        "num_attention_heads": 128,
        "num_experts_per_tok": 6,
        "num_hidden_layers": 60,
        "num_key_value_heads": 128,
        "pretraining_tp": 1,
        "q_lora_rank": 1536,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "beta_fast": 32,
            "beta_slow": 1,
            "factor": 40,
            "mscale": 0.707,
            "mscale_all_dim": 0.707,
            "original_max_position_embeddings": 4096,
            "type": "yarn"
        },
        "rope_theta": 10000,
        "routed_scaling_factor": 16.0,
        "scoring_func": "softmax",
        "seq_aux": true,
        "tie_word_embeddings": false,
        "topk_group": 3,
        "topk_method": "group_limited_greedy",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.39.3",
        "use_cache": true,
        "v_head_dim": 128,
        "vocab_size": 102400
    })");
}

// deepseek-ai/DeepSeek-V3 (V3-0324, V3.1 and R1 have the same keys): FP8, one MTP layer.
json v3_published() {
    return json::parse(R"({
        "architectures": ["DeepseekV3ForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_deepseek.DeepseekV3Config",
            "AutoModel": "modeling_deepseek.DeepseekV3Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"
        },
        "aux_loss_alpha": 0.001,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "ep_size": 1,
        "first_k_dense_replace": 3,
        "hidden_act": "silu",
        "hidden_size": 7168,
        "initializer_range": 0.02,
        "intermediate_size": 18432,
        "kv_lora_rank": 512,
        "max_position_embeddings": 163840,
        "model_type": "deepseek_v3",
        "moe_intermediate_size": 2048,
        "moe_layer_freq": 1,
        "n_group": 8,
        "n_routed_experts": 256,
        "n_shared_experts": 1,
        "norm_topk_prob": true,
        "num_attention_heads": 128,
        "num_experts_per_tok": 8,
        "num_hidden_layers": 61,
        "num_key_value_heads": 128,
        "num_nextn_predict_layers": 1,
        "pretraining_tp": 1,
        "q_lora_rank": 1536,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "quantization_config": {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [128, 128]
        },
        "rms_norm_eps": 1e-06,
        "rope_scaling": {
            "beta_fast": 32,
            "beta_slow": 1,
            "factor": 40,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 4096,
            "type": "yarn"
        },
        "rope_theta": 10000,
        "routed_scaling_factor": 2.5,
        "scoring_func": "sigmoid",
        "seq_aux": true,
        "tie_word_embeddings": false,
        "topk_group": 4,
        "topk_method": "noaux_tc",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.33.1",
        "use_cache": true,
        "v_head_dim": 128,
        "vocab_size": 129280
    })");
}

// moonshotai/Moonlight-16B-A3B: deepseek_v3 without a query latent, no groups, no YaRN.
json moonlight_published() {
    return json::parse(R"({
        "architectures": ["DeepseekV3ForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_deepseek.DeepseekV3Config",
            "AutoModel": "modeling_deepseek.DeepseekV3Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"
        },
        "aux_loss_alpha": 0.001,
        "bos_token_id": 163584,
        "eos_token_id": 163586,
        "ep_size": 1,
        "first_k_dense_replace": 1,
        "hidden_act": "silu",
        "hidden_size": 2048,
        "initializer_range": 0.02,
        "intermediate_size": 11264,
        "kv_lora_rank": 512,
        "max_position_embeddings": 8192,
        "model_type": "deepseek_v3",
        "moe_intermediate_size": 1408,
        "moe_layer_freq": 1,
        "n_group": 1,
        "n_routed_experts": 64,
        "n_shared_experts": 2,
        "norm_topk_prob": true,
        "num_attention_heads": 16,
        "num_experts_per_tok": 6,
        "num_hidden_layers": 27,
        "num_key_value_heads": 16,
        "num_nextn_predict_layers": 0,
        "pretraining_tp": 1,
        "q_lora_rank": null,
        "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64,
        "rms_norm_eps": 1e-05,
        "rope_theta": 50000.0,
        "routed_scaling_factor": 2.446,
        "scoring_func": "sigmoid",
        "seq_aux": true,
        "tie_word_embeddings": false,
        "topk_group": 1,
        "topk_method": "noaux_tc",
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.3",
        "use_cache": true,
        "v_head_dim": 128,
        "vocab_size": 163840
    })");
}

// moonshotai/Kimi-K2-Instruct: DeepseekV3ForCausalLM under model_type kimi_k2, YaRN with
// beta_fast = beta_slow = 1, FP8.
json kimi_k2_published() {
    json j = v3_published();
    j.merge_patch(json::parse(R"({
        "bos_token_id": 163584,
        "eos_token_id": 163585,
        "first_k_dense_replace": 1,
        "max_position_embeddings": 131072,
        "model_type": "kimi_k2",
        "n_group": 1,
        "n_routed_experts": 384,
        "num_attention_heads": 64,
        "num_key_value_heads": 64,
        "num_nextn_predict_layers": 0,
        "rope_scaling": {"beta_fast": 1.0, "beta_slow": 1.0, "factor": 32.0, "mscale": 1.0,
                         "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                         "type": "yarn"},
        "rope_theta": 50000.0,
        "routed_scaling_factor": 2.827,
        "topk_group": 1,
        "transformers_version": "4.48.3",
        "vocab_size": 163840
    })"));
    return j;
}

// ai-sage/GigaChat3-10B-A1.8B: loads as transformers' DeepseekV3ForCausalLM with one MTP layer
// and no query latent. The keys are DeepSeek-V3's; the values below are illustrative (the exact
// config.json was not at hand), what matters is that this key set and q_lora_rank null load.
json gigachat3_keys() {
    json j = v3_published();
    j.erase("quantization_config");
    j.erase("auto_map");
    j.merge_patch(json::parse(R"({
        "first_k_dense_replace": 1,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "moe_intermediate_size": 1280,
        "n_group": 1,
        "n_routed_experts": 64,
        "num_attention_heads": 32,
        "num_experts_per_tok": 4,
        "num_hidden_layers": 26,
        "num_key_value_heads": 32,
        "num_nextn_predict_layers": 1,
        "routed_scaling_factor": 1.0,
        "topk_group": 1,
        "vocab_size": 128256
    })"));
    j["q_lora_rank"] = nullptr;  // (a null in a merge patch would delete the key)
    j["rope_scaling"] = nullptr;
    return j;
}

// zai-org/GLM-4.7-Flash: glm4_moe_lite, the DeepSeek-V3 layout with one MTP layer (47).
json glm47_flash_published() {
    return json::parse(R"({
        "architectures": ["Glm4MoeLiteForCausalLM"],
        "attention_bias": false,
        "attention_dropout": 0.0,
        "dtype": "bfloat16",
        "eos_token_id": [154820, 154827, 154829],
        "first_k_dense_replace": 1,
        "hidden_act": "silu",
        "hidden_size": 2048,
        "intermediate_size": 10240,
        "kv_lora_rank": 512,
        "max_position_embeddings": 202752,
        "model_type": "glm4_moe_lite",
        "moe_intermediate_size": 1536,
        "n_group": 1,
        "n_routed_experts": 64,
        "n_shared_experts": 1,
        "norm_topk_prob": true,
        "num_attention_heads": 20,
        "num_experts_per_tok": 4,
        "num_hidden_layers": 47,
        "num_key_value_heads": 20,
        "num_nextn_predict_layers": 1,
        "pad_token_id": 154820,
        "partial_rotary_factor": 1.0,
        "pretraining_tp": 1,
        "q_lora_rank": 768,
        "qk_nope_head_dim": 192,
        "qk_rope_head_dim": 64,
        "rms_norm_eps": 1e-05,
        "rope_scaling": null,
        "rope_theta": 1000000,
        "routed_scaling_factor": 1.8,
        "tie_word_embeddings": false,
        "topk_group": 1,
        "topk_method": "noaux_tc",
        "transformers_version": "5.0.0.dev0",
        "use_cache": true,
        "v_head_dim": 256,
        "vocab_size": 154880
    })");
}

int count_moe_layers(const lc::ModelConfig& c) {
    int n = 0;
    for (int l = 0; l < c.num_hidden_layers; ++l)
        n += c.is_moe_layer(l);
    return n;
}

// A small GLM config that is valid (4 layers, 8 experts in 4 groups).
json small_glm() {
    return json::parse(R"({
        "model_type": "glm4_moe_lite",
        "vocab_size": 320,
        "hidden_size": 64,
        "intermediate_size": 96,
        "moe_intermediate_size": 32,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 512,
        "q_lora_rank": 48,
        "kv_lora_rank": 32,
        "qk_nope_head_dim": 16,
        "qk_rope_head_dim": 8,
        "v_head_dim": 24,
        "n_routed_experts": 8,
        "n_shared_experts": 1,
        "num_experts_per_tok": 2,
        "n_group": 4,
        "topk_group": 2,
        "rope_theta": 1000000
    })");
}

// A small V2 MoE config that is valid; the error cases patch one thing into it.
json small_base() {
    return json::parse(R"({
        "model_type": "deepseek_v2",
        "vocab_size": 320,
        "hidden_size": 64,
        "intermediate_size": 96,
        "moe_intermediate_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 512,
        "q_lora_rank": 48,
        "kv_lora_rank": 32,
        "qk_nope_head_dim": 16,
        "qk_rope_head_dim": 8,
        "v_head_dim": 16,
        "n_routed_experts": 8,
        "n_shared_experts": 1,
        "num_experts_per_tok": 2,
        "first_k_dense_replace": 1,
        "moe_layer_freq": 1,
        "n_group": 1,
        "topk_group": 1,
        "topk_method": "greedy",
        "scoring_func": "softmax",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "rope_theta": 10000.0,
        "rope_scaling": {
            "type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 128,
            "beta_fast": 32,
            "beta_slow": 1,
            "mscale": 1.0,
            "mscale_all_dim": 1.0
        }
    })");
}

struct Outcome {
    enum Kind { Parsed, LcError, OtherException } kind = Parsed;
    std::string message;
};

Outcome outcome_of(const std::function<void()>& f) {
    Outcome o;
    try {
        f();
    } catch (const lc::Error& e) {
        o.kind = Outcome::LcError;
        o.message = e.what();
    } catch (const std::exception& e) {
        o.kind = Outcome::OtherException;
        o.message = std::string("exception other than lc::Error: ") + e.what();
    }
    return o;
}

// Expects `f` to throw lc::Error whose message contains every one of `needles`.
bool throws_naming(const std::function<void()>& f, const std::vector<std::string>& needles,
                   std::string* report) {
    Outcome o = outcome_of(f);
    if (o.kind == Outcome::Parsed) {
        *report = "no error was thrown";
        return false;
    }
    if (o.kind == Outcome::OtherException) {
        *report = o.message;
        return false;
    }
    for (const auto& n : needles) {
        if (o.message.find(n) == std::string::npos) {
            *report = "message '" + o.message + "' does not contain '" + n + "'";
            return false;
        }
    }
    return true;
}

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

double get_mscale(double scale, double mscale) {
    if (scale <= 1.0) return 1.0;
    return 0.1 * mscale * std::log(scale) + 1.0;
}

lc::ModelConfig with_rope_scaling(const json& scaling) {
    json j = small_base();
    j["rope_scaling"] = scaling;
    return lc::ModelConfig::from_json(j, kSource);
}

// For the data-driven error tests: the row's base config ("v2": small_base, "v3": DeepSeek-V3's,
// "glm": small_glm) with its patch must throw lc::Error naming the file and every needle.
void expect_error_for_row() {
    QFETCH(QString, base);
    QFETCH(QString, patch);
    QFETCH(QString, needles);
    json j = base == "v2" ? small_base() : base == "v3" ? v3_published() : small_glm();
    j.merge_patch(json::parse(patch.toStdString()));
    std::vector<std::string> want = {kSource};
    for (const QString& n : needles.split('|'))
        want.push_back(n.toStdString());
    std::string report;
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(j, kSource); }, want, &report),
             report.c_str());
}

}  // namespace

class TestConfig : public QObject {
    Q_OBJECT

private slots:
    void v2PublishedConfigParses();
    void v2SoftmaxScale();
    void ropeAttentionFactor();
    void ropeParametersSpellingMatchesRopeScaling();
    void bothSpellingsThatAgreeAreAccepted();
    void v3DefaultsForMissingKeys();
    void v3PublishedRope();
    void moeLayerPlacement();
    void eosTokenIdIntOrList();
    void generationConfigOverridesIds();
    void smallBaseIsValid();
    void v2FullPublishedConfig();
    void v3PublishedConfig();
    void moonlightPublishedConfig();
    void kimiK2PublishedConfig();
    void gigachat3KeySet();
    void glm47FlashPublishedConfig();
    void glmDefaultsForMissingKeys();
    void glmLayerPattern();
    void v2IgnoresNormTopkProb();
    void routingKeysMustMatchTheModelType_data();
    void routingKeysMustMatchTheModelType();
    void unknownKeys_data();
    void unknownKeys();
    void unknownHarmlessKeysLoadAndAreListed();
    void ignoredKeysAndNullsAreAccepted();
    void errorsNameTheKey_data();
    void errorsNameTheKey();
    void loadErrors();
};

void TestConfig::v2PublishedConfigParses() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(v2_published(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV2);
    QCOMPARE(std::string(c.model_type_name()), std::string("deepseek_v2"));
    QCOMPARE(c.vocab_size, 102400);
    QCOMPARE(c.hidden_size, 2048);
    QCOMPARE(c.intermediate_size, 10944);
    QCOMPARE(c.moe_intermediate_size, 1408);
    QCOMPARE(c.num_hidden_layers, 27);
    QCOMPARE(c.num_attention_heads, 16);
    QCOMPARE(c.max_position_embeddings, 163840);
    QCOMPARE(c.rms_norm_eps, 1e-6);
    QCOMPARE(c.q_lora_rank, 0);  // null: no query latent
    QCOMPARE(c.kv_lora_rank, 512);
    QCOMPARE(c.qk_nope_head_dim, 128);
    QCOMPARE(c.qk_rope_head_dim, 64);
    QCOMPARE(c.qk_head_dim(), 192);
    QCOMPARE(c.v_head_dim, 128);
    QCOMPARE(c.rope.type, lc::RopeType::Yarn);
    QCOMPARE(c.rope.theta, 10000.0);
    QCOMPARE(c.rope.factor, 40.0);
    QCOMPARE(c.rope.original_max_position_embeddings, 4096);
    QCOMPARE(c.rope.beta_fast, 32.0);
    QCOMPARE(c.rope.beta_slow, 1.0);
    QCOMPARE(c.rope.mscale, 0.707);
    QCOMPARE(c.rope.mscale_all_dim, 0.707);
    QVERIFY(c.rope_interleave);
    QCOMPARE(c.n_routed_experts, 64);
    QCOMPARE(c.n_shared_experts, 2);
    QCOMPARE(c.num_experts_per_tok, 6);
    QCOMPARE(c.first_k_dense_replace, 1);
    QCOMPARE(c.moe_layer_freq, 1);
    QCOMPARE(c.n_group, 1);
    QCOMPARE(c.topk_group, 1);
    QCOMPARE(c.scoring_func, lc::ScoringFunc::Softmax);
    QCOMPARE(c.topk_method, lc::TopkMethod::Greedy);
    QVERIFY(!c.norm_topk_prob);
    QCOMPARE(c.routed_scaling_factor, 1.0);
    QVERIFY(!c.tie_word_embeddings);
    QCOMPARE(c.bos_token_id, 100000);
    QCOMPARE(c.eos_token_ids, std::vector<int>{100001});
}

void TestConfig::v2SoftmaxScale() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(v2_published(), kSource);
    const double m = 0.1 * 0.707 * std::log(40.0) + 1.0;
    const double expected = 1.0 / std::sqrt(192.0) * m * m;
    QVERIFY2(std::abs(c.softmax_scale() - expected) < 1e-12 * expected,
             qPrintable(QString("softmax_scale %1, expected %2")
                            .arg(c.softmax_scale(), 0, 'g', 17)
                            .arg(expected, 0, 'g', 17)));
    // mscale == mscale_all_dim: the cos/sin factor cancels to exactly 1.
    QCOMPARE(c.rope_attention_factor(), 1.0);
    QCOMPARE(lc::yarn_get_mscale(40.0, 0.707), m);
    QCOMPARE(lc::yarn_get_mscale(1.0, 0.707), 1.0);

    // Without YaRN the scale is plain 1/sqrt(qk_head_dim).
    json j = v2_published();
    j.erase("rope_scaling");
    const lc::ModelConfig plain = lc::ModelConfig::from_json(j, kSource);
    QCOMPARE(plain.rope.type, lc::RopeType::Default);
    QCOMPARE(plain.softmax_scale(), 1.0 / std::sqrt(192.0));
    QCOMPARE(plain.rope_attention_factor(), 1.0);
}

void TestConfig::ropeAttentionFactor() {
    const double f = 40.0;
    json yarn = {{"type", "yarn"},
                 {"factor", f},
                 {"original_max_position_embeddings", 4096},
                 {"beta_fast", 32},
                 {"beta_slow", 1}};

    // Equal mscale and mscale_all_dim: 1.
    json equal = yarn;
    equal["mscale"] = 0.707;
    equal["mscale_all_dim"] = 0.707;
    QCOMPARE(with_rope_scaling(equal).rope_attention_factor(), 1.0);

    // Different: get_mscale(f, mscale) / get_mscale(f, mscale_all_dim).
    json differ = yarn;
    differ["mscale"] = 1.0;
    differ["mscale_all_dim"] = 0.5;
    const lc::ModelConfig cd = with_rope_scaling(differ);
    QCOMPARE(cd.rope_attention_factor(), get_mscale(f, 1.0) / get_mscale(f, 0.5));
    QVERIFY(cd.rope_attention_factor() > 1.0);
    // ... and softmax_scale uses mscale_all_dim only.
    const double mall = get_mscale(f, 0.5);
    QCOMPARE(cd.softmax_scale(), 1.0 / std::sqrt(24.0) * mall * mall);

    // Only mscale_all_dim set: transformers falls back to get_mscale(f) = 0.1 ln f + 1.
    json only_all = yarn;
    only_all["mscale_all_dim"] = 0.707;
    const lc::ModelConfig ca = with_rope_scaling(only_all);
    QCOMPARE(ca.rope_attention_factor(), 0.1 * std::log(f) + 1.0);
    QCOMPARE(ca.softmax_scale(),
             1.0 / std::sqrt(24.0) * get_mscale(f, 0.707) * get_mscale(f, 0.707));

    // Only mscale set: the same fallback (both must be set for the ratio).
    json only_m = yarn;
    only_m["mscale"] = 0.707;
    QCOMPARE(with_rope_scaling(only_m).rope_attention_factor(), 0.1 * std::log(f) + 1.0);

    // Neither: 0.1 ln f + 1, and softmax_scale is not multiplied.
    const lc::ModelConfig cn = with_rope_scaling(yarn);
    QCOMPARE(cn.rope_attention_factor(), 0.1 * std::log(f) + 1.0);
    QCOMPARE(cn.softmax_scale(), 1.0 / std::sqrt(24.0));

    // An explicit attention_factor wins.
    json explicit_af = yarn;
    explicit_af["attention_factor"] = 1.25;
    explicit_af["mscale"] = 1.0;
    explicit_af["mscale_all_dim"] = 0.5;
    QCOMPARE(with_rope_scaling(explicit_af).rope_attention_factor(), 1.25);

    // Linear scaling: no attention factor.
    json linear = {{"type", "linear"}, {"factor", 2.0}};
    QCOMPARE(with_rope_scaling(linear).rope_attention_factor(), 1.0);
}

void TestConfig::ropeParametersSpellingMatchesRopeScaling() {
    const lc::ModelConfig old_spelling = lc::ModelConfig::from_json(v2_published(), kSource);

    json j = v2_published();
    j.erase("rope_scaling");
    j.erase("rope_theta");
    j["rope_parameters"] = json::parse(R"({
        "rope_type": "yarn",
        "rope_theta": 10000.0,
        "factor": 40.0,
        "original_max_position_embeddings": 4096,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "mscale": 0.707,
        "mscale_all_dim": 0.707
    })");
    const lc::ModelConfig new_spelling = lc::ModelConfig::from_json(j, kSource);

    const lc::RopeConfig& a = old_spelling.rope;
    const lc::RopeConfig& b = new_spelling.rope;
    QCOMPARE(b.type, a.type);
    QCOMPARE(b.theta, a.theta);
    QCOMPARE(b.factor, a.factor);
    QCOMPARE(b.original_max_position_embeddings, a.original_max_position_embeddings);
    QCOMPARE(b.beta_fast, a.beta_fast);
    QCOMPARE(b.beta_slow, a.beta_slow);
    QCOMPARE(b.mscale, a.mscale);
    QCOMPARE(b.mscale_all_dim, a.mscale_all_dim);
    QCOMPARE(b.attention_factor, a.attention_factor);
    QCOMPARE(b.truncate, a.truncate);
    QCOMPARE(new_spelling.softmax_scale(), old_spelling.softmax_scale());
    QCOMPARE(new_spelling.rope_attention_factor(), old_spelling.rope_attention_factor());

    // rope_theta inside rope_parameters is the one used.
    j["rope_parameters"]["rope_theta"] = 50000.0;
    QCOMPARE(lc::ModelConfig::from_json(j, kSource).rope.theta, 50000.0);
}

void TestConfig::bothSpellingsThatAgreeAreAccepted() {
    json j = v2_published();
    j["rope_parameters"] = j["rope_scaling"];
    j["rope_parameters"].erase("type");
    j["rope_parameters"]["rope_type"] = "yarn";
    j["rope_parameters"]["rope_theta"] = 10000.0;
    const lc::ModelConfig c = lc::ModelConfig::from_json(j, kSource);
    QCOMPARE(c.rope.type, lc::RopeType::Yarn);
    QCOMPARE(c.rope.factor, 40.0);
    QCOMPARE(c.rope.original_max_position_embeddings, 4096);
}

void TestConfig::v3DefaultsForMissingKeys() {
    // Only model_type: every other value is DeepseekV3Config's default.
    const lc::ModelConfig c =
        lc::ModelConfig::from_json(json{{"model_type", "deepseek_v3"}}, kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV3);
    QCOMPARE(std::string(c.model_type_name()), std::string("deepseek_v3"));
    QCOMPARE(c.vocab_size, 129280);
    QCOMPARE(c.hidden_size, 7168);
    QCOMPARE(c.num_hidden_layers, 61);
    QCOMPARE(c.num_attention_heads, 128);
    QCOMPARE(c.n_routed_experts, 256);
    QCOMPARE(c.num_experts_per_tok, 8);
    QCOMPARE(c.first_k_dense_replace, 3);
    QCOMPARE(c.n_group, 8);
    QCOMPARE(c.topk_group, 4);
    QCOMPARE(c.scoring_func, lc::ScoringFunc::Sigmoid);
    QCOMPARE(c.topk_method, lc::TopkMethod::NoauxTc);
    QVERIFY(c.norm_topk_prob);
    QCOMPARE(c.routed_scaling_factor, 2.5);
    QCOMPARE(c.q_lora_rank, 1536);
    QCOMPARE(c.kv_lora_rank, 512);
    QCOMPARE(c.qk_nope_head_dim, 128);
    QCOMPARE(c.qk_rope_head_dim, 64);
    QCOMPARE(c.v_head_dim, 128);
    QCOMPARE(c.rope.type, lc::RopeType::Default);

    // A small V3 config that sets shapes only still gets the V3 routing defaults.
    json small = small_base();
    small["model_type"] = "deepseek_v3";
    for (const char* k : {"n_group", "topk_group", "topk_method", "scoring_func", "norm_topk_prob",
                          "routed_scaling_factor"})
        small.erase(k);
    small["n_routed_experts"] = 16;  // 8 groups of 2
    const lc::ModelConfig s = lc::ModelConfig::from_json(small, kSource);
    QCOMPARE(s.n_group, 8);
    QCOMPARE(s.topk_group, 4);
    QCOMPARE(s.scoring_func, lc::ScoringFunc::Sigmoid);
    QCOMPARE(s.topk_method, lc::TopkMethod::NoauxTc);
    QVERIFY(s.norm_topk_prob);
    QCOMPARE(s.routed_scaling_factor, 2.5);
    QCOMPARE(s.hidden_size, 64);
}

void TestConfig::v3PublishedRope() {
    // DeepSeek-V3's rope_scaling: mscale == mscale_all_dim == 1.
    json j = small_base();
    j["model_type"] = "deepseek_v3";
    j["n_routed_experts"] = 16;
    j["n_group"] = 4;
    j["topk_group"] = 2;
    j["topk_method"] = "noaux_tc";
    j["scoring_func"] = "sigmoid";
    j["qk_nope_head_dim"] = 128;
    j["qk_rope_head_dim"] = 64;
    j["rope_scaling"] = json::parse(R"({"beta_fast": 32, "beta_slow": 1, "factor": 40,
        "mscale": 1.0, "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
        "type": "yarn"})");
    const lc::ModelConfig c = lc::ModelConfig::from_json(j, kSource);
    const double m = 0.1 * std::log(40.0) + 1.0;
    QCOMPARE(c.softmax_scale(), 1.0 / std::sqrt(192.0) * m * m);
    QCOMPARE(c.rope_attention_factor(), 1.0);
}

void TestConfig::moeLayerPlacement() {
    json j = small_base();
    j["num_hidden_layers"] = 7;
    j["first_k_dense_replace"] = 2;
    j["moe_layer_freq"] = 2;
    const lc::ModelConfig c = lc::ModelConfig::from_json(j, kSource);
    const bool expected[7] = {false, false, true, false, true, false, true};
    for (int l = 0; l < 7; ++l)
        QVERIFY2(c.is_moe_layer(l) == expected[l], qPrintable(QString("layer %1").arg(l)));

    j["moe_layer_freq"] = 1;
    j["first_k_dense_replace"] = 0;
    const lc::ModelConfig every = lc::ModelConfig::from_json(j, kSource);
    for (int l = 0; l < 7; ++l)
        QVERIFY(every.is_moe_layer(l));

    // first_k_dense_replace == num_hidden_layers: all dense.
    j["first_k_dense_replace"] = 7;
    const lc::ModelConfig dense = lc::ModelConfig::from_json(j, kSource);
    for (int l = 0; l < 7; ++l)
        QVERIFY(!dense.is_moe_layer(l));

    // n_routed_experts null: no MoE at all.
    j["first_k_dense_replace"] = 0;
    j["n_routed_experts"] = nullptr;
    const lc::ModelConfig none = lc::ModelConfig::from_json(j, kSource);
    QCOMPARE(none.n_routed_experts, 0);
    for (int l = 0; l < 7; ++l)
        QVERIFY(!none.is_moe_layer(l));
}

void TestConfig::eosTokenIdIntOrList() {
    json j = small_base();
    j["eos_token_id"] = 7;
    QCOMPARE(lc::ModelConfig::from_json(j, kSource).eos_token_ids, std::vector<int>{7});
    j["eos_token_id"] = json::array({2, 5, 9});
    QCOMPARE(lc::ModelConfig::from_json(j, kSource).eos_token_ids, (std::vector<int>{2, 5, 9}));
    j.erase("eos_token_id");
    QCOMPARE(lc::ModelConfig::from_json(j, kSource).eos_token_ids, std::vector<int>{2});  // V2
    j["model_type"] = "deepseek_v3";
    j.erase("topk_method");  // V3 default noaux_tc with n_group 8 needs 16 experts
    j.erase("scoring_func");
    j["n_routed_experts"] = 16;
    j.erase("n_group");
    j.erase("topk_group");
    QCOMPARE(lc::ModelConfig::from_json(j, kSource).eos_token_ids, std::vector<int>{1});  // V3
}

void TestConfig::generationConfigOverridesIds() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const fs::path dir = tmp.path().toStdString();
    json cfg = small_base();
    cfg["bos_token_id"] = 1;
    cfg["eos_token_id"] = 2;
    write_file(dir / "config.json", cfg.dump(2));

    // Without generation_config.json: config.json's ids.
    lc::ModelConfig c = lc::ModelConfig::load(dir);
    QCOMPARE(c.bos_token_id, 1);
    QCOMPARE(c.eos_token_ids, std::vector<int>{2});

    write_file(dir / "generation_config.json",
               R"({"bos_token_id": 5, "eos_token_id": [6, 7], "do_sample": true})");
    c = lc::ModelConfig::load(dir);
    QCOMPARE(c.bos_token_id, 5);
    QCOMPARE(c.eos_token_ids, (std::vector<int>{6, 7}));
    QCOMPARE(c.hidden_size, 64);

    // Only eos as an int: bos stays config.json's.
    write_file(dir / "generation_config.json", R"({"eos_token_id": 9})");
    c = lc::ModelConfig::load(dir);
    QCOMPARE(c.bos_token_id, 1);
    QCOMPARE(c.eos_token_ids, std::vector<int>{9});

    // An id outside the vocabulary in generation_config.json is an error naming it.
    write_file(dir / "generation_config.json", R"({"eos_token_id": 320})");
    std::string report;
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(dir); },
                           {"generation_config.json", "eos_token_id"}, &report),
             report.c_str());

    // 2^64 - 1 was read as -1 ("no BOS") before it was range-checked as an unsigned number.
    write_file(dir / "generation_config.json", R"({"bos_token_id": 18446744073709551615})");
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(dir); },
                           {"generation_config.json", "bos_token_id", "out of range"}, &report),
             report.c_str());

    // Malformed generation_config.json names that file.
    write_file(dir / "generation_config.json", R"({"eos_token_id": )");
    QVERIFY2(
        throws_naming([&] { lc::ModelConfig::load(dir); }, {"generation_config.json"}, &report),
        report.c_str());
}

void TestConfig::smallBaseIsValid() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(small_base(), kSource);
    QCOMPARE(c.hidden_size, 64);
    QCOMPARE(c.rope.type, lc::RopeType::Yarn);
    QCOMPARE(c.rope.factor, 4.0);
    QCOMPARE(c.q_lora_rank, 48);
}

void TestConfig::v2FullPublishedConfig() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(v2_full_published(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV2);
    QCOMPARE(c.q_lora_rank, 1536);
    QCOMPARE(c.num_hidden_layers, 60);
    QCOMPARE(c.n_routed_experts, 160);
    QCOMPARE(c.topk_method, lc::TopkMethod::GroupLimitedGreedy);
    QCOMPARE(c.scoring_func, lc::ScoringFunc::Softmax);
    QCOMPARE(c.n_group, 8);
    QCOMPARE(c.topk_group, 3);
    QCOMPARE(c.routed_scaling_factor, 16.0);
    QVERIFY(!c.norm_topk_prob);
    QCOMPARE(c.rope.type, lc::RopeType::Yarn);
    QCOMPARE(count_moe_layers(c), 59);
    QVERIFY(!c.is_moe_layer(0));
    QVERIFY(c.moe_layers.empty());  // placed by first_k_dense_replace
    QVERIFY(!c.quantization.fp8);
}

void TestConfig::v3PublishedConfig() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(v3_published(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV3);
    QCOMPARE(c.num_hidden_layers, 61);  // the MTP layer (num_nextn_predict_layers) is not one
    QCOMPARE(count_moe_layers(c), 58);
    QVERIFY(!c.is_moe_layer(2) && c.is_moe_layer(3));
    QCOMPARE(c.scoring_func, lc::ScoringFunc::Sigmoid);
    QCOMPARE(c.topk_method, lc::TopkMethod::NoauxTc);
    QCOMPARE(c.n_group, 8);
    QCOMPARE(c.topk_group, 4);
    QVERIFY(c.norm_topk_prob);
    QCOMPARE(c.routed_scaling_factor, 2.5);
    QVERIFY(c.rope_interleave);
    QCOMPARE(c.rope.type, lc::RopeType::Yarn);
    QCOMPARE(c.rope_attention_factor(), 1.0);
    const double m = 0.1 * std::log(40.0) + 1.0;
    QCOMPARE(c.softmax_scale(), 1.0 / std::sqrt(192.0) * m * m);
    QVERIFY(c.quantization.fp8);
    QCOMPARE(c.bos_token_id, 0);
    QCOMPARE(c.eos_token_ids, std::vector<int>{1});
}

void TestConfig::moonlightPublishedConfig() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(moonlight_published(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV3);
    QCOMPARE(c.q_lora_rank, 0);  // null: q_proj
    QCOMPARE(c.n_group, 1);
    QCOMPARE(c.n_shared_experts, 2);
    QCOMPARE(c.routed_scaling_factor, 2.446);
    QCOMPARE(c.rms_norm_eps, 1e-5);
    QCOMPARE(c.rope.type, lc::RopeType::Default);
    QCOMPARE(c.rope.theta, 50000.0);
    QCOMPARE(count_moe_layers(c), 26);
    QCOMPARE(c.eos_token_ids, std::vector<int>{163586});
}

void TestConfig::kimiK2PublishedConfig() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(kimi_k2_published(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV3);  // kimi_k2 is read as deepseek_v3
    QCOMPARE(c.n_routed_experts, 384);
    QCOMPARE(c.n_group, 1);
    QCOMPARE(c.routed_scaling_factor, 2.827);
    QCOMPARE(c.rope.beta_fast, 1.0);
    QCOMPARE(c.rope.beta_slow, 1.0);
    QCOMPARE(c.rope.factor, 32.0);
    QCOMPARE(count_moe_layers(c), 60);
    QVERIFY(c.quantization.fp8);
}

void TestConfig::gigachat3KeySet() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(gigachat3_keys(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::DeepseekV3);
    QCOMPARE(c.q_lora_rank, 0);
    QCOMPARE(c.num_hidden_layers, 26);
    QCOMPARE(count_moe_layers(c), 25);
    QCOMPARE(c.rope.type, lc::RopeType::Default);
}

void TestConfig::glm47FlashPublishedConfig() {
    const lc::ModelConfig c = lc::ModelConfig::from_json(glm47_flash_published(), kSource);
    QCOMPARE(c.model_type, lc::ModelType::Glm4MoeLite);
    QCOMPARE(std::string(c.model_type_name()), std::string("glm4_moe_lite"));
    QCOMPARE(c.vocab_size, 154880);
    QCOMPARE(c.hidden_size, 2048);
    QCOMPARE(c.num_hidden_layers, 47);
    QCOMPARE(c.num_attention_heads, 20);
    QCOMPARE(c.q_lora_rank, 768);
    QCOMPARE(c.kv_lora_rank, 512);
    QCOMPARE(c.qk_nope_head_dim, 192);
    QCOMPARE(c.qk_rope_head_dim, 64);
    QCOMPARE(c.v_head_dim, 256);
    QCOMPARE(c.rms_norm_eps, 1e-5);
    QCOMPARE(c.rope.type, lc::RopeType::Default);
    QCOMPARE(c.rope.theta, 1000000.0);
    QVERIFY(c.rope_interleave);
    QCOMPARE(c.softmax_scale(), 1.0 / std::sqrt(256.0));
    QCOMPARE(c.rope_attention_factor(), 1.0);
    // Routing: DeepSeek-V3's, though config.json names no scoring_func.
    QCOMPARE(c.scoring_func, lc::ScoringFunc::Sigmoid);
    QCOMPARE(c.topk_method, lc::TopkMethod::NoauxTc);
    QVERIFY(c.norm_topk_prob);
    QCOMPARE(c.routed_scaling_factor, 1.8);
    QCOMPARE(c.n_routed_experts, 64);
    QCOMPARE(c.num_experts_per_tok, 4);
    // One dense layer, then MoE (mlp_layer_types' default).
    QCOMPARE(static_cast<int>(c.moe_layers.size()), 47);
    QVERIFY(!c.is_moe_layer(0));
    QCOMPARE(count_moe_layers(c), 46);
    QCOMPARE(c.first_k_dense_replace, 1);
    QCOMPARE(c.eos_token_ids, (std::vector<int>{154820, 154827, 154829}));
    QCOMPARE(c.bos_token_id, 0);  // Glm4MoeLiteConfig's default
}

void TestConfig::glmDefaultsForMissingKeys() {
    // Only model_type: Glm4MoeLiteConfig's defaults, which are GLM-4.7-Flash's shape.
    const lc::ModelConfig c =
        lc::ModelConfig::from_json(json{{"model_type", "glm4_moe_lite"}}, kSource);
    const lc::ModelConfig pub = lc::ModelConfig::from_json(glm47_flash_published(), kSource);
    QCOMPARE(c.vocab_size, pub.vocab_size);
    QCOMPARE(c.hidden_size, pub.hidden_size);
    QCOMPARE(c.intermediate_size, pub.intermediate_size);
    QCOMPARE(c.moe_intermediate_size, pub.moe_intermediate_size);
    QCOMPARE(c.num_hidden_layers, pub.num_hidden_layers);
    QCOMPARE(c.num_attention_heads, pub.num_attention_heads);
    QCOMPARE(c.max_position_embeddings, pub.max_position_embeddings);
    QCOMPARE(c.rms_norm_eps, pub.rms_norm_eps);
    QCOMPARE(c.q_lora_rank, pub.q_lora_rank);
    QCOMPARE(c.qk_nope_head_dim, pub.qk_nope_head_dim);
    QCOMPARE(c.v_head_dim, pub.v_head_dim);
    QCOMPARE(c.n_routed_experts, pub.n_routed_experts);
    QCOMPARE(c.num_experts_per_tok, pub.num_experts_per_tok);
    QCOMPARE(c.n_group, 1);
    QCOMPARE(c.routed_scaling_factor, 1.8);
    QVERIFY(c.norm_topk_prob);
    QCOMPARE(c.moe_layers, pub.moe_layers);
    QCOMPARE(c.rope.theta, 10000.0);  // rope_theta has no GLM default of its own
    QCOMPARE(c.bos_token_id, 0);
    QCOMPARE(c.eos_token_ids, std::vector<int>{1});
}

void TestConfig::glmLayerPattern() {
    // mlp_layer_types decides; first_k_dense_replace may repeat it.
    json j = small_glm();
    j["mlp_layer_types"] = json::array({"dense", "dense", "sparse", "sparse"});
    lc::ModelConfig c = lc::ModelConfig::from_json(j, kSource);
    QCOMPARE(c.moe_layers, (std::vector<bool>{false, false, true, true}));
    QCOMPARE(c.first_k_dense_replace, 2);
    j["first_k_dense_replace"] = 2;
    QCOMPARE(lc::ModelConfig::from_json(j, kSource).moe_layers, c.moe_layers);

    // A pattern first_k_dense_replace cannot say.
    j.erase("first_k_dense_replace");
    j["mlp_layer_types"] = json::array({"dense", "sparse", "dense", "sparse"});
    c = lc::ModelConfig::from_json(j, kSource);
    const bool expected[4] = {false, true, false, true};
    for (int l = 0; l < 4; ++l)
        QCOMPARE(c.is_moe_layer(l), expected[l]);

    // Without mlp_layer_types transformers makes layer 0 dense and the rest MoE, whatever
    // first_k_dense_replace says: a different count is a contradiction to resolve by hand.
    j.erase("mlp_layer_types");
    j["first_k_dense_replace"] = 2;
    std::string report;
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(j, kSource); },
                           {kSource, "first_k_dense_replace", "mlp_layer_types"}, &report),
             report.c_str());
    j["first_k_dense_replace"] = 1;
    QCOMPARE(count_moe_layers(lc::ModelConfig::from_json(j, kSource)), 3);

    // mlp_layer_types must list every layer, each "dense" or "sparse".
    j.erase("first_k_dense_replace");
    j["mlp_layer_types"] = json::array({"dense", "sparse"});
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(j, kSource); }, {"mlp_layer_types"},
                           &report),
             report.c_str());
    j["mlp_layer_types"] = json::array({"dense", "moe", "sparse", "sparse"});
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(j, kSource); },
                           {"mlp_layer_types", "moe"}, &report),
             report.c_str());
    j["mlp_layer_types"] = json::array({"dense", "sparse", "sparse", "sparse"});
    j["first_k_dense_replace"] = 3;
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(j, kSource); },
                           {"first_k_dense_replace", "mlp_layer_types"}, &report),
             report.c_str());

    // A DeepSeek config may carry mlp_layer_types only where it says what first_k_dense_replace
    // says (transformers' DeepSeek classes read the latter).
    json v3 = v3_published();
    std::vector<std::string> types(61, "sparse");
    for (int l = 0; l < 3; ++l)
        types[l] = "dense";
    v3["mlp_layer_types"] = types;
    QCOMPARE(count_moe_layers(lc::ModelConfig::from_json(v3, kSource)), 58);
    types[3] = "dense";
    v3["mlp_layer_types"] = types;
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(v3, kSource); },
                           {"mlp_layer_types", "first_k_dense_replace"}, &report),
             report.c_str());
}

void TestConfig::v2IgnoresNormTopkProb() {
    // transformers' DeepseekV2 never renormalises (tools/README.md); the field says so.
    json j = small_base();
    j["norm_topk_prob"] = true;
    QVERIFY(!lc::ModelConfig::from_json(j, kSource).norm_topk_prob);
    json glm = small_glm();
    glm["norm_topk_prob"] = false;
    QVERIFY(!lc::ModelConfig::from_json(glm, kSource).norm_topk_prob);
    glm.erase("norm_topk_prob");
    QVERIFY(lc::ModelConfig::from_json(glm, kSource).norm_topk_prob);
}

// Each row: a model type's config, a patch, and what the error must name. transformers reads
// neither key: V2 always routes with softmax, V3 and GLM with sigmoid and noaux_tc.
void TestConfig::routingKeysMustMatchTheModelType_data() {
    QTest::addColumn<QString>("base");
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("needles");
    QTest::newRow("v2 sigmoid") << "v2"
                                << R"({"scoring_func": "sigmoid"})"
                                << "scoring_func|sigmoid";
    QTest::newRow("v2 noaux_tc") << "v2"
                                 << R"({"topk_method": "noaux_tc"})"
                                 << "topk_method|noaux_tc";
    QTest::newRow("v3 softmax") << "v3"
                                << R"({"scoring_func": "softmax"})"
                                << "scoring_func|softmax";
    QTest::newRow("v3 greedy") << "v3"
                               << R"({"topk_method": "greedy"})"
                               << "topk_method|greedy";
    QTest::newRow("glm softmax") << "glm"
                                 << R"({"scoring_func": "softmax"})"
                                 << "scoring_func|glm4_moe_lite";
    QTest::newRow("glm group_limited_greedy") << "glm"
                                              << R"({"topk_method": "group_limited_greedy"})"
                                              << "topk_method|group_limited_greedy";
}

void TestConfig::routingKeysMustMatchTheModelType() {
    expect_error_for_row();
}

// Keys that would change the math and that LatentChat does not implement, or does not know:
// each must be an error naming the key, not a model that silently computes something else.
void TestConfig::unknownKeys_data() {
    QTest::addColumn<QString>("base");
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("needles");
    QTest::newRow("sliding_window") << "v2"
                                    << R"({"sliding_window": 4096})"
                                    << "sliding_window|does not implement";
    QTest::newRow("qk_layernorm") << "v3"
                                  << R"({"qk_layernorm": true})"
                                  << "qk_layernorm";
    QTest::newRow("use_qk_norm") << "glm"
                                 << R"({"use_qk_norm": false})"
                                 << "use_qk_norm";
    QTest::newRow("index_topk (DSA)") << "v3"
                                      << R"({"index_topk": 2048})"
                                      << "index_topk";
    QTest::newRow("llama 4 rope key") << "v2"
                                      << R"({"rope_scaling": {"llama_4_scaling_beta": 0.1}})"
                                      << "rope_scaling.llama_4_scaling_beta";
    QTest::newRow("partial_rotary_factor 0.5") << "glm"
                                               << R"({"partial_rotary_factor": 0.5})"
                                               << "partial_rotary_factor|0.5";
    QTest::newRow("partial_rotary_factor in rope_parameters")
        << "glm"
        << R"({"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}})"
        << "rope_parameters.partial_rotary_factor";
    QTest::newRow("glm head_dim not the rope dim") << "glm"
                                                   << R"({"head_dim": 24})"
                                                   << "head_dim|qk_rope_head_dim";
    QTest::newRow("num_nextn_predict_layers negative") << "v3"
                                                       << R"({"num_nextn_predict_layers": -1})"
                                                       << "num_nextn_predict_layers";
    QTest::newRow("model_type deepseek_v32") << "v3"
                                             << R"({"model_type": "deepseek_v32"})"
                                             << "model_type|deepseek_v32";
}

void TestConfig::unknownKeys() {
    expect_error_for_row();
}

void TestConfig::unknownHarmlessKeysLoadAndAreListed() {
    // A derived checkpoint's own extra keys must not stop it from loading; info lists them.
    json j = v3_published();
    j["my_finetune_note"] = "v2 of our merge";
    j["rope_scaling"]["finetuned"] = true;
    const lc::ModelConfig c = lc::ModelConfig::from_json(j, kSource);
    QCOMPARE(c.unread_keys,
             (std::vector<std::string>{"my_finetune_note", "rope_scaling.finetuned"}));
    QVERIFY(lc::ModelConfig::from_json(v3_published(), kSource).unread_keys.empty());
}

void TestConfig::ignoredKeysAndNullsAreAccepted() {
    // Keys that change nothing (names, dtypes, training and serving settings), and any key that
    // is null, load; so does head_dim where it is the rope dim, and partial_rotary_factor 1.
    json j = small_glm();
    j.merge_patch(json::parse(R"({
        "architectures": ["Glm4MoeLiteForCausalLM"], "_name_or_path": "x", "dtype": "bfloat16",
        "torch_dtype": "bfloat16", "transformers_version": "5.17.0", "use_cache": true,
        "initializer_range": 0.02, "attention_dropout": 0.0, "ep_size": 8, "pretraining_tp": 1,
        "aux_loss_alpha": 0.001, "seq_aux": true, "pad_token_id": 0, "qk_head_dim": 24,
        "num_nextn_predict_layers": 1, "output_router_logits": false,
        "router_aux_loss_coef": 0.001, "head_dim": 8, "partial_rotary_factor": 1.0,
        "rope_interleave": true, "topk_method": "noaux_tc", "sliding_window": null
    })"));
    const lc::ModelConfig c = lc::ModelConfig::from_json(j, kSource);
    QCOMPARE(c.qk_rope_head_dim, 8);
    QCOMPARE(c.qk_nope_head_dim, 16);
    // transformers' DeepSeek classes overwrite head_dim with the rope dim: any value loads.
    json v3 = v3_published();
    v3["head_dim"] = 192;
    QCOMPARE(lc::ModelConfig::from_json(v3, kSource).qk_rope_head_dim, 64);
}

// Each row: a JSON merge patch (RFC 7396: null removes a key) applied to small_base(), and the
// strings the lc::Error message must contain (the key at fault; '|'-separated).
void TestConfig::errorsNameTheKey_data() {
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("needles");

    QTest::newRow("model_type missing") << R"({"model_type": null})"
                                        << "model_type";
    QTest::newRow("model_type llama") << R"({"model_type": "llama"})"
                                      << "model_type|llama";
    QTest::newRow("scoring_func relu") << R"({"scoring_func": "relu"})"
                                       << "scoring_func|relu";
    QTest::newRow("topk_method foo") << R"({"topk_method": "foo"})"
                                     << "topk_method|foo";
    QTest::newRow("rope type dynamic") << R"({"rope_scaling": {"type": "dynamic"}})"
                                       << "rope_scaling.type|dynamic";
    QTest::newRow("rope_type dynamic (rope_parameters)")
        << R"({"rope_scaling": null, "rope_parameters": {"rope_type": "dynamic", "factor": 2}})"
        << "rope_parameters.rope_type|dynamic";
    QTest::newRow("yarn without factor") << R"({"rope_scaling": {"factor": null}})"
                                         << "factor";
    QTest::newRow("yarn without original_max_position_embeddings")
        << R"({"rope_scaling": {"original_max_position_embeddings": null}})"
        << "original_max_position_embeddings";
    QTest::newRow("n_routed_experts not divisible by n_group")
        << R"({"topk_method": "group_limited_greedy", "n_routed_experts": 10, "n_group": 4,
              "topk_group": 2})"
        << "n_group";
    QTest::newRow("topk_group > n_group")
        << R"({"topk_method": "group_limited_greedy", "n_group": 2, "topk_group": 3})"
        << "topk_group";
    QTest::newRow("num_experts_per_tok > n_routed_experts") << R"({"num_experts_per_tok": 9})"
                                                            << "num_experts_per_tok";
    QTest::newRow("num_key_value_heads != num_attention_heads") << R"({"num_key_value_heads": 1})"
                                                                << "num_key_value_heads";
    QTest::newRow("hidden_size string") << R"({"hidden_size": "64"})"
                                        << "hidden_size";
    QTest::newRow("hidden_size negative") << R"({"hidden_size": -64})"
                                          << "hidden_size";
    QTest::newRow("hidden_size fractional") << R"({"hidden_size": 64.5})"
                                            << "hidden_size";
    QTest::newRow("qk_rope_head_dim odd") << R"({"qk_rope_head_dim": 7})"
                                          << "qk_rope_head_dim";
    QTest::newRow("rope_scaling and rope_parameters disagree")
        << R"({"rope_parameters": {"rope_type": "yarn", "factor": 8.0,
              "original_max_position_embeddings": 128}})"
        << "rope_scaling|rope_parameters";
    QTest::newRow("rope_scaling and rope_parameters disagree on type")
        << R"({"rope_parameters": {"rope_type": "linear", "factor": 4.0}})"
        << "rope_scaling|rope_parameters";
    QTest::newRow("eos id outside vocab") << R"({"eos_token_id": 320})"
                                          << "eos_token_id";
    QTest::newRow("eos id list with one outside vocab") << R"({"eos_token_id": [2, 100001]})"
                                                        << "eos_token_id";
    QTest::newRow("eos id negative") << R"({"eos_token_id": -1})"
                                     << "eos_token_id";
    QTest::newRow("bos id outside vocab") << R"({"bos_token_id": 320})"
                                          << "bos_token_id";
    QTest::newRow("hidden_act gelu") << R"({"hidden_act": "gelu"})"
                                     << "hidden_act";
    QTest::newRow("vocab_size zero") << R"({"vocab_size": 0})"
                                     << "vocab_size";
    QTest::newRow("rope_scaling not an object") << R"({"rope_scaling": "yarn"})"
                                                << "rope_scaling";
}

void TestConfig::errorsNameTheKey() {
    QFETCH(QString, patch);
    QFETCH(QString, needles);
    json j = small_base();
    j.merge_patch(json::parse(patch.toStdString()));
    std::vector<std::string> want = {kSource};  // the message names the file too
    for (const QString& n : needles.split('|'))
        want.push_back(n.toStdString());
    std::string report;
    QVERIFY2(throws_naming([&] { lc::ModelConfig::from_json(j, kSource); }, want, &report),
             report.c_str());
}

void TestConfig::loadErrors() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const fs::path root = tmp.path().toStdString();
    std::string report;

    // Missing folder: the message names it.
    const fs::path missing = root / "no-such-model";
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(missing); }, {missing.string()}, &report),
             report.c_str());

    // A file instead of a folder.
    write_file(root / "plain-file", "x");
    QVERIFY2(
        throws_naming([&] { lc::ModelConfig::load(root / "plain-file"); }, {"plain-file"}, &report),
        report.c_str());

    // Folder without config.json.
    const fs::path empty = root / "empty";
    fs::create_directories(empty);
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(empty); }, {"config.json"}, &report),
             report.c_str());

    // Malformed JSON.
    const fs::path bad = root / "bad";
    fs::create_directories(bad);
    write_file(bad / "config.json", R"({"model_type": "deepseek_v2", "hidden_size": )");
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(bad); }, {"config.json"}, &report),
             report.c_str());

    // Empty file.
    write_file(bad / "config.json", "");
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(bad); }, {"config.json"}, &report),
             report.c_str());

    // A JSON array.
    write_file(bad / "config.json", "[" + small_base().dump() + "]");
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(bad); }, {"config.json"}, &report),
             report.c_str());

    // Errors from the content also name the file.
    json llama = small_base();
    llama["model_type"] = "llama";
    write_file(bad / "config.json", llama.dump());
    QVERIFY2(throws_naming([&] { lc::ModelConfig::load(bad); },
                           {(bad / "config.json").string(), "model_type"}, &report),
             report.c_str());

    // And a valid one loads.
    write_file(bad / "config.json", small_base().dump());
    QCOMPARE(lc::ModelConfig::load(bad).hidden_size, 64);
}

QTEST_APPLESS_MAIN(TestConfig)
#include "test_config.moc"
