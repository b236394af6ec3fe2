// ModelConfig::from_gguf against config.json: for each checkpoint fixture, tests/ref/
// make_test_gguf.py writes the deepseek2 metadata llama.cpp's converter writes for its
// config.json (gguf-py), and the config read from that file must be the one ModelConfig::load reads
// from the folder, except where llama.cpp computes otherwise (each such difference is asserted
// and says where llama.cpp does it). Then files edited to be wrong: one lc::Error naming the key.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "error_of.h"
#include "formats/config.h"
#include "formats/gguf.h"

namespace fs = std::filesystem;
using lc::ModelConfig;
using lc_test::error_of;
using nlohmann::json;

namespace {

const fs::path kData = LC_TEST_DATA_DIR;
const fs::path kFixtures = LC_FIXTURES_DIR;

json read_json(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return json::parse(in);
}

bool close(double a, double b) {
    return std::abs(a - b) <= 1e-6 * std::max(1.0, std::abs(b));
}
// A value as the file stores it (float32).
double as_f32(double v) {
    return static_cast<double>(static_cast<float>(v));
}

}  // namespace

class TestGgufConfig : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void fixtures_read_as_config_json_data();
    void fixtures_read_as_config_json();
    void older_mla_keys();
    void per_layer_arrays();
    void special_ids_and_unread_keys();
    void bad_metadata();

private:
    QTemporaryDir tmp_;
    // The converter's file for fixture `name` with `edits` applied, opened.
    lc::GgufFile write(const std::string& name, const json& edits = json::array(),
                       bool legacy = false);
    std::string last_path_;
};

void TestGgufConfig::initTestCase() {
    if (!fs::exists(kData / "READY"))
        QFAIL(qPrintable("no test data in " + QString::fromStdString(kData.string()) +
                         ": run tools/fetch_test_data.sh (ctest's fetch_test_data fixture)"));
    QVERIFY(tmp_.isValid());
}

lc::GgufFile TestGgufConfig::write(const std::string& name, const json& edits, bool legacy) {
    static int counter = 0;
    last_path_ = tmp_.path().toStdString() + "/" + name + "-" + std::to_string(++counter) + ".gguf";
    QProcess p;
    p.start(QString::fromStdString((kData / "venv/bin/python").string()),
            {QString(LC_SOURCE_DIR "/tests/ref/make_test_gguf.py"), "config",
             QString::fromStdString((kFixtures / name / "config.json").string()),
             QString::fromStdString(last_path_), legacy ? "legacy" : "mla",
             QString::fromStdString(edits.dump())});
    if (!p.waitForFinished(120000) || p.exitCode() != 0)
        throw std::runtime_error("make_test_gguf.py config failed: " +
                                 p.readAllStandardError().toStdString());
    return lc::GgufFile::open(last_path_);
}

void TestGgufConfig::fixtures_read_as_config_json_data() {
    QTest::addColumn<QString>("fixture");
    for (const char* f : {"dense", "v2_moe", "v3_yarn", "glm4_moe_lite"})
        QTest::newRow(f) << QString(f);
}

