#pragma once
// Small per-row ops: embedding lookup and RMSNorm (prefill; decode folds the norm into products).
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"

namespace lc::cuda {

// out[t] = table[ids[t]] widened (or dequantized) to f32; `ids` in device memory.
void embed(const WeightMatrix& table, const int* ids, int n, float* out, cudaStream_t stream);
// y[t] = weight * x[t] / sqrt(mean(x[t]^2) + eps); y may be x.
void rms_norm(const float* x, int64_t x_stride, const float* weight, float eps, float* y,
              int64_t y_stride, int n, int dim, cudaStream_t stream);

}  // namespace lc::cuda
