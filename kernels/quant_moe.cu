#include <string>

#include "cuda_common.cuh"
#include "moe_route.cuh"
#include "quant_moe.cuh"
#include "quant_row.cuh"

namespace lc::cuda {
namespace {

constexpr int kRowsPerWarp = 4;              // gate/up rows per warp
constexpr int kTileRows = 8 * kRowsPerWarp;  // 32: one 8-bit scale block of h per block
constexpr int kDownRows = 4;                 // output rows per block of the down products

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

// Two router rows per block, four warps per row, each a quarter of the columns (interleaved,
// so that a lane's loads are all in flight at once), RMSNorm folded in as in moe.cu's router;
// block 0 also writes xn and its 8-bit copy; the last block to finish routes.
constexpr int kRouterRows = 2;
template <class T>
__global__ void __launch_bounds__(256)
    router_kernel(const T* __restrict__ w, int64_t ld, int cols, const float* __restrict__ x,
                  const float* __restrict__ norm, float eps, float* __restrict__ xn, Q8Buffer xq,
                  float* __restrict__ logits, RoutingParams p, const float* __restrict__ bias,
                  int* __restrict__ ids, float* __restrict__ weights, unsigned* counter) {
    __shared__ float raw[kMaxExperts], scores[kMaxExperts], choice[kMaxExperts], group[64];
    __shared__ float part_acc[8], part_ss[8], inv_rms;
    __shared__ bool last;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    constexpr int kQuarters = 8 / kRouterRows;
    const int quarter = warp % kQuarters;
    const int r = blockIdx.x * kRouterRows + warp / kQuarters;
    const T* row = w + static_cast<int64_t>(r < p.n_routed ? r : 0) * ld;
    float acc = 0.0f, ss = 0.0f;
    constexpr int V = Vec16<T>::N;
    if (cols % V == 0 && ld % V == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(norm) % 16 == 0) {
#pragma unroll 4
        for (int c = (quarter * kWarp + lane) * V; c < cols; c += kQuarters * kWarp * V) {
            float wv[V];
            widen16<T>(load_streaming(row + c), wv);
#pragma unroll
            for (int q = 0; q < V / 4; ++q) {
                const float4 xv = reinterpret_cast<const float4*>(x + c)[q];
                const float4 nv = reinterpret_cast<const float4*>(norm + c)[q];
                ss += xv.x * xv.x + xv.y * xv.y + xv.z * xv.z + xv.w * xv.w;
                acc += wv[4 * q] * nv.x * xv.x + wv[4 * q + 1] * nv.y * xv.y +
                       wv[4 * q + 2] * nv.z * xv.z + wv[4 * q + 3] * nv.w * xv.w;
            }
        }
    } else {
        for (int c = quarter * kWarp + lane; c < cols; c += kQuarters * kWarp) {
            const float xv = x[c];
            ss += xv * xv;
            acc += to_f32<T>(row[c]) * norm[c] * xv;
        }
    }
    acc = warp_sum(acc);
    ss = warp_sum(ss);
    if (lane == 0) part_acc[warp] = acc, part_ss[warp] = ss;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.0f;  // every row's warps together saw all of x once
        for (int q = 0; q < kQuarters; ++q)
            total += part_ss[q];
        inv_rms = rsqrtf(total / cols + eps);
    }
    __syncthreads();
    const float inv = inv_rms;
    if (threadIdx.x < kRouterRows) {
        const int row_index = blockIdx.x * kRouterRows + threadIdx.x;
        float total = 0.0f;
        for (int q = 0; q < kQuarters; ++q)
            total += part_acc[threadIdx.x * kQuarters + q];
        if (row_index < p.n_routed) logits[row_index] = total * inv;
    }
    if (blockIdx.x == 0) {
        for (int base = warp * kWarp * 4; base < cols; base += 8 * kWarp * 4) {
            const int c = base + lane * 4;
            float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            if (c < cols)
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    v[i] = norm[c + i] * (x[c + i] * inv);
                    xn[c + i] = v[i];
                }
            quantize4(v, c, c < cols, xq.q, xq.d, xq.s);
        }
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last || warp != 0) return;
    __threadfence();
    for (int i = lane; i < p.n_routed; i += kWarp)
        raw[i] = __ldcg(logits + i);  // other blocks' rows: from L2, not this SM's L1
    __syncwarp();
    route_warp(p, raw, bias, scores, choice, group, ids, weights);
    if (lane == 0) *counter = 0;  // ready for the next step (graph replays)
}

