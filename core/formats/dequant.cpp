// Dequantization of GGUF's block types, bit-exact with gguf-py (gguf/quants.py), in float32 and
// in its order of operations. The products themselves are exact in float32 (an f16 scale has 11
// significant bits, the integer factors at most 7 + 5 more), so only the final addition of a min
// rounds, and an FMA would give the same bits; the order still decides signed zeros and NaNs
// (an infinite scale times a zero sub-scale is NaN before it meets the quant).
#include "formats/dequant.h"

#include <cstring>
#include <string>

#include "base/error.h"
#include "base/quant_blocks.h"

namespace lc {
namespace quant {

void unpack_k_scales(const uint8_t packed[12], uint8_t scales[8], uint8_t mins[8]) {
    for (int j = 0; j < 4; ++j) {
        scales[j] = packed[j] & 0x3F;
        mins[j] = packed[j + 4] & 0x3F;
        scales[j + 4] = static_cast<uint8_t>((packed[j + 8] & 0x0F) | ((packed[j] >> 2) & 0x30));
        mins[j + 4] = static_cast<uint8_t>((packed[j + 8] >> 4) | ((packed[j + 4] >> 2) & 0x30));
    }
}

void unpack_q3_k_scales(const uint8_t packed[12], uint8_t scales[16]) {
    for (int g = 0; g < 16; ++g) {
        const int low = (packed[g % 8] >> (4 * (g / 8))) & 0x0F;
        const int high = (packed[8 + g % 4] >> (2 * (g / 4))) & 0x03;
        scales[g] = static_cast<uint8_t>(low | (high << 4));
    }
}

}  // namespace quant

namespace {

using namespace quant;

// A copy of the block at p: blocks in a file sit at any byte offset, the structs want 2.
template <class Block>
Block load_block(const uint8_t* p) {
    Block b;
    std::memcpy(&b, p, sizeof(Block));
    return b;
}

// Each decoder below writes the 32 or 256 weights of one block to y.

void block_q4_0(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ4_0>(p);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kBlock32 / 2; ++j) {
        y[j] = d * static_cast<float>((b.qs[j] & 0x0F) - 8);
        y[j + 16] = d * static_cast<float>((b.qs[j] >> 4) - 8);
    }
}

void block_q4_1(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ4_1>(p);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    for (int j = 0; j < kBlock32 / 2; ++j) {
        y[j] = d * static_cast<float>(b.qs[j] & 0x0F) + m;
        y[j + 16] = d * static_cast<float>(b.qs[j] >> 4) + m;
    }
}

// The 32 five-bit quants of Q5_0/Q5_1: nibbles as Q4's, bit j of qh (little-endian) on top.
void five_bit_quants(const uint8_t qh_bytes[4], const uint8_t qs[16], int q[32]) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < 16; ++j) {
        q[j] = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
        q[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
    }
}

void block_q5_0(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ5_0>(p);
    const float d = f16_to_f32(b.d);
    int q[kBlock32];
    five_bit_quants(b.qh, b.qs, q);
    for (int j = 0; j < kBlock32; ++j)
        y[j] = d * static_cast<float>(q[j] - 16);
}

void block_q5_1(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ5_1>(p);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    int q[kBlock32];
    five_bit_quants(b.qh, b.qs, q);
    for (int j = 0; j < kBlock32; ++j)
        y[j] = d * static_cast<float>(q[j]) + m;
}

void block_q8_0(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ8_0>(p);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kBlock32; ++j)
        y[j] = static_cast<float>(b.qs[j]) * d;
}

// K-quants: weight e of the 256 belongs to group e / 16 (Q2_K, Q3_K, Q6_K) or e / 32 (Q4_K,
// Q5_K). The 2-bit fields of Q2_K/Q3_K/Q6_K are laid out in two halves of 128 weights: weight
// 128h + 32s + l is bits 2s, 2s+1 of byte 32h + l.

