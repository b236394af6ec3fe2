#pragma once
// AVX-512 VNNI building blocks shared by the quantized-product kernels (cpu_quant_avx512.cpp:
// weight rows against token rows, for decode; cpu_quant_panel.cpp: against panels of 16
// tokens, for prefill): helpers, and the unpackers that turn one weight block into unsigned
// bytes in registers (K types: 64 weights per chunk with their group scales; 32-blocks: two
// blocks per register). Everything here is inline with the AVX-512 target attribute: only code
// that cpu_quant.cpp calls after checking the CPU reaches it.
#include "cpu/cpu_quant_kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports the _mm512_undefined_* placeholders inside its own AVX-512 intrinsics as
// "maybe uninitialized" (a known false positive); the warning is raised at the header's lines.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "base/quant_blocks.h"

#define LC_AVX512_TARGET "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"
#define LC_AVX512 __attribute__((target(LC_AVX512_TARGET)))
#define LC_AVX512_INLINE __attribute__((target(LC_AVX512_TARGET), always_inline)) inline

#define LC_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define LC_UNROLL LC_PRAGMA(unroll)
#else
#define LC_UNROLL LC_PRAGMA(GCC unroll 16)
#endif

namespace lc::cpuq {
namespace {

using namespace lc::quant;

LC_AVX512_INLINE __m512i load512(const void* p) {
    return _mm512_loadu_si512(p);
}
LC_AVX512_INLINE __m256i load256(const void* p) {
    return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
LC_AVX512_INLINE __m128i load128(const void* p) {
    return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
LC_AVX512_INLINE float f16(uint16_t h) {
    return _cvtsh_ss(h);
}
LC_AVX512_INLINE uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
LC_AVX512_INLINE uint16_t load_u16(const void* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
// [lo | hi] as one register.
LC_AVX512_INLINE __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
LC_AVX512_INLINE __m512i zext(__m256i v) {
    return _mm512_inserti64x4(_mm512_setzero_si512(), v, 0);
}
LC_AVX512_INLINE __m512i bytes(int v) {
    return _mm512_set1_epi8(static_cast<char>(v));
}

// ---------------------------------------------------------------------------------------------
// K types: chunk c (0..3) is weights 64c .. 64c + 63, groups 4c .. 4c + 3. maddubs leaves the
// products of weights 16k .. 16k + 15 in int16 lanes 8k .. 8k + 7, so the scale vector holds
// each group's scale 8 times.

struct KScales {
    __m512i sc;    // 16 int16 group scales in the low half
    __m256i coef;  // 16 int16 coefficients of the activations' group sums
    float d, d2;

    LC_AVX512_INLINE __m512i scale(int c) const {
        const short g = static_cast<short>(4 * c);
        const short g1 = static_cast<short>(g + 1), g2 = static_cast<short>(g + 2),
                    g3 = static_cast<short>(g + 3);
        const __m512i idx =
            _mm512_set_epi16(g3, g3, g3, g3, g3, g3, g3, g3, g2, g2, g2, g2, g2, g2, g2, g2, g1, g1,
                             g1, g1, g1, g1, g1, g1, g, g, g, g, g, g, g, g);
        return _mm512_permutexvar_epi16(idx, sc);
    }
};

// Q4_K/Q5_K's 8 six-bit scales and mins from their 12 bytes, in registers: bytes 0-3 hold
// scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7, bytes 4-7 the same for the mins,
// bytes 8-11 the low 4 bits of scale j + 4 (low nibble) and min j + 4 (high nibble). Returns
// [scale 0..7 | min 0..7] as bytes. (The 16-byte load stays inside the block: qs follows.)
LC_AVX512_INLINE __m128i k4_scales_mins(const uint8_t* s) {
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
LC_AVX512_INLINE void k4_scales(const uint8_t* s, KScales& ks) {
    const __m128i v = k4_scales_mins(s);
    ks.sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v)));
    ks.coef = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(v, v));
}

template <DType DT>
struct UnpackK;

template <>
struct UnpackK<DType::Q4_K> {
    using Block = BlockQ4_K;
    static constexpr bool kFold = false;
    const uint8_t* qs;
    LC_AVX512_INLINE void init(const Block* b, KScales& ks) {
        ks.d = f16(b->d);
        ks.d2 = -f16(b->dmin);
        k4_scales(b->scales, ks);
        qs = b->qs;
    }
    // 32 bytes of qs: their low nibbles are weights 64c .. +31, the high ones the next 32.
    LC_AVX512_INLINE __m512i q(int c) const {
        const __m256i v = load256(qs + 32 * c);
        return _mm512_and_si512(join(v, _mm256_srli_epi16(v, 4)), bytes(0x0F));
    }
};

template <>
struct UnpackK<DType::Q5_K> {
    using Block = BlockQ5_K;
    static constexpr bool kFold = false;
    const uint8_t* qs;
    __m512i qh;  // [qh | qh >> 1]
    LC_AVX512_INLINE void init(const Block* b, KScales& ks) {
        ks.d = f16(b->d);
        ks.d2 = -f16(b->dmin);
        k4_scales(b->scales, ks);
        qs = b->qs;
        const __m256i h = load256(b->qh);
        qh = join(h, _mm256_srli_epi16(h, 1));
    }
    LC_AVX512_INLINE __m512i q(int c) const {
        const __m256i v = load256(qs + 32 * c);
        const __m512i low = _mm512_and_si512(join(v, _mm256_srli_epi16(v, 4)), bytes(0x0F));
        // bit 2c of qh[l] is the fifth bit of weight l, bit 2c + 1 that of weight 32 + l
        const __m512i hb = _mm512_and_si512(_mm512_srli_epi16(qh, 2 * c), bytes(1));
        return _mm512_or_si512(low, _mm512_slli_epi16(hb, 4));
    }
};

template <>
struct UnpackK<DType::Q6_K> {
    using Block = BlockQ6_K;
    static constexpr bool kFold = true;
    const uint8_t* ql;
    const uint8_t* qh;
    LC_AVX512_INLINE void init(const Block* b, KScales& ks) {
        ks.d = ks.d2 = f16(b->d);
        const __m256i sc = _mm256_cvtepi8_epi16(load128(b->scales));
        ks.sc = _mm512_castsi256_si512(sc);
        ks.coef = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 5));
        ql = b->ql;
        qh = b->qh;
    }
    // Half n = c / 2 has 64 bytes of ql and 32 of qh. Its first chunk: the low nibbles of all
    // 64 ql bytes with qh bits 0-1 (weights 0-31) and 2-3 (32-63); its second: the high
    // nibbles with bits 4-5 and 6-7.
    LC_AVX512_INLINE __m512i q(int c) const {
        const int n = c / 2, h = c % 2;
        const __m512i l = load512(ql + 64 * n);
        const __m256i hy = load256(qh + 32 * n);
        const __m512i hz = join(hy, _mm256_srli_epi16(hy, 2));
        const __m512i low = _mm512_and_si512(h == 0 ? l : _mm512_srli_epi16(l, 4), bytes(0x0F));
        const __m512i high = _mm512_and_si512(h == 0 ? hz : _mm512_srli_epi16(hz, 4), bytes(3));
        return _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
    }
};

