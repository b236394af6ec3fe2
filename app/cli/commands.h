#pragma once
// The subcommands of latentchat-cli (docs/design.md section 6). Each returns the exit status and
// throws lc::Error for anything the user can fix; main() prints it as one line.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "session/open_model.h"

namespace lc::cli {

int cmd_info(const std::vector<std::string>& argv);
int cmd_generate(const std::vector<std::string>& argv);
int cmd_chat(const std::vector<std::string>& argv);
int cmd_logits(const std::vector<std::string>& argv);
int cmd_perplexity(const std::vector<std::string>& argv);
int cmd_bench(const std::vector<std::string>& argv);
int cmd_bench_kernels(const std::vector<std::string>& argv);
int cmd_history(const std::vector<std::string>& argv);
int cmd_render(const std::vector<std::string>& argv);
int cmd_tokenize(const std::vector<std::string>& argv);
int cmd_models(const std::vector<std::string>& argv);

// Shared by the commands that load a model.
// The model flags as open_model() takes them, checked before any file is read.
OpenOptions open_options_from(const Args& args);
// Opens the model the flags name (the bundled one without --model); a device that could not be
// used is said once on stderr.
OpenedModel open_model_from(const Args& args, bool with_tokenizer);
inline const std::set<std::string> kModelFlags = {"model", "device", "threads", "batch",
                                                  "attention"};

}  // namespace lc::cli
