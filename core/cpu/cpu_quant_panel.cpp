// Prefill on AVX-512 VNNI: weight rows against panels of 16 tokens (layout in
// cpu_quant_kernels.h). The tokens sit in the 16 int32 lanes of a register, so one vpdpbusd
// takes 4 weights of a row (broadcast) times the same 4 columns of 16 tokens: 64 multiply-adds
// with no horizontal sums and no per-token unpacking. Per row group (kPanelRowGroup rows):
//   1. the weights are unpacked once to unsigned bytes with int32 group scales (and f32 mins),
//      in a per-thread buffer;
//   2. every panel meets them in tiles of up to 8 rows x 16 tokens, 8 + 8 + 8 zmm for the
//      integer sums, their scaled sums and the f32 totals.
// K types: per group of 16 or 32 weights, sum(q * qx) (started at -offset * sum(qx) for
// Q3_K/Q6_K) times the group's scale, summed over the 256-block in int32, then scaled by
// d * dx in f32; the mins' term is d * sum(qx) (from the panel) times -dmin * min per group.
// 32-blocks: sum(q * qx) started at -offset * sum(qx), times d * dx, plus m * dx * sum(qx).
#include "cpu/cpu_quant_avx512.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))

#include <algorithm>

namespace lc::cpuq {
namespace {

constexpr int kTileRows = 8;

// One row group's weights, unpacked.
struct Unpacked {
    uint8_t* codes;  // [rows][cols] unsigned
    int64_t cols;
    int64_t n_blocks;
    int32_t* sc;  // K: [rows][n_blocks][16] group scales (per 16; groups of 32 repeat them)
    float* mn;    // K with mins: [rows][n_blocks][16] -dmin * min
    float* d;     // [rows][n_blocks]
    float* m;     // Q4_1/Q5_1: [rows][n_blocks]
};

constexpr bool has_min32(DType t) {
    return t == DType::Q4_1 || t == DType::Q5_1;
}
constexpr int k_group(DType t) {
    return t == DType::Q4_K || t == DType::Q5_K ? 32 : 16;
}
constexpr int k_offset(DType t) {
    return t == DType::Q6_K ? 32 : t == DType::Q3_K ? 4 : 0;
}

Unpacked layout_unpacked(int64_t rows, int64_t cols, int64_t n_blocks, uint8_t* buf) {
    Unpacked u{};
    u.cols = cols;
    u.n_blocks = n_blocks;
    u.codes = buf;
    int64_t off = rows * cols;
    u.sc = reinterpret_cast<int32_t*>(buf + off);
    off += rows * n_blocks * 16 * 4;
    u.mn = reinterpret_cast<float*>(buf + off);
    off += rows * n_blocks * 16 * 4;
    u.d = reinterpret_cast<float*>(buf + off);
    off += rows * n_blocks * 4;
    u.m = reinterpret_cast<float*>(buf + off);
    return u;
}
int64_t unpacked_bytes(int64_t rows, int64_t cols, int64_t n_blocks) {
    return rows * cols + rows * n_blocks * (16 * 4 * 2 + 4 * 2) + 64;
}

template <DType DT>
LC_AVX512 void unpack_k(const PanelProduct& p, int64_t r0, int64_t rows, const Unpacked& u) {
    using U = UnpackK<DT>;
    using Block = typename U::Block;
    for (int64_t r = 0; r < rows; ++r) {
        const Block* row = reinterpret_cast<const Block*>(p.w + (r0 + r) * p.w_stride);
        for (int64_t b = 0; b < p.n_blocks; ++b) {
            U un;
            KScales ks;
            un.init(row + b, ks);
            uint8_t* codes = u.codes + r * u.cols + b * kBlockK;
            LC_UNROLL
            for (int c = 0; c < 4; ++c)
                _mm512_storeu_si512(codes + 64 * c, un.q(c));
            const int64_t i = r * u.n_blocks + b;
            _mm512_storeu_si512(u.sc + 16 * i,
                                _mm512_cvtepi16_epi32(_mm512_castsi512_si256(ks.sc)));
            if constexpr (!U::kFold)
                _mm512_storeu_ps(u.mn + 16 * i,
                                 _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(ks.coef)),
                                               _mm512_set1_ps(ks.d2)));
            u.d[i] = ks.d;
        }
    }
}

