// The AVX2 kernels of the quantized products (compiled with a target attribute, chosen at run
// time by cpu_quant.cpp). Same arithmetic as cpu_quant_portable.cpp's header describes:
//   * weights are unpacked in registers, 32 at a time, to unsigned bytes (Q8_0: signed);
//   * _mm256_maddubs_epi16 multiplies them with the activations' signed bytes and adds pairs
//     (no overflow: |q| <= 63 and |qx| <= 127 give pair sums within int16), then
//     _mm256_madd_epi16 applies the group scales (K types) or adds pairs (32-blocks);
//   * K types sum a whole 256-block in int32 before one conversion to f32; 32-blocks convert
//     per block.
// A tile is R rows x T tokens: every weight chunk is unpacked once and used for T tokens.
#include "cpu/cpu_quant_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstring>

#include "base/quant_blocks.h"

#define LC_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LC_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

#define LC_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define LC_UNROLL LC_PRAGMA(unroll)
#else
#define LC_UNROLL LC_PRAGMA(GCC unroll 16)
#endif

namespace lc::cpuq {
namespace {

using namespace lc::quant;

LC_AVX2_INLINE __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
LC_AVX2_INLINE __m128i load128(const void* p) {
    return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
LC_AVX2_INLINE float f16(uint16_t h) {
    return _cvtsh_ss(h);
}
LC_AVX2_INLINE uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
LC_AVX2_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
LC_AVX2_INLINE int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

// ---------------------------------------------------------------------------------------------
// Activations: as quantize_portable, bit for bit (the same inverse scale and round-to-nearest-
// even of cvtps).

LC_AVX2_INLINE __m256 abs_max(const float* x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8)
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm256_set1_ps(_mm_cvtss_f32(h));
}

// 32 values times `id`, rounded, stored as bytes; the sums of the two halves of 16.
LC_AVX2_INLINE void quantize32(const float* x, __m256 id, int8_t* q, int& sum0, int& sum1) {
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    sum0 = hsum_i32(_mm256_add_epi32(i0, i1));
    sum1 = hsum_i32(_mm256_add_epi32(i2, i3));
    // packs work within 128-bit lanes: the 4-byte groups come out as i0 i1 i2 i3 (low halves)
    // then the high halves; the permute puts them back in order.
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

LC_AVX2 void quantize_avx2(const XLayout& lx, const float* x, uint8_t* xq) {
    auto* q = reinterpret_cast<int8_t*>(xq);
    auto* d = reinterpret_cast<float*>(xq + lx.d_off);
    const int n = lx.k_blocks ? kBlockK : kBlock32;
    for (int64_t b = 0; b < lx.n_blocks; ++b) {
        const float* xb = x + b * n;
        const float amax = _mm256_cvtss_f32(abs_max(xb, n));
        d[b] = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
        if (lx.k_blocks) {
            auto* bsum = reinterpret_cast<int16_t*>(xq + lx.bsum_off) + 16 * b;
            for (int c = 0; c < kBlockK / 32; ++c) {
                int s0, s1;
                quantize32(xb + 32 * c, id, q + b * n + 32 * c, s0, s1);
                bsum[2 * c] = static_cast<int16_t>(s0);
                bsum[2 * c + 1] = static_cast<int16_t>(s1);
            }
        } else {
            int s0, s1;
            quantize32(xb, id, q + b * n, s0, s1);
            reinterpret_cast<float*>(xq + lx.s_off)[b] = d[b] * static_cast<float>(s0 + s1);
            reinterpret_cast<int32_t*>(xq + lx.corr_off)[b] = -lx.offset * (s0 + s1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// K types. An unpacker holds one 256-block's scales (16 int16 group scales, each 128-bit lane
// holding 8 of them, and 16 int16 coefficients of the activations' group sums) and yields the
// 32 weights of chunk c (groups 2c, 2c+1) as unsigned bytes.

// The int16 scale vector of chunk c for maddubs' output: lanes 0-7 (weights 0-15) the scale of
// group 2c, lanes 8-15 that of group 2c + 1. `half` holds groups 8 * (c / 4) .. + 7 in both
// 128-bit lanes.
LC_AVX2_INLINE __m256i chunk_scales(__m256i half, int c) {
    const int k = 2 * (c % 4);  // int16 index of group 2c within the half
    const char lo0 = static_cast<char>(2 * k), lo1 = static_cast<char>(2 * k + 1);
    const char hi0 = static_cast<char>(2 * k + 2), hi1 = static_cast<char>(2 * k + 3);
    const __m256i pick = _mm256_setr_epi8(lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0, lo1, lo0,
                                          lo1, lo0, lo1, lo0, lo1, hi0, hi1, hi0, hi1, hi0, hi1,
                                          hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1, hi0, hi1);
    return _mm256_shuffle_epi8(half, pick);
}

struct KScales {
    __m256i lo, hi;  // group scales 0-7 / 8-15 in both lanes (int16)
    __m256i coef;    // 16 int16
    float d, d2;

    LC_AVX2_INLINE void set(__m256i sc16, __m256i coef16) {
        lo = _mm256_permute4x64_epi64(sc16, 0x44);
        hi = _mm256_permute4x64_epi64(sc16, 0xEE);
        coef = coef16;
    }
    LC_AVX2_INLINE __m256i scale(int c) const { return chunk_scales(c < 4 ? lo : hi, c); }
};

// Q4_K/Q5_K's 8 six-bit scales and mins from their 12 bytes, in registers: bytes 0-3 hold
// scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7, bytes 4-7 the same for the mins,
// bytes 8-11 the low 4 bits of scale j + 4 (low nibble) and min j + 4 (high nibble). Returns
// [scale 0..7 | min 0..7] as bytes. (The 16-byte load stays inside the block: qs follows.)
LC_AVX2_INLINE __m128i k4_scales_mins(const uint8_t* s) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(v, _mm_set1_epi8(63));  // [sc0..3, mn0..3]
    const __m128i t =
        _mm_shuffle_epi8(v, _mm_setr_epi8(8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11));
    const __m128i nib =
        _mm_unpacklo_epi32(_mm_and_si128(t, m4), _mm_and_si128(_mm_srli_epi16(t, 4), m4));
    const __m128i top = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(v, 6), _mm_set1_epi8(3)), 4);
    const __m128i hi = _mm_or_si128(nib, top);  // [sc4..7, mn4..7]
    return _mm_unpacklo_epi32(lo, hi);          // [sc0..3, sc4..7, mn0..3, mn4..7]
}

// ... each repeated for the two groups of 16 it covers.
LC_AVX2_INLINE void k4_scales(const uint8_t* s, KScales& ks) {
    const __m128i v = k4_scales_mins(s);
    ks.set(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v)),
           _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(v, v)));
}

template <DType DT>
struct UnpackK;

template <>
struct UnpackK<DType::Q4_K> {
    using Block = BlockQ4_K;
    static constexpr bool kFold = false;  // d2 != d: the mins' term is summed apart
    const uint8_t* qs;
    LC_AVX2_INLINE void init(const Block* b, KScales& ks) {
        ks.d = f16(b->d);
        ks.d2 = -f16(b->dmin);
        k4_scales(b->scales, ks);
        qs = b->qs;
    }
    LC_AVX2_INLINE __m256i q(int c) const {
        const __m256i v = load256(qs + 32 * (c / 2));
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        return c % 2 == 0 ? _mm256_and_si256(v, m4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
};

template <>
struct UnpackK<DType::Q5_K> {
    using Block = BlockQ5_K;
    static constexpr bool kFold = false;
    const uint8_t* qs;
    __m256i qh;
    LC_AVX2_INLINE void init(const Block* b, KScales& ks) {
        ks.d = f16(b->d);
        ks.d2 = -f16(b->dmin);
        k4_scales(b->scales, ks);
        qs = b->qs;
        qh = load256(b->qh);
    }
    LC_AVX2_INLINE __m256i q(int c) const {
        const __m256i v = load256(qs + 32 * (c / 2));
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i low =
            c % 2 == 0 ? _mm256_and_si256(v, m4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        // bit c of qh[l] is the fifth bit of weight l of chunk c
        const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(qh, c), _mm256_set1_epi8(1));
        return _mm256_or_si256(low, _mm256_slli_epi16(hb, 4));
    }
};

template <>
struct UnpackK<DType::Q6_K> {
    using Block = BlockQ6_K;
    static constexpr bool kFold = true;  // -32 * scale folded into the coefficients
    const uint8_t* ql;
    const uint8_t* qh;
    LC_AVX2_INLINE void init(const Block* b, KScales& ks) {
        ks.d = ks.d2 = f16(b->d);
        const __m256i sc = _mm256_cvtepi8_epi16(load128(b->scales));
        ks.set(sc, _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 5)));
        ql = b->ql;
        qh = b->qh;
    }
    LC_AVX2_INLINE __m256i q(int c) const {
        const int n = c / 4, j = c % 4;  // half, chunk within it
        const __m256i l = load256(ql + 64 * n + 32 * (j % 2));
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i low =
            j < 2 ? _mm256_and_si256(l, m4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), m4);
        const __m256i h =
            _mm256_and_si256(_mm256_srli_epi16(load256(qh + 32 * n), 2 * j), _mm256_set1_epi8(3));
        return _mm256_or_si256(low, _mm256_slli_epi16(h, 4));
    }
};

