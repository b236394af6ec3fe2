#pragma once
// A loaded DeepSeek-V2/V3 checkpoint and its forward pass over the latent KV cache.
#include <atomic>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/kv_cache.h"
#include "engine/rope.h"
#include "engine/weights.h"
#include "formats/config.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

namespace lc {

struct ModelOptions {
    int max_batch = 64;  // tokens per prefill chunk (buffers are sized for it)
    AttentionMode attention = AttentionMode::Absorbed;
};

class Model {
public:
    // Maps the checkpoint (a folder with config.json and safetensors, or a .gguf file), checks
    // every tensor against the config and allocates all buffers.
    // `backend` computes the forward (engine/backend_factory.h; session/open_model.h opens a
    // model with the right one).
    static std::unique_ptr<Model> load(const std::filesystem::path& dir,
                                       const ModelOptions& options,
                                       std::unique_ptr<Backend> backend);
    ~Model();

    const ModelConfig& config() const { return config_; }
    const ModelWeights& weights() const { return weights_; }
    const std::filesystem::path& dir() const { return dir_; }
    Backend& backend() { return *backend_; }
    int64_t parameter_count() const { return parameters_; }
    // Bytes the weights hold in memory: the checkpoint's, with FP8 matrices and their scales
    // counted as the BF16 copies they became at load (a GGUF's kv_b as its rebuilt copy).
    size_t weight_bytes() const;
    // The GGUF file the model was loaded from; null for a safetensors folder.
    const GgufFile* gguf() const { return gguf_.get(); }
    int max_batch() const { return options_.max_batch; }
    void set_attention_mode(AttentionMode mode) { options_.attention = mode; }

    // Reads one byte of every page of the weights, so later tokens do not wait on page faults
    // (the checkpoint is memory-mapped and pages arrive on first touch). Used before timing.
    void prefault_weights() const;

    // Bytes of weights one decode step reads (active experts only), for bandwidth figures.
    size_t bytes_read_per_token() const;

    // A cache for one conversation; max_tokens 0 means the model's max_position_embeddings.
    std::unique_ptr<LatentCache> new_cache(int max_tokens = 0);

    // Feeds `tokens` at positions cache.size() onward, in chunks of max_batch, and appends them
    // to the cache. Writes the logits of the last token ([vocab]) or, with all_positions, of
    // every token ([n, vocab]) to `logits` (host memory; may be null). Returns false when
    // `cancel` was set (checked before every chunk and, inside a chunk, between layers); the
    // cache then holds the chunks already done.
    bool forward(std::span<const int> tokens, LatentCache& cache, float* logits,
                 bool all_positions = false, const std::atomic<bool>* cancel = nullptr);
    // Like forward(), but the last token's logits stay in the backend's memory for
    // sample_next() or last_logits(): decoding on a GPU copies only the chosen id to the host.
    bool forward_last(std::span<const int> tokens, LatentCache& cache,
                      const std::atomic<bool>* cancel = nullptr);
    // The next id from the logits the last forward left: sampled by the backend where it can
    // (the GPU), else copied to the host and sampled there. `recent` feeds the repetition
    // penalty. The logits are modified (penalties, temperature).
    int sample_next(Sampler& sampler, std::span<const int> recent);
    // Copies the last forward's last-position logits ([vocab]) to the host.
    void last_logits(float* host);
    // Whether the last forward was on `cache` (several sessions may share one model).
    bool last_logits_for(const LatentCache& cache) const { return last_cache_ == &cache; }
    // Puts logits saved by last_logits() back, as the last forward's on `cache`.
    void restore_last_logits(const LatentCache& cache, const float* host);

private:
    Model(const std::filesystem::path& dir, const ModelOptions& options);
    template <class F>
    void for_each_tensor(F&& f) const;  // f(data, nbytes, shape) for every tensor of the file
    // Both return false when `cancel` was seen between layers (the chunk then leaves the
    // cache's size as it was: rows it wrote past the size are overwritten later).
    bool forward_chunk(const int* ids, int n, LatentCache& cache, bool want_logits,
                       bool all_positions, const std::atomic<bool>* cancel);
    bool layers_and_logits(const int* ids, int n, LatentCache& cache, bool want_logits,
                           bool all_positions, const std::atomic<bool>* cancel);
    bool run(std::span<const int> tokens, LatentCache& cache, const std::atomic<bool>* cancel,
             float* host_logits, bool all_positions, bool keep_last);
    void attention_block(const LayerWeights& w, int layer, int n, int first_position,
                         LatentCache& cache);
    void feed_forward(const LayerWeights& w, int n);
    void moe_block(const LayerWeights& w, int n);

    std::filesystem::path dir_;
    ModelOptions options_;
    ModelConfig config_;
    SafetensorsArchive archive_;      // a safetensors folder's tensors
    std::unique_ptr<GgufFile> gguf_;  // or a GGUF file's
    std::unique_ptr<Backend> backend_;
    ModelWeights weights_;
    std::unique_ptr<Rope> rope_;
    int64_t parameters_ = 0;

    // Activations, [max_batch, ...] each, allocated once at load.
    float* x_ = nullptr;                       // [B, d] residual stream
    float* xn_ = nullptr;                      // [B, d] normed input of a block
    float* q_a_ = nullptr;                     // [B, d_cq]
    float* q_an_ = nullptr;                    // [B, d_cq] after q_a_layernorm
    float* q_ = nullptr;                       // [B, n_h, d_nope + d_rope]
    float* kv_a_ = nullptr;                    // [B, d_c + d_rope]
    float* attn_ = nullptr;                    // [B, n_h * d_v]
    float* gate_ = nullptr;                    // [B, I] SwiGLU's hidden activation
    float* router_ = nullptr;                  // [B, n_routed]
    float* logits_ = nullptr;                  // [B, vocab]
    float* last_logits_ = nullptr;             // inside logits_: the last forward's last position
    const LatentCache* last_cache_ = nullptr;  // the cache of that forward
    std::vector<float> host_logits_;           // [vocab] for sampling on the host
};

}  // namespace lc
