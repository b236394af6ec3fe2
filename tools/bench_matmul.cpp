// Hand-built benchmark of the CPU hot loops (not built by CMake):
//   g++ -std=c++20 -O2 -pthread -Icore tools/bench_matmul.cpp core/thread_pool.cpp
//       core/cpu_matmul.cpp core/membench.cpp -o /tmp/bench_matmul && /tmp/bench_matmul
// Prints the read bandwidth of the machine, then the weight bandwidth (GB/s) and GFLOP/s of
// matmul on a BF16 4096x4096 matrix for 1 and 8 tokens, with 1 and 2 threads (and more
// options: bench_matmul [rows] [cols] [max_threads] [tokens,...] [--portable] [--matmul-only]).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/cpu_matmul.h"
#include "cpu/cpu_matmul_internal.h"
#include "cpu/membench.h"
#include "cpu/thread_pool.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    int64_t rows = 4096, cols = 4096;
    int max_threads = 2;
    bool matmul_only = false;
    std::vector<const char*> positional;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--matmul-only") == 0) {
            matmul_only = true;
        } else if (std::strcmp(argv[i], "--portable") == 0) {
            lc::cpu_matmul_force_portable(true);
        } else {
            positional.push_back(argv[i]);
        }
    }
    if (positional.size() > 0) rows = std::atoll(positional[0]);
    if (positional.size() > 1) cols = std::atoll(positional[1]);
    if (positional.size() > 2) max_threads = std::atoi(positional[2]);
    std::vector<int> token_counts = {1, 8};
    if (positional.size() > 3) {  // comma-separated, e.g. 1,2,3,8
        token_counts.clear();
        for (const char* p = positional[3]; *p;) {
            token_counts.push_back(std::atoi(p));
            while (*p && *p != ',')
                ++p;
            if (*p == ',') ++p;
        }
    }
    std::printf("kernels: %s\n", lc::cpu_has_avx2_fma() ? "AVX2+FMA+F16C" : "portable");

    for (int threads = 1; threads <= max_threads && !matmul_only; ++threads) {
        lc::ThreadPool pool(threads);
        const auto bw = lc::measure_read_bandwidth(pool, size_t(1) << 30, 5);
        std::printf("read bandwidth, %d thread(s): %.1f GB/s\n", threads,
                    bw.bytes_per_second / 1e9);
    }

    // parallel_for round-trip latency.
    for (int threads = 1; threads <= max_threads && !matmul_only; ++threads) {
        lc::ThreadPool pool(threads);
        volatile int64_t sink = 0;
        const int reps = 100000;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i)
            pool.parallel_for(64, 1, [&](int64_t b, int64_t e) { sink = sink + (e - b); });
        std::printf("parallel_for(64, 1), %d thread(s): %.2f us per call\n", threads,
                    seconds_since(t0) / reps * 1e6);
    }

    // Weights: copies of one matrix filling 1 GiB, so that the working set is far beyond
    // the caches (a few copies are not: the L3 of a server part keeps part of them); each
    // repetition uses the next copy, as decode uses the next layer's weights.
    const size_t mat_elems = static_cast<size_t>(rows * cols);
    const int n_mats = static_cast<int>(std::max<size_t>(2, (size_t(1) << 29) / mat_elems));
    std::vector<uint16_t> w(mat_elems * n_mats);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (size_t i = 0; i < mat_elems; ++i)
        w[i] = lc::f32_to_bf16(dist(rng));
    for (int m = 1; m < n_mats; ++m)
        std::copy(w.begin(), w.begin() + static_cast<long>(mat_elems),
                  w.begin() + static_cast<long>(m * mat_elems));
    const int max_tokens = *std::max_element(token_counts.begin(), token_counts.end());
    std::vector<float> x(static_cast<size_t>(cols * max_tokens));
    for (auto& v : x)
        v = dist(rng);
    std::vector<float> y(static_cast<size_t>(rows * max_tokens));
    const double weight_bytes = double(rows) * cols * 2;

    for (int threads = 1; threads <= max_threads; ++threads) {
        lc::ThreadPool pool(threads);
        for (int n_tokens : token_counts) {
            const int reps = std::max(40, 2 * n_mats);
            double best = 1e30, total = 0;
            for (int rep = 0; rep < reps; ++rep) {
                const lc::WeightMatrix m{w.data() + size_t(rep % n_mats) * rows * cols,
                                         lc::DType::BF16, rows, cols, cols};
                const auto t0 = std::chrono::steady_clock::now();
                lc::matmul(pool, m, x.data(), cols, y.data(), rows, n_tokens);
                const double s = seconds_since(t0);
                best = std::min(best, s);
                total += s;
            }
            const double mean = total / reps;
            std::printf(
                "bf16 %lldx%lld, %d token(s), %d thread(s): best %.3f ms = %.1f GB/s, %.1f "
                "GFLOP/s (mean %.3f ms = %.1f GB/s)\n",
                static_cast<long long>(rows), static_cast<long long>(cols), n_tokens, threads,
                best * 1e3, weight_bytes / best / 1e9, 2.0 * rows * cols * n_tokens / best / 1e9,
                mean * 1e3, weight_bytes / mean / 1e9);
        }
    }
    return 0;
}
