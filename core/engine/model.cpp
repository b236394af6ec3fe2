// The forward pass of docs/design.md section 4, written once over the Backend operations.
#include "engine/model.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/error.h"

namespace lc {

namespace {
// q_a_layernorm and kv_a_layernorm are built without an eps argument in DeepSeek's code and in
// transformers, so they use RMSNorm's default whatever rms_norm_eps says.
constexpr float kLatentNormEps = 1e-6f;
}  // namespace

Model::Model(const std::filesystem::path& dir, const ModelOptions& options)
    : dir_(dir), options_(options) {
    if (is_gguf_path(dir)) {
        gguf_ = std::make_unique<GgufFile>(GgufFile::open(dir));
        config_ = ModelConfig::from_gguf(*gguf_);
    } else {
        config_ = ModelConfig::load(dir);
        archive_ = SafetensorsArchive::open_dir(dir);
    }
}

template <class F>
void Model::for_each_tensor(F&& f) const {
    if (gguf_) {
        for (const GgufTensor& t : gguf_->tensors())
            f(t.data, t.nbytes, t.shape);
        return;
    }
    for (const std::string& name : archive_.names()) {
        const TensorView& t = archive_.get(name);
        f(t.data, t.nbytes, t.shape);
    }
}

size_t Model::weight_bytes() const {
    const size_t file = gguf_ ? gguf_->tensor_bytes() : archive_.tensor_bytes();
    return file - weights_.fp8_checkpoint_bytes + weights_.dequantized_bytes -
           weights_.rebuilt_file_bytes + weights_.rebuilt_bytes;
}

Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const ModelOptions& options,
                                   std::unique_ptr<Backend> backend) {
    if (options.max_batch <= 0) throw Error("the prefill batch size must be positive");
    if (!backend) throw Error("Model::load needs a backend (session/open_model.h makes one)");
    std::unique_ptr<Model> m(new Model(dir, options));
    const ModelConfig& c = m->config_;
    m->weights_ =
        m->gguf_ ? ModelWeights::bind_gguf(c, *m->gguf_) : ModelWeights::bind(c, m->archive_);
    m->for_each_tensor([&](const void*, size_t, const std::vector<int64_t>& shape) {
        int64_t n = 1;
        for (int64_t d : shape)
            n *= d;
        m->parameters_ += n;
    });
    m->backend_ = std::move(backend);
    m->rope_ = std::make_unique<Rope>(c);
    m->backend_->upload(m->weights_, c, options.max_batch);
    m->host_logits_.resize(c.vocab_size);

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
    m->q_an_ = be.alloc(B * std::max(c.q_lora_rank, 1));
    m->q_ = be.alloc(B * n_h * c.qk_head_dim());
    m->kv_a_ = be.alloc(B * (c.kv_lora_rank + c.qk_rope_head_dim));
    m->attn_ = be.alloc(B * n_h * c.v_head_dim);
    m->gate_ = be.alloc(B * ffn);
    m->router_ = be.alloc(B * std::max(c.n_routed_experts, 1));
    m->logits_ = be.alloc(B * c.vocab_size);
    return m;
}

std::unique_ptr<LatentCache> Model::new_cache(int max_tokens) {
    if (max_tokens <= 0) max_tokens = config_.max_position_embeddings;
    return std::make_unique<LatentCache>(config_, max_tokens, backend_->cache_pages());
}

size_t Model::bytes_read_per_token() const {
    auto bytes = [](const WeightMatrix& w) { return static_cast<size_t>(w.bytes()); };
    auto ffn_bytes = [&](const FeedForwardWeights& f) {
        return f.intermediate ? bytes(f.gate) + bytes(f.up) + bytes(f.down) : 0;
    };
    size_t total = bytes(weights_.lm_head) + static_cast<size_t>(weights_.embed.row_bytes());
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
    for_each_tensor([&](const void* data, size_t nbytes, const std::vector<int64_t>&) {
        const auto* bytes = static_cast<const uint8_t*>(data);
        for (size_t i = 0; i < nbytes; i += 4096)
            sink = sink + bytes[i];
    });
}

bool Model::forward(std::span<const int> tokens, LatentCache& cache, float* logits,
                    bool all_positions, const std::atomic<bool>* cancel) {
    return run(tokens, cache, cancel, logits, all_positions, logits != nullptr);
}

