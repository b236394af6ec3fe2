// Binds a GGUF file's tensors (llama.cpp's names for architecture deepseek2) to ModelWeights.
// Matrices stay quantized in the mapped file; norm vectors and router biases become f32 copies.
// The attention's kv_b is the one matrix rebuilt at load (docs/design.md section 7): newer files
// split it into attn_k_b (W_UK transposed per head) and attn_v_b, older ones keep attn_kv_b; both
// become one [n_h * (d_nope + d_v), d_c] matrix in the layout the attention op reads, F32 for
// F32/F16 sources, BF16 otherwise (exact for BF16; for quantized sources the BF16 rounding,
// 2^-9 relative, is far below the quantization's own error).
#include <algorithm>
#include <cstring>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/weights.h"
#include "formats/dequant.h"
#include "formats/gguf.h"

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

class GgufBinder {
public:
    GgufBinder(const GgufFile& file, BindMode mode) : file_(file), mode_(mode) {}

    const GgufTensor& tensor(const std::string& name, const std::vector<int64_t>& shape) const {
        const GgufTensor& t = file_.tensor(name);
        if (t.dtype == DType::Other)
            throw Error(t.file + ": tensor '" + name + "' has ggml type " +
                        std::to_string(t.ggml_type) +
                        ", which LatentChat does not read (it reads F32, F16, BF16, Q4_0, Q4_1, "
                        "Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K)");
        if (t.shape != shape)
            throw Error(t.file + ": tensor '" + name + "' has shape " + shape_text(t.shape) +
                        " but the file's metadata implies " + shape_text(shape));
        return t;
    }

    bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

    WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) {
        const GgufTensor& t = tensor(name, {rows, cols});
        bytes += t.nbytes;
        return WeightMatrix{t.data, t.dtype, rows, cols, cols};
    }

    // A 3-D tensor [n, rows, cols] as n matrices (the experts of a layer, stored together).
    std::vector<WeightMatrix> stacked(const std::string& name, int64_t n, int64_t rows,
                                      int64_t cols) {
        const GgufTensor& t = tensor(name, {n, rows, cols});
        bytes += t.nbytes;
        const WeightMatrix all{t.data, t.dtype, n * rows, cols, cols};
        std::vector<WeightMatrix> out;
        out.reserve(static_cast<size_t>(n));
        for (int64_t e = 0; e < n; ++e)
            out.push_back(all.row_block(e * rows, rows));
        return out;
    }

    ParamVector vector(const std::string& name, int64_t n) const {
        const GgufTensor& t = tensor(name, {n});
        ParamVector v;
        v.host.resize(static_cast<size_t>(n));
        if (mode_ == BindMode::Load) dequantize_row(t.dtype, t.data, n, v.host.data());
        return v;
    }

    // kv_b as the attention op reads it: per head, W_UK [d_nope, d_c] then W_UV [d_v, d_c].
    WeightMatrix kv_b(const std::string& prefix, int64_t n_h, int64_t d_nope, int64_t d_v,
                      int64_t d_c) {
        const int64_t rows = n_h * (d_nope + d_v);
        if (has(prefix + "attn_kv_b.weight")) {
            const GgufTensor& t = tensor(prefix + "attn_kv_b.weight", {rows, d_c});
            return rebuilt(t.dtype, rows, d_c, [&](float* out) {
                for (int64_t r = 0; r < rows; ++r)
                    dequantize_row(
                        t.dtype,
                        static_cast<const uint8_t*>(t.data) + r * dtype_row_bytes(t.dtype, d_c),
                        d_c, out + r * d_c);
            });
        }
        // k_b [n_h, d_c, d_nope]: W_UK transposed per head; v_b [n_h, d_v, d_c]: W_UV.
        const GgufTensor& k = tensor(prefix + "attn_k_b.weight", {n_h, d_c, d_nope});
        const GgufTensor& v = tensor(prefix + "attn_v_b.weight", {n_h, d_v, d_c});
        const DType widest = k.dtype == DType::F32 || v.dtype == DType::F32 ? DType::F32 : k.dtype;
        return rebuilt(widest, rows, d_c, [&](float* out) {
            std::vector<float> row(static_cast<size_t>(std::max(d_nope, d_c)));
            const auto* kb = static_cast<const uint8_t*>(k.data);
            const auto* vb = static_cast<const uint8_t*>(v.data);
            for (int64_t h = 0; h < n_h; ++h) {
                float* head = out + h * (d_nope + d_v) * d_c;
                for (int64_t c = 0; c < d_c; ++c) {  // row c of k_b[h]: column c of W_UK[h]
                    dequantize_row(k.dtype, kb + (h * d_c + c) * dtype_row_bytes(k.dtype, d_nope),
                                   d_nope, row.data());
                    for (int64_t i = 0; i < d_nope; ++i)
                        head[i * d_c + c] = row[static_cast<size_t>(i)];
                }
                for (int64_t j = 0; j < d_v; ++j)
                    dequantize_row(v.dtype, vb + (h * d_v + j) * dtype_row_bytes(v.dtype, d_c), d_c,
                                   head + (d_nope + j) * d_c);
            }
        });
    }

    size_t bytes = 0;                // what the forward reads
    size_t rebuilt_bytes = 0;        // kv_b copies made at load
    size_t replaced_file_bytes = 0;  // the file's bytes those copies stand for
    std::vector<std::shared_ptr<void>> keep;

