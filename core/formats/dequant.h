#pragma once
// The reference dequantizer of GGUF's weight types: float32 values equal bit for bit to gguf-py's
// `gguf.quants.dequantize` (gguf 0.19.0), which every quantized kernel is tested against. It is
// also what load time uses for the few matrices kept in float and for embedding rows.
#include <cstdint>

#include "base/dtype.h"

namespace lc {

// dst[0, n) = the n weights stored at src, which starts at a block boundary (src need not be
// aligned). n is a multiple of dtype_block_elems(t). Throws lc::Error for DType::Other (or any
// value outside the enum) and for an n that is negative or cuts a block.
void dequantize_row(DType t, const void* src, int64_t n, float* dst);

// dst [rows, cols] = `rows` rows of `cols` weights each, row r starting at
// src + r * src_row_stride_bytes (at least dtype_row_bytes(t, cols)).
void dequantize_rows(DType t, const void* src, int64_t rows, int64_t cols,
                     int64_t src_row_stride_bytes, float* dst);

namespace quant {

// The 8 six-bit scales and 8 six-bit mins that Q4_K and Q5_K pack into 12 bytes:
// bytes 0-3 hold scale j (low 6 bits) for j < 4 and its top 2 bits for j + 4, bytes 4-7 the same
// for the mins, bytes 8-11 the low 4 bits of scale j + 4 (low nibble) and of min j + 4 (high).
void unpack_k_scales(const uint8_t packed[12], uint8_t scales[8], uint8_t mins[8]);

// Q3_K's 16 six-bit scales from its 12 bytes, as stored (0..63; the weight uses scale - 32):
// bytes 0-7 hold the low 4 bits (scale j in the low nibble of byte j, scale j + 8 in the high),
// bytes 8-11 the top 2 bits (scale 4k + j in bits 2k, 2k+1 of byte 8 + j).
void unpack_q3_k_scales(const uint8_t packed[12], uint8_t scales[16]);

}  // namespace quant
}  // namespace lc
