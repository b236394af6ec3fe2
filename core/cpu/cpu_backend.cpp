// The CPU backend: the reference implementation of every operation the forward uses.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/error.h"
#include "cpu/cpu_attention_chunk.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_matmul.h"
#include "engine/backend.h"
#include "engine/moe_routing.h"

namespace lc {
namespace {

// Scratch that one thread reuses across calls; grows to the largest size asked, so after the
// first tokens of a conversation the decode loop allocates nothing.
float* thread_scratch(size_t n) {
    thread_local std::vector<float> buffer;
    if (buffer.size() < n) buffer.resize(std::max(n, buffer.size() * 2));
    return buffer.data();
}

void softmax_inplace(float* x, int n) {
    float m = *std::max_element(x, x + n);
    float sum = 0;
    for (int i = 0; i < n; ++i)
        sum += (x[i] = std::exp(x[i] - m));
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i)
        x[i] *= inv;
}

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(int threads) : pool_(threads) {}

    const char* name() const override { return "cpu"; }
    int threads() const override { return pool_.size(); }

    float* alloc(size_t n_floats) override {
        buffers_.emplace_back(std::max<size_t>(n_floats, 1));
        return buffers_.back().data();
    }
    PageAllocator& cache_pages() override { return pages_; }
    void to_host(const float* src, float* dst, size_t n) override {
        if (src != dst) std::memcpy(dst, src, n * sizeof(float));
    }
    void to_backend(const float* src, float* dst, size_t n) override { to_host(src, dst, n); }

    void embed(const WeightMatrix& table, const int* ids, int n, float* out) override {
        for (int t = 0; t < n; ++t)
            widen_row(table.row(ids[t]), table.dtype, table.cols, out + t * table.cols);
    }

    void matmul(const WeightMatrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                int n) override {
        lc::matmul(pool_, w, x, x_stride, y, y_stride, n);
    }

    void project(const float* x, int64_t x_stride, const float* norm, float eps, float* xn, int dim,
                 std::span<const Projection> outs, int n) override {
        const float* in = x;
        int64_t in_stride = x_stride;
        if (norm) {
            rms_norm(x, x_stride, norm, eps, xn, dim, n, dim);
            in = xn;
            in_stride = dim;
        }
        for (const Projection& p : outs) {
            if (p.up) {
                swiglu(*p.w, *p.up, in, in_stride, p.y, p.y_stride, n);
            } else if (p.accumulate) {
                matmul_add(*p.w, in, in_stride, p.y, p.y_stride, n);
            } else {
                lc::matmul(pool_, *p.w, in, in_stride, p.y, p.y_stride, n);
            }
        }
    }

    void matmul_add(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                    int64_t y_stride, int n) override {
        float* tmp = thread_scratch(static_cast<size_t>(n) * w.rows);
        lc::matmul(pool_, w, x, x_stride, tmp, w.rows, n);
        for (int t = 0; t < n; ++t)
            for (int64_t r = 0; r < w.rows; ++r)
                y[t * y_stride + r] += tmp[t * w.rows + r];
    }