void block_q2_k(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ2_K>(p);
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    float dl[16], ml[16];  // [group]
    for (int g = 0; g < 16; ++g) {
        dl[g] = d * static_cast<float>(b.scales[g] & 0x0F);
        ml[g] = dmin * static_cast<float>(b.scales[g] >> 4);
    }
    for (int e = 0; e < kBlockK; ++e) {
        const int q = (b.qs[32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3;
        y[e] = dl[e / 16] * static_cast<float>(q) - ml[e / 16];
    }
}

void block_q3_k(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ3_K>(p);
    const float d = f16_to_f32(b.d);
    uint8_t scales[16];
    unpack_q3_k_scales(b.scales, scales);
    float dl[16];  // [group]
    for (int g = 0; g < 16; ++g)
        dl[g] = d * static_cast<float>(scales[g] - 32);
    for (int e = 0; e < kBlockK; ++e) {
        const int low = (b.qs[32 * (e / 128) + e % 32] >> (2 * (e / 32 % 4))) & 3;
        // Bit e / 32 of hmask[e % 32] set means no offset; clear means 4 below.
        const bool high = (b.hmask[e % 32] >> (e / 32)) & 1;
        y[e] = dl[e / 16] * static_cast<float>(low - (high ? 0 : 4));
    }
}

// Q4_K/Q5_K: weight 64c + 32k + l is nibble k of qs[32c + l]; group g = 2c + k.
template <bool kFifthBit, class Block>
void block_q45_k(const Block& b, float* y) {
    const float d = f16_to_f32(b.d), dmin = f16_to_f32(b.dmin);
    uint8_t scales[8], mins[8];
    unpack_k_scales(b.scales, scales, mins);
    for (int g = 0; g < 8; ++g) {
        const float dg = d * static_cast<float>(scales[g]);
        const float mg = dmin * static_cast<float>(mins[g]);
        const uint8_t* qs = b.qs + 32 * (g / 2);
        const int shift = 4 * (g % 2);
        for (int l = 0; l < 32; ++l) {
            int q = (qs[l] >> shift) & 0x0F;
            if constexpr (kFifthBit) q |= ((b.qh[l] >> g) & 1) << 4;
            y[32 * g + l] = dg * static_cast<float>(q) - mg;
        }
    }
}

void block_q4_k(const uint8_t* p, float* y) {
    block_q45_k<false>(load_block<BlockQ4_K>(p), y);
}

void block_q5_k(const uint8_t* p, float* y) {
    block_q45_k<true>(load_block<BlockQ5_K>(p), y);
}

void block_q6_k(const uint8_t* p, float* y) {
    const auto b = load_block<BlockQ6_K>(p);
    const float d = f16_to_f32(b.d);
    float dl[16];  // [group]
    for (int g = 0; g < 16; ++g)
        dl[g] = d * static_cast<float>(b.scales[g]);
    for (int e = 0; e < kBlockK; ++e) {
        const int h = e / 128, r = e % 128;
        // Low 4 bits: nibble r / 64 of ql[64h + r % 64]; high 2: as the 2-bit fields above.
        const int low = (b.ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
        const int high = (b.qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
        y[e] = dl[e / 16] * static_cast<float>((low | (high << 4)) - 32);
    }
}

using BlockDecoder = void (*)(const uint8_t*, float*);

BlockDecoder block_decoder(DType t) {
    switch (t) {
        case DType::Q4_0:
            return block_q4_0;
        case DType::Q4_1:
            return block_q4_1;
        case DType::Q5_0:
            return block_q5_0;
        case DType::Q5_1:
            return block_q5_1;
        case DType::Q8_0:
            return block_q8_0;
        case DType::Q2_K:
            return block_q2_k;
        case DType::Q3_K:
            return block_q3_k;
        case DType::Q4_K:
            return block_q4_k;
        case DType::Q5_K:
            return block_q5_k;
        case DType::Q6_K:
            return block_q6_k;
        default:
            return nullptr;
    }
}

bool is_known(DType t) {
    return static_cast<int>(t) >= static_cast<int>(DType::F32) &&
           static_cast<int>(t) < static_cast<int>(DType::Other);
}

std::string type_text(DType t) {
    if (t == DType::Other) return "type other (not one LatentChat reads)";
    return "unknown type " + std::to_string(static_cast<int>(t));
}

}  // namespace

void dequantize_row(DType t, const void* src, int64_t n, float* dst) {
    if (!is_known(t))
        throw Error("cannot dequantize weights of " + type_text(t) +
                    ": LatentChat reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, "
                    "Q3_K, Q4_K, Q5_K and Q6_K");
    const int64_t per_block = dtype_block_elems(t);
    if (n < 0 || n % per_block != 0)
        throw Error("cannot dequantize " + std::to_string(n) + " weights of type " + dtype_name(t) +
                    ": not a whole number of its blocks of " + std::to_string(per_block));
    const auto* s = static_cast<const uint8_t*>(src);
    switch (t) {
        case DType::F32:
            std::memcpy(dst, s, static_cast<size_t>(n) * 4);
            return;
        case DType::F16:
        case DType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, s + 2 * i, 2);
                dst[i] = t == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
            }
            return;
        default:
            break;
    }
    const BlockDecoder decode = block_decoder(t);
    const int64_t block_bytes = dtype_block_bytes(t);
    for (int64_t i = 0; i < n / per_block; ++i)
        decode(s + i * block_bytes, dst + i * per_block);
}

void dequantize_rows(DType t, const void* src, int64_t rows, int64_t cols,
                     int64_t src_row_stride_bytes, float* dst) {
    const auto* s = static_cast<const uint8_t*>(src);
    for (int64_t r = 0; r < rows; ++r)
        dequantize_row(t, s + r * src_row_stride_bytes, cols, dst + r * cols);
}

}  // namespace lc
