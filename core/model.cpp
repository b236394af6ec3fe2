// The forward pass of design.md section 3, written once over the Backend operations.
#include "model.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "error.h"

namespace lc {

namespace {
// q_a_layernorm and kv_a_layernorm are built without an eps argument in DeepSeek's code and in
// transformers, so they use RMSNorm's default whatever rms_norm_eps says.
constexpr float kLatentNormEps = 1e-6f;
}  // namespace

Model::Model(const std::filesystem::path& dir, const ModelOptions& options)
    : dir_(dir),
      options_(options),
      config_(ModelConfig::load(dir)),
      archive_(SafetensorsArchive::open_dir(dir)) {}

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const ModelOptions& options) {
    if (options.max_batch <= 0) throw Error("the prefill batch size must be positive");
    std::unique_ptr<Model> m(new Model(dir, options));
    const ModelConfig& c = m->config_;
    m->weights_ = ModelWeights::bind(c, m->archive_);
    for (const std::string& name : m->archive_.names())
        m->parameters_ += m->archive_.get(name).numel();
    m->backend_ = make_cpu_backend(options.threads);
    m->rope_ = std::make_unique<Rope>(c);

    Backend& be = *m->backend_;
    const size_t B = options.max_batch;
    const size_t d = c.hidden_size;
    const size_t n_h = c.num_attention_heads;
    int ffn = 0;
    for (int l = 0; l < c.num_hidden_layers; ++l)
        ffn = std::max(ffn, c.is_moe_layer(l)
                                ? c.moe_intermediate_size * std::max(1, c.n_shared_experts)
                                : c.intermediate_size);
    m->x_ = be.alloc(B * d);
    m->xn_ = be.alloc(B * d);
    m->q_a_ = be.alloc(B * std::max(c.q_lora_rank, 1));
    m->q_ = be.alloc(B * n_h * c.qk_head_dim());
    m->kv_a_ = be.alloc(B * (c.kv_lora_rank + c.qk_rope_head_dim));
    m->attn_ = be.alloc(B * n_h * c.v_head_dim);
    m->block_out_ = be.alloc(B * d);
    m->shared_out_ = be.alloc(B * d);
    m->gate_ = be.alloc(B * ffn);
    m->up_ = be.alloc(B * ffn);
    m->router_ = be.alloc(B * std::max(c.n_routed_experts, 1));
    m->logits_ = be.alloc(B * c.vocab_size);
    return m;
}

std::unique_ptr<LatentCache> Model::new_cache(int max_tokens) {
    if (max_tokens <= 0) max_tokens = config_.max_position_embeddings;
    return std::make_unique<LatentCache>(config_, max_tokens, backend_->cache_pages());
}

size_t Model::bytes_read_per_token() const {
    auto bytes = [](const WeightMatrix& w) {
        return static_cast<size_t>(w.rows) * w.cols * dtype_size(w.dtype);
    };
    auto ffn_bytes = [&](const FeedForwardWeights& f) {
        return f.intermediate ? bytes(f.gate) + bytes(f.up) + bytes(f.down) : 0;
    };
    size_t total = bytes(weights_.lm_head) +
                   static_cast<size_t>(config_.hidden_size) * dtype_size(weights_.embed.dtype);
    for (const LayerWeights& L : weights_.layers) {
        total += config_.q_lora_rank > 0 ? bytes(L.q_a_proj) + bytes(L.q_b_proj) : bytes(L.q_proj);
        total += bytes(L.kv_a_proj) + bytes(L.kv_b_proj) + bytes(L.o_proj);
        if (L.is_moe) {
            total += bytes(L.router) + ffn_bytes(L.shared) +
                     config_.num_experts_per_tok * ffn_bytes(L.experts[0]);
        } else {
            total += ffn_bytes(L.dense);
        }
    }
    return total;
}

void Model::prefault_weights() const {
    volatile uint8_t sink = 0;
    for (const std::string& name : archive_.names()) {
        const TensorView& t = archive_.get(name);
        const auto* bytes = static_cast<const uint8_t*>(t.data);
        for (size_t i = 0; i < t.nbytes; i += 4096)
            sink = sink + bytes[i];
    }
}

bool Model::forward(std::span<const int> tokens, LatentCache& cache, float* logits,
                    bool all_positions, const std::atomic<bool>* cancel) {
    for (int id : tokens)
        if (id < 0 || id >= config_.vocab_size)
            throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                        std::to_string(config_.vocab_size - 1) + ")");
    cache.reserve(cache.size() + static_cast<int>(tokens.size()));
    const int B = options_.max_batch;
    for (size_t done = 0; done < tokens.size(); done += B) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        const int n = static_cast<int>(std::min<size_t>(B, tokens.size() - done));
        const bool last_chunk = done + n == tokens.size();
        float* out = nullptr;
        if (logits && all_positions) out = logits + done * config_.vocab_size;
        if (logits && !all_positions && last_chunk) out = logits;
        forward_chunk(tokens.data() + done, n, cache, out, all_positions);
    }
    return true;
}

