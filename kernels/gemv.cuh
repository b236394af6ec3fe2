#pragma once
// The matrix-vector kernel of decode: one warp per weight row, 16-byte streaming loads, up to
// kGemvMaxTokens tokens per pass (each weight row is read once for all of them).
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"

namespace lc::cuda {

constexpr int kGemvMaxTokens = 8;

// n_tokens <= kGemvMaxTokens. With `up` set, writes silu(W x) * (up x) instead of W x.
void gemv(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride, float* y,
          int64_t y_stride, int n_tokens, bool accumulate, cudaStream_t stream);

}  // namespace lc::cuda

namespace lc::cuda {

// Several products of one input in one launch (decode): the rows of up to kMaxSegments
// matrices of one dtype and width, each with its own output, optionally after RMSNorm of x
// (computed by every block; block 0 also stores the normed x in `xn`).
constexpr int kMaxSegments = 4;
struct GemvSegment {
    const WeightMatrix* w = nullptr;
    const WeightMatrix* up = nullptr;  // SwiGLU's second matrix, or null
    float* y = nullptr;
    int64_t y_stride = 0;
    bool accumulate = false;
};
// False (nothing launched) when the shapes or alignment do not allow the fused kernel.
bool gemv_multi(const GemvSegment* segments, int count, const float* x, int64_t x_stride,
                const float* norm, float eps, float* xn, int n_tokens, cudaStream_t stream);

}  // namespace lc::cuda
