#pragma once
// A weight matrix as the checkpoint stores it: the neutral type every backend's products take.
#include <cstdint>

#include "base/dtype.h"

namespace lc {

// A row-major weight matrix [rows, cols] in checkpoint memory. row_stride is in elements
// (== cols for a whole tensor; larger for a block of rows/cols inside a bigger tensor). For
// block-quantized types cols and row_stride are multiples of the block (base/dtype.h).
struct WeightMatrix {
    const void* data = nullptr;
    DType dtype = DType::F32;
    int64_t rows = 0;
    int64_t cols = 0;
    int64_t row_stride = 0;

    const void* row(int64_t r) const {
        return static_cast<const uint8_t*>(data) + r * stride_bytes();
    }
    int64_t row_bytes() const { return dtype_row_bytes(dtype, cols); }           // one row's data
    int64_t stride_bytes() const { return dtype_row_bytes(dtype, row_stride); }  // row to row
    int64_t bytes() const { return rows * row_bytes(); }
    // Rows [begin, begin + count) as a matrix of its own.
    WeightMatrix row_block(int64_t begin, int64_t count) const {
        return WeightMatrix{row(begin), dtype, count, cols, row_stride};
    }
};

}  // namespace lc
