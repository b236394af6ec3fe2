#include <algorithm>

#include "cuda_common.cuh"
#include "quant_gemv.cuh"
#include "quant_row.cuh"

namespace lc::cuda {
namespace {

constexpr int kWarps = 8;                // one weight row per warp at a time
constexpr int kSharedBudget = 48 << 10;  // the default dynamic shared memory limit
constexpr int kBlocksPerSm = 4;
// Rows per warp at a time, their loads in flight together. Two: tiles of 16 rows spread even a
// 576-row matrix over 36 blocks, and two pieces of each row go in one pass (quant_row.cuh).
template <int NT>
constexpr int kRows = 2;

// Shared bytes of n tokens' 8-bit inputs: quants, a float scale per 32, an int sum per 16.
int64_t input_bytes(int n, int64_t cols) {
    return n * (cols + cols / 32 * 4 + cols / 16 * 4);
}

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

struct QuantSegments {
    const uint8_t* w[kMaxSegments];
    const uint8_t* up[kMaxSegments];
    DType w_type[kMaxSegments];
    DType up_type[kMaxSegments];
    int64_t w_ld[kMaxSegments];  // bytes
    int64_t up_ld[kMaxSegments];
    float* y[kMaxSegments];
    int64_t ys[kMaxSegments];
    int rows[kMaxSegments];
    int accumulate[kMaxSegments];
    int first_tile[kMaxSegments + 1];
    int count;
};

// Every block quantizes x (times norm) for NT tokens into shared memory and computes the
// tokens' inverse RMS; then loops over tiles of kWarps * kRows rows. Tokens >= n_tokens are
// zeros.
template <int NT>
__global__ void __launch_bounds__(kWarps* kWarp, 2)
    quant_gemv_kernel(QuantSegments a, const float* __restrict__ x, int64_t xs, int n_tokens,
                      const float* __restrict__ norm, float eps, float* __restrict__ xn, int cols) {
    extern __shared__ __align__(16) uint8_t shared[];
    __shared__ float partial[32];
    __shared__ float inv_rms[NT];
    int8_t* xq = reinterpret_cast<int8_t*>(shared);                     // [NT, cols]
    float* xd = reinterpret_cast<float*>(shared + int64_t(NT) * cols);  // [NT, cols / 32]
    int* xsum = reinterpret_cast<int*>(xd + NT * (cols / 32));          // [NT, cols / 16]
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;

#pragma unroll 1
    for (int t = 0; t < NT; ++t) {
        float ss = 0.0f;
        const bool live = t < n_tokens;
        for (int base = warp * kWarp * 4; base < cols; base += kWarps * kWarp * 4) {
            const int c = base + lane * 4;
            float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            if (live && c < cols) {
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const float xv = x[t * xs + c + i];
                    ss += xv * xv;
                    v[i] = norm ? xv * norm[c + i] : xv;
                }
            }
            quantize4(v, c, c < cols, xq + int64_t(t) * cols, xd + t * (cols / 32),
                      xsum + t * (cols / 16));
        }
        ss = block_sum(ss, partial);
        if (threadIdx.x == 0) inv_rms[t] = norm ? rsqrtf(ss / cols + eps) : 1.0f;
    }
    __syncthreads();
    if (norm && xn && blockIdx.x == 0)
        for (int t = 0; t < n_tokens; ++t)
            for (int c = threadIdx.x; c < cols; c += blockDim.x)
                xn[int64_t(t) * cols + c] = norm[c] * (x[t * xs + c] * inv_rms[t]);

