#include <algorithm>

#include "cuda_common.cuh"
#include "gemm.cuh"
#include "gemv.cuh"
#include "matmul.cuh"
#include "quant_gemv.cuh"

namespace lc::cuda {
namespace {

// Quantized weights: decode through the integer matrix-vector kernel (8-bit activations) in
// groups of as many tokens as its shared memory takes; prefill dequantizes to F16 for the
// tensor cores.
void quant_product(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t xs,
                   float* y, int64_t ys, int n, bool accumulate, const DequantScratch& scratch,
                   cudaStream_t stream) {
    const int per = quant_gemv_tokens(w.cols);
    if (n <= kGemvMaxTokens && per > 0) {
        for (int t = 0; t < n; t += per) {
            const GemvSegment one{&w, up, y + t * ys, ys, accumulate};
            if (!quant_gemv(&one, 1, x + t * xs, xs, nullptr, 0.0f, nullptr, std::min(per, n - t),
                            stream))
                throw Error("internal: quantized matrix-vector product refused its shape");
        }
        return;
    }
    quant_gemm(w, up, x, xs, y, ys, n, accumulate, scratch, stream);
}

// Few tokens: stream W once per kGemvMaxTokens tokens; many: tensor cores where W's dtype has
// them (F32 checkpoints, the small test models, take the matrix-vector path in groups).
void product(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t xs, float* y,
             int64_t ys, int n, bool accumulate, const DequantScratch& scratch,
             cudaStream_t stream) {
    if (dtype_is_quantized(w.dtype) || (up && dtype_is_quantized(up->dtype))) {
        quant_product(w, up, x, xs, y, ys, n, accumulate, scratch, stream);
        return;
    }
    if (n > kGemvMaxTokens && gemm_supported(w)) {
        gemm(w, up, x, xs, y, ys, n, accumulate, stream);
        return;
    }
    for (int t = 0; t < n; t += kGemvMaxTokens)
        gemv(w, up, x + t * xs, xs, y + t * ys, ys, std::min(kGemvMaxTokens, n - t), accumulate,
             stream);
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride,
            int n_tokens, bool accumulate, const DequantScratch& scratch, cudaStream_t stream) {
    product(w, nullptr, x, x_stride, y, y_stride, n_tokens, accumulate, scratch, stream);
}

void matmul_swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x,
                   int64_t x_stride, float* h, int64_t h_stride, int n_tokens,
                   const DequantScratch& scratch, cudaStream_t stream) {
    product(gate, &up, x, x_stride, h, h_stride, n_tokens, false, scratch, stream);
}

}  // namespace lc::cuda
