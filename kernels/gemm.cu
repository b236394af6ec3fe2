#include <mma.h>

#include "cuda_common.cuh"
#include "gemm.cuh"

namespace lc::cuda {
namespace {

using namespace nvcuda;

constexpr int kTileRows = 64;    // weight rows per block
constexpr int kTileTokens = 64;  // tokens per block
constexpr int kTileK = 32;
constexpr int kPad = 8;  // keeps wmma's ldm a multiple of 8 elements and spreads banks
constexpr int kThreads = 128;

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16(v);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
    return __float2half(v);
}

template <class T>
__device__ void load_weight_tile(T (*tile)[kTileK + kPad], const T* w, int64_t ld, int row0,
                                 int rows, int k0, int cols) {
    for (int i = threadIdx.x; i < kTileRows * kTileK; i += kThreads) {
        const int r = i / kTileK, k = i % kTileK;
        const bool in = row0 + r < rows && k0 + k < cols;
        tile[r][k] = in ? w[static_cast<int64_t>(row0 + r) * ld + k0 + k] : from_f32<T>(0.0f);
    }
}

template <class T, bool SWIGLU>
__global__ void __launch_bounds__(kThreads)
    gemm_kernel(const T* __restrict__ w, const T* __restrict__ w_up, int64_t ld, int rows, int cols,
                const float* __restrict__ x, int64_t xs, float* __restrict__ y, int64_t ys,
                int n_tokens, int accumulate) {
    __shared__ __align__(32) T a_tile[kTileRows][kTileK + kPad];
    __shared__ __align__(32) T u_tile[SWIGLU ? kTileRows : 1][kTileK + kPad];
    // x = hi + lo, both in W's type: two products keep x's f32 precision (W is exact already).
    __shared__ __align__(32) T b_tile[kTileTokens][kTileK + kPad];  // [token][k]: B col-major
    __shared__ __align__(32) T b_lo[kTileTokens][kTileK + kPad];
    __shared__ __align__(32) float c_tile[kTileRows][kTileTokens + 4];

    const int row0 = blockIdx.x * kTileRows, tok0 = blockIdx.y * kTileTokens;
    const int warp = threadIdx.x / kWarp;
    const int wr = warp / 2, wc = warp % 2;  // this warp's 32x32 quarter of the 64x64 tile

    using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major>;
    using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major>;
    using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
    FragC acc[2][2], acc_up[2][2];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            wmma::fill_fragment(acc[i][j], 0.0f);
            if constexpr (SWIGLU) wmma::fill_fragment(acc_up[i][j], 0.0f);
        }

    for (int k0 = 0; k0 < cols; k0 += kTileK) {
        load_weight_tile<T>(a_tile, w, ld, row0, rows, k0, cols);
        if constexpr (SWIGLU) load_weight_tile<T>(u_tile, w_up, ld, row0, rows, k0, cols);
        for (int i = threadIdx.x; i < kTileTokens * kTileK; i += kThreads) {
            const int t = i / kTileK, k = i % kTileK;
            const bool in = tok0 + t < n_tokens && k0 + k < cols;
            const float v = in ? x[static_cast<int64_t>(tok0 + t) * xs + k0 + k] : 0.0f;
            const T hi = from_f32<T>(v);
            b_tile[t][k] = hi;
            b_lo[t][k] = from_f32<T>(v - to_f32<T>(hi));
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < kTileK; kk += 16) {
            FragA a[2], u[2];
            FragB b[2], lo[2];
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                wmma::load_matrix_sync(a[i], &a_tile[wr * 32 + i * 16][kk], kTileK + kPad);
                if constexpr (SWIGLU)
                    wmma::load_matrix_sync(u[i], &u_tile[wr * 32 + i * 16][kk], kTileK + kPad);
                wmma::load_matrix_sync(b[i], &b_tile[wc * 32 + i * 16][kk], kTileK + kPad);
                wmma::load_matrix_sync(lo[i], &b_lo[wc * 32 + i * 16][kk], kTileK + kPad);
            }
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
                    wmma::mma_sync(acc[i][j], a[i], lo[j], acc[i][j]);
                    if constexpr (SWIGLU) {
                        wmma::mma_sync(acc_up[i][j], u[i], b[j], acc_up[i][j]);
                        wmma::mma_sync(acc_up[i][j], u[i], lo[j], acc_up[i][j]);
                    }
                }
        }
        __syncthreads();
    }

    // Through shared memory, so that y is written token-major with plain stores.
    if constexpr (SWIGLU) {
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
            for (int j = 0; j < 2; ++j)
                for (int e = 0; e < acc[i][j].num_elements; ++e)
                    acc[i][j].x[e] = silu(acc[i][j].x[e]) * acc_up[i][j].x[e];
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(&c_tile[wr * 32 + i * 16][wc * 32 + j * 16], acc[i][j],
                                    kTileTokens + 4, wmma::mem_row_major);
    __syncthreads();
    for (int i = threadIdx.x; i < kTileRows * kTileTokens; i += kThreads) {
        const int t = i / kTileRows, r = i % kTileRows;
        if (row0 + r >= rows || tok0 + t >= n_tokens) continue;
        float* out = y + static_cast<int64_t>(tok0 + t) * ys + row0 + r;
        const float v = c_tile[r][t];
        *out = accumulate ? *out + v : v;
    }
}

template <class T>
void launch(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t xs, float* y,
            int64_t ys, int n, bool accumulate, cudaStream_t stream) {
    const dim3 grid((w.rows + kTileRows - 1) / kTileRows, (n + kTileTokens - 1) / kTileTokens);
    const T* wp = static_cast<const T*>(w.data);
    if (up) {
        gemm_kernel<T, true><<<grid, kThreads, 0, stream>>>(
            wp, static_cast<const T*>(up->data), w.row_stride, static_cast<int>(w.rows),
            static_cast<int>(w.cols), x, xs, y, ys, n, accumulate ? 1 : 0);
    } else {
        gemm_kernel<T, false><<<grid, kThreads, 0, stream>>>(
            wp, nullptr, w.row_stride, static_cast<int>(w.rows), static_cast<int>(w.cols), x, xs, y,
            ys, n, accumulate ? 1 : 0);
    }
}

}  // namespace

bool gemm_supported(const WeightMatrix& w) {
    return w.dtype == DType::BF16 || w.dtype == DType::F16;
}

void gemm(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride, float* y,
          int64_t y_stride, int n_tokens, bool accumulate, cudaStream_t stream) {
    if (n_tokens <= 0 || w.rows == 0) return;
    if (w.dtype == DType::BF16) {
        launch<__nv_bfloat16>(w, up, x, x_stride, y, y_stride, n_tokens, accumulate, stream);
    } else {
        launch<__half>(w, up, x, x_stride, y, y_stride, n_tokens, accumulate, stream);
    }
    check_launch("gemm");
}

}  // namespace lc::cuda