template <>
struct UnpackK<DType::Q3_K> {
    using Block = BlockQ3_K;
    static constexpr bool kFold = true;  // -4 * scale folded into the coefficients
    const uint8_t* qs;
    __m256i hmask;
    LC_AVX2_INLINE void init(const Block* b, KScales& ks) {
        ks.d = ks.d2 = f16(b->d);
        // 16 six-bit scales: low nibbles in bytes 0-7 (scale j and j + 8), top bits in 8-11.
        const uint32_t a0 = load_u32(b->scales), a1 = load_u32(b->scales + 4),
                       a2 = load_u32(b->scales + 8);
        const uint32_t m2 = 0x0f0f0f0fu, m1 = 0x03030303u;
        const uint32_t s0 = (a0 & m2) | (((a2 >> 0) & m1) << 4);
        const uint32_t s1 = (a1 & m2) | (((a2 >> 2) & m1) << 4);
        const uint32_t s2 = ((a0 >> 4) & m2) | (((a2 >> 4) & m1) << 4);
        const uint32_t s3 = ((a1 >> 4) & m2) | (((a2 >> 6) & m1) << 4);
        const __m128i s8 = _mm_setr_epi32(static_cast<int>(s0), static_cast<int>(s1),
                                          static_cast<int>(s2), static_cast<int>(s3));
        const __m256i sc = _mm256_sub_epi16(_mm256_cvtepu8_epi16(s8), _mm256_set1_epi16(32));
        ks.set(sc, _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 2)));
        qs = b->qs;
        hmask = load256(b->hmask);
    }
    LC_AVX2_INLINE __m256i q(int c) const {
        const int n = c / 4, j = c % 4;
        const __m256i low =
            _mm256_and_si256(_mm256_srli_epi16(load256(qs + 32 * n), 2 * j), _mm256_set1_epi8(3));
        const __m256i h = _mm256_and_si256(_mm256_srli_epi16(hmask, c), _mm256_set1_epi8(1));
        return _mm256_or_si256(low, _mm256_slli_epi16(h, 2));
    }
};