void TestGgufConfig::fixtures_read_as_config_json() {
    QFETCH(QString, fixture);
    const std::string name = fixture.toStdString();
    const ModelConfig want = ModelConfig::load(kFixtures / name);
    const json raw = read_json(kFixtures / name / "config.json");
    const ModelConfig got = ModelConfig::from_gguf(write(name));

    QCOMPARE(got.vocab_size, want.vocab_size);
    QCOMPARE(got.hidden_size, want.hidden_size);
    QCOMPARE(got.num_hidden_layers, want.num_hidden_layers);  // GLM: without its MTP layer
    QCOMPARE(got.num_attention_heads, want.num_attention_heads);
    QCOMPARE(got.max_position_embeddings, want.max_position_embeddings);
    QCOMPARE(got.rms_norm_eps, as_f32(want.rms_norm_eps));
    QCOMPARE(got.q_lora_rank, want.q_lora_rank);
    QCOMPARE(got.kv_lora_rank, want.kv_lora_rank);
    QCOMPARE(got.qk_nope_head_dim, want.qk_nope_head_dim);
    QCOMPARE(got.qk_rope_head_dim, want.qk_rope_head_dim);
    QCOMPARE(got.v_head_dim, want.v_head_dim);
    QVERIFY(got.rope_interleave);  // llama.cpp's deepseek2 rotates adjacent pairs
    QVERIFY(got.rope.type == want.rope.type);
    QCOMPARE(got.rope.theta, as_f32(want.rope.theta));
    if (want.rope.type == lc::RopeType::Yarn) {
        QCOMPARE(got.rope.factor, as_f32(want.rope.factor));
        QCOMPARE(got.rope.original_max_position_embeddings,
                 want.rope.original_max_position_embeddings);
        QCOMPARE(got.rope.beta_fast, want.rope.beta_fast);
        QCOMPARE(got.rope.beta_slow, want.rope.beta_slow);
        // The attention scale is transformers' (mscale_all_dim through yarn_log_multiplier)...
        QVERIFY2(
            close(got.softmax_scale(), want.softmax_scale()),
            (std::to_string(got.softmax_scale()) + " vs " + std::to_string(want.softmax_scale()))
                .c_str());
        // ...but llama.cpp takes mscale = mscale_all_dim for deepseek2 (llama-context.cpp,
        // TAG_DEEPSEEK2_YARN_LOG_MUL_FIX), so cos/sin are not scaled even where config.json's
        // mscale differs (0.707 here).
        QCOMPARE(got.rope_attention_factor(), 1.0);
        QVERIFY(want.rope_attention_factor() != 1.0);
    } else {
        QVERIFY(close(got.softmax_scale(), want.softmax_scale()));
        QCOMPARE(got.rope_attention_factor(), 1.0);
    }

    bool any_dense = false, any_moe = false;
    for (int l = 0; l < want.num_hidden_layers; ++l) {
        QVERIFY2(got.is_moe_layer(l) == want.is_moe_layer(l), std::to_string(l).c_str());
        (want.is_moe_layer(l) ? any_moe : any_dense) = true;
    }
    if (any_dense) QCOMPARE(got.intermediate_size, want.intermediate_size);
    if (any_moe) {
        QCOMPARE(got.moe_intermediate_size, want.moe_intermediate_size);
        QCOMPARE(got.n_routed_experts, want.n_routed_experts);
        QCOMPARE(got.n_shared_experts, want.n_shared_experts);
        QCOMPARE(got.num_experts_per_tok, want.num_experts_per_tok);
        QCOMPARE(got.routed_scaling_factor, as_f32(want.routed_scaling_factor));
        QCOMPARE(got.n_group, want.n_group);
        QCOMPARE(got.topk_group, want.topk_group);
        // llama.cpp ranks groups by their two best experts whenever there are groups.
        QVERIFY(got.topk_method ==
                (want.n_group > 1 ? lc::TopkMethod::NoauxTc : lc::TopkMethod::Greedy));
        // It normalizes by expert_weights_norm, which the converter writes from norm_topk_prob
        // (transformers' DeepseekV2 ignores the key; formats/config.cpp follows it).
        QCOMPARE(got.norm_topk_prob, raw.value("norm_topk_prob", false));
        // The converter writes expert_gating_func only from scoring_func; without it llama.cpp
        // routes with softmax unless the shape is GLM-4.7-Flash's (47/48 layers, 154880 tokens).
        const bool written = raw.contains("scoring_func");
        QVERIFY(got.scoring_func == (written ? want.scoring_func : lc::ScoringFunc::Softmax));
    }
    // The converter writes the ids config.json has (GLM's has no BOS: none in the file).
    QCOMPARE(got.bos_token_id, raw.contains("bos_token_id") ? want.bos_token_id : -1);
    QCOMPARE(got.eos_token_ids.front(), want.eos_token_ids.front());
}

void TestGgufConfig::older_mla_keys() {
    // Files converted before the *_mla keys: key_length = nope + rope, value_length = v.
    const ModelConfig want = ModelConfig::load(kFixtures / "v2_moe");
    const ModelConfig got = ModelConfig::from_gguf(write("v2_moe", json::array(), true));
    QCOMPARE(got.qk_nope_head_dim, want.qk_nope_head_dim);
    QCOMPARE(got.qk_rope_head_dim, want.qk_rope_head_dim);
    QCOMPARE(got.v_head_dim, want.v_head_dim);
}

void TestGgufConfig::per_layer_arrays() {
    // llama.cpp also takes head counts and sizes per layer; equal values are one value.
    const ModelConfig want = ModelConfig::load(kFixtures / "v2_moe");
    const ModelConfig got = ModelConfig::from_gguf(
        write("v2_moe",
              json::array({{"set", "deepseek2.attention.head_count", "ARRAY_UINT32", {4, 4, 4}}})));
    QCOMPARE(got.num_attention_heads, want.num_attention_heads);
    const std::string e = error_of([&] {
        ModelConfig::from_gguf(write(
            "v2_moe",
            json::array({{"set", "deepseek2.attention.head_count", "ARRAY_UINT32", {4, 8, 4}}})));
    });
    QVERIFY2(e.find("deepseek2.attention.head_count") != std::string::npos &&
                 e.find("differs between layers") != std::string::npos,
             e.c_str());
}

void TestGgufConfig::special_ids_and_unread_keys() {
    // End-of-turn and end-of-message ids also end a reply; keys not read are listed.
    const ModelConfig c = ModelConfig::from_gguf(
        write("v3_yarn", json::array({{"set", "tokenizer.ggml.eot_token_id", "UINT32", 7},
                                      {"set", "tokenizer.ggml.eom_token_id", "UINT32", 2},
                                      {"set", "deepseek2.some_new_key", "UINT32", 1}})));
    QCOMPARE(c.eos_token_ids, (std::vector<int>{2, 7}));
    const auto has = [&](const std::string& k) {
        return std::find(c.unread_keys.begin(), c.unread_keys.end(), k) != c.unread_keys.end();
    };
    QVERIFY(has("deepseek2.some_new_key"));
    // deepseek2 never reads YaRN's betas in llama.cpp (it uses 32 and 1), so neither do we.
    QVERIFY(has("deepseek2.rope.scaling.yarn_beta_fast"));
    QVERIFY(!has("deepseek2.rope.scaling.yarn_log_multiplier") && !has("deepseek2.vocab_size"));
    // Without vocab_size, the token list's length (as llama.cpp).
    std::vector<std::string> tokens(300);
    for (size_t i = 0; i < tokens.size(); ++i)
        tokens[i] = std::to_string(i) + "t";
    const ModelConfig counted = ModelConfig::from_gguf(
        write("v2_moe", json::array({json::array({"drop", "deepseek2.vocab_size"}),
                                     {"set", "tokenizer.ggml.tokens", "ARRAY_STRING", tokens}})));
    QCOMPARE(counted.vocab_size, 300);
}

