#include <algorithm>

#include "cuda_common.cuh"
#include "gemm.cuh"
#include "quant_dot.cuh"
#include "quant_gemm.cuh"
#include "quant_row.cuh"

namespace lc::cuda {
namespace {

constexpr int kGemmRowTile = 64;  // gemm.cu's rows per block: slices are multiples of it

// One thread per piece: its groups of 16 weights written to out[r, pos .. pos + 16).
template <DType T>
__global__ void __launch_bounds__(256)
    dequantize_kernel(const uint8_t* __restrict__ w, int64_t ld, int cols, int64_t rows,
                      __half* __restrict__ out) {
    constexpr QuantFormat f = quant_format(T);
    const int nb = cols / f.block;
    const int64_t pieces = int64_t(nb) * f.pieces;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * pieces;
         i += int64_t(gridDim.x) * blockDim.x) {
        const int64_t r = i / pieces;
        const auto pc = read_piece<T>(w + r * ld, nb, static_cast<int>(i % pieces));
        __half* row = out + r * cols;
#pragma unroll
        for (int g = 0; g < QuantTraits<T>::kGroups; ++g)
#pragma unroll
            for (int e = 0; e < 16; ++e)
                row[pc.pos[g] + e] = __float2half_rn(piece_weight<T>(pc, g, e));
    }
}

// One block per token: its table row dequantized into out[t].
template <DType T>
__global__ void __launch_bounds__(256)
    embed_kernel(const uint8_t* __restrict__ table, int64_t ld, int cols,
                 const int* __restrict__ ids, float* __restrict__ out) {
    constexpr QuantFormat f = quant_format(T);
    const int nb = cols / f.block;
    const uint8_t* row = table + int64_t(ids[blockIdx.x]) * ld;
    float* dst = out + int64_t(blockIdx.x) * cols;
    for (int p = threadIdx.x; p < nb * f.pieces; p += blockDim.x) {
        const auto pc = read_piece<T>(row, nb, p);
#pragma unroll
        for (int g = 0; g < QuantTraits<T>::kGroups; ++g)
#pragma unroll
            for (int e = 0; e < 16; ++e)
                dst[pc.pos[g] + e] = piece_weight<T>(pc, g, e);
    }
}

// Plain rows (a SwiGLU may pair a quantized gate with a plain up) converted to F16.
template <class E>
__global__ void __launch_bounds__(256) convert_kernel(const E* __restrict__ w, int64_t ld, int cols,
                                                      int64_t rows, __half* __restrict__ out) {
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * cols;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] = __float2half_rn(to_f32<E>(w[i / cols * ld + i % cols]));
}

// Rows [row0, row0 + rows) of any matrix as F16 [rows, cols].
void rows_to_f16(const WeightMatrix& w, int64_t row0, int64_t rows, __half* out,
                 cudaStream_t stream) {
    if (dtype_is_quantized(w.dtype)) return dequantize_rows_f16(w, row0, rows, out, stream);
    const int blocks = static_cast<int>(std::min<int64_t>((rows * w.cols + 255) / 256, 1 << 16));
    with_dtype(w.dtype, [&]<class E>() {
        convert_kernel<E>
            <<<blocks, 256, 0, stream>>>(static_cast<const E*>(w.data) + row0 * w.row_stride,
                                         w.row_stride, static_cast<int>(w.cols), rows, out);
    });
    check_launch("rows_to_f16");
}

}  // namespace

void dequantize_rows_f16(const WeightMatrix& w, int64_t row0, int64_t rows, __half* out,
                         cudaStream_t stream) {
    if (rows <= 0) return;
    const int64_t ld = device_row_bytes(w.dtype, w.cols);
    const uint8_t* first = static_cast<const uint8_t*>(w.data) + row0 * ld;
    const int64_t pieces =
        rows * (w.cols / quant_format(w.dtype).block) * quant_format(w.dtype).pieces;
    const int blocks = static_cast<int>(std::min<int64_t>((pieces + 255) / 256, 1 << 16));
    with_quant_type(w.dtype, [&]<DType T>() {
        dequantize_kernel<T>
            <<<blocks, 256, 0, stream>>>(first, ld, static_cast<int>(w.cols), rows, out);
    });
    check_launch("dequantize_rows_f16");
}

void quant_gemm(const WeightMatrix& w, const WeightMatrix* up, const float* x, int64_t x_stride,
                float* y, int64_t y_stride, int n_tokens, bool accumulate,
                const DequantScratch& scratch, cudaStream_t stream) {
    if (n_tokens <= 0 || w.rows == 0) return;
    int64_t slice = scratch.elems / std::max<int64_t>(w.cols, 1) / kGemmRowTile * kGemmRowTile;
    if (slice < kGemmRowTile)
        throw Error("internal: the GPU's dequantization scratch is too small for a " +
                    std::to_string(w.cols) + "-column matrix");
    for (int64_t r0 = 0; r0 < w.rows; r0 += slice) {
        const int64_t rows = std::min(slice, w.rows - r0);
        const WeightMatrix gate{scratch.gate, DType::F16, rows, w.cols, w.cols};
        const WeightMatrix upv{scratch.up, DType::F16, rows, w.cols, w.cols};
        rows_to_f16(w, r0, rows, scratch.gate, stream);
        if (up) rows_to_f16(*up, r0, rows, scratch.up, stream);
        gemm(gate, up ? &upv : nullptr, x, x_stride, y + r0, y_stride, n_tokens, accumulate,
             stream);
    }
}

void quant_embed(const WeightMatrix& table, const int* ids, int n, float* out,
                 cudaStream_t stream) {
    if (n <= 0) return;
    const int64_t ld = device_row_bytes(table.dtype, table.cols);
    with_quant_type(table.dtype, [&]<DType T>() {
        embed_kernel<T><<<n, 256, 0, stream>>>(static_cast<const uint8_t*>(table.data), ld,
                                               static_cast<int>(table.cols), ids, out);
    });
    check_launch("quant_embed");
}

}  // namespace lc::cuda
