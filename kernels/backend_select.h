#pragma once
// Picks the backend a user asked for: "cpu", or "cuda" when this build has it and a GPU is
// usable; otherwise the CPU, with one sentence saying why.
#include <memory>
#include <string>

#include "backend.h"

namespace lc {

struct BackendChoice {
    std::unique_ptr<Backend> backend;
    std::string notice;  // non-empty when the request could not be met (then it runs on the CPU)
};

// Throws lc::Error for a device name other than cpu or cuda.
BackendChoice make_backend(const std::string& device, int threads);

// True when this build has the CUDA backend and a GPU answers (for the app's device list).
bool cuda_available(std::string* why_not);

}  // namespace lc