void TestGgufConfig::bad_metadata() {
    struct Case {
        const char* fixture;
        json edits;
        std::vector<std::string> wanted;
    };
    const std::vector<Case> cases = {
        {"v2_moe",
         {{"set", "general.architecture", "STRING", "llama"}},
         {"general.architecture", "'llama'", "deepseek2"}},
        {"v2_moe",
         {{"set", "deepseek2.attention.key_length", "UINT32", 99}},
         {"deepseek2.attention.key_length", "kv_lora_rank"}},
        {"v2_moe",
         {{"set", "deepseek2.attention.value_length", "UINT32", 7}},
         {"deepseek2.attention.value_length", "kv_lora_rank"}},
        {"v2_moe",
         json::array({json::array({"drop", "deepseek2.attention.value_length_mla"})}),
         {"deepseek2.attention.value_length_mla", "missing"}},
        {"v2_moe",
         {{"set", "deepseek2.attention.key_length_mla", "UINT32", 8}},
         {"deepseek2.attention.key_length_mla", "non-rotated"}},
        {"v2_moe", {{"set", "deepseek2.block_count", "UINT32", 0}}, {"deepseek2.block_count"}},
        {"v2_moe",
         json::array({json::array({"drop", "deepseek2.attention.kv_lora_rank"})}),
         {"deepseek2.attention.kv_lora_rank", "missing"}},
        {"v2_moe",
         {{"set", "deepseek2.embedding_length", "INT64", 1LL << 40}},
         {"deepseek2.embedding_length", "between"}},
        {"v2_moe",
         {{"set", "deepseek2.embedding_length", "STRING", "64"}},
         {"deepseek2.embedding_length", "integer"}},
        {"v2_moe",
         {{"set", "deepseek2.expert_gating_func", "UINT32", 3}},
         {"deepseek2.expert_gating_func", "3"}},
        {"v2_moe",
         {{"set", "deepseek2.expert_used_count", "UINT32", 9}},
         {"deepseek2.expert_used_count", "between 1 and 8"}},
        {"v2_moe",
         {{"set", "deepseek2.expert_group_count", "UINT32", 3}},
         {"deepseek2.expert_group_count", "divide"}},
        {"v2_moe",
         {{"set", "deepseek2.expert_count", "UINT32", 0}},
         {"deepseek2.expert_count", "MoE"}},
        {"v2_moe",
         {{"set", "deepseek2.attention.head_count_kv", "UINT32", 2}},
         {"deepseek2.attention.head_count_kv"}},
        {"v2_moe",
         {{"set", "deepseek2.rope.dimension_count", "UINT32", 7}},
         {"deepseek2.rope.dimension_count", "even"}},
        {"v2_moe",
         {{"set", "deepseek2.rope.scaling.type", "STRING", "longrope"}},
         {"deepseek2.rope.scaling.type", "longrope"}},
        {"v2_group", json::array(), {"deepseek2.rope.scaling.type", "linear"}},
        {"v2_moe",
         {{"set", "deepseek2.attention.temperature_scale", "FLOAT32", 0.5}},
         {"deepseek2.attention.temperature_scale"}},
        {"v2_moe",
         {{"set", "deepseek2.attention.layer_norm_rms_epsilon", "FLOAT32", -1.0}},
         {"deepseek2.attention.layer_norm_rms_epsilon", "positive"}},
        {"v2_moe",
         {{"set", "tokenizer.ggml.bos_token_id", "UINT32", 100000}},
         {"tokenizer.ggml.bos_token_id", "outside the vocabulary"}},
        {"v2_moe",
         {{"set", "tokenizer.ggml.tokens", "ARRAY_STRING", std::vector<std::string>(600, "x")}},
         {"deepseek2.vocab_size", "600 tokens"}},
    };
    for (const Case& c : cases) {
        const std::string e = error_of([&] { ModelConfig::from_gguf(write(c.fixture, c.edits)); });
        QVERIFY2(e.find(fs::path(last_path_).filename().string()) != std::string::npos,
                 (c.edits.dump() + ": " + e).c_str());
        for (const std::string& w : c.wanted)
            QVERIFY2(e.find(w) != std::string::npos, (e + "   [wanted: " + w + "]").c_str());
    }
}

QTEST_APPLESS_MAIN(TestGgufConfig)
#include "test_gguf_config.moc"
