#pragma once
// The subcommands of latentchat-cli (design.md section 5). Each returns the exit status and
// throws lc::Error for anything the user can fix; main() prints it as one line.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "model.h"

namespace lc::cli {

int cmd_info(const std::vector<std::string>& argv);
int cmd_generate(const std::vector<std::string>& argv);
int cmd_chat(const std::vector<std::string>& argv);
int cmd_logits(const std::vector<std::string>& argv);
int cmd_perplexity(const std::vector<std::string>& argv);
int cmd_bench(const std::vector<std::string>& argv);
int cmd_bench_kernels(const std::vector<std::string>& argv);
int cmd_history(const std::vector<std::string>& argv);

// Shared by the commands that load a model.
std::filesystem::path model_dir_from(const Args& args);
ModelOptions model_options_from(const Args& args);
std::string device_from(const Args& args);  // "cpu" or "cuda"; throws on anything else
std::unique_ptr<Model> load_model(const Args& args);
inline const std::set<std::string> kModelFlags = {"model", "device", "threads", "batch",
                                                  "attention"};

}  // namespace lc::cli
