#pragma once
// Shared by the benchmark commands: a monotonic clock in seconds and repeatable token ids.
#include <chrono>
#include <cstdint>
#include <vector>

namespace lc::cli {

inline double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// `n` ids in [0, vocab) from a fixed LCG: the same seed gives the same prompt everywhere.
inline std::vector<int> pseudo_random_tokens(int n, int vocab, uint64_t seed) {
    std::vector<int> ids(n);
    uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int& id : ids) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        id = static_cast<int>((x >> 33) % static_cast<uint64_t>(vocab));
    }
    return ids;
}

}  // namespace lc::cli
