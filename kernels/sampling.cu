#include <cfloat>

#include "cuda_common.cuh"
#include "sampling.cuh"

namespace lc::cuda {
namespace {

constexpr int kThreads = 1024;

struct Params {
    float temperature, top_p, min_p, penalty;
    int top_k;
    double uniform;
};

__device__ __forceinline__ bool better(float a, int ia, float b, int ib) {
    return a > b || (a == b && ia < ib);
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(float* __restrict__ x, int vocab, Params p, const int* __restrict__ recent,
                  int n_recent, SampleOutput* out) {
    __shared__ float cand_value[kMaxCandidates];
    __shared__ int cand_id[kMaxCandidates];
    __shared__ float red_v[32];
    __shared__ int red_i[32];
    __shared__ int count;
    __shared__ float scan[32];
    __shared__ int found;
    const int tid = threadIdx.x, lane = tid % kWarp, warp = tid / kWarp;

    // 1) Repetition penalty, once per distinct id.
    if (p.penalty != 1.0f) {
        for (int i = tid; i < n_recent; i += kThreads) {
            const int id = recent[i];
            bool first = id >= 0 && id < vocab;
            for (int j = 0; j < i && first; ++j)
                first = recent[j] != id;
            if (first) {
                const float v = x[id];
                x[id] = v > 0.0f ? v / p.penalty : v * p.penalty;
            }
        }
        __syncthreads();
    }

    // 2) NaN never wins, +inf becomes the largest finite value; the maximum and its index.
    float best = -INFINITY;
    int best_i = vocab;
    for (int i = tid; i < vocab; i += kThreads) {
        float v = x[i];
        if (isnan(v))
            v = -INFINITY;
        else if (v == INFINITY)
            v = FLT_MAX;
        x[i] = v;
        if (better(v, i, best, best_i)) best = v, best_i = i;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
        if (better(ov, oi, best, best_i)) best = ov, best_i = oi;
    }
    if (lane == 0) red_v[warp] = best, red_i[warp] = best_i;
    if (tid == 0) count = 0, found = INT_MAX;
    __syncthreads();
    best = red_v[0], best_i = red_i[0];
    for (int w = 1; w < kThreads / kWarp; ++w)
        if (better(red_v[w], red_i[w], best, best_i)) best = red_v[w], best_i = red_i[w];
    const float max_logit = best;
    if (p.temperature == 0.0f || max_logit == -INFINITY) {
        if (tid == 0) *out = SampleOutput{best_i < vocab ? best_i : 0, p.penalty != 1.0f};
        return;
    }

    // 3) Candidates: min-p keeps exp((x - max) / T) >= min_p.
    const float inv_t = 1.0f / p.temperature;
    for (int i = tid; i < vocab; i += kThreads) {
        const float v = x[i];
        if (v == -INFINITY) continue;
        const float d = v - max_logit;
        const float rel = d == 0.0f ? 1.0f : expf(d * inv_t);
        if (p.min_p > 0.0f && !(rel >= p.min_p)) continue;
        const int slot = atomicAdd(&count, 1);
        if (slot < kMaxCandidates) cand_value[slot] = v, cand_id[slot] = i;
    }
    __syncthreads();
    const int n = count;
    if (n > kMaxCandidates) {
        if (tid == 0) *out = SampleOutput{-1, p.penalty != 1.0f};
        return;
    }
    // 4) Sort, highest first, lower id first on ties (bitonic over the next power of two).
    int size = 1;
    while (size < n)
        size <<= 1;
    for (int i = n + tid; i < size; i += kThreads)
        cand_value[i] = -INFINITY, cand_id[i] = INT_MAX;
    __syncthreads();
    for (int k = 2; k <= size; k <<= 1)
        for (int j = k >> 1; j > 0; j >>= 1) {
            for (int i = tid; i < size; i += kThreads) {
                const int partner = i ^ j;
                if (partner <= i) continue;
                const bool ascending_block = (i & k) == 0;
                const bool swap =
                    ascending_block
                        ? better(cand_value[partner], cand_id[partner], cand_value[i], cand_id[i])
                        : better(cand_value[i], cand_id[i], cand_value[partner], cand_id[partner]);
                if (swap) {
                    const float tv = cand_value[i];
                    const int ti = cand_id[i];
                    cand_value[i] = cand_value[partner], cand_id[i] = cand_id[partner];
                    cand_value[partner] = tv, cand_id[partner] = ti;
                }
            }
            __syncthreads();
        }
    const int kept = p.top_k > 0 && p.top_k < n ? p.top_k : n;

    // 5) Probabilities relative to the best, then an inclusive prefix sum (4 per thread).
    float local[4];
    float run = 0.0f;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int i = tid * 4 + q;
        float pr = 0.0f;
        if (i < kept) {
            const float d = cand_value[i] - max_logit;
            pr = d == 0.0f ? 1.0f : expf(d * inv_t);
        }
        run += pr;
        local[q] = run;
    }
    float incl = run;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const float v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
    }
    if (lane == 31) scan[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        float w = scan[lane];
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const float v = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += v;
        }
        scan[lane] = w;
    }
    __syncthreads();
    const float before = incl - run + (warp > 0 ? scan[warp - 1] : 0.0f);
    // Each thread keeps its 4 ids in registers; their shared slots then hold the prefix sums.
    float* cumulative = reinterpret_cast<float*>(cand_id);
    int my_ids[4];
#pragma unroll
    for (int q = 0; q < 4; ++q)
        my_ids[q] = tid * 4 + q < size ? cand_id[tid * 4 + q] : INT_MAX;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < 4; ++q)
        if (tid * 4 + q < kMaxCandidates) cumulative[tid * 4 + q] = before + local[q];
    __syncthreads();
    const float total = scan[31];

    // 6) top-p: the smallest prefix holding top_p of the mass; then the draw inside it.
    int limit = kept;
    if (p.top_p < 1.0f) {
        const float target = p.top_p * total;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const int i = tid * 4 + q;
            if (i < kept && cumulative[i] >= target) atomicMin(&found, i);
        }
        __syncthreads();
        limit = found == INT_MAX ? kept : found + 1;
        __syncthreads();
        if (tid == 0) found = INT_MAX;
        __syncthreads();
    }
    const float mass = cumulative[limit - 1];
    const float u = static_cast<float>(p.uniform) * mass;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int i = tid * 4 + q;
        if (i < limit && u < cumulative[i]) atomicMin(&found, i);
    }
    __syncthreads();
    const int chosen = found == INT_MAX ? limit - 1 : found;
    if (chosen / 4 == tid) *out = SampleOutput{my_ids[chosen % 4], p.penalty != 1.0f};
}

}  // namespace

void sample(float* logits, int vocab, const SamplingParams& params, const int* recent, int n_recent,
            double uniform, SampleOutput* out, cudaStream_t stream) {
    Params p{params.temperature,        params.top_p, params.min_p,
             params.repetition_penalty, params.top_k, uniform};
    sample_kernel<<<1, kThreads, 0, stream>>>(logits, vocab, p, recent, n_recent, out);
    check_launch("sample");
}

}  // namespace lc::cuda
