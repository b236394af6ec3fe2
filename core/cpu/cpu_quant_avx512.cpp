// The AVX-512 VNNI kernels of the quantized products (F/BW/VL + VNNI, compiled with a target
// attribute, chosen at run time by cpu_quant.cpp). The arithmetic is cpu_quant_portable.cpp's;
// what differs from the AVX2 kernels:
//   * 64 weights per register: K types unpack a chunk of 4 groups of 16, 32-blocks two blocks;
//   * K types: _mm512_maddubs_epi16 then _mm512_dpwssd_epi32 (group scales applied and summed
//     in one instruction);
//   * 32-blocks: _mm512_dpbusd_epi32 on unsigned weights (Q8_0: w + 128, by flipping the sign
//     bit; VNNI sums u8 x s8 products in int32 without the saturation of maddubs), starting
//     from the activations' -offset * sum(q) so the offset costs nothing.
// The activations are quantized by the AVX2 code (same layout, same values).
#include "cpu/cpu_quant_avx512.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))

namespace lc::cpuq {
namespace {

using namespace lc::quant;

// Decode reads each weight once, from memory: ask for the bytes kPrefetchBytes ahead of the
// ones being multiplied in each row (a core's own prefetchers keep too few lines in flight).
template <int R>
LC_AVX512_INLINE void prefetch_rows(const Tile& t, int64_t at, int64_t bytes) {
    for (int r = 0; r < R; ++r) {
        const uint8_t* p = t.w + r * t.w_stride + at + kPrefetchBytes;
        for (int64_t o = 0; o < bytes; o += 64)
            _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
    }
}

template <DType DT, int R, int T>
LC_AVX512 void tile_k(const Tile& t) {
    using U = UnpackK<DT>;
    using Block = typename U::Block;
    const XLayout& lx = *t.lx;
    __m512 facc[R][T];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk)
            facc[r][tk] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < t.n_blocks; ++b) {
        if constexpr (T == 1) prefetch_rows<R>(t, b * int64_t(sizeof(Block)), sizeof(Block));
        U u[R];
        KScales ks[R];
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            u[r].init(reinterpret_cast<const Block*>(t.w + r * t.w_stride) + b, ks[r]);
        __m512i acc[R][T];
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk)
                acc[r][tk] = _mm512_setzero_si512();
        }
        LC_UNROLL
        for (int c = 0; c < 4; ++c) {
            __m512i wq[R], ws[R];
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                wq[r] = u[r].q(c);
                ws[r] = ks[r].scale(c);
            }
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk) {
                const __m512i xv = load512(t.x + tk * t.x_stride + b * kBlockK + 64 * c);
                LC_UNROLL
                for (int r = 0; r < R; ++r)
                    acc[r][tk] =
                        _mm512_dpwssd_epi32(acc[r][tk], _mm512_maddubs_epi16(wq[r], xv), ws[r]);
            }
        }
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk) {
            const uint8_t* xt = t.x + tk * t.x_stride;
            const __m512i bs = zext(load256(xt + lx.bsum_off + 32 * b));
            const float dx = reinterpret_cast<const float*>(xt + lx.d_off)[b];
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                if constexpr (U::kFold) {
                    const __m512i all = _mm512_dpwssd_epi32(acc[r][tk], bs, zext(ks[r].coef));
                    facc[r][tk] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(all),
                                                  _mm512_set1_ps(ks[r].d * dx), facc[r][tk]);
                } else {
                    const __m512i corr =
                        _mm512_dpwssd_epi32(_mm512_setzero_si512(), bs, zext(ks[r].coef));
                    facc[r][tk] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][tk]),
                                                  _mm512_set1_ps(ks[r].d * dx), facc[r][tk]);
                    facc[r][tk] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(corr),
                                                  _mm512_set1_ps(ks[r].d2 * dx), facc[r][tk]);
                }
            }
        }
    }
    LC_UNROLL
    for (int tk = 0; tk < T; ++tk) {
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            t.y[tk * t.y_stride + r] = _mm512_reduce_add_ps(facc[r][tk]);
    }
}

