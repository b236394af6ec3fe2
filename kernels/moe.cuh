#pragma once
// DeepSeekMoE on the GPU: routing (as core/moe_routing.cpp) and the chosen experts' SwiGLU
// products, all from device memory, so a decode step never waits for the host.
#include <cuda_runtime.h>

#include <cstdint>

#include "config.h"
#include "cpu_matmul.h"

namespace lc::cuda {

// One MoE layer's experts as the kernels see them: device arrays of per-expert pointers.
struct ExpertTable {
    const void* const* gate = nullptr;  // [n_routed]
    const void* const* up = nullptr;
    const void* const* down = nullptr;
    int64_t gate_stride = 0, down_stride = 0;  // row strides, elements
    DType dtype = DType::BF16;
    const float* bias = nullptr;  // [n_routed] or null
};

struct RoutingParams {
    int n_routed = 0, k = 0, n_group = 1, topk_group = 1;
    int softmax = 1;        // else sigmoid
    int group_method = 0;   // 0 greedy, 1 group-limited max, 2 noaux_tc (sum of two best)
    int renormalize = 0;
    float scaling = 1.0f;
    static RoutingParams from(const ModelConfig& config);
};

// logits [n, n_routed] -> ids/weights [n, k].
void route(const RoutingParams& p, const float* logits, const float* bias, int n, int* ids,
           float* weights, cudaStream_t stream);

// out[t] += sum_j weights[t, j] * expert_{ids[t, j]}(x[t]); h is scratch [n * k, intermediate].
void routed_experts(const ExpertTable& experts, int d, int intermediate, int k, const int* ids,
                    const float* weights, const float* x, int n, float* h, float* out,
                    cudaStream_t stream);

}  // namespace lc::cuda
