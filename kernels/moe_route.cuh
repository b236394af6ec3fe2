#pragma once
// One token's routing by one warp, as core/engine/moe_routing.cpp routes it: shared by the
// plain-weight experts (moe.cu) and the quantized ones (quant_moe.cu).
#include "cuda_common.cuh"
#include "moe.cuh"

namespace lc::cuda {

constexpr int kMaxExperts = 512;

// The lowest index holding the largest value of v[0, n) (ties to the lower index, as the CPU).
__device__ inline int warp_argmax(const float* v, int n) {
    const int lane = threadIdx.x % kWarp;
    float best = -INFINITY;
    int best_i = n;
    for (int i = lane; i < n; i += kWarp)
        if (v[i] > best || (v[i] == best && i < best_i)) best = v[i], best_i = i;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
        if (ov > best || (ov == best && oi < best_i)) best = ov, best_i = oi;
    }
    return best_i < n ? best_i : 0;
}

// One token's routing by one warp (as core/moe_routing.cpp): writes k ids and weights.
// scores/choice hold n_routed floats, group 64.
__device__ inline void route_warp(const RoutingParams& p, const float* __restrict__ lg,
                                  const float* __restrict__ bias, float* scores, float* choice,
                                  float* group, int* ids, float* weights) {
    const int lane = threadIdx.x % kWarp;
    const int E = p.n_routed;
    float mx = -INFINITY;
    for (int i = lane; i < E; i += kWarp)
        mx = fmaxf(mx, lg[i]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int i = lane; i < E; i += kWarp) {
        const float s = p.softmax ? expf(lg[i] - mx) : 1.0f / (1.0f + expf(-lg[i]));
        scores[i] = s;
        sum += s;
    }
    sum = warp_sum(sum);
    for (int i = lane; i < E; i += kWarp) {
        if (p.softmax) scores[i] /= sum;
        choice[i] = scores[i] + (bias ? bias[i] : 0.0f);
    }
    __syncwarp();
    if (p.group_method != 0) {
        const int size = E / p.n_group;
        for (int g = lane; g < p.n_group; g += kWarp) {
            const float* s = choice + g * size;
            float best = -INFINITY, second = -INFINITY;
            for (int i = 0; i < size; ++i) {
                if (s[i] > best) {
                    second = best;
                    best = s[i];
                } else if (s[i] > second) {
                    second = s[i];
                }
            }
            group[g] = p.group_method == 1 ? best : best + second;
        }
        __syncwarp();
        uint64_t kept = 0;
        for (int j = 0; j < p.topk_group; ++j) {
            const int g = warp_argmax(group, p.n_group);
            kept |= uint64_t(1) << g;
            __syncwarp();
            if (lane == 0) group[g] = -INFINITY;
            __syncwarp();
        }
        for (int i = lane; i < E; i += kWarp)
            if (!(kept >> (i / size) & 1)) choice[i] = -INFINITY;
        __syncwarp();
    }
    float total = 0.0f;
    for (int j = 0; j < p.k; ++j) {
        const int e = warp_argmax(choice, E);
        __syncwarp();
        if (lane == 0) {
            choice[e] = -INFINITY;
            ids[j] = e;
            weights[j] = scores[e];
        }
        total += scores[e];
        __syncwarp();
    }
    if (lane == 0)
        for (int j = 0; j < p.k; ++j) {
            float w = weights[j];
            if (p.renormalize) w /= (total + 1e-20f);
            weights[j] = w * p.scaling;
        }
    __syncwarp();
}

constexpr int kMaxK = 16;

}  // namespace lc::cuda
