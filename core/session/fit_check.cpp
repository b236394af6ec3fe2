// Will a model fit, and how much context then: docs/design.md section 5's MLA cache formula.
#include "session/fit_check.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/backend_factory.h"
#include "engine/kv_cache.h"

namespace lc {

namespace {

// The cache's element: f32 on the CPU, bf16 on the GPU (design.md section 5.2).
constexpr int64_t kCpuElementBytes = 4;
constexpr int64_t kGpuElementBytes = 2;
// Below this many tokens of context a model is not worth running: it does not "fit".
constexpr int64_t kMinContextTokens = 1024;

int64_t available_ram() {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key;
        int64_t kib = 0;
        if (words >> key >> kib && key == "MemAvailable:") return kib * 1024;
    }
    return 0;
}

// Tokens of cache that fit in `free_bytes`, in whole pages as the cache allocates them.
int64_t tokens_that_fit(int64_t free_bytes, int64_t bytes_per_token, int max_context) {
    if (free_bytes <= 0 || bytes_per_token <= 0) return 0;
    const int64_t page = bytes_per_token * LatentCache::kDefaultPageTokens;
    int64_t tokens = free_bytes / page * LatentCache::kDefaultPageTokens;
    if (max_context > 0) tokens = std::min<int64_t>(tokens, max_context);
    return tokens;
}

}  // namespace

MachineMemory MachineMemory::probe() {
    MachineMemory m;
    m.ram_bytes = available_ram();
    std::string why_not;
    if (gpu_available(&why_not)) {
        try {
            BackendChoice gpu = make_backend(Device::Cuda, 1);
            if (gpu.notice.empty())
                m.gpu_bytes = static_cast<int64_t>(gpu.backend->device_memory_free());
        } catch (const std::exception&) {
            m.gpu_bytes = 0;  // no GPU to count on
        }
    }
    return m;
}

Fit check_fit(int64_t weight_bytes, const ModelShape& shape, const MachineMemory& memory,
              int64_t reserve_bytes) {
    const int64_t elements =
        static_cast<int64_t>(shape.layers) * (shape.kv_lora_rank + shape.qk_rope_head_dim);
    const int64_t least = shape.max_context > 0
                              ? std::min<int64_t>(kMinContextTokens, shape.max_context)
                              : kMinContextTokens;
    Fit fit;
    const int64_t gpu_tokens = tokens_that_fit(memory.gpu_bytes - weight_bytes - reserve_bytes,
                                               elements * kGpuElementBytes, shape.max_context);
    if (memory.gpu_bytes > 0 && gpu_tokens >= least) {
        fit.place = FitPlace::Gpu;
        fit.context_tokens = gpu_tokens;
        fit.cache_bytes_per_token = elements * kGpuElementBytes;
        return fit;
    }
    const int64_t cpu_tokens = tokens_that_fit(memory.ram_bytes - weight_bytes - reserve_bytes,
                                               elements * kCpuElementBytes, shape.max_context);
    fit.cache_bytes_per_token = elements * kCpuElementBytes;
    if (cpu_tokens >= least) {
        fit.place = FitPlace::CpuOnly;
        fit.context_tokens = cpu_tokens;
    } else {
        fit.place = FitPlace::TooLarge;
        fit.context_tokens = 0;
    }
    return fit;
}

}  // namespace lc
