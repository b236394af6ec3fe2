#include "cuda_common.cuh"
#include "moe.cuh"

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
    p.renormalize = c.norm_topk_prob && c.model_type == ModelType::DeepseekV3 ? 1 : 0;
    p.scaling = static_cast<float>(c.routed_scaling_factor);
    return p;
}

namespace {

constexpr int kMaxExperts = 512;
constexpr int kRouteWarps = 4;

// The lowest index holding the largest value of v[0, n) (ties to the lower index, as the CPU).
__device__ int warp_argmax(const float* v, int n) {
    const int lane = threadIdx.x % kWarp;
    float best = -INFINITY;
    int best_i = n;
    for (int i = lane; i < n; i += kWarp)
        if (v[i] > best || (v[i] == best && i < best_i)) best = v[i], best_i = i;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
        if (ov > best || (ov == best && oi < best_i)) best = ov, best_i = oi;
    }
    return best_i < n ? best_i : 0;
}

// A warp per token.
__global__ void route_kernel(RoutingParams p, const float* __restrict__ logits,
                             const float* __restrict__ bias, int n, int* __restrict__ ids,
                             float* __restrict__ weights) {
    __shared__ float scores_all[kRouteWarps][kMaxExperts];
    __shared__ float choice_all[kRouteWarps][kMaxExperts];
    __shared__ float group_all[kRouteWarps][64];
    const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    const int t = blockIdx.x * kRouteWarps + warp;
    if (t >= n) return;
    float* scores = scores_all[warp];
    float* choice = choice_all[warp];
    float* group = group_all[warp];
    const float* lg = logits + static_cast<int64_t>(t) * p.n_routed;
    const int E = p.n_routed;

    float mx = -INFINITY;
    for (int i = lane; i < E; i += kWarp)
        mx = fmaxf(mx, lg[i]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int i = lane; i < E; i += kWarp) {
        const float s = p.softmax ? expf(lg[i] - mx) : 1.0f / (1.0f + expf(-lg[i]));
        scores[i] = s;
        sum += s;
    }
    sum = warp_sum(sum);
    for (int i = lane; i < E; i += kWarp) {
        if (p.softmax) scores[i] /= sum;
        choice[i] = scores[i] + (bias ? bias[i] : 0.0f);
    }
    __syncwarp();
    if (p.group_method != 0) {
        const int size = E / p.n_group;
        for (int g = lane; g < p.n_group; g += kWarp) {
            const float* s = choice + g * size;
            float best = -INFINITY, second = -INFINITY;
            for (int i = 0; i < size; ++i) {
                if (s[i] > best) {
                    second = best;
                    best = s[i];
                } else if (s[i] > second) {
                    second = s[i];
                }
            }
            group[g] = p.group_method == 1 ? best : best + second;
        }
        __syncwarp();
        uint64_t kept = 0;
        for (int j = 0; j < p.topk_group; ++j) {
            const int g = warp_argmax(group, p.n_group);
            kept |= uint64_t(1) << g;
            __syncwarp();
            if (lane == 0) group[g] = -INFINITY;
            __syncwarp();
        }
        for (int i = lane; i < E; i += kWarp)
            if (!(kept >> (i / size) & 1)) choice[i] = -INFINITY;
        __syncwarp();
    }
    float total = 0.0f;
    for (int j = 0; j < p.k; ++j) {
        const int e = warp_argmax(choice, E);
        __syncwarp();
        if (lane == 0) {
            choice[e] = -INFINITY;
            ids[t * p.k + j] = e;
            weights[t * p.k + j] = scores[e];
        }
        total += scores[e];
        __syncwarp();
    }
    if (lane == 0)
        for (int j = 0; j < p.k; ++j) {
            float w = weights[t * p.k + j];
            if (p.renormalize) w /= (total + 1e-20f);
            weights[t * p.k + j] = w * p.scaling;
        }
}

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

