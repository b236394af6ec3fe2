#pragma once
// Matrix products on weights in their stored dtype (BF16, F16, F32 or a GGUF quantized type),
// f32 accumulation. y[t, r] (=|+=) sum_c W[r, c] * x[t, c]; decode (few tokens) streams W once
// through a matrix-vector kernel, prefill (many tokens) uses the tensor cores.
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"
#include "quant_gemm.cuh"

namespace lc::cuda {

// `scratch` is where prefill dequantizes quantized weights (unused for plain ones).
void matmul(const WeightMatrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride,
            int n_tokens, bool accumulate, const DequantScratch& scratch, cudaStream_t stream);

// h[t, r] = silu(gate[r] . x[t]) * (up[r] . x[t]): SwiGLU's two products and the activation in
// one pass, so the gate and up outputs never reach memory.
void matmul_swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x,
                   int64_t x_stride, float* h, int64_t h_stride, int n_tokens,
                   const DequantScratch& scratch, cudaStream_t stream);

}  // namespace lc::cuda
