// Defines engine/backend_factory.h: the CPU backend, or the CUDA one where this build has it.
#include "base/error.h"
#include "cpu/cpu_backend.h"
#include "engine/backend_factory.h"

#ifdef LATENTCHAT_HAVE_CUDA
#include "cuda_backend.h"
#include "device_query.h"
#endif

namespace lc {

bool gpu_available(std::string* why_not) {
#ifdef LATENTCHAT_HAVE_CUDA
    cuda::DeviceInfo gpu = cuda::query_devices();
    if (gpu.count > 0) return true;
    if (why_not) *why_not = "no usable GPU (" + gpu.problem + ")";
    return false;
#else
    if (why_not) *why_not = "this build has no CUDA support";
    return false;
#endif
}

BackendChoice make_backend(Device device, int threads) {
    BackendChoice choice;
    if (device == Device::Cuda) {
        std::string why;
        if (gpu_available(&why)) {
#ifdef LATENTCHAT_HAVE_CUDA
            try {
                choice.backend = cuda::make_cuda_backend(0);
                return choice;
            } catch (const Error& e) {
                why = e.what();
            }
#endif
        }
        choice.notice = why + "; running on the CPU";
    }
    choice.backend = make_cpu_backend(threads);
    return choice;
}

}  // namespace lc
