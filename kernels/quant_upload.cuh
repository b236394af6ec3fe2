#pragma once
// Upload of quantized matrices: the file's blocks, split into fields (quant_layout.cuh).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "engine/weight_matrix.h"

namespace lc::cuda {

// Bytes of `m` in the GPU's packed layout (rows contiguous).
int64_t packed_matrix_bytes(const WeightMatrix& m);

// Copies the quantized host matrix `m` (the file's blocks, rows m.stride_bytes() apart) into
// `dst` (packed_matrix_bytes(m) bytes of device memory, zeroed), a slice of rows at a time
// through `staging` (device memory of staging_bytes, at least one row's). Asynchronous on
// `stream` except for the host reads, which are done when it returns.
void upload_packed(const WeightMatrix& m, void* dst, void* staging, size_t staging_bytes,
                   cudaStream_t stream);

}  // namespace lc::cuda