    void swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x, int64_t x_stride,
                float* h, int64_t h_stride, int n) override {
        float* u = thread_scratch(static_cast<size_t>(n) * up.rows);
        lc::matmul(pool_, gate, x, x_stride, h, h_stride, n);
        lc::matmul(pool_, up, x, x_stride, u, up.rows, n);
        for (int t = 0; t < n; ++t) {
            float* hr = h + t * h_stride;
            const float* ur = u + t * up.rows;
            for (int64_t i = 0; i < gate.rows; ++i) {
                const float g = hr[i];
                hr[i] = g / (1.0f + std::exp(-g)) * ur[i];
            }
        }
    }

    void rms_norm(const float* x, int64_t x_stride, const float* weight, float eps, float* y,
                  int64_t y_stride, int n, int dim) override {
        for (int t = 0; t < n; ++t) {
            const float* xr = x + t * x_stride;
            float* yr = y + t * y_stride;
            float ss = dot_f32(xr, xr, dim);
            const float inv = 1.0f / std::sqrt(ss / dim + eps);
            for (int i = 0; i < dim; ++i)
                yr[i] = weight[i] * (xr[i] * inv);
        }
    }

    void rope(float* x, int64_t token_stride, int n_heads, int64_t head_stride, int offset,
              int first_position, int n, const Rope& r) override {
        float* cs = thread_scratch(r.dim());
        for (int t = 0; t < n; ++t) {
            r.angles(first_position + t, cs, cs + r.dim() / 2);
            for (int h = 0; h < n_heads; ++h)
                r.rotate(x + t * token_stride + h * head_stride + offset, cs, cs + r.dim() / 2);
        }
    }

    void store_latent(LatentCache& cache, int layer, int first_position, int n, const float* kv_a,
                      const float* norm, float eps, const Rope& r) override {
        const int d_c = cache.latent_dim();
        const int row = cache.row_elements();
        float* cs = thread_scratch(r.dim());
        for (int t = 0; t < n; ++t) {
            float* dst = cache.row(layer, first_position + t);
            const float* src = kv_a + static_cast<int64_t>(t) * row;
            rms_norm(src, row, norm, eps, dst, row, 1, d_c);
            std::memcpy(dst + d_c, src + d_c, cache.rope_dim() * sizeof(float));
            r.angles(first_position + t, cs, cs + r.dim() / 2);
            r.rotate(dst + d_c, cs, cs + r.dim() / 2);
        }
    }

    void attention(AttentionMode mode, LatentCache& cache, const AttentionArgs& a) override {
        if (a.kv_a) {
            const int qk = a.d_nope + a.d_rope;
            rope(a.q, static_cast<int64_t>(a.n_heads) * qk, a.n_heads, qk, a.d_nope,
                 a.first_position, a.n_tokens, *a.rope);
            store_latent(cache, a.layer, a.first_position, a.n_tokens, a.kv_a, a.kv_norm, a.kv_eps,
                         *a.rope);
        }
        if (mode == AttentionMode::Absorbed) {
            absorbed_attention(cache, a);
        } else {
            naive_attention(cache, a);
        }
    }

    // out[t, i] = silu(gate[t, i]) * up[t, i]
    void silu_mul(const float* gate, const float* up, float* out, int n, int dim) {
        const size_t total = static_cast<size_t>(n) * dim;
        for (size_t i = 0; i < total; ++i) {
            const float g = gate[i];
            out[i] = g / (1.0f + std::exp(-g)) * up[i];
        }
    }

    void moe(const ModelConfig& c, const MoeArgs& a) override;

private:
    static constexpr int kMaxDecodeExperts = 32;
    static constexpr int kChunkAttentionMinTokens = 4;  // experts per token the decode path batches
    void moe_one_token(const MoeArgs& a, int k, int d, int inter);
    void moe_chunk(const MoeArgs& a, int n_experts, int k, int d, int inter);
    void absorbed_attention(const LatentCache& cache, const AttentionArgs& a);
    void naive_attention(const LatentCache& cache, const AttentionArgs& a);

    ThreadPool pool_;
    HostPageAllocator pages_;
    std::vector<std::vector<float>> buffers_;
    // MoE scratch, sized on first use for the largest batch (then reused).
    std::vector<int> moe_ids_;
    std::vector<float> moe_weights_;
    // Prefill: the (token, choice) pairs grouped by expert into slots; slot -> token and
    // pair (t * k + j) -> slot.
    std::vector<int> moe_slot_tokens_, moe_slot_of_;
    std::vector<int> moe_first_slot_, moe_fill_;  // [n_experts + 1] / [n_experts]
    std::vector<MatmulJob> moe_jobs_;
    std::vector<float> moe_x_, moe_gate_, moe_up_, moe_y_;
};