void Model::forward_chunk(const int* ids, int n, LatentCache& cache, float* logits,
                          bool all_positions) {
    const ModelConfig& c = config_;
    Backend& be = *backend_;
    const int d = c.hidden_size;
    const int p0 = cache.size();
    const float eps = static_cast<float>(c.rms_norm_eps);

    be.embed(weights_.embed, ids, n, x_);  // x: [n, d]
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        const LayerWeights& w = weights_.layers[l];
        // h = x + Attention(RMSNorm(x))
        be.rms_norm(x_, d, w.input_norm.data(), eps, xn_, d, n, d);
        attention_block(w, l, n, p0, cache);
        be.add(x_, block_out_, static_cast<size_t>(n) * d);
        // x = h + FFN(RMSNorm(h))
        be.rms_norm(x_, d, w.post_attention_norm.data(), eps, xn_, d, n, d);
        if (w.is_moe) {
            moe_block(w, n);
        } else {
            feed_forward(w.dense, xn_, block_out_, n);
        }
        be.add(x_, block_out_, static_cast<size_t>(n) * d);
    }
    cache.set_size(p0 + n);
    if (!logits) return;

    // Logits: of every position, or only of the last one.
    const int first = all_positions ? 0 : n - 1;
    const int count = n - first;
    be.rms_norm(x_ + static_cast<int64_t>(first) * d, d, weights_.final_norm.data(), eps, xn_, d,
                count, d);
    be.matmul(weights_.lm_head, xn_, d, logits_, c.vocab_size, count);  // [count, vocab]
    be.to_host(logits_, logits, static_cast<size_t>(count) * c.vocab_size);
}

void Model::attention_block(const LayerWeights& w, int layer, int n, int p0, LatentCache& cache) {
    const ModelConfig& c = config_;
    Backend& be = *backend_;
    const int d = c.hidden_size;
    const int n_h = c.num_attention_heads;
    const int qk = c.qk_head_dim();
    const int kv_row = c.kv_lora_rank + c.qk_rope_head_dim;

    // Query: q = W_UQ RMSNorm(W_DQ h), or q = W_Q h.        q: [n, n_h, d_nope + d_rope]
    if (c.q_lora_rank > 0) {
        be.matmul(w.q_a_proj, xn_, d, q_a_, c.q_lora_rank, n);  // [n, d_cq]
        be.rms_norm(q_a_, c.q_lora_rank, w.q_a_norm.data(), kLatentNormEps, q_a_, c.q_lora_rank, n,
                    c.q_lora_rank);
        be.matmul(w.q_b_proj, q_a_, c.q_lora_rank, q_, n_h * qk, n);
    } else {
        be.matmul(w.q_proj, xn_, d, q_, n_h * qk, n);
    }
    be.rope(q_, static_cast<int64_t>(n_h) * qk, n_h, qk, c.qk_nope_head_dim, p0, n, *rope_);

    // [c_kv ; k_pe] = W_DKV h; the cache keeps RMSNorm(c_kv) and RoPE(k_pe).   kv_a: [n, d_c +
    // d_rope]
    be.matmul(w.kv_a_proj, xn_, d, kv_a_, kv_row, n);
    be.store_latent(cache, layer, p0, n, kv_a_, w.kv_a_norm.data(), kLatentNormEps, *rope_);

    AttentionArgs a;
    a.layer = layer;
    a.first_position = p0;
    a.n_tokens = n;
    a.n_heads = n_h;
    a.d_nope = c.qk_nope_head_dim;
    a.d_rope = c.qk_rope_head_dim;
    a.d_v = c.v_head_dim;
    a.d_c = c.kv_lora_rank;
    a.scale = static_cast<float>(c.softmax_scale());
    a.q = q_;
    a.kv_b = &w.kv_b_proj;
    a.out = attn_;  // [n, n_h * d_v]
    be.attention(options_.attention, cache, a);
    be.matmul(w.o_proj, attn_, static_cast<int64_t>(n_h) * c.v_head_dim, block_out_, d,
              n);  // [n, d]
}

void Model::feed_forward(const FeedForwardWeights& w, const float* x, float* out, int n) {
    Backend& be = *backend_;
    const int d = config_.hidden_size;
    const int I = w.intermediate;
    be.matmul(w.gate, x, d, gate_, I, n);  // [n, I]
    be.matmul(w.up, x, d, up_, I, n);      // [n, I]
    be.silu_mul(gate_, up_, gate_, n, I);
    be.matmul(w.down, gate_, I, out, d, n);  // [n, d]
}

void Model::moe_block(const LayerWeights& w, int n) {
    const ModelConfig& c = config_;
    Backend& be = *backend_;
    const int d = c.hidden_size;
    be.matmul(w.router, xn_, d, router_, c.n_routed_experts, n);  // router logits: [n, n_routed]
    MoeArgs a;
    a.n_tokens = n;
    a.x = xn_;
    a.router_logits = router_;
    a.layer = &w;
    a.out = block_out_;
    be.moe(c, a);  // block_out = sum over chosen experts of weight * expert(x):   [n, d]
    if (w.shared.intermediate > 0) {
        feed_forward(w.shared, xn_, shared_out_, n);  // always-on experts:   [n, d]
        be.add(block_out_, shared_out_, static_cast<size_t>(n) * d);
    }
}

}  // namespace lc
