#include "engine/kv_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "base/dtype.h"

#include "base/error.h"

namespace lc {

namespace {

// The size-independent part of the stats (docs/design.md section 5.1).
CacheStats shape_of(const ModelConfig& config, int max_tokens, size_t element_bytes,
                    int page_tokens) {
    const int64_t n_h = config.num_attention_heads;
    const int64_t qk = config.qk_nope_head_dim + config.qk_rope_head_dim;
    const int64_t v = config.v_head_dim;
    CacheStats s;
    s.max_tokens = max_tokens;
    s.page_tokens = page_tokens;
    s.layers = config.num_hidden_layers;
    s.bytes_per_element = element_bytes;
    s.mla_elements = config.kv_lora_rank + config.qk_rope_head_dim;
    s.mha_elements = n_h * qk + n_h * v;
    s.gqa_groups = static_cast<int>(std::min<int64_t>(LatentCache::kDefaultGqaGroups, n_h));
    s.gqa_elements = s.gqa_groups * (qk + v);
    s.mqa_elements = qk + v;
    return s;
}

// `shape` at `tokens` tokens held in `pages` pages.
CacheStats at_size(CacheStats s, int tokens, int pages) {
    s.tokens = tokens;
    s.pages = pages;
    const size_t e = s.bytes_per_element;
    const size_t t = static_cast<size_t>(tokens);
    const size_t layers = static_cast<size_t>(s.layers);
    s.layer_bytes_allocated = static_cast<size_t>(pages) * s.page_tokens * s.mla_elements * e;
    s.layer_bytes_live = t * s.mla_elements * e;
    s.layer_mha_bytes = t * s.mha_elements * e;
    s.layer_gqa_bytes = t * s.gqa_elements * e;
    s.layer_mqa_bytes = t * s.mqa_elements * e;
    s.bytes_allocated = s.layer_bytes_allocated * layers;
    s.bytes_live = s.layer_bytes_live * layers;
    s.mha_bytes = s.layer_mha_bytes * layers;
    s.gqa_bytes = s.layer_gqa_bytes * layers;
    s.mqa_bytes = s.layer_mqa_bytes * layers;
    return s;
}

}  // namespace

CacheStats estimate_cache_stats(const ModelConfig& config, int tokens, int max_tokens,
                                size_t element_bytes, int page_tokens) {
    if (page_tokens <= 0) page_tokens = LatentCache::kDefaultPageTokens;
    tokens = std::max(0, tokens);
    return at_size(shape_of(config, max_tokens, element_bytes, page_tokens), tokens,
                   (tokens + page_tokens - 1) / page_tokens);
}

LatentCache::LatentCache(const ModelConfig& config, int max_tokens, PageAllocator& allocator,
                         int page_tokens)
    : layers_(config.num_hidden_layers),
      d_c_(config.kv_lora_rank),
      d_rope_(config.qk_rope_head_dim),
      max_tokens_(max_tokens),
      page_tokens_(page_tokens),
      element_bytes_(allocator.element_bytes()),
      allocator_(allocator) {
    if (max_tokens <= 0) throw Error("the context size must be positive");
    if (page_tokens <= 0) throw Error("the cache page size must be positive");
    shape_ = shape_of(config, max_tokens, element_bytes_, page_tokens);
}

LatentCache::~LatentCache() {
    for (void* p : pages_)
        allocator_.release(p);
}

void LatentCache::reserve(int n) {
    if (n > max_tokens_)
        throw Error("the conversation needs " + std::to_string(n) +
                    " tokens but the context holds " + std::to_string(max_tokens_));
    const int pages_needed = (n + page_tokens_ - 1) / page_tokens_;
    const size_t page_bytes =
        static_cast<size_t>(layers_) * page_tokens_ * row_elements() * element_bytes_;
    while (static_cast<int>(pages_.size()) < pages_needed) {
        void* p = allocator_.allocate(page_bytes);
        if (!p) throw Error("out of memory growing the KV cache");
        pages_.push_back(p);
    }
}

void LatentCache::set_size(int n) {
    if (n < 0 || n > pages() * page_tokens_) throw Error("internal: cache size beyond its pages");
    tokens_ = n;
}

void LatentCache::truncate(int n) {
    if (n < 0) n = 0;
    if (n < tokens_) tokens_ = n;
    const int pages_needed = (tokens_ + page_tokens_ - 1) / page_tokens_;
    while (static_cast<int>(pages_.size()) > pages_needed) {
        allocator_.release(pages_.back());
        pages_.pop_back();
    }
}

template <class F>
void LatentCache::for_each_run(int layer, int first, int count, F&& f) const {
    const size_t row_bytes = row_elements() * element_bytes_;
    for (int done = 0; done < count;) {
        const int pos = first + done;
        const int n = std::min(count - done, page_tokens_ - pos % page_tokens_);
        const size_t offset =
            (static_cast<size_t>(layer) * page_tokens_ + pos % page_tokens_) * row_bytes;
        f(static_cast<uint8_t*>(pages_[pos / page_tokens_]) + offset,
          static_cast<size_t>(done) * row_elements(), static_cast<size_t>(n) * row_elements());
        done += n;
    }
}

void LatentCache::read_rows(int layer, int first, int count, float* dst) const {
    std::vector<uint16_t> half;
    for_each_run(layer, first, count, [&](const uint8_t* src, size_t at, size_t elements) {
        if (element_bytes_ == sizeof(float)) {
            allocator_.copy_out(src, dst + at, elements * sizeof(float));
            return;
        }
        half.resize(elements);
        allocator_.copy_out(src, half.data(), elements * 2);
        for (size_t i = 0; i < elements; ++i)
            dst[at + i] = bf16_to_f32(half[i]);
    });
}

void LatentCache::write_rows(int layer, int first, int count, const float* src) {
    std::vector<uint16_t> half;
    for_each_run(layer, first, count, [&](uint8_t* dst, size_t at, size_t elements) {
        if (element_bytes_ == sizeof(float)) {
            allocator_.copy_in(dst, src + at, elements * sizeof(float));
            return;
        }
        half.resize(elements);
        for (size_t i = 0; i < elements; ++i)
            half[i] = f32_to_bf16(src[at + i]);
        allocator_.copy_in(dst, half.data(), elements * 2);
    });
}

CacheStats LatentCache::stats() const {
    return at_size(shape_, tokens_, pages());
}

void PageAllocator::copy_out(const void* page_bytes, void* host, size_t bytes) {
    std::memcpy(host, page_bytes, bytes);
}

void PageAllocator::copy_in(void* page_bytes, const void* host, size_t bytes) {
    std::memcpy(page_bytes, host, bytes);
}

void* HostPageAllocator::allocate(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return std::aligned_alloc(64, rounded);
}

void HostPageAllocator::release(void* page) {
    std::free(page);
}

}  // namespace lc
