#pragma once
// What CUDA devices this machine has, asked without failing when there is no driver.
#include <string>

namespace lc::cuda {

struct DeviceInfo {
    int count = 0;        // usable GPUs (0 without a driver or a GPU)
    std::string name;     // the first GPU's name
    std::string problem;  // why there is none, in words, when count == 0
};

DeviceInfo query_devices();

}  // namespace lc::cuda
