#pragma once
// One lane's share of a quantized row: a 16-byte "piece" of the row's low quants (and the high
// bits and scales that go with it), decoded into groups of 16 weights w = a * q + b with q a
// small integer. Every GGUF type fits that form, so one integer dot product serves them all:
//   sum w x = dx * (a * sum(q * xq) + b * sum(xq))     per group, with x ~ dx * xq
//   (quant_layout.cuh)
// where sum(q * xq) is four dp4a instructions. The formulas are ggml's dequantize_row_*
// (ggml-quants.c).
#include <cuda_fp16.h>

#include <cstdint>

#include "quant_layout.cuh"

namespace lc::cuda {

// G groups of 16 weights: weight i of group g is a[g] * (int8 byte i of q[g]) + b[g], at column
// pos[g] + i of the row.
template <int G>
struct Piece {
    uint32_t q[G][4];
    float a[G], b[G];
    int pos[G];
};

namespace quant_detail {

__device__ __forceinline__ uint4 load_quants(const uint8_t* p) {
    // Weights are read once per token: do not let them evict activations from L1.
    return __ldcs(reinterpret_cast<const uint4*>(p));
}
__device__ __forceinline__ uint32_t word(const uint4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}
// Byte i (0..15) of a 16-byte value, i known only at run time (no local-memory array).
__device__ __forceinline__ uint32_t byte_of(const uint4& v, int i) {
    const uint32_t w = i < 4 ? v.x : i < 8 ? v.y : i < 12 ? v.z : v.w;
    return (w >> ((i & 3) * 8)) & 0xffu;
}
// Bit j of a 4-bit value into bit 4 of byte j (Q5_0/Q5_1's fifth bits): the four shifted copies
// do not overlap, so the multiply has no carries.
__device__ __forceinline__ uint32_t spread4(uint32_t bits4) {
    return ((bits4 * 0x00204081u) & 0x01010101u) << 4;
}
// Q4_K/Q5_K: scale and min of sub-block j from the 12 packed bytes (ggml's get_scale_min_k4);
// `meta` holds d, dmin, then the 12 bytes q[0..12) (q[i] is byte 4 + i).
__device__ __forceinline__ void scale_min_k4(const uint4& meta, int j, uint32_t& sc, uint32_t& m) {
    if (j < 4) {
        sc = byte_of(meta, 4 + j) & 63u;  // q[j]
        m = byte_of(meta, 8 + j) & 63u;   // q[j + 4]
    } else {
        const uint32_t q_hi = byte_of(meta, 8 + j);            // q[j + 4]
        sc = (q_hi & 0xfu) | ((byte_of(meta, j) >> 6) << 4);   // q[j - 4]
        m = (q_hi >> 4) | ((byte_of(meta, 4 + j) >> 6) << 4);  // q[j]
    }
}

}  // namespace quant_detail

// Per type: kGroups per piece, whether weights have an offset (b != 0), the zero point (weights
// are a * (q - kZero); -1 where the type has a separate min instead), the registers one piece's
// loads take (kRawRegs, which bounds how many a lane can have in flight), and the two halves of
// reading a piece: load() issues its global loads (`row` a packed row of `nb` blocks, `p` a
// piece in [0, nb * pieces)), decode() turns them into weights. Kept apart so that a warp can
// have the loads of several rows in flight before it decodes any.
template <DType T>
struct QuantTraits;

namespace quant_detail {
__device__ __forceinline__ float half_bits(uint32_t bits) {
    return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xffffu)));
}
__device__ __forceinline__ uint32_t load_u16(const uint8_t* p) {
    return __ldg(reinterpret_cast<const unsigned short*>(p));
}
__device__ __forceinline__ uint32_t load_u32(const uint8_t* p) {
    return __ldg(reinterpret_cast<const uint32_t*>(p));
}
__device__ __forceinline__ uint4 load_u128(const uint8_t* p) {
    return __ldg(reinterpret_cast<const uint4*>(p));
}
}  // namespace quant_detail

