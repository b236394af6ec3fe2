#pragma once
// Rotary embedding of q_pe and k_pe (default, linear or YaRN frequencies, computed on the host
// exactly as core/rope.cpp does) and the write of new latent rows into the paged cache.
#include <cuda_runtime.h>

#include <cstdint>

namespace lc::cuda {

struct RopeTable {
    const float* inv_freq = nullptr;  // [dim / 2], device memory
    int dim = 0;
    bool interleave = true;
    float attention_factor = 1.0f;
};

// Rotates n_heads vectors of `rope.dim` per token, at `offset` inside heads of `head_stride`.
// Token t is at position *first_position + t (device memory, so recorded steps replay).
void rope(float* x, int64_t token_stride, int n_heads, int64_t head_stride, int offset,
          const int* first_position, int n, const RopeTable& rope, cudaStream_t stream);

// The cache's view for kernels: page p holds [layers][page_tokens][d_c + d_rope] bf16.
struct PagedCache {
    void* const* pages = nullptr;  // device array of page pointers
    int page_tokens = 64;
    int layers = 0;
    int d_c = 0;
    int d_rope = 0;
};

// Rows for positions *first_position + [0, n) of `layer`: RMSNorm(c_kv) * norm and RoPE(k_pe),
// stored as bf16. kv_a is [n, d_c + d_rope] f32.
void store_latent(const PagedCache& cache, int layer, const int* first_position, int n,
                  const float* kv_a, const float* norm, float eps, const RopeTable& rope,
                  cudaStream_t stream);

}  // namespace lc::cuda
