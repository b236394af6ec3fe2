#include <cuda_runtime.h>

#include "device_query.h"

namespace lc::cuda {

DeviceInfo query_devices() {
    DeviceInfo info;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        info.problem = cudaGetErrorString(err);
        cudaGetLastError();  // clear the sticky error for later callers
        return info;
    }
    info.count = count;
    if (count == 0) {
        info.problem = "no CUDA GPU found";
        return info;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) info.name = prop.name;
    return info;
}

}  // namespace lc::cuda