template <DType DT>
LC_AVX512 void unpack_32(const PanelProduct& p, int64_t r0, int64_t rows, const Unpacked& u) {
    using U = Unpack32<DT>;
    using Block = typename U::Block;
    for (int64_t r = 0; r < rows; ++r) {
        const Block* row = reinterpret_cast<const Block*>(p.w + (r0 + r) * p.w_stride);
        uint8_t* codes = u.codes + r * u.cols;
        float* d = u.d + r * u.n_blocks;
        float* m = u.m + r * u.n_blocks;
        int64_t b = 0;
        for (; b + 2 <= p.n_blocks; b += 2) {
            _mm512_storeu_si512(codes + b * kBlock32, U::q(row + b, row + b + 1));
            d[b] = f16(row[b].d);
            d[b + 1] = f16(row[b + 1].d);
            if constexpr (U::kMin) {
                m[b] = f16(row[b].m);
                m[b + 1] = f16(row[b + 1].m);
            }
        }
        if (b < p.n_blocks) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + b * kBlock32),
                                _mm512_castsi512_si256(U::q(row + b, row + b)));
            d[b] = f16(row[b].d);
            if constexpr (U::kMin) m[b] = f16(row[b].m);
        }
    }
}

// out[r * 16 + t] for R rows (from row r0 of the group) and the panel's 16 tokens.
template <DType DT, int R>
LC_AVX512 void tile_k(const Unpacked& u, int64_t r0, const uint8_t* panel, const PanelLayout& pl,
                      float* out) {
    constexpr bool kMin = !UnpackK<DT>::kFold;
    constexpr int G = k_group(DT);
    constexpr int NG = kBlockK / G;
    const float* pd = reinterpret_cast<const float*>(panel + pl.d_off);
    __m512 facc[R];
    const uint8_t* codes[R];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        facc[r] = _mm512_setzero_ps();
        codes[r] = u.codes + (r0 + r) * u.cols;
    }
    for (int64_t b = 0; b < u.n_blocks; ++b) {
        __m512i s1[R];
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            s1[r] = _mm512_setzero_si512();
        for (int g = 0; g < NG; ++g) {
            const int64_t c0 = b * kBlockK + g * G;  // first column of the group
            __m512i acc[R];
            __m512i start = _mm512_setzero_si512();
            if constexpr (!kMin) start = _mm512_loadu_si512(panel + pl.kbias_off + (c0 / 16) * 64);
            LC_UNROLL
            for (int r = 0; r < R; ++r)
                acc[r] = start;
            LC_UNROLL
            for (int j = 0; j < G / 4; ++j) {
                const __m512i xv = _mm512_loadu_si512(panel + (c0 + 4 * j) * kPanel);
                LC_UNROLL
                for (int r = 0; r < R; ++r) {
                    const __m512i wv =
                        _mm512_set1_epi32(static_cast<int>(load_u32(codes[r] + c0 + 4 * j)));
                    acc[r] = _mm512_dpbusd_epi32(acc[r], wv, xv);
                }
            }
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                const int32_t sc = u.sc[((r0 + r) * u.n_blocks + b) * 16 + g * (G / 16)];
                s1[r] = _mm512_add_epi32(s1[r], _mm512_mullo_epi32(acc[r], _mm512_set1_epi32(sc)));
            }
        }
        const __m512 dx = _mm512_loadu_ps(pd + b * kPanel);
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            const __m512 dd = _mm512_mul_ps(_mm512_set1_ps(u.d[(r0 + r) * u.n_blocks + b]), dx);
            facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[r]), dd, facc[r]);
        }
        if constexpr (kMin) {
            const float* ms = reinterpret_cast<const float*>(panel + pl.msum_off) + b * 16 * kPanel;
            for (int g = 0; g < 16; g += G / 16) {
                __m512 mv = _mm512_loadu_ps(ms + g * kPanel);
                if constexpr (G == 32)
                    mv = _mm512_add_ps(mv, _mm512_loadu_ps(ms + (g + 1) * kPanel));
                LC_UNROLL
                for (int r = 0; r < R; ++r)
                    facc[r] = _mm512_fmadd_ps(
                        mv, _mm512_set1_ps(u.mn[((r0 + r) * u.n_blocks + b) * 16 + g]), facc[r]);
            }
        }
    }
    LC_UNROLL
    for (int r = 0; r < R; ++r)
        _mm512_storeu_ps(out + r * kPanel, facc[r]);
}

