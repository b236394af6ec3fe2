#include "engine/backend_factory.h"

#include "base/error.h"

namespace lc {

Device parse_device(std::string_view name) {
    if (name == "cpu") return Device::Cpu;
    if (name == "cuda") return Device::Cuda;
    throw Error("unknown device '" + std::string(name) + "': use cpu or cuda");
}

const char* device_name(Device device) {
    return device == Device::Cuda ? "cuda" : "cpu";
}

}  // namespace lc
