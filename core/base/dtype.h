#pragma once
// Element types of checkpoint tensors and their conversion to float32.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace lc {

// Plain element types (F32, F16, BF16) and the block-quantized types of GGUF files
// (core/base/quant_blocks.h has their layouts). A quantized row is a sequence of blocks of
// dtype_block_elems() weights stored in dtype_block_bytes() bytes each; rows of such matrices
// hold whole blocks (their length is a multiple of the block's).
enum class DType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Other
};

inline bool dtype_is_quantized(DType t) {
    return t != DType::F32 && t != DType::F16 && t != DType::BF16 && t != DType::Other;
}

// Weights per block: 1 for plain types.
inline int64_t dtype_block_elems(DType t) {
    switch (t) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
            return 1;
        case DType::Q4_0:
        case DType::Q4_1:
        case DType::Q5_0:
        case DType::Q5_1:
        case DType::Q8_0:
            return 32;
        case DType::Q2_K:
        case DType::Q3_K:
        case DType::Q4_K:
        case DType::Q5_K:
        case DType::Q6_K:
            return 256;
        case DType::Other:
            return 0;
    }
    return 0;
}

// Bytes per block (bytes per element for plain types).
inline int64_t dtype_block_bytes(DType t) {
    switch (t) {
        case DType::F32:
            return 4;
        case DType::F16:
        case DType::BF16:
            return 2;
        case DType::Q4_0:
            return 18;
        case DType::Q4_1:
            return 20;
        case DType::Q5_0:
            return 22;
        case DType::Q5_1:
            return 24;
        case DType::Q8_0:
            return 34;
        case DType::Q2_K:
            return 84;
        case DType::Q3_K:
            return 110;
        case DType::Q4_K:
            return 144;
        case DType::Q5_K:
            return 176;
        case DType::Q6_K:
            return 210;
        case DType::Other:
            return 0;
    }
    return 0;
}

// Bytes of `n` consecutive elements starting at a block boundary (n a multiple of the block).
inline int64_t dtype_row_bytes(DType t, int64_t n) {
    const int64_t per = dtype_block_elems(t);
    return per == 0 ? 0 : n / per * dtype_block_bytes(t);
}

// Bytes per element of a plain type; 0 for quantized types (use dtype_row_bytes).
inline size_t dtype_size(DType t) {
    return dtype_is_quantized(t) ? 0 : static_cast<size_t>(dtype_block_bytes(t));
}

inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32:
            return "F32";
        case DType::F16:
            return "F16";
        case DType::BF16:
            return "BF16";
        case DType::Q4_0:
            return "Q4_0";
        case DType::Q4_1:
            return "Q4_1";
        case DType::Q5_0:
            return "Q5_0";
        case DType::Q5_1:
            return "Q5_1";
        case DType::Q8_0:
            return "Q8_0";
        case DType::Q2_K:
            return "Q2_K";
        case DType::Q3_K:
            return "Q3_K";
        case DType::Q4_K:
            return "Q4_K";
        case DType::Q5_K:
            return "Q5_K";
        case DType::Q6_K:
            return "Q6_K";
        case DType::Other:
            return "other";
    }
    return "other";
}

inline float bf16_to_f32(uint16_t v) {
    uint32_t bits = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round-to-nearest-even, as PyTorch does when it casts to bfloat16.
inline uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}

inline float f16_to_f32(uint16_t h) {
    uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3ffu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Safetensors does not align tensors, so elements are read with memcpy (no aliasing, no
// misaligned loads); compilers turn it into one plain load.
inline float load_as_f32(const void* base, DType t, size_t index) {
    const auto* bytes = static_cast<const uint8_t*>(base);
    switch (t) {
        case DType::F32: {
            float f;
            std::memcpy(&f, bytes + index * 4, 4);
            return f;
        }
        case DType::F16:
        case DType::BF16: {
            uint16_t h;
            std::memcpy(&h, bytes + index * 2, 2);
            return t == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        default:  // quantized types are read by blocks (core/base/quant.h), not by element
            return 0.0f;
    }
    return 0.0f;
}

}  // namespace lc
