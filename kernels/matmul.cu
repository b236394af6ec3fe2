#include <algorithm>

#include "cuda_common.cuh"
#include "gemm.cuh"
#include "gemv.cuh"
#include "matmul.cuh"

namespace lc::cuda {
namespace {

// Few tokens: stream W once per kGemvMaxTokens tokens; many: tensor cores where W's dtype has
// them (F32 checkpoints, the small test models, take the matrix-vector path in groups).
void product(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t xs, float* y,
             int64_t ys, int n, bool accumulate, cudaStream_t stream) {
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
            int n_tokens, bool accumulate, cudaStream_t stream) {
    product(w, nullptr, x, x_stride, y, y_stride, n_tokens, accumulate, stream);
}

void matmul_swiglu(const WeightMatrix& gate, const WeightMatrix& up, const float* x,
                   int64_t x_stride, float* h, int64_t h_stride, int n_tokens,
                   cudaStream_t stream) {
    product(gate, &up, x, x_stride, h, h_stride, n_tokens, false, stream);
}

}  // namespace lc::cuda
