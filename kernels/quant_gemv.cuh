#pragma once
// Decode products on quantized weights: each block quantizes the input (RMSNorm folded in) to 8
// bits per 32 in shared memory, then each warp takes one weight row at a time with integer dot
// products (quant_row.cuh). Several matrices of one input width go in one launch, as in
// gemv_multi (gemv.cuh).
#include <cuda_runtime.h>

#include "gemv.cuh"

namespace lc::cuda {

// How many tokens one launch takes for inputs of `cols` (their 8-bit copies fill shared
// memory): 8, 4, 2 or 1; 0 when not even one fits (then use quant_gemm).
int quant_gemv_tokens(int64_t cols);

// As gemv_multi for segments whose matrices are quantized (any mix of types; SwiGLU's `up` may
// be another type than its gate) and share cols. n_tokens <= quant_gemv_tokens(cols). False
// (nothing launched) when the shapes do not allow it.
bool quant_gemv(const GemvSegment* segments, int count, const float* x, int64_t x_stride,
                const float* norm, float eps, float* xn, int n_tokens, cudaStream_t stream);

}  // namespace lc::cuda