template <>
struct UnpackK<DType::Q3_K> {
    using Block = BlockQ3_K;
    static constexpr bool kFold = true;
    const uint8_t* qs;
    __m512i hm;  // [hmask | hmask >> 1]
    LC_AVX512_INLINE void init(const Block* b, KScales& ks) {
        ks.d = ks.d2 = f16(b->d);
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
        ks.sc = _mm512_castsi256_si512(sc);
        ks.coef = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 2));
        qs = b->qs;
        const __m256i h = load256(b->hmask);
        hm = join(h, _mm256_srli_epi16(h, 1));
    }
    // Chunk c = 2n + h: weights 32j + l (j = 2h, 2h + 1) of half n are bits 2j of qs[32n + l]
    // with the third bit at bit 4n + j of hmask[l].
    LC_AVX512_INLINE __m512i q(int c) const {
        const int n = c / 2, h = c % 2;
        const __m256i v = load256(qs + 32 * n);
        const __m512i low = _mm512_and_si512(
            join(_mm256_srli_epi16(v, 4 * h), _mm256_srli_epi16(v, 4 * h + 2)), bytes(3));
        const __m512i hb = _mm512_and_si512(_mm512_srli_epi16(hm, 4 * n + 2 * h), bytes(1));
        return _mm512_or_si512(low, _mm512_slli_epi16(hb, 2));
    }
};

