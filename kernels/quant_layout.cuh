#pragma once
// How GGUF's quantized matrices sit in GPU memory. upload() splits every block into its fields
// (quants, high bits, scales, ...) and stores, row by row, each field of all the row's blocks
// together, 16-byte aligned: a warp then reads a row's quants with coalesced 16-byte loads and
// its scales with one load per block, whatever the block's odd size (18, 34, 210 bytes) was.
// The bytes are the file's, permuted; a row grows only by padding its fields to 16 bytes.
//
// Packed row of `nb` blocks: [field 0 of blocks 0..nb) pad16 [field 1 ...] pad16 ... Field 0 is
// always the low quants, 16 * kPieces bytes per block: a "piece" is 16 bytes of it, the unit a
// lane decodes (quant_dot.cuh).
#include <cstdint>

#include "base/dtype.h"

namespace lc::cuda {

constexpr int kMaxQuantFields = 4;

struct QuantFormat {
    int block = 0;   // weights per block
    int pieces = 0;  // 16-byte pieces of field 0 per block
    int fields = 0;
    int src[kMaxQuantFields] = {};   // offset of each field in the file's block
    int size[kMaxQuantFields] = {};  // bytes of each field per block
};

// The fields of each type, in packed order (offsets from core/base/quant_blocks.h).
__host__ __device__ constexpr QuantFormat quant_format(DType t) {
    switch (t) {
        case DType::Q8_0:  // qs[32] | d
            return {32, 2, 2, {2, 0}, {32, 2}};
        case DType::Q4_0:  // qs[16] | d
            return {32, 1, 2, {2, 0}, {16, 2}};
        case DType::Q4_1:  // qs[16] | d, m
            return {32, 1, 2, {4, 0}, {16, 4}};
        case DType::Q5_0:  // qs[16] | qh[4] | d
            return {32, 1, 3, {6, 2, 0}, {16, 4, 2}};
        case DType::Q5_1:  // qs[16] | qh[4] | d, m
            return {32, 1, 3, {8, 4, 0}, {16, 4, 4}};
        case DType::Q2_K:  // qs[64] | scales[16] | d, dmin
            return {256, 4, 3, {16, 0, 80}, {64, 16, 4}};
        case DType::Q3_K:  // qs[64] | hmask[32] | scales[12] | d
            return {256, 4, 4, {32, 0, 96, 108}, {64, 32, 12, 2}};
        case DType::Q4_K:  // qs[128] | d, dmin, scales[12]
            return {256, 8, 2, {16, 0}, {128, 16}};
        case DType::Q5_K:  // qs[128] | qh[32] | d, dmin, scales[12]
            return {256, 8, 3, {48, 16, 0}, {128, 32, 16}};
        case DType::Q6_K:  // ql[128] | qh[64] | scales[16] | d
            return {256, 8, 4, {0, 128, 192, 208}, {128, 64, 16, 2}};
        default:
            return {};
    }
}

__host__ __device__ constexpr int64_t pad16(int64_t bytes) {
    return (bytes + 15) / 16 * 16;
}

// Start of field `f` inside a packed row of `nb` blocks.
__host__ __device__ constexpr int64_t packed_field_offset(const QuantFormat& q, int64_t nb, int f) {
    int64_t offset = 0;
    for (int i = 0; i < f; ++i)
        offset += pad16(nb * q.size[i]);
    return offset;
}

// Bytes of one packed row of `cols` weights (a multiple of the block).
__host__ __device__ constexpr int64_t packed_row_bytes(DType t, int64_t cols) {
    const QuantFormat q = quant_format(t);
    return q.block == 0 ? 0 : packed_field_offset(q, cols / q.block, q.fields);
}

// Activations quantized to 8 bits per 32 (the partner of the weights' integer dot products):
// x[c] ~ d[c / 32] * q[c], with s[c / 16] the sum of q over each 16 (for the weights' offsets).
// `q` is 16-byte aligned. Points at column 0 of one token's row.
struct Q8Ref {
    const int8_t* q = nullptr;
    const float* d = nullptr;
    const int* s = nullptr;
};

// A buffer of such rows in device memory: row r of `len` columns (len a multiple of 32).
struct Q8Buffer {
    int8_t* q = nullptr;  // [rows, len]
    float* d = nullptr;   // [rows, len / 32]
    int* s = nullptr;     // [rows, len / 16]
    int64_t len = 0;

    __host__ __device__ Q8Ref row(int64_t r) const {
        return Q8Ref{q + r * len, d + r * (len / 32), s + r * (len / 16)};
    }
};

}  // namespace lc::cuda