template <>
struct QuantTraits<DType::Q8_0> {
    static constexpr int kGroups = 1;
    static constexpr bool kOffset = false;
    static constexpr int kZero = 0;
    static constexpr int kRawRegs = 5;
    struct Raw {
        uint4 q;
        uint32_t d;
    };
    __device__ __forceinline__ static Raw load(const uint8_t* row, int nb, int p) {
        using namespace quant_detail;
        return Raw{load_quants(row + 16 * p), load_u16(row + int64_t(nb) * 32 + 2 * (p >> 1))};
    }
    __device__ __forceinline__ static Piece<1> decode(const Raw& raw, int p) {
        Piece<1> r;
        r.q[0][0] = raw.q.x, r.q[0][1] = raw.q.y, r.q[0][2] = raw.q.z, r.q[0][3] = raw.q.w;
        r.a[0] = quant_detail::half_bits(raw.d);
        r.b[0] = 0.0f;
        r.pos[0] = 16 * p;
        return r;
    }
};

// Q4_0/Q4_1/Q5_0/Q5_1: one 32-weight block per piece; low nibbles are weights 0..15, high
// nibbles 16..31; the fifth bit of weight j is bit j of qh.
template <bool kFifthBit, bool kMin>
struct QuantTraits32 {
    static constexpr int kGroups = 2;
    static constexpr bool kOffset = true;
    static constexpr int kZero = kMin ? -1 : kFifthBit ? 16 : 8;
    static constexpr int kRawRegs = 6;
    struct Raw {
        uint4 q;
        uint32_t qh;
        uint32_t dm;  // d (low half) and, with a min, m (high half)
    };
    __device__ __forceinline__ static Raw load(const uint8_t* row, int nb, int p) {
        using namespace quant_detail;
        Raw raw;
        raw.q = load_quants(row + 16 * p);
        const uint8_t* next = row + int64_t(nb) * 16;
        raw.qh = 0;
        if constexpr (kFifthBit) {
            raw.qh = load_u32(next + 4 * p);
            next += pad16(int64_t(nb) * 4);
        }
        raw.dm = kMin ? load_u32(next + 4 * p) : load_u16(next + 2 * p);
        return raw;
    }
    __device__ __forceinline__ static Piece<2> decode(const Raw& raw, int p) {
        using namespace quant_detail;
        Piece<2> r;
        const float d = half_bits(raw.dm);
        const float m = kMin ? half_bits(raw.dm >> 16) : (kFifthBit ? -16.0f : -8.0f) * d;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            uint32_t lo = word(raw.q, i) & 0x0f0f0f0fu, hi = (word(raw.q, i) >> 4) & 0x0f0f0f0fu;
            if constexpr (kFifthBit) {
                lo |= spread4((raw.qh >> (4 * i)) & 0xfu);
                hi |= spread4((raw.qh >> (16 + 4 * i)) & 0xfu);
            }
            r.q[0][i] = lo;
            r.q[1][i] = hi;
        }
        r.a[0] = r.a[1] = d;
        r.b[0] = r.b[1] = m;
        r.pos[0] = 32 * p;
        r.pos[1] = 32 * p + 16;
        return r;
    }
};
template <>
struct QuantTraits<DType::Q4_0> : QuantTraits32<false, false> {};
template <>
struct QuantTraits<DType::Q4_1> : QuantTraits32<false, true> {};
template <>
struct QuantTraits<DType::Q5_0> : QuantTraits32<true, false> {};
template <>
struct QuantTraits<DType::Q5_1> : QuantTraits32<true, true> {};