template <>
struct UnpackK<DType::Q2_K> {
    using Block = BlockQ2_K;
    static constexpr bool kFold = false;
    const uint8_t* qs;
    LC_AVX2_INLINE void init(const Block* b, KScales& ks) {
        ks.d = f16(b->d);
        ks.d2 = -f16(b->dmin);
        const __m128i s = load128(b->scales);
        const __m128i m4 = _mm_set1_epi8(0x0F);
        ks.set(_mm256_cvtepu8_epi16(_mm_and_si128(s, m4)),
               _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4)));
        qs = b->qs;
    }
    LC_AVX2_INLINE __m256i q(int c) const {
        const int n = c / 4, j = c % 4;
        return _mm256_and_si256(_mm256_srli_epi16(load256(qs + 32 * n), 2 * j),
                                _mm256_set1_epi8(3));
    }
};

// See kPrefetchBytes.
template <int R>
LC_AVX2_INLINE void prefetch_rows(const Tile& t, int64_t at, int64_t bytes) {
    for (int r = 0; r < R; ++r) {
        const uint8_t* p = t.w + r * t.w_stride + at + kPrefetchBytes;
        for (int64_t o = 0; o < bytes; o += 64)
            _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_T0);
    }
}

template <DType DT, int R, int T>
LC_AVX2 void tile_k(const Tile& t) {
    using U = UnpackK<DT>;
    using Block = typename U::Block;
    const XLayout& lx = *t.lx;
    __m256 facc[R][T];
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk)
            facc[r][tk] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < t.n_blocks; ++b) {
        if constexpr (T == 1) prefetch_rows<R>(t, b * int64_t(sizeof(Block)), sizeof(Block));
        U u[R];
        KScales ks[R];
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            u[r].init(reinterpret_cast<const Block*>(t.w + r * t.w_stride) + b, ks[r]);
        __m256i acc[R][T];
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk)
                acc[r][tk] = _mm256_setzero_si256();
        }
        LC_UNROLL
        for (int c = 0; c < 8; ++c) {
            __m256i wq[R], ws[R];
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                wq[r] = u[r].q(c);
                ws[r] = ks[r].scale(c);
            }
            LC_UNROLL
            for (int tk = 0; tk < T; ++tk) {
                const __m256i xv = load256(t.x + tk * t.x_stride + b * kBlockK + 32 * c);
                LC_UNROLL
                for (int r = 0; r < R; ++r) {
                    const __m256i p = _mm256_maddubs_epi16(wq[r], xv);
                    acc[r][tk] = _mm256_add_epi32(acc[r][tk], _mm256_madd_epi16(p, ws[r]));
                }
            }
        }
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk) {
            const uint8_t* xt = t.x + tk * t.x_stride;
            const __m256i bs = load256(xt + lx.bsum_off + 32 * b);
            const float dx = reinterpret_cast<const float*>(xt + lx.d_off)[b];
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                const __m256i corr = _mm256_madd_epi16(bs, ks[r].coef);
                if constexpr (U::kFold) {
                    facc[r][tk] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc[r][tk], corr)),
                                        _mm256_set1_ps(ks[r].d * dx), facc[r][tk]);
                } else {
                    facc[r][tk] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][tk]),
                                                  _mm256_set1_ps(ks[r].d * dx), facc[r][tk]);
                    facc[r][tk] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(corr),
                                                  _mm256_set1_ps(ks[r].d2 * dx), facc[r][tk]);
                }
            }
        }
    }
    LC_UNROLL
    for (int tk = 0; tk < T; ++tk) {
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            t.y[tk * t.y_stride + r] = hsum(facc[r][tk]);
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks of 32: the weights as unsigned bytes (offset 8 or 16 added, removed through the
// activations' sums) or, for Q8_0, signed (maddubs takes |w| and x with w's sign).

template <DType DT>
struct Unpack32;

// 16 bytes of nibbles: weight j low nibble of byte j, weight j + 16 the high one.
LC_AVX2_INLINE __m256i nibbles(const uint8_t* qs) {
    const __m128i v = load128(qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Bit j of the 32-bit qh, moved to bit 4 of byte j.
LC_AVX2_INLINE __m256i fifth_bits(const uint8_t* qh4) {
    const __m256i bits = _mm256_set1_epi32(static_cast<int>(load_u32(qh4)));
    // byte j takes byte j / 8 of qh, then tests bit j % 8
    const __m256i spread =
        _mm256_shuffle_epi8(bits, _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                   2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i mask = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

template <>
struct Unpack32<DType::Q4_0> {
    using Block = BlockQ4_0;
    static constexpr bool kMin = false;
    LC_AVX2_INLINE static __m256i q(const Block* b, float& d, float&) {
        d = f16(b->d);
        return nibbles(b->qs);
    }
};
template <>
struct Unpack32<DType::Q4_1> {
    using Block = BlockQ4_1;
    static constexpr bool kMin = true;
    LC_AVX2_INLINE static __m256i q(const Block* b, float& d, float& m) {
        d = f16(b->d);
        m = f16(b->m);
        return nibbles(b->qs);
    }
};
template <>
struct Unpack32<DType::Q5_0> {
    using Block = BlockQ5_0;
    static constexpr bool kMin = false;
    LC_AVX2_INLINE static __m256i q(const Block* b, float& d, float&) {
        d = f16(b->d);
        return _mm256_or_si256(nibbles(b->qs), fifth_bits(b->qh));
    }
};
template <>
struct Unpack32<DType::Q5_1> {
    using Block = BlockQ5_1;
    static constexpr bool kMin = true;
    LC_AVX2_INLINE static __m256i q(const Block* b, float& d, float& m) {
        d = f16(b->d);
        m = f16(b->m);
        return _mm256_or_si256(nibbles(b->qs), fifth_bits(b->qh));
    }
};
template <>
struct Unpack32<DType::Q8_0> {
    using Block = BlockQ8_0;
    static constexpr bool kMin = false;
    LC_AVX2_INLINE static __m256i q(const Block* b, float& d, float&) {
        d = f16(b->d);
        return load256(b->qs);
    }
};

template <DType DT, int R, int T>
LC_AVX2 void tile_32(const Tile& t) {
    using U = Unpack32<DT>;
    using Block = typename U::Block;
    constexpr bool kSigned = DT == DType::Q8_0;
    const XLayout& lx = *t.lx;
    __m256 facc[R][T];
    float cacc[R][T];  // the offsets' or mins' term
    LC_UNROLL
    for (int r = 0; r < R; ++r) {
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk) {
            facc[r][tk] = _mm256_setzero_ps();
            cacc[r][tk] = 0.0f;
        }
    }
    const __m256i ones = _mm256_set1_epi16(1);
    const float offset = static_cast<float>(lx.offset);
    for (int64_t b = 0; b < t.n_blocks; ++b) {
        if constexpr (T == 1) prefetch_rows<R>(t, b * int64_t(sizeof(Block)), sizeof(Block));
        __m256i wq[R];
        __m256 wd[R];
        float wf[R];  // the weight's factor of the activations' sum: m, or -offset * d
        LC_UNROLL
        for (int r = 0; r < R; ++r) {
            float d = 0.0f, m = 0.0f;
            wq[r] = U::q(reinterpret_cast<const Block*>(t.w + r * t.w_stride) + b, d, m);
            wd[r] = _mm256_set1_ps(d);
            wf[r] = U::kMin ? m : -offset * d;
        }
        LC_UNROLL
        for (int tk = 0; tk < T; ++tk) {
            const uint8_t* xt = t.x + tk * t.x_stride;
            const __m256i xv = load256(xt + b * kBlock32);
            const __m256 dx =
                _mm256_broadcast_ss(reinterpret_cast<const float*>(xt + lx.d_off) + b);
            const float sx = reinterpret_cast<const float*>(xt + lx.s_off)[b];
            LC_UNROLL
            for (int r = 0; r < R; ++r) {
                __m256i p;
                if constexpr (kSigned) {
                    p = _mm256_maddubs_epi16(_mm256_sign_epi8(wq[r], wq[r]),
                                             _mm256_sign_epi8(xv, wq[r]));
                } else {
                    p = _mm256_maddubs_epi16(wq[r], xv);
                    cacc[r][tk] += wf[r] * sx;
                }
                facc[r][tk] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)),
                                              _mm256_mul_ps(wd[r], dx), facc[r][tk]);
            }
        }
    }
    LC_UNROLL
    for (int tk = 0; tk < T; ++tk) {
        LC_UNROLL
        for (int r = 0; r < R; ++r)
            t.y[tk * t.y_stride + r] = hsum(facc[r][tk]) + cacc[r][tk];
    }
}

constexpr bool is_k(DType t) {
    return t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K ||
           t == DType::Q6_K;
}

struct Avx2 {
    static constexpr int kMaxTokens = 4;
    // 16 ymm registers: R x T accumulators plus R unpacked chunks (K: and their scales).
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

void rows_avx2(const Product& p, int64_t r0, int64_t r1) {
    rows_any<Avx2>(p, r0, r1);
}

}  // namespace

const KernelSet& kernels_avx2() {
    static const KernelSet set{quantize_avx2, rows_avx2, nullptr, nullptr};
    return set;
}

}  // namespace lc::cpuq

#endif