bool Model::forward_last(std::span<const int> tokens, LatentCache& cache,
                         const std::atomic<bool>* cancel) {
    return run(tokens, cache, cancel, nullptr, false, true);
}

bool Model::run(std::span<const int> tokens, LatentCache& cache, const std::atomic<bool>* cancel,
                float* host_logits, bool all_positions, bool keep_last) {
    for (int id : tokens)
        if (id < 0 || id >= config_.vocab_size)
            throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                        std::to_string(config_.vocab_size - 1) + ")");
    cache.reserve(cache.size() + static_cast<int>(tokens.size()));
    const int B = options_.max_batch;
    const size_t vocab = config_.vocab_size;
    last_cache_ = &cache;
    for (size_t done = 0; done < tokens.size(); done += B) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        const int n = static_cast<int>(std::min<size_t>(B, tokens.size() - done));
        const bool last_chunk = done + n == tokens.size();
        const bool all = host_logits && all_positions;
        if (!forward_chunk(tokens.data() + done, n, cache, (last_chunk && keep_last) || all, all,
                           cancel))
            return false;
        if (all) backend_->to_host(logits_, host_logits + done * vocab, n * vocab);
        if (host_logits && !all && last_chunk) backend_->to_host(last_logits_, host_logits, vocab);
    }
    return true;
}

int Model::sample_next(Sampler& sampler, std::span<const int> recent) {
    if (!last_logits_) throw Error("internal: sampling before any forward pass");
    int id = -1;
    bool penalized = false;
    const SamplingParams& p = sampler.params();
    // Greedy needs no draw; otherwise draw first so both paths consume the generator alike.
    const double u = p.temperature == 0.0f ? 0.0 : sampler.next_uniform();
    if (backend_->sample(last_logits_, config_.vocab_size, p, recent, u, &id, &penalized))
        return id;
    backend_->to_host(last_logits_, host_logits_.data(), config_.vocab_size);
    // The backend may have applied the penalty before leaving the draw to the host.
    return sampler.sample(host_logits_, penalized ? std::span<const int>() : recent,
                          p.temperature == 0.0f ? nullptr : &u);
}

void Model::restore_last_logits(const LatentCache& cache, const float* host) {
    backend_->to_backend(host, logits_, config_.vocab_size);
    last_logits_ = logits_;
    last_cache_ = &cache;
}

void Model::last_logits(float* host) {
    if (!last_logits_) throw Error("internal: no logits before the first forward pass");
    backend_->to_host(last_logits_, host, config_.vocab_size);
}

// One chunk of up to max_batch tokens at positions cache.size() onward. A single-token chunk
// (a decode step) is recorded once and replayed by backends that can (CUDA graphs): every op
// then reads its positions from the backend's memory, set by begin_chunk().
bool Model::forward_chunk(const int* ids, int n, LatentCache& cache, bool want_logits,
                          bool all_positions, const std::atomic<bool>* cancel) {
    const int p0 = cache.size();
    backend_->begin_chunk(cache, p0, ids, n);
    const int key = (options_.attention == AttentionMode::Absorbed ? 0 : 2) + (want_logits ? 1 : 0);
    if (n == 1 && backend_->replay_step(key)) {
        cache.set_size(p0 + n);
        if (want_logits) last_logits_ = logits_;
        return true;
    }
    if (n == 1) {  // a decode step is short: recorded whole, never cut
        backend_->record_begin(key);
        layers_and_logits(ids, n, cache, want_logits, all_positions, nullptr);
        backend_->record_end();
    } else if (!layers_and_logits(ids, n, cache, want_logits, all_positions, cancel)) {
        return false;
    }
    cache.set_size(p0 + n);
    return true;
}

bool Model::layers_and_logits(const int* ids, int n, LatentCache& cache, bool want_logits,
                              bool all_positions, const std::atomic<bool>* cancel) {
    const ModelConfig& c = config_;
    Backend& be = *backend_;
    const int d = c.hidden_size;
    const int p0 = cache.size();
    const float eps = static_cast<float>(c.rms_norm_eps);

    be.embed(weights_.embed, ids, n, x_);  // x: [n, d]
    for (int l = 0; l < c.num_hidden_layers; ++l) {
        // A long chunk takes seconds on a CPU: Stop is seen within a layer's time.
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        const LayerWeights& w = weights_.layers[l];
        attention_block(w, l, n, p0, cache);  // x += W_O Attention(RMSNorm(x))
        if (w.is_moe) {
            moe_block(w, n);  // x += MoE(RMSNorm(x))
        } else {
            feed_forward(w, n);  // x += FFN(RMSNorm(x))
        }
    }
    if (!want_logits) return true;

    // Logits: of every position, or only of the last one.
    const int first = all_positions ? 0 : n - 1;
    const int count = n - first;
    be.rms_norm(x_ + static_cast<int64_t>(first) * d, d, weights_.final_norm.data(), eps, xn_, d,
                count, d);
    be.matmul(weights_.lm_head, xn_, d, logits_, c.vocab_size, count);  // [count, vocab]
    last_logits_ = logits_ + static_cast<int64_t>(count - 1) * c.vocab_size;
    return true;
}