private:
    // A matrix computed at load into memory of its own: F32 for F32/F16 sources, else BF16.
    template <class Fill>
    WeightMatrix rebuilt(DType source, int64_t rows, int64_t cols, Fill fill) {
        const bool f32 = source == DType::F32 || source == DType::F16;
        const DType dtype = f32 ? DType::F32 : DType::BF16;
        const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
        const size_t out_bytes = n * dtype_size(dtype);
        rebuilt_bytes += out_bytes;
        bytes += out_bytes;
        replaced_file_bytes += static_cast<size_t>(dtype_row_bytes(source, cols)) * rows;
        if (mode_ == BindMode::CheckOnly) return WeightMatrix{nullptr, dtype, rows, cols, cols};
        std::shared_ptr<float[]> wide;
        try {
            wide.reset(new float[n]);
        } catch (const std::bad_alloc&) {
            throw Error("rebuilding the attention's kv_b matrices needs " +
                        std::to_string(n * 4 / 1048576) + " MiB, which could not be allocated");
        }
        fill(wide.get());
        if (f32) {
            keep.push_back(wide);
            return WeightMatrix{wide.get(), dtype, rows, cols, cols};
        }
        std::shared_ptr<uint16_t[]> narrow(new uint16_t[n]);
        for (size_t i = 0; i < n; ++i)
            narrow[i] = f32_to_bf16(wide[i]);
        keep.push_back(narrow);
        return WeightMatrix{narrow.get(), dtype, rows, cols, cols};
    }

    const GgufFile& file_;
    BindMode mode_;
};

}  // namespace

ModelWeights ModelWeights::bind_gguf(const ModelConfig& c, const GgufFile& file, BindMode mode) {
    GgufBinder b(file, mode);
    ModelWeights w;
    const int64_t d = c.hidden_size;
    const int64_t n_h = c.num_attention_heads;
    w.embed = b.matrix("token_embd.weight", c.vocab_size, d);
    w.final_norm = b.vector("output_norm.weight", d);
    w.lm_head = b.has("output.weight") ? b.matrix("output.weight", c.vocab_size, d) : w.embed;

    w.layers.resize(c.num_hidden_layers);
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        LayerWeights& L = w.layers[l];
        const std::string p = "blk." + std::to_string(l) + ".";
        L.input_norm = b.vector(p + "attn_norm.weight", d);
        L.post_attention_norm = b.vector(p + "ffn_norm.weight", d);
        const int64_t q_rows = n_h * c.qk_head_dim();
        if (c.q_lora_rank > 0) {
            L.q_a_proj = b.matrix(p + "attn_q_a.weight", c.q_lora_rank, d);
            L.q_a_norm = b.vector(p + "attn_q_a_norm.weight", c.q_lora_rank);
            L.q_b_proj = b.matrix(p + "attn_q_b.weight", q_rows, c.q_lora_rank);
        } else {
            L.q_proj = b.matrix(p + "attn_q.weight", q_rows, d);
        }
        L.kv_a_proj = b.matrix(p + "attn_kv_a_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, d);
        L.kv_a_norm = b.vector(p + "attn_kv_a_norm.weight", c.kv_lora_rank);
        L.kv_b_proj = b.kv_b(p, n_h, c.qk_nope_head_dim, c.v_head_dim, c.kv_lora_rank);
        L.o_proj = b.matrix(p + "attn_output.weight", d, n_h * c.v_head_dim);

        L.is_moe = c.is_moe_layer(l);
        if (!L.is_moe) {
            const int64_t inter = c.intermediate_size;
            L.dense.gate = b.matrix(p + "ffn_gate.weight", inter, d);
            L.dense.up = b.matrix(p + "ffn_up.weight", inter, d);
            L.dense.down = b.matrix(p + "ffn_down.weight", d, inter);
            L.dense.intermediate = static_cast<int>(inter);
            continue;
        }
        const int64_t inter = c.moe_intermediate_size;
        const int64_t n_exp = c.n_routed_experts;
        L.router = b.matrix(p + "ffn_gate_inp.weight", n_exp, d);
        if (b.has(p + "exp_probs_b.bias")) L.router_bias = b.vector(p + "exp_probs_b.bias", n_exp);
        const auto gate = b.stacked(p + "ffn_gate_exps.weight", n_exp, inter, d);
        const auto up = b.stacked(p + "ffn_up_exps.weight", n_exp, inter, d);
        const auto down = b.stacked(p + "ffn_down_exps.weight", n_exp, d, inter);
        L.experts.resize(static_cast<size_t>(n_exp));
        for (int64_t e = 0; e < n_exp; ++e)
            L.experts[e] = FeedForwardWeights{gate[e], up[e], down[e], static_cast<int>(inter)};
        if (c.n_shared_experts > 0) {
            const int64_t shared = inter * c.n_shared_experts;
            L.shared.gate = b.matrix(p + "ffn_gate_shexp.weight", shared, d);
            L.shared.up = b.matrix(p + "ffn_up_shexp.weight", shared, d);
            L.shared.down = b.matrix(p + "ffn_down_shexp.weight", d, shared);
            L.shared.intermediate = static_cast<int>(shared);
        }
    }
    w.matrix_bytes = b.bytes;
    w.rebuilt = std::move(b.keep);
    w.rebuilt_bytes = b.rebuilt_bytes;
    w.rebuilt_file_bytes = b.replaced_file_bytes;
    return w;
}

}  // namespace lc
