// Model loading shared by all commands, and the `info`, `logits` and `perplexity` commands.
#include "commands.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "engine/generator.h"
#include "formats/npy.h"
#include "formats/tokenizer.h"
#include "session/model_files.h"

namespace lc::cli {

namespace fs = std::filesystem;

OpenOptions open_options_from(const Args& args) {
    OpenOptions o;
    if (auto m = args.opt("model")) o.path = *m;
    o.source_models = LATENTCHAT_SOURCE_MODELS;
    try {
        o.device = parse_device(args.str("device", "cpu"));
    } catch (const Error& e) {
        throw Error(std::string("--device: ") + e.what());  // name the flag to change
    }
    o.threads = args.integer("threads", 0, 0, 1024);
    o.max_batch = args.has("batch") ? args.integer("batch", 64, 1, 4096) : 0;
    const std::string attention = args.str("attention", "absorbed");
    if (attention == "absorbed") {
        o.attention = AttentionMode::Absorbed;
    } else if (attention == "naive") {
        o.attention = AttentionMode::Naive;
    } else {
        throw Error("--attention must be absorbed or naive, got '" + attention + "'");
    }
    return o;
}

OpenedModel open_model_from(const Args& args, bool with_tokenizer) {
    OpenOptions o = open_options_from(args);
    o.load_tokenizer = with_tokenizer;
    OpenedModel opened = open_model(o);
    if (!opened.notice.empty()) std::cerr << "latentchat-cli: " << opened.notice << "\n";
    return opened;
}

namespace {

std::set<std::string> with_model_flags(std::set<std::string> flags) {
    flags.insert(kModelFlags.begin(), kModelFlags.end());
    return flags;
}

const char* rope_type_name(RopeType t) {
    switch (t) {
        case RopeType::Default:
            return "default";
        case RopeType::Linear:
            return "linear";
        case RopeType::Yarn:
            return "yarn";
    }
    return "default";
}

}  // namespace

int cmd_info(const std::vector<std::string>& argv) {
    Args args(argv, with_model_flags({}), {"json"});
    // info loads no weights, but its flags are still checked.
    const fs::path dir = model_path(open_options_from(args));
    // info reads the config and the headers only; the shapes are checked like a load.
    const ModelFiles files = inspect_model(dir);
    const ModelConfig& c = files.config;
    const ModelWeights& w = files.weights;
    const int64_t params = files.parameters;

    const int64_t L = c.num_hidden_layers;
    const int64_t n_h = c.num_attention_heads;
    const int64_t qk = c.qk_head_dim(), v = c.v_head_dim;
    const int64_t mla = c.kv_lora_rank + c.qk_rope_head_dim;
    const int64_t mha = n_h * qk + n_h * v;
    const int64_t mqa = qk + v;
    const int64_t gqa_groups = std::min<int64_t>(LatentCache::kDefaultGqaGroups, n_h);
    const int64_t gqa = gqa_groups * (qk + v);
    int moe_layers = 0;
    for (int l = 0; l < c.num_hidden_layers; ++l)
        moe_layers += c.is_moe_layer(l);

    if (args.has("json")) {
        nlohmann::json j;
        j["model_dir"] = dir.string();
        j["model_type"] = c.model_type_name();
        j["parameters"] = params;
        j["weight_bytes"] = files.file_bytes;
        j["format"] = files.gguf ? "gguf" : "safetensors";
        j["matrix_types"] = files.matrix_types;
        j["bits_per_weight"] = files.bits_per_weight;
        j["config"] = {{"vocab_size", c.vocab_size},
                       {"hidden_size", c.hidden_size},
                       {"num_hidden_layers", c.num_hidden_layers},
                       {"num_attention_heads", c.num_attention_heads},
                       {"q_lora_rank", c.q_lora_rank},
                       {"kv_lora_rank", c.kv_lora_rank},
                       {"qk_nope_head_dim", c.qk_nope_head_dim},
                       {"qk_rope_head_dim", c.qk_rope_head_dim},
                       {"v_head_dim", c.v_head_dim},
                       {"intermediate_size", c.intermediate_size},
                       {"moe_intermediate_size", c.moe_intermediate_size},
                       {"n_routed_experts", c.n_routed_experts},
                       {"n_shared_experts", c.n_shared_experts},
                       {"num_experts_per_tok", c.num_experts_per_tok},
                       {"first_k_dense_replace", c.first_k_dense_replace},
                       {"moe_layers", moe_layers},
                       {"max_position_embeddings", c.max_position_embeddings},
                       {"rope_type", rope_type_name(c.rope.type)},
                       {"rope_theta", c.rope.theta},
                       {"rope_factor", c.rope.factor},
                       {"softmax_scale", c.softmax_scale()}};
        j["cache_elements_per_token_per_layer"] = {
            {"mla", mla}, {"mha", mha}, {"gqa", gqa}, {"mqa", mqa}, {"gqa_groups", gqa_groups}};
        j["cache_elements_per_token"] = {
            {"mla", mla * L}, {"mha", mha * L}, {"gqa", gqa * L}, {"mqa", mqa * L}};
        j["mha_over_mla"] = static_cast<double>(mha) / mla;
        if (w.fp8_matrices)
            j["fp8"] = {
                {"matrices", w.fp8_matrices},
                {"weight_block_size", {c.quantization.block_rows, c.quantization.block_cols}},
                {"checkpoint_bytes", w.fp8_checkpoint_bytes},
                {"dequantized_bf16_bytes", w.dequantized_bytes}};
        j["unread_config_keys"] = c.unread_keys;
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "model        " << dir.string() << "\n"
              << "type         " << c.model_type_name() << ", " << L << " layers (" << moe_layers
              << " MoE), hidden " << c.hidden_size << ", vocab " << c.vocab_size << "\n"
              << "parameters   " << params << " (" << files.file_bytes / 1048576.0
              << " MiB of weights)\n";
    if (files.gguf) {
        std::cout << "weights      GGUF,";
        for (const auto& [type, count] : files.matrix_types)
            std::cout << " " << count << " " << type;
        std::cout << " matrices, " << files.bits_per_weight << " bits per weight\n";
    }
    if (w.fp8_matrices)
        std::cout << "fp8          " << w.fp8_matrices << " matrices stored as FP8 E4M3 in "
                  << c.quantization.block_rows << "x" << c.quantization.block_cols << " blocks ("
                  << w.fp8_checkpoint_bytes / 1048576.0
                  << " MiB with scales) are dequantized to BF16 at load: " << w.dequantized_bytes
                  << " bytes (" << w.dequantized_bytes / 1048576.0 << " MiB)\n";
    std::cout << "attention    MLA: " << n_h << " heads, q_lora " << c.q_lora_rank << ", kv_lora "
              << c.kv_lora_rank << ", nope " << c.qk_nope_head_dim << ", rope "
              << c.qk_rope_head_dim << " (" << rope_type_name(c.rope.type) << "), v "
              << c.v_head_dim << "\n";
    if (moe_layers)
        std::cout << "experts      " << c.n_routed_experts << " routed (top "
                  << c.num_experts_per_tok << ") + " << c.n_shared_experts << " shared, "
                  << c.moe_intermediate_size << " wide\n";
    std::cout << "cache/token  elements over all layers: MLA " << mla * L << ", MHA " << mha * L
              << ", GQA-" << gqa_groups << " " << gqa * L << ", MQA " << mqa * L
              << "  (MHA / MLA = " << static_cast<double>(mha) / mla << ")\n";
    if (!c.unread_keys.empty()) {
        std::cout << (files.gguf ? "unread       metadata keys LatentChat does not read:"
                                 : "unread       config.json keys LatentChat does not read:");
        for (const std::string& k : c.unread_keys)
            std::cout << " " << k;
        std::cout << "\n";
    }
    return 0;
}

int cmd_logits(const std::vector<std::string>& argv) {
    Args args(argv, with_model_flags({"tokens", "out"}), {});
    std::vector<int> tokens = args.int_list("tokens");
    if (tokens.empty()) throw Error("logits needs --tokens 1,2,3");
    auto out = args.opt("out");
    if (!out) throw Error("logits needs --out FILE.npy");
    // Fail before the forward pass, not after it, when the result could not be saved.
    std::error_code ec;
    fs::path out_path(*out);
    fs::path parent = out_path.has_parent_path() ? out_path.parent_path() : fs::path(".");
    if (fs::is_directory(out_path, ec) || !fs::is_directory(parent, ec))
        throw Error(*out + " cannot be written (no such folder, or it is a folder)");
    OpenedModel opened = open_model_from(args, false);
    auto& model = opened.model;
    auto cache = model->new_cache(static_cast<int>(tokens.size()));
    std::vector<float> logits(tokens.size() * model->config().vocab_size);
    model->forward(tokens, *cache, logits.data(), true);
    write_npy_f32(*out, logits.data(),
                  {static_cast<int64_t>(tokens.size()), model->config().vocab_size});
    return 0;
}

int cmd_perplexity(const std::vector<std::string>& argv) {
    Args args(argv, with_model_flags({"file", "ctx"}), {"json"});
    auto file = args.opt("file");
    if (!file) throw Error("perplexity needs --file TEXT_FILE");
    std::ifstream in(*file, std::ios::binary);
    if (!in) throw Error("cannot read " + *file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.empty()) throw Error(*file + " is empty");

    OpenedModel opened = open_model_from(args, true);
    auto& model = opened.model;
    auto& tokenizer = opened.tokenizer;
    const ModelConfig& c = model->config();
    const int ctx = args.integer("ctx", std::min(c.max_position_embeddings, 1024), 2, 1 << 20);
    std::vector<int> ids = tokenizer->encode(text, false);
    const int bos = tokenizer->bos_id();
    // Windows of ctx tokens, each starting with BOS, score every text token exactly once.
    const int per_window = bos >= 0 ? ctx - 1 : ctx;
    auto cache = model->new_cache(ctx);
    std::vector<float> logits(static_cast<size_t>(ctx) * c.vocab_size);
    double nll = 0;
    int64_t scored = 0;
    for (size_t start = 0; start < ids.size(); start += per_window) {
        size_t end = std::min(ids.size(), start + per_window);
        std::vector<int> window;
        if (bos >= 0) window.push_back(bos);
        window.insert(window.end(), ids.begin() + start, ids.begin() + end);
        cache->clear();
        model->forward(window, *cache, logits.data(), true);
        const int first_target = bos >= 0 ? 1 : 1;
        for (size_t t = first_target; t < window.size(); ++t) {
            const float* row = &logits[(t - 1) * c.vocab_size];
            float m = *std::max_element(row, row + c.vocab_size);
            double sum = 0;
            for (int i = 0; i < c.vocab_size; ++i)
                sum += std::exp(static_cast<double>(row[i] - m));
            nll += std::log(sum) + m - row[window[t]];
            ++scored;
        }
    }
    const double nats = nll / std::max<int64_t>(scored, 1);
    const double bpb = nll / std::log(2.0) / static_cast<double>(text.size());
    nlohmann::json j = {{"file", *file},
                        {"tokens", scored},
                        {"bytes", text.size()},
                        {"nll_per_token", nats},
                        {"perplexity", std::exp(nats)},
                        {"bits_per_byte", bpb}};
    if (args.has("json")) {
        std::cout << j.dump(2) << "\n";
    } else {
        std::cout << "tokens scored   " << scored << "\nnats per token  " << nats
                  << "\nperplexity      " << std::exp(nats) << "\nbits per byte   " << bpb << "\n";
    }
    return 0;
}

}  // namespace lc::cli
