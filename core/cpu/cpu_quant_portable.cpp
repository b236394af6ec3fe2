// The portable kernels of the quantized products: plain C++ for any CPU, and the reference the
// SIMD kernels are tested against. Each weight block is first unpacked to small integers
// (a "canonical" block: unsigned or signed 8-bit values with integer group scales), then meets
// the quantized activations of every token of the tile in integer dot products.
//
// The arithmetic, for one weight block and one token's activation block (x ~= dx * qx):
//   32-blocks: y += d * dx * sum(q * qx) + m * (dx * sum(qx))     (m: Q4_1/Q5_1 only)
//   K blocks:  y += dx * (d * I1 + d2 * I2), with
//              I1 = sum over groups g of 16: sc[g] * sum_{i in g} q[i] * qx[i]
//              I2 = sum over g: coef[g] * bsum[g]                 (bsum[g] = sum_{i in g} qx[i])
//   where (q, sc, coef, d2) per type are:
//     Q2_K: q 0..3,  sc = scale & 15,   coef = scale >> 4,  d2 = -dmin
//     Q3_K: q 0..7,  sc = scale - 32,   coef = -4 * sc,     d2 = d
//     Q4_K: q 0..15, sc = scale[g / 2], coef = min[g / 2],  d2 = -dmin
//     Q5_K: q 0..31, as Q4_K
//     Q6_K: q 0..63, sc = scale,        coef = -32 * sc,    d2 = d
#include <cmath>
#include <cstring>

#include "base/quant_blocks.h"
#include "cpu/cpu_quant_kernels.h"