// A warp per (row, token-expert pair): h[pair][r] = silu(gate_e[r] . x) * (up_e[r] . x).
template <class T>
__global__ void __launch_bounds__(256)
    expert_in_kernel(ExpertTable ex, int d, int inter, int k, const int* __restrict__ ids,
                     const float* __restrict__ x, float* __restrict__ h) {
    constexpr int V = Vec16<T>::N;
    const int lane = threadIdx.x % kWarp;
    const int r = blockIdx.x * 8 + threadIdx.x / kWarp;
    const int pair = blockIdx.y;
    if (r >= inter) return;
    const int e = ids[pair];
    const T* g = static_cast<const T*>(ex.gate[e]) + static_cast<int64_t>(r) * ex.gate_stride;
    const T* u = static_cast<const T*>(ex.up[e]) + static_cast<int64_t>(r) * ex.gate_stride;
    const float* xt = x + static_cast<int64_t>(pair / k) * d;
    float ag = 0.0f, au = 0.0f;
    if (d % V == 0 && ex.gate_stride % V == 0) {
#pragma unroll 4
        for (int c = lane * V; c < d; c += kWarp * V) {
            float gv[V], uv[V];
            widen16<T>(load_streaming(g + c), gv);
            widen16<T>(load_streaming(u + c), uv);
#pragma unroll
            for (int i = 0; i < V; ++i) {
                ag += gv[i] * xt[c + i];
                au += uv[i] * xt[c + i];
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

// A warp per (row, token): out[t][r] += sum_j w_j * down_{e_j}[r] . h[t * k + j].
template <class T>
__global__ void __launch_bounds__(256)
    expert_out_kernel(ExpertTable ex, int d, int inter, int k, const int* __restrict__ ids,
                      const float* __restrict__ weights, const float* __restrict__ h,
                      float* __restrict__ out) {
    constexpr int V = Vec16<T>::N;
    const int lane = threadIdx.x % kWarp;
    const int r = blockIdx.x * 8 + threadIdx.x / kWarp;
    const int t = blockIdx.y;
    if (r >= d) return;
    const bool vec = inter % V == 0 && ex.down_stride % V == 0;
    float total = 0.0f;
    for (int j = 0; j < k; ++j) {
        const int pair = t * k + j;
        const T* row =
            static_cast<const T*>(ex.down[ids[pair]]) + static_cast<int64_t>(r) * ex.down_stride;
        const float* hp = h + static_cast<int64_t>(pair) * inter;
        float acc = 0.0f;
        if (vec) {
#pragma unroll 4
            for (int c = lane * V; c < inter; c += kWarp * V) {
                float wv[V];
                widen16<T>(load_streaming(row + c), wv);
#pragma unroll
                for (int i = 0; i < V; ++i)
                    acc += wv[i] * hp[c + i];
            }
        } else {
            for (int c = lane; c < inter; c += kWarp)
                acc += to_f32<T>(row[c]) * hp[c];
        }
        total += weights[pair] * warp_sum(acc);
    }
    if (lane == 0) out[static_cast<int64_t>(t) * d + r] += total;
}

}  // namespace

void route(const RoutingParams& p, const float* logits, const float* bias, int n, int* ids,
           float* weights, cudaStream_t stream) {
    if (n <= 0) return;
    if (p.n_routed > kMaxExperts || p.n_group > 64)
        throw Error("this model has more routed experts or groups than the GPU router handles");
    route_kernel<<<(n + kRouteWarps - 1) / kRouteWarps, kRouteWarps * kWarp, 0, stream>>>(
        p, logits, bias, n, ids, weights);
    check_launch("route");
}

void routed_experts(const ExpertTable& ex, int d, int intermediate, int k, const int* ids,
                    const float* weights, const float* x, int n, float* h, float* out,
                    cudaStream_t stream) {
    if (n <= 0) return;
    with_dtype(ex.dtype, [&]<class T>() {
        expert_in_kernel<T><<<dim3((intermediate + 7) / 8, n * k), 256, 0, stream>>>(
            ex, d, intermediate, k, ids, x, h);
        expert_out_kernel<T><<<dim3((d + 7) / 8, n), 256, 0, stream>>>(ex, d, intermediate, k, ids,
                                                                       weights, h, out);
    });
    check_launch("routed_experts");
}

}  // namespace lc::cuda
