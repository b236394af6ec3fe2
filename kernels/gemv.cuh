#pragma once
// The matrix-vector kernel of decode: one warp per weight row, 16-byte streaming loads, up to
// kGemvMaxTokens tokens per pass (each weight row is read once for all of them).
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu_matmul.h"

namespace lc::cuda {

constexpr int kGemvMaxTokens = 8;

// n_tokens <= kGemvMaxTokens. With `up` set, writes silu(W x) * (up x) instead of W x.
void gemv(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride,
          float* y, int64_t y_stride, int n_tokens, bool accumulate, cudaStream_t stream);

}  // namespace lc::cuda
