#pragma once
// Absorbed MLA attention over a chunk of query tokens (prefill) as blocked matrix products.
#include "cpu/thread_pool.h"
#include "engine/backend.h"
#include "engine/kv_cache.h"

namespace lc {

// The same result as the per-token absorbed form (within f32 rounding): a.q holds the chunk's
// queries with q_pe rotated, the chunk's latent rows are already in the cache.
void absorbed_attention_chunk(ThreadPool& pool, const LatentCache& cache, const AttentionArgs& a);

}  // namespace lc
