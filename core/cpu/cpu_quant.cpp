// Quantized products: the driver around the kernels (cpu_quant_kernels.h).
//
// One call:
//   1. x is quantized once for all rows into a per-thread buffer (XLayout), token by token,
//      spread over the pool when there are many tokens. The buffer grows to the largest call
//      this thread has made and is reused after, so decode allocates nothing.
//   2. The rows of W are split over the pool in groups; each group runs the tile loops of
//      cpu_quant_kernels.h (R rows x T tokens per tile, every weight block unpacked once per
//      tile, the group's rows kept in cache while every token of a panel meets them).
// The kernel set is picked at run time (AVX-512 VNNI, AVX2, or portable), so the binary runs on
// any x86-64 and elsewhere.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/error.h"
#include "cpu/cpu_matmul.h"
#include "cpu/cpu_quant.h"
#include "cpu/cpu_quant_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LC_X86_DISPATCH 1
#include <cpuid.h>
#else
#define LC_X86_DISPATCH 0
#endif

namespace lc {

namespace cpuq {

XLayout x_layout(DType weight_type, int64_t cols) {
    auto align = [](int64_t n) { return (n + 63) / 64 * 64; };
    XLayout l;
    l.cols = cols;
    l.k_blocks = dtype_block_elems(weight_type) == 256;
    l.n_blocks = cols / (l.k_blocks ? 256 : 32);
    l.offset = weight_offset(weight_type);
    l.d_off = align(cols);
    if (l.k_blocks) {
        l.bsum_off = align(l.d_off + 4 * l.n_blocks);
        l.bytes = align(l.bsum_off + 2 * (cols / 16));
    } else {
        l.s_off = align(l.d_off + 4 * l.n_blocks);
        l.corr_off = align(l.s_off + 4 * l.n_blocks);
        l.bytes = align(l.corr_off + 4 * l.n_blocks);
    }
    return l;
}

PanelLayout panel_layout(DType weight_type, int64_t cols) {
    const int64_t vec = 4 * kPanel;  // one vector of 16 floats or int32
    PanelLayout l;
    l.cols = cols;
    l.n_blocks = cols / dtype_block_elems(weight_type);
    l.d_off = cols * kPanel;
    int64_t end = l.d_off + l.n_blocks * vec;
    if (dtype_block_elems(weight_type) == 32) {
        l.corr_off = end;
        end += l.n_blocks * vec;
        if (weight_type == DType::Q4_1 || weight_type == DType::Q5_1) {
            l.s_off = end;
            end += l.n_blocks * vec;
        }
    } else if (weight_type == DType::Q3_K || weight_type == DType::Q6_K) {
        l.kbias_off = end;
        end += cols / 16 * vec;
    } else {
        l.msum_off = end;
        end += cols / 16 * vec;
    }
    l.bytes = end;  // a multiple of 64: cols is a multiple of 32
    return l;
}

uint8_t* scratch(int slot, size_t bytes) {
    struct Buffer {
        std::unique_ptr<uint8_t, decltype(&std::free)> data{nullptr, &std::free};
        size_t size = 0;
    };
    thread_local Buffer buffers[kScratchSlots];
    Buffer& buffer = buffers[slot];
    if (buffer.size < bytes) {
        const size_t size = (std::max(bytes, buffer.size * 3 / 2) + 63) / 64 * 64;
        buffer.data.reset(static_cast<uint8_t*>(std::aligned_alloc(64, size)));
        if (!buffer.data) throw Error("Out of memory for the activations of a matrix product.");
        buffer.size = size;
    }
    return buffer.data.get();
}

}  // namespace cpuq

namespace {

uint8_t* thread_buffer(size_t bytes) {
    return cpuq::scratch(cpuq::kScratchActivations, bytes);
}

std::atomic<int> g_isa_limit{static_cast<int>(QuantIsa::Avx512Vnni)};

QuantIsa detect_isa() {
#if LC_X86_DISPATCH
    // __builtin_cpu_supports also checks that the OS saves the wider registers.
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return QuantIsa::Portable;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || (ecx & bit_F16C) == 0) return QuantIsa::Portable;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        return QuantIsa::Avx512Vnni;
    return QuantIsa::Avx2;
#else
    return QuantIsa::Portable;
#endif
}

const cpuq::KernelSet& kernel_set(QuantIsa isa) {
    switch (isa) {
#if LC_X86_DISPATCH
        case QuantIsa::Avx512Vnni:
            return cpuq::kernels_avx512();
        case QuantIsa::Avx2:
            return cpuq::kernels_avx2();
#endif
        default:
            return cpuq::kernels_portable();
    }
}

// Prefill where the kernel set has token panels: quantize the tokens into panels of 16 (in
// parallel), then split the rows over the pool in groups that each thread unpacks once and
// runs against every panel.
void panel_matmul(ThreadPool* pool, const cpuq::KernelSet& k, const WeightMatrix& w, const float* x,
                  int64_t x_stride, float* y, int64_t y_stride, int n_tokens) {
    cpuq::PanelProduct p;
    p.dtype = w.dtype;
    p.w = static_cast<const uint8_t*>(w.data);
    p.w_stride = w.stride_bytes();
    p.n_blocks = w.cols / dtype_block_elems(w.dtype);
    p.pl = cpuq::panel_layout(w.dtype, w.cols);
    const int n_panels = (n_tokens + cpuq::kPanel - 1) / cpuq::kPanel;
    uint8_t* panels =
        thread_buffer(static_cast<size_t>(p.pl.bytes) * static_cast<size_t>(n_panels));
    p.panels = panels;
    p.y = y;
    p.y_stride = y_stride;
    p.n_tokens = n_tokens;
    auto quantize = [&](int64_t p0, int64_t p1) {
        for (int64_t i = p0; i < p1; ++i) {
            const int t0 = static_cast<int>(i) * cpuq::kPanel;
            k.quantize_panel(w.dtype, p.pl, x + t0 * x_stride, x_stride,
                             std::min(cpuq::kPanel, n_tokens - t0), panels + i * p.pl.bytes);
        }
    };
    const int64_t groups = (w.rows + cpuq::kPanelRowGroup - 1) / cpuq::kPanelRowGroup;
    auto rows = [&](int64_t g0, int64_t g1) {
        k.panel_rows(p, g0 * cpuq::kPanelRowGroup, std::min(w.rows, g1 * cpuq::kPanelRowGroup));
    };
    if (pool == nullptr || pool->size() == 1) {
        quantize(0, n_panels);
        rows(0, groups);
        return;
    }
    pool->parallel_for(n_panels, 1, [&](int64_t a, int64_t b) { quantize(a, b); });
    pool->parallel_for(groups, 1, [&](int64_t a, int64_t b) { rows(a, b); });
}

}  // namespace