// Q2_K/Q3_K: a piece is 16 bytes of qs at 32n + 16h (half n of the block); the 2-bit field at
// shift 2j of byte l is weight 128n + 32j + 16h + l, scale 8n + 2j + h. Q3_K's third bit is bit
// 4n + j of hmask[16h + l].
template <bool kThirdBit>
struct QuantTraitsK2 {
    static constexpr int kGroups = 4;
    static constexpr bool kOffset = true;
    static constexpr int kZero = kThirdBit ? 4 : -1;
    static constexpr int kRawRegs = kThirdBit ? 12 : 9;
    struct Raw {
        uint4 q;
        uint4 sc;             // Q2_K: the 16 scale bytes; Q3_K: hmask[16h, +16)
        uint32_t s0, s1, s2;  // Q3_K: the 12 packed scale bytes
        uint32_t dm;          // d (and Q2_K's dmin)
    };
    __device__ __forceinline__ static Raw load(const uint8_t* row, int nb, int p) {
        using namespace quant_detail;
        Raw raw;
        raw.q = load_quants(row + 16 * p);
        const int b = p >> 2, h = p & 1;
        const uint8_t* next = row + int64_t(nb) * 64;
        if constexpr (!kThirdBit) {
            raw.sc = load_u128(next + 16 * int64_t(b));
            raw.s0 = raw.s1 = raw.s2 = 0;
            raw.dm = load_u32(next + int64_t(nb) * 16 + 4 * int64_t(b));
        } else {
            raw.sc = load_quants(next + int64_t(b) * 32 + 16 * h);
            const uint8_t* sp = next + int64_t(nb) * 32 + int64_t(b) * 12;
            raw.s0 = load_u32(sp);
            raw.s1 = load_u32(sp + 4);
            raw.s2 = load_u32(sp + 8);
            raw.dm = load_u16(next + int64_t(nb) * 32 + pad16(int64_t(nb) * 12) + 2 * int64_t(b));
        }
        return raw;
    }
    __device__ __forceinline__ static Piece<4> decode(const Raw& raw, int p) {
        using namespace quant_detail;
        Piece<4> r;
        const int b = p >> 2, n = (p >> 1) & 1, h = p & 1;
        if constexpr (!kThirdBit) {
            const float d = half_bits(raw.dm), dmin = half_bits(raw.dm >> 16);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const uint32_t s = byte_of(raw.sc, 8 * n + 2 * j + h);
                r.a[j] = d * float(s & 0xfu);
                r.b[j] = -dmin * float(s >> 4);
#pragma unroll
                for (int i = 0; i < 4; ++i)
                    r.q[j][i] = (word(raw.q, i) >> (2 * j)) & 0x03030303u;
            }
        } else {
            // ggml's unpacking of sixteen 6-bit scales from 12 bytes.
            uint4 sc;
            sc.x = (raw.s0 & 0x0f0f0f0fu) | ((raw.s2 & 0x03030303u) << 4);
            sc.y = (raw.s1 & 0x0f0f0f0fu) | (((raw.s2 >> 2) & 0x03030303u) << 4);
            sc.z = ((raw.s0 >> 4) & 0x0f0f0f0fu) | (((raw.s2 >> 4) & 0x03030303u) << 4);
            sc.w = ((raw.s1 >> 4) & 0x0f0f0f0fu) | (((raw.s2 >> 6) & 0x03030303u) << 4);
            const float d = half_bits(raw.dm);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                r.a[j] = d * float(int(byte_of(sc, 8 * n + 2 * j + h)) - 32);
                r.b[j] = -4.0f * r.a[j];
#pragma unroll
                for (int i = 0; i < 4; ++i)
                    r.q[j][i] = ((word(raw.q, i) >> (2 * j)) & 0x03030303u) |
                                (((word(raw.sc, i) >> (4 * n + j)) & 0x01010101u) << 2);
            }
        }
#pragma unroll
        for (int j = 0; j < 4; ++j)
            r.pos[j] = 256 * b + 128 * n + 32 * j + 16 * h;
        return r;
    }
};
template <>
struct QuantTraits<DType::Q2_K> : QuantTraitsK2<false> {};
template <>
struct QuantTraits<DType::Q3_K> : QuantTraitsK2<true> {};

