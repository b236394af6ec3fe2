// Read bandwidth: every thread of the pool sums its share of a large buffer with wide loads;
// the sums are combined and stored to a volatile so that the reads cannot be optimised away.
#include "cpu/membench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LC_MEMBENCH_X86 1
#include <immintrin.h>
#else
#define LC_MEMBENCH_X86 0
#endif

namespace lc {

namespace {

constexpr size_t kBlock = size_t(1) << 20;  // bytes per unit of work handed to threads
constexpr size_t kAlign = 4096;

volatile uint64_t g_sink;

uint64_t sum_portable(const uint64_t* p, size_t n_words) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n_words; i += 8) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
        a4 += p[i + 4];
        a5 += p[i + 5];
        a6 += p[i + 6];
        a7 += p[i + 7];
    }
    for (; i < n_words; ++i)
        a0 += p[i];
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

#if LC_MEMBENCH_X86
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint64_t* p, size_t n_words) {
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    __m256i a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n_words; i += 16) {  // 128 bytes per iteration
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
    uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n_words; ++i)
        total += p[i];
    return total;
}

bool have_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#endif

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

}  // namespace

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes, int repetitions) {
    ReadBandwidth result;
    repetitions = std::max(repetitions, 1);
    // Whole 128-byte lines, at least one.
    buffer_bytes = std::max<size_t>(128, buffer_bytes / 128 * 128);
    const size_t alloc_bytes = (buffer_bytes + kAlign - 1) / kAlign * kAlign;
    std::unique_ptr<void, FreeDeleter> buffer(std::aligned_alloc(kAlign, alloc_bytes));
    if (!buffer) throw std::bad_alloc();
    auto* base = static_cast<uint8_t*>(buffer.get());
    const int64_t n_blocks = static_cast<int64_t>((buffer_bytes + kBlock - 1) / kBlock);

    // Touch every page from the threads that will read it (first touch places pages near them).
    pool.parallel_for(n_blocks, 1, [&](int64_t b0, int64_t b1) {
        const size_t begin = static_cast<size_t>(b0) * kBlock;
        const size_t end = std::min(buffer_bytes, static_cast<size_t>(b1) * kBlock);
        for (size_t i = begin; i < end; i += 4096) {
            const size_t len = std::min<size_t>(4096, end - i);
            std::memset(base + i, static_cast<int>((i / 4096) & 0xff), len);
        }
    });

#if LC_MEMBENCH_X86
    const bool avx2 = have_avx2();
#endif
    std::atomic<uint64_t> total{0};
    double best_seconds = 0;
    for (int rep = 0; rep < repetitions; ++rep) {
        const auto start = std::chrono::steady_clock::now();
        pool.parallel_for(n_blocks, 1, [&](int64_t b0, int64_t b1) {
            const size_t begin = static_cast<size_t>(b0) * kBlock;
            const size_t end = std::min(buffer_bytes, static_cast<size_t>(b1) * kBlock);
            const auto* words = reinterpret_cast<const uint64_t*>(base + begin);
            const size_t n_words = (end - begin) / 8;
            uint64_t s;
#if LC_MEMBENCH_X86
            s = avx2 ? sum_avx2(words, n_words) : sum_portable(words, n_words);
#else
            s = sum_portable(words, n_words);
#endif
            total.fetch_add(s, std::memory_order_relaxed);
        });
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (rep == 0 || seconds < best_seconds) best_seconds = seconds;
    }
    g_sink = total.load(std::memory_order_relaxed);

    result.buffer_bytes = buffer_bytes;
    result.repetitions = repetitions;
    result.bytes_per_second =
        best_seconds > 0 ? static_cast<double>(buffer_bytes) / best_seconds : 0;
    return result;
}

}  // namespace lc
