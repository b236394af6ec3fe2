#pragma once
// `serve`: the OpenAI-compatible server on a model (core/server/api_server.h), until SIGTERM or
// Ctrl-C; `serve-bench`: time to first token and tokens/s through it against in-process.
#include <string>
#include <vector>

namespace lc::cli {

int cmd_serve(const std::vector<std::string>& argv);
int cmd_serve_bench(const std::vector<std::string>& argv);

}  // namespace lc::cli
