#pragma once
// The model's tensors, found by their published names and checked against the config before
// the first token. Matrices stay in the mapped checkpoint (or wherever the backend put them);
// norm vectors and router biases are small and kept as f32 copies. FP8 block-scaled matrices
// are the exception: dequantized to BF16 once, at bind (docs/design.md section 2.1).
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/weight_matrix.h"
#include "formats/config.h"
#include "formats/safetensors.h"

namespace lc {

class GgufFile;

// A small f32 vector (a norm's weights, a router bias): kept on the host, and wherever the
// backend computes (`backend_data`, set by Backend::upload; the host copy for the CPU).
struct ParamVector {
    std::vector<float> host;
    const float* backend_data = nullptr;

    const float* data() const { return backend_data ? backend_data : host.data(); }
    size_t size() const { return host.size(); }
    bool empty() const { return host.empty(); }
};

struct FeedForwardWeights {  // SwiGLU: down(silu(gate x) * up x)
    WeightMatrix gate, up, down;
    int intermediate = 0;
};

struct LayerWeights {
    ParamVector input_norm, post_attention_norm;  // [d]
    // Attention
    WeightMatrix q_proj;     // [n_h * (d_nope + d_rope), d] when q_lora_rank == 0
    WeightMatrix q_a_proj;   // [d_cq, d]
    ParamVector q_a_norm;    // [d_cq]
    WeightMatrix q_b_proj;   // [n_h * (d_nope + d_rope), d_cq]
    WeightMatrix kv_a_proj;  // [d_c + d_rope, d]
    ParamVector kv_a_norm;   // [d_c]
    WeightMatrix kv_b_proj;  // [n_h * (d_nope + d_v), d_c]: W_UK[h] then W_UV[h]
    WeightMatrix o_proj;     // [d, n_h * d_v]
    // Feed-forward: dense, or MoE (router + routed experts + shared experts)
    bool is_moe = false;
    FeedForwardWeights dense;
    WeightMatrix router;      // [n_routed, d]
    ParamVector router_bias;  // [n_routed], V3's e_score_correction_bias (or empty)
    std::vector<FeedForwardWeights> experts;
    FeedForwardWeights shared;  // intermediate = n_shared * moe_intermediate (0: none)
};

enum class BindMode {
    Load,       // FP8 matrices are dequantized to BF16 (held in ModelWeights::dequantized)
    CheckOnly,  // everything is checked, nothing allocated; FP8 matrices get data == nullptr
};

struct ModelWeights {
    WeightMatrix embed;  // [vocab, d]
    ParamVector final_norm;
    WeightMatrix lm_head;  // [vocab, d] (the embedding when tied)
    std::vector<LayerWeights> layers;
    size_t matrix_bytes = 0;  // bytes of all matrices the forward reads (FP8 ones as BF16)

    // The BF16 copies of the checkpoint's FP8 matrices, one allocation; shared so that a copy
    // of this struct still points at live memory.
    std::shared_ptr<uint16_t[]> dequantized;
    size_t fp8_matrices = 0;          // matrices stored as F8_E4M3 in the checkpoint
    size_t fp8_checkpoint_bytes = 0;  // their bytes and their *_scale_inv's in the checkpoint
    size_t dequantized_bytes = 0;     // their BF16 copies (allocated only under BindMode::Load)

    // Matrices a GGUF file's tensors were rebuilt into at load (its kv_b, engine/gguf_weights.cpp)
    std::vector<std::shared_ptr<void>> rebuilt;
    size_t rebuilt_bytes = 0;       // their bytes in memory
    size_t rebuilt_file_bytes = 0;  // the file's bytes of the tensors they were made from

    // Finds every tensor the config implies and checks its dtype and shape; FP8 matrices also
    // their block scales. Throws lc::Error naming the tensor and the file on any mismatch.
    static ModelWeights bind(const ModelConfig& config, const SafetensorsArchive& archive,
                             BindMode mode = BindMode::Load);
    // The same for a GGUF file (llama.cpp's tensor names for deepseek2); matrices stay in the
    // file's types (quantized ones included). engine/gguf_weights.cpp.
    static ModelWeights bind_gguf(const ModelConfig& config, const GgufFile& file,
                                  BindMode mode = BindMode::Load);
};

}  // namespace lc
