#include <algorithm>
#include <vector>

#include "cuda_common.cuh"
#include "kernel_bench.h"
#include "mla_attention.cuh"

namespace lc::cuda {
namespace {

__global__ void copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n) {
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        dst[i] = src[i];
}

__global__ void read_kernel(const uint4* __restrict__ src, size_t n, unsigned* sink) {
    unsigned acc = 0;
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const uint4 v = __ldcs(src + i);
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) *sink = acc;  // keeps the loads; practically never true
}

__global__ void fill_kernel(uint32_t* p, size_t n, uint32_t seed) {
    for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        uint32_t x = static_cast<uint32_t>(i) * 2654435761u + seed;
        x ^= x >> 13;
        x *= 0x5bd1e995u;
        x ^= x >> 15;
        // Two bf16 in [-1, 1): sign, exponent 126 or less, random mantissa.
        const uint32_t lo = 0x3e00u | (x & 0x807fu), hi = 0x3e00u | ((x >> 16) & 0x807fu);
        p[i] = lo | (hi << 16);
    }
}

template <class F>
double median_seconds(F&& launch, int repeats) {
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "event");
    check(cudaEventCreate(&stop), "event");
    std::vector<float> ms;
    for (int i = 0; i < repeats + 3; ++i) {
        check(cudaEventRecord(start), "event");
        launch();
        check(cudaEventRecord(stop), "event");
        check(cudaEventSynchronize(stop), "event");
        float t = 0;
        check(cudaEventElapsedTime(&t, start, stop), "event");
        if (i >= 3) ms.push_back(t);  // warm-up first
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2] * 1e-3;
}

}  // namespace

Bandwidth measure_bandwidth() {
    Bandwidth b;
    b.bytes = size_t(4) << 30;  // 4 GiB each way: far beyond L2
    uint4 *src = nullptr, *dst = nullptr;
    unsigned* sink = nullptr;
    check(cudaMalloc(&src, b.bytes), "cudaMalloc");
    check(cudaMalloc(&dst, b.bytes), "cudaMalloc");
    check(cudaMalloc(&sink, sizeof(unsigned)), "cudaMalloc");
    const size_t n = b.bytes / sizeof(uint4);
    fill_kernel<<<4096, 256>>>(reinterpret_cast<uint32_t*>(src), b.bytes / 4, 1);
    check_launch("fill");
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const int blocks = sms * 8;
    const double copy = median_seconds([&] { copy_kernel<<<blocks, 256>>>(src, dst, n); }, 10);
    const double read = median_seconds([&] { read_kernel<<<blocks, 256>>>(src, n, sink); }, 10);
    check_launch("bandwidth kernels");
    b.copy_gbs = 2.0 * b.bytes / copy / 1e9;
    b.read_gbs = 1.0 * b.bytes / read / 1e9;
    cudaFree(src);
    cudaFree(dst);
    cudaFree(sink);
    return b;
}

AttentionTiming time_attention(int n_heads, int d_nope, int d_rope, int d_v, int d_c, int context) {
    const MlaShape sh{n_heads, d_nope, d_rope, d_v, d_c};
    prepare_attention(sh);
    constexpr int kPage = 64;
    const int pages = (context + kPage - 1) / kPage;
    // Several layers' worth of pages, rotated, so the timing is not of L2.
    const int copies = std::max(
        2, static_cast<int>((256ull << 20) / (size_t(pages) * kPage * sh.width() * 2)) + 1);
    const size_t page_bytes = size_t(kPage) * sh.width() * 2;
    uint8_t* pool = nullptr;
    check(cudaMalloc(&pool, page_bytes * pages * copies), "cudaMalloc");
    fill_kernel<<<4096, 256>>>(reinterpret_cast<uint32_t*>(pool), page_bytes * pages * copies / 4,
                               7);
    std::vector<void*> table(size_t(pages) * copies);
    for (size_t i = 0; i < table.size(); ++i)
        table[i] = pool + i * page_bytes;
    void** d_table = nullptr;
    check(cudaMalloc(&d_table, table.size() * sizeof(void*)), "cudaMalloc");
    check(cudaMemcpy(d_table, table.data(), table.size() * sizeof(void*), cudaMemcpyHostToDevice),
          "copy");
    int* position = nullptr;
    const int first = context - 1;
    check(cudaMalloc(&position, sizeof(int)), "cudaMalloc");
    check(cudaMemcpy(position, &first, sizeof(int), cudaMemcpyHostToDevice), "copy");

    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const int splits = sms;  // as the backend's decode step
    MlaScratch scratch;
    scratch.max_items = splits;
    const size_t rows = size_t(splits) * sh.groups() * kHeadsPerGroup;
    check(cudaMalloc(&scratch.q_abs, size_t(sh.groups()) * kHeadsPerGroup * sh.width() * 2),
          "cudaMalloc");
    fill_kernel<<<64, 256>>>(reinterpret_cast<uint32_t*>(scratch.q_abs),
                             size_t(sh.groups()) * kHeadsPerGroup * sh.width() / 2, 3);
    check(cudaMalloc(&scratch.part_o, rows * d_c * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&scratch.part_ml, rows * 2 * sizeof(float)), "cudaMalloc");
    check(cudaMalloc(&scratch.o_lat, size_t(n_heads) * d_c * sizeof(float)), "cudaMalloc");
    const int64_t kv_rows = int64_t(n_heads) * (d_nope + d_v);
    void* kv_b = nullptr;
    check(cudaMalloc(&kv_b, kv_rows * d_c * 2), "cudaMalloc");
    fill_kernel<<<256, 256>>>(static_cast<uint32_t*>(kv_b), kv_rows * d_c / 2, 5);
    const WeightMatrix w{kv_b, DType::BF16, kv_rows, d_c, d_c};
    float* out = nullptr;
    check(cudaMalloc(&out, size_t(n_heads) * d_v * sizeof(float)), "cudaMalloc");
    check_launch("attention setup");

    int copy = 0;
    const double seconds = median_seconds(
        [&] {
            PagedCache cache{d_table + size_t(copy) * pages, kPage, 1, d_c, d_rope};
            copy = (copy + 1) % copies;
            attention_splits(sh, cache, 0, position, 1, splits, scratch, nullptr);
            combine_splits(sh, w, position, 1, splits, scratch, out, nullptr);
        },
        30);
    check(cudaDeviceSynchronize(), "attention timing");
    AttentionTiming t;
    t.seconds = seconds;
    t.cache_bytes = double(context) * sh.width() * 2;
    t.gbs = t.cache_bytes / seconds / 1e9;
    for (void* p : {static_cast<void*>(pool), static_cast<void*>(d_table),
                    static_cast<void*>(position), static_cast<void*>(scratch.q_abs),
                    static_cast<void*>(scratch.part_o), static_cast<void*>(scratch.part_ml),
                    static_cast<void*>(scratch.o_lat), kv_b, static_cast<void*>(out)})
        cudaFree(p);
    return t;
}

}  // namespace lc::cuda
