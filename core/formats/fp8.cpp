#include "formats/fp8.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace lc {
namespace {

// All 256 values once: the inner loop of dequantization is then a load and a multiply.
const std::array<float, 256>& e4m3_table() {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int i = 0; i < 256; ++i)
            t[i] = fp8_e4m3_to_f32(static_cast<uint8_t>(i));
        return t;
    }();
    return table;
}

}  // namespace

float fp8_e4m3_to_f32(uint8_t v) {
    const uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
    const uint32_t exp = (v >> 3) & 0xfu;
    const uint32_t mant = v & 0x7u;
    if (exp == 0) {
        // Subnormal (and zero): mant * 2^-9, exact in float32.
        const float f = static_cast<float>(mant) * 0x1p-9f;
        return sign ? -f : f;
    }
    uint32_t bits;
    if (exp == 0xf && mant == 0x7) {
        bits = sign | 0x7fc00000u;  // the only NaN encodings; e4m3fn has no infinity
    } else {
        bits = sign | ((exp - 7u + 127u) << 23) | (mant << 20);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

bool is_fp8_e4m3_dtype_text(const char* text) {
    return std::strcmp(text, "F8_E4M3") == 0 || std::strcmp(text, "F8_E4M3FN") == 0;
}

void dequantize_fp8_rows(const Fp8Matrix& m, int64_t row_begin, int64_t row_end, uint16_t* out) {
    const std::array<float, 256>& lut = e4m3_table();
    const int64_t scale_cols = fp8_scale_blocks(m.cols, m.block_cols);
    for (int64_t r = row_begin; r < row_end; ++r) {
        const uint8_t* src = m.weight + r * m.cols;
        uint16_t* dst = out + r * m.cols;
        const int64_t scale_row = (r / m.block_rows) * scale_cols;
        for (int64_t j = 0; j < scale_cols; ++j) {
            const float s =
                load_as_f32(m.scale_inv, m.scale_dtype, static_cast<size_t>(scale_row + j));
            const int64_t end = std::min(m.cols, (j + 1) * m.block_cols);
            for (int64_t c = j * m.block_cols; c < end; ++c)
                dst[c] = f32_to_bf16(lut[src[c]] * s);
        }
    }
}

}  // namespace lc
