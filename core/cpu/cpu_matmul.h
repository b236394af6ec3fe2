#pragma once
// Matrix products of the CPU backend on weights kept as stored in the checkpoint
// (BF16, F16 or F32, widened to f32 in registers; AVX2/FMA where the CPU has it, a
// portable path otherwise). All accumulation is in f32. GGUF's block-quantized types
// (Q4_0 ... Q6_K) go to cpu/cpu_quant.h, which multiplies the blocks as stored.
#include <cstdint>

#include "base/dtype.h"
#include "cpu/thread_pool.h"
#include "engine/weight_matrix.h"

namespace lc {

// y[t, r] = sum_c W[r, c] * x[t, c] for t in [0, n_tokens), r in [0, W.rows).
// x rows are x_stride floats apart, y rows y_stride floats apart. Threads split the rows of W,
// and each weight row is read once for all tokens (prefill is not n_tokens passes over W).
void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
            int64_t y_stride, int n_tokens);

// One product of a batch (see matmul_batch).
struct MatmulJob {
    const WeightMatrix* w;
    const float* x;
    int64_t x_stride;
    float* y;
    int64_t y_stride;
    int n_tokens;
};
// Several independent products, each as matmul() computes it. When all weights are quantized
// they run in one pass over the pool (one wake-up and one wait for all: an MoE layer's
// experts, an MLP's gate and up projections; measured on the 16-core host, 16 expert products
// of a decode step take 300-340 us instead of 400-440); otherwise one after the other.
void matmul_batch(ThreadPool& pool, const MatmulJob* jobs, int n_jobs);

// Single-threaded forms, for callers that already split work across threads
// (e.g. one attention head per thread).
void matmul_serial(const WeightMatrix& w, const float* x, int64_t x_stride, float* y,
                   int64_t y_stride, int n_tokens);
// y[c] = sum_r W[r, c] * x[r]: the transposed product (W^T x), used to absorb W_UK into q.
void matmul_transposed_serial(const WeightMatrix& w, const float* x, float* y);

// Widens `n` elements of a row to f32.
void widen_row(const void* src, DType dtype, int64_t n, float* dst);

float dot_f32(const float* a, const float* b, int64_t n);
// y += a * x
void axpy_f32(float a, const float* x, float* y, int64_t n);

// True when the AVX2/FMA path is in use (reported by `info` and `bench`).
bool cpu_has_avx2_fma();

}  // namespace lc
