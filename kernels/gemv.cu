#include "cuda_common.cuh"
#include "gemv.cuh"

namespace lc::cuda {
namespace {

constexpr int kRowsPerBlock = 8;  // one warp per row

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

// Any shape or alignment (the small test models): one element at a time.
template <class T, bool SWIGLU>
__global__ void __launch_bounds__(256)
    gemv_scalar(const T* __restrict__ w, const T* __restrict__ w_up, int64_t ld, int rows, int cols,
                const float* __restrict__ x, int64_t xs, float* __restrict__ y, int64_t ys,
                int n_tokens, int accumulate) {
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

}  // namespace

void gemv(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride, float* y,
          int64_t y_stride, int n_tokens, bool accumulate, cudaStream_t stream) {
    if (n_tokens <= 0 || w.rows == 0) return;
    // The vector kernel is gemv_multi's with one segment; it declines shapes it cannot load in
    // 16-byte pieces (the small test models), which take the scalar kernel.
    const GemvSegment one{&w, up, y, y_stride, accumulate};
    if (gemv_multi(&one, 1, x, x_stride, nullptr, 0.0f, nullptr, n_tokens, stream)) return;
    const dim3 grid((w.rows + kRowsPerBlock - 1) / kRowsPerBlock);
    with_dtype(w.dtype, [&]<class T>() {
        const T* wp = static_cast<const T*>(w.data);
        const T* up_p = up ? static_cast<const T*>(up->data) : nullptr;
        const int rows = static_cast<int>(w.rows), cols = static_cast<int>(w.cols);
        const int acc = accumulate ? 1 : 0;
        if (up) {
            gemv_scalar<T, true><<<grid, kRowsPerBlock * kWarp, 0, stream>>>(
                wp, up_p, w.row_stride, rows, cols, x, x_stride, y, y_stride, n_tokens, acc);
        } else {
            gemv_scalar<T, false><<<grid, kRowsPerBlock * kWarp, 0, stream>>>(
                wp, up_p, w.row_stride, rows, cols, x, x_stride, y, y_stride, n_tokens, acc);
        }
    });
    check_launch("gemv");
}

}  // namespace lc::cuda

namespace lc::cuda {
namespace {

struct SegmentArgs {
    const void* w[kMaxSegments];
    const void* up[kMaxSegments];
    float* y[kMaxSegments];
    int64_t ld[kMaxSegments];
    int64_t ys[kMaxSegments];
    int rows[kMaxSegments];
    int accumulate[kMaxSegments];
    int first_block[kMaxSegments + 1];
    int count;
};

// With NORM, RMSNorm is folded into the dot product: y = inv_rms * sum_c W[r, c] norm[c] x[c],
// with inv_rms from the sum of squares each warp accumulates from the x values it loads anyway
// (no prologue, no shared memory). Warp 0 of block 0 also stores the normed x.
template <class T, int NT, bool NORM>
__global__ void __launch_bounds__(256)
    gemv_multi_kernel(SegmentArgs a, const float* __restrict__ x, int64_t xs,
                      const float* __restrict__ norm, float eps, float* __restrict__ xn, int cols) {
    constexpr int V = Vec16<T>::N;
    int s = 0;
    while (s + 1 < a.count && static_cast<int>(blockIdx.x) >= a.first_block[s + 1])
        ++s;
    const int lane = threadIdx.x % kWarp;
    const int r = (blockIdx.x - a.first_block[s]) * kRowsPerBlock + threadIdx.x / kWarp;
    const bool writes_xn = NORM && blockIdx.x == 0 && threadIdx.x < kWarp;
    if (r >= a.rows[s] && !writes_xn) return;
    const bool row_ok = r < a.rows[s];
    const bool swiglu = a.up[s] != nullptr;
    const T* row = static_cast<const T*>(a.w[s]) + static_cast<int64_t>(row_ok ? r : 0) * a.ld[s];
    const T* row_up =
        swiglu ? static_cast<const T*>(a.up[s]) + static_cast<int64_t>(row_ok ? r : 0) * a.ld[s]
               : nullptr;
    float acc[NT], acc_up[NT], ss[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t)
        acc[t] = acc_up[t] = ss[t] = 0.0f;
#pragma unroll 8  // a 2048-wide bf16 row: all eight 16-byte loads of a lane in flight
    for (int c = lane * V; c < cols; c += kWarp * V) {
        float wv[V], uv[V], nv[V];
        widen16<T>(load_streaming(row + c), wv);
        if (swiglu) widen16<T>(load_streaming(row_up + c), uv);
        if constexpr (NORM) {
#pragma unroll
            for (int q = 0; q < V / 4; ++q) {
                const float4 n4 = reinterpret_cast<const float4*>(norm + c)[q];
                nv[4 * q] = n4.x, nv[4 * q + 1] = n4.y, nv[4 * q + 2] = n4.z, nv[4 * q + 3] = n4.w;
            }
        }
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float4* xp = reinterpret_cast<const float4*>(x + t * xs + c);
#pragma unroll
            for (int q = 0; q < V / 4; ++q) {
                float4 xv = xp[q];
                if constexpr (NORM) {
                    ss[t] += xv.x * xv.x + xv.y * xv.y + xv.z * xv.z + xv.w * xv.w;
                    xv.x *= nv[4 * q], xv.y *= nv[4 * q + 1], xv.z *= nv[4 * q + 2],
                        xv.w *= nv[4 * q + 3];
                }
                acc[t] += wv[4 * q] * xv.x + wv[4 * q + 1] * xv.y + wv[4 * q + 2] * xv.z +
                          wv[4 * q + 3] * xv.w;
                if (swiglu)
                    acc_up[t] += uv[4 * q] * xv.x + uv[4 * q + 1] * xv.y + uv[4 * q + 2] * xv.z +
                                 uv[4 * q + 3] * xv.w;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        float inv = 1.0f;
        if constexpr (NORM) inv = rsqrtf(warp_sum(ss[t]) / cols + eps);
        float v = warp_sum(acc[t]) * inv;
        if (swiglu) v = silu(v) * (warp_sum(acc_up[t]) * inv);
        if (lane == 0 && row_ok) {
            float* out = a.y[s] + t * a.ys[s] + r;
            *out = a.accumulate[s] ? *out + v : v;
        }
        if (writes_xn)
            for (int c = lane; c < cols; c += kWarp)
                xn[static_cast<int64_t>(t) * cols + c] = norm[c] * (x[t * xs + c] * inv);
    }
}

template <class T, int NT>
void launch_multi(const SegmentArgs& a, int blocks, const float* x, int64_t xs, const float* norm,
                  float eps, float* xn, int cols, cudaStream_t stream) {
    if (norm) {
        gemv_multi_kernel<T, NT, true>
            <<<blocks, kRowsPerBlock * kWarp, 0, stream>>>(a, x, xs, norm, eps, xn, cols);
    } else {
        gemv_multi_kernel<T, NT, false>
            <<<blocks, kRowsPerBlock * kWarp, 0, stream>>>(a, x, xs, norm, eps, xn, cols);
    }
}

}  // namespace

bool gemv_multi(const GemvSegment* segments, int count, const float* x, int64_t x_stride,
                const float* norm, float eps, float* xn, int n_tokens, cudaStream_t stream) {
    if (count < 1 || count > kMaxSegments || n_tokens < 1 || n_tokens > kGemvMaxTokens)
        return false;
    const WeightMatrix& first = *segments[0].w;
    const int cols = static_cast<int>(first.cols);
    const int V = static_cast<int>(16 / dtype_size(first.dtype));
    if (cols % V != 0 || reinterpret_cast<uintptr_t>(x) % 16 != 0 ||
        (n_tokens > 1 && x_stride % 4 != 0) ||
        (norm && reinterpret_cast<uintptr_t>(norm) % 16 != 0))
        return false;
    SegmentArgs a{};
    a.count = count;
    int blocks = 0;
    for (int i = 0; i < count; ++i) {
        const GemvSegment& g = segments[i];
        const WeightMatrix& w = *g.w;
        if (w.dtype != first.dtype || w.cols != first.cols || w.row_stride % V != 0 ||
            reinterpret_cast<uintptr_t>(w.data) % 16 != 0)
            return false;
        if (g.up && (g.up->dtype != w.dtype || g.up->row_stride != w.row_stride ||
                     reinterpret_cast<uintptr_t>(g.up->data) % 16 != 0))
            return false;
        a.w[i] = w.data;
        a.up[i] = g.up ? g.up->data : nullptr;
        a.y[i] = g.y;
        a.ld[i] = w.row_stride;
        a.ys[i] = g.y_stride;
        a.rows[i] = static_cast<int>(w.rows);
        a.accumulate[i] = g.accumulate ? 1 : 0;
        a.first_block[i] = blocks;
        blocks += static_cast<int>((w.rows + kRowsPerBlock - 1) / kRowsPerBlock);
    }
    a.first_block[count] = blocks;
    with_dtype(first.dtype, [&]<class T>() {
        switch (n_tokens) {
            case 1:
                return launch_multi<T, 1>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            case 2:
                return launch_multi<T, 2>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            case 3:
                return launch_multi<T, 3>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            case 4:
                return launch_multi<T, 4>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            case 5:
                return launch_multi<T, 5>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            case 6:
                return launch_multi<T, 6>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            case 7:
                return launch_multi<T, 7>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
            default:
                return launch_multi<T, 8>(a, blocks, x, x_stride, norm, eps, xn, cols, stream);
        }
    });
    check_launch("gemv_multi");
    return true;
}

}  // namespace lc::cuda
