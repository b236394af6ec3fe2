#include <algorithm>
#include <string>

#include "cuda_common.cuh"
#include "quant_layout.cuh"
#include "quant_upload.cuh"

namespace lc::cuda {
namespace {

// One thread per block of the file: each field's bytes to its place in the packed row. Every
// field's offset and size is even, so two bytes at a time.
__global__ void __launch_bounds__(256)
    pack_kernel(const uint8_t* __restrict__ src, int64_t src_ld, uint8_t* __restrict__ dst,
                int64_t dst_ld, int64_t rows, int nb, QuantFormat f, int block_bytes) {
    const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
    if (i >= rows * nb) return;
    const int64_t r = i / nb;
    const int b = static_cast<int>(i % nb);
    const uint8_t* block = src + r * src_ld + int64_t(b) * block_bytes;
    uint8_t* row = dst + r * dst_ld;
    int64_t field = 0;
    for (int k = 0; k < f.fields; ++k) {
        const uint16_t* from = reinterpret_cast<const uint16_t*>(block + f.src[k]);
        uint16_t* to = reinterpret_cast<uint16_t*>(row + field + int64_t(b) * f.size[k]);
        for (int j = 0; j < f.size[k] / 2; ++j)
            to[j] = from[j];
        field += pad16(int64_t(nb) * f.size[k]);
    }
}

}  // namespace

int64_t packed_matrix_bytes(const WeightMatrix& m) {
    return m.rows * packed_row_bytes(m.dtype, m.cols);
}

void upload_packed(const WeightMatrix& m, void* dst, void* staging, size_t staging_bytes,
                   cudaStream_t stream) {
    const QuantFormat f = quant_format(m.dtype);
    if (f.block == 0 || m.cols % f.block != 0)
        throw Error(std::string("a ") + dtype_name(m.dtype) + " matrix of " +
                    std::to_string(m.cols) + " columns is not made of whole blocks");
    const int64_t src_row = m.row_bytes();
    const int64_t dst_row = packed_row_bytes(m.dtype, m.cols);
    const int64_t slice = static_cast<int64_t>(staging_bytes) / src_row;
    if (slice < 1) throw Error("internal: upload staging buffer smaller than one row");
    const int nb = static_cast<int>(m.cols / f.block);
    const int block_bytes = static_cast<int>(dtype_block_bytes(m.dtype));
    for (int64_t r0 = 0; r0 < m.rows; r0 += slice) {
        const int64_t rows = std::min(slice, m.rows - r0);
        check(cudaMemcpy2DAsync(staging, src_row, m.row(r0), m.stride_bytes(), src_row, rows,
                                cudaMemcpyHostToDevice, stream),
              "uploading weights");
        const int64_t threads = rows * nb;
        pack_kernel<<<static_cast<unsigned>((threads + 255) / 256), 256, 0, stream>>>(
            static_cast<const uint8_t*>(staging), src_row,
            static_cast<uint8_t*>(dst) + r0 * dst_row, dst_row, rows, nb, f, block_bytes);
        check_launch("pack_kernel");
    }
}

}  // namespace lc::cuda
