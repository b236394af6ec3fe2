#pragma once
// Byte layouts of GGUF's block-quantized weight types (the formats ggml defines; described in
// docs/design.md section 7). Every field is little-endian; f16 fields are IEEE half floats kept
// as raw bits. A block of a *_0/*_1 type holds 32 weights, a K-quant block ("super-block") 256.
#include <cstdint>

#include "base/dtype.h"

namespace lc::quant {

constexpr int kBlock32 = 32;
constexpr int kBlockK = 256;
constexpr int kScaleBytesK = 12;  // Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins, packed

struct BlockQ4_0 {  // w = (nibble - 8) * d
    uint16_t d;
    uint8_t qs[kBlock32 / 2];  // weight j in the low nibble of qs[j], weight j+16 in the high
};
struct BlockQ4_1 {  // w = nibble * d + m
    uint16_t d, m;
    uint8_t qs[kBlock32 / 2];
};
struct BlockQ5_0 {  // w = (nibble | high bit << 4) - 16) * d
    uint16_t d;
    uint8_t qh[4];  // bit j: fifth bit of weight j
    uint8_t qs[kBlock32 / 2];
};
struct BlockQ5_1 {  // w = (nibble | high bit << 4) * d + m
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[kBlock32 / 2];
};
struct BlockQ8_0 {  // w = q * d
    uint16_t d;
    int8_t qs[kBlock32];
};
struct BlockQ2_K {  // 16 groups of 16: w = d * (scales & 15) * q - dmin * (scales >> 4)
    uint8_t scales[kBlockK / 16];
    uint8_t qs[kBlockK / 4];  // 2-bit quants
    uint16_t d, dmin;
};
struct BlockQ3_K {  // 16 groups of 16 with 6-bit signed scales: w = d * (scale - 32) * (q - 4*!h)
    uint8_t hmask[kBlockK / 8];  // the high bit of each 3-bit quant
    uint8_t qs[kBlockK / 4];     // the low 2 bits
    uint8_t scales[12];
    uint16_t d;
};
struct BlockQ4_K {  // 8 groups of 32: w = d * scale * q - dmin * min
    uint16_t d, dmin;
    uint8_t scales[kScaleBytesK];
    uint8_t qs[kBlockK / 2];
};
struct BlockQ5_K {  // as Q4_K with a fifth bit from qh
    uint16_t d, dmin;
    uint8_t scales[kScaleBytesK];
    uint8_t qh[kBlockK / 8];
    uint8_t qs[kBlockK / 2];
};
struct BlockQ6_K {            // 16 groups of 16 with int8 scales: w = d * scale * (q - 32)
    uint8_t ql[kBlockK / 2];  // low 4 bits
    uint8_t qh[kBlockK / 4];  // high 2 bits
    int8_t scales[kBlockK / 16];
    uint16_t d;
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(alignof(BlockQ4_0) == 2, "blocks are read at 2-byte alignment at most");

}  // namespace lc::quant
