#pragma once
// Element types of checkpoint tensors and their conversion to float32.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace lc {

enum class DType { F32, F16, BF16, Other };

inline size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32:
            return 4;
        case DType::F16:
            return 2;
        case DType::BF16:
            return 2;
        case DType::Other:
            return 0;
    }
    return 0;
}

inline const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32:
            return "F32";
        case DType::F16:
            return "F16";
        case DType::BF16:
            return "BF16";
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
        case DType::Other:
            return 0.0f;
    }
    return 0.0f;
}

}  // namespace lc
