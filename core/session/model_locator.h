#pragma once
// Where a model folder is when the user names none: $LATENTCHAT_MODEL (a model folder or a folder
// of them), else the bundled model next to the running program (../share/latentchat/models, as
// installed), else in `source_models`, the source tree a development build came from. Within a
// folder of models, the first (by name) that holds a config.json wins.
#include <filesystem>
#include <optional>

namespace lc {

std::optional<std::filesystem::path> default_model_dir(const std::filesystem::path& source_models);

}  // namespace lc
