#pragma once
// Device helpers shared by rope.cu and mla_attention.cu: one RoPE pair rotation and the write of
// one latent cache row (block-wide).
#include "cuda_common.cuh"
#include "rope.cuh"

namespace lc::cuda {

// Rotates pair i of one head's rope part at `position`. The angle in f32 as transformers forms
// it; cos and sin in double, as core/rope.cpp.
__device__ __forceinline__ void rope_pair(const RopeTable& r, float* x, int position, int i) {
    const float angle = r.inv_freq[i] * static_cast<float>(position);
    const float c = static_cast<float>(cos(static_cast<double>(angle))) * r.attention_factor;
    const float s = static_cast<float>(sin(static_cast<double>(angle))) * r.attention_factor;
    const int half = r.dim / 2;
    const int ia = r.interleave ? 2 * i : i;
    const int ib = r.interleave ? 2 * i + 1 : i + half;
    const float a = x[ia], b = x[ib];
    x[ia] = a * c - b * s;
    x[ib] = r.interleave ? a * s + b * c : b * c + a * s;
}

// The whole block writes the cache row of `position`: RMSNorm(c_kv) * norm and RoPE(k_pe) of
// `src` ([d_c + d_rope] f32), as bf16. `row` is shared scratch of d_c + d_rope floats.
__device__ __forceinline__ void write_latent_row(const PagedCache& cache, int layer, int position,
                                                 const float* __restrict__ src,
                                                 const float* __restrict__ norm, float eps,
                                                 const RopeTable& rope, float* row,
                                                 float* partial) {
    const int width = cache.d_c + cache.d_rope;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const float v = src[i];
        row[i] = v;
        if (i < cache.d_c) ss += v * v;
    }
    const float inv = rsqrtf(block_sum(ss, partial) / cache.d_c + eps);  // publishes row[] too
    for (int i = threadIdx.x; i < cache.d_rope / 2; i += blockDim.x)
        rope_pair(rope, row + cache.d_c, position, i);
    __syncthreads();
    auto* page = static_cast<__nv_bfloat16*>(cache.pages[position / cache.page_tokens]);
    __nv_bfloat16* dst =
        page +
        (static_cast<int64_t>(layer) * cache.page_tokens + position % cache.page_tokens) * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x)
        dst[i] = __float2bfloat16(i < cache.d_c ? norm[i] * (row[i] * inv) : row[i]);
}

}  // namespace lc::cuda
