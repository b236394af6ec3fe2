#pragma once
// Where a backend comes from. core declares it; kernels/backend_select.cpp defines it (the CPU
// backend, or a GPU's where this build has one), so core never includes a GPU header and every
// front end opens a model the same way (session/open_model.h).
#include <memory>
#include <string>
#include <string_view>

#include "engine/backend.h"

namespace lc {

enum class Device { Cpu, Cuda };

// The one place a device name is checked: "cpu" or "cuda", else lc::Error naming it.
Device parse_device(std::string_view name);
const char* device_name(Device device);

struct BackendChoice {
    std::unique_ptr<Backend> backend;
    std::string notice;  // non-empty when the request could not be met (then it runs on the CPU)
};

// The backend for `device`; a GPU that cannot be used falls back to the CPU with the reason.
BackendChoice make_backend(Device device, int threads);

// True when this build has a GPU backend and a GPU answers (for the app's device list).
bool gpu_available(std::string* why_not);

}  // namespace lc