// Blocks [b, b + 2) of a tile; `pair` false: only block b (the row's last, odd one), whose
// second half is zero on both sides.
template <DType DT, int R, int T>
LC_AVX512_INLINE void pair_32(const Tile& t, int64_t b, bool pair, __m512 (&facc)[R][T],
                              float (&cacc)[R][T]) {
    using U = Unpack32<DT>;
    using Block = typename U::Block;
    const XLayout& lx = *t.lx;
    const __mmask16 lanes = pair ? 0xFFFF : 0x00FF;
    __m512i wq[R];
    __m512 wd[R];
    float m[R][2];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        const Block* ba = reinterpret_cast<const Block*>(t.w + r * t.w_stride) + b;
        const Block* bb = pair ? ba + 1 : ba;
        wq[r] = U::q(ba, bb);
        wd[r] = _mm512_maskz_mov_ps(lanes, scales2(ba->d, bb->d));
        if constexpr (U::kMin) {
            m[r][0] = f16(ba->m);
            m[r][1] = pair ? f16(bb->m) : 0.0f;
        }
    }
    const __m512i pick_corr = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    const __m512i pick_d = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    LC_UNROLL
    for (int tk = 0; tk < T; ++tk) {
        const uint8_t* xt = t.x + tk * t.x_stride;
        const __mmask64 xbytes = pair ? ~uint64_t(0) : 0xFFFFFFFFull;
        const __m512i xv = _mm512_maskz_loadu_epi8(xbytes, xt + b * kBlock32);
        const __m128i corr2 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(
            reinterpret_cast<const int32_t*>(xt + lx.corr_off) + b));
        const __m128 d2 = _mm_castsi128_ps(_mm_loadl_epi64(
            reinterpret_cast<const __m128i*>(reinterpret_cast<const float*>(xt + lx.d_off) + b)));
        // lane 0: the first block's correction, lane 8: the second's (masked off for a lone one)
        const __m512i corr = _mm512_maskz_permutexvar_epi32(pair ? 0x0101 : 0x0001, pick_corr,
                                                            _mm512_castsi128_si512(corr2));
        const __m512 dx = _mm512_maskz_permutexvar_ps(lanes, pick_d, _mm512_castps128_ps512(d2));
        float s[2] = {0.0f, 0.0f};
        if constexpr (U::kMin) {
            const float* sx = reinterpret_cast<const float*>(xt + lx.s_off) + b;
            s[0] = sx[0];
            s[1] = pair ? sx[1] : 0.0f;
        }
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            const __m512i dot = _mm512_dpbusd_epi32(corr, wq[r], xv);
            facc[r][tk] =
                _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd[r], dx), facc[r][tk]);
            if constexpr (U::kMin) cacc[r][tk] += m[r][0] * s[0] + m[r][1] * s[1];
        }
    }
}

template <DType DT, int R, int T>
LC_AVX512 void tile_32(const Tile& t) {
    __m512 facc[R][T];
    float cacc[R][T];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk) {
            facc[r][tk] = _mm512_setzero_ps();
            cacc[r][tk] = 0.0f;
        }
    }
    int64_t b = 0;
    for (; b + 2 <= t.n_blocks; b += 2) {
        if constexpr (T == 1)
            prefetch_rows<R>(t, b * int64_t(sizeof(typename Unpack32<DT>::Block)),
                             2 * sizeof(typename Unpack32<DT>::Block));
        pair_32<DT, R, T>(t, b, true, facc, cacc);
    }
    if (b < t.n_blocks) pair_32<DT, R, T>(t, b, false, facc, cacc);
    LC_UNROLL
    for (int tk = 0; tk < T; ++tk) {
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            t.y[tk * t.y_stride + r] = _mm512_reduce_add_ps(facc[r][tk]) + cacc[r][tk];
    }
}

struct Avx512 {
    // Up to 7 tokens come here (8 or more go to the panels of cpu_quant_panel.cpp).
    static constexpr int kMaxTokens = 4;
    // One token: 4 rows (4 streams to prefetch, 4 independent chains); measured on the host,
    // 1 and 2 rows are within noise of it. More tokens: 2 rows x 4 tokens measured faster
    // than 4 x 4 here (fewer spilled f32 accumulators).
    static constexpr int rows_per_tile(int T) { return T == 1 ? 4 : 2; }
    template <DType DT, int R, int T>
    static void tile(const Tile& t) {
        if constexpr (is_k(DT)) {
            tile_k<DT, R, T>(t);
        } else {
            tile_32<DT, R, T>(t);
        }
    }
};

void rows_avx512(const Product& p, int64_t r0, int64_t r1) {
    rows_any<Avx512>(p, r0, r1);
}

}  // namespace

const KernelSet& kernels_avx512() {
    // Quantizing the activations is a small part of a product: the AVX2 code does it.
    static const KernelSet set{kernels_avx2().quantize, rows_avx512, quantize_panel_avx512,
                               panel_rows_avx512};
    return set;
}

}  // namespace lc::cpuq

#endif
