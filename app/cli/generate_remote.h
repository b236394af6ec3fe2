#pragma once
// `generate --remote URL`: the reply from an OpenAI-compatible server (vLLM, SGLang,
// `latentchat-cli serve`) instead of a local model, streamed to stdout the same way.
#include <atomic>
#include <set>
#include <string>

#include "args.h"

namespace lc::cli {

inline const std::set<std::string> kRemoteFlags = {"remote", "api-key", "remote-model"};

// `cancel` is the flag Ctrl-C sets. Returns 0, or 130 when the reply was cancelled.
int generate_remote(const Args& args, const std::atomic<bool>& cancel);

}  // namespace lc::cli
