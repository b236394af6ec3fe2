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

// One product made ready for the pool: how its activations are quantized (units: tokens for
// the row kernels, panels of kPanel tokens for the panel kernels) and its rows cut in groups.
struct Planned {
    const cpuq::KernelSet* k = nullptr;
    bool panels = false;
    cpuq::Product rp;       // row kernels
    cpuq::PanelProduct pp;  // panel kernels
    const float* x = nullptr;
    int64_t x_stride = 0;
    int n_tokens = 0;
    int64_t rows = 0;
    int64_t units = 0;
    int64_t unit_bytes = 0;
    int64_t group_rows = 0;
    int64_t groups = 0;
    uint8_t* xq = nullptr;

    void quantize(int64_t u0, int64_t u1) const {
        for (int64_t u = u0; u < u1; ++u) {
            if (panels) {
                const int t0 = static_cast<int>(u) * cpuq::kPanel;
                k->quantize_panel(pp.dtype, pp.pl, x + t0 * x_stride, x_stride,
                                  std::min(cpuq::kPanel, n_tokens - t0), xq + u * unit_bytes);
            } else {
                k->quantize(rp.lx, x + u * x_stride, xq + u * unit_bytes);
            }
        }
    }
    void run(int64_t g0, int64_t g1) const {
        const int64_t r0 = g0 * group_rows, r1 = std::min(rows, g1 * group_rows);
        if (panels) {
            k->panel_rows(pp, r0, r1);
        } else {
            k->rows(rp, r0, r1);
        }
    }
};

Planned plan(const cpuq::KernelSet& k, const MatmulJob& job) {
    const WeightMatrix& w = *job.w;
    check_quant_matrix(w);
    Planned pl;
    pl.k = &k;
    pl.x = job.x;
    pl.x_stride = job.x_stride;
    pl.n_tokens = job.n_tokens;
    pl.rows = w.rows;
    pl.panels = k.panel_rows != nullptr && job.n_tokens >= cpuq::kPanelMinTokens;
    const auto* data = static_cast<const uint8_t*>(w.data);
    const int64_t n_blocks = w.cols / dtype_block_elems(w.dtype);
    if (pl.panels) {
        pl.pp = cpuq::PanelProduct{w.dtype,  data,         w.stride_bytes(),
                                   n_blocks, nullptr,      cpuq::panel_layout(w.dtype, w.cols),
                                   job.y,    job.y_stride, job.n_tokens};
        pl.units = (job.n_tokens + cpuq::kPanel - 1) / cpuq::kPanel;
        pl.unit_bytes = pl.pp.pl.bytes;
        pl.group_rows = cpuq::kPanelRowGroup;
    } else {
        pl.rp = cpuq::Product{w.dtype,  data,         w.stride_bytes(),
                              n_blocks, nullptr,      cpuq::x_layout(w.dtype, w.cols),
                              job.y,    job.y_stride, job.n_tokens};
        pl.units = job.n_tokens;
        pl.unit_bytes = pl.rp.lx.bytes;
        pl.group_rows = cpuq::kQuantRowGroup;
    }
    pl.groups = (w.rows + pl.group_rows - 1) / pl.group_rows;
    return pl;
}

void set_activations(Planned& pl, uint8_t* xq) {
    pl.xq = xq;
    if (pl.panels) {
        pl.pp.panels = xq;
    } else {
        pl.rp.xq = xq;
    }
}

// Products in one pass over the pool: all activations quantized, then every row group of
// every product handed out one at a time (a thread that starts late or runs slow does not
// hold the pass up). Quantizing a token costs about as much as a 16-row slice of its
// product, so it is spread over the pool only when there are enough tokens.
constexpr int kMaxBatch = 160;  // an MoE layer's experts (2 x 64 + shared) in one pass
void run_planned(ThreadPool* pool, Planned* plans, int n) {
    int64_t bytes = 0, units = 0, groups = 0, tokens = 0;
    for (int i = 0; i < n; ++i) {
        bytes += plans[i].units * plans[i].unit_bytes;
        units += plans[i].units;
        groups += plans[i].groups;
        tokens += plans[i].n_tokens;
    }
    uint8_t* xq = thread_buffer(static_cast<size_t>(bytes));
    for (int i = 0; i < n; ++i) {
        set_activations(plans[i], xq);
        xq += plans[i].units * plans[i].unit_bytes;
    }
    // Calls fn(plan, local begin, local end) for the items [a, b) of all plans laid end to end
    // (count: Planned::units or Planned::groups).
    auto spread = [&](int64_t a, int64_t b, int64_t Planned::*count, auto&& fn) {
        int64_t base = 0;
        for (int i = 0; i < n && a < b; ++i) {
            const int64_t c = plans[i].*count;
            if (a < base + c) {
                const int64_t e = std::min(b, base + c);
                fn(plans[i], a - base, e - base);
                a = e;
            }
            base += c;
        }
    };
    auto quantize = [&](int64_t a, int64_t b) {
        spread(a, b, &Planned::units,
               [](const Planned& p, int64_t u0, int64_t u1) { p.quantize(u0, u1); });
    };
    auto rows = [&](int64_t a, int64_t b) {
        spread(a, b, &Planned::groups,
               [](const Planned& p, int64_t g0, int64_t g1) { p.run(g0, g1); });
    };
    if (pool == nullptr || pool->size() == 1) {
        quantize(0, units);
        rows(0, groups);
        return;
    }
    if (tokens >= 8) {
        pool->parallel_for(units, 1, [&](int64_t a, int64_t b) { quantize(a, b); });
    } else {
        quantize(0, units);
    }
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
    const MatmulJob job{&w, x, x_stride, y, y_stride, n_tokens};
    quant_matmul_batch(pool, &job, 1);
}

void quant_matmul_batch(ThreadPool* pool, const MatmulJob* jobs, int n_jobs) {
    const cpuq::KernelSet& k = kernel_set(quant_isa_in_use());
    Planned plans[kMaxBatch];
    int n = 0;
    for (int i = 0; i < n_jobs; ++i) {
        if (jobs[i].w->rows <= 0 || jobs[i].n_tokens <= 0) continue;
        plans[n++] = plan(k, jobs[i]);
        if (n == kMaxBatch) {
            run_planned(pool, plans, n);
            n = 0;
        }
    }
    if (n > 0) run_planned(pool, plans, n);
}

}  // namespace lc