const char* quant_isa_name(QuantIsa isa) {
    switch (isa) {
        case QuantIsa::Portable:
            return "portable";
        case QuantIsa::Avx2:
            return "AVX2";
        case QuantIsa::Avx512Vnni:
            return "AVX-512 VNNI";
    }
    return "portable";
}

QuantIsa quant_isa_supported() {
    static const QuantIsa isa = detect_isa();
    return isa;
}

QuantIsa quant_isa_in_use() {
    if (!cpu_has_avx2_fma()) return QuantIsa::Portable;  // cpu_matmul_force_portable
    return std::min(quant_isa_supported(),
                    static_cast<QuantIsa>(g_isa_limit.load(std::memory_order_relaxed)));
}

void quant_set_isa_limit(QuantIsa isa) {
    g_isa_limit.store(static_cast<int>(isa), std::memory_order_relaxed);
}

void check_quant_matrix(const WeightMatrix& w) {
    const int64_t block = dtype_block_elems(w.dtype);
    if (!dtype_is_quantized(w.dtype) || block <= 0)
        throw Error(std::string("A weight matrix has an element type the CPU backend cannot "
                                "multiply: ") +
                    dtype_name(w.dtype));
    if (w.cols <= 0 || w.cols % block != 0 || w.row_stride % block != 0 || w.row_stride < w.cols)
        throw Error(std::string("A ") + dtype_name(w.dtype) + " weight matrix of " +
                    std::to_string(w.rows) + " x " + std::to_string(w.cols) + " (row stride " +
                    std::to_string(w.row_stride) + ") does not hold whole blocks of " +
                    std::to_string(block) + " weights per row.");
}

void quant_matmul(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t x_stride,
                  float* y, int64_t y_stride, int n_tokens) {
    if (w.rows <= 0 || n_tokens <= 0) return;
    check_quant_matrix(w);
    const cpuq::KernelSet& k = kernel_set(quant_isa_in_use());

    if (k.panel_rows != nullptr && n_tokens >= cpuq::kPanelMinTokens)
        return panel_matmul(pool, k, w, x, x_stride, y, y_stride, n_tokens);

    cpuq::Product p;
    p.dtype = w.dtype;
    p.w = static_cast<const uint8_t*>(w.data);
    p.w_stride = w.stride_bytes();
    p.n_blocks = w.cols / dtype_block_elems(w.dtype);
    p.lx = cpuq::x_layout(w.dtype, w.cols);
    p.xq = thread_buffer(static_cast<size_t>(p.lx.bytes) * static_cast<size_t>(n_tokens));
    p.y = y;
    p.y_stride = y_stride;
    p.n_tokens = n_tokens;

    uint8_t* xq = const_cast<uint8_t*>(p.xq);
    auto quantize = [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t)
            k.quantize(p.lx, x + t * x_stride, xq + t * p.lx.bytes);
    };
    // Groups of rows: a multiple of every tile height, and enough of them to share out.
    const int64_t groups = (w.rows + cpuq::kQuantRowGroup - 1) / cpuq::kQuantRowGroup;
    auto rows = [&](int64_t g0, int64_t g1) {
        k.rows(p, g0 * cpuq::kQuantRowGroup, std::min(w.rows, g1 * cpuq::kQuantRowGroup));
    };
    if (pool == nullptr || pool->size() == 1) {
        quantize(0, n_tokens);
        rows(0, groups);
        return;
    }
    // Quantizing a token costs about as much as a 16-row slice of its product: only spread
    // it when there are enough tokens to be worth waking the threads.
    if (n_tokens >= 8) {
        pool->parallel_for(n_tokens, 2, [&](int64_t a, int64_t b) { quantize(a, b); });
    } else {
        quantize(0, n_tokens);
    }
    // Chunks of one row group (the pool hands out up to 4 per thread, taken as threads come
    // free): a thread that starts late or runs slow does not hold the product up.
    pool->parallel_for(groups, 1, [&](int64_t a, int64_t b) { rows(a, b); });
}

}  // namespace lc