// Q4_K/Q5_K: piece k = 2j + h of a block is qs[32j + 16h, +16): low nibbles are weights
// 64j + 16h + l (sub-block 2j), high nibbles 64j + 32 + 16h + l (sub-block 2j + 1). Q5_K's fifth
// bits are bits 2j and 2j + 1 of qh[16h + l].
template <bool kFifthBit>
struct QuantTraitsK4 {
    static constexpr int kGroups = 2;
    static constexpr bool kOffset = true;
    static constexpr int kZero = -1;
    static constexpr int kRawRegs = kFifthBit ? 12 : 8;
    struct Raw {
        uint4 q;
        uint4 qh;
        uint4 meta;  // d, dmin, the 12 packed scale bytes
    };
    __device__ __forceinline__ static Raw load(const uint8_t* row, int nb, int p) {
        using namespace quant_detail;
        Raw raw;
        raw.q = load_quants(row + 16 * p);
        const int b = p >> 3, h = p & 1;
        const uint8_t* next = row + int64_t(nb) * 128;
        raw.qh = uint4{0, 0, 0, 0};
        if constexpr (kFifthBit) {
            raw.qh = load_quants(next + int64_t(b) * 32 + 16 * h);
            next += int64_t(nb) * 32;
        }
        raw.meta = load_u128(next + 16 * int64_t(b));
        return raw;
    }
    __device__ __forceinline__ static Piece<2> decode(const Raw& raw, int p) {
        using namespace quant_detail;
        Piece<2> r;
        const int b = p >> 3, j = (p >> 1) & 3, h = p & 1;
        const float d = half_bits(raw.meta.x), dmin = half_bits(raw.meta.x >> 16);
        uint32_t sc0, m0, sc1, m1;
        scale_min_k4(raw.meta, 2 * j, sc0, m0);
        scale_min_k4(raw.meta, 2 * j + 1, sc1, m1);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            uint32_t lo = word(raw.q, i) & 0x0f0f0f0fu, hi = (word(raw.q, i) >> 4) & 0x0f0f0f0fu;
            if constexpr (kFifthBit) {
                lo |= ((word(raw.qh, i) >> (2 * j)) & 0x01010101u) << 4;
                hi |= ((word(raw.qh, i) >> (2 * j + 1)) & 0x01010101u) << 4;
            }
            r.q[0][i] = lo;
            r.q[1][i] = hi;
        }
        r.a[0] = d * float(sc0);
        r.b[0] = -dmin * float(m0);
        r.a[1] = d * float(sc1);
        r.b[1] = -dmin * float(m1);
        r.pos[0] = 256 * b + 64 * j + 16 * h;
        r.pos[1] = r.pos[0] + 32;
        return r;
    }
};
template <>
struct QuantTraits<DType::Q4_K> : QuantTraitsK4<false> {};
template <>
struct QuantTraits<DType::Q5_K> : QuantTraitsK4<true> {};

// Q6_K: piece k of a block is ql[64n + m0, +16) with n = k / 4, m0 = 16 (k % 4): low nibbles are
// weights 128n + m0 + l, high nibbles 128n + 64 + m0 + l; their top two bits sit in
// qh[32n + m0 % 32 + l] at shift 0/2 (low) and 4/6 (high), for m0 < 32 / m0 >= 32. Weights are
// d * scale[w / 16] * (q - 32).
template <>
struct QuantTraits<DType::Q6_K> {
    static constexpr int kGroups = 2;
    static constexpr bool kOffset = true;
    static constexpr int kZero = 32;
    static constexpr int kRawRegs = 10;
    struct Raw {
        uint4 q;
        uint4 qh;
        uint32_t sc;  // the two int8 scales, as the low and high byte
        uint32_t d;
    };
    __device__ __forceinline__ static Raw load(const uint8_t* row, int nb, int p) {
        using namespace quant_detail;
        Raw raw;
        raw.q = load_quants(row + 16 * p);
        const int b = p >> 3, n = (p >> 2) & 1, m0 = 16 * (p & 3);
        const uint8_t* qh_field = row + int64_t(nb) * 128;
        raw.qh = load_quants(qh_field + int64_t(b) * 64 + 32 * n + (m0 & 31));
        const uint8_t* scales = qh_field + int64_t(nb) * 64 + 16 * int64_t(b) + 8 * n + m0 / 16;
        raw.sc = __ldg(scales) | (uint32_t(__ldg(scales + 4)) << 8);
        raw.d = load_u16(qh_field + int64_t(nb) * 80 + 2 * int64_t(b));
        return raw;
    }
    __device__ __forceinline__ static Piece<2> decode(const Raw& raw, int p) {
        using namespace quant_detail;
        Piece<2> r;
        const int b = p >> 3, n = (p >> 2) & 1, m0 = 16 * (p & 3);
        const int shift = m0 >= 32 ? 2 : 0;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            r.q[0][i] =
                (word(raw.q, i) & 0x0f0f0f0fu) | (((word(raw.qh, i) >> shift) & 0x03030303u) << 4);
            r.q[1][i] = ((word(raw.q, i) >> 4) & 0x0f0f0f0fu) |
                        (((word(raw.qh, i) >> (shift + 4)) & 0x03030303u) << 4);
        }
        const float d = half_bits(raw.d);
        r.a[0] = d * float(static_cast<int8_t>(raw.sc & 0xffu));
        r.a[1] = d * float(static_cast<int8_t>((raw.sc >> 8) & 0xffu));
        r.b[0] = -32.0f * r.a[0];
        r.b[1] = -32.0f * r.a[1];
        r.pos[0] = 256 * b + 128 * n + m0;
        r.pos[1] = r.pos[0] + 64;
        return r;
    }
};