// score[h][s] = (q_lat[h] . c_kv[s] + q_pe[h] . k_pe[s]) * scale, with q_lat[h] = W_UK[h]^T
// q_nope[h]; o[h] = W_UV[h] sum_s p[h][s] c_kv[s]. Every head reads the same latent rows.
void CpuBackend::absorbed_attention(const LatentCache& cache, const AttentionArgs& a) {
    // A chunk of queries (prefill): blocked products read each weight and latent row once per
    // block of queries (cpu_attention_chunk.cpp); one query (decode): per head, below.
    if (a.n_tokens >= kChunkAttentionMinTokens) return absorbed_attention_chunk(pool_, cache, a);
    const int qk = a.d_nope + a.d_rope;
    const int64_t head_rows = a.d_nope + a.d_v;
    pool_.parallel_for(static_cast<int64_t>(a.n_tokens) * a.n_heads, 1, [&](int64_t b, int64_t e) {
        for (int64_t item = b; item < e; ++item) {
            const int t = static_cast<int>(item / a.n_heads);
            const int h = static_cast<int>(item % a.n_heads);
            const int n_keys = a.first_position + t + 1;  // causal: up to and including itself
            float* scratch = thread_scratch(2 * static_cast<size_t>(a.d_c) + n_keys);
            float* q_lat = scratch;               // [d_c]
            float* o_lat = scratch + a.d_c;       // [d_c]
            float* scores = scratch + 2 * a.d_c;  // [n_keys]
            const float* q_nope = a.q + (static_cast<int64_t>(t) * a.n_heads + h) * qk;
            const float* q_pe = q_nope + a.d_nope;
            const WeightMatrix w_uk = a.kv_b->row_block(h * head_rows, a.d_nope);
            const WeightMatrix w_uv = a.kv_b->row_block(h * head_rows + a.d_nope, a.d_v);

            matmul_transposed_serial(w_uk, q_nope, q_lat);
            for (int s = 0; s < n_keys; ++s) {
                const float* row = cache.row(a.layer, s);
                scores[s] =
                    (dot_f32(q_lat, row, a.d_c) + dot_f32(q_pe, row + a.d_c, a.d_rope)) * a.scale;
            }
            softmax_inplace(scores, n_keys);
            std::fill(o_lat, o_lat + a.d_c, 0.0f);
            for (int s = 0; s < n_keys; ++s)
                axpy_f32(scores[s], cache.row(a.layer, s), o_lat, a.d_c);
            float* out = a.out + (static_cast<int64_t>(t) * a.n_heads + h) * a.d_v;
            matmul_serial(w_uv, o_lat, a.d_c, out, a.d_v, 1);
        }
    });
}

// The textbook form: per head, up-project every cached latent to a key and a value, then
// softmax(q k^T * scale) v. Slow and memory-hungry; kept as the oracle the absorbed form is
// tested against.
void CpuBackend::naive_attention(const LatentCache& cache, const AttentionArgs& a) {
    const int qk = a.d_nope + a.d_rope;
    const int64_t head_rows = a.d_nope + a.d_v;
    const int n_keys_total = a.first_position + a.n_tokens;
    std::vector<float> latents(static_cast<size_t>(n_keys_total) * a.d_c);
    for (int s = 0; s < n_keys_total; ++s)
        std::memcpy(&latents[static_cast<size_t>(s) * a.d_c], cache.row(a.layer, s),
                    a.d_c * sizeof(float));
    std::vector<float> keys(static_cast<size_t>(n_keys_total) * qk);
    std::vector<float> values(static_cast<size_t>(n_keys_total) * a.d_v);
    std::vector<float> scores(n_keys_total);
    for (int h = 0; h < a.n_heads; ++h) {
        const WeightMatrix w_uk = a.kv_b->row_block(h * head_rows, a.d_nope);
        const WeightMatrix w_uv = a.kv_b->row_block(h * head_rows + a.d_nope, a.d_v);
        lc::matmul(pool_, w_uk, latents.data(), a.d_c, keys.data(), qk, n_keys_total);
        lc::matmul(pool_, w_uv, latents.data(), a.d_c, values.data(), a.d_v, n_keys_total);
        for (int s = 0; s < n_keys_total; ++s)
            std::memcpy(&keys[static_cast<size_t>(s) * qk + a.d_nope],
                        cache.row(a.layer, s) + a.d_c, a.d_rope * sizeof(float));
        for (int t = 0; t < a.n_tokens; ++t) {
            const int n_keys = a.first_position + t + 1;
            const float* q = a.q + (static_cast<int64_t>(t) * a.n_heads + h) * qk;
            for (int s = 0; s < n_keys; ++s)
                scores[s] = dot_f32(q, &keys[static_cast<size_t>(s) * qk], qk) * a.scale;
            softmax_inplace(scores.data(), n_keys);
            float* out = a.out + (static_cast<int64_t>(t) * a.n_heads + h) * a.d_v;
            std::fill(out, out + a.d_v, 0.0f);
            for (int s = 0; s < n_keys; ++s)
                axpy_f32(scores[s], &values[static_cast<size_t>(s) * a.d_v], out, a.d_v);
        }
    }
}