namespace lc::cpuq {
namespace {

using namespace lc::quant;

float f16(uint16_t h) {
    return f16_to_f32(h);
}

template <class B>
const B* block_at(const uint8_t* row, int64_t b) {
    return reinterpret_cast<const B*>(row + b * static_cast<int64_t>(sizeof(B)));
}

// ---------------------------------------------------------------------------------------------
// Activations.

// q = round(x / d) in [-127, 127], d = max|x| / 127 (0 for an all-zero block).
float quantize_block(const float* x, int n, int8_t* q) {
    float amax = 0.0f;
    for (int i = 0; i < n; ++i)
        amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < n; ++i) {
        const float v = std::nearbyint(x[i] * id);
        q[i] = static_cast<int8_t>(v > 127.0f ? 127 : v < -127.0f ? -127 : v == v ? v : 0);
    }
    return d;
}

void quantize_portable(const XLayout& lx, const float* x, uint8_t* xq) {
    auto* q = reinterpret_cast<int8_t*>(xq);
    auto* d = reinterpret_cast<float*>(xq + lx.d_off);
    if (lx.k_blocks) {
        auto* bsum = reinterpret_cast<int16_t*>(xq + lx.bsum_off);
        for (int64_t b = 0; b < lx.n_blocks; ++b) {
            d[b] = quantize_block(x + b * kBlockK, kBlockK, q + b * kBlockK);
            for (int g = 0; g < kBlockK / 16; ++g) {
                int s = 0;
                for (int i = 0; i < 16; ++i)
                    s += q[b * kBlockK + g * 16 + i];
                bsum[b * 16 + g] = static_cast<int16_t>(s);
            }
        }
        return;
    }
    auto* s = reinterpret_cast<float*>(xq + lx.s_off);
    auto* corr = reinterpret_cast<int32_t*>(xq + lx.corr_off);
    for (int64_t b = 0; b < lx.n_blocks; ++b) {
        d[b] = quantize_block(x + b * kBlock32, kBlock32, q + b * kBlock32);
        int sum = 0;
        for (int i = 0; i < kBlock32; ++i)
            sum += q[b * kBlock32 + i];
        s[b] = d[b] * static_cast<float>(sum);
        corr[b] = -lx.offset * sum;
    }
}

// ---------------------------------------------------------------------------------------------
// Weights, unpacked.

struct Canon32 {
    int8_t q[kBlock32];  // the weight's integer, offset removed (Q8_0: as stored)
    float d = 0.0f;
    float m = 0.0f;  // Q4_1/Q5_1
};

struct CanonK {
    uint8_t q[kBlockK];
    int32_t sc[16];
    int32_t coef[16];
    float d = 0.0f;
    float d2 = 0.0f;
};

// Q4_0/Q4_1: weight j in the low nibble of qs[j], weight j + 16 in the high one.
void nibbles32(const uint8_t* qs, int off, int8_t* q) {
    for (int j = 0; j < 16; ++j) {
        q[j] = static_cast<int8_t>((qs[j] & 0x0F) - off);
        q[j + 16] = static_cast<int8_t>((qs[j] >> 4) - off);
    }
}

// Q5_0/Q5_1: plus a fifth bit, bit j of qh for weight j.
void fives32(const uint8_t* qs, const uint8_t* qh4, int off, int8_t* q) {
    uint32_t qh;
    std::memcpy(&qh, qh4, 4);
    for (int j = 0; j < 16; ++j) {
        q[j] = static_cast<int8_t>(((qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - off);
        q[j + 16] = static_cast<int8_t>(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - off);
    }
}

template <DType DT>
void unpack32(const uint8_t* row, int64_t b, Canon32& c) {
    if constexpr (DT == DType::Q4_0) {
        const auto* k = block_at<BlockQ4_0>(row, b);
        c.d = f16(k->d);
        nibbles32(k->qs, 8, c.q);
    } else if constexpr (DT == DType::Q4_1) {
        const auto* k = block_at<BlockQ4_1>(row, b);
        c.d = f16(k->d);
        c.m = f16(k->m);
        nibbles32(k->qs, 0, c.q);
    } else if constexpr (DT == DType::Q5_0) {
        const auto* k = block_at<BlockQ5_0>(row, b);
        c.d = f16(k->d);
        fives32(k->qs, k->qh, 16, c.q);
    } else if constexpr (DT == DType::Q5_1) {
        const auto* k = block_at<BlockQ5_1>(row, b);
        c.d = f16(k->d);
        c.m = f16(k->m);
        fives32(k->qs, k->qh, 0, c.q);
    } else {
        static_assert(DT == DType::Q8_0);
        const auto* k = block_at<BlockQ8_0>(row, b);
        c.d = f16(k->d);
        std::memcpy(c.q, k->qs, kBlock32);
    }
}

// Q4_K/Q5_K: 8 six-bit scales and mins in 12 bytes (see core/formats/dequant.h).
void k_scales(const uint8_t* s, uint8_t* sc, uint8_t* mn) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = static_cast<uint8_t>((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
        mn[j + 4] = static_cast<uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

template <DType DT>
void unpackK(const uint8_t* row, int64_t b, CanonK& c) {
    if constexpr (DT == DType::Q4_K || DT == DType::Q5_K) {
        using B = std::conditional_t<DT == DType::Q4_K, BlockQ4_K, BlockQ5_K>;
        const B* k = block_at<B>(row, b);
        c.d = f16(k->d);
        c.d2 = -f16(k->dmin);
        uint8_t sc[8], mn[8];
        k_scales(k->scales, sc, mn);
        for (int g = 0; g < 16; ++g) {
            c.sc[g] = sc[g / 2];
            c.coef[g] = mn[g / 2];
        }
        // 64 weights per 32 bytes of qs: the low nibbles, then the high ones.
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 32; ++l) {
                int lo = k->qs[32 * j + l] & 0x0F, hi = k->qs[32 * j + l] >> 4;
                if constexpr (DT == DType::Q5_K) {
                    lo |= ((k->qh[l] >> (2 * j)) & 1) << 4;
                    hi |= ((k->qh[l] >> (2 * j + 1)) & 1) << 4;
                }
                c.q[64 * j + l] = static_cast<uint8_t>(lo);
                c.q[64 * j + 32 + l] = static_cast<uint8_t>(hi);
            }
    } else if constexpr (DT == DType::Q6_K) {
        const auto* k = block_at<BlockQ6_K>(row, b);
        c.d = c.d2 = f16(k->d);
        for (int g = 0; g < 16; ++g) {
            c.sc[g] = k->scales[g];
            c.coef[g] = -32 * k->scales[g];
        }
        // Per 128 weights: 64 bytes of low nibbles and 32 of high bit pairs.
        for (int n = 0; n < 2; ++n) {
            const uint8_t* ql = k->ql + 64 * n;
            const uint8_t* qh = k->qh + 32 * n;
            uint8_t* q = c.q + 128 * n;
            for (int l = 0; l < 32; ++l) {
                q[l] = static_cast<uint8_t>((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4));
                q[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
                q[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                q[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
            }
        }
    } else if constexpr (DT == DType::Q3_K) {
        const auto* k = block_at<BlockQ3_K>(row, b);
        c.d = c.d2 = f16(k->d);
        for (int g = 0; g < 16; ++g) {
            // low 4 bits: byte g % 8, nibble g / 8; top 2: byte 8 + g % 4, bits 2 * (g / 4)
            const int lo = (k->scales[g % 8] >> (4 * (g / 8))) & 0x0F;
            const int hi = (k->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            c.sc[g] = (lo | (hi << 4)) - 32;
            c.coef[g] = -4 * c.sc[g];
        }
        // Per 128 weights: 32 bytes of qs, 2 bits per shift 0, 2, 4, 6; the third bit from
        // hmask bit (4n + j): set means no -4.
        for (int n = 0; n < 2; ++n)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l) {
                    const int low = (k->qs[32 * n + l] >> (2 * j)) & 3;
                    const int h = (k->hmask[l] >> (4 * n + j)) & 1;
                    c.q[128 * n + 32 * j + l] = static_cast<uint8_t>(low | (h << 2));
                }
    } else {
        static_assert(DT == DType::Q2_K);
        const auto* k = block_at<BlockQ2_K>(row, b);
        c.d = f16(k->d);
        c.d2 = -f16(k->dmin);
        for (int g = 0; g < 16; ++g) {
            c.sc[g] = k->scales[g] & 0x0F;
            c.coef[g] = k->scales[g] >> 4;
        }
        for (int n = 0; n < 2; ++n)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l)
                    c.q[128 * n + 32 * j + l] =
                        static_cast<uint8_t>((k->qs[32 * n + l] >> (2 * j)) & 3);
    }
}

constexpr bool is_k(DType t) {
    return t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K ||
           t == DType::Q6_K;
}

struct Portable {
    static constexpr int kMaxTokens = 4;
    static constexpr int rows_per_tile(int) { return 2; }

    template <DType DT, int R, int T>
    static void tile(const Tile& t) {
        const XLayout& lx = *t.lx;
        double acc[R][T] = {};  // per block sums are exact in f32; the row sum in f64
        for (int64_t b = 0; b < t.n_blocks; ++b) {
            if constexpr (is_k(DT)) {
                CanonK c[R];
                for (int r = 0; r < R; ++r)
                    unpackK<DT>(t.w + r * t.w_stride, b, c[r]);
                for (int tk = 0; tk < T; ++tk) {
                    const uint8_t* xt = t.x + tk * t.x_stride;
                    const int8_t* qx = reinterpret_cast<const int8_t*>(xt) + b * kBlockK;
                    const float dx = reinterpret_cast<const float*>(xt + lx.d_off)[b];
                    const int16_t* bs = reinterpret_cast<const int16_t*>(xt + lx.bsum_off) + 16 * b;
                    for (int r = 0; r < R; ++r) {
                        int64_t i1 = 0, i2 = 0;
                        for (int g = 0; g < 16; ++g) {
                            int dot = 0;
                            for (int i = 0; i < 16; ++i)
                                dot += c[r].q[16 * g + i] * qx[16 * g + i];
                            i1 += static_cast<int64_t>(c[r].sc[g]) * dot;
                            i2 += static_cast<int64_t>(c[r].coef[g]) * bs[g];
                        }
                        acc[r][tk] += dx * (c[r].d * static_cast<float>(i1) +
                                            c[r].d2 * static_cast<float>(i2));
                    }
                }
            } else {
                Canon32 c[R];
                for (int r = 0; r < R; ++r)
                    unpack32<DT>(t.w + r * t.w_stride, b, c[r]);
                for (int tk = 0; tk < T; ++tk) {
                    const uint8_t* xt = t.x + tk * t.x_stride;
                    const int8_t* qx = reinterpret_cast<const int8_t*>(xt) + b * kBlock32;
                    const float dx = reinterpret_cast<const float*>(xt + lx.d_off)[b];
                    const float sx = reinterpret_cast<const float*>(xt + lx.s_off)[b];
                    for (int r = 0; r < R; ++r) {
                        int dot = 0;
                        for (int i = 0; i < kBlock32; ++i)
                            dot += c[r].q[i] * qx[i];
                        acc[r][tk] += c[r].d * dx * static_cast<float>(dot) + c[r].m * sx;
                    }
                }
            }
        }
        for (int tk = 0; tk < T; ++tk)
            for (int r = 0; r < R; ++r)
                t.y[tk * t.y_stride + r] = static_cast<float>(acc[r][tk]);
    }
};

void rows_portable(const Product& p, int64_t r0, int64_t r1) {
    rows_any<Portable>(p, r0, r1);
}

}  // namespace

const KernelSet& kernels_portable() {
    static const KernelSet set{quantize_portable, rows_portable, nullptr, nullptr};
    return set;
}

}  // namespace lc::cpuq