// sum over the piece of w * x for one token's quantized activations.
template <DType T>
__device__ __forceinline__ float dot_piece(const Piece<QuantTraits<T>::kGroups>& p,
                                           const Q8Ref& x) {
    float r = 0.0f;
#pragma unroll
    for (int g = 0; g < QuantTraits<T>::kGroups; ++g) {
        const int4 xv = *reinterpret_cast<const int4*>(x.q + p.pos[g]);
        int s = __dp4a(static_cast<int>(p.q[g][0]), xv.x, 0);
        s = __dp4a(static_cast<int>(p.q[g][1]), xv.y, s);
        s = __dp4a(static_cast<int>(p.q[g][2]), xv.z, s);
        s = __dp4a(static_cast<int>(p.q[g][3]), xv.w, s);
        float v = p.a[g] * static_cast<float>(s);
        if constexpr (QuantTraits<T>::kOffset) v += p.b[g] * static_cast<float>(x.s[p.pos[g] >> 4]);
        r += x.d[p.pos[g] >> 5] * v;
    }
    return r;
}

// Weight i (0..15) of group g as a float, rounded as ggml and gguf-py round it: a * (q - zero)
// where the type has a zero point (one rounding), else a * q + b (two roundings, no fused
// multiply-add).
template <DType T>
__device__ __forceinline__ float piece_weight(const Piece<QuantTraits<T>::kGroups>& p, int g,
                                              int i) {
    const int q = static_cast<int8_t>((p.q[g][i >> 2] >> (8 * (i & 3))) & 0xffu);
    constexpr int zero = QuantTraits<T>::kZero;
    if constexpr (zero >= 0) return __fmul_rn(p.a[g], static_cast<float>(q - zero));
    return __fadd_rn(__fmul_rn(p.a[g], static_cast<float>(q)), p.b[g]);
}

// Calls f.template operator()<T>() with T the quantized DType (as a template value).
template <class F>
__host__ __device__ void with_quant_type(DType t, F&& f) {
    switch (t) {
        case DType::Q8_0:
            f.template operator()<DType::Q8_0>();
            break;
        case DType::Q4_0:
            f.template operator()<DType::Q4_0>();
            break;
        case DType::Q4_1:
            f.template operator()<DType::Q4_1>();
            break;
        case DType::Q5_0:
            f.template operator()<DType::Q5_0>();
            break;
        case DType::Q5_1:
            f.template operator()<DType::Q5_1>();
            break;
        case DType::Q2_K:
            f.template operator()<DType::Q2_K>();
            break;
        case DType::Q3_K:
            f.template operator()<DType::Q3_K>();
            break;
        case DType::Q4_K:
            f.template operator()<DType::Q4_K>();
            break;
        case DType::Q5_K:
            f.template operator()<DType::Q5_K>();
            break;
        case DType::Q6_K:
            f.template operator()<DType::Q6_K>();
            break;
        default:
            break;
    }
}

}  // namespace lc::cuda