    Q8Ref in[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t)
        in[t] = Q8Ref{xq + int64_t(t) * cols, xd + t * (cols / 32), xsum + t * (cols / 16)};
    const int tiles = a.first_tile[a.count];
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        int s = 0;
        while (s + 1 < a.count && tile >= a.first_tile[s + 1])
            ++s;
        const int rows = a.rows[s];
        const int r0 = (tile - a.first_tile[s]) * kWarps * kRows<NT> + warp * kRows<NT>;
        if (r0 >= rows) continue;
        constexpr int R = kRows<NT>;
        const uint8_t* w_rows[R];
        const uint8_t* up_rows[R];
#pragma unroll
        for (int i = 0; i < R; ++i) {  // past the end: read the last row again, store nothing
            const int64_t r = min(r0 + i, rows - 1);
            w_rows[i] = a.w[s] + r * a.w_ld[s];
            up_rows[i] = a.up[s] ? a.up[s] + r * a.up_ld[s] : nullptr;
        }
        float acc[R][NT], acc_up[R][NT];
#pragma unroll
        for (int i = 0; i < R; ++i)
#pragma unroll
            for (int t = 0; t < NT; ++t)
                acc[i][t] = acc_up[i][t] = 0.0f;
        rows_dot<NT, R>(a.w_type[s], w_rows, cols, 0, row_pieces(a.w_type[s], cols), in, acc);
        const bool swiglu = a.up[s] != nullptr;
        if (swiglu)
            rows_dot<NT, R>(a.up_type[s], up_rows, cols, 0, row_pieces(a.up_type[s], cols), in,
                            acc_up);
#pragma unroll
        for (int i = 0; i < R; ++i)
#pragma unroll
            for (int t = 0; t < NT; ++t) {
                float v = warp_sum(acc[i][t]) * inv_rms[t];
                if (swiglu) v = silu(v) * (warp_sum(acc_up[i][t]) * inv_rms[t]);
                if (lane == 0 && t < n_tokens && r0 + i < rows) {
                    float* out = a.y[s] + t * a.ys[s] + r0 + i;
                    *out = a.accumulate[s] ? *out + v : v;
                }
            }
    }
}

int multiprocessors() {
    static const int count = [] {
        int device = 0, sms = 0;
        cudaGetDevice(&device);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
        return std::max(sms, 1);
    }();
    return count;
}

}  // namespace

int quant_gemv_tokens(int64_t cols) {
    for (int n : {8, 4, 2, 1})
        if (input_bytes(n, cols) <= kSharedBudget) return n;
    return 0;
}

bool quant_gemv(const GemvSegment* segments, int count, const float* x, int64_t x_stride,
                const float* norm, float eps, float* xn, int n_tokens, cudaStream_t stream) {
    if (count < 1 || count > kMaxSegments || n_tokens < 1) return false;
    const int64_t cols = segments[0].w->cols;
    if (cols % 32 != 0 || n_tokens > quant_gemv_tokens(cols)) return false;
    QuantSegments a{};
    a.count = count;
    int tiles = 0;
    const int nt = n_tokens == 1 ? 1 : n_tokens == 2 ? 2 : n_tokens <= 4 ? 4 : 8;
    const int tile_rows = kWarps * (nt <= 2 ? kRows<1> : kRows<8>);
    for (int i = 0; i < count; ++i) {
        const GemvSegment& g = segments[i];
        if (g.w->cols != cols || (g.up && (g.up->cols != cols || g.up->rows != g.w->rows)))
            return false;
        a.w[i] = static_cast<const uint8_t*>(g.w->data);
        a.w_type[i] = g.w->dtype;
        a.w_ld[i] = device_row_bytes(g.w->dtype, cols);
        if (g.up) {
            a.up[i] = static_cast<const uint8_t*>(g.up->data);
            a.up_type[i] = g.up->dtype;
            a.up_ld[i] = device_row_bytes(g.up->dtype, cols);
        }
        a.y[i] = g.y;
        a.ys[i] = g.y_stride;
        a.rows[i] = static_cast<int>(g.w->rows);
        a.accumulate[i] = g.accumulate ? 1 : 0;
        a.first_tile[i] = tiles;
        tiles += static_cast<int>((g.w->rows + tile_rows - 1) / tile_rows);
    }
    a.first_tile[count] = tiles;
    if (tiles == 0) return true;
    const int blocks = std::min(tiles, multiprocessors() * kBlocksPerSm);
    const size_t shared = static_cast<size_t>(input_bytes(nt, cols));
    if (shared > kSharedBudget) return false;
    const int c = static_cast<int>(cols);
    switch (nt) {
        case 1:
            quant_gemv_kernel<1><<<blocks, kWarps * kWarp, shared, stream>>>(
                a, x, x_stride, n_tokens, norm, eps, xn, c);
            break;
        case 2:
            quant_gemv_kernel<2><<<blocks, kWarps * kWarp, shared, stream>>>(
                a, x, x_stride, n_tokens, norm, eps, xn, c);
            break;
        case 4:
            quant_gemv_kernel<4><<<blocks, kWarps * kWarp, shared, stream>>>(
                a, x, x_stride, n_tokens, norm, eps, xn, c);
            break;
        default:
            quant_gemv_kernel<8><<<blocks, kWarps * kWarp, shared, stream>>>(
                a, x, x_stride, n_tokens, norm, eps, xn, c);
            break;
    }
    check_launch("quant_gemv");
    return true;
}

}  // namespace lc::cuda