// One block per token: warp 0 routes it, every warp quantizes its xn.
__global__ void __launch_bounds__(256)
    route_kernel(RoutingParams p, const float* __restrict__ logits, const float* __restrict__ bias,
                 const float* __restrict__ xn, int d, Q8Buffer xq, int* __restrict__ ids,
                 float* __restrict__ weights) {
    __shared__ float scores[kMaxExperts], choice[kMaxExperts], group[64];
    const int t = blockIdx.x, lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    if (warp == 0)
        route_warp(p, logits + static_cast<int64_t>(t) * p.n_routed, bias, scores, choice, group,
                   ids + t * p.k, weights + t * p.k);
    const float* row = xn + static_cast<int64_t>(t) * d;
    for (int base = warp * kWarp * 4; base < d; base += (blockDim.x / kWarp) * kWarp * 4) {
        const int c = base + lane * 4;
        float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (c < d)
#pragma unroll
            for (int i = 0; i < 4; ++i)
                v[i] = row[c + i];
        quantize4(v, c, c < d, xq.q + static_cast<int64_t>(t) * d, xq.d + t * (d / 32),
                  xq.s + t * (d / 16));
    }
}

// Blocks over (token-slot pair, 32 rows); slots are the k routed experts, then the shared
// experts' rows in slots of `intermediate`. Each warp takes 4 rows of gate and up; the block's
// 32 values of silu(gate x) * (up x) are one 8-bit scale block of h.
__global__ void __launch_bounds__(256, 2)
    gate_up_kernel(QuantExpertTable ex, int k, int d, const int* __restrict__ ids, Q8Buffer xq,
                   Q8Buffer hq) {
    __shared__ float tile[kTileRows];
    const int slots = k + ex.shared_slots();
    const int pair = blockIdx.x, t = pair / slots, j = pair % slots;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int inter = ex.intermediate;
    const uint8_t* gate;
    const uint8_t* up;
    DType gate_type, up_type;
    int rows = inter;
    if (j < k) {
        const int e = ids[t * k + j];
        gate = ex.gate[e];
        up = ex.up[e];
        gate_type = ex.gate_type;
        up_type = ex.up_type;
    } else {
        const int64_t offset = static_cast<int64_t>(j - k) * inter;  // first row of the slot
        gate_type = ex.shared_gate_type;
        up_type = ex.shared_up_type;
        gate = ex.shared_gate + offset * device_row_bytes(gate_type, d);
        up = ex.shared_up + offset * device_row_bytes(up_type, d);
        rows = min(inter, ex.shared_inter - static_cast<int>(offset));
    }
    const int64_t gate_ld = device_row_bytes(gate_type, d), up_ld = device_row_bytes(up_type, d);
    const Q8Ref x = xq.row(t);
    const int first = blockIdx.y * kTileRows + warp * kRowsPerWarp;
    const uint8_t* gate_rows[kRowsPerWarp];
    const uint8_t* up_rows[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {  // past the end: the last row again, not stored
        const int64_t r = max(0, min(first + i, rows - 1));
        gate_rows[i] = gate + r * gate_ld;
        up_rows[i] = up + r * up_ld;
    }
    float g[kRowsPerWarp][1] = {}, u[kRowsPerWarp][1] = {};
    if (first < rows && gate_type == up_type) {  // the usual case: all 8 rows' loads at once
        const uint8_t* both_rows[2 * kRowsPerWarp];
        float both[2 * kRowsPerWarp][1] = {};
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i)
            both_rows[i] = gate_rows[i], both_rows[kRowsPerWarp + i] = up_rows[i];
        rows_dot<1, 2 * kRowsPerWarp>(gate_type, both_rows, d, 0, row_pieces(gate_type, d), &x,
                                      both);
#pragma unroll
        for (int i = 0; i < kRowsPerWarp; ++i)
            g[i][0] = both[i][0], u[i][0] = both[kRowsPerWarp + i][0];
    } else if (first < rows) {
        rows_dot<1, kRowsPerWarp>(gate_type, gate_rows, d, 0, row_pieces(gate_type, d), &x, g);
        rows_dot<1, kRowsPerWarp>(up_type, up_rows, d, 0, row_pieces(up_type, d), &x, u);
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
        const float h = silu(warp_sum(g[i][0])) * warp_sum(u[i][0]);
        if (lane == 0) tile[warp * kRowsPerWarp + i] = first + i < rows ? h : 0.0f;
    }
    __syncthreads();
    if (warp != 0) return;
    // Lane l holds row 32 * blockIdx.y + l: quantize the 32 as one block.
    const float v = tile[lane];
    const float amax = warp_max(fabsf(v));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const int q = max(-127, min(127, __float2int_rn(v * inv)));
    int s = q;
#pragma unroll
    for (int o = 1; o < 16; o <<= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    const int64_t c = static_cast<int64_t>(pair) * inter + blockIdx.y * kTileRows;  // % 32 == 0
    hq.q[c + lane] = static_cast<int8_t>(q);
    if ((lane & 15) == 0) hq.s[c / 16 + lane / 16] = s;
    if (lane == 0) hq.d[c / 32] = amax / 127.0f;
}

// Blocks over (token, 4 output rows). Items are the k routed experts' down products and the
// shared experts' one, whose pieces are split among the warps left over (8 - k of them), so that
// every warp has about one routed row's work per output row. Each warp takes the block's 4 rows
// of its item at once; partial sums go through shared memory and are added in item order (the
// same sum every run).
__global__ void __launch_bounds__(256, 2)
    down_kernel(QuantExpertTable ex, int k, int d, const int* __restrict__ ids,
                const float* __restrict__ weights, Q8Buffer hq, float* __restrict__ out) {
    constexpr int kMaxItems = kMaxK + 8;
    __shared__ float part[kDownRows][kMaxItems];
    const int t = blockIdx.x, lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int warps = blockDim.x / kWarp;
    const int slots = k + ex.shared_slots();
    const int shared_parts = ex.shared_inter > 0 ? max(1, warps - k) : 0;
    const int items = k + shared_parts;
    const int64_t down_ld = device_row_bytes(ex.down_type, ex.intermediate);
    const int64_t shared_ld = device_row_bytes(ex.shared_down_type, ex.shared_inter);
    const int first = blockIdx.y * kDownRows;
    for (int item = warp; item < items; item += warps) {
        const uint8_t* rows[kDownRows];
        float acc[kDownRows][1] = {};
        float weight = 1.0f;
        if (item < k) {
            weight = weights[t * k + item];
            const uint8_t* base = ex.down[ids[t * k + item]];
#pragma unroll
            for (int i = 0; i < kDownRows; ++i)
                rows[i] = base + min(first + i, d - 1) * down_ld;
            const Q8Ref h = hq.row(static_cast<int64_t>(t) * slots + item);
            rows_dot<1, kDownRows>(ex.down_type, rows, ex.intermediate, 0,
                                   row_pieces(ex.down_type, ex.intermediate), &h, acc);
        } else {
            const int part_index = item - k;
            const int pieces = row_pieces(ex.shared_down_type, ex.shared_inter);
            const int per = (pieces + shared_parts - 1) / shared_parts;
#pragma unroll
            for (int i = 0; i < kDownRows; ++i)
                rows[i] = ex.shared_down + min(first + i, d - 1) * shared_ld;
            const Q8Ref h = hq.row(static_cast<int64_t>(t) * slots + k);
            rows_dot<1, kDownRows>(ex.shared_down_type, rows, ex.shared_inter, part_index * per,
                                   min(pieces, (part_index + 1) * per), &h, acc);
        }
#pragma unroll
        for (int i = 0; i < kDownRows; ++i) {
            const float v = warp_sum(acc[i][0]);
            if (lane == 0) part[i][item] = weight * v;
        }
    }
    __syncthreads();
    const int r = first + threadIdx.x;
    if (threadIdx.x < kDownRows && r < d) {
        float sum = 0.0f;
        for (int j = 0; j < items; ++j)
            sum += part[threadIdx.x][j];
        out[static_cast<int64_t>(t) * d + r] += sum;
    }
}

void check_shapes(const QuantExpertTable& ex, const RoutingParams& p, int d) {
    if (p.n_routed > kMaxExperts || p.n_group > 64 || p.k > kMaxK || p.k < 1)
        throw Error(
            "this model's routing (experts, groups or experts per token) is beyond the "
            "GPU router's limits");
    if (ex.intermediate % 32 != 0 || d % 32 != 0 || ex.shared_inter % 32 != 0)
        throw Error("the GPU runs quantized experts only when the hidden size (" +
                    std::to_string(d) + ") and the experts' sizes (" +
                    std::to_string(ex.intermediate) + ", " + std::to_string(ex.shared_inter) +
                    ") are multiples of 32");
}

void launch_experts(const QuantExpertTable& ex, const RoutingParams& p, int d, int n,
                    const int* ids, const float* weights, const QuantMoeScratch& scratch,
                    float* out, cudaStream_t stream) {
    const int slots = p.k + ex.shared_slots();
    // Pairs (tokens) vary fastest: blocks run in index order, so the blocks reading one slab of
    // rows of every expert run together and prefill finds those rows in L2 for later tokens.
    gate_up_kernel<<<dim3(n * slots, (ex.intermediate + kTileRows - 1) / kTileRows), 256, 0,
                     stream>>>(ex, p.k, d, ids, scratch.x, scratch.h);
    down_kernel<<<dim3(n, (d + kDownRows - 1) / kDownRows), 256, 0, stream>>>(
        ex, p.k, d, ids, weights, scratch.h, out);
}

}  // namespace