template <DType DT, int R>
LC_AVX512 void tile_32(const Unpacked& u, int64_t r0, const uint8_t* panel, const PanelLayout& pl,
                       float* out) {
    const float* pd = reinterpret_cast<const float*>(panel + pl.d_off);
    const int32_t* pc = reinterpret_cast<const int32_t*>(panel + pl.corr_off);
    __m512 facc[R];
    const uint8_t* codes[R];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        facc[r] = _mm512_setzero_ps();
        codes[r] = u.codes + (r0 + r) * u.cols;
    }
    for (int64_t b = 0; b < u.n_blocks; ++b) {
        const __m512i corr = _mm512_loadu_si512(pc + b * kPanel);
        __m512i acc[R];
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            acc[r] = corr;
        LC_UNROLL
        for (int j = 0; j < kBlock32 / 4; ++j) {
            const __m512i xv = _mm512_loadu_si512(panel + (b * kBlock32 + 4 * j) * kPanel);
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                const __m512i wv =
                    _mm512_set1_epi32(static_cast<int>(load_u32(codes[r] + b * kBlock32 + 4 * j)));
                acc[r] = _mm512_dpbusd_epi32(acc[r], wv, xv);
            }
        }
        const __m512 dx = _mm512_loadu_ps(pd + b * kPanel);
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            const __m512 dd = _mm512_mul_ps(_mm512_set1_ps(u.d[(r0 + r) * u.n_blocks + b]), dx);
            facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), dd, facc[r]);
        }
        if constexpr (has_min32(DT)) {
            const __m512 sv =
                _mm512_loadu_ps(reinterpret_cast<const float*>(panel + pl.s_off) + b * kPanel);
            LC_UNROLL
            for (int r = 0; r < R; ++r)
                facc[r] =
                    _mm512_fmadd_ps(sv, _mm512_set1_ps(u.m[(r0 + r) * u.n_blocks + b]), facc[r]);
        }
    }
    LC_UNROLL
    for (int r = 0; r < R; ++r)
        _mm512_storeu_ps(out + r * kPanel, facc[r]);
}

template <DType DT, int R>
void tile(const Unpacked& u, int64_t r0, const uint8_t* panel, const PanelLayout& pl, float* out) {
    if constexpr (is_k(DT)) {
        tile_k<DT, R>(u, r0, panel, pl, out);
    } else {
        tile_32<DT, R>(u, r0, panel, pl, out);
    }
}

template <DType DT>
void panel_rows_of(const PanelProduct& p, int64_t r0, int64_t r1) {
    const int64_t cols = p.pl.cols;
    const int n_panels = (p.n_tokens + kPanel - 1) / kPanel;
    uint8_t* buf = scratch(kScratchWeights,
                           static_cast<size_t>(unpacked_bytes(kPanelRowGroup, cols, p.n_blocks)));
    const Unpacked u = layout_unpacked(kPanelRowGroup, cols, p.n_blocks, buf);
    alignas(64) float out[kPanelRowGroup * kPanel];
    for (int64_t rg = r0; rg < r1; rg += kPanelRowGroup) {
        const int64_t rows = std::min(kPanelRowGroup, r1 - rg);
        if constexpr (is_k(DT)) {
            unpack_k<DT>(p, rg, rows, u);
        } else {
            unpack_32<DT>(p, rg, rows, u);
        }
        for (int i = 0; i < n_panels; ++i) {
            const uint8_t* panel = p.panels + i * p.pl.bytes;
            int64_t r = 0;
            for (; r + kTileRows <= rows; r += kTileRows)
                tile<DT, kTileRows>(u, r, panel, p.pl, out + r * kPanel);
            if (rows - r >= 4) {
                tile<DT, 4>(u, r, panel, p.pl, out + r * kPanel);
                r += 4;
            }
            if (rows - r >= 2) {
                tile<DT, 2>(u, r, panel, p.pl, out + r * kPanel);
                r += 2;
            }
            if (rows - r >= 1) tile<DT, 1>(u, r, panel, p.pl, out + r * kPanel);
            const int n = std::min(kPanel, p.n_tokens - i * kPanel);
            for (int t = 0; t < n; ++t) {
                float* y = p.y + (i * kPanel + t) * p.y_stride + rg;
                for (int64_t k = 0; k < rows; ++k)
                    y[k] = out[k * kPanel + t];
            }
        }
    }
}

}  // namespace

