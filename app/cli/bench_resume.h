#pragma once
// `bench-resume`: reopening a long conversation from its saved latent cache against prefilling
// it again, with the saved file's size next to the cache's and an MHA cache's bytes.
#include <string>
#include <vector>

namespace lc::cli {

int cmd_bench_resume(const std::vector<std::string>& argv);

}  // namespace lc::cli
