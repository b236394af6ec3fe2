#include "cuda_common.cuh"
#include "gemv.cuh"

namespace lc::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // one warp per row

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

// Rows whose start, length and x rows allow 16-byte loads.
template <class T, int NT, bool SWIGLU>
__global__ void __launch_bounds__(256)
    gemv_vector(const T* __restrict__ w, const T* __restrict__ w_up, int64_t ld, int rows,
                int cols, const float* __restrict__ x, int64_t xs, float* __restrict__ y,
                int64_t ys, int accumulate) {
    constexpr int V = Vec16<T>::N;
    const int lane = threadIdx.x % kWarp;
    const int r = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
    if (r >= rows) return;
    float acc[NT], acc_up[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t)
        acc[t] = acc_up[t] = 0.0f;
    const T* row = w + static_cast<int64_t>(r) * ld;
    const T* row_up = SWIGLU ? w_up + static_cast<int64_t>(r) * ld : nullptr;
#pragma unroll 4
    for (int c = lane * V; c < cols; c += kWarp * V) {
        float wv[V], uv[V];
        widen16<T>(load_streaming(row + c), wv);
        if constexpr (SWIGLU) widen16<T>(load_streaming(row_up + c), uv);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float4* xp = reinterpret_cast<const float4*>(x + t * xs + c);
#pragma unroll
            for (int q = 0; q < V / 4; ++q) {
                const float4 xv = xp[q];
                acc[t] += wv[4 * q] * xv.x + wv[4 * q + 1] * xv.y + wv[4 * q + 2] * xv.z +
                          wv[4 * q + 3] * xv.w;
                if constexpr (SWIGLU)
                    acc_up[t] += uv[4 * q] * xv.x + uv[4 * q + 1] * xv.y + uv[4 * q + 2] * xv.z +
                                 uv[4 * q + 3] * xv.w;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        float v = warp_sum(acc[t]);
        if constexpr (SWIGLU) v = silu(v) * warp_sum(acc_up[t]);
        if (lane == 0) {
            float* out = y + t * ys + r;
            *out = accumulate ? *out + v : v;
        }
    }
}

// Any shape or alignment (the small test models): one element at a time.
template <class T, bool SWIGLU>
__global__ void __launch_bounds__(256)
    gemv_scalar(const T* __restrict__ w, const T* __restrict__ w_up, int64_t ld, int rows,
                int cols, const float* __restrict__ x, int64_t xs, float* __restrict__ y,
                int64_t ys, int n_tokens, int accumulate) {
    const int lane = threadIdx.x % kWarp;
    const int r = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
    if (r >= rows) return;
    const T* row = w + static_cast<int64_t>(r) * ld;
    for (int t = 0; t < n_tokens; ++t) {
        float acc = 0.0f, acc_up = 0.0f;
        for (int c = lane; c < cols; c += kWarp) {
            const float xv = x[t * xs + c];
            acc += to_f32<T>(row[c]) * xv;
            if constexpr (SWIGLU) acc_up += to_f32<T>(w_up[static_cast<int64_t>(r) * ld + c]) * xv;
        }
        float v = warp_sum(acc);
        if constexpr (SWIGLU) v = silu(v) * warp_sum(acc_up);
        if (lane == 0) {
            float* out = y + t * ys + r;
            *out = accumulate ? *out + v : v;
        }
    }
}

template <class T, bool SWIGLU, int NT>
void launch_vector(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t xs,
                   float* y, int64_t ys, bool accumulate, cudaStream_t stream) {
    const dim3 grid((w.rows + kRowsPerBlock - 1) / kRowsPerBlock);
    gemv_vector<T, NT, SWIGLU><<<grid, kRowsPerBlock * kWarp, 0, stream>>>(
        static_cast<const T*>(w.data), up ? static_cast<const T*>(up->data) : nullptr,
        w.row_stride, static_cast<int>(w.rows), static_cast<int>(w.cols), x, xs, y, ys,
        accumulate ? 1 : 0);
}

template <class T, bool SWIGLU>
void dispatch(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t xs, float* y,
              int64_t ys, int n, bool accumulate, cudaStream_t stream) {
    constexpr int V = Vec16<T>::N;
    const bool aligned = w.cols % V == 0 && w.row_stride % V == 0 &&
                         reinterpret_cast<uintptr_t>(w.data) % 16 == 0 &&
                         (!up || (reinterpret_cast<uintptr_t>(up->data) % 16 == 0 &&
                                  up->row_stride == w.row_stride)) &&
                         reinterpret_cast<uintptr_t>(x) % 16 == 0 && (n == 1 || xs % 4 == 0);
    if (!aligned) {
        const dim3 grid((w.rows + kRowsPerBlock - 1) / kRowsPerBlock);
        gemv_scalar<T, SWIGLU><<<grid, kRowsPerBlock * kWarp, 0, stream>>>(
            static_cast<const T*>(w.data), up ? static_cast<const T*>(up->data) : nullptr,
            w.row_stride, static_cast<int>(w.rows), static_cast<int>(w.cols), x, xs, y, ys, n,
            accumulate ? 1 : 0);
        return;
    }
    switch (n) {
        case 1: return launch_vector<T, SWIGLU, 1>(w, up, x, xs, y, ys, accumulate, stream);
        case 2: return launch_vector<T, SWIGLU, 2>(w, up, x, xs, y, ys, accumulate, stream);
        case 3: return launch_vector<T, SWIGLU, 3>(w, up, x, xs, y, ys, accumulate, stream);
        case 4: return launch_vector<T, SWIGLU, 4>(w, up, x, xs, y, ys, accumulate, stream);
        case 5: return launch_vector<T, SWIGLU, 5>(w, up, x, xs, y, ys, accumulate, stream);
        case 6: return launch_vector<T, SWIGLU, 6>(w, up, x, xs, y, ys, accumulate, stream);
        case 7: return launch_vector<T, SWIGLU, 7>(w, up, x, xs, y, ys, accumulate, stream);
        default: return launch_vector<T, SWIGLU, 8>(w, up, x, xs, y, ys, accumulate, stream);
    }
}

}  // namespace

void gemv(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride,
          float* y, int64_t y_stride, int n_tokens, bool accumulate, cudaStream_t stream) {
    if (n_tokens <= 0 || w.rows == 0) return;
    with_dtype(w.dtype, [&]<class T>() {
        if (up) {
            dispatch<T, true>(w, up, x, x_stride, y, y_stride, n_tokens, accumulate, stream);
        } else {
            dispatch<T, false>(w, up, x, x_stride, y, y_stride, n_tokens, accumulate, stream);
        }
    });
    check_launch("gemv");
}

}  // namespace lc::cuda
