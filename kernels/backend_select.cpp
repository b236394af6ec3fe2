#include "backend_select.h"

#include "error.h"

#ifdef LATENTCHAT_HAVE_CUDA
#include "cuda_backend.h"
#include "device_query.h"
#endif

namespace lc {

bool cuda_available(std::string* why_not) {
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

BackendChoice make_backend(const std::string& device, int threads) {
    if (device != "cpu" && device != "cuda")
        throw Error("--device must be cpu or cuda, got '" + device + "'");
    BackendChoice choice;
    if (device == "cuda") {
        std::string why;
        if (cuda_available(&why)) {
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
