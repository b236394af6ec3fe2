#include "cuda_common.cuh"
#include "rope.cuh"

namespace lc::cuda {
namespace {

// The angle in f32 as transformers forms it; cos and sin in double, as core/rope.cpp.
__device__ __forceinline__ void angle(const RopeTable& r, int position, int i, float* c, float* s) {
    const float a = r.inv_freq[i] * static_cast<float>(position);
    *c = static_cast<float>(cos(static_cast<double>(a))) * r.attention_factor;
    *s = static_cast<float>(sin(static_cast<double>(a))) * r.attention_factor;
}

__device__ __forceinline__ void rotate_pair(const RopeTable& r, float* x, int i, float c, float s) {
    const int half = r.dim / 2;
    const int ia = r.interleave ? 2 * i : i;
    const int ib = r.interleave ? 2 * i + 1 : i + half;
    const float a = x[ia], b = x[ib];
    x[ia] = a * c - b * s;
    x[ib] = r.interleave ? a * s + b * c : b * c + a * s;
}

// Block per token; threads over (head, pair).
__global__ void rope_kernel(float* x, int64_t token_stride, int n_heads, int64_t head_stride,
                            int offset, const int* first_position, RopeTable r) {
    const int t = blockIdx.x;
    const int half = r.dim / 2;
    const int position = *first_position + t;
    for (int item = threadIdx.x; item < n_heads * half; item += blockDim.x) {
        const int h = item / half, i = item % half;
        float c, s;
        angle(r, position, i, &c, &s);
        rotate_pair(r, x + t * token_stride + h * head_stride + offset, i, c, s);
    }
}

__global__ void store_latent_kernel(PagedCache cache, int layer, const int* first_position,
                                    const float* __restrict__ kv_a, const float* __restrict__ norm,
                                    float eps, RopeTable r) {
    extern __shared__ float row[];  // [d_c + d_rope]
    __shared__ float partial[32];
    const int t = blockIdx.x;
    const int width = cache.d_c + cache.d_rope;
    const float* src = kv_a + static_cast<int64_t>(t) * width;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const float v = src[i];
        row[i] = v;
        if (i < cache.d_c) ss += v * v;
    }
    ss = block_sum(ss, partial);  // also orders the row's writes before the reads below
    const float inv = rsqrtf(ss / cache.d_c + eps);
    const int position = *first_position + t;
    for (int i = threadIdx.x; i < cache.d_rope / 2; i += blockDim.x) {
        float c, s;
        angle(r, position, i, &c, &s);
        rotate_pair(r, row + cache.d_c, i, c, s);
    }
    __syncthreads();
    const int slot = position % cache.page_tokens;
    auto* page = static_cast<__nv_bfloat16*>(cache.pages[position / cache.page_tokens]);
    __nv_bfloat16* dst = page + (static_cast<int64_t>(layer) * cache.page_tokens + slot) * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const float v = i < cache.d_c ? norm[i] * (row[i] * inv) : row[i];
        dst[i] = __float2bfloat16(v);
    }
}

}  // namespace

void rope(float* x, int64_t token_stride, int n_heads, int64_t head_stride, int offset,
          const int* first_position, int n, const RopeTable& r, cudaStream_t stream) {
    if (n <= 0 || r.dim == 0) return;
    rope_kernel<<<n, 256, 0, stream>>>(x, token_stride, n_heads, head_stride, offset,
                                       first_position, r);
    check_launch("rope");
}

void store_latent(const PagedCache& cache, int layer, const int* first_position, int n,
                  const float* kv_a, const float* norm, float eps, const RopeTable& r,
                  cudaStream_t stream) {
    if (n <= 0) return;
    const size_t shared = static_cast<size_t>(cache.d_c + cache.d_rope) * sizeof(float);
    store_latent_kernel<<<n, 256, shared, stream>>>(cache, layer, first_position, kv_a, norm, eps,
                                                    r);
    check_launch("store_latent");
}

}  // namespace lc::cuda