// Routes every token, then runs each chosen expert once over all the tokens that chose it
// (so prefill reads an expert's weights once, not once per token).
void CpuBackend::moe(const ModelConfig& c, const MoeArgs& args) {
    MoeArgs a = args;
    const Projection router[] = {
        {&a.layer->router, nullptr, a.router_logits, c.n_routed_experts, false}};
    project(a.x, c.hidden_size, a.norm, a.eps, a.xn, c.hidden_size, router, a.n_tokens);
    a.x = a.xn;  // the experts read the normed state
    const int n = a.n_tokens;
    const int k = c.num_experts_per_tok;
    const int d = c.hidden_size;
    const int inter = c.moe_intermediate_size;
    const LayerWeights& L = *a.layer;
    const size_t nk = static_cast<size_t>(n) * k;
    if (moe_ids_.size() < nk) {
        moe_ids_.resize(nk);
        moe_weights_.resize(nk);
    }
    float* route_scratch = thread_scratch(2 * static_cast<size_t>(c.n_routed_experts) + c.n_group);
    for (int t = 0; t < n; ++t)
        route_token(c, a.router_logits + static_cast<int64_t>(t) * c.n_routed_experts,
                    L.router_bias.host, route_scratch, &moe_ids_[t * k], &moe_weights_[t * k]);
    if (n == 1) {  // decode: every product of the layer in two passes over the pool
        moe_one_token(a, k, d, inter);
        return;
    }
    moe_chunk(a, c.n_routed_experts, k, d, inter);
}

// A chunk of tokens (prefill): the tokens grouped by expert (counting sort), then every
// expert's gate and up products, and the shared experts', as one batch over the pool, then
// all the down products as another. Batched, the pool's threads share out the row groups of
// all experts at once instead of idling at the tail of each small product.
void CpuBackend::moe_chunk(const MoeArgs& a, int n_experts, int k, int d, int inter) {
    const LayerWeights& L = *a.layer;
    const FeedForwardWeights& sh = L.shared;
    const int n = a.n_tokens;
    const int shared = sh.intermediate;
    const size_t slots = static_cast<size_t>(n) * k;
    const size_t hidden = slots * inter + static_cast<size_t>(n) * shared;
    if (moe_x_.size() < slots * d) moe_x_.resize(slots * d);
    if (moe_gate_.size() < hidden) {
        moe_gate_.resize(hidden);
        moe_up_.resize(hidden);
    }
    if (moe_y_.size() < (slots + n) * d) moe_y_.resize((slots + n) * d);
    if (moe_slot_tokens_.size() < slots) {
        moe_slot_tokens_.resize(slots);
        moe_slot_of_.resize(slots);
    }
    moe_first_slot_.assign(static_cast<size_t>(n_experts) + 1, 0);
    for (size_t i = 0; i < slots; ++i)
        ++moe_first_slot_[moe_ids_[i] + 1];
    for (int e = 0; e < n_experts; ++e)
        moe_first_slot_[e + 1] += moe_first_slot_[e];
    moe_fill_.assign(moe_first_slot_.begin(), moe_first_slot_.end() - 1);
    for (size_t i = 0; i < slots; ++i) {
        const int slot = moe_fill_[moe_ids_[i]]++;
        moe_slot_of_[i] = slot;
        moe_slot_tokens_[slot] = static_cast<int>(i / k);
    }
    pool_.parallel_for(static_cast<int64_t>(slots), 16, [&](int64_t b, int64_t e) {
        for (int64_t slot = b; slot < e; ++slot)
            std::memcpy(&moe_x_[static_cast<size_t>(slot) * d],
                        a.x + static_cast<int64_t>(moe_slot_tokens_[slot]) * d, d * sizeof(float));
    });
    moe_jobs_.resize(2 * (static_cast<size_t>(n_experts) + 1));
    float* shared_gate = moe_gate_.data() + slots * inter;
    float* shared_up = moe_up_.data() + slots * inter;
    float* shared_y = moe_y_.data() + slots * d;
    size_t n_jobs = 0;
    for (int e = 0; e < n_experts; ++e) {
        const int first = moe_first_slot_[e], m = moe_first_slot_[e + 1] - first;
        if (m == 0) continue;
        const FeedForwardWeights& ex = L.experts[e];
        const float* x = &moe_x_[static_cast<size_t>(first) * d];
        moe_jobs_[n_jobs++] = {&ex.gate, x, d, &moe_gate_[static_cast<size_t>(first) * inter],
                               inter,    m};
        moe_jobs_[n_jobs++] = {&ex.up, x, d, &moe_up_[static_cast<size_t>(first) * inter],
                               inter,  m};
    }
    if (shared > 0) {
        moe_jobs_[n_jobs++] = {&sh.gate, a.x, d, shared_gate, shared, n};
        moe_jobs_[n_jobs++] = {&sh.up, a.x, d, shared_up, shared, n};
    }
    matmul_batch(pool_, moe_jobs_.data(), static_cast<int>(n_jobs));
    pool_.parallel_for(static_cast<int64_t>(hidden), 4096, [&](int64_t b, int64_t e) {
        silu_mul(&moe_gate_[b], &moe_up_[b], &moe_gate_[b], 1, static_cast<int>(e - b));
    });
    n_jobs = 0;
    for (int e = 0; e < n_experts; ++e) {
        const int first = moe_first_slot_[e], m = moe_first_slot_[e + 1] - first;
        if (m == 0) continue;
        moe_jobs_[n_jobs++] = {&L.experts[e].down,
                               &moe_gate_[static_cast<size_t>(first) * inter],
                               inter,
                               &moe_y_[static_cast<size_t>(first) * d],
                               d,
                               m};
    }
    if (shared > 0) moe_jobs_[n_jobs++] = {&sh.down, shared_gate, shared, shared_y, d, n};
    matmul_batch(pool_, moe_jobs_.data(), static_cast<int>(n_jobs));
    pool_.parallel_for(n, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
            float* out = a.out + t * d;
            for (int j = 0; j < k; ++j) {
                const size_t i = static_cast<size_t>(t) * k + j;
                axpy_f32(moe_weights_[i], &moe_y_[static_cast<size_t>(moe_slot_of_[i]) * d], out,
                         d);
            }
            if (shared > 0) axpy_f32(1.0f, shared_y + static_cast<size_t>(t) * d, out, d);
        }
    });
}

