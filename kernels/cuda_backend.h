#pragma once
// The CUDA backend: the operations of core/backend.h on one NVIDIA GPU.
#include <memory>

#include "engine/backend.h"

namespace lc::cuda {

// Throws lc::Error when no usable GPU is present (callers fall back to the CPU).
std::unique_ptr<Backend> make_cuda_backend(int device = 0);

}  // namespace lc::cuda
