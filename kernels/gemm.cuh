#pragma once
// The tensor-core product of prefill: W (BF16 or F16) times a chunk of f32 activations, each
// split into a high and a low part of W's type (two products, so x keeps about 16 bits of
// mantissa instead of 8); f32 accumulation.
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"

namespace lc::cuda {

bool gemm_supported(const WeightMatrix& w);
// With `up` set, writes silu(W x) * (up x), as gemv() does.
void gemm(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride, float* y,
          int64_t y_stride, int n_tokens, bool accumulate, cudaStream_t stream);

}  // namespace lc::cuda
