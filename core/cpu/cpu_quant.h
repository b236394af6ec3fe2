#pragma once
// Matrix products on block-quantized weights (GGUF's Q4_0 ... Q6_K), computed on the blocks as
// stored: the activations are quantized once per call to 8-bit blocks and every weight block
// meets them in integer dot products, scaled and summed in f32. cpu_matmul.cpp routes the
// quantized types here; cpu_quant.cpp says how the work is laid out.
#include <cstdint>

#include "cpu/cpu_matmul.h"
#include "cpu/thread_pool.h"
#include "engine/weight_matrix.h"

namespace lc {

// The instruction sets the kernels exist for, from the most portable up.
enum class QuantIsa {
    Portable,    // plain C++ (any CPU; the reference the SIMD paths are tested against)
    Avx2,        // AVX2 + FMA + F16C
    Avx512Vnni,  // AVX-512 F/BW/VL + VNNI
};
const char* quant_isa_name(QuantIsa isa);

// y[t, r] = sum_c W[r, c] * x[t, c] for a quantized W, as lc::matmul (cpu_matmul.h) promises.
// `pool` null: on the calling thread only. Quantized activations live in a per-thread buffer
// that grows to the largest call seen and is reused after (no allocation per token).
void quant_matmul(ThreadPool* pool, const WeightMatrix& w, const float* x, int64_t x_stride,
                  float* y, int64_t y_stride, int n_tokens);

// Several products in one pass over the pool (one wake-up, one wait): the same results as
// quant_matmul on each. Every job's W must be quantized.
void quant_matmul_batch(ThreadPool* pool, const MatmulJob* jobs, int n_jobs);

// Throws lc::Error when `w` cannot be multiplied here: a type without kernels, or a width or row
// stride that is not a whole number of blocks.
void check_quant_matrix(const WeightMatrix& w);

// The best instruction set this CPU (and OS) supports.
QuantIsa quant_isa_supported();
// The one in use: the supported one, lowered by quant_set_isa_limit and by
// cpu_matmul_force_portable (cpu_matmul_internal.h).
QuantIsa quant_isa_in_use();
// Tests and benchmarks: use at most `isa` (Avx512Vnni: no limit). Process-wide; do not change
// while another thread runs a product.
void quant_set_isa_limit(QuantIsa isa);

}  // namespace lc
