#pragma once
// Measured ceilings for the bandwidth figures of `bench --device cuda`: a copy kernel and a
// read kernel of ours over a buffer far larger than L2, and the attention kernels alone over a
// synthetic paged cache.
#include <cstddef>

namespace lc::cuda {

struct Bandwidth {
    double copy_gbs = 0;  // (bytes read + bytes written) / time
    double read_gbs = 0;  // bytes read / time
    size_t bytes = 0;     // buffer size used
};
Bandwidth measure_bandwidth();

struct AttentionTiming {
    double seconds = 0;      // one call: absorb + splits + combine (median of many)
    double cache_bytes = 0;  // latent rows read
    double gbs = 0;
};
// One layer of V2-style attention (n_heads, d_c, d_rope, d_nope, d_v) at `context` tokens.
AttentionTiming time_attention(int n_heads, int d_nope, int d_rope, int d_v, int d_c, int context);

}  // namespace lc::cuda
