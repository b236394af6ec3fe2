#pragma once
// The latent KV cache of one conversation: per token and layer it holds only c_kv (kv_lora_rank
// numbers, after kv_a_layernorm) and the rotated k_pe (qk_rope_head_dim numbers). Memory comes in
// pages of `page_tokens` tokens, allocated as the context grows and released when it shrinks.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "formats/config.h"

namespace lc {

// Bytes the cache holds and what other attention designs of the same shape would need
// (docs/design.md section 5), for one layer and for all layers.
struct CacheStats {
    int tokens = 0;      // tokens held
    int max_tokens = 0;  // context window
    int page_tokens = 0;
    int pages = 0;
    int layers = 0;
    size_t bytes_per_element = 0;
    // Elements cached per token per layer by each design.
    int64_t mla_elements = 0;  // d_c + d_rope
    int64_t mha_elements = 0;  // n_h * (d_nope + d_rope) + n_h * d_v
    int64_t gqa_elements = 0;  // g * (d_nope + d_rope + d_v), g = gqa_groups
    int64_t mqa_elements = 0;  // d_nope + d_rope + d_v
    int gqa_groups = 0;
    // Per layer, in bytes, at the current token count.
    size_t layer_bytes_allocated = 0;
    size_t layer_bytes_live = 0;
    size_t layer_mha_bytes = 0;
    size_t layer_gqa_bytes = 0;
    size_t layer_mqa_bytes = 0;
    // All layers.
    size_t bytes_allocated = 0;
    size_t bytes_live = 0;
    size_t mha_bytes = 0;
    size_t gqa_bytes = 0;
    size_t mqa_bytes = 0;
};

// What a cache of this model holding `tokens` tokens (in whole pages) would report, without one:
// the estimate shown for a model that runs elsewhere (a remote engine), with its element size.
CacheStats estimate_cache_stats(const ModelConfig& config, int tokens, int max_tokens,
                                size_t element_bytes, int page_tokens = 64);

// Where a backend keeps cache pages (host memory for the CPU, device memory for CUDA) and in
// what element type (f32 on the host, bf16 on the GPU).
class PageAllocator {
public:
    virtual ~PageAllocator() = default;
    virtual void* allocate(size_t bytes) = 0;
    virtual void release(void* page) = 0;
    virtual size_t element_bytes() const { return sizeof(float); }  // 4: f32, 2: bf16
    // Copies between a page and host memory (plain memcpy for host pages).
    virtual void copy_out(const void* page_bytes, void* host, size_t bytes);
    virtual void copy_in(void* page_bytes, const void* host, size_t bytes);
};

class LatentCache {
public:
    static constexpr int kDefaultPageTokens = 64;
    static constexpr int kDefaultGqaGroups = 8;

    // Elements of the allocator's type. `allocator` must outlive the cache.
    LatentCache(const ModelConfig& config, int max_tokens, PageAllocator& allocator,
                int page_tokens = kDefaultPageTokens);
    ~LatentCache();
    LatentCache(const LatentCache&) = delete;
    LatentCache& operator=(const LatentCache&) = delete;

    int size() const { return tokens_; }
    int max_tokens() const { return max_tokens_; }
    int page_tokens() const { return page_tokens_; }
    int layers() const { return layers_; }
    int latent_dim() const { return d_c_; }
    int rope_dim() const { return d_rope_; }
    int row_elements() const { return d_c_ + d_rope_; }  // one token of one layer

    // Makes room for positions [0, n): allocates pages as needed. Throws lc::Error past max_tokens.
    void reserve(int n);
    // Marks positions [0, n) as filled (after the model wrote them).
    void set_size(int n);
    // Forgets everything from position n on (edits, regenerations); frees whole pages beyond it.
    void truncate(int n);
    void clear() { truncate(0); }

    size_t element_bytes() const { return element_bytes_; }
    // Host f32 caches only (the CPU backend): the row of (layer, position), c_kv in the first
    // latent_dim() floats, k_pe after it.
    float* row(int layer, int position) {
        return page_base(position / page_tokens_) +
               (static_cast<size_t>(layer) * page_tokens_ + position % page_tokens_) *
                   row_elements();
    }
    const float* row(int layer, int position) const {
        return const_cast<LatentCache*>(this)->row(layer, position);
    }
    // Page p holds layer-major blocks: [layers][page_tokens][d_c + d_rope].
    float* page_base(int page) { return static_cast<float*>(pages_[page]); }
    void* page(int p) const { return pages_[p]; }
    int pages() const { return static_cast<int>(pages_.size()); }

    // Rows [first, first + count) of one layer as f32, wherever and however the pages keep them
    // (saving and restoring caches to files works the same on every backend).
    void read_rows(int layer, int first, int count, float* dst) const;
    void write_rows(int layer, int first, int count, const float* src);

    CacheStats stats() const;

private:
    // Calls f(page bytes, first element index in the caller's rows, elements) for each run of
    // rows of `layer` that lies in one page.
    template <class F>
    void for_each_run(int layer, int first, int count, F&& f) const;

    int layers_, d_c_, d_rope_;
    int max_tokens_, page_tokens_;
    int tokens_ = 0;
    size_t element_bytes_;
    CacheStats shape_;  // the size-independent part of stats()
    PageAllocator& allocator_;
    std::vector<void*> pages_;
};

// Host memory pages (64-byte aligned).
class HostPageAllocator : public PageAllocator {
public:
    void* allocate(size_t bytes) override;
    void release(void* page) override;
};

}  // namespace lc
