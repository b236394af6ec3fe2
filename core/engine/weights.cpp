#include "engine/weights.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <new>
#include <sstream>
#include <system_error>
#include <thread>

#include "base/error.h"
#include "formats/fp8.h"

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

// One FP8 matrix to dequantize into its place in ModelWeights::dequantized.
struct Fp8Job {
    Fp8Matrix source;
    uint16_t* out = nullptr;
};

// Binds the tensors. Without `dequantize_to` (the first pass) FP8 matrices are only checked
// and counted; with it (the second pass, same order) each gets its slice of that buffer.
class Binder {
public:
    Binder(const ModelConfig& config, const SafetensorsArchive& archive,
           uint16_t* dequantize_to = nullptr)
        : config_(config), archive_(archive), dequantize_to_(dequantize_to) {}

    const TensorView& tensor(const std::string& name, std::vector<int64_t> shape) {
        const TensorView& t = archive_.get(name);
        if (t.dtype == DType::Other) {
            if (is_fp8_e4m3_dtype_text(t.dtype_text.c_str()))
                throw Error(t.file + ": tensor '" + name + "' has dtype " + t.dtype_text +
                            "; FP8 is read only for 2-D linear weights with block scales");
            throw Error(t.file + ": tensor '" + name + "' has dtype " + t.dtype_text +
                        "; LatentChat reads F32, F16 and BF16 weights, and F8_E4M3 ones with "
                        "block scales");
        }
        check_shape(t, shape);
        return t;
    }

    WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols) {
        const TensorView& t = archive_.get(name);
        if (is_fp8_e4m3_dtype_text(t.dtype_text.c_str())) return fp8_matrix(t, rows, cols);
        tensor(name, {rows, cols});
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

    size_t bytes = 0;                 // what the forward reads (FP8 matrices as BF16)
    int64_t fp8_elements = 0;         // of all FP8 matrices so far
    size_t fp8_matrices = 0;          // how many
    size_t fp8_checkpoint_bytes = 0;  // their bytes and their scales' in the checkpoint
    std::vector<Fp8Job> jobs;         // second pass only

private:
    void check_shape(const TensorView& t, const std::vector<int64_t>& shape) const {
        if (t.shape != shape)
            throw Error(t.file + ": tensor '" + t.name + "' has shape " + shape_text(t.shape) +
                        " but config.json implies " + shape_text(shape));
    }

    // W [rows, cols] of F8_E4M3 and W_scale_inv [ceil(rows/br), ceil(cols/bc)] (formats/fp8.h).
    WeightMatrix fp8_matrix(const TensorView& t, int64_t rows, int64_t cols) {
        const QuantizationConfig& q = config_.quantization;
        if (!q.fp8)
            throw Error(t.file + ": tensor '" + t.name + "' is " + t.dtype_text +
                        " (FP8), but config.json has no quantization_config with quant_method "
                        "fp8 to say how it is scaled");
        check_shape(t, {rows, cols});
        const std::string scale_name = t.name + "_scale_inv";
        const TensorView* s = archive_.find(scale_name);
        if (s == nullptr)
            throw Error(t.file + ": tensor '" + t.name + "' is " + t.dtype_text +
                        " but its block scales '" + scale_name +
                        "' are missing from the checkpoint");
        if (s->dtype == DType::Other)
            throw Error(s->file + ": tensor '" + scale_name + "' has dtype " + s->dtype_text +
                        "; block scales must be F32 (or F16, BF16)");
        const std::vector<int64_t> want = {fp8_scale_blocks(rows, q.block_rows),
                                           fp8_scale_blocks(cols, q.block_cols)};
        if (s->shape != want)
            throw Error(s->file + ": tensor '" + scale_name + "' has shape " +
                        shape_text(s->shape) + ", but weight " + shape_text(t.shape) +
                        " in blocks of config.json's quantization_config.weight_block_size [" +
                        std::to_string(q.block_rows) + ", " + std::to_string(q.block_cols) +
                        "] needs " + shape_text(want));
        for (int64_t i = 0; i < want[0] * want[1]; ++i) {
            const float v = load_as_f32(s->data, s->dtype, static_cast<size_t>(i));
            if (!std::isfinite(v))
                throw Error(s->file + ": tensor '" + scale_name + "' holds a scale that is not " +
                            "finite (" + std::to_string(v) + ") for block [" +
                            std::to_string(i / want[1]) + ", " + std::to_string(i % want[1]) + "]");
        }
        int64_t n = 0;
        if (__builtin_mul_overflow(rows, cols, &n) ||
            __builtin_add_overflow(fp8_elements, n, &fp8_elements))
            throw Error("the FP8 weights are too large to dequantize (at tensor '" + t.name + "')");
        fp8_matrices += 1;
        fp8_checkpoint_bytes += t.nbytes + s->nbytes;
        bytes += static_cast<size_t>(n) * dtype_size(DType::BF16);
        if (dequantize_to_ == nullptr) return WeightMatrix{nullptr, DType::BF16, rows, cols, cols};
        uint16_t* out = dequantize_to_ + (fp8_elements - n);
        const Fp8Matrix m{static_cast<const uint8_t*>(t.data),
                          s->data,
                          s->dtype,
                          rows,
                          cols,
                          q.block_rows,
                          q.block_cols};
        jobs.push_back({m, out});
        return WeightMatrix{out, DType::BF16, rows, cols, cols};
    }

    const ModelConfig& config_;
    const SafetensorsArchive& archive_;
    uint16_t* dequantize_to_;
};