void quantize_panel_avx512(DType weight_type, const PanelLayout& pl, const float* x,
                           int64_t x_stride, int n, uint8_t* panel) {
    const XLayout lx = x_layout(weight_type, pl.cols);
    uint8_t* row = scratch(kScratchRow, static_cast<size_t>(lx.bytes));
    if (n < kPanel) std::memset(panel, 0, static_cast<size_t>(pl.bytes));
    const int64_t n4 = pl.cols / 4;
    for (int t = 0; t < n; ++t) {
        kernels_avx2().quantize(lx, x + t * x_stride, row);
        for (int64_t k = 0; k < n4; ++k)
            std::memcpy(panel + (k * kPanel + t) * 4, row + 4 * k, 4);
        const auto* d = reinterpret_cast<const float*>(row + lx.d_off);
        auto* pd = reinterpret_cast<float*>(panel + pl.d_off);
        for (int64_t b = 0; b < pl.n_blocks; ++b)
            pd[b * kPanel + t] = d[b];
        if (!lx.k_blocks) {
            const auto* corr = reinterpret_cast<const int32_t*>(row + lx.corr_off);
            auto* pc = reinterpret_cast<int32_t*>(panel + pl.corr_off);
            for (int64_t b = 0; b < pl.n_blocks; ++b)
                pc[b * kPanel + t] = corr[b];
            if (pl.s_off != 0) {
                const auto* s = reinterpret_cast<const float*>(row + lx.s_off);
                auto* ps = reinterpret_cast<float*>(panel + pl.s_off);
                for (int64_t b = 0; b < pl.n_blocks; ++b)
                    ps[b * kPanel + t] = s[b];
            }
            continue;
        }
        const auto* bsum = reinterpret_cast<const int16_t*>(row + lx.bsum_off);
        if (pl.kbias_off != 0) {
            const int32_t off = k_offset(weight_type);
            auto* kb = reinterpret_cast<int32_t*>(panel + pl.kbias_off);
            for (int64_t g = 0; g < pl.cols / 16; ++g)
                kb[g * kPanel + t] = -off * bsum[g];
        } else {
            auto* ms = reinterpret_cast<float*>(panel + pl.msum_off);
            for (int64_t g = 0; g < pl.cols / 16; ++g)
                ms[g * kPanel + t] = d[g / 16] * static_cast<float>(bsum[g]);
        }
    }
}

void panel_rows_avx512(const PanelProduct& p, int64_t r0, int64_t r1) {
    switch (p.dtype) {
        case DType::Q4_0:
            return panel_rows_of<DType::Q4_0>(p, r0, r1);
        case DType::Q4_1:
            return panel_rows_of<DType::Q4_1>(p, r0, r1);
        case DType::Q5_0:
            return panel_rows_of<DType::Q5_0>(p, r0, r1);
        case DType::Q5_1:
            return panel_rows_of<DType::Q5_1>(p, r0, r1);
        case DType::Q8_0:
            return panel_rows_of<DType::Q8_0>(p, r0, r1);
        case DType::Q2_K:
            return panel_rows_of<DType::Q2_K>(p, r0, r1);
        case DType::Q3_K:
            return panel_rows_of<DType::Q3_K>(p, r0, r1);
        case DType::Q4_K:
            return panel_rows_of<DType::Q4_K>(p, r0, r1);
        case DType::Q5_K:
            return panel_rows_of<DType::Q5_K>(p, r0, r1);
        case DType::Q6_K:
            return panel_rows_of<DType::Q6_K>(p, r0, r1);
        default:
            return;
    }
}

}  // namespace lc::cpuq

#endif
