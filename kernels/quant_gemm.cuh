#pragma once
// Prefill products and embedding lookups on quantized weights: rows dequantized on the GPU
// (bit for bit as ggml and gguf-py dequantize them), for the tensor-core GEMM (gemm.cuh) through
// an F16 scratch buffer, or into f32 activations.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/cpu_matmul.h"

namespace lc::cuda {

// Room for rows dequantized to F16: two buffers (SwiGLU's gate and up) of `elems` each.
struct DequantScratch {
    __half* gate = nullptr;
    __half* up = nullptr;
    int64_t elems = 0;
};

// y (=|+=) W x, or silu(W x) * (up x) with `up`: W (and up) dequantized to F16 a slice of rows
// at a time, each slice through gemm(). Any n_tokens; meant for prefill.
void quant_gemm(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride,
                float* y, int64_t y_stride, int n_tokens, bool accumulate,
                const DequantScratch& scratch, cudaStream_t stream);

// out[t] = table[ids[t]] dequantized to f32; `ids` in device memory.
void quant_embed(const WeightMatrix& table, const int* ids, int n, float* out, cudaStream_t stream);

// Rows [row0, row0 + rows) of a quantized matrix as F16 [rows, cols] (tests and quant_gemm).
void dequantize_rows_f16(const WeightMatrix& w, int64_t row0, int64_t rows, __half* out,
                         cudaStream_t stream);

}  // namespace lc::cuda