// Dequantizes every job, in pieces of about 256K weights spread over the hardware threads
// (once, at load; a DeepSeek-size checkpoint has billions of weights).
void dequantize_all(const std::vector<Fp8Job>& jobs) {
    struct Piece {
        const Fp8Job* job;
        int64_t begin, end;
    };
    std::vector<Piece> pieces;
    for (const Fp8Job& j : jobs) {
        const int64_t step =
            std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, j.source.cols));
        for (int64_t r = 0; r < j.source.rows; r += step)
            pieces.push_back({&j, r, std::min(j.source.rows, r + step)});
    }
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < pieces.size();)
            dequantize_fp8_rows(pieces[i].job->source, pieces[i].begin, pieces[i].end,
                                pieces[i].job->out);
    };
    const size_t helpers =
        std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), pieces.size()) - 1;
    std::vector<std::jthread> threads;
    for (size_t k = 0; k < helpers; ++k) {
        try {
            threads.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // fewer threads; this one does the rest
        }
    }
    work();
}

ModelWeights bind_all(const ModelConfig& c, Binder& b) {
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
    w.fp8_matrices = b.fp8_matrices;
    w.fp8_checkpoint_bytes = b.fp8_checkpoint_bytes;
    w.dequantized_bytes = static_cast<size_t>(b.fp8_elements) * dtype_size(DType::BF16);
    return w;
}

}  // namespace

ModelWeights ModelWeights::bind(const ModelConfig& c, const SafetensorsArchive& archive,
                                BindMode mode) {
    // First pass: every tensor checked and the FP8 weights counted, before any allocation.
    Binder plan(c, archive);
    ModelWeights w = bind_all(c, plan);
    if (plan.fp8_elements == 0 || mode == BindMode::CheckOnly) return w;

    const int64_t n = plan.fp8_elements;
    if (static_cast<uint64_t>(n) > SIZE_MAX / dtype_size(DType::BF16))
        throw Error("the FP8 weights are too large to dequantize to BF16 in this address space");
    std::shared_ptr<uint16_t[]> buffer;
    try {
        buffer.reset(new uint16_t[static_cast<size_t>(n)]);
    } catch (const std::bad_alloc&) {
        throw Error("dequantizing the FP8 weights to BF16 needs " +
                    std::to_string(w.dequantized_bytes / 1048576) +
                    " MiB of memory, which could not be allocated");
    }
    // Second pass, same order: each FP8 matrix gets its slice of the buffer.
    Binder fill(c, archive, buffer.get());
    w = bind_all(c, fill);
    dequantize_all(fill.jobs);
    w.dequantized = std::move(buffer);
    return w;
}

}  // namespace lc
