#pragma once
// DeepSeekMoE on the GPU: routing (as core/moe_routing.cpp) and the chosen experts' SwiGLU
// products, all from device memory, so a decode step never waits for the host.
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"
#include "formats/config.h"

namespace lc::cuda {

// One MoE layer's experts as the kernels see them: device arrays of per-expert pointers.
struct ExpertTable {
    const void* const* gate = nullptr;  // [n_routed]
    const void* const* up = nullptr;
    const void* const* down = nullptr;
    int64_t gate_stride = 0, down_stride = 0;  // row strides, elements
    DType dtype = DType::BF16;
    const float* bias = nullptr;  // [n_routed] or null
    // The shared experts as `n_shared` always-on experts of the routed size (weight 1): the
    // rows [v * I, (v + 1) * I) of their gate/up and the same columns of their down.
    const void* shared_gate = nullptr;
    const void* shared_up = nullptr;
    const void* shared_down = nullptr;
    int64_t shared_gate_stride = 0, shared_down_stride = 0;
    int n_shared = 0;
};

struct RoutingParams {
    int n_routed = 0, k = 0, n_group = 1, topk_group = 1;
    int softmax = 1;       // else sigmoid
    int group_method = 0;  // 0 greedy, 1 group-limited max, 2 noaux_tc (sum of two best)
    int renormalize = 0;
    float scaling = 1.0f;
    static RoutingParams from(const ModelConfig& config);
};

// out[t] += sum_j w[t, j] * expert_{ids[t, j]}(x[t]) + sum_v shared_v(x[t]), with ids and
// weights routed from logits [n, n_routed] inside the first kernel (ids/weights [n, k] are
// scratch, h is scratch [n * (k + n_shared), intermediate]). Two launches.
void moe_experts(const ExpertTable& experts, const RoutingParams& routing, const float* logits,
                 int d, int intermediate, const float* x, int n, int* ids, float* weights, float* h,
                 float* out, cudaStream_t stream);

// Decode (one token) in three launches: the router's products with RMSNorm folded in, whose
// last block routes (a done-counter, reset for the next step); the experts' gate/up; their
// down products added to out. `counter` is one zeroed unsigned in device memory.
void moe_decode(const ExpertTable& experts, const RoutingParams& routing,
                const WeightMatrix& router, const float* x, const float* norm, float eps, float* xn,
                float* logits, int d, int intermediate, int* ids, float* weights, float* h,
                float* out, unsigned* counter, cudaStream_t stream);

}  // namespace lc::cuda
