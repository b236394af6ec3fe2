#include "cuda_common.cuh"
#include "rope.cuh"
#include "rope_device.cuh"

namespace lc::cuda {
namespace {

// Block per token; threads over (head, pair).
__global__ void rope_kernel(float* x, int64_t token_stride, int n_heads, int64_t head_stride,
                            int offset, const int* first_position, RopeTable r) {
    const int t = blockIdx.x;
    const int half = r.dim / 2;
    const int position = *first_position + t;
    for (int item = threadIdx.x; item < n_heads * half; item += blockDim.x) {
        const int h = item / half, i = item % half;
        rope_pair(r, x + t * token_stride + h * head_stride + offset, position, i);
    }
}

__global__ void store_latent_kernel(PagedCache cache, int layer, const int* first_position,
                                    const float* __restrict__ kv_a, const float* __restrict__ norm,
                                    float eps, RopeTable r) {
    extern __shared__ float row[];  // [d_c + d_rope]
    __shared__ float partial[32];
    const int t = blockIdx.x;
    const float* src = kv_a + static_cast<int64_t>(t) * (cache.d_c + cache.d_rope);
    write_latent_row(cache, layer, *first_position + t, src, norm, eps, r, row, partial);
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
