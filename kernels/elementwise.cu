#include "cuda_common.cuh"
#include "elementwise.cuh"
#include "quant_gemm.cuh"

namespace lc::cuda {
namespace {

template <class T>
__global__ void embed_kernel(const T* __restrict__ table, int64_t ld, int cols,
                             const int* __restrict__ ids, float* __restrict__ out) {
    const int t = blockIdx.x;
    const T* row = table + static_cast<int64_t>(ids[t]) * ld;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        out[static_cast<int64_t>(t) * cols + c] = to_f32<T>(row[c]);
}

__global__ void rms_norm_kernel(const float* __restrict__ x, int64_t xs,
                                const float* __restrict__ weight, float eps, float* y, int64_t ys,
                                int dim) {
    __shared__ float partial[32];
    const float* xr = x + blockIdx.x * xs;
    float* yr = y + blockIdx.x * ys;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        ss += xr[i] * xr[i];
    ss = block_sum(ss, partial);
    const float inv = rsqrtf(ss / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x)
        yr[i] = weight[i] * (xr[i] * inv);
}

}  // namespace

void embed(const WeightMatrix& table, const int* ids, int n, float* out, cudaStream_t stream) {
    if (n <= 0) return;
    if (dtype_is_quantized(table.dtype)) return quant_embed(table, ids, n, out, stream);
    with_dtype(table.dtype, [&]<class T>() {
        embed_kernel<T><<<n, 256, 0, stream>>>(static_cast<const T*>(table.data), table.row_stride,
                                               static_cast<int>(table.cols), ids, out);
    });
    check_launch("embed");
}

void rms_norm(const float* x, int64_t x_stride, const float* weight, float eps, float* y,
              int64_t y_stride, int n, int dim, cudaStream_t stream) {
    if (n <= 0) return;
    rms_norm_kernel<<<n, dim >= 1024 ? 512 : 256, 0, stream>>>(x, x_stride, weight, eps, y,
                                                               y_stride, dim);
    check_launch("rms_norm");
}

}  // namespace lc::cuda
