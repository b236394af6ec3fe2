#pragma once
// The operations the model forward is written in. core/cpu/cpu_backend.cpp implements them on the
// CPU (the reference); kernels/ implements them on NVIDIA GPUs. All float* buffers live in the
// backend's memory and are allocated once, at load, through alloc().
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "engine/kv_cache.h"
#include "engine/rope.h"
#include "engine/sampler.h"
#include "engine/weight_matrix.h"
#include "engine/weights.h"
#include "formats/config.h"

namespace lc {

enum class AttentionMode {
    Absorbed,  // W_UK folded into q, W_UV applied after: reads only the latent cache
    Naive,     // keys and values up-projected from the cache per head (test oracle)
};

// Everything the attention op needs to know about one call. With `kv_a` set, the op first
// rotates q_pe, then writes the chunk's latent rows (RMSNorm(c_kv) * kv_norm, RoPE(k_pe)) to
// the cache, then attends; without it, q_pe is already rotated and the rows are in the cache.
struct AttentionArgs {
    int layer = 0;
    int first_position = 0;  // position of the first query token
    int n_tokens = 0;
    int n_heads = 0;
    int d_nope = 0, d_rope = 0, d_v = 0, d_c = 0;
    float scale = 1.0f;
    float* q = nullptr;              // [n_tokens, n_heads, d_nope + d_rope]
    const float* kv_a = nullptr;     // [n_tokens, d_c + d_rope] as kv_a_proj_with_mqa writes it
    const float* kv_norm = nullptr;  // [d_c]
    float kv_eps = 1e-6f;
    const Rope* rope = nullptr;
    const WeightMatrix* kv_b = nullptr;  // [n_heads * (d_nope + d_v), d_c]
    float* out = nullptr;                // [n_tokens, n_heads * d_v]
};

// One output of Backend::project(): y (=|+=) W xn, or SwiGLU's silu(W xn) * (up xn).
struct Projection {
    const WeightMatrix* w = nullptr;
    const WeightMatrix* up = nullptr;
    float* y = nullptr;
    int64_t y_stride = 0;
    bool accumulate = false;
};

struct MoeArgs {
    int layer_index = 0;
    int n_tokens = 0;
    const float* x = nullptr;     // [n_tokens, d], the residual stream (before the norm)
    const float* norm = nullptr;  // [d] post_attention_layernorm
    float eps = 1e-6f;
    float* xn = nullptr;                  // [n_tokens, d] scratch: RMSNorm(x) * norm
    float* router_logits = nullptr;       // [n_tokens, n_routed] scratch
    const LayerWeights* layer = nullptr;  // its routed and shared experts
    float* out = nullptr;  // [n_tokens, d]; routed (weighted) and shared experts are added to it
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;
    virtual int threads() const = 0;

    // Called once at load, before any op: a backend that computes elsewhere (a GPU) copies the
    // matrices and vectors there, points `weights` at its copies and sizes its scratch for
    // chunks of up to `max_batch` tokens. The CPU backend reads the checkpoint where it is.
    virtual void upload(ModelWeights& weights, const ModelConfig& config, int max_batch) {
        (void)weights, (void)config, (void)max_batch;
    }
    // Called before the ops of every forward chunk with its token ids, the cache and the
    // positions they will use (a GPU backend copies ids, positions and the page table to the
    // device here, so that a recorded step reads them from device memory when replayed).
    virtual void begin_chunk(const LatentCache& cache, int first_position, const int* ids, int n) {
        (void)cache, (void)first_position, (void)ids, (void)n;
    }
    // Decode steps may be recorded once and replayed (CUDA graphs): replay_step() returns true
    // when it replayed the step recorded under `key`; otherwise the model issues the step's ops
    // between record_begin() and record_end(), which also runs them.
    virtual bool replay_step(int key) { return (void)key, false; }
    virtual void record_begin(int key) { (void)key; }
    virtual void record_end() {}
    // Samples the next id from `logits` ([vocab], backend memory) with `uniform` in [0, 1) as
    // the random draw. Returns false when the host Sampler must draw; `*penalized` then says
    // whether the repetition penalty was already applied to the logits.
    virtual bool sample(float* logits, int vocab, const SamplingParams& params,
                        std::span<const int> recent, double uniform, int* id, bool* penalized) {
        (void)logits, (void)vocab, (void)params, (void)recent, (void)uniform, (void)id;
        *penalized = false;
        return false;
    }
    // Waits for all queued work (timing); a no-op where ops run synchronously.
    virtual void synchronize() {}
    // Free bytes of the memory the cache pages come from when that is not host memory (a GPU's);
    // 0 for backends whose cache lives in host memory.
    virtual size_t device_memory_free() { return 0; }

    // Memory
    virtual float* alloc(size_t n_floats) = 0;  // freed with the backend
    virtual PageAllocator& cache_pages() = 0;
    virtual void to_host(const float* src, float* dst, size_t n) = 0;
    virtual void to_backend(const float* src, float* dst, size_t n) = 0;

    // Ops. Row strides are in floats.
    virtual void embed(const WeightMatrix& table, const int* ids, int n, float* out) = 0;
    virtual void matmul(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                        int64_t y_stride, int n) = 0;
    // xn[t] = RMSNorm(x[t]) * norm (x itself when norm is null, and xn is then not written),
    // then every projection of xn: one pass where a backend can fuse them (decode on the GPU).
    virtual void project(const float* x, int64_t x_stride, const float* norm, float eps, float* xn,
                         int dim, std::span<const Projection> outs, int n) = 0;
    // y[t] += W x[t] (residual connections without a separate add).
    virtual void matmul_add(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                            int64_t y_stride, int n) = 0;
    // h[t] = silu(gate x[t]) * (up x[t]): SwiGLU's input half.
    virtual void swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x,
                        int64_t x_stride, float* h, int64_t h_stride, int n) = 0;
    virtual void rms_norm(const float* x, int64_t x_stride, const float* weight, float eps,
                          float* y, int64_t y_stride, int n, int dim) = 0;
    // Rotates `n_heads` vectors per token, each at `offset` inside a head of `head_stride`.
    virtual void rope(float* x, int64_t token_stride, int n_heads, int64_t head_stride, int offset,
                      int first_position, int n, const Rope& rope) = 0;
    // Writes rows [first_position, +n) of the cache for one layer: c_kv normed by `norm`,
    // k_pe rotated. kv_a is [n, d_c + d_rope] as kv_a_proj_with_mqa writes it.
    virtual void store_latent(LatentCache& cache, int layer, int first_position, int n,
                              const float* kv_a, const float* norm, float eps,
                              const Rope& rope) = 0;
    virtual void attention(AttentionMode mode, LatentCache& cache, const AttentionArgs& args) = 0;
    // One MoE layer on RMSNorm(x): router, routing, the chosen routed experts and the shared
    // experts, added to `out`.
    virtual void moe(const ModelConfig& config, const MoeArgs& args) = 0;
};

}  // namespace lc
