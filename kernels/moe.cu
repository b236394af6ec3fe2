#include "cuda_common.cuh"
#include "moe.cuh"
#include "moe_route.cuh"

namespace lc::cuda {

RoutingParams RoutingParams::from(const ModelConfig& c) {
    RoutingParams p;
    p.n_routed = c.n_routed_experts;
    p.k = c.num_experts_per_tok;
    p.n_group = c.n_group;
    p.topk_group = c.topk_group;
    p.softmax = c.scoring_func == ScoringFunc::Softmax ? 1 : 0;
    if (c.topk_method != TopkMethod::Greedy && c.n_group > 1)
        p.group_method = c.topk_method == TopkMethod::GroupLimitedGreedy ? 1 : 2;
    // transformers' DeepseekV2 ignores norm_topk_prob; V3 renormalises (core/moe_routing.cpp).
    p.renormalize = c.norm_topk_prob ? 1 : 0;  // the parser settles it per model type
    p.scaling = static_cast<float>(c.routed_scaling_factor);
    return p;
}

namespace {

__device__ __forceinline__ float silu(float g) {
    return g / (1.0f + __expf(-g));
}

// Blocks over (8 rows, token-slot pair); slots are the k routed experts then the shared ones.
// Warp 0 routes the block's token first (a few hundred instructions, cheaper than a launch);
// the first column of blocks stores the routing for expert_out_kernel.
template <class T, bool ROUTE>
__global__ void __launch_bounds__(256)
    expert_in_kernel(ExpertTable ex, RoutingParams p, const float* __restrict__ logits, int d,
                     int inter, const float* __restrict__ x, float* __restrict__ h,
                     int* __restrict__ ids_out, float* __restrict__ weights_out) {
    __shared__ float scores[kMaxExperts], choice[kMaxExperts], group[64];
    __shared__ int ids[kMaxK];
    __shared__ float weights[kMaxK];
    constexpr int V = Vec16<T>::N;
    const int slots = p.k + ex.n_shared;
    const int pair = blockIdx.y;
    const int t = pair / slots, j = pair % slots;
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const T* g;
    const T* u;
    if (j < p.k) {
        int e;
        if constexpr (ROUTE) {
            if (warp == 0) {
                route_warp(p, logits + static_cast<int64_t>(t) * p.n_routed, ex.bias, scores,
                           choice, group, ids, weights);
                if (blockIdx.x == 0 && j == 0 && lane < p.k) {
                    ids_out[t * p.k + lane] = ids[lane];
                    weights_out[t * p.k + lane] = weights[lane];
                }
            }
            __syncthreads();
            e = ids[j];
        } else {
            e = ids_out[t * p.k + j];  // routed by the router kernel
        }
        g = static_cast<const T*>(ex.gate[e]);
        u = static_cast<const T*>(ex.up[e]);
    } else {
        const int64_t offset = static_cast<int64_t>(j - p.k) * inter * ex.shared_gate_stride;
        g = static_cast<const T*>(ex.shared_gate) + offset;
        u = static_cast<const T*>(ex.shared_up) + offset;
    }
    const int64_t stride = j < p.k ? ex.gate_stride : ex.shared_gate_stride;
    const int r = blockIdx.x * 8 + warp;
    if (r >= inter) return;
    g += static_cast<int64_t>(r) * stride;
    u += static_cast<int64_t>(r) * stride;
    const float* xt = x + static_cast<int64_t>(t) * d;
    float ag = 0.0f, au = 0.0f;
    if (d % V == 0 && stride % V == 0 && d % 4 == 0) {
#pragma unroll 4
        for (int c = lane * V; c < d; c += kWarp * V) {
            float gv[V], uv[V];
            widen16<T>(load_streaming(g + c), gv);
            widen16<T>(load_streaming(u + c), uv);
#pragma unroll
            for (int q = 0; q < V / 4; ++q) {
                const float4 xv = reinterpret_cast<const float4*>(xt + c)[q];
                ag += gv[4 * q] * xv.x + gv[4 * q + 1] * xv.y + gv[4 * q + 2] * xv.z +
                      gv[4 * q + 3] * xv.w;
                au += uv[4 * q] * xv.x + uv[4 * q + 1] * xv.y + uv[4 * q + 2] * xv.z +
                      uv[4 * q + 3] * xv.w;
            }
        }
    } else {
        for (int c = lane; c < d; c += kWarp) {
            ag += to_f32<T>(g[c]) * xt[c];
            au += to_f32<T>(u[c]) * xt[c];
        }
    }
    ag = warp_sum(ag);
    au = warp_sum(au);
    if (lane == 0) h[static_cast<int64_t>(pair) * inter + r] = silu(ag) * au;
}

// Two rows per block, four warps per row, each warp a quarter of the slots:
// out[t][r] += sum_j w_j * down_j[r] . h[t, j].
template <class T>
__global__ void __launch_bounds__(256)
    expert_out_kernel(ExpertTable ex, int k, int d, int inter, const int* __restrict__ ids,
                      const float* __restrict__ weights, const float* __restrict__ h,
                      float* __restrict__ out) {
    __shared__ float partial[8];
    constexpr int V = Vec16<T>::N;
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int r = blockIdx.x * 2 + warp / 4;
    const int t = blockIdx.y;
    const int slots = k + ex.n_shared;
    float total = 0.0f;
    if (r < d) {
        for (int j = warp % 4; j < slots; j += 4) {
            const int pair = t * slots + j;
            const T* row;
            int64_t stride;
            float weight;
            if (j < k) {
                stride = ex.down_stride;
                row = static_cast<const T*>(ex.down[ids[t * k + j]]) +
                      static_cast<int64_t>(r) * stride;
                weight = weights[t * k + j];
            } else {
                stride = ex.shared_down_stride;
                row = static_cast<const T*>(ex.shared_down) + static_cast<int64_t>(r) * stride +
                      static_cast<int64_t>(j - k) * inter;
                weight = 1.0f;
            }
            const float* hp = h + static_cast<int64_t>(pair) * inter;
            float acc = 0.0f;
            if (inter % V == 0 && stride % V == 0 && inter % 4 == 0) {
#pragma unroll 4
                for (int c = lane * V; c < inter; c += kWarp * V) {
                    float wv[V];
                    widen16<T>(load_streaming(row + c), wv);
#pragma unroll
                    for (int q = 0; q < V / 4; ++q) {
                        const float4 hv = reinterpret_cast<const float4*>(hp + c)[q];
                        acc += wv[4 * q] * hv.x + wv[4 * q + 1] * hv.y + wv[4 * q + 2] * hv.z +
                               wv[4 * q + 3] * hv.w;
                    }
                }
            } else {
                for (int c = lane; c < inter; c += kWarp)
                    acc += to_f32<T>(row[c]) * hp[c];
            }
            total += weight * warp_sum(acc);
        }
    }
    if (lane == 0) partial[warp] = total;
    __syncthreads();
    if (threadIdx.x < 2 && blockIdx.x * 2 + threadIdx.x < d) {
        const float* q = partial + threadIdx.x * 4;
        out[static_cast<int64_t>(t) * d + blockIdx.x * 2 + threadIdx.x] +=
            q[0] + q[1] + q[2] + q[3];
    }
}

// A warp per router row, RMSNorm folded in (see gemv.cu); the last block to finish routes.
template <class T>
__global__ void __launch_bounds__(256)
    router_kernel(const T* __restrict__ w, int64_t ld, int cols, const float* __restrict__ x,
                  const float* __restrict__ norm, float eps, float* __restrict__ xn,
                  float* __restrict__ logits, RoutingParams p, const float* __restrict__ bias,
                  int* __restrict__ ids, float* __restrict__ weights, unsigned* counter) {
    __shared__ float raw[kMaxExperts], scores[kMaxExperts], choice[kMaxExperts], group[64];
    __shared__ bool last;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int r = blockIdx.x * 8 + warp;
    float acc = 0.0f, ss = 0.0f;
    const T* row = w + static_cast<int64_t>(r < p.n_routed ? r : 0) * ld;
    constexpr int V = Vec16<T>::N;
    if (cols % V == 0 && ld % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(norm) % 16 == 0) {
#pragma unroll 4
        for (int c = lane * V; c < cols; c += kWarp * V) {
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
        for (int c = lane; c < cols; c += kWarp) {
            const float xv = x[c];
            ss += xv * xv;
            acc += to_f32<T>(row[c]) * norm[c] * xv;
        }
    }
    const float inv = rsqrtf(warp_sum(ss) / cols + eps);
    acc = warp_sum(acc) * inv;
    if (lane == 0 && r < p.n_routed) logits[r] = acc;
    if (blockIdx.x == 0 && warp == 0)
        for (int c = lane; c < cols; c += kWarp)
            xn[c] = norm[c] * (x[c] * inv);
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

}  // namespace

void moe_decode(const ExpertTable& ex, const RoutingParams& p, const WeightMatrix& router,
                const float* x, const float* norm, float eps, float* xn, float* logits, int d,
                int intermediate, int* ids, float* weights, float* h, float* out, unsigned* counter,
                cudaStream_t stream) {
    if (p.n_routed > kMaxExperts || p.n_group > 64 || p.k > kMaxK || p.k < 1)
        throw Error(
            "this model's routing (experts, groups or experts per token) is beyond the "
            "GPU router's limits");
    if (router.dtype != ex.dtype) throw Error("internal: router and experts differ in dtype");
    const int slots = p.k + ex.n_shared;
    with_dtype(ex.dtype, [&]<class T>() {
        router_kernel<T><<<(p.n_routed + 7) / 8, 256, 0, stream>>>(
            static_cast<const T*>(router.data), router.row_stride, d, x, norm, eps, xn, logits, p,
            ex.bias, ids, weights, counter);
        expert_in_kernel<T, false><<<dim3((intermediate + 7) / 8, slots), 256, 0, stream>>>(
            ex, p, logits, d, intermediate, xn, h, ids, weights);
        expert_out_kernel<T><<<dim3((d + 1) / 2, 1), 256, 0, stream>>>(ex, p.k, d, intermediate,
                                                                       ids, weights, h, out);
    });
    check_launch("moe_decode");
}

void moe_experts(const ExpertTable& ex, const RoutingParams& p, const float* logits, int d,
                 int intermediate, const float* x, int n, int* ids, float* weights, float* h,
                 float* out, cudaStream_t stream) {
    if (n <= 0) return;
    if (p.n_routed > kMaxExperts || p.n_group > 64 || p.k > kMaxK || p.k < 1)
        throw Error(
            "this model's routing (experts, groups or experts per token) is beyond the "
            "GPU router's limits");
    const int slots = p.k + ex.n_shared;
    with_dtype(ex.dtype, [&]<class T>() {
        expert_in_kernel<T, true><<<dim3((intermediate + 7) / 8, n * slots), 256, 0, stream>>>(
            ex, p, logits, d, intermediate, x, h, ids, weights);
        expert_out_kernel<T><<<dim3((d + 1) / 2, n), 256, 0, stream>>>(ex, p.k, d, intermediate,
                                                                       ids, weights, h, out);
    });
    check_launch("moe_experts");
}

}  // namespace lc::cuda
