#pragma once
// FP8 E4M3 weights with block scales, as DeepSeek-V3/R1 ship them (config.json's
// quantization_config {quant_method fp8, fmt e4m3, weight_block_size [128, 128]}): a linear
// weight W [rows, cols] of F8_E4M3 and W_scale_inv [ceil(rows/br), ceil(cols/bc)] of F32, the
// real weight being W[r][c] * scale_inv[r / br][c / bc]. The engine dequantizes them to BF16 at
// load (engine/weights.cpp, docs/design.md section 2.1); this file is the pure arithmetic.
#include <cstdint>

#include "base/dtype.h"

namespace lc {

// OCP float8 e4m3fn (torch.float8_e4m3fn): sign, 4 exponent bits (bias 7), 3 mantissa bits,
// subnormals, 0x7F and 0xFF are NaN, no infinities, largest finite 448. Exact in float32.
float fp8_e4m3_to_f32(uint8_t v);

// Whether a safetensors dtype string names E4M3FN ("F8_E4M3"; some writers add "FN").
bool is_fp8_e4m3_dtype_text(const char* text);

// ceil(n / block) for n >= 0, block > 0.
inline int64_t fp8_scale_blocks(int64_t n, int64_t block) {
    return n / block + (n % block != 0);
}

// One block-scaled FP8 matrix as it lies in the checkpoint (both pointers may be unaligned).
struct Fp8Matrix {
    const uint8_t* weight = nullptr;  // [rows, cols] E4M3
    const void* scale_inv = nullptr;  // [ceil(rows/block_rows), ceil(cols/block_cols)]
    DType scale_dtype = DType::F32;   // F32 as published; F16/BF16 read the same way
    int64_t rows = 0, cols = 0;
    int64_t block_rows = 128, block_cols = 128;
};

// Writes rows [row_begin, row_end) of the dequantized matrix to out (row-major, `cols` per row,
// `out` pointing at row 0): float32(W) * scale_inv in float32, then rounded to BF16 to nearest
// even, as DeepSeek's weight_dequant stores it in bfloat16.
void dequantize_fp8_rows(const Fp8Matrix& m, int64_t row_begin, int64_t row_end, uint16_t* out);

}  // namespace lc
