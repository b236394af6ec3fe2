// `bench-kernels`: the GPU's ceilings (our copy and read kernels) and the MLA attention kernels
// alone at several depths, for any head shape, without a model (kernel work iterates on this).
#include <iostream>
#include <nlohmann/json.hpp>

#include "args.h"
#include "base/error.h"
#include "engine/backend_factory.h"
#ifdef LATENTCHAT_HAVE_CUDA
#include "kernels/kernel_bench.h"
#endif

namespace lc::cli {

int cmd_bench_kernels(const std::vector<std::string>& argv) {
    Args args(argv, {"heads", "d-c", "d-rope", "d-nope", "d-v", "depths"}, {});
    // DeepSeek-V2-Lite's attention by default. Checked in every build, used where CUDA is.
    [[maybe_unused]] const int heads = args.integer("heads", 16, 1, 1024);
    [[maybe_unused]] const int d_c = args.integer("d-c", 512, 8, 4096);
    [[maybe_unused]] const int d_rope = args.integer("d-rope", 64, 2, 1024);
    [[maybe_unused]] const int d_nope = args.integer("d-nope", 128, 1, 4096);
    [[maybe_unused]] const int d_v = args.integer("d-v", 128, 1, 4096);
    const std::vector<int> depths =
        args.has("depths") ? args.int_list("depths") : std::vector<int>{1024, 8192, 32768};
    for (int d : depths)
        if (d < 1 || d > (1 << 22))
            throw Error("--depths must be between 1 and 4194304 tokens, got " + std::to_string(d));
    std::string why;
    if (!gpu_available(&why)) throw Error("bench-kernels needs a CUDA GPU: " + why);
#ifdef LATENTCHAT_HAVE_CUDA
    nlohmann::json out;
    const cuda::Bandwidth bw = cuda::measure_bandwidth();
    out["copy_bandwidth_bytes_per_s"] = bw.copy_gbs * 1e9;
    out["read_bandwidth_bytes_per_s"] = bw.read_gbs * 1e9;
    out["shape"] = {
        {"heads", heads}, {"d_c", d_c}, {"d_rope", d_rope}, {"d_nope", d_nope}, {"d_v", d_v}};
    for (int depth : depths) {
        const cuda::AttentionTiming t =
            cuda::time_attention(heads, d_nope, d_rope, d_v, d_c, depth);
        out["attention"].push_back({{"depth", depth},
                                    {"seconds_per_layer", t.seconds},
                                    {"cache_bytes", t.cache_bytes},
                                    {"bytes_per_s", t.gbs * 1e9},
                                    {"fraction_of_copy_bandwidth", t.gbs / bw.copy_gbs}});
        std::cerr << "depth " << depth << ": attention " << t.seconds * 1e6 << " us, " << t.gbs
                  << " GB/s\n";
    }
    std::cout << out.dump(2) << "\n";
#endif
    return 0;
}

}  // namespace lc::cli
