#pragma once
// Absorbed MLA attention over the paged bf16 latent cache (docs/design.md section 4):
//   q_abs[h] = scale * [W_UK[h]^T q_nope[h] ; q_pe[h]]            (absorb_query)
//   partial results over a split of the keys, tensor cores          (attention_splits)
//   o[h] = W_UV[h] (softmax-weighted sum of c_kv over all splits)   (combine_splits)
// and the naive form (keys and values up-projected per head) as the oracle.
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"
#include "rope.cuh"

namespace lc::cuda {

constexpr int kHeadsPerGroup = 16;  // the tensor cores' M: heads are processed 16 at a time

struct MlaShape {
    int n_heads = 0, d_nope = 0, d_rope = 0, d_v = 0, d_c = 0;
    __host__ __device__ int groups() const {
        return (n_heads + kHeadsPerGroup - 1) / kHeadsPerGroup;
    }
    __host__ __device__ int width() const { return d_c + d_rope; }  // one cached row
};

// Scratch for one attention call, sized at load for the largest chunk.
struct MlaScratch {
    __nv_bfloat16* q_abs = nullptr;  // [tokens][groups * 16][width] (padding heads stay zero)
    float* part_o = nullptr;         // [tokens][groups][splits][16][d_c]
    float* part_ml = nullptr;        // [tokens][groups][splits][16][2]: running max, sum
    float* o_lat = nullptr;          // [tokens][n_heads][d_c]: the merged latent output
    int max_items = 0;               // tokens * splits the buffers hold
};

bool tensor_core_attention_supported(const MlaShape& shape);
// Raises the tensor-core kernel's shared-memory limit; once, before any launch or capture.
void prepare_attention(const MlaShape& shape);

void absorb_query(const MlaShape& shape, const float* q, const WeightMatrix& kv_b, float scale,
                  int n_tokens, __nv_bfloat16* q_abs, cudaStream_t stream);
// One launch for what precedes attention: RoPE on q_pe (into q_abs; q is left as is), the chunk's
// latent rows into the cache (RMSNorm(c_kv) * kv_norm, RoPE(k_pe)), and absorb_query.
void prepare_attention_step(const MlaShape& shape, float* q, const WeightMatrix& kv_b, float scale,
                            const RopeTable& rope, const int* first_position,
                            const PagedCache& cache, int layer, const float* kv_a,
                            const float* kv_norm, float eps, int n_tokens, __nv_bfloat16* q_abs,
                            cudaStream_t stream);
// Keys of token t are positions [0, *first_position + t]; each is split `splits` ways.
void attention_splits(const MlaShape& shape, const PagedCache& cache, int layer,
                      const int* first_position, int n_tokens, int splits,
                      const MlaScratch& scratch, cudaStream_t stream);
// Merges the splits into scratch.o_lat, then out[t][h] = W_UV[h] o_lat[t][h]. Two launches.
void combine_splits(const MlaShape& shape, const WeightMatrix& kv_b, const int* first_position,
                    int n_tokens, int splits, const MlaScratch& scratch, float* out,
                    cudaStream_t stream);

// The textbook form, per head: k = [W_UK c ; k_pe], v = W_UV c, softmax(q k^T * scale) v.
void naive_attention(const MlaShape& shape, const PagedCache& cache, int layer,
                     const int* first_position, int n_tokens, const float* q,
                     const WeightMatrix& kv_b, float scale, float* out, cudaStream_t stream);

}  // namespace lc::cuda