template <>
struct UnpackK<DType::Q2_K> {
    using Block = BlockQ2_K;
    static constexpr bool kFold = false;
    const uint8_t* qs;
    LC_AVX512_INLINE void init(const Block* b, KScales& ks) {
        ks.d = f16(b->d);
        ks.d2 = -f16(b->dmin);
        const __m128i s = load128(b->scales);
        const __m128i m4 = _mm_set1_epi8(0x0F);
        ks.sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(s, m4)));
        ks.coef = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s, 4), m4));
        qs = b->qs;
    }
    LC_AVX512_INLINE __m512i q(int c) const {
        const int n = c / 2, h = c % 2;
        const __m256i v = load256(qs + 32 * n);
        return _mm512_and_si512(join(_mm256_srli_epi16(v, 4 * h), _mm256_srli_epi16(v, 4 * h + 2)),
                                bytes(3));
    }
};

// ---------------------------------------------------------------------------------------------
// Blocks of 32, two per register: int32 lanes 0-7 belong to the first, 8-15 to the second.

template <DType DT>
struct Unpack32;

// Nibbles of two blocks (16 bytes each): weight j of a block is the low nibble of byte j, weight
// j + 16 the high one.
LC_AVX512_INLINE __m512i nibbles2(const uint8_t* qs_a, const uint8_t* qs_b) {
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(qs_a)), load128(qs_b),
                                              1);        // [a | b]
    const __m512i z = join(v, _mm256_srli_epi16(v, 4));  // [a | b | a>>4 | b>>4]
    return _mm512_and_si512(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), bytes(0x0F));
}
// Bit j of each block's 32-bit qh at bit 4 of byte j.
LC_AVX512_INLINE __m512i fifth_bits2(const uint8_t* qh_a, const uint8_t* qh_b) {
    const uint64_t m = uint64_t(load_u32(qh_a)) | (uint64_t(load_u32(qh_b)) << 32);
    return _mm512_maskz_mov_epi8(_cvtu64_mask64(m), bytes(0x10));
}
// Two f16 scales as [a x 8 | b x 8] floats.
LC_AVX512_INLINE __m512 scales2(uint16_t a, uint16_t b) {
    const __m128i h = _mm_cvtsi32_si128(static_cast<int>(a | (uint32_t(b) << 16)));
    const __m256i idx = _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_cvtph_ps(_mm256_permutexvar_epi16(idx, _mm256_castsi128_si256(h)));
}

template <>
struct Unpack32<DType::Q4_0> {
    using Block = BlockQ4_0;
    static constexpr bool kMin = false;
    LC_AVX512_INLINE static __m512i q(const Block* a, const Block* b) {
        return nibbles2(a->qs, b->qs);
    }
};
template <>
struct Unpack32<DType::Q4_1> {
    using Block = BlockQ4_1;
    static constexpr bool kMin = true;
    LC_AVX512_INLINE static __m512i q(const Block* a, const Block* b) {
        return nibbles2(a->qs, b->qs);
    }
};
template <>
struct Unpack32<DType::Q5_0> {
    using Block = BlockQ5_0;
    static constexpr bool kMin = false;
    LC_AVX512_INLINE static __m512i q(const Block* a, const Block* b) {
        return _mm512_or_si512(nibbles2(a->qs, b->qs), fifth_bits2(a->qh, b->qh));
    }
};
template <>
struct Unpack32<DType::Q5_1> {
    using Block = BlockQ5_1;
    static constexpr bool kMin = true;
    LC_AVX512_INLINE static __m512i q(const Block* a, const Block* b) {
        return _mm512_or_si512(nibbles2(a->qs, b->qs), fifth_bits2(a->qh, b->qh));
    }
};
template <>
struct Unpack32<DType::Q8_0> {
    using Block = BlockQ8_0;
    static constexpr bool kMin = false;
    LC_AVX512_INLINE static __m512i q(const Block* a, const Block* b) {
        return _mm512_xor_si512(join(load256(a->qs), load256(b->qs)), bytes(0x80));  // w + 128
    }
};

constexpr bool is_k(DType t) {
    return t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K ||
           t == DType::Q6_K;
}

}  // namespace
}  // namespace lc::cpuq

#endif