void Model::attention_block(const LayerWeights& w, int layer, int n, int p0, LatentCache& cache) {
    const ModelConfig& c = config_;
    Backend& be = *backend_;
    const int d = c.hidden_size;
    const int n_h = c.num_attention_heads;
    const int qk = c.qk_head_dim();
    const int kv_row = c.kv_lora_rank + c.qk_rope_head_dim;
    const float eps = static_cast<float>(c.rms_norm_eps);

    // xn = RMSNorm(x); [c_kv ; k_pe] = W_DKV xn; q = W_UQ RMSNorm(W_DQ xn), or q = W_Q xn.
    // q: [n, n_h, d_nope + d_rope]   kv_a: [n, d_c + d_rope]
    if (c.q_lora_rank > 0) {
        const Projection first[] = {{&w.q_a_proj, nullptr, q_a_, c.q_lora_rank, false},
                                    {&w.kv_a_proj, nullptr, kv_a_, kv_row, false}};
        be.project(x_, d, w.input_norm.data(), eps, xn_, d, first, n);
        const Projection second[] = {{&w.q_b_proj, nullptr, q_, n_h * qk, false}};
        be.project(q_a_, c.q_lora_rank, w.q_a_norm.data(), kLatentNormEps, q_an_, c.q_lora_rank,
                   second, n);  // [n, d_cq] -> [n, n_h * qk]
    } else {
        const Projection both[] = {{&w.q_proj, nullptr, q_, n_h * qk, false},
                                   {&w.kv_a_proj, nullptr, kv_a_, kv_row, false}};
        be.project(x_, d, w.input_norm.data(), eps, xn_, d, both, n);
    }

    // RoPE on q_pe, the cache keeps RMSNorm(c_kv) and RoPE(k_pe), then attention over it.
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
    a.kv_a = kv_a_;
    a.kv_norm = w.kv_a_norm.data();
    a.kv_eps = kLatentNormEps;
    a.rope = rope_.get();
    a.kv_b = &w.kv_b_proj;
    a.out = attn_;  // [n, n_h * d_v]
    be.attention(options_.attention, cache, a);
    be.matmul_add(w.o_proj, attn_, static_cast<int64_t>(n_h) * c.v_head_dim, x_, d,
                  n);  // x += W_O o:   [n, d]
}

// x += down(silu(gate xn) * up xn), xn = RMSNorm(x)
void Model::feed_forward(const LayerWeights& w, int n) {
    Backend& be = *backend_;
    const int d = config_.hidden_size;
    const int I = w.dense.intermediate;
    const float eps = static_cast<float>(config_.rms_norm_eps);
    const Projection in[] = {{&w.dense.gate, &w.dense.up, gate_, I, false}};
    be.project(x_, d, w.post_attention_norm.data(), eps, xn_, d, in, n);  // [n, I]
    be.matmul_add(w.dense.down, gate_, I, x_, d, n);                      // [n, d]
}

// x += sum over chosen experts of weight * expert(xn) + shared experts(xn), xn = RMSNorm(x)
void Model::moe_block(const LayerWeights& w, int n) {
    const ModelConfig& c = config_;
    Backend& be = *backend_;
    MoeArgs a;
    a.layer_index = static_cast<int>(&w - weights_.layers.data());
    a.n_tokens = n;
    a.x = x_;
    a.norm = w.post_attention_norm.data();
    a.eps = static_cast<float>(c.rms_norm_eps);
    a.xn = xn_;                 // [n, d]
    a.router_logits = router_;  // [n, n_routed]
    a.layer = &w;
    a.out = x_;
    be.moe(c, a);  // [n, d]
}

}  // namespace lc