void quant_moe_decode(const QuantExpertTable& ex, const RoutingParams& p,
                      const WeightMatrix& router, const float* x, const float* norm, float eps,
                      float* xn, float* logits, int d, int* ids, float* weights,
                      const QuantMoeScratch& scratch, float* out, cudaStream_t stream,
                      unsigned* counter) {
    check_shapes(ex, p, d);
    if (dtype_is_quantized(router.dtype)) throw Error("internal: quantized router in decode");
    with_dtype(router.dtype, [&]<class T>() {
        router_kernel<T><<<(p.n_routed + kRouterRows - 1) / kRouterRows, 256, 0, stream>>>(
            static_cast<const T*>(router.data), router.row_stride, d, x, norm, eps, xn, scratch.x,
            logits, p, ex.bias, ids, weights, counter);
    });
    launch_experts(ex, p, d, 1, ids, weights, scratch, out, stream);
    check_launch("quant_moe_decode");
}

void quant_moe_experts(const QuantExpertTable& ex, const RoutingParams& p, const float* logits,
                       const float* xn, int d, int n, int* ids, float* weights,
                       const QuantMoeScratch& scratch, float* out, cudaStream_t stream) {
    if (n <= 0) return;
    check_shapes(ex, p, d);
    route_kernel<<<n, 256, 0, stream>>>(p, logits, ex.bias, xn, d, scratch.x, ids, weights);
    launch_experts(ex, p, d, n, ids, weights, scratch, out, stream);
    check_launch("quant_moe_experts");
}

}  // namespace lc::cuda
