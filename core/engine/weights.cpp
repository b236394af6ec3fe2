#include "engine/weights.h"

#include <sstream>

#include "base/error.h"

namespace lc {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s << (i ? ", " : "") << shape[i];
    s << "]";
    return s.str();
}

class Binder {
public:
    Binder(const SafetensorsArchive& archive) : archive_(archive) {}

    const TensorView& tensor(const std::string& name, std::vector<int64_t> shape) {
        const TensorView& t = archive_.get(name);
        if (t.dtype == DType::Other)
            throw Error(t.file + ": tensor '" + name + "' has dtype " + t.dtype_text +
                        "; LatentChat reads F32, F16 and BF16 weights");
        if (t.shape != shape)
            throw Error(t.file + ": tensor '" + name + "' has shape " + shape_text(t.shape) +
                        " but config.json implies " + shape_text(shape));
        return t;
    }

    WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) {
        const TensorView& t = tensor(name, {rows, cols});
        bytes += t.nbytes;
        return WeightMatrix{t.data, t.dtype, rows, cols, cols};
    }

    ParamVector vector(const std::string& name, int64_t n) {
        const TensorView& t = tensor(name, {n});
        ParamVector v;
        v.host.resize(n);
        for (int64_t i = 0; i < n; ++i)
            v.host[i] = load_as_f32(t.data, t.dtype, i);
        return v;
    }

    bool has(const std::string& name) const { return archive_.find(name) != nullptr; }

    // transformers 5 may save experts fused: gate_up_proj [E, 2I, d] and down_proj [E, d, I].
    std::vector<FeedForwardWeights> fused_experts(const std::string& prefix, int64_t n_experts,
                                                  int64_t d, int64_t inter) {
        const TensorView& gu = tensor(prefix + "gate_up_proj", {n_experts, 2 * inter, d});
        const TensorView& dn = tensor(prefix + "down_proj", {n_experts, d, inter});
        bytes += gu.nbytes + dn.nbytes;
        WeightMatrix gate_up{gu.data, gu.dtype, n_experts * 2 * inter, d, d};
        WeightMatrix down{dn.data, dn.dtype, n_experts * d, inter, inter};
        std::vector<FeedForwardWeights> out(n_experts);
        for (int64_t e = 0; e < n_experts; ++e) {
            out[e].gate = gate_up.row_block(e * 2 * inter, inter);
            out[e].up = gate_up.row_block(e * 2 * inter + inter, inter);
            out[e].down = down.row_block(e * d, d);
            out[e].intermediate = static_cast<int>(inter);
        }
        return out;
    }

    FeedForwardWeights ffn(const std::string& prefix, int64_t d, int64_t inter) {
        FeedForwardWeights f;
        f.gate = matrix(prefix + "gate_proj.weight", inter, d);
        f.up = matrix(prefix + "up_proj.weight", inter, d);
        f.down = matrix(prefix + "down_proj.weight", d, inter);
        f.intermediate = static_cast<int>(inter);
        return f;
    }

    size_t bytes = 0;

private:
    const SafetensorsArchive& archive_;
};

}  // namespace

ModelWeights ModelWeights::bind(const ModelConfig& c, const SafetensorsArchive& archive) {
    Binder b(archive);
    ModelWeights w;
    const int64_t d = c.hidden_size;
    const int64_t n_h = c.num_attention_heads;
    w.embed = b.matrix("model.embed_tokens.weight", c.vocab_size, d);
    w.final_norm = b.vector("model.norm.weight", d);
    if (c.tie_word_embeddings && !b.has("lm_head.weight")) {
        w.lm_head = w.embed;
    } else {
        w.lm_head = b.matrix("lm_head.weight", c.vocab_size, d);
    }

    w.layers.resize(c.num_hidden_layers);
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        LayerWeights& L = w.layers[l];
        const std::string p = "model.layers." + std::to_string(l) + ".";
        L.input_norm = b.vector(p + "input_layernorm.weight", d);
        L.post_attention_norm = b.vector(p + "post_attention_layernorm.weight", d);
        const std::string a = p + "self_attn.";
        const int64_t q_rows = n_h * c.qk_head_dim();
        if (c.q_lora_rank > 0) {
            L.q_a_proj = b.matrix(a + "q_a_proj.weight", c.q_lora_rank, d);
            L.q_a_norm = b.vector(a + "q_a_layernorm.weight", c.q_lora_rank);
            L.q_b_proj = b.matrix(a + "q_b_proj.weight", q_rows, c.q_lora_rank);
        } else {
            L.q_proj = b.matrix(a + "q_proj.weight", q_rows, d);
        }
        L.kv_a_proj =
            b.matrix(a + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, d);
        L.kv_a_norm = b.vector(a + "kv_a_layernorm.weight", c.kv_lora_rank);
        L.kv_b_proj = b.matrix(a + "kv_b_proj.weight", n_h * (c.qk_nope_head_dim + c.v_head_dim),
                               c.kv_lora_rank);
        L.o_proj = b.matrix(a + "o_proj.weight", d, n_h * c.v_head_dim);

        const std::string m = p + "mlp.";
        L.is_moe = c.is_moe_layer(l);
        if (!L.is_moe) {
            L.dense = b.ffn(m, d, c.intermediate_size);
            continue;
        }
        const int64_t inter = c.moe_intermediate_size;
        L.router = b.matrix(m + "gate.weight", c.n_routed_experts, d);
        if (b.has(m + "gate.e_score_correction_bias"))
            L.router_bias = b.vector(m + "gate.e_score_correction_bias", c.n_routed_experts);
        if (b.has(m + "experts.gate_up_proj")) {
            L.experts = b.fused_experts(m + "experts.", c.n_routed_experts, d, inter);
        } else {
            L.experts.reserve(c.n_routed_experts);
            for (int e = 0; e < c.n_routed_experts; ++e)
                L.experts.push_back(b.ffn(m + "experts." + std::to_string(e) + ".", d, inter));
        }
        if (c.n_shared_experts > 0)
            L.shared = b.ffn(m + "shared_experts.", d, inter * c.n_shared_experts);
    }
    w.matrix_bytes = b.bytes;
    return w;
}

}  // namespace lc