void CpuBackend::moe_one_token(const MoeArgs& a, int k, int d, int inter) {
    // One token: the chosen experts' gate and up products (and the shared experts') as one
    // batch, then their down products as another: two wake-ups of the pool instead of three
    // per expert, which is most of a decode step's MoE time when the products are small.
    const LayerWeights& L = *a.layer;
    const FeedForwardWeights& sh = L.shared;
    const int shared = sh.intermediate;
    const size_t hidden = static_cast<size_t>(k) * inter + shared;
    if (moe_gate_.size() < hidden) {
        moe_gate_.resize(hidden);
        moe_up_.resize(hidden);
    }
    if (moe_y_.size() < static_cast<size_t>(k + 1) * d)
        moe_y_.resize(static_cast<size_t>(k + 1) * d);
    MatmulJob jobs[2 * (kMaxDecodeExperts + 1)];
    if (k > kMaxDecodeExperts)
        throw Error("internal: more experts per token than the decode path holds");
    int n_jobs = 0;
    for (int j = 0; j < k; ++j) {
        const FeedForwardWeights& ex = L.experts[moe_ids_[j]];
        jobs[n_jobs++] = {&ex.gate, a.x, d, &moe_gate_[static_cast<size_t>(j) * inter], inter, 1};
        jobs[n_jobs++] = {&ex.up, a.x, d, &moe_up_[static_cast<size_t>(j) * inter], inter, 1};
    }
    float* shared_gate = moe_gate_.data() + static_cast<size_t>(k) * inter;
    float* shared_up = moe_up_.data() + static_cast<size_t>(k) * inter;
    if (shared > 0) {
        jobs[n_jobs++] = {&sh.gate, a.x, d, shared_gate, shared, 1};
        jobs[n_jobs++] = {&sh.up, a.x, d, shared_up, shared, 1};
    }
    matmul_batch(pool_, jobs, n_jobs);
    silu_mul(moe_gate_.data(), moe_up_.data(), moe_gate_.data(), 1, static_cast<int>(hidden));
    n_jobs = 0;
    for (int j = 0; j < k; ++j) {
        const FeedForwardWeights& ex = L.experts[moe_ids_[j]];
        jobs[n_jobs++] = {&ex.down, &moe_gate_[static_cast<size_t>(j) * inter],
                          inter,    &moe_y_[static_cast<size_t>(j) * d],
                          d,        1};
    }
    if (shared > 0)
        jobs[n_jobs++] = {&sh.down, shared_gate, shared, &moe_y_[static_cast<size_t>(k) * d], d, 1};
    matmul_batch(pool_, jobs, n_jobs);
    for (int j = 0; j < k; ++j)
        axpy_f32(moe_weights_[j], &moe_y_[static_cast<size_t>(j) * d], a.out, d);
    if (shared > 0) axpy_f32(1.0f, &moe_y_[static_cast<size_t>(k) * d], a.out, d);
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
    return std::make_unique<CpuBackend>(threads);
}

}  // namespace lc
